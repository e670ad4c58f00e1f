/* output.c: puts a finished result into GIMP: a new image or a new layer of an existing image in
 * one undo group, with the parameters as a layer parasite and as the image comment. */
#include <string.h>

#include "intl.h"
#include "output.h"
#include "pixels.h"
#include "request.h"

/* Characters of the prompt a layer name keeps. */
#define NAME_CHARS 60

static char *
layer_name (const char *prompt)
{
  g_autofree char *flat = g_strdup (prompt ? prompt : "");
  g_autofree char *head = NULL;

  g_strdelimit (g_strstrip (flat), "\r\n\t", ' ');
  if (!*flat)
    return g_strdup (_("Scale-DiT"));
  if (g_utf8_strlen (flat, -1) <= NAME_CHARS)
    return g_steal_pointer (&flat);
  head = g_utf8_substring (flat, 0, NAME_CHARS - 1);
  return g_strconcat (head, "…", NULL);
}

static void
attach_parameters (GimpImage *image, GimpLayer *layer, const char *parameters)
{
  GimpParasite *p;
  guint32 size = (guint32) strlen (parameters) + 1;

  p = gimp_parasite_new (SD_PARAMETERS_PARASITE, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                         size, parameters);
  gimp_item_attach_parasite (GIMP_ITEM (layer), p);
  gimp_parasite_free (p);
  /* GIMP's image comment, which its PNG export writes as a Comment text chunk. */
  p = gimp_parasite_new ("gimp-comment", GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                         size, parameters);
  gimp_image_attach_parasite (image, p);
  gimp_parasite_free (p);
}

gboolean
sd_output_insert (GimpImage *image, const SdResult *result, const char *prompt,
                  GimpPrecision precision, int offset_x, int offset_y, GimpImage **out_image,
                  GimpLayer **out_layer, GError **error)
{
  g_autofree char *name = layer_name (prompt);
  GimpImageType type = GIMP_RGB_IMAGE;
  gboolean new_image = image == NULL;
  GimpLayer *layer;

  if (!new_image)
    {
      GimpImageBaseType base = gimp_image_get_base_type (image);
      if (base == GIMP_INDEXED)
        {
          g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_IMAGE,
                       _("The image is indexed; convert it to RGB or grayscale (Image > Mode) "
                         "to add the result to it."));
          return FALSE;
        }
      if (base == GIMP_GRAY)
        type = GIMP_GRAY_IMAGE;
    }
  if (new_image)
    {
      image = gimp_image_new_with_precision (result->width, result->height, GIMP_RGB, precision);
      gimp_image_undo_disable (image);
    }
  else
    gimp_image_undo_group_start (image);

  layer = gimp_layer_new (image, name, result->width, result->height, type, 100.0,
                          GIMP_LAYER_MODE_NORMAL);
  gimp_image_insert_layer (image, layer, NULL, -1);
  if (!new_image)
    gimp_layer_set_offsets (layer, offset_x, offset_y);
  sd_drawable_write_rgb (GIMP_DRAWABLE (layer), result->rgb, result->width, result->height);
  attach_parameters (image, layer, result->parameters);

  if (new_image)
    gimp_image_undo_enable (image);
  else
    gimp_image_undo_group_end (image);
  *out_image = image;
  *out_layer = layer;
  return TRUE;
}

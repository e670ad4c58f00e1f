/* request.c: checks a procedure's arguments and turns them into an engine request. */
#include <string.h>

#include "intl.h"
#include "request.h"

G_DEFINE_QUARK (scaledit-plugin-error-quark, sd_plug_error)

/* The size used with -1 when there is neither an image nor a source. */
#define FALLBACK_SIDE 1024

char *
sd_plug_bundled_model (void)
{
  const char *prog = gimp_get_progname ();
  if (prog)
    {
      g_autofree char *dir = g_path_get_dirname (prog);
      char *beside = g_build_filename (dir, "models", "scaledit-tiny", NULL);
      if (g_file_test (beside, G_FILE_TEST_IS_DIR))
        return beside;
      g_free (beside);
    }
  return sd_default_model_path ();
}

static gboolean
check_side (const char *what, int value, GError **error)
{
  if (value >= SD_MIN_SIDE && value <= SD_MAX_SIDE)
    return TRUE;
  /* TRANSLATORS: the first %s is "Width" or "Height" */
  g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
               _("%s %d is out of range: it must be between %d and %d pixels, or -1 for the "
                 "image's size."),
               what, value, SD_MIN_SIDE, SD_MAX_SIDE);
  return FALSE;
}

/* The device argument is a string (see plugin.c): any other value is refused here, by name. */
static gboolean
check_device (const char *device, GError **error)
{
  if (g_strcmp0 (device, "auto") == 0 || g_strcmp0 (device, "cpu") == 0 || g_strcmp0 (device, "cuda") == 0)
    return TRUE;
  g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
               _("The device \"%s\" is not one of auto, cpu or cuda."), device ? device : "");
  return FALSE;
}

static GimpPrecision
precision_from_nick (const char *nick)
{
  if (g_strcmp0 (nick, "u16") == 0)
    return GIMP_PRECISION_U16_NON_LINEAR;
  if (g_strcmp0 (nick, "f32") == 0)
    return GIMP_PRECISION_FLOAT_NON_LINEAR;
  return GIMP_PRECISION_U8_NON_LINEAR;
}

gboolean
sd_plug_request_from_config (SdPlugRequest *r, GimpProcedureConfig *config, SdProcKind kind,
                             int image_w, int image_h, int src_w, int src_h, GError **error)
{
  g_autofree char *model = NULL, *device = NULL, *precision = NULL;
  int width, height, seed, global_steps, detail_steps, window, scale = 0;
  double guidance, detail_guidance, lora_scale;
  gboolean new_image;

  memset (r, 0, sizeof *r);
  sd_request_init (&r->req);
  g_object_get (config, "prompt", &r->prompt, "width", &width, "height", &height, "seed", &seed,
                "global-steps", &global_steps, "detail-steps", &detail_steps,
                "guidance", &guidance, "detail-guidance", &detail_guidance, "model", &model,
                "device", &device, "window", &window, "lora", &r->lora,
                "lora-scale", &lora_scale, "new-image", &new_image, NULL);
  if (kind == SD_PROC_GENERATE)
    g_object_get (config, "precision", &precision, NULL);
  else
    g_object_get (config, "scale", &scale, NULL);

  if (kind == SD_PROC_UPSCALE)
    {
      if (src_w < 16 || src_h < 16)
        {
          g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                       _("The area to upscale is %d×%d pixels; it must be at least 16×16."),
                       src_w, src_h);
          return FALSE;
        }
      if (scale > 0)
        {
          width = src_w * scale;
          height = src_h * scale;
        }
      image_w = src_w * 2;
      image_h = src_h * 2;
    }
  if (image_w <= 0 || image_h <= 0)
    image_w = image_h = FALLBACK_SIDE;
  if (width == -1)
    width = image_w;
  if (height == -1)
    height = image_h;
  if (!check_side (_("Width"), width, error) || !check_side (_("Height"), height, error)
      || !check_device (device, error))
    return FALSE;
  if (detail_steps > global_steps)
    {
      g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                   _("The detail steps (%d) cannot exceed the global steps (%d)."), detail_steps,
                   global_steps);
      return FALSE;
    }
  if (model && *model)
    {
      if (!g_file_test (model, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                       _("The model \"%s\" does not exist."), model);
          return FALSE;
        }
      r->model = g_steal_pointer (&model);
    }
  else
    {
      r->model = sd_plug_bundled_model ();
      if (!g_file_test (r->model, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                       _("The bundled model is not installed (looked for \"%s\"); choose a "
                         "model folder or file."),
                       r->model);
          return FALSE;
        }
    }
  if (r->lora && !*r->lora)
    g_clear_pointer (&r->lora, g_free);
  if (r->lora && !g_file_test (r->lora, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                   _("The LoRA file \"%s\" does not exist."), r->lora);
      return FALSE;
    }

  r->device = g_steal_pointer (&device);
  r->new_image = new_image;
  r->precision = precision_from_nick (precision);
  r->req.prompt = r->prompt ? r->prompt : "";
  r->req.width = width;
  r->req.height = height;
  r->req.seed = seed;
  r->req.global_steps = global_steps;
  r->req.detail_steps = detail_steps;
  r->req.global_guidance = (float) guidance;
  r->req.detail_guidance = (float) detail_guidance;
  r->req.window = window;
  r->req.lora_path = r->lora;
  r->req.lora_scale = (float) lora_scale;
  return TRUE;
}

void
sd_plug_request_clear (SdPlugRequest *r)
{
  g_free (r->prompt);
  g_free (r->lora);
  g_free (r->model);
  g_free (r->device);
  memset (r, 0, sizeof *r);
}

/* flux_config.c: the FLUX transformer's configuration, from config.json or inferred from a BFL
 * single file's tensor shapes. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "config_fields.h"
#include "flux.h"
#include "json_object.h"
#include "scaledit.h"

/* The derived widths, and the rotary split, which must be even and add up to the head size: the
 * RoPE tables hold head_dim / 2 columns and each axis fills axes_dims_rope[a] / 2 of them. */
static gboolean
check_config (const char *where, SdFluxConfig *c, GError **error)
{
  gint64 rope_sum = (gint64) c->axes_dims_rope[0] + c->axes_dims_rope[1] + c->axes_dims_rope[2];
  if (!sd_config_check (where, "num_attention_heads", c->heads, 1, SD_CONFIG_MAX_HEADS, error)
      || !sd_config_check (where, "num_attention_heads * attention_head_dim", (gint64) c->heads * c->head_dim, 1,
                           SD_CONFIG_MAX_DIM, error))
    return FALSE;
  c->hidden = c->heads * c->head_dim;
  c->mlp_hidden = c->hidden * 4;
  if (rope_sum != c->head_dim || c->axes_dims_rope[0] % 2 || c->axes_dims_rope[1] % 2 || c->axes_dims_rope[2] % 2)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: axes_dims_rope (%d, %d, %d) must be even and add up to attention_head_dim %d", where,
                   c->axes_dims_rope[0], c->axes_dims_rope[1], c->axes_dims_rope[2], c->head_dim);
      return FALSE;
    }
  return TRUE;
}

gboolean
sd_flux_config_from_object (JsonObject *o, const char *file, SdFluxConfig *c, GError **error)
{
  const int dim = SD_CONFIG_MAX_DIM;
  int patch;
  guint n_axes;

  memset (c, 0, sizeof *c);
  c->axes_dims_rope[0] = 16;
  c->axes_dims_rope[1] = c->axes_dims_rope[2] = 56;
  if (!sd_config_int (o, file, "patch_size", 1, 1, dim, &patch, error)
      || !sd_config_int (o, file, "in_channels", 64, 1, dim, &c->in_channels, error)
      || !sd_config_int (o, file, "out_channels", c->in_channels, 1, dim, &c->out_channels, error)
      || !sd_config_int (o, file, "num_layers", 19, 1, SD_CONFIG_MAX_LAYERS, &c->num_layers, error)
      || !sd_config_int (o, file, "num_single_layers", 38, 1, SD_CONFIG_MAX_LAYERS, &c->num_single_layers, error)
      || !sd_config_int (o, file, "attention_head_dim", 128, 1, dim, &c->head_dim, error)
      || !sd_config_int (o, file, "num_attention_heads", 24, 1, SD_CONFIG_MAX_HEADS, &c->heads, error)
      || !sd_config_int (o, file, "joint_attention_dim", 4096, 1, dim, &c->joint_attention_dim, error)
      || !sd_config_int (o, file, "pooled_projection_dim", 768, 1, dim, &c->pooled_projection_dim, error)
      || !sd_config_bool (o, file, "guidance_embeds", FALSE, &c->guidance_embeds, error)
      || !sd_config_int_array (o, file, "axes_dims_rope", 3, 3, 0, dim, c->axes_dims_rope, &n_axes, error))
    return FALSE;
  if (patch != 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: patch_size %d is not FLUX's (1)", file, patch);
      return FALSE;
    }
  return check_config (file, c, error);
}

gboolean
sd_flux_config_from_json (const char *path, SdFluxConfig *c, GError **error)
{
  JsonParser *parser = sd_json_object_load (path, error);
  gboolean ok;

  memset (c, 0, sizeof *c);
  if (!parser)
    return FALSE;
  ok = sd_flux_config_from_object (json_node_get_object (json_parser_get_root (parser)), path, c, error);
  g_object_unref (parser);
  return ok;
}

static const char *bfl_probe = "double_blocks.0.img_attn.qkv.weight";

gboolean
sd_flux_is_bfl (SdTensorFile *tf, const char **prefix)
{
  static const char *prefixes[] = { "", "model.diffusion_model." };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      char *k = g_strconcat (prefixes[i], bfl_probe, NULL);
      gboolean hit = sd_tensors_find (tf, k) != NULL;
      g_free (k);
      if (hit)
        {
          if (prefix)
            *prefix = prefixes[i];
          return TRUE;
        }
    }
  return FALSE;
}

static const SdTensorInfo *
need (SdTensorFile *tf, const char *prefix, const char *name, int ndim, GError **error)
{
  char *k = g_strconcat (prefix, name, NULL);
  const SdTensorInfo *t = sd_tensors_find (tf, k);
  if (!t)
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: missing tensor \"%s\"", sd_tensors_path (tf), k);
  else if (t->ndim != ndim)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor \"%s\" has %d dimensions, expected %d",
                   sd_tensors_path (tf), k, t->ndim, ndim);
      t = NULL;
    }
  g_free (k);
  return t;
}

/* Dimension `axis` of t (a width or a channel count) as an int in [1, SD_CONFIG_MAX_DIM]. */
static gboolean
shape_dim (SdTensorFile *tf, const SdTensorInfo *t, int axis, int *out, GError **error)
{
  char *what = g_strdup_printf ("dimension %d of tensor \"%s\"", axis, t->name);
  gboolean ok = sd_config_check (sd_tensors_path (tf), what, t->shape[axis], 1, SD_CONFIG_MAX_DIM, error);
  g_free (what);
  if (ok)
    *out = (int) t->shape[axis];
  return ok;
}

/* The number of consecutive blocks present, counted up to one past the limit. */
static int
count_blocks (SdTensorFile *tf, const char *prefix, const char *kind)
{
  int n = 0;
  while (n <= SD_CONFIG_MAX_LAYERS)
    {
      char *k = g_strdup_printf ("%s%s.%d.linear2.weight", prefix, kind, n);
      char *k2 = g_strdup_printf ("%s%s.%d.img_attn.qkv.weight", prefix, kind, n);
      gboolean hit = sd_tensors_find (tf, k) || sd_tensors_find (tf, k2);
      g_free (k);
      g_free (k2);
      if (!hit)
        break;
      n++;
    }
  return n;
}

gboolean
sd_flux_config_from_bfl (SdTensorFile *tf, SdFluxConfig *c, GError **error)
{
  const char *prefix = "";
  const SdTensorInfo *img_in, *txt_in, *vec_in, *qnorm, *final;

  memset (c, 0, sizeof *c);
  if (!sd_flux_is_bfl (tf, &prefix))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: not a FLUX transformer (no \"%s\")",
                   sd_tensors_path (tf), bfl_probe);
      return FALSE;
    }
  if (!(img_in = need (tf, prefix, "img_in.weight", 2, error)) || !(txt_in = need (tf, prefix, "txt_in.weight", 2, error))
      || !(vec_in = need (tf, prefix, "vector_in.in_layer.weight", 2, error))
      || !(qnorm = need (tf, prefix, "double_blocks.0.img_attn.norm.query_norm.scale", 1, error))
      || !(final = need (tf, prefix, "final_layer.linear.weight", 2, error)))
    return FALSE;
  if (!shape_dim (tf, img_in, 0, &c->hidden, error) || !shape_dim (tf, img_in, 1, &c->in_channels, error)
      || !shape_dim (tf, txt_in, 1, &c->joint_attention_dim, error)
      || !shape_dim (tf, vec_in, 1, &c->pooled_projection_dim, error) || !shape_dim (tf, qnorm, 0, &c->head_dim, error)
      || !shape_dim (tf, final, 0, &c->out_channels, error))
    return FALSE;
  if (c->hidden % c->head_dim)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: hidden size %d is not a multiple of the head size %d",
                   sd_tensors_path (tf), c->hidden, c->head_dim);
      return FALSE;
    }
  c->heads = c->hidden / c->head_dim;
  c->num_layers = count_blocks (tf, prefix, "double_blocks");
  c->num_single_layers = count_blocks (tf, prefix, "single_blocks");
  if (!sd_config_check (sd_tensors_path (tf), "the number of double_blocks", c->num_layers, 1, SD_CONFIG_MAX_LAYERS,
                        error)
      || !sd_config_check (sd_tensors_path (tf), "the number of single_blocks", c->num_single_layers, 1,
                           SD_CONFIG_MAX_LAYERS, error))
    return FALSE;
  {
    char *k = g_strconcat (prefix, "guidance_in.in_layer.weight", NULL);
    c->guidance_embeds = sd_tensors_find (tf, k) != NULL;
    g_free (k);
  }
  /* FLUX's rotary split (16, 56, 56) of 128; smaller heads keep its proportions (1/8, 7/16, 7/16). */
  c->axes_dims_rope[0] = c->head_dim / 8;
  c->axes_dims_rope[1] = c->axes_dims_rope[2] = (c->head_dim - c->head_dim / 8) / 2;
  return check_config (sd_tensors_path (tf), c, error);
}

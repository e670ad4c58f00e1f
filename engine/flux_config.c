/* flux_config.c: the FLUX transformer's configuration, from config.json or inferred from a BFL
 * single file's tensor shapes. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "flux.h"
#include "json_object.h"
#include "scaledit.h"

static gboolean
get_int (JsonObject *o, const char *path, const char *key, int def, gboolean required, int *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    {
      if (required)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: missing \"%s\"", path, key);
          return FALSE;
        }
      *out = def;
      return TRUE;
    }
  if (json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) <= 0 || json_node_get_int (n) > (1 << 20))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: \"%s\" must be a positive integer", path, key);
      return FALSE;
    }
  *out = (int) json_node_get_int (n);
  return TRUE;
}

static gboolean
check_config (const char *path, SdFluxConfig *c, GError **error)
{
  c->hidden = c->heads * c->head_dim;
  c->mlp_hidden = c->hidden * 4;
  if (c->axes_dims_rope[0] + c->axes_dims_rope[1] + c->axes_dims_rope[2] != c->head_dim
      || c->axes_dims_rope[0] % 2 || c->axes_dims_rope[1] % 2 || c->axes_dims_rope[2] % 2)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: axes_dims_rope (%d, %d, %d) must be even and add up to attention_head_dim %d", path,
                   c->axes_dims_rope[0], c->axes_dims_rope[1], c->axes_dims_rope[2], c->head_dim);
      return FALSE;
    }
  return TRUE;
}

gboolean
sd_flux_config_from_json (const char *path, SdFluxConfig *c, GError **error)
{
  JsonParser *parser;
  JsonObject *o;
  JsonNode *axes;
  int patch = 1;
  gboolean ok = FALSE;

  memset (c, 0, sizeof *c);
  parser = sd_json_object_load (path, error);
  if (!parser)
    return FALSE;
  o = json_node_get_object (json_parser_get_root (parser));
  if (!get_int (o, path, "patch_size", 1, FALSE, &patch, error)
      || !get_int (o, path, "in_channels", 64, FALSE, &c->in_channels, error)
      || !get_int (o, path, "out_channels", c->in_channels, FALSE, &c->out_channels, error)
      || !get_int (o, path, "num_layers", 19, FALSE, &c->num_layers, error)
      || !get_int (o, path, "num_single_layers", 38, FALSE, &c->num_single_layers, error)
      || !get_int (o, path, "attention_head_dim", 128, FALSE, &c->head_dim, error)
      || !get_int (o, path, "num_attention_heads", 24, FALSE, &c->heads, error)
      || !get_int (o, path, "joint_attention_dim", 4096, FALSE, &c->joint_attention_dim, error)
      || !get_int (o, path, "pooled_projection_dim", 768, FALSE, &c->pooled_projection_dim, error))
    goto out;
  if (patch != 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: patch_size %d is not FLUX's (1)", path, patch);
      goto out;
    }
  c->guidance_embeds = json_object_has_member (o, "guidance_embeds")
                       && json_object_get_boolean_member (o, "guidance_embeds");
  c->axes_dims_rope[0] = 16;
  c->axes_dims_rope[1] = c->axes_dims_rope[2] = 56;
  axes = json_object_get_member (o, "axes_dims_rope");
  if (axes)
    {
      JsonArray *a = JSON_NODE_HOLDS_ARRAY (axes) ? json_node_get_array (axes) : NULL;
      guint i;
      if (!a || json_array_get_length (a) != 3)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: axes_dims_rope must hold 3 integers", path);
          goto out;
        }
      for (i = 0; i < 3; i++)
        c->axes_dims_rope[i] = (int) json_array_get_int_element (a, i);
    }
  ok = check_config (path, c, error);
out:
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

static int
count_blocks (SdTensorFile *tf, const char *prefix, const char *kind)
{
  int n = 0;
  for (;;)
    {
      char *k = g_strdup_printf ("%s%s.%d.linear2.weight", prefix, kind, n);
      char *k2 = g_strdup_printf ("%s%s.%d.img_attn.qkv.weight", prefix, kind, n);
      gboolean hit = sd_tensors_find (tf, k) || sd_tensors_find (tf, k2);
      g_free (k);
      g_free (k2);
      if (!hit)
        return n;
      n++;
    }
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
  c->hidden = (int) img_in->shape[0];
  c->in_channels = (int) img_in->shape[1];
  c->joint_attention_dim = (int) txt_in->shape[1];
  c->pooled_projection_dim = (int) vec_in->shape[1];
  c->head_dim = (int) qnorm->shape[0];
  c->out_channels = (int) final->shape[0];
  if (c->head_dim <= 0 || c->hidden % c->head_dim)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: hidden size %d is not a multiple of the head size %d",
                   sd_tensors_path (tf), c->hidden, c->head_dim);
      return FALSE;
    }
  c->heads = c->hidden / c->head_dim;
  c->num_layers = count_blocks (tf, prefix, "double_blocks");
  c->num_single_layers = count_blocks (tf, prefix, "single_blocks");
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

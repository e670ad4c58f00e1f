/* vae_config.c: the AutoencoderKL configuration from a diffusers config.json, with diffusers'
 * defaults for missing keys, and its validation. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json_object.h"
#include "scaledit.h"
#include "vae.h"

static gboolean
get_int (JsonObject *o, const char *path, const char *key, int def, int *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    {
      *out = def;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) <= 0 || json_node_get_int (n) > (1 << 16))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be a positive integer", path, key);
      return FALSE;
    }
  *out = (int) json_node_get_int (n);
  return TRUE;
}

static gboolean
get_bool (JsonObject *o, const char *path, const char *key, gboolean def, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    {
      *out = def;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be true or false", path, key);
      return FALSE;
    }
  *out = json_node_get_boolean (n);
  return TRUE;
}

static gboolean
get_float (JsonObject *o, const char *path, const char *key, float def, float *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  GType t;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    {
      *out = def;
      return TRUE;
    }
  t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be a number", path, key);
      return FALSE;
    }
  *out = (float) json_node_get_double (n);
  return TRUE;
}

/* Every entry of the string array `key` (if present) must equal `want`; returns its length or 0. */
static gboolean
check_block_types (JsonObject *o, const char *path, const char *key, const char *want, int n,
                   GError **error)
{
  JsonNode *node = json_object_get_member (o, key);
  JsonArray *a;
  guint i;
  if (!node)
    return TRUE;
  a = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  if (!a || (int) json_array_get_length (a) != n)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: \"%s\" must list %d block types, one per block_out_channels entry", path, key, n);
      return FALSE;
    }
  for (i = 0; i < json_array_get_length (a); i++)
    {
      const char *s = json_array_get_string_element (a, i);
      if (!s || !g_str_equal (s, want))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                       "%s: %s[%u] is \"%s\"; only %s is supported", path, key, i, s ? s : "?", want);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
sd_vae_config_from_json (const char *path, SdVaeConfig *c, GError **error)
{
  JsonParser *parser;
  JsonObject *o;
  JsonNode *bo;
  JsonArray *a;
  const char *act;
  gboolean ok = FALSE;
  guint i;

  memset (c, 0, sizeof *c);
  parser = sd_json_object_load (path, error);
  if (!parser)
    return FALSE;
  o = json_node_get_object (json_parser_get_root (parser));
  bo = json_object_get_member (o, "block_out_channels");
  a = bo && JSON_NODE_HOLDS_ARRAY (bo) ? json_node_get_array (bo) : NULL;
  if (!a || json_array_get_length (a) == 0 || json_array_get_length (a) > SD_VAE_MAX_BLOCKS)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: \"block_out_channels\" must be a list of 1 to %d channel counts", path,
                   SD_VAE_MAX_BLOCKS);
      goto out;
    }
  c->n_blocks = json_array_get_length (a);
  for (i = 0; i < json_array_get_length (a); i++)
    {
      gint64 v = json_array_get_int_element (a, i);
      if (v <= 0 || v > (1 << 16))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: block_out_channels[%u] is not a channel count", path, i);
          goto out;
        }
      c->block_out_channels[i] = (int) v;
    }
  act = json_object_has_member (o, "act_fn") ? json_object_get_string_member (o, "act_fn") : "silu";
  if (!act || !g_str_equal (act, "silu"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: act_fn \"%s\" is not supported (silu is)",
                   path, act ? act : "?");
      goto out;
    }
  if ((json_object_has_member (o, "latents_mean") && !json_object_get_null_member (o, "latents_mean"))
      || (json_object_has_member (o, "latents_std") && !json_object_get_null_member (o, "latents_std")))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "%s: per-channel latents_mean / latents_std are not supported", path);
      goto out;
    }
  if (!check_block_types (o, path, "down_block_types", "DownEncoderBlock2D", c->n_blocks, error)
      || !check_block_types (o, path, "up_block_types", "UpDecoderBlock2D", c->n_blocks, error)
      || !get_int (o, path, "in_channels", 3, &c->in_channels, error)
      || !get_int (o, path, "out_channels", 3, &c->out_channels, error)
      || !get_int (o, path, "latent_channels", 4, &c->latent_channels, error)
      || !get_int (o, path, "layers_per_block", 1, &c->layers_per_block, error)
      || !get_int (o, path, "norm_num_groups", 32, &c->norm_num_groups, error)
      || !get_bool (o, path, "mid_block_add_attention", TRUE, &c->mid_block_add_attention, error)
      || !get_bool (o, path, "use_quant_conv", TRUE, &c->use_quant_conv, error)
      || !get_bool (o, path, "use_post_quant_conv", TRUE, &c->use_post_quant_conv, error)
      || !get_float (o, path, "scaling_factor", 0.18215f, &c->scaling_factor, error)
      || !get_float (o, path, "shift_factor", 0.0f, &c->shift_factor, error))
    goto out;
  for (i = 0; i < (guint) c->n_blocks; i++)
    if (c->block_out_channels[i] % c->norm_num_groups)
      {
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                     "%s: block_out_channels[%u] = %d is not a multiple of norm_num_groups %d", path,
                     i, c->block_out_channels[i], c->norm_num_groups);
        goto out;
      }
  if (c->scaling_factor == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: scaling_factor is 0", path);
      goto out;
    }
  ok = TRUE;
out:
  g_object_unref (parser);
  return ok;
}

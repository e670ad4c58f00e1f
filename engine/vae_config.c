/* vae_config.c: the AutoencoderKL configuration from a diffusers config.json, with diffusers'
 * defaults for missing keys, every member checked for type and range. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "config_fields.h"
#include "json_object.h"
#include "scaledit.h"
#include "vae.h"

gboolean
sd_vae_config_from_object (JsonObject *o, const char *file, SdVaeConfig *c, GError **error)
{
  const int dim = SD_CONFIG_MAX_DIM;
  const char *act;
  double scaling, shift;
  guint n_blocks, i;

  memset (c, 0, sizeof *c);
  if (!sd_config_int_array (o, file, "block_out_channels", 1, SD_VAE_MAX_BLOCKS, 1, dim, c->block_out_channels,
                            &n_blocks, error))
    return FALSE;
  if (n_blocks == 0) /* absent or null */
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"block_out_channels\" is missing", file);
      return FALSE;
    }
  c->n_blocks = (int) n_blocks;
  if (!sd_config_string (o, file, "act_fn", "silu", &act, error))
    return FALSE;
  if (!g_str_equal (act, "silu"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: act_fn \"%s\" is not supported (silu is)", file, act);
      return FALSE;
    }
  if ((json_object_has_member (o, "latents_mean") && !json_object_get_null_member (o, "latents_mean"))
      || (json_object_has_member (o, "latents_std") && !json_object_get_null_member (o, "latents_std")))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "%s: per-channel latents_mean / latents_std are not supported", file);
      return FALSE;
    }
  if (!sd_config_string_array (o, file, "down_block_types", n_blocks, "DownEncoderBlock2D", error)
      || !sd_config_string_array (o, file, "up_block_types", n_blocks, "UpDecoderBlock2D", error)
      || !sd_config_int (o, file, "in_channels", 3, 1, dim, &c->in_channels, error)
      || !sd_config_int (o, file, "out_channels", 3, 1, dim, &c->out_channels, error)
      || !sd_config_int (o, file, "latent_channels", 4, 1, dim, &c->latent_channels, error)
      || !sd_config_int (o, file, "layers_per_block", 1, 1, SD_CONFIG_MAX_LAYERS, &c->layers_per_block, error)
      || !sd_config_int (o, file, "norm_num_groups", 32, 1, dim, &c->norm_num_groups, error)
      || !sd_config_bool (o, file, "mid_block_add_attention", TRUE, &c->mid_block_add_attention, error)
      || !sd_config_bool (o, file, "use_quant_conv", TRUE, &c->use_quant_conv, error)
      || !sd_config_bool (o, file, "use_post_quant_conv", TRUE, &c->use_post_quant_conv, error)
      || !sd_config_double (o, file, "scaling_factor", 0.18215, 1e-6, 1e6, &scaling, error)
      || !sd_config_double (o, file, "shift_factor", 0.0, -1e6, 1e6, &shift, error))
    return FALSE;
  c->scaling_factor = (float) scaling;
  c->shift_factor = (float) shift;
  for (i = 0; i < n_blocks; i++)
    if (c->block_out_channels[i] % c->norm_num_groups)
      {
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                     "%s: block_out_channels[%u] = %d is not a multiple of norm_num_groups %d", file, i,
                     c->block_out_channels[i], c->norm_num_groups);
        return FALSE;
      }
  return TRUE;
}

gboolean
sd_vae_config_from_json (const char *path, SdVaeConfig *c, GError **error)
{
  JsonParser *parser = sd_json_object_load (path, error);
  gboolean ok;

  memset (c, 0, sizeof *c);
  if (!parser)
    return FALSE;
  ok = sd_vae_config_from_object (json_node_get_object (json_parser_get_root (parser)), path, c, error);
  g_object_unref (parser);
  return ok;
}

/* t5_config.c: the T5 encoder's configuration from a transformers config.json (T5Config's
 * defaults for missing members; only gated feed-forwards) and the bounds every configuration, read
 * or inferred from tensor shapes, must keep. */
#include <stddef.h>
#include <string.h>

#include "config_fields.h"
#include "scaledit.h"
#include "t5_model.h"

/* The integer members: their defaults and bounds (the bucketing needs at least 4 buckets). */
static const SdConfigIntField int_fields[] = {
  { "vocab_size", offsetof (SdT5Config, vocab_size), 32128, 1, SD_CONFIG_MAX_VOCAB },
  { "d_model", offsetof (SdT5Config, d_model), 512, 1, SD_CONFIG_MAX_DIM },
  { "d_kv", offsetof (SdT5Config, d_kv), 64, 1, SD_CONFIG_MAX_DIM },
  { "d_ff", offsetof (SdT5Config, d_ff), 2048, 1, SD_CONFIG_MAX_FF },
  { "num_layers", offsetof (SdT5Config, num_layers), 6, 1, SD_CONFIG_MAX_LAYERS },
  { "num_heads", offsetof (SdT5Config, num_heads), 8, 1, SD_CONFIG_MAX_HEADS },
  { "relative_attention_num_buckets", offsetof (SdT5Config, num_buckets), 32, 4, SD_CONFIG_MAX_DIM },
  { "relative_attention_max_distance", offsetof (SdT5Config, max_distance), 128, 2, SD_CONFIG_MAX_DIM },
};

gboolean
sd_t5_config_from_object (JsonObject *o, const char *file, SdT5Config *c, GError **error)
{
  const char *proj, *act;
  double eps;

  if (!sd_config_int_fields (o, file, int_fields, G_N_ELEMENTS (int_fields), c, error))
    return FALSE;
  if (!sd_config_double (o, file, "layer_norm_epsilon", 1e-6, 0, 1, &eps, error)
      || !sd_config_string (o, file, "feed_forward_proj", "relu", &proj, error))
    return FALSE;
  c->layer_norm_eps = (float) eps;
  /* "gated-gelu" means gelu_new on the gated branch (transformers' T5Config). */
  if (!g_str_has_prefix (proj, "gated-"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "%s: feed_forward_proj \"%s\" is not supported: only gated feed-forwards "
                   "(T5 v1.1, as FLUX's T5-XXL) are", file, proj);
      return FALSE;
    }
  act = proj + strlen ("gated-");
  if (g_str_equal (act, "gelu"))
    act = "gelu_new";
  return sd_config_activation (file, "feed_forward_proj", act, &c->act, error)
         && sd_t5_config_check (file, c, error);
}

gboolean
sd_t5_config_check (const char *where, const SdT5Config *c, GError **error)
{

  if (!sd_config_check_fields (where, int_fields, G_N_ELEMENTS (int_fields), c, error))
    return FALSE;
  /* a quarter of the buckets are exact distances; the logarithmic ones need a larger maximum */
  return sd_config_check (where, "num_heads * d_kv", (gint64) c->num_heads * c->d_kv, 1, SD_CONFIG_MAX_DIM, error)
         && sd_config_check (where, "relative_attention_max_distance", c->max_distance, c->num_buckets / 4 + 1,
                             SD_CONFIG_MAX_DIM, error);
}

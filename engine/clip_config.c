/* clip_config.c: the CLIP text encoder's configuration from a transformers config.json
 * (CLIPTextConfig's defaults for missing members) and the bounds every configuration, read or
 * inferred from tensor shapes, must keep. */
#include <stddef.h>

#include "clip_model.h"
#include "config_fields.h"
#include "scaledit.h"

/* The integer members: their defaults and bounds. */
static const SdConfigIntField int_fields[] = {
  { "vocab_size", offsetof (SdClipConfig, vocab_size), 49408, 1, SD_CONFIG_MAX_VOCAB },
  { "hidden_size", offsetof (SdClipConfig, hidden_size), 512, 1, SD_CONFIG_MAX_DIM },
  { "intermediate_size", offsetof (SdClipConfig, intermediate_size), 2048, 1, SD_CONFIG_MAX_FF },
  { "num_hidden_layers", offsetof (SdClipConfig, num_layers), 12, 1, SD_CONFIG_MAX_LAYERS },
  { "num_attention_heads", offsetof (SdClipConfig, num_heads), 8, 1, SD_CONFIG_MAX_HEADS },
  { "max_position_embeddings", offsetof (SdClipConfig, max_positions), 77, 1, SD_CONFIG_MAX_DIM },
  { "eos_token_id", offsetof (SdClipConfig, eos_token_id), 2, 0, SD_CONFIG_MAX_VOCAB },
};

gboolean
sd_clip_config_from_object (JsonObject *o, const char *file, SdClipConfig *c, GError **error)
{
  const char *act;
  double eps;

  if (!sd_config_int_fields (o, file, int_fields, G_N_ELEMENTS (int_fields), c, error))
    return FALSE;
  if (!sd_config_double (o, file, "layer_norm_eps", 1e-5, 0, 1, &eps, error)
      || !sd_config_string (o, file, "hidden_act", "quick_gelu", &act, error)
      || !sd_config_activation (file, "hidden_act", act, &c->act, error))
    return FALSE;
  c->layer_norm_eps = (float) eps;
  return sd_clip_config_check (file, c, error);
}

gboolean
sd_clip_config_check (const char *where, const SdClipConfig *c, GError **error)
{

  if (!sd_config_check_fields (where, int_fields, G_N_ELEMENTS (int_fields), c, error))
    return FALSE;
  if (c->hidden_size % c->num_heads)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: hidden_size %d is not a multiple of num_attention_heads %d", where, c->hidden_size,
                   c->num_heads);
      return FALSE;
    }
  return TRUE;
}

/* t5_model.h: the T5 encoder as transformers' T5EncoderModel (v1.1 style, FLUX's T5-XXL):
 * relative position bias from the first layer, RMS norms, gated-GELU feed-forward. */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"
#include "component.h"

G_BEGIN_DECLS

typedef struct {
  int vocab_size, d_model, d_kv, d_ff, num_layers, num_heads;
  int num_buckets, max_distance;
  float layer_norm_eps;
  SdAct act; /* of the gated feed-forward's wi_0 branch */
} SdT5Config;

/* Reads a parsed text_encoder_2/config.json (T5Config's defaults for missing members); every
 * member is checked for type and range. `file` names it in errors. */
gboolean sd_t5_config_from_object (JsonObject *o, const char *file, SdT5Config *c, GError **error);
/* Checks that a configuration (read or inferred from the tensors of `where`) is within bounds. */
gboolean sd_t5_config_check (const char *where, const SdT5Config *c, GError **error);

typedef struct SdT5Model SdT5Model;

/* Loads from a text_encoder_2/ folder (config.json + model.safetensors or a sharded index), a
 * diffusers model folder holding one, or a single t5xxl_*.safetensors (config inferred). */
SdT5Model *sd_t5_load (SdBackend *be, const char *path, GError **error);
const SdT5Config *sd_t5_config (const SdT5Model *model);
/* Encodes n token ids with no attention mask (as FluxPipeline does): *hidden_out gets host f32
 * [n][d_model] (the final layer norm's output). */
gboolean sd_t5_encode (SdT5Model *model, const int *ids, int n, float **hidden_out, GError **error);
/* Releases all backend memory and the mapped files. */
void sd_t5_free (SdT5Model *model);

/* The bucket of relative position delta = key - query of a bidirectional encoder. */
int sd_t5_relative_bucket (int delta, int num_buckets, int max_distance);

/* run-component "t5": input_ids [n] or [batch, n] → last_hidden_state. */
gboolean sd_t5_run_component (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                              GArray *outputs, GError **error);

G_END_DECLS

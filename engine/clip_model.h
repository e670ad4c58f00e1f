/* clip_model.h: the CLIP text transformer as transformers' CLIPTextModel (FLUX's CLIP-L): hidden
 * states and the pooled vector at the end token. */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"
#include "component.h"

G_BEGIN_DECLS

typedef struct {
  int vocab_size, hidden_size, intermediate_size, num_layers, num_heads, max_positions;
  float layer_norm_eps;
  SdAct act;
  int eos_token_id; /* 2 (the legacy value FLUX's config has): pool at the largest id */
} SdClipConfig;

/* Reads a parsed text_encoder/config.json (CLIPTextConfig's defaults for missing members); every
 * member is checked for type and range. `file` names it in errors. */
gboolean sd_clip_config_from_object (JsonObject *o, const char *file, SdClipConfig *c, GError **error);
/* Checks that a configuration (read or inferred from the tensors of `where`) is within bounds. */
gboolean sd_clip_config_check (const char *where, const SdClipConfig *c, GError **error);

typedef struct SdClipModel SdClipModel;

/* Loads from a text_encoder/ folder (config.json + model.safetensors), a diffusers model folder
 * holding one, or a single clip_l.safetensors (config inferred from the tensor shapes). */
SdClipModel *sd_clip_load (SdBackend *be, const char *path, GError **error);
const SdClipConfig *sd_clip_config (const SdClipModel *model);
/* Encodes n <= max_positions token ids: *hidden_out gets host f32 [n][hidden] (the final layer
 * norm's output), *pooled_out (may be NULL) host f32 [hidden]. */
gboolean sd_clip_encode (SdClipModel *model, const int *ids, int n, float **hidden_out,
                         float **pooled_out, GError **error);
/* Releases all backend memory and the mapped files. */
void sd_clip_free (SdClipModel *model);

/* run-component "clip": input_ids [n] or [batch, n] → last_hidden_state, pooler_output. */
gboolean sd_clip_run_component (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                                GArray *outputs, GError **error);

G_END_DECLS

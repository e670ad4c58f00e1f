/* flux.h: the FLUX transformer (double- and single-stream blocks) on the backend interface. */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"
#include "safetensors.h"

G_BEGIN_DECLS

typedef struct {
  int in_channels, out_channels;
  int num_layers, num_single_layers;
  int heads, head_dim;
  int joint_attention_dim, pooled_projection_dim;
  gboolean guidance_embeds;
  int axes_dims_rope[3];
  int mlp_hidden; /* hidden * mlp ratio (4) */
  int hidden;     /* heads * head_dim */
} SdFluxConfig;

/* Reads a diffusers transformer/config.json; every member is checked for type and range. */
gboolean sd_flux_config_from_json (const char *path, SdFluxConfig *cfg, GError **error);
/* The same from its parsed root object; `file` names it in errors. */
gboolean sd_flux_config_from_object (JsonObject *o, const char *file, SdFluxConfig *cfg, GError **error);
/* Infers the config of a BFL single file from its tensor shapes (as from_single_file does). */
gboolean sd_flux_config_from_bfl (SdTensorFile *tf, SdFluxConfig *cfg, GError **error);
/* True when the file has BFL key names; *prefix gets a key prefix such as "model.diffusion_model.". */
gboolean sd_flux_is_bfl (SdTensorFile *tf, const char **prefix);

typedef struct SdFlux SdFlux;
typedef struct SdLora SdLora; /* lora.h */

/* Which tokens a LoRA reaches: every token, or Scale-DiT's bridge routing (LR guidance tokens get
 * every LoRA'd linear, text and HR tokens only the q, k, v projections). */
typedef enum {
  SD_LORA_ROUTE_ALL,
  SD_LORA_ROUTE_SCALE_DIT,
} SdLoraRouting;

/* Loads weights in diffusers names (from_bfl FALSE) or BFL names onto the backend. */
SdFlux *sd_flux_load (SdBackend *be, SdTensorFile *tf, const SdFluxConfig *cfg, GError **error);
void sd_flux_free (SdFlux *flux);
const SdFluxConfig *sd_flux_config (SdFlux *flux);

/* What stays fixed over a sampler run: the text, the positions, the attention plan.
 * rope_ids: [n_text + n_img][3] position ids of the sequence [text | image]. */
typedef struct {
  const float *txt;    /* [n_text][joint_attention_dim] T5 hidden states */
  int n_text;
  const float *pooled; /* [pooled_projection_dim] CLIP pooled output */
  int n_img;
  const float *rope_ids;
  double rope_theta;   /* 10000, times the NTK factor with LR guidance */
  const SdAttnPlan *plan; /* over [text | image]; NULL: dense */
  int n_lr;            /* the last n_lr image tokens are LR guidance (for LoRA routing) */
  const SdLora *lora;  /* NULL: the base model */
  float lora_scale;    /* the user's scale; 0 runs the base model */
  SdLoraRouting lora_routing;
} SdFluxSetup;

typedef struct SdFluxRun SdFluxRun;

SdFluxRun *sd_flux_run_new (SdFlux *flux, const SdFluxSetup *setup, GError **error);
void sd_flux_run_free (SdFluxRun *run);

/* One forward pass: img [n_img][in_channels] on the backend -> out [n_img][out_channels].
 * Image rows in img_groups segment g run at timesteps[g] (sigma in [0, 1]); text rows run at
 * timesteps[0]. guidance is ignored by models without a guidance embedding. */
gboolean sd_flux_forward (SdFluxRun *run, SdBuf *img, const float *timesteps, int n_groups,
                          const SdSegments *img_groups, float guidance, SdBuf *out, GError **error);

/* Host math shared with tests: FLUX's sinusoidal timestep embedding (dim 256, flipped to cos|sin),
 * and the rotary tables cos/sin [n][head_dim/2] for position ids [n][3]. */
void sd_timestep_embedding (float t, int dim, float *out);
void sd_rope_tables (const float *ids, int n, const int axes_dims[3], double theta, float *cos_out,
                     float *sin_out);

G_END_DECLS

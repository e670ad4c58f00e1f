/* vae.h: the AutoencoderKL (FLUX's VAE) for the pipeline: loading either layout, and tiled
 * decode / encode whose result does not depend on the tile size. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "backend.h"
#include "safetensors.h"

G_BEGIN_DECLS

#define SD_VAE_MAX_BLOCKS 8

/* The diffusers AutoencoderKL config (vae/config.json) the engine supports: DownEncoderBlock2D /
 * UpDecoderBlock2D blocks, SiLU, GroupNorm with eps 1e-6. */
typedef struct {
  int in_channels, out_channels, latent_channels;
  int n_blocks;
  int block_out_channels[SD_VAE_MAX_BLOCKS];
  int layers_per_block;
  int norm_num_groups;
  gboolean mid_block_add_attention;
  gboolean use_quant_conv, use_post_quant_conv;
  float scaling_factor, shift_factor; /* latents = (mean - shift) * scale */
} SdVaeConfig;

typedef struct SdVae SdVae;

/* Reads a diffusers config.json. Missing keys take diffusers' defaults. */
gboolean sd_vae_config_from_json (const char *path, SdVaeConfig *cfg, GError **error);
/* The same from its parsed root object; `file` names it in errors. */
gboolean sd_vae_config_from_object (JsonObject *o, const char *file, SdVaeConfig *cfg, GError **error);

/* Loads a VAE from a diffusers folder (the model folder holding vae/, or vae/ itself) or from one
 * .safetensors file with the original latent-diffusion key names (ae.safetensors, optionally
 * prefixed "first_stage_model." or "vae.") or diffusers key names. A single file carries no
 * config: `config_json` (may be NULL) gives one; otherwise it is inferred from the tensor shapes,
 * with 32 norm groups and, for 16 latent channels, FLUX's scaling 0.3611 and shift 0.1159 (else
 * latent diffusion's 0.18215 and 0). Weights stay on `be`, which must outlive the VAE. */
SdVae *sd_vae_load (SdBackend *be, const char *path, const char *config_json, GError **error);
void sd_vae_free (SdVae *vae);
const SdVaeConfig *sd_vae_get_config (const SdVae *vae);
/* Pixels per latent along each side: 2^(n_blocks - 1) (8 for FLUX). */
int sd_vae_factor (const SdVae *vae);
/* The latent size the encoder gives for a w x h image (each downsample halves, rounding down). */
void sd_vae_latent_size (const SdVae *vae, int width, int height, int *lw, int *lh);

/* How a decode or encode runs. */
typedef struct {
  gsize budget_bytes;  /* device working memory the tiles may use; 0: 2 GiB. The attention's keys
                        * and values stay in it when they take at most half (FLUX at 4096²: 1 GiB
                        * counted as f32), else they are streamed through it in chunks */
  int max_tile;        /* when > 0, caps every tile's side (output pixels of its layer) */
  gsize device_slot_bytes; /* device memory full-resolution intermediates may stay in, on top of
                            * the budget (0: all in host memory, copied through tile by tile);
                            * a slot that does not fit goes to host memory */
  gsize host_slot_bytes;   /* host memory full-resolution intermediates may take (0: no limit);
                            * those beyond it are kept in temporary files in spill_dir, which the
                            * system pages in and out (the plan's input and output stay in memory) */
  const char *spill_dir;   /* folder for those files; NULL: the temp folder (TMPDIR) */
  void (*on_tile) (int done, int total, gpointer user_data); /* after every tile */
  gpointer user_data;
  volatile gint *cancel; /* non-zero: stop between tiles with SD_ERROR_CANCELLED */
} SdVaeTiling;

/* What a decode or encode used. */
typedef struct {
  gsize device_peak_bytes;   /* peak device working memory (weights excluded), <= the budget
                              * plus device_slot_bytes */
  gsize tile_peak_bytes;     /* peak of the conv passes: bounded by the tile size, not the image */
  gsize attention_peak_bytes; /* peak of the mid-block attention pass: whole-latent keys and
                               * values (or a chunk of them), a query tile and its scores */
  gsize attention_kv_bytes;  /* of which the keys and values (or a chunk of them) */
  int attention_kv_chunks;   /* chunks the keys and values were streamed in for each query tile
                              * (1: they stayed in the working memory); 0: no attention */
  gsize host_peak_bytes;     /* peak of full-resolution intermediates held in host memory */
  gsize spill_peak_bytes;    /* peak of those kept in temporary files (host_slot_bytes) */
  int tiles, passes;
  double halo_fraction;      /* conv inputs read and normalized more than once (tile halos),
                              * as a fraction of all conv input elements; conv outputs are never
                              * recomputed */
  double seconds;
} SdVaeStats;

/* Decodes scaled latents (latent_channels x lh x lw, CHW, f32) into the decoder's raw output:
 * out_channels x (lh * factor) x (lw * factor), CHW, nominally in [-1, 1] (the pipeline maps it
 * to [0, 1]). tiling and stats may be NULL. Returns a g_malloc'ed array. */
float *sd_vae_decode (SdVae *vae, const float *latents, int lw, int lh, const SdVaeTiling *tiling,
                      SdVaeStats *stats, GError **error);
/* Encodes an image (in_channels x height x width, CHW, values in [-1, 1]) into the scaled latent
 * mean (latent_channels x lh x lw, see sd_vae_latent_size). */
float *sd_vae_encode (SdVae *vae, const float *image, int width, int height,
                      const SdVaeTiling *tiling, SdVaeStats *stats, GError **error);

/* The memory a decode to (or an encode of) a width x height image will take with `tiling`, without
 * running it: host_peak and spill_peak as SdVaeStats.host_peak_bytes and spill_peak_bytes with no
 * intermediate kept on the device, and the tiles' working bytes on the backend
 * (SdVaeStats.tile_peak_bytes and attention_peak_bytes are at most this). */
gboolean sd_vae_memory (SdVae *vae, gboolean encode, int width, int height, const SdVaeTiling *tiling,
                        gsize *host_peak, gsize *spill_peak, gsize *work_peak, GError **error);

/* run-component entries: vae-decode reads "latents" [C, h, w] (or [1, C, h, w]) and writes
 * "image"; vae-encode reads "image" [3, H, W] (or [1, 3, H, W]) and writes "latents". Both run
 * tiled with the default budget; model_path is as for sd_vae_load (no separate config). */
gboolean sd_vae_component_decode (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                                  GArray *outputs, GError **error);
gboolean sd_vae_component_encode (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                                  GArray *outputs, GError **error);

G_END_DECLS

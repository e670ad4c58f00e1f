/* lora.h: LoRA adapters (PEFT folders and diffusers files) read, checked against a loaded FLUX
 * transformer and mapped onto its fused linears, for flux.c to apply per token stream. */
#pragma once

#include "flux.h"

G_BEGIN_DECLS

/* One LoRA layer: output columns [col0, col0 + out) of the target linear get
 * scale * (x A^T) B^T, A [rank, in] and B [out, rank] on the backend. */
typedef struct {
  char *module;      /* the module name as the file gives it */
  const void *target; /* the engine linear (an SdLinear of the SdFlux) it adds to */
  SdBuf *a, *b;
  int rank, in, out, col0;
  float scale;       /* alpha / rank (alpha / sqrt(rank) with rsLoRA); 1 without alpha */
  gboolean qkv;      /* a q, k or v projection: routed to every token */
} SdLoraLayer;

/* PEFT's adapter_config.json, read and checked. */
typedef struct SdLoraConfig SdLoraConfig;

/* Bounds of an alpha (lora_alpha, alpha_pattern, a file's .alpha tensors) and of a rank. */
#define SD_LORA_MAX_ALPHA 1e6
#define SD_LORA_MAX_RANK 65536

/* Reads adapter_config.json: peft_type must be LORA, DoRA is refused; lora_alpha, alpha_pattern
 * and use_rslora are checked for type and range. `file` names it in errors. */
SdLoraConfig *sd_lora_config_load (const char *path, GError **error);
SdLoraConfig *sd_lora_config_from_object (JsonObject *o, const char *file, GError **error);
void sd_lora_config_free (SdLoraConfig *config);
/* alpha / rank (alpha / sqrt(rank) with rsLoRA) of a module: its alpha_pattern entry, else
 * lora_alpha, else the rank. */
double sd_lora_config_scale (const SdLoraConfig *config, const char *module, int rank);

/* Loads a LoRA for `flux`: a folder with adapter_model.safetensors + adapter_config.json (PEFT),
 * a folder with pytorch_lora_weights.safetensors (diffusers), or a .safetensors file with PEFT
 * (`base_model.model.`), diffusers (`transformer.`) or BFL (`diffusion_model.`) key names.
 * Every key must name a per-token linear of this transformer with fitting shapes; the error lists
 * the unknown or mismatched keys, and names LoRAs on modulation or conditioning layers. */
SdLora *sd_lora_load (SdFlux *flux, const char *path, GError **error);
/* The same from an opened tensors file and its adapter config (NULL: none, as for diffusers and
 * BFL files); errors name the tensors file. */
SdLora *sd_lora_from_tensors (SdFlux *flux, SdTensorFile *tf, const SdLoraConfig *config, GError **error);
void sd_lora_free (SdLora *lora);

/* The layers adding to `target` (an SdLinear of the SdFlux); *n gets their count (0: none). */
SdLoraLayer *const *sd_lora_layers (const SdLora *lora, const void *target, int *n);
/* The largest rank and output width of its layers (scratch sizes). */
int sd_lora_max_rank (const SdLora *lora);
int sd_lora_max_out (const SdLora *lora);
int sd_lora_count (const SdLora *lora);

G_END_DECLS

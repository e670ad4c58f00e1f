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

/* Loads a LoRA for `flux`: a folder with adapter_model.safetensors + adapter_config.json (PEFT),
 * a folder with pytorch_lora_weights.safetensors (diffusers), or a .safetensors file with PEFT
 * (`base_model.model.`), diffusers (`transformer.`) or BFL (`diffusion_model.`) key names.
 * Every key must name a per-token linear of this transformer with fitting shapes; the error lists
 * the unknown or mismatched keys, and names LoRAs on modulation or conditioning layers. */
SdLora *sd_lora_load (SdFlux *flux, const char *path, GError **error);
void sd_lora_free (SdLora *lora);

/* The layers adding to `target` (an SdLinear of the SdFlux); *n gets their count (0: none). */
SdLoraLayer *const *sd_lora_layers (const SdLora *lora, const void *target, int *n);
/* The largest rank and output width of its layers (scratch sizes). */
int sd_lora_max_rank (const SdLora *lora);
int sd_lora_max_out (const SdLora *lora);
int sd_lora_count (const SdLora *lora);

G_END_DECLS

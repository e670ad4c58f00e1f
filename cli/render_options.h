/* render_options.h: the options of generate and upscale: which entries each command has, the
 * request they fill in, and their checks (a wrong value names the option and what it may be). */
#pragma once

#include "scaledit.h"

#define SD_NOT_GIVEN G_MININT

typedef struct {
  SdRequest request;                  /* sd_request_init's defaults, then the options */
  char *model, *vae, *clip, *t5, *tokenizers, *device, *order, *lora;
  char *prompt, *negative, *out, *in; /* prompt and negative: checked UTF-8 */
  int width, height;                  /* SD_NOT_GIVEN unless given */
  int scale;                          /* upscale: 0 unless given */
  int depth;
  char *guidance, *detail_guidance;   /* NULL unless given; numbers once checked */
  double true_cfg, ntk, sharpen, lora_scale;
  gboolean verbose, no_model_lora, preview;
} SdRenderOptions;

/* Parses and checks the options of `scaledit generate` or `scaledit upscale` (argv[0] is the
 * command's name) into o, which sd_render_options_clear frees. On FALSE the message is in
 * *error and the exit status is 2. --help prints the command's options and exits. */
gboolean sd_render_options_parse (SdRenderOptions *o, gboolean upscale, int argc, char **argv, GError **error);
void sd_render_options_clear (SdRenderOptions *o);
/* The engine options that o names (pointing into o). */
void sd_render_options_engine (const SdRenderOptions *o, SdEngineOptions *eo);

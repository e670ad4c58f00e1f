/* model_files.h: finding a model's components in the two layouts users keep (a diffusers folder,
 * or ComfyUI-style single files), and describing them (`scaledit inspect`). */
#pragma once

#include <glib.h>

#include "scaledit.h"

typedef struct {
  gboolean single_file;     /* BFL single-file transformer */
  char *name;               /* folder or file name, for the parameters text */
  char *transformer;        /* weights: .safetensors or .safetensors.index.json */
  char *transformer_config; /* config.json, NULL for a single file (inferred from shapes) */
  char *scheduler_config;   /* scheduler_config.json or NULL (defaults from the transformer) */
  char *vae;                /* vae/ folder or ae.safetensors */
  char *clip;               /* text_encoder/ folder or clip_l.safetensors */
  char *t5;                 /* text_encoder_2/ folder or t5xxl_*.safetensors */
  char *tokenizers;         /* a folder holding tokenizer/ and tokenizer_2/ */
} SdModelFiles;

/* Finds every component (opts->path NULL: the bundled model); fails naming what is missing. */
SdModelFiles *sd_model_files_find (const SdEngineOptions *opts, GError **error);
void sd_model_files_free (SdModelFiles *m);

/* The weights file of a diffusers component folder (sharded index preferred), or NULL. */
char *sd_component_weights (const char *folder, const char *basename);

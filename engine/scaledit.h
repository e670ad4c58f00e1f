/* scaledit.h: the engine's public API, the only header plugin/, ui/ and cli/ include. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SD_ERROR (sd_error_quark ())
GQuark sd_error_quark (void);

typedef enum {
  SD_ERROR_IO,          /* a file could not be read or written */
  SD_ERROR_FORMAT,      /* a file is corrupt or not what it claims */
  SD_ERROR_MODEL,       /* a model is incomplete or inconsistent with its config */
  SD_ERROR_ARGUMENT,    /* a request or call argument is out of range */
  SD_ERROR_BACKEND,     /* the compute device failed */
  SD_ERROR_OUT_OF_MEMORY,
  SD_ERROR_CANCELLED,
  SD_ERROR_UNSUPPORTED,
} SdErrorCode;

typedef struct SdEngine SdEngine;

/* Where the model is: a diffusers folder, or single files (ComfyUI style). Any NULL single-file
 * path is looked for beside the transformer. */
typedef struct {
  const char *path;            /* a diffusers folder or a transformer .safetensors; NULL: bundled */
  const char *vae_path;        /* ae.safetensors or a diffusers vae/ folder */
  const char *clip_path;       /* clip_l.safetensors */
  const char *t5_path;         /* t5xxl_*.safetensors */
  const char *tokenizer_path;  /* a diffusers folder holding tokenizer/ and tokenizer_2/ */
  const char *backend;         /* "auto", "cpu" or "cuda"; NULL: auto */
  gboolean keep_text_encoders; /* keep CLIP/T5 loaded between generations */
  int threads;                 /* CPU threads; 0: all cores */
} SdEngineOptions;

/* Token orders of the detail pass (see layout.h). */
typedef enum {
  SD_ORDER_HILBERT,
  SD_ORDER_WINDOW,
  SD_ORDER_RASTER,
} SdTokenOrder;

/* One generation. sd_request_init() fills the published Scale-DiT defaults. */
typedef struct {
  const char *prompt;
  const char *negative_prompt; /* with true_cfg_scale > 1 */
  int width, height;           /* asked size in pixels; generated at the next multiple of 16 */
  gint64 seed;                 /* < 0: pick one; the used one is in SdResult */
  int global_factor;           /* global pass at target / f; 1 runs a single dense pass */
  int global_steps;            /* steps of the global schedule (28) */
  int detail_steps;            /* last steps of that schedule the detail pass runs (18) */
  float global_guidance;       /* embedded guidance of the global pass (3.5) */
  float detail_guidance;       /* embedded guidance of the detail pass (4.5) */
  float true_cfg_scale;        /* > 1 runs true classifier-free guidance with negative_prompt */
  int window;                  /* window side in tokens (16) */
  int hr_radius, lr_radius, lr_window_span; /* mask radii (8, 2, 1) */
  float ntk_factor;            /* RoPE theta multiplier with LR guidance (10) */
  float sharpen;               /* unsharp-mask amount of the handover (0.5) */
  SdTokenOrder order;
  /* LoRA: the Scale-DiT bridge LoRA, applied in the detail pass only (the global pass runs the
   * base model) with Scale-DiT's routing: LR guidance tokens get every LoRA'd linear, HR and text
   * tokens only the q, k, v projections. lora_path is a PEFT folder (adapter_model.safetensors +
   * adapter_config.json), a diffusers folder (pytorch_lora_weights.safetensors) or a .safetensors
   * file; scale = alpha / rank (1 without alpha) times lora_scale. When lora_path is NULL and the
   * model folder holds scale_dit_lora/ (the bundled model ships its LoRA there), that one is used
   * unless use_model_lora is FALSE. lora_scale 0 runs the base model. */
  const char *lora_path;
  float lora_scale;            /* 1 */
  gboolean use_model_lora;     /* TRUE */
  /* Upscale: an sRGB float image (RGB, row-major) that replaces the global pass. */
  const float *init_rgb;
  int init_width, init_height;
  gboolean preview_only;       /* stop after the global pass (its image goes to on_preview) */
} SdRequest;

void sd_request_init (SdRequest *req);

/* Progress: phase is "encode", "global", "handover", "detail" or "decode". */
typedef void (*SdProgressFunc) (const char *phase, int step, int total, gpointer user_data);
/* The decoded global pass, sRGB float RGB, row-major. */
typedef void (*SdPreviewFunc) (const float *rgb, int width, int height, gpointer user_data);

typedef struct {
  SdProgressFunc on_progress;
  SdPreviewFunc on_preview;
  gpointer user_data;
  volatile gint *cancel; /* set to non-zero from any thread to cancel */
} SdCallbacks;

typedef struct {
  float *rgb;          /* width * height * 3, sRGB in [0, 1] */
  int width, height;
  gint64 seed;         /* the seed used */
  char *parameters;    /* "prompt\nSteps: N, Seed: S, Size: WxH, Model: m, ..." */
  double seconds;
  gsize peak_device_bytes;
  gsize spill_peak_bytes;    /* VAE intermediates that did not fit in memory, kept in temporary
                              * files (TMPDIR): their peak; 0 when all fitted */
  gboolean prompt_truncated; /* the prompt was longer than the text encoders read */
} SdResult;

SdEngine *sd_engine_open (const SdEngineOptions *opts, GError **error);
void sd_engine_close (SdEngine *engine);
/* A one-line description: backend, device, model name. */
const char *sd_engine_describe (SdEngine *engine);
/* Whether the model has a guidance embedding (FLUX.1-dev does, schnell and the bundled model do
 * not): without one, the request's guidance values have no effect and are not recorded. */
gboolean sd_engine_uses_guidance (SdEngine *engine);

SdResult *sd_engine_generate (SdEngine *engine, const SdRequest *req, const SdCallbacks *cb,
                              GError **error);
void sd_result_free (SdResult *result);

/* The bundled default model's folder (installed or in the build tree). */
char *sd_default_model_path (void);

/* Describes what a model folder or file holds, or fails saying why it cannot be used. */
char *sd_inspect (const char *path, GError **error);

/* Runs one component (flux, clip, t5, vae-encode, vae-decode) on the named tensors of in_path and
 * writes its outputs to out_path (both safetensors). */
gboolean sd_run_component (const char *component, const char *model_path, const char *backend,
                           const char *in_path, const char *out_path, GError **error);

/* Options of the flux component: a LoRA applied with a scale and a routing ("all": every token;
 * "scale-dit": LR tokens (token_kinds 2) every LoRA'd linear, text and HR tokens only q, k, v). */
typedef struct {
  const char *lora_path;    /* NULL: none */
  float lora_scale;
  const char *lora_routing; /* "all" (NULL) or "scale-dit" */
} SdComponentOptions;

gboolean sd_run_component_full (const char *component, const char *model_path, const char *backend,
                                const char *in_path, const char *out_path, const SdComponentOptions *opts,
                                GError **error);
/* The components and the inputs each reads, one a line. */
char *sd_component_names (void);

/* Tokenizes UTF-8 text with the CLIP ("clip") or T5 ("t5") tokenizer of a model as FluxPipeline
 * does: model_path is a diffusers folder (tokenizer/ holding vocab.json and merges.txt,
 * tokenizer_2/ holding tokenizer.json), a folder holding those files directly, or for T5 a
 * tokenizer.json. Returns max_length gint32 ids, padded (0: 77 for CLIP, 512 for T5); *truncated
 * (may be NULL) says whether the text had to be cut to fit. */
GArray *sd_tokenize (const char *which, const char *model_path, const char *text, int max_length,
                     gboolean *truncated, GError **error);

/* The detail pass's token layout and attention plan for an image size (`scaledit layout-stats`).
 * HR tokens: the size rounded up to a multiple of 16, one token per 16 px; LR tokens: the HR
 * token grid divided by global_factor, rounded up (the global pass at the next multiple of 16 of
 * target / f), none when global_factor is 1. */
typedef struct {
  int width, height;          /* image size in pixels */
  int global_factor;          /* f */
  int window;                 /* window side in tokens */
  int n_text;                 /* text tokens */
  SdTokenOrder order;
  int q_block, k_block;       /* attention block sizes */
  int hr_radius, lr_radius, lr_window_span; /* mask rules */
} SdLayoutStatsRequest;

typedef struct {
  int n_tokens, hr_rows, hr_cols, lr_rows, lr_cols;
  gint64 computed_blocks, full_blocks, total_blocks;
  double density;           /* computed / total blocks */
  double allowed_fraction;  /* token pairs the mask allows / n_tokens² */
  double computed_fraction; /* token pairs inside computed blocks / n_tokens² */
  double build_seconds;     /* building the attention plan */
} SdLayoutStats;

gboolean sd_layout_stats (const SdLayoutStatsRequest *req, SdLayoutStats *stats, GError **error);

/* Call first in main(): unless OMP_WAIT_POLICY is set, restarts the program once with it set to
 * "passive", so that the CPU backend's idle threads sleep instead of spinning (libgomp reads the
 * variable only when it is loaded; spinning threads halve the speed of anything else on few
 * cores). Returns only when no restart happened. */
void sd_prefer_passive_threads (char **argv);

G_END_DECLS

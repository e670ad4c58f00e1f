/* engine_internal.h: the engine object behind scaledit.h and the pieces of a generation. */
#pragma once

#include "backend.h"
#include "flux.h"
#include "model_files.h"
#include "sampler.h"
#include "scaledit.h"
#include "vae.h"

/* A prompt as the transformer reads it. */
typedef struct {
  float *t5;      /* [n_t5][joint_attention_dim] */
  int n_t5;
  float *pooled;  /* [pooled_projection_dim] */
  gboolean truncated;
} SdPromptEmbeds;

/* The global pass's result, kept so that a request with the same composition continues from it. */
typedef struct {
  char *key;
  float *latent;  /* [16][gh/8][gw/8], clean */
  float *image;   /* decoded, CHW in [-1, 1] */
  int gw, gh;
} SdGlobalCache;

struct SdEngine {
  SdEngineOptions opts;
  SdModelFiles *files;
  SdBackend *be;
  SdFlux *flux;
  SdVae *vae;
  SdSchedule schedule;
  int t5_max_length;
  struct SdClipModel *clip;
  struct SdT5Model *t5;
  SdGlobalCache cache;
  char *description;
};

gboolean sd_prompt_encode (SdEngine *e, const char *text, SdPromptEmbeds *out, GError **error);
void sd_prompt_embeds_clear (SdPromptEmbeds *p);
void sd_engine_release_encoders (SdEngine *e);

/* vae_internal.h: the VAE's weights, and the pass plan its networks compile to (vae_plan.c) and
 * the tiled executor runs (vae_tiled.c). */
#pragma once

#include "vae.h"

#define SD_VAE_NORM_EPS 1e-6f

typedef struct {
  SdBuf *w, *b;
  int c_in, c_out, k;
} VaeConv;

typedef struct {
  SdBuf *w, *b;
  int c;
} VaeNorm;

typedef struct {
  VaeNorm norm1, norm2;
  VaeConv conv1, conv2, shortcut; /* shortcut.w NULL: identity */
} VaeResnet;

typedef struct {
  VaeNorm norm;
  SdBuf *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b; /* [c][c] linear weights */
  int c;
} VaeAttn;

typedef struct {
  VaeResnet *resnets;
  int n_resnets;
  VaeConv sampler; /* w NULL: none; down: pad (0,1,0,1) stride 2; up: nearest 2x then conv */
} VaeBlock;

typedef struct {
  VaeConv conv_in, conv_out;
  VaeBlock blocks[SD_VAE_MAX_BLOCKS];
  VaeResnet mid[2];
  VaeAttn attn; /* norm.w NULL: no mid-block attention */
  VaeNorm norm_out;
} VaeCoder;

struct SdVae {
  SdBackend *be;
  SdVaeConfig cfg;
  VaeCoder enc, dec;
  VaeConv quant, post_quant; /* w NULL: not used */
};

/* One image slot of the plan: full-resolution CHW, f32 in host memory or, when the tiling allows,
 * resident on the device. */
typedef struct {
  int c, h, w;
  float *data;
  guint16 *half;         /* or in host memory as bf16 (backends with upload_bf16/download_bf16) */
  gsize spilled;         /* bytes of data or half when they are a temporary file's mapping (spill.h)
                          * rather than heap memory; 0: heap */
  SdBuf *dev;            /* or resident on the device: c planes of h * w (tiling.device_slot_bytes) */
  gboolean needs_stats;  /* a later pass normalizes it: its producer gathers group statistics */
  double *mean, *m2;     /* per group, merged over tiles */
  gint64 count;          /* elements merged per group */
  int last_use;          /* index of the last pass reading it (freed after) */
} VaeSlot;

typedef enum {
  VAE_PASS_CONV,
  VAE_PASS_ATTN,
} VaePassKind;

/* out = conv(act(norm(in)) or upsample(in)) [+ shortcut(res)], tile by tile; or, for ATTN,
 * out = in + attention(norm(in)) (out == in). */
typedef struct {
  VaePassKind kind;
  int in, out, res;          /* slot indices; res < 0: none; out == res allowed (in place) */
  const VaeNorm *norm;       /* normalize `in` first (with its whole-image statistics), or NULL */
  gboolean silu;             /* SiLU after the norm */
  gboolean upsample;         /* nearest 2x before the conv */
  const VaeConv *conv;
  int c_out;                 /* output channels computed (<= conv->c_out: leading ones) */
  int stride, pad_top, pad_bottom, pad_left, pad_right;
  const VaeConv *shortcut;   /* 1x1 conv on res, or NULL: identity */
  const VaeAttn *attn;
} VaePass;

typedef struct {
  GArray *slots;  /* VaeSlot */
  GArray *passes; /* VaePass */
  int groups;
  int input, output;
} VaePlan;

VaePlan *sd_vae_plan_decoder (const SdVae *vae, int lh, int lw);
VaePlan *sd_vae_plan_encoder (const SdVae *vae, int h, int w);
void sd_vae_plan_free (VaePlan *plan);

/* What sd_vae_run would take, without running: the peaks of its slots in host memory and in
 * temporary files (none kept on the device), and the largest tile's working bytes on the backend
 * (at most the budget). */
gboolean sd_vae_run_memory (const SdVae *vae, VaePlan *plan, const SdVaeTiling *tiling, gsize *host_peak,
                            gsize *spill_peak, gsize *work_peak, GError **error);
/* Runs the plan; the input slot's data must be set (the plan takes it over). On success the
 * output slot's data is handed to *out. */
gboolean sd_vae_run (const SdVae *vae, VaePlan *plan, const SdVaeTiling *tiling, SdVaeStats *stats,
                     float **out, GError **error);

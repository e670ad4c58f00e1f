/* backend.h: the small op set every compute backend implements; model code is written against it. */
#pragma once

#include <glib.h>

#include "attn_plan.h"

G_BEGIN_DECLS

/* Storage on a backend. Activations are "elements" of the backend's own type (f32 on the CPU,
 * bf16 or f32 on CUDA); hosts only see f32 through upload/download. */
typedef struct SdBuf SdBuf;
typedef struct SdBackend SdBackend;

/* Host dtypes a weight can arrive in (from safetensors). */
typedef enum {
  SD_DTYPE_F32,
  SD_DTYPE_F16,
  SD_DTYPE_BF16,
} SdDType;

/* A 2-D view into a buffer: row r, column c lives at element off + r * ld + c. */
typedef struct {
  SdBuf *buf;
  gsize off;
  int ld;
} SdView;

static inline SdView
sd_view (SdBuf *buf, gsize off, int ld)
{
  SdView v = { buf, off, ld };
  return v;
}

typedef enum {
  SD_ACT_NONE,
  SD_ACT_GELU_TANH, /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))), FLUX and T5 v1.1 */
  SD_ACT_GELU_ERF,  /* exact GELU */
  SD_ACT_QUICK_GELU, /* x*sigmoid(1.702x), CLIP */
  SD_ACT_SILU,
} SdAct;

/* Rows of a sequence that share one modulation vector: rows [start, start+count) use row
 * `group` of the modulation buffers. Scale-DiT runs LR guidance tokens at another timestep. */
typedef struct {
  int start, count, group;
} SdSegment;

typedef struct {
  const SdSegment *seg;
  int n_seg;
} SdSegments;

/* AdaLN modulation: y = norm(x) * (1 + scale[g]) + shift[g]; scale/shift rows of `ld` stride. */
typedef struct {
  SdView shift, scale; /* one row per group; NULL buf means no modulation */
  SdSegments groups;
} SdModulation;

/* Attention over tokens stored row-major: q/k/v/out rows are tokens, columns heads*head_dim. */
typedef struct {
  SdView q, k, v, out;
  int n_q, n_kv, heads, head_dim;
  float scale;               /* usually 1/sqrt(head_dim) */
  const SdAttnPlan *plan;    /* NULL: dense */
  gboolean causal;           /* CLIP */
  SdBuf *bias_by_delta;      /* T5: [heads][n_q + n_kv - 1] bias indexed by (j - i) + n_q - 1 */
  /* NULL, or an alloc_f32 buffer of heads * n_q: element h * n_q + i receives the natural log of
   * the sum of exp(scale * q_i . k_j) over row i's keys in head h (-inf when it has none), so that
   * attention over several sets of keys can be merged (attention_merge). Dense attention only (no
   * plan, causal mask or bias). */
  SdBuf *lse;
} SdAttnArgs;

/* 2-D convolution of one image stored CHW: channel c of x is the h x w row-major plane at element
 * x.off + c * x.ld (x.ld >= h * w), likewise y with planes of h_out x w_out. Zero padding may differ
 * on each side; h_out = (h + pad_top + pad_bottom - kh) / stride + 1 (w_out likewise). */
typedef struct {
  SdView x, y;
  int c_in, h, w, c_out;
  int kh, kw, stride;
  int pad_top, pad_bottom, pad_left, pad_right;
  SdBuf *weight; /* [c_out][c_in][kh][kw] (PyTorch's layout) */
  SdBuf *bias;   /* [c_out], or NULL */
} SdConv2dArgs;

typedef struct {
  const char *name;
  /* Memory. Sizes in elements. */
  SdBuf *(*alloc) (SdBackend *be, gsize n, GError **error);
  /* A buffer of n f32 elements on every backend (alloc may store less precisely): for the ops
   * that say they take one (group-norm statistics) and for upload/download. */
  SdBuf *(*alloc_f32) (SdBackend *be, gsize n, GError **error);
  void (*release) (SdBackend *be, SdBuf *buf);
  gboolean (*upload) (SdBackend *be, SdBuf *dst, gsize off, const float *src, gsize n, GError **error);
  gboolean (*download) (SdBackend *be, SdBuf *src, gsize off, float *dst, gsize n, GError **error);
  /* Transfers of bf16 host data as it is, for backends whose buffers (from alloc) hold bf16:
   * what download_bf16 gives back is what the buffer holds, bit for bit, in half the bytes of
   * download. NULL on backends whose buffers hold f32. */
  gboolean (*upload_bf16) (SdBackend *be, SdBuf *dst, gsize off, const guint16 *src, gsize n,
                           GError **error);
  gboolean (*download_bf16) (SdBackend *be, SdBuf *src, gsize off, guint16 *dst, gsize n,
                             GError **error);
  /* A weight from host data of any dtype; the backend stores it its own way. */
  SdBuf *(*weight) (SdBackend *be, const void *data, SdDType dtype, gsize n, GError **error);
  /* Waits for queued work; reports a failure that an op could only record. */
  gboolean (*sync) (SdBackend *be, GError **error);
  /* Frees the backend itself (NULL: g_free). */
  void (*destroy) (SdBackend *be);
  /* Sets how many CPU threads host-side work may use (NULL: ignored). */
  void (*set_threads) (SdBackend *be, int threads);

  /* y[M,N] = act(x[M,K] * w[N,K]^T + bias[N]); bias may be NULL. */
  void (*linear) (SdBackend *be, SdView x, int M, int K, SdBuf *w, SdBuf *bias, SdView y, int N,
                  SdAct act);
  /* y = layernorm(x) over `dim` columns, optional affine weight/bias, optional modulation. */
  void (*layer_norm) (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps,
                      SdBuf *weight, SdBuf *bias, const SdModulation *mod);
  /* y = x / rms(x) * weight over `dim` columns (weight may be NULL). */
  void (*rms_norm) (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight);
  /* In place, per head of `head_dim`: RMSNorm with weight (NULL: none) then rotary embedding with
   * per-row tables cos/sin [rows][head_dim/2] (NULL: none), pairs (2i, 2i+1) rotated. */
  void (*head_norm_rope) (SdBackend *be, SdView x, int rows, int heads, int head_dim, float eps,
                          SdBuf *weight, SdBuf *cos, SdBuf *sin);
  void (*attention) (SdBackend *be, const SdAttnArgs *args);
  /* Merges attention over a further set of keys into a running result (online softmax across
   * calls): per row r, with L = log(exp(acc_lse[r]) + exp(part_lse[r])),
   * acc[r, :] = exp(acc_lse[r] - L) acc[r, :] + exp(part_lse[r] - L) part[r, :] and acc_lse[r] = L
   * (a row both sides of which are -inf stays as it is). The lse views are in alloc_f32 buffers;
   * acc may be one too (a running sum kept in f32). */
  void (*attention_merge) (SdBackend *be, SdView acc, SdView acc_lse, SdView part, SdView part_lse,
                           int rows, int cols);
  /* x[r,c] += gate[g(r), c] * y[r,c]; gate buf NULL means plain add. */
  void (*add_gated) (SdBackend *be, SdView x, SdView y, int rows, int cols, SdView gate,
                     const SdSegments *groups);
  /* y = act(x) elementwise over rows x cols. */
  void (*activate) (SdBackend *be, SdView x, SdView y, int rows, int cols, SdAct act);
  /* y = x * y elementwise over rows x cols. */
  void (*mul) (SdBackend *be, SdView x, SdView y, int rows, int cols);
  /* y = a * x + b * y over rows x cols (x and y may be alloc_f32 buffers). */
  void (*axpby) (SdBackend *be, float a, SdView x, float b, SdView y, int rows, int cols);
  /* dst row i = src row idx[i] (cols columns); idx is a host array of n rows. */
  void (*gather_rows) (SdBackend *be, SdView src, SdView dst, const int *idx, int n, int cols);
  /* Copies a rows x cols block (converting where one side is an alloc_f32 buffer). */
  void (*copy) (SdBackend *be, SdView src, SdView dst, int rows, int cols);

  /* VAE ops. An image is CHW: `channels` planes of `hw` (or h x w) elements, plane c at
   * element off + c * ld. */
  /* y = conv2d(x) + bias (see SdConv2dArgs); y must not overlap x. Internal scratch, if any, is
   * bounded by a constant independent of the image size and counted in peak_bytes while used. */
  void (*conv2d) (SdBackend *be, const SdConv2dArgs *args);
  /* Group statistics of x (channels planes of hw elements, `groups` groups of channels/groups
   * consecutive channels): stats[2g] = mean of group g, stats[2g+1] = sum of squared deviations
   * from that mean (not divided by the count), both over the group's (channels/groups) * hw
   * elements, computed in double and stored at stats.off of an alloc_f32 buffer. Callers merge the (mean, M2)
   * pairs of several tiles (Chan's formula) to get whole-image statistics. */
  void (*group_norm_stats) (SdBackend *be, SdView x, int channels, int hw, int groups, SdView stats);
  /* y = act((x - mean[g]) * rstd[g] * weight[c] + bias[c]) with g = c / (channels / groups);
   * mean_rstd (an alloc_f32 buffer) holds mean[g] at 2g and rstd[g] at 2g+1. weight/bias may be NULL (1 and 0);
   * act is SD_ACT_NONE or SD_ACT_SILU. In place (x == y) is allowed. */
  void (*group_norm_apply) (SdBackend *be, SdView x, SdView y, int channels, int hw, int groups,
                            SdBuf *mean_rstd, SdBuf *weight, SdBuf *bias, SdAct act);
  /* Nearest 2x upsampling with a crop: y(c, i, j) = x(c, (i + oy) / 2, (j + ox) / 2) for i < h_out,
   * j < w_out; x planes are h x w, oy, ox in {0, 1}; needs (h_out - 1 + oy) / 2 < h (w likewise). */
  void (*upsample_nearest2x) (SdBackend *be, SdView x, int channels, int h, int w, SdView y,
                              int h_out, int w_out, int oy, int ox);
  /* dst[c][r] = src[r][c] for a rows x cols src; row strides src.ld and dst.ld (>= rows).
   * CHW <-> (HW) x C for attention over pixels. dst must not overlap src. */
  void (*transpose) (SdBackend *be, SdView src, SdView dst, int rows, int cols);
} SdBackendOps;

struct SdBackend {
  const SdBackendOps *ops;
  gsize bytes_in_use, peak_bytes;
  gsize device_memory; /* memory of a separate device (GPU) in bytes; 0: host memory (CPU) */
};

/* Opening backends: "auto" (cuda when a GPU works, else cpu), "cpu", "cuda". */
SdBackend *sd_backend_open (const char *name, GError **error);
void sd_backend_close (SdBackend *be);
SdBackend *sd_backend_cpu_new (void);
/* The paths a program at exe_path (absolute, or NULL when unknown) tries for the CUDA module, in
 * order (backend.c says which and why). */
GPtrArray *sd_cuda_module_candidates (const char *exe_path);

/* Convenience for model code. */
SdBuf *sd_buf_from_host (SdBackend *be, const float *src, gsize n, GError **error);
float *sd_buf_to_host (SdBackend *be, SdBuf *buf, gsize off, gsize n, GError **error);
/* Releases buf; NULL is allowed (nothing to do). */
void sd_buf_release (SdBackend *be, SdBuf *buf);

G_END_DECLS

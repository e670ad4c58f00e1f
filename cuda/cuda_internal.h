/* cuda_internal.h: the CUDA backend's buffer and backend types, error recording and the op
 * functions its vtable points to (bf16 storage, f32 arithmetic). */
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "../engine/backend.h"
#include "../engine/scaledit.h"

typedef __nv_bfloat16 bf16;

/* A buffer holds n bf16 elements, or n f32 elements when f32 is set (alloc_f32: group-norm
 * statistics); ptr is then the float array's address. */
struct SdBuf {
  bf16 *ptr;
  gsize n;
  gboolean f32;
};

typedef struct CuPlanCache CuPlanCache;

typedef struct {
  SdBackend base;
  int device;
  int sm_count;
  cudaStream_t stream;
  cublasLtHandle_t lt;
  void *workspace;
  size_t workspace_size;
  GError *pending;  /* the first failure an op recorded; sync() reports it */
  CuPlanCache *plans;
  gsize memory_limit; /* SCALEDIT_CUDA_MEMORY_LIMIT: buffers + scratch above it fail (0: none) */
} CuBackend;

/* The engine's error domain (the same quark as sd_error_quark, which the module cannot link). */
#define CU_ERROR (g_quark_from_static_string ("scaledit-error-quark"))

static inline CuBackend *
cu_backend (SdBackend *be)
{
  return (CuBackend *) be;
}

static inline bf16 *
cu_ptr (SdView v)
{
  return v.buf->ptr + v.off;
}

/* The address of an f32 view (alloc_f32 buffers). */
static inline float *
cu_ptr_f32 (SdView v)
{
  return (float *) v.buf->ptr + v.off;
}

G_BEGIN_DECLS

/* Records the first failure for sync() to report; later ones are dropped. */
void cu_record (CuBackend *cb, int code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
/* Records a CUDA error (if any) with what was being done; returns TRUE when there was none. */
gboolean cu_check (CuBackend *cb, cudaError_t err, const char *what);
/* Stream-ordered temporary device memory; records out-of-memory and returns NULL. */
void *cu_temp_alloc (CuBackend *cb, size_t bytes, const char *what);
void cu_temp_free (CuBackend *cb, void *ptr);
/* Scratch that ops hold while they run (counted in bytes_in_use / peak_bytes and against the
 * memory limit); cu_scratch_free takes the size it was given. */
void *cu_scratch_alloc (CuBackend *cb, size_t bytes, const char *what);
void cu_scratch_free (CuBackend *cb, void *ptr, size_t bytes);

/* bf16 <-> f32 / f16 conversion on the device (n elements). */
void cu_convert_to_bf16 (CuBackend *cb, const void *src, SdDType dtype, bf16 *dst, gsize n);
void cu_convert_to_f32 (CuBackend *cb, const bf16 *src, float *dst, gsize n);

void cu_linear (SdBackend *be, SdView x, int M, int K, SdBuf *w, SdBuf *bias, SdView y, int N, SdAct act);
void cu_layer_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight,
                    SdBuf *bias, const SdModulation *mod);
void cu_rms_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight);
void cu_head_norm_rope (SdBackend *be, SdView x, int rows, int heads, int head_dim, float eps,
                        SdBuf *weight, SdBuf *cos, SdBuf *sin);
void cu_attention (SdBackend *be, const SdAttnArgs *args);
void cu_attention_merge (SdBackend *be, SdView acc, SdView acc_lse, SdView part, SdView part_lse, int rows,
                         int cols);
void cu_add_gated (SdBackend *be, SdView x, SdView y, int rows, int cols, SdView gate,
                   const SdSegments *groups);
void cu_activate (SdBackend *be, SdView x, SdView y, int rows, int cols, SdAct act);
void cu_mul (SdBackend *be, SdView x, SdView y, int rows, int cols);
void cu_axpby (SdBackend *be, float a, SdView x, float b, SdView y, int rows, int cols);
void cu_gather_rows (SdBackend *be, SdView src, SdView dst, const int *idx, int n, int cols);
void cu_copy (SdBackend *be, SdView src, SdView dst, int rows, int cols);
/* Attention for head dims the fused kernel does not take (small test models): one warp per query
 * and head, online softmax in f32, dense, causal, T5 bias or over a plan. */
void cu_attention_generic (SdBackend *be, const SdAttnArgs *args);
/* Picks the fused kernel or the generic path (the op table's attention). */
void cu_attention_any (SdBackend *be, const SdAttnArgs *args);
void cu_conv2d (SdBackend *be, const SdConv2dArgs *args);
void cu_group_norm_stats (SdBackend *be, SdView x, int channels, int hw, int groups, SdView stats);
void cu_group_norm_apply (SdBackend *be, SdView x, SdView y, int channels, int hw, int groups,
                          SdBuf *mean_rstd, SdBuf *weight, SdBuf *bias, SdAct act);
void cu_upsample_nearest2x (SdBackend *be, SdView x, int channels, int h, int w, SdView y, int h_out,
                            int w_out, int oy, int ox);
void cu_transpose (SdBackend *be, SdView src, SdView dst, int rows, int cols);

/* The device copy of an attention plan (uploaded once, kept while its arrays stay the same). */
typedef struct {
  const int *row_start, *kblock;
  const unsigned char *partial;
  const SdTokenPos *tokens;
  /* [nnz * k_block/64][q_block]: bit c of row r allows key c of that 64-key tile (partial only) */
  const unsigned long long *mask;
  const int *order;  /* CTA order: (q tile, head) packed as q_tile * heads + head */
  int n_order;
} CuPlanDevice;

const CuPlanDevice *cu_plan_get (CuBackend *cb, const SdAttnPlan *plan, int heads, int q_tile);
void cu_plan_cache_free (CuBackend *cb);

/* Modulation segments by value for kernels (at most CU_MAX_SEGMENTS). */
#define CU_MAX_SEGMENTS 16
typedef struct {
  int n;
  int start[CU_MAX_SEGMENTS], count[CU_MAX_SEGMENTS], group[CU_MAX_SEGMENTS];
} CuSegments;

gboolean cu_segments (CuBackend *cb, const SdSegments *s, CuSegments *out);

G_END_DECLS

#ifdef __CUDACC__
/* The group of row r, or -1 (sd_segments_group on the device); n == -1 means "no segments": 0. */
static __device__ __forceinline__ int
cu_segment_group (const CuSegments &s, int r)
{
  if (s.n < 0)
    return 0;
  for (int i = 0; i < s.n; i++)
    if (r >= s.start[i] && r < s.start[i] + s.count[i])
      return s.group[i];
  return -1;
}

static __device__ __forceinline__ float
cu_act (float x, SdAct act)
{
  switch (act)
    {
    case SD_ACT_GELU_TANH:
      return 0.5f * x * (1.0f + tanhf (0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case SD_ACT_GELU_ERF:
      return 0.5f * x * (1.0f + erff (x * 0.7071067811865476f));
    case SD_ACT_QUICK_GELU:
      return x / (1.0f + expf (-1.702f * x));
    case SD_ACT_SILU:
      return x / (1.0f + expf (-x));
    default:
      return x;
    }
}
#endif

/* cpu_internal.h: the CPU backend's buffer type and the op functions its vtable points to. */
#pragma once

#include "../backend.h"

struct SdBuf {
  float *data;
  gsize n;
};

static inline float *
cpu_ptr (SdView v)
{
  return v.buf->data + v.off;
}

float cpu_act (float x, SdAct act);
/* Row-major C = alpha op(A) op(B) + beta C split across the OpenMP threads (cpu_gemm.c). */
void cpu_sgemm (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

void cpu_linear (SdBackend *be, SdView x, int M, int K, SdBuf *w, SdBuf *bias, SdView y, int N, SdAct act);
void cpu_layer_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight,
                     SdBuf *bias, const SdModulation *mod);
void cpu_rms_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight);
void cpu_head_norm_rope (SdBackend *be, SdView x, int rows, int heads, int head_dim, float eps,
                         SdBuf *weight, SdBuf *cos, SdBuf *sin);
void cpu_attention (SdBackend *be, const SdAttnArgs *args);
/* Dense attention without plan, causal mask or bias, through sgemm (called by cpu_attention). */
void cpu_attention_gemm (SdBackend *be, const SdAttnArgs *args);
void cpu_attention_merge (SdBackend *be, SdView acc, SdView acc_lse, SdView part, SdView part_lse, int rows,
                          int cols);
void cpu_add_gated (SdBackend *be, SdView x, SdView y, int rows, int cols, SdView gate,
                    const SdSegments *groups);
void cpu_activate (SdBackend *be, SdView x, SdView y, int rows, int cols, SdAct act);
void cpu_mul (SdBackend *be, SdView x, SdView y, int rows, int cols);
void cpu_axpby (SdBackend *be, float a, SdView x, float b, SdView y, int rows, int cols);
void cpu_gather_rows (SdBackend *be, SdView src, SdView dst, const int *idx, int n, int cols);
void cpu_copy (SdBackend *be, SdView src, SdView dst, int rows, int cols);
void cpu_conv2d (SdBackend *be, const SdConv2dArgs *args);
void cpu_group_norm_stats (SdBackend *be, SdView x, int channels, int hw, int groups, SdView stats);
void cpu_group_norm_apply (SdBackend *be, SdView x, SdView y, int channels, int hw, int groups,
                           SdBuf *mean_rstd, SdBuf *weight, SdBuf *bias, SdAct act);
void cpu_upsample_nearest2x (SdBackend *be, SdView x, int channels, int h, int w, SdView y, int h_out,
                             int w_out, int oy, int ox);
void cpu_transpose (SdBackend *be, SdView src, SdView dst, int rows, int cols);

/* The group (modulation row) of row r, or -1 when no segment covers it. */
int sd_segments_group (const SdSegments *s, int r);

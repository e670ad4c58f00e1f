/* cuda_linear.cu: the CUDA backend's GEMM, y = act(x w^T + bias), through cuBLASLt in bf16 with f32
 * accumulation; bias and tanh-GELU fuse into its epilogue, other activations run after it. */
#include <stdint.h>

#include "cuda_internal.h"

/* Largest power of two (up to 256) dividing both a pointer and a row pitch in bytes. */
static uint32_t
alignment (const void *p, long ld_elems)
{
  uintptr_t v = (uintptr_t) p | (uintptr_t) (ld_elems * sizeof (bf16)) | 256;
  return (uint32_t) (v & (~v + 1));
}

#define LT_CHECK(call, what)                                                                       \
  do                                                                                                \
    {                                                                                               \
      cublasStatus_t st_ = (call);                                                                  \
      if (st_ != CUBLAS_STATUS_SUCCESS)                                                             \
        {                                                                                           \
          cu_record (cb, SD_ERROR_BACKEND, "cuBLASLt %s failed (status %d) for linear %dx%dx%d", what, \
                     (int) st_, M, N, K);                                                           \
          goto out;                                                                                 \
        }                                                                                           \
    }                                                                                               \
  while (0)

void
cu_linear (SdBackend *be, SdView x, int M, int K, SdBuf *w, SdBuf *bias, SdView y, int N, SdAct act)
{
  CuBackend *cb = cu_backend (be);
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  cublasLtMatmulHeuristicResult_t heur;
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epi;
  gboolean fuse_gelu = act == SD_ACT_GELU_TANH;
  const bf16 *xp = cu_ptr (x);
  bf16 *yp = cu_ptr (y);
  const void *bias_ptr = bias ? bias->ptr : NULL;
  cudaDataType_t bias_type = CUDA_R_16BF;
  uint32_t al_a = alignment (w->ptr, K), al_b = alignment (xp, x.ld), al_c = alignment (yp, y.ld);
  uint64_t ws = cb->workspace_size;
  int found = 0;
  float alpha = 1.0f, beta = 0.0f;

  if (M <= 0 || N <= 0)
    return;
  if (w->n < (gsize) N * K)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "linear: weight of %zu elements is smaller than %d x %d",
                 (size_t) w->n, N, K);
      return;
    }
  /* Column-major view: y^T[N,M] = w[N,K] (stored as K x N, transposed) * x^T[K,M]. */
  epi = bias ? (fuse_gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
             : (fuse_gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
  LT_CHECK (cublasLtMatmulDescCreate (&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
  LT_CHECK (cublasLtMatmulDescSetAttribute (op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
  LT_CHECK (cublasLtMatmulDescSetAttribute (op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
  LT_CHECK (cublasLtMatmulDescSetAttribute (op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
  if (bias)
    {
      LT_CHECK (cublasLtMatmulDescSetAttribute (op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr,
                                                sizeof bias_ptr), "bias");
      LT_CHECK (cublasLtMatmulDescSetAttribute (op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                sizeof bias_type), "bias type");
    }
  LT_CHECK (cublasLtMatrixLayoutCreate (&la, CUDA_R_16BF, K, N, K), "layout A");
  LT_CHECK (cublasLtMatrixLayoutCreate (&lb, CUDA_R_16BF, K, M, x.ld), "layout B");
  LT_CHECK (cublasLtMatrixLayoutCreate (&lc, CUDA_R_16BF, N, M, y.ld), "layout C");
  LT_CHECK (cublasLtMatmulPreferenceCreate (&pref), "preference");
  LT_CHECK (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                  sizeof ws), "workspace");
  LT_CHECK (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                                  sizeof al_a), "alignment");
  LT_CHECK (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                                  sizeof al_b), "alignment");
  LT_CHECK (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                                                  sizeof al_c), "alignment");
  LT_CHECK (cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                                                  sizeof al_c), "alignment");
  LT_CHECK (cublasLtMatmulAlgoGetHeuristic (cb->lt, op, la, lb, lc, lc, pref, 1, &heur, &found), "heuristic");
  if (found == 0)
    {
      cu_record (cb, SD_ERROR_BACKEND, "cuBLASLt has no algorithm for linear %dx%dx%d", M, N, K);
      goto out;
    }
  LT_CHECK (cublasLtMatmul (cb->lt, op, &alpha, w->ptr, la, xp, lb, &beta, yp, lc, yp, lc, &heur.algo,
                            cb->workspace, cb->workspace_size, cb->stream), "matmul");
  if (act != SD_ACT_NONE && !fuse_gelu)
    cu_activate (be, y, y, M, N, act);

out:
  if (pref)
    cublasLtMatmulPreferenceDestroy (pref);
  if (lc)
    cublasLtMatrixLayoutDestroy (lc);
  if (lb)
    cublasLtMatrixLayoutDestroy (lb);
  if (la)
    cublasLtMatrixLayoutDestroy (la);
  if (op)
    cublasLtMatmulDescDestroy (op);
}

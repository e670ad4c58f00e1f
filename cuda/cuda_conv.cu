/* cuda_conv.cu: the CUDA backend's 2-D convolution: im2col into bounded bf16 scratch, then a
 * cuBLASLt GEMM (bf16, f32 accumulation) against the weights as stored ([c_out][c_in kh kw]);
 * a 1x1 unpadded convolution is one GEMM over the planes as they lie. */
#include <stdint.h>
#include <string.h>

#include "cuda_vec.cuh"

/* Bytes of im2col scratch per chunk: the bound engine/vae_tiled.c plans tiles with. */
#define COL_SCRATCH_BYTES (32u << 20)
/* GEMM shapes whose cuBLASLt algorithm is remembered (tiles repeat a few shapes many times). */
#define ALGO_CACHE 32
#define THREADS 256

/* col[k][i] (row pitch `pitch`) for output pixels p0 .. p0 + n - 1, k = (ci * kh + ky) * kw + kx. */
static __global__ void
im2col_kernel (const bf16 *x, long ldx, int h, int w, int kh, int kw, int stride, int pad_top,
               int pad_left, int w_out, long p0, int n, int K, bf16 *col, int pitch)
{
  const bf16 zero = __float2bfloat16_rn (0.0f);
  for (long e = blockIdx.x * (long) blockDim.x + threadIdx.x; e < (long) K * n;
       e += (long) gridDim.x * blockDim.x)
    {
      const int k = (int) (e / n), i = (int) (e % n);
      const int kx = k % kw, ky = (k / kw) % kh, ci = k / (kw * kh);
      const long p = p0 + i;
      const int oi = (int) (p / w_out), oj = (int) (p % w_out);
      const int yy = oi * stride - pad_top + ky, xx = oj * stride - pad_left + kx;
      col[(long) k * pitch + i] = (yy >= 0 && yy < h && xx >= 0 && xx < w) ? x[ci * ldx + (long) yy * w + xx] : zero;
    }
}

/* y[co][p] = bias[co] for p < n_px (rows of pitch ldy). */
static __global__ void
fill_bias_kernel (bf16 *y, long ldy, int c_out, long n_px, const bf16 *bias)
{
  for (long e = blockIdx.x * (long) blockDim.x + threadIdx.x; e < (long) c_out * n_px;
       e += (long) gridDim.x * blockDim.x)
    {
      const int co = (int) (e / n_px);
      y[co * ldy + e % n_px] = bias[co];
    }
}

/* Largest power of two (up to 256) dividing a pointer and a pitch in bytes. */
static uint32_t
alignment (const void *p, long ld_elems)
{
  uintptr_t v = (uintptr_t) p | (uintptr_t) (ld_elems * sizeof (bf16)) | 256;
  return (uint32_t) (v & (~v + 1));
}

typedef struct {
  const CuBackend *cb;
  int m, n, k;
  long lda, ldb, ldd;
  uint32_t al_a, al_b, al_d;
} AlgoKey;

static struct {
  GMutex lock;
  AlgoKey key[ALGO_CACHE];
  cublasLtMatmulAlgo_t algo[ALGO_CACHE];
  int n, next;
} algos;

static gboolean
algo_lookup (const AlgoKey *k, cublasLtMatmulAlgo_t *algo)
{
  gboolean found = FALSE;
  g_mutex_lock (&algos.lock);
  for (int i = 0; i < algos.n && !found; i++)
    if (memcmp (&algos.key[i], k, sizeof *k) == 0)
      {
        *algo = algos.algo[i];
        found = TRUE;
      }
  g_mutex_unlock (&algos.lock);
  return found;
}

static void
algo_store (const AlgoKey *k, const cublasLtMatmulAlgo_t *algo)
{
  g_mutex_lock (&algos.lock);
  algos.key[algos.next] = *k;
  algos.algo[algos.next] = *algo;
  algos.next = (algos.next + 1) % ALGO_CACHE;
  algos.n = MAX (algos.n, algos.next == 0 ? ALGO_CACHE : algos.next);
  g_mutex_unlock (&algos.lock);
}

/* Column-major D[m,n] (pitch ldd) = A[m,k] (pitch lda) * B[k,n] (pitch ldb) + beta * D. */
static gboolean
gemm (CuBackend *cb, int m, int n, int k, const bf16 *a, long lda, const bf16 *b, long ldb, float beta,
      bf16 *d, long ldd)
{
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  cublasLtMatmulHeuristicResult_t heur;
  uint32_t al_a = alignment (a, lda), al_b = alignment (b, ldb), al_d = alignment (d, ldd);
  uint64_t ws = cb->workspace_size;
  float alpha = 1.0f;
  int found = 0;
  gboolean ok = FALSE;
  AlgoKey key;

  memset (&key, 0, sizeof key); /* padding too: keys are compared bytewise */
  key.cb = cb;
  key.m = m;
  key.n = n;
  key.k = k;
  key.lda = lda;
  key.ldb = ldb;
  key.ldd = ldd;
  key.al_a = al_a;
  key.al_b = al_b;
  key.al_d = al_d;

  if (cublasLtMatmulDescCreate (&op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS
      || cublasLtMatrixLayoutCreate (&la, CUDA_R_16BF, m, k, lda) != CUBLAS_STATUS_SUCCESS
      || cublasLtMatrixLayoutCreate (&lb, CUDA_R_16BF, k, n, ldb) != CUBLAS_STATUS_SUCCESS
      || cublasLtMatrixLayoutCreate (&ld, CUDA_R_16BF, m, n, ldd) != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceCreate (&pref) != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)
             != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a)
             != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b)
             != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d)
             != CUBLAS_STATUS_SUCCESS
      || cublasLtMatmulPreferenceSetAttribute (pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d)
             != CUBLAS_STATUS_SUCCESS)
    {
      cu_record (cb, SD_ERROR_BACKEND, "conv2d: cannot describe the %dx%dx%d GEMM to cuBLASLt", m, n, k);
      goto out;
    }
  if (!algo_lookup (&key, &heur.algo))
    {
      if (cublasLtMatmulAlgoGetHeuristic (cb->lt, op, la, lb, ld, ld, pref, 1, &heur, &found) != CUBLAS_STATUS_SUCCESS
          || found == 0)
        {
          cu_record (cb, SD_ERROR_BACKEND, "conv2d: cuBLASLt has no algorithm for the %dx%dx%d GEMM", m, n, k);
          goto out;
        }
      algo_store (&key, &heur.algo);
    }
  if (cublasLtMatmul (cb->lt, op, &alpha, a, la, b, lb, &beta, d, ld, d, ld, &heur.algo, cb->workspace,
                      cb->workspace_size, cb->stream) != CUBLAS_STATUS_SUCCESS)
    {
      cu_record (cb, SD_ERROR_BACKEND, "conv2d: cuBLASLt matmul %dx%dx%d failed", m, n, k);
      goto out;
    }
  ok = TRUE;
out:
  if (pref)
    cublasLtMatmulPreferenceDestroy (pref);
  if (ld)
    cublasLtMatrixLayoutDestroy (ld);
  if (lb)
    cublasLtMatrixLayoutDestroy (lb);
  if (la)
    cublasLtMatrixLayoutDestroy (la);
  if (op)
    cublasLtMatmulDescDestroy (op);
  return ok;
}

void
cu_conv2d (SdBackend *be, const SdConv2dArgs *a)
{
  CuBackend *cb = cu_backend (be);
  const int h_out = (a->h + a->pad_top + a->pad_bottom - a->kh) / a->stride + 1;
  const int w_out = (a->w + a->pad_left + a->pad_right - a->kw) / a->stride + 1;
  const long n_out = (long) h_out * w_out;
  const int K = a->c_in * a->kh * a->kw;
  const float beta = a->bias ? 1.0f : 0.0f;
  bf16 *y = cu_ptr (a->y), *col;
  long chunk, p0;
  size_t scratch;

  if (h_out <= 0 || w_out <= 0 || a->c_out <= 0)
    return;
  if (a->weight->n < (gsize) a->c_out * K || (a->bias && a->bias->n < (gsize) a->c_out))
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "conv2d: weight of %zu elements is smaller than %d x %d", (size_t) a->weight->n,
                 a->c_out, K);
      return;
    }
  if (a->bias)
    {
      fill_bias_kernel<<<cu_grid ((gsize) a->c_out * n_out, THREADS), THREADS, 0, cb->stream>>> (
          y, a->y.ld, a->c_out, n_out, a->bias->ptr);
      if (!cu_check (cb, cudaGetLastError (), "conv2d bias"))
        return;
    }
  /* Column-major: y^T[n_px, c_out] (pitch y.ld) = x^T or col^T [n_px, K] * w^T [K, c_out]. */
  if (a->kh == 1 && a->kw == 1 && a->stride == 1 && !a->pad_top && !a->pad_bottom && !a->pad_left
      && !a->pad_right)
    {
      gemm (cb, (int) n_out, a->c_out, a->c_in, cu_ptr (a->x), a->x.ld, a->weight->ptr, K, beta, y, a->y.ld);
      return;
    }
  /* chunks of a multiple of 8 pixels keep every GEMM operand 16-byte aligned */
  chunk = MAX (64L, (long) (COL_SCRATCH_BYTES / sizeof (bf16)) / K / 8 * 8);
  chunk = MIN (chunk, (n_out + 7) / 8 * 8);
  scratch = (size_t) chunk * K * sizeof (bf16);
  col = (bf16 *) cu_scratch_alloc (cb, scratch, "conv2d im2col scratch");
  if (!col)
    return;
  for (p0 = 0; p0 < n_out; p0 += chunk)
    {
      const int n = (int) MIN (chunk, n_out - p0), pitch = (n + 7) / 8 * 8;
      im2col_kernel<<<cu_grid ((gsize) K * n, THREADS), THREADS, 0, cb->stream>>> (
          cu_ptr (a->x), a->x.ld, a->h, a->w, a->kh, a->kw, a->stride, a->pad_top, a->pad_left, w_out, p0, n, K,
          col, pitch);
      if (!cu_check (cb, cudaGetLastError (), "conv2d im2col")
          || !gemm (cb, n, a->c_out, K, col, pitch, a->weight->ptr, K, beta, y + p0, a->y.ld))
        break;
    }
  cu_scratch_free (cb, col, scratch);
}

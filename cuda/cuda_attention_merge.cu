/* cuda_attention_merge.cu: the online-softmax merge of attention results computed over separate
 * sets of keys (attention_merge in backend.h): one CTA per row; the running result may be kept in
 * an f32 buffer, the part is the attention op's output (bf16) or f32. */
#include <math.h>

#include "cuda_vec.cuh"

#define THREADS 128

template <typename TA, typename TP>
static __global__ void __launch_bounds__ (THREADS)
merge_kernel (TA *acc, long lda, float *acc_lse, const TP *part, long ldp, const float *part_lse, int cols)
{
  const long r = blockIdx.x;
  const float la = acc_lse[r], lp = part_lse[r], m = fmaxf (la, lp);
  if (m == -INFINITY)
    return; /* neither side saw a key */
  float wa = expf (la - m), wp = expf (lp - m);
  const float sum = wa + wp;
  wa /= sum;
  wp /= sum;
  for (int c = threadIdx.x; c < cols; c += THREADS)
    store1 (acc + r * lda + c, wa * load1 (acc + r * lda + c) + wp * load1 (part + r * ldp + c));
  __syncthreads (); /* every thread has read acc_lse[r] */
  if (threadIdx.x == 0)
    acc_lse[r] = m + logf (sum);
}

template <typename TA>
static void
launch (CuBackend *cb, TA *acc, SdView a, float *la, SdView part, const float *lp, int rows, int cols)
{
  if (part.buf->f32)
    merge_kernel<<<rows, THREADS, 0, cb->stream>>> (acc, a.ld, la, cu_ptr_f32 (part), part.ld, lp, cols);
  else
    merge_kernel<<<rows, THREADS, 0, cb->stream>>> (acc, a.ld, la, cu_ptr (part), part.ld, lp, cols);
}

void
cu_attention_merge (SdBackend *be, SdView acc, SdView acc_lse, SdView part, SdView part_lse, int rows, int cols)
{
  CuBackend *cb = cu_backend (be);
  if (rows <= 0 || cols <= 0)
    return;
  if (!acc_lse.buf->f32 || !part_lse.buf->f32)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "attention merge: the log-sum-exps must be in f32 buffers");
      return;
    }
  if (acc.buf->f32)
    launch (cb, cu_ptr_f32 (acc), acc, cu_ptr_f32 (acc_lse), part, cu_ptr_f32 (part_lse), rows, cols);
  else
    launch (cb, cu_ptr (acc), acc, cu_ptr_f32 (acc_lse), part, cu_ptr_f32 (part_lse), rows, cols);
  cu_check (cb, cudaGetLastError (), "attention merge");
}

/* cpu_linear.c: the CPU backend's GEMM with bias and activation epilogue. */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

float
cpu_act (float x, SdAct act)
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

void
cpu_linear (SdBackend *be, SdView x, int M, int K, SdBuf *w, SdBuf *bias, SdView y, int N, SdAct act)
{
  float *yp = cpu_ptr (y);
  int r, c;

  if (M <= 0 || N <= 0)
    return;
  if (bias)
    for (r = 0; r < M; r++)
      memcpy (yp + (gsize) r * y.ld, bias->data, N * sizeof (float));
  cpu_sgemm (FALSE, TRUE, M, N, K, 1.0f, cpu_ptr (x), x.ld, w->data, K, bias ? 1.0f : 0.0f, yp, y.ld);
  if (act != SD_ACT_NONE)
    {
#pragma omp parallel for private(c) schedule(static)
      for (r = 0; r < M; r++)
        for (c = 0; c < N; c++)
          yp[(gsize) r * y.ld + c] = cpu_act (yp[(gsize) r * y.ld + c], act);
    }
}

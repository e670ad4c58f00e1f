/* cpu_conv.c: the CPU backend's 2-D convolution: im2col in bounded chunks of output pixels, then
 * sgemm against the weights as they are stored ([c_out][c_in * kh * kw]); the chunks are spread
 * over the OpenMP threads, each with its own scratch. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

/* Floats of im2col scratch per chunk (8 MiB): bounds each thread's working memory for any image;
 * all threads together stay within 4 chunks (32 MiB, the bound the tiled VAE decode plans with). */
#define COL_CHUNK_FLOATS (2u << 20)
/* Chunks per image at least (when 64 pixels each allow it), so that small tiles still spread over
 * the threads. */
#define MIN_CHUNKS 8u

static void
fill_bias (const SdConv2dArgs *a, gsize p0, gsize n)
{
  int co;
  for (co = 0; co < a->c_out; co++)
    {
      float *yr = cpu_ptr (a->y) + (gsize) co * a->y.ld + p0;
      float b = a->bias->data[co];
      gsize i;
      for (i = 0; i < n; i++)
        yr[i] = b;
    }
}

/* col[k][i] for output pixels p0 .. p0 + n - 1, k = (ci * kh + ky) * kw + kx. */
static void
im2col (const SdConv2dArgs *a, int w_out, gsize p0, gsize n, float *col)
{
  const int K = a->c_in * a->kh * a->kw;
  int k;

  for (k = 0; k < K; k++)
    {
      const int kx = k % a->kw, ky = (k / a->kw) % a->kh, ci = k / (a->kw * a->kh);
      const float *plane = cpu_ptr (a->x) + (gsize) ci * a->x.ld;
      float *dst = col + (gsize) k * n;
      gsize i = 0;
      while (i < n)
        {
          gsize p = p0 + i;
          int oi = (int) (p / w_out), oj = (int) (p % w_out);
          int run = MIN ((gsize) (w_out - oj), n - i);
          int yy = oi * a->stride - a->pad_top + ky;
          int j;
          if (yy < 0 || yy >= a->h)
            memset (dst + i, 0, run * sizeof (float));
          else
            {
              const float *row = plane + (gsize) yy * a->w;
              for (j = 0; j < run; j++)
                {
                  int xx = (oj + j) * a->stride - a->pad_left + kx;
                  dst[i + j] = (xx >= 0 && xx < a->w) ? row[xx] : 0.0f;
                }
            }
          i += run;
        }
    }
}

void
cpu_conv2d (SdBackend *be, const SdConv2dArgs *a)
{
  const int h_out = (a->h + a->pad_top + a->pad_bottom - a->kh) / a->stride + 1;
  const int w_out = (a->w + a->pad_left + a->pad_right - a->kw) / a->stride + 1;
  const gsize n_out = (gsize) h_out * w_out;
  const int K = a->c_in * a->kh * a->kw;
  const int threads = omp_get_max_threads ();
  const float beta = a->bias ? 1.0f : 0.0f;
  gsize chunk, scratch;
  gint64 c, n_chunks;
  int workers;

  if (h_out <= 0 || w_out <= 0)
    return;
  if (a->kh == 1 && a->kw == 1 && a->stride == 1 && !a->pad_top && !a->pad_bottom && !a->pad_left
      && !a->pad_right)
    {
      /* A 1x1 convolution is one GEMM over the planes as they lie. */
      if (a->bias)
        fill_bias (a, 0, n_out);
      cpu_sgemm (FALSE, FALSE, a->c_out, (int) n_out, a->c_in, 1.0f, a->weight->data, a->c_in, cpu_ptr (a->x),
                 a->x.ld, beta, cpu_ptr (a->y), a->y.ld);
      return;
    }
  /* At least MIN_CHUNKS chunks of 64-pixel multiples within the scratch bound, the same for any thread
   * count (so is the result); as many threads as chunks, while their scratch together stays
   * within one chunk's bound or the whole image's im2col, whichever is smaller. */
  chunk = MAX (64u, ((n_out + MIN_CHUNKS - 1) / MIN_CHUNKS + 63) / 64 * 64);
  chunk = MIN (MIN (chunk, MAX (64u, COL_CHUNK_FLOATS / K)), n_out);
  n_chunks = (gint64) ((n_out + chunk - 1) / chunk);
  workers = (int) CLAMP ((gint64) (MIN ((gsize) COL_CHUNK_FLOATS * 4, n_out * K) / (chunk * K)), 1,
                         MIN ((gint64) threads, n_chunks));
  scratch = chunk * K * sizeof (float) * workers;
  be->bytes_in_use += scratch;
  be->peak_bytes = MAX (be->peak_bytes, be->bytes_in_use);
#pragma omp parallel num_threads (workers)
  {
    float *col = g_new (float, chunk * K);
#pragma omp for schedule(dynamic)
    for (c = 0; c < n_chunks; c++)
      {
        const gsize p0 = (gsize) c * chunk, n = MIN (chunk, n_out - p0);
        im2col (a, w_out, p0, n, col);
        if (a->bias)
          fill_bias (a, p0, n);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, a->c_out, (int) n, K, 1.0f, a->weight->data, K,
                     col, (int) n, beta, cpu_ptr (a->y) + p0, a->y.ld);
      }
    g_free (col);
  }
  be->bytes_in_use -= scratch;
}

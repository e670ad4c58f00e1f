/* cuda_testutil.c: what the cuda suite's programs share: opening the CUDA and CPU backends (or a
 * skip reason), bf16-exact random inputs, NaN-poisoned outputs and GPU-vs-CPU comparisons. */
#include <math.h>
#include <string.h>

#include "cuda_testutil.h"
#include "dtype.h"
#include "testutil.h"

static CudaTestEnv env;

CudaTestEnv *
cuda_test_env (void)
{
  static gboolean opened;
  if (!opened)
    {
      GError *error = NULL;
      opened = TRUE;
      env.cpu = sd_backend_cpu_new ();
      env.gpu = sd_backend_open ("cuda", &error);
      if (!env.gpu)
        {
          env.skip_reason = g_strdup_printf ("no CUDA backend here: %s", error->message);
          g_error_free (error);
        }
    }
  return &env;
}

gboolean
cuda_test_skip (void)
{
  CudaTestEnv *e = cuda_test_env ();
  if (e->gpu)
    return FALSE;
  g_test_skip (e->skip_reason);
  return TRUE;
}

float *
cuda_test_random (GRand *rng, gsize n, float scale)
{
  float *v = sd_test_random (rng, n, scale);
  gsize i;
  for (i = 0; i < n; i++)
    v[i] = sd_bf16_to_f32 (sd_f32_to_bf16 (v[i]));
  return v;
}

Pair
pair_new (const float *host, gsize n)
{
  CudaTestEnv *e = cuda_test_env ();
  GError *error = NULL;
  Pair p = { NULL, NULL, n };
  p.g = sd_buf_from_host (e->gpu, host, n, &error);
  g_assert_no_error (error);
  p.c = sd_buf_from_host (e->cpu, host, n, &error);
  g_assert_no_error (error);
  return p;
}

Pair
pair_new_f32 (const float *host, gsize n)
{
  CudaTestEnv *e = cuda_test_env ();
  GError *error = NULL;
  Pair p = { NULL, NULL, n };
  p.g = e->gpu->ops->alloc_f32 (e->gpu, n, &error);
  g_assert_no_error (error);
  p.c = e->cpu->ops->alloc_f32 (e->cpu, n, &error);
  g_assert_no_error (error);
  g_assert_true (e->gpu->ops->upload (e->gpu, p.g, 0, host, n, &error));
  g_assert_true (e->cpu->ops->upload (e->cpu, p.c, 0, host, n, &error));
  g_assert_no_error (error);
  return p;
}

Pair
pair_random (GRand *rng, gsize n, float scale)
{
  float *h = cuda_test_random (rng, n, scale);
  Pair p = pair_new (h, n);
  g_free (h);
  return p;
}

void
pair_poison (Pair *p)
{
  CudaTestEnv *e = cuda_test_env ();
  GError *error = NULL;
  float *nan = g_new (float, p->n);
  gsize i;
  for (i = 0; i < p->n; i++)
    nan[i] = NAN;
  g_assert_true (e->gpu->ops->upload (e->gpu, p->g, 0, nan, p->n, &error));
  g_assert_no_error (error);
  g_free (nan);
}

void
pair_free (Pair *p)
{
  CudaTestEnv *e = cuda_test_env ();
  e->gpu->ops->release (e->gpu, p->g);
  e->cpu->ops->release (e->cpu, p->c);
  p->g = p->c = NULL;
}

double
pair_error_rows (Pair *p, gsize off, int ld, int rows, int cols)
{
  CudaTestEnv *e = cuda_test_env ();
  GError *error = NULL;
  float *g, *c, *gp, *cp;
  gsize span = rows > 0 ? (gsize) (rows - 1) * ld + cols : 0;
  double err;
  int r;

  g_assert_true (e->gpu->ops->sync (e->gpu, &error));
  g_assert_no_error (error);
  g = sd_buf_to_host (e->gpu, p->g, off, span, &error);
  g_assert_no_error (error);
  c = sd_buf_to_host (e->cpu, p->c, off, span, &error);
  g_assert_no_error (error);
  gp = g_new (float, (gsize) rows * cols);
  cp = g_new (float, (gsize) rows * cols);
  for (r = 0; r < rows; r++)
    {
      memcpy (gp + (gsize) r * cols, g + (gsize) r * ld, cols * sizeof (float));
      memcpy (cp + (gsize) r * cols, c + (gsize) r * ld, cols * sizeof (float));
    }
  err = sd_rel_error (gp, cp, (gsize) rows * cols);
  g_free (g);
  g_free (c);
  g_free (gp);
  g_free (cp);
  return err;
}

double
pair_error (Pair *p, gsize off, gsize n)
{
  return pair_error_rows (p, off, (int) n, 1, (int) n);
}

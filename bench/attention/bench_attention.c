/* bench_attention.c: times the CUDA backend's attention at the FLUX 4K shape on q/k/v read from
 * files (written by bench_attention.py, which times PyTorch on the same data): the Scale-DiT plan
 * from sd_attn_plan_new over a Hilbert-ordered layout, and dense, each with the default kernel
 * (sm_90a on Hopper) and the portable one (SCALEDIT_ATTENTION=mma); then the VAE mid-block shape
 * (one head of dim 512, 4096 queries against 262,144 keys, the first rows of q and k/v read as
 * 512 wide). Writes the plan's token positions and block structure and our outputs beside the
 * inputs for the parity check.
 *
 * usage: bench_attention DIR [n_text hr_side lr_side heads head_dim iters order] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "dtype.h"
#include "layout.h"

static void
die (const char *what, GError *error)
{
  g_printerr ("bench_attention: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

static SdBuf *
read_bf16 (SdBackend *be, const char *dir, const char *name, gsize n)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  gchar *data;
  gsize len;
  SdBuf *b;
  if (!g_file_get_contents (path, &data, &len, &error))
    die (path, error);
  if (len != n * 2)
    {
      g_printerr ("bench_attention: %s has %zu bytes, expected %zu\n", path, (size_t) len, (size_t) n * 2);
      exit (1);
    }
  b = be->ops->weight (be, data, SD_DTYPE_BF16, n, &error);
  if (!b)
    die (path, error);
  g_free (data);
  g_free (path);
  return b;
}

static void
write_file (const char *dir, const char *name, const void *data, gsize len)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  if (!g_file_set_contents (path, data, len, &error))
    die (path, error);
  g_free (path);
}

/* Downloads n elements and writes them as bf16 (exact: they are bf16 on the device). */
static void
write_bf16 (SdBackend *be, SdBuf *buf, const char *dir, const char *name, gsize n)
{
  GError *error = NULL;
  float *h = sd_buf_to_host (be, buf, 0, n, &error);
  guint16 *o = g_new (guint16, n);
  gsize i;
  if (!h)
    die ("download", error);
  for (i = 0; i < n; i++)
    o[i] = sd_f32_to_bf16 (h[i]);
  write_file (dir, name, o, n * 2);
  g_free (h);
  g_free (o);
}

/* Median milliseconds of `iters` runs (after two warm-ups). */
static double
time_attention (SdBackend *be, const SdAttnArgs *a, int iters)
{
  GError *error = NULL;
  double *ms = g_new (double, iters), med;
  int i;
  for (i = 0; i < 2; i++)
    be->ops->attention (be, a);
  if (!be->ops->sync (be, &error))
    die ("attention", error);
  for (i = 0; i < iters; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      be->ops->attention (be, a);
      if (!be->ops->sync (be, &error))
        die ("attention", error);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
    }
  for (i = 1; i < iters; i++) /* insertion sort */
    for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--)
      {
        double t = ms[j];
        ms[j] = ms[j - 1];
        ms[j - 1] = t;
      }
  med = ms[iters / 2];
  g_free (ms);
  return med;
}

int
main (int argc, char **argv)
{
  const char *dir;
  int n_text = 512, hr = 256, lr = 64, heads = 24, d = 128, iters = 20;
  SdTokenOrder order = SD_ORDER_HILBERT;
  SdLayoutSpec spec = { 0 };
  SdLayout *layout;
  SdAttnPlan *plan;
  SdAttnPlanStats stats;
  GError *error = NULL;
  SdBackend *be;
  SdBuf *q, *k, *v, *out;
  SdAttnArgs a = { 0 };
  gsize n, width;
  gint64 t0;
  double ms_sparse, ms_dense, ms_sparse_mma, ms_dense_mma, ms_vae, flops_sparse, flops_dense, plan_ms;
  const int vae_q = 4096, vae_kv = 262144, vae_d = 512;
  GString *json;

  if (argc < 2)
    {
      g_printerr ("usage: bench_attention DIR [n_text hr_side lr_side heads head_dim iters order(h|w|r)]\n");
      return 2;
    }
  dir = argv[1];
  if (argc > 8)
    {
      n_text = atoi (argv[2]);
      hr = atoi (argv[3]);
      lr = atoi (argv[4]);
      heads = atoi (argv[5]);
      d = atoi (argv[6]);
      iters = atoi (argv[7]);
      order = argv[8][0] == 'w' ? SD_ORDER_WINDOW : argv[8][0] == 'r' ? SD_ORDER_RASTER : SD_ORDER_HILBERT;
    }
  spec.n_text = n_text;
  spec.hr_rows = spec.hr_cols = hr;
  spec.lr_rows = spec.lr_cols = lr;
  spec.window = 16;
  spec.order = order;
  t0 = g_get_monotonic_time ();
  layout = sd_layout_new (&spec, &error);
  if (!layout)
    die ("layout", error);
  plan = sd_attn_plan_new (layout, NULL, 128, 64, &error);
  if (!plan)
    die ("plan", error);
  plan_ms = (g_get_monotonic_time () - t0) / 1000.0;
  sd_attn_plan_stats (plan, layout, &stats);
  n = layout->n_tokens;
  width = (gsize) heads * d;

  be = sd_backend_open ("cuda", &error);
  if (!be)
    die ("cuda backend", error);
  q = read_bf16 (be, dir, "q.bin", n * width);
  k = read_bf16 (be, dir, "k.bin", n * width);
  v = read_bf16 (be, dir, "v.bin", n * width);
  out = be->ops->alloc (be, n * width, &error);
  if (!out)
    die ("alloc", error);

  a.q = sd_view (q, 0, width);
  a.k = sd_view (k, 0, width);
  a.v = sd_view (v, 0, width);
  a.out = sd_view (out, 0, width);
  a.n_q = a.n_kv = n;
  a.heads = heads;
  a.head_dim = d;
  a.scale = 1.0f / sqrtf (d);
  a.plan = plan;
  ms_sparse = time_attention (be, &a, iters);
  write_bf16 (be, out, dir, "out_sparse.bin", n * width);
  a.plan = NULL;
  ms_dense = time_attention (be, &a, MAX (3, iters / 5));
  write_bf16 (be, out, dir, "out_dense.bin", n * width);
  g_setenv ("SCALEDIT_ATTENTION", "mma", TRUE);
  a.plan = plan;
  ms_sparse_mma = time_attention (be, &a, iters);
  write_bf16 (be, out, dir, "out_sparse_mma.bin", n * width);
  a.plan = NULL;
  ms_dense_mma = time_attention (be, &a, MAX (3, iters / 5));
  write_bf16 (be, out, dir, "out_dense_mma.bin", n * width);
  g_unsetenv ("SCALEDIT_ATTENTION");

  /* the VAE shape, when the buffers hold that many rows of 512 */
  ms_vae = 0;
  if ((gsize) vae_kv * vae_d <= n * width)
    {
      SdAttnArgs av = { 0 };
      av.q = sd_view (q, 0, vae_d);
      av.k = sd_view (k, 0, vae_d);
      av.v = sd_view (v, 0, vae_d);
      av.out = sd_view (out, 0, vae_d);
      av.n_q = vae_q;
      av.n_kv = vae_kv;
      av.heads = 1;
      av.head_dim = vae_d;
      av.scale = 1.0f / sqrtf (vae_d);
      ms_vae = time_attention (be, &av, 5);
      write_bf16 (be, out, dir, "out_vae.bin", (gsize) vae_q * vae_d);
    }

  /* What the Python side needs to rebuild the mask: token positions and the plan. */
  write_file (dir, "tokens.bin", plan->tokens, n * sizeof (SdTokenPos));
  write_file (dir, "row_start.bin", plan->row_start, (plan->n_q_blocks + 1) * sizeof (int));
  write_file (dir, "kblock.bin", plan->kblock, plan->row_start[plan->n_q_blocks] * sizeof (int));
  write_file (dir, "partial.bin", plan->partial, plan->row_start[plan->n_q_blocks]);

  flops_sparse = 4.0 * stats.computed_pairs * d * heads;
  flops_dense = 4.0 * (double) n * n * d * heads;
  json = g_string_new (NULL);
  g_string_append_printf (json,
                          "{\"n_tokens\": %zu, \"heads\": %d, \"head_dim\": %d, \"order\": \"%s\",\n"
                          " \"q_block\": %d, \"k_block\": %d, \"computed_blocks\": %" G_GINT64_FORMAT
                          ", \"full_blocks\": %" G_GINT64_FORMAT ", \"total_blocks\": %" G_GINT64_FORMAT ",\n"
                          " \"density\": %.5f, \"allowed_fraction\": %.5f, \"computed_pairs\": %" G_GINT64_FORMAT ",\n"
                          " \"hr_radius\": %d, \"lr_radius\": %d, \"lr_window_span\": %d, \"plan_build_ms\": %.1f,\n"
                          " \"ours_sparse_ms\": %.4f, \"ours_sparse_tflops\": %.1f,\n"
                          " \"ours_dense_ms\": %.4f, \"ours_dense_tflops\": %.1f,\n"
                          " \"ours_sparse_mma_ms\": %.4f, \"ours_dense_mma_ms\": %.4f,\n"
                          " \"vae_q\": %d, \"vae_kv\": %d, \"vae_d\": %d, \"vae_ms\": %.4f}\n",
                          (size_t) n, heads, d, order == SD_ORDER_HILBERT ? "hilbert" : order == SD_ORDER_WINDOW ? "window" : "raster",
                          plan->q_block, plan->k_block, stats.computed_blocks, stats.full_blocks, stats.total_blocks,
                          stats.density, stats.allowed_fraction, stats.computed_pairs, plan->rules.hr_radius,
                          plan->rules.lr_radius, plan->rules.lr_window_span, plan_ms, ms_sparse,
                          flops_sparse / ms_sparse / 1e9, ms_dense, flops_dense / ms_dense / 1e9, ms_sparse_mma,
                          ms_dense_mma, vae_q, vae_kv, vae_d, ms_vae);
  write_file (dir, "ours.json", json->str, json->len);
  fputs (json->str, stdout);
  g_string_free (json, TRUE);

  be->ops->release (be, q);
  be->ops->release (be, k);
  be->ops->release (be, v);
  be->ops->release (be, out);
  sd_backend_close (be);
  sd_attn_plan_free (plan);
  sd_layout_free (layout);
  return 0;
}

/* bench_flux_step.c: times one Scale-DiT detail-pass step of a FLUX transformer loaded from a
 * folder (the same load and forward code as generation): the [text | HR | LR] sequence in Hilbert
 * order with the attention plan, random text states and latents; optionally the same step with
 * dense attention. Prints one Markdown table row per measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flux.h"
#include "layout.h"
#include "safetensors.h"
#include "scaledit.h"

typedef struct {
  const char *transformer;
  int size, factor, n_text, iters;
  gboolean dense;
} Options;

static float *
random_host (GRand *rng, gsize n, float scale)
{
  float *v = g_new (float, n);
  gsize i;
  for (i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, -scale, scale);
  return v;
}

/* Times `iters` forwards (after one warm-up) of one setup; prints a table row. */
static gboolean
time_step (SdBackend *be, SdFlux *flux, const SdLayout *lay, const SdAttnPlan *plan, const Options *o,
           const char *label, GError **error)
{
  const SdFluxConfig *cfg = sd_flux_config (flux);
  const int n_img = lay->n_tokens - o->n_text, n_hr = lay->spec.hr_rows * lay->spec.hr_cols;
  const gsize n = (gsize) n_img * cfg->in_channels;
  GRand *rng = g_rand_new_with_seed (7);
  float *txt = random_host (rng, (gsize) o->n_text * cfg->joint_attention_dim, 1.0f);
  float *pooled = random_host (rng, cfg->pooled_projection_dim, 1.0f);
  float *x = random_host (rng, n, 1.0f);
  float ts[2] = { 0.9f, 0.0f };
  SdSegment seg[2] = { { 0, n_hr, 0 }, { n_hr, n_img - n_hr, 1 } };
  SdSegments segs = { seg, n_img > n_hr ? 2 : 1 };
  SdFluxSetup s = { 0 };
  SdFluxRun *run = NULL;
  SdBuf *xb = NULL, *vb = NULL;
  double best = 1e30, total = 0;
  gboolean ok = FALSE;
  int i;

  s.txt = txt;
  s.n_text = o->n_text;
  s.pooled = pooled;
  s.n_img = n_img;
  s.rope_ids = lay->rope_ids;
  s.rope_theta = 10000.0 * 10.0;
  s.plan = plan;
  if (!(run = sd_flux_run_new (flux, &s, error)) || !(xb = sd_buf_from_host (be, x, n, error))
      || !(vb = be->ops->alloc (be, n, error)))
    goto out;
  for (i = -1; i < o->iters; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      double sec;
      if (!sd_flux_forward (run, xb, ts, segs.n_seg, &segs, 4.5f, vb, error) || !be->ops->sync (be, error))
        goto out;
      sec = (g_get_monotonic_time () - t0) / 1e6;
      if (i >= 0)
        {
          best = MIN (best, sec);
          total += sec;
        }
    }
  printf ("| %s | %dx%d | %d | %.3f | %.3f | %.1f |\n", label, o->size, o->size, lay->n_tokens, total / o->iters,
          best, be->peak_bytes / 1073741824.0);
  fflush (stdout);
  ok = TRUE;
out:
  if (xb)
    be->ops->release (be, xb);
  if (vb)
    be->ops->release (be, vb);
  sd_flux_run_free (run);
  g_free (txt);
  g_free (pooled);
  g_free (x);
  g_rand_free (rng);
  return ok;
}

static gboolean
bench (const Options *o, GError **error)
{
  char *config = g_build_filename (o->transformer, "config.json", NULL);
  char *index = g_build_filename (o->transformer, "diffusion_pytorch_model.safetensors.index.json", NULL);
  char *single = g_build_filename (o->transformer, "diffusion_pytorch_model.safetensors", NULL);
  SdBackend *be = NULL;
  SdTensorFile *tf = NULL;
  SdFlux *flux = NULL;
  SdFluxConfig cfg;
  SdLayoutSpec spec = { 0 };
  SdLayout *lay = NULL;
  SdAttnPlan *plan = NULL;
  gint64 t0;
  gboolean ok = FALSE;

  if (!sd_flux_config_from_json (config, &cfg, error) || !(be = sd_backend_open ("cuda", error))
      || !(tf = sd_tensors_open (g_file_test (index, G_FILE_TEST_EXISTS) ? index : single, error)))
    goto out;
  t0 = g_get_monotonic_time ();
  if (!(flux = sd_flux_load (be, tf, &cfg, error)) || !be->ops->sync (be, error))
    goto out;
  fprintf (stderr, "bench_flux_step: %d double + %d single blocks, hidden %d, loaded in %.1f s (%.1f GiB)\n",
           cfg.num_layers, cfg.num_single_layers, cfg.hidden, (g_get_monotonic_time () - t0) / 1e6,
           be->bytes_in_use / 1073741824.0);
  spec.n_text = o->n_text;
  spec.hr_rows = spec.hr_cols = o->size / 16;
  spec.lr_rows = spec.lr_cols = o->size / o->factor / 16;
  spec.window = 16;
  spec.order = SD_ORDER_HILBERT;
  if (!(lay = sd_layout_new (&spec, error)) || !(plan = sd_attn_plan_new (lay, NULL, 0, 0, error)))
    goto out;
  printf ("| step | image | tokens | mean s | best s | peak GPU GiB |\n|---|---|---|---|---|---|\n");
  if (!time_step (be, flux, lay, plan, o, "scaledit detail step, Scale-DiT plan (Hilbert)", error))
    goto out;
  if (o->dense && !time_step (be, flux, lay, NULL, o, "scaledit same step, dense attention", error))
    goto out;
  ok = TRUE;
out:
  if (plan)
    sd_attn_plan_free (plan);
  if (lay)
    sd_layout_free (lay);
  sd_flux_free (flux);
  if (tf)
    sd_tensors_close (tf);
  if (be)
    sd_backend_close (be);
  g_free (config);
  g_free (index);
  g_free (single);
  return ok;
}

int
main (int argc, char **argv)
{
  Options o = { NULL, 4096, 4, 512, 3, FALSE };
  int size = 4096, iters = 3, n_text = 512;
  gboolean dense = FALSE;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "image side in pixels (4096)", "N" },
    { "iters", 0, 0, G_OPTION_ARG_INT, &iters, "timed steps after one warm-up (3)", "N" },
    { "text", 0, 0, G_OPTION_ARG_INT, &n_text, "text tokens (512)", "N" },
    { "dense", 0, 0, G_OPTION_ARG_NONE, &dense, "also time the step with dense attention", NULL },
    { NULL },
  };
  GOptionContext *ctx = g_option_context_new ("TRANSFORMER_FOLDER - time one detail-pass step on the GPU");
  GError *error = NULL;
  int rc;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || size < 64 || size % 64 || iters < 1)
    {
      fprintf (stderr, "bench_flux_step: %s\n", error ? error->message : "give one transformer folder, a size that is a multiple of 64 and iters >= 1");
      g_clear_error (&error);
      g_option_context_free (ctx);
      return 2;
    }
  o.transformer = argv[1];
  o.size = size;
  o.iters = iters;
  o.n_text = n_text;
  o.dense = dense;
  rc = bench (&o, &error) ? 0 : 1;
  if (error)
    fprintf (stderr, "bench_flux_step: %s\n", error->message);
  g_clear_error (&error);
  g_option_context_free (ctx);
  return rc;
}

/* test_detail_order.c: a detail-pass transformer run (text | HR | LR with the local attention plan,
 * LR tokens at timestep 0) gives the same result in Hilbert, window and raster order once
 * un-permuted (≤ 1e-5): the order changes speed, never the result. */
#include <string.h>

#include "flux.h"
#include "layout.h"
#include "testutil.h"

/* Runs the fixture transformer over a detail-pass sequence in `order`; returns the output of
 * every image token in raster order (HR then LR). */
static float *
run_order (SdFlux *flux, SdTokenOrder order, const float *hr, const float *lr, const float *txt, const float *pooled,
           int n_text, int hr_rows, int hr_cols, int lr_rows, int lr_cols)
{
  const SdFluxConfig *c = sd_flux_config (flux);
  SdBackend *be = sd_backend_cpu_new ();
  const int n_hr = hr_rows * hr_cols, n_lr = lr_rows * lr_cols, n_img = n_hr + n_lr, F = c->in_channels;
  SdLayoutSpec spec = { 0 };
  SdLayout *lay;
  SdAttnPlan *plan;
  SdFluxSetup s = { 0 };
  SdFluxRun *run;
  SdSegment seg[2] = { { 0, n_hr, 0 }, { n_hr, n_lr, 1 } };
  SdSegments segs = { seg, 2 };
  float ts[2] = { 0.6f, 0.0f };
  float *seq = g_new (float, (gsize) n_img * F), *out, *raster = g_new (float, (gsize) n_img * c->out_channels);
  GError *error = NULL;
  SdBuf *x, *y;
  int i;

  spec.n_text = n_text;
  spec.hr_rows = hr_rows;
  spec.hr_cols = hr_cols;
  spec.lr_rows = lr_rows;
  spec.lr_cols = lr_cols;
  spec.window = 4;
  spec.order = order;
  lay = sd_layout_new (&spec, &error);
  g_assert_no_error (error);
  {
    SdMaskRules rules = { 2, 1, 1 };
    plan = sd_attn_plan_new (lay, &rules, 16, 8, &error);
    g_assert_no_error (error);
  }
  for (i = 0; i < n_hr; i++)
    memcpy (seq + (gsize) i * F, hr + (gsize) lay->hr_perm[i] * F, F * sizeof (float));
  for (i = 0; i < n_lr; i++)
    memcpy (seq + (gsize) (n_hr + i) * F, lr + (gsize) lay->lr_perm[i] * F, F * sizeof (float));
  s.txt = txt;
  s.n_text = n_text;
  s.pooled = pooled;
  s.n_img = n_img;
  s.rope_ids = lay->rope_ids;
  s.rope_theta = 10000.0 * 10;
  s.plan = plan;
  run = sd_flux_run_new (flux, &s, &error);
  g_assert_no_error (error);
  x = sd_buf_from_host (be, seq, (gsize) n_img * F, &error);
  y = be->ops->alloc (be, (gsize) n_img * c->out_channels, &error);
  g_assert_true (sd_flux_forward (run, x, ts, 2, &segs, 4.5f, y, &error));
  g_assert_no_error (error);
  out = sd_buf_to_host (be, y, 0, (gsize) n_img * c->out_channels, &error);
  for (i = 0; i < n_hr; i++)
    memcpy (raster + (gsize) lay->hr_perm[i] * c->out_channels, out + (gsize) i * c->out_channels,
            c->out_channels * sizeof (float));
  for (i = 0; i < n_lr; i++)
    memcpy (raster + (gsize) (n_hr + lay->lr_perm[i]) * c->out_channels, out + (gsize) (n_hr + i) * c->out_channels,
            c->out_channels * sizeof (float));
  g_free (out);
  g_free (seq);
  be->ops->release (be, x);
  be->ops->release (be, y);
  sd_flux_run_free (run);
  sd_attn_plan_free (plan);
  sd_layout_free (lay);
  sd_backend_close (be);
  return raster;
}

static void
test_orders_agree (void)
{
  char *wpath = sd_test_data_path ("flux/dev/transformer/diffusion_pytorch_model.safetensors");
  char *cpath = sd_test_data_path ("flux/dev/transformer/config.json");
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_open (wpath, &error);
  SdFluxConfig cfg;
  SdFlux *flux;
  GRand *rng = g_rand_new ();
  /* a non-square grid with partial windows (window 4 tokens) and a 4x smaller LR grid */
  const int hr_rows = 10, hr_cols = 14, lr_rows = 3, lr_cols = 4, n_text = 5;
  float *hr, *lr, *txt, *pooled, *hilbert, *window, *raster;
  gsize n_out;

  g_assert_no_error (error);
  g_assert_true (sd_flux_config_from_json (cpath, &cfg, &error));
  flux = sd_flux_load (be, tf, &cfg, &error);
  g_assert_no_error (error);
  hr = sd_test_random (rng, (gsize) hr_rows * hr_cols * cfg.in_channels, 1);
  lr = sd_test_random (rng, (gsize) lr_rows * lr_cols * cfg.in_channels, 1);
  txt = sd_test_random (rng, (gsize) n_text * cfg.joint_attention_dim, 1);
  pooled = sd_test_random (rng, cfg.pooled_projection_dim, 1);
  hilbert = run_order (flux, SD_ORDER_HILBERT, hr, lr, txt, pooled, n_text, hr_rows, hr_cols, lr_rows, lr_cols);
  window = run_order (flux, SD_ORDER_WINDOW, hr, lr, txt, pooled, n_text, hr_rows, hr_cols, lr_rows, lr_cols);
  raster = run_order (flux, SD_ORDER_RASTER, hr, lr, txt, pooled, n_text, hr_rows, hr_cols, lr_rows, lr_cols);
  n_out = (gsize) (hr_rows * hr_cols + lr_rows * lr_cols) * cfg.out_channels;
  g_test_message ("hilbert vs raster %.3g, window vs raster %.3g", sd_rel_error (hilbert, raster, n_out),
                  sd_rel_error (window, raster, n_out));
  g_assert_cmpfloat (sd_rel_error (hilbert, raster, n_out), <=, 1e-5);
  g_assert_cmpfloat (sd_rel_error (window, raster, n_out), <=, 1e-5);
  g_free (hr); g_free (lr); g_free (txt); g_free (pooled); g_free (hilbert); g_free (window); g_free (raster);
  g_rand_free (rng);
  sd_flux_free (flux);
  sd_tensors_close (tf);
  sd_backend_close (be);
  g_free (wpath);
  g_free (cpath);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/detail-order/orders-agree", test_orders_agree);
  return g_test_run ();
}

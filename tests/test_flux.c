/* test_flux.c: the FLUX transformer against diffusers' FluxTransformer2DModel (fixtures from
 * tools/reference/make_flux_fixtures.py), in both weight layouts, with ‖out − ref‖/‖ref‖ ≤ 1e-4. */
#include <string.h>

#include "flux.h"
#include "safetensors.h"
#include "testutil.h"

typedef struct {
  SdTensorFile *inputs;
  float *img, *txt, *pooled, *ids, timestep, guidance;
  int n_img, n_text;
} Inputs;

static float *
read_tensor (SdTensorFile *tf, const char *name, int *rows)
{
  const SdTensorInfo *t = sd_tensors_find (tf, name);
  GError *error = NULL;
  float *v;
  g_assert_nonnull (t);
  if (rows)
    *rows = (int) t->shape[0];
  v = sd_tensor_to_f32 (t, &error);
  g_assert_no_error (error);
  return v;
}

static void
load_inputs (const char *kind, Inputs *in)
{
  char *path = g_strdup_printf ("flux/%s/inputs.safetensors", kind);
  char *full = sd_test_data_path (path);
  GError *error = NULL;
  float *img_ids, *txt_ids, *t, *g = NULL;

  in->inputs = sd_tensors_open (full, &error);
  g_assert_no_error (error);
  in->img = read_tensor (in->inputs, "hidden_states", &in->n_img);
  in->txt = read_tensor (in->inputs, "encoder_hidden_states", &in->n_text);
  in->pooled = read_tensor (in->inputs, "pooled_projections", NULL);
  img_ids = read_tensor (in->inputs, "img_ids", NULL);
  txt_ids = read_tensor (in->inputs, "txt_ids", NULL);
  t = read_tensor (in->inputs, "timestep", NULL);
  if (sd_tensors_find (in->inputs, "guidance"))
    g = read_tensor (in->inputs, "guidance", NULL);
  in->timestep = t[0];
  in->guidance = g ? g[0] : 0;
  in->ids = g_new (float, (in->n_text + in->n_img) * 3);
  memcpy (in->ids, txt_ids, in->n_text * 3 * sizeof (float));
  memcpy (in->ids + in->n_text * 3, img_ids, in->n_img * 3 * sizeof (float));
  g_free (img_ids);
  g_free (txt_ids);
  g_free (t);
  g_free (g);
  g_free (path);
  g_free (full);
}

static void
free_inputs (Inputs *in)
{
  g_free (in->img);
  g_free (in->txt);
  g_free (in->pooled);
  g_free (in->ids);
  sd_tensors_close (in->inputs);
}

/* Runs the model in `weights` (config from config_json, or inferred when NULL) on the fixture's
 * inputs and compares with `expected`. */
static void
check_model (const char *kind, const char *weights, const char *config_json, const char *expected)
{
  char *wpath = sd_test_data_path (weights), *epath = sd_test_data_path (expected);
  GError *error = NULL;
  SdBackend *be = sd_backend_cpu_new ();
  SdTensorFile *tf = sd_tensors_open (wpath, &error), *ef;
  SdFluxConfig cfg;
  SdFlux *flux;
  SdFluxRun *run;
  SdFluxSetup setup = { 0 };
  SdBuf *img, *out;
  Inputs in;
  float *got, *ref;
  double err;

  g_assert_no_error (error);
  load_inputs (kind, &in);
  if (config_json)
    {
      char *cpath = sd_test_data_path (config_json);
      g_assert_true (sd_flux_config_from_json (cpath, &cfg, &error));
      g_free (cpath);
    }
  else
    g_assert_true (sd_flux_config_from_bfl (tf, &cfg, &error));
  g_assert_no_error (error);
  flux = sd_flux_load (be, tf, &cfg, &error);
  g_assert_no_error (error);

  setup.txt = in.txt;
  setup.n_text = in.n_text;
  setup.pooled = in.pooled;
  setup.n_img = in.n_img;
  setup.rope_ids = in.ids;
  setup.rope_theta = 10000;
  run = sd_flux_run_new (flux, &setup, &error);
  g_assert_no_error (error);
  img = sd_buf_from_host (be, in.img, (gsize) in.n_img * cfg.in_channels, &error);
  out = be->ops->alloc (be, (gsize) in.n_img * cfg.out_channels, &error);
  g_assert_no_error (error);
  g_assert_true (sd_flux_forward (run, img, &in.timestep, 1, NULL, in.guidance, out, &error));
  g_assert_no_error (error);

  got = sd_buf_to_host (be, out, 0, (gsize) in.n_img * cfg.out_channels, &error);
  ef = sd_tensors_open (epath, &error);
  g_assert_no_error (error);
  ref = read_tensor (ef, "sample", NULL);
  err = sd_rel_error (got, ref, (gsize) in.n_img * cfg.out_channels);
  g_test_message ("%s: relative error %.3g", weights, err);
  g_assert_cmpfloat (err, <=, 1e-4);

  g_free (got);
  g_free (ref);
  sd_tensors_close (ef);
  be->ops->release (be, img);
  be->ops->release (be, out);
  sd_flux_run_free (run);
  sd_flux_free (flux);
  sd_tensors_close (tf);
  sd_backend_close (be);
  free_inputs (&in);
  g_free (wpath);
  g_free (epath);
}

static void
test_dev_diffusers (void)
{
  check_model ("dev", "flux/dev/transformer/diffusion_pytorch_model.safetensors", "flux/dev/transformer/config.json",
               "flux/dev/expected.safetensors");
}

static void
test_dev_bfl (void)
{
  check_model ("dev", "flux/dev/flux-dev-bfl.safetensors", NULL, "flux/dev/expected-bfl.safetensors");
}

static void
test_schnell_diffusers (void)
{
  check_model ("schnell", "flux/schnell/transformer/diffusion_pytorch_model.safetensors",
               "flux/schnell/transformer/config.json", "flux/schnell/expected.safetensors");
}

static void
test_schnell_bfl (void)
{
  check_model ("schnell", "flux/schnell/flux-schnell-bfl.safetensors", NULL, "flux/schnell/expected-bfl.safetensors");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/flux/dev/diffusers", test_dev_diffusers);
  g_test_add_func ("/flux/dev/bfl", test_dev_bfl);
  g_test_add_func ("/flux/schnell/diffusers", test_schnell_diffusers);
  g_test_add_func ("/flux/schnell/bfl", test_schnell_bfl);
  return g_test_run ();
}

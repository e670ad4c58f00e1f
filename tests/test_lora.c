/* test_lora.c: LoRA in the engine against its references (tests/data/lora, made by
 * tools/reference/make_lora_fixtures.py): PEFT, diffusers and BFL-named files applied to every
 * token equal diffusers/PEFT (<= 1e-4), Scale-DiT routing on [text | HR | LR] equals
 * flux_torch.py (<= 1e-4), broken files give errors that name the problem, and in the pipeline the
 * LoRA changes only the detail pass while a scale of 0 gives the pixels of no LoRA. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "safetensors.h"
#include "scaledit.h"
#include "testutil.h"

#define TOL 1e-4

static float *
read_tensor (const char *rel, const char *name, gsize *n)
{
  char *path = sd_test_data_path (rel);
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_open (path, &error);
  const SdTensorInfo *t;
  float *v;
  g_assert_no_error (error);
  t = sd_tensors_find (tf, name);
  g_assert_nonnull (t);
  v = sd_tensor_to_f32 (t, &error);
  g_assert_no_error (error);
  *n = t->n_elements;
  sd_tensors_close (tf);
  g_free (path);
  return v;
}

/* Runs the flux component with a LoRA (NULL: none) and returns ‖out − expected‖ / ‖expected‖. */
static double
run_flux (const char *inputs_rel, const char *lora_rel, float scale, const char *routing, const char *expected_rel)
{
  char *model = sd_test_data_path ("flux/dev"), *in = sd_test_data_path (inputs_rel);
  char *lora = lora_rel ? sd_test_data_path (lora_rel) : NULL;
  char *dir = g_dir_make_tmp ("sdlora-XXXXXX", NULL), *out = g_build_filename (dir, "out.safetensors", NULL);
  SdComponentOptions o = { lora, scale, routing };
  GError *error = NULL;
  SdTensorFile *tf;
  float *got, *want;
  gsize n_want;
  double e;

  g_assert_true (sd_run_component_full ("flux", model, "cpu", in, out, &o, &error));
  g_assert_no_error (error);
  tf = sd_tensors_open (out, &error);
  g_assert_no_error (error);
  got = sd_tensor_to_f32 (sd_tensors_find (tf, "sample"), &error);
  g_assert_no_error (error);
  want = read_tensor (expected_rel, "sample", &n_want);
  g_assert_cmpuint (sd_tensors_find (tf, "sample")->n_elements, ==, n_want);
  e = sd_rel_error (got, want, n_want);
  g_test_message ("%s with %s (scale %g, routing %s): rel %.3g", expected_rel, lora_rel ? lora_rel : "no LoRA", scale,
                  routing ? routing : "all", e);
  sd_tensors_close (tf);
  g_unlink (out);
  g_rmdir (dir);
  g_free (got);
  g_free (want);
  g_free (out);
  g_free (dir);
  g_free (lora);
  g_free (in);
  g_free (model);
  return e;
}

static void
test_peft_all_tokens (void)
{
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/peft", 1.0f, "all", "lora/expected-peft.safetensors"),
                     <=, TOL);
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/peft", 0.6f, "all",
                               "lora/expected-peft-scale0.6.safetensors"), <=, TOL);
  /* the file itself, with adapter_config.json beside it */
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/peft/adapter_model.safetensors", 1.0f, NULL,
                               "lora/expected-peft.safetensors"), <=, TOL);
  /* the same LoRA with BFL key names (q, k, v fused) */
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/bfl.safetensors", 1.0f, "all",
                               "lora/expected-peft.safetensors"), <=, TOL);
  /* the LoRA matters: without it the output is far from the reference */
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", NULL, 1.0f, NULL, "lora/expected-peft.safetensors"), >, 0.1);
}

static void
test_diffusers_format (void)
{
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/diffusers-noalpha", 1.0f, "all",
                               "lora/expected-noalpha.safetensors"), <=, TOL);
  g_assert_cmpfloat (run_flux ("flux/dev/inputs.safetensors", "lora/diffusers-alpha.safetensors", 0.75f, "all",
                               "lora/expected-alpha-scale0.75.safetensors"), <=, TOL);
}

/* The engine's token mask over the fixture's raster layout is the one flux_torch.py used. */
static void
check_mask (void)
{
  SdLayoutSpec spec = { 0 };
  SdMaskRules rules = { 2, 1, 1 };
  GError *error = NULL;
  SdLayout *lay;
  gsize n_mask, i, j, n;
  float *mask = read_tensor ("lora/scale-dit-mask.safetensors", "mask", &n_mask);

  spec.n_text = 5;
  spec.hr_rows = 6;
  spec.hr_cols = 7;
  spec.lr_rows = 2;
  spec.lr_cols = 3;
  spec.window = 4;
  spec.order = SD_ORDER_RASTER;
  lay = sd_layout_new (&spec, &error);
  g_assert_no_error (error);
  n = lay->n_tokens;
  g_assert_cmpuint (n * n, ==, n_mask);
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      g_assert_cmpint (sd_mask_allows (&rules, &lay->tokens[i], &lay->tokens[j]), ==, mask[i * n + j] != 0);
  sd_layout_free (lay);
  g_free (mask);
}

static void
test_scale_dit_routing (void)
{
  const char *in = "lora/scale-dit-inputs.safetensors";
  check_mask ();
  g_assert_cmpfloat (run_flux (in, NULL, 1.0f, NULL, "lora/expected-scale-dit-base.safetensors"), <=, TOL);
  g_assert_cmpfloat (run_flux (in, "lora/peft", 0.8f, "scale-dit", "lora/expected-scale-dit-routed.safetensors"), <=, TOL);
  g_assert_cmpfloat (run_flux (in, "lora/peft", 0.8f, "all", "lora/expected-scale-dit-all.safetensors"), <=, TOL);
  /* BFL's fused linear1 routes its q, k, v rows to every token and its MLP rows to LR only */
  g_assert_cmpfloat (run_flux (in, "lora/bfl.safetensors", 0.8f, "scale-dit", "lora/expected-scale-dit-routed.safetensors"),
                     <=, TOL);
  /* the routings differ enough that each check means something */
  g_assert_cmpfloat (run_flux (in, "lora/peft", 0.8f, "scale-dit", "lora/expected-scale-dit-all.safetensors"), >, 0.1);
}

/* `scaledit run-component flux --lora ... --lora-routing scale-dit` from the command line. */
static void
test_cli_routing (void)
{
  char *model = sd_test_data_path ("flux/dev"), *in = sd_test_data_path ("lora/scale-dit-inputs.safetensors");
  char *lora = sd_test_data_path ("lora/peft");
  char *dir = g_dir_make_tmp ("sdlora-XXXXXX", NULL), *out = g_build_filename (dir, "out.safetensors", NULL);
  const char *argv[] = { g_getenv ("SCALEDIT_CLI"), "run-component", "flux", "--model", model, "--in", in, "--out", out,
                         "--device", "cpu", "--lora", lora, "--lora-scale", "0.8", "--lora-routing", "scale-dit", NULL };
  const char *bad[] = { g_getenv ("SCALEDIT_CLI"), "run-component", "flux", "--model", model, "--in", in, "--out", out,
                        "--device", "cpu", "--lora", lora, "--lora-routing", "sideways", NULL };
  char *sout = NULL, *serr = NULL;
  GError *error = NULL;
  int status;
  gsize n_got, n_want;
  float *got, *want;

  g_assert_nonnull (argv[0]);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &sout, &serr, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  {
    SdTensorFile *tf = sd_tensors_open (out, &error);
    g_assert_no_error (error);
    got = sd_tensor_to_f32 (sd_tensors_find (tf, "sample"), &error);
    n_got = sd_tensors_find (tf, "sample")->n_elements;
    sd_tensors_close (tf);
  }
  want = read_tensor ("lora/expected-scale-dit-routed.safetensors", "sample", &n_want);
  g_assert_cmpuint (n_got, ==, n_want);
  g_assert_cmpfloat (sd_rel_error (got, want, n_want), <=, TOL);
  g_free (sout);
  g_free (serr);
  g_assert_true (g_spawn_sync (NULL, (char **) bad, NULL, 0, NULL, NULL, &sout, &serr, &status, &error));
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (serr, "sideways"));
  g_free (sout);
  g_free (serr);
  g_free (got);
  g_free (want);
  g_unlink (out);
  g_rmdir (dir);
  g_free (out);
  g_free (dir);
  g_free (lora);
  g_free (in);
  g_free (model);
}

/* Running with a broken LoRA fails with `code` and a message holding every string of `needles`. */
static void
expect_error (const char *lora_rel, int code, const char *const *needles)
{
  char *model = sd_test_data_path ("flux/dev"), *in = sd_test_data_path ("flux/dev/inputs.safetensors");
  char *lora = sd_test_data_path (lora_rel);
  char *dir = g_dir_make_tmp ("sdlora-XXXXXX", NULL), *out = g_build_filename (dir, "out.safetensors", NULL);
  SdComponentOptions o = { lora, 1.0f, "all" };
  GError *error = NULL;

  g_assert_false (sd_run_component_full ("flux", model, "cpu", in, out, &o, &error));
  g_assert_error (error, SD_ERROR, code);
  g_test_message ("%s: %s", lora_rel, error->message);
  for (; *needles; needles++)
    if (!strstr (error->message, *needles))
      g_error ("\"%s\" lacks \"%s\"", error->message, *needles);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  g_rmdir (dir);
  g_free (out);
  g_free (dir);
  g_free (lora);
  g_free (in);
  g_free (model);
}

static void
test_errors (void)
{
  const char *unknown[] = { "unknown-key/adapter_model.safetensors", "unknown keys",
                            "base_model.model.transformer_blocks.7.attn.to_q.lora_A.weight", NULL };
  const char *shape[] = { "wrong-shape/adapter_model.safetensors", "mismatched", "single_transformer_blocks.1.proj_mlp",
                          "B [200, 4]", "B [256, r]", NULL };
  const char *modulation[] = { "modulation", "transformer_blocks.1.norm1.linear", "not apply per token", NULL };
  const char *no_config[] = { "no-config", "adapter_config.json", NULL };
  const char *missing[] = { "lora/nonexistent", "no such LoRA", NULL };
  expect_error ("lora/bad/unknown-key", SD_ERROR_FORMAT, unknown);
  expect_error ("lora/bad/wrong-shape", SD_ERROR_FORMAT, shape);
  expect_error ("lora/bad/modulation", SD_ERROR_UNSUPPORTED, modulation);
  expect_error ("lora/bad/no-config", SD_ERROR_IO, no_config);
  expect_error ("lora/nonexistent", SD_ERROR_IO, missing);
}

/* ------------------------------------------------------------------ the pipeline */

static SdEngine *
open_engine (const char *path)
{
  SdEngineOptions o = { 0 };
  GError *error = NULL;
  SdEngine *e;
  o.path = path;
  o.backend = "cpu";
  e = sd_engine_open (&o, &error);
  g_assert_no_error (error);
  return e;
}

static SdResult *
generate (SdEngine *e, const char *lora, float scale, gboolean use_model_lora, gboolean preview)
{
  SdRequest q;
  GError *error = NULL;
  SdResult *r;
  sd_request_init (&q);
  q.prompt = "a lighthouse on a cliff in a storm";
  q.width = 160;
  q.height = 128;
  q.seed = 5;
  q.global_steps = 3;
  q.detail_steps = 2;
  q.window = 4;
  q.lora_path = lora;
  q.lora_scale = scale;
  q.use_model_lora = use_model_lora;
  q.preview_only = preview;
  r = sd_engine_generate (e, &q, NULL, &error);
  g_assert_no_error (error);
  return r;
}

static gboolean
same_pixels (const SdResult *a, const SdResult *b)
{
  return a->width == b->width && a->height == b->height
         && memcmp (a->rgb, b->rgb, (gsize) a->width * a->height * 3 * sizeof (float)) == 0;
}

static double
pixel_difference (const SdResult *a, const SdResult *b)
{
  gsize n = (gsize) a->width * a->height * 3, i;
  double m = 0;
  for (i = 0; i < n; i++)
    m = MAX (m, ABS (a->rgb[i] - b->rgb[i]));
  return m;
}

/* A model folder like pipeline-model whose scale_dit_lora/ is the pipeline LoRA (links). */
static char *
model_with_lora (void)
{
  static const char *const parts[] = { "model_index.json", "scheduler", "text_encoder", "text_encoder_2", "tokenizer",
                                       "tokenizer_2", "transformer", "vae" };
  char *dir = g_dir_make_tmp ("sdlora-model-XXXXXX", NULL), *src = sd_test_data_path ("pipeline-model");
  char *lora = sd_test_data_path ("lora/pipeline"), *link;
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      char *target = g_build_filename (src, parts[i], NULL);
      link = g_build_filename (dir, parts[i], NULL);
      g_assert_cmpint (symlink (target, link), ==, 0);
      g_free (target);
      g_free (link);
    }
  link = g_build_filename (dir, "scale_dit_lora", NULL);
  g_assert_cmpint (symlink (lora, link), ==, 0);
  g_free (link);
  g_free (lora);
  g_free (src);
  return dir;
}

static void
remove_model (char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    {
      char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
      g_free (p);
    }
  g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

static void
test_pipeline (void)
{
  char *model = sd_test_data_path ("pipeline-model"), *lora = sd_test_data_path ("lora/pipeline");
  char *with_lora = model_with_lora ();
  SdEngine *e = open_engine (model), *e2;
  SdResult *base = generate (e, NULL, 1.0f, TRUE, FALSE);
  SdResult *lo = generate (e, lora, 1.0f, TRUE, FALSE);
  SdResult *zero = generate (e, lora, 0.0f, TRUE, FALSE);
  SdResult *pv_base = generate (e, NULL, 1.0f, TRUE, TRUE), *pv_lora = generate (e, lora, 1.0f, TRUE, TRUE);
  SdResult *bundled, *off;

  g_test_message ("LoRA changes the picture by up to %.3g", pixel_difference (lo, base));
  g_assert_cmpfloat (pixel_difference (lo, base), >, 1e-3);
  g_assert_true (same_pixels (zero, base));
  g_assert_true (same_pixels (pv_lora, pv_base)); /* the global pass runs the base model */
  g_assert_nonnull (strstr (lo->parameters, "LoRA: pipeline, LoRA scale: 1"));
  g_assert_null (strstr (base->parameters, "LoRA"));

  /* a model folder's scale_dit_lora/ is used unless turned off */
  e2 = open_engine (with_lora);
  bundled = generate (e2, NULL, 1.0f, TRUE, FALSE);
  off = generate (e2, NULL, 1.0f, FALSE, FALSE);
  g_assert_true (same_pixels (bundled, lo));
  g_assert_true (same_pixels (off, base));
  g_assert_nonnull (strstr (bundled->parameters, "LoRA: scale_dit_lora"));

  sd_result_free (base);
  sd_result_free (lo);
  sd_result_free (zero);
  sd_result_free (pv_base);
  sd_result_free (pv_lora);
  sd_result_free (bundled);
  sd_result_free (off);
  sd_engine_close (e);
  sd_engine_close (e2);
  remove_model (with_lora);
  g_free (model);
  g_free (lora);
}

/* A LoRA that does not fit the model fails the request before any work, naming the file. */
static void
test_pipeline_bad_lora (void)
{
  char *model = sd_test_data_path ("pipeline-model"), *lora = sd_test_data_path ("lora/peft");
  SdEngine *e = open_engine (model);
  SdRequest q;
  GError *error = NULL;
  sd_request_init (&q);
  q.prompt = "x";
  q.width = q.height = 128;
  q.global_steps = 2;
  q.detail_steps = 1;
  q.lora_path = lora;
  g_assert_null (sd_engine_generate (e, &q, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "adapter_model.safetensors"));
  g_clear_error (&error);
  sd_engine_close (e);
  g_free (model);
  g_free (lora);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lora/peft-all-tokens", test_peft_all_tokens);
  g_test_add_func ("/lora/diffusers-format", test_diffusers_format);
  g_test_add_func ("/lora/scale-dit-routing", test_scale_dit_routing);
  g_test_add_func ("/lora/cli-routing", test_cli_routing);
  g_test_add_func ("/lora/errors", test_errors);
  g_test_add_func ("/lora/pipeline", test_pipeline);
  g_test_add_func ("/lora/pipeline-bad-lora", test_pipeline_bad_lora);
  return g_test_run ();
}

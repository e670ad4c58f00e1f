/* test_cuda_models.c: whole models on the CUDA backend against the CPU backend (and the PyTorch
 * fixtures): the FLUX transformer, CLIP, T5, VAE decode/encode (untiled and tiled), the whole
 * pipeline with the fixture model (PSNR of the GPU image against the CPU image >= 35 dB), and
 * out-of-memory under SCALEDIT_CUDA_MEMORY_LIMIT leaving the engine usable. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "cuda_testutil.h"
#include "safetensors.h"
#include "scaledit.h"
#include "testutil.h"
#include "vae.h"

/* bf16 weights and activations through a whole model, against f32 on the CPU. */
#define TOL_MODEL 3e-2
#define MIN_PSNR 35.0

static char *tmp_dir;

/* Runs a component on both backends; every output tensor of the GPU run must match the CPU run,
 * and `ref_name` of the output (if given) the PyTorch fixture tensor `ref_key` of ref_rel. */
static void
compare_component (const char *component, const char *model_rel, const char *in_path, const char *ref_rel,
                   const char *out_name, const char *ref_key)
{
  char *model = sd_test_data_path (model_rel);
  char *out_g = g_build_filename (tmp_dir, "gpu.safetensors", NULL);
  char *out_c = g_build_filename (tmp_dir, "cpu.safetensors", NULL);
  GError *error = NULL;
  SdTensorFile *g, *c;
  guint i;

  g_assert_true (sd_run_component (component, model, "cuda", in_path, out_g, &error));
  g_assert_no_error (error);
  g_assert_true (sd_run_component (component, model, "cpu", in_path, out_c, &error));
  g_assert_no_error (error);
  g = sd_tensors_open (out_g, &error);
  g_assert_no_error (error);
  c = sd_tensors_open (out_c, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sd_tensors_count (g), ==, sd_tensors_count (c));
  for (i = 0; i < sd_tensors_count (c); i++)
    {
      const SdTensorInfo *tc = sd_tensors_nth (c, i), *tg = sd_tensors_find (g, tc->name);
      float *a, *b;
      double err;
      g_assert_nonnull (tg);
      g_assert_cmpuint (tg->n_elements, ==, tc->n_elements);
      a = sd_tensor_to_f32 (tg, &error);
      b = sd_tensor_to_f32 (tc, &error);
      g_assert_no_error (error);
      err = sd_rel_error (a, b, tc->n_elements);
      g_test_message ("%s %s %s: gpu vs cpu rel error %.2e", component, model_rel, tc->name, err);
      g_assert_cmpfloat (err, <=, TOL_MODEL);
      if (ref_rel && g_str_equal (tc->name, out_name))
        {
          char *rp = sd_test_data_path (ref_rel);
          SdTensorFile *rf = sd_tensors_open (rp, &error);
          const SdTensorInfo *rt;
          float *r;
          g_assert_no_error (error);
          rt = sd_tensors_find (rf, ref_key);
          g_assert_nonnull (rt);
          g_assert_cmpuint (rt->n_elements, ==, tg->n_elements);
          r = sd_tensor_to_f32 (rt, &error);
          g_assert_no_error (error);
          err = sd_rel_error (a, r, rt->n_elements);
          g_test_message ("%s %s %s: gpu vs PyTorch rel error %.2e", component, model_rel, tc->name, err);
          g_assert_cmpfloat (err, <=, TOL_MODEL);
          g_free (r);
          sd_tensors_close (rf);
          g_free (rp);
        }
      g_free (a);
      g_free (b);
    }
  sd_tensors_close (g);
  sd_tensors_close (c);
  g_unlink (out_g);
  g_unlink (out_c);
  g_free (out_g);
  g_free (out_c);
  g_free (model);
}

static void
test_flux (void)
{
  char *in;
  if (cuda_test_skip ())
    return;
  in = sd_test_data_path ("flux/dev/inputs.safetensors");
  compare_component ("flux", "flux/dev", in, "flux/dev/expected.safetensors", "sample", "sample");
  compare_component ("flux", "flux/dev/flux-dev-bfl.safetensors", in, "flux/dev/expected-bfl.safetensors", "sample",
                     "sample");
  g_free (in);
  in = sd_test_data_path ("flux/schnell/inputs.safetensors");
  compare_component ("flux", "flux/schnell", in, "flux/schnell/expected.safetensors", "sample", "sample");
  g_free (in);
}

/* An input file holding fixture tensor `key` as "input_ids" [1, n]. */
static char *
ids_input (const char *key)
{
  char *rp = sd_test_data_path ("text_encoders/reference.safetensors");
  char *path = g_build_filename (tmp_dir, "ids.safetensors", NULL);
  GError *error = NULL;
  SdTensorFile *rf = sd_tensors_open (rp, &error);
  const SdTensorInfo *t;
  SdTensorOut o = { "input_ids", 2, { 1, 0 }, NULL };
  float *ids;

  g_assert_no_error (error);
  t = sd_tensors_find (rf, key);
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, SD_ST_I64);
  ids = g_new (float, t->n_elements);
  for (gsize i = 0; i < t->n_elements; i++)
    {
      gint64 v;
      memcpy (&v, t->data + i * 8, 8);
      ids[i] = (float) GINT64_FROM_LE (v);
    }
  o.shape[1] = (gint64) t->n_elements;
  o.data = ids;
  g_assert_true (sd_tensors_write (path, &o, 1, &error));
  g_assert_no_error (error);
  g_free (ids);
  sd_tensors_close (rf);
  g_free (rp);
  return path;
}

static void
test_text_encoders (void)
{
  static const char *clip_cases[] = { "a", "b", "c" }, *t5_cases[] = { "a", "b", "c" };
  gsize i;
  if (cuda_test_skip ())
    return;
  for (i = 0; i < G_N_ELEMENTS (clip_cases); i++)
    {
      char *key = g_strdup_printf ("clip.%s.input_ids", clip_cases[i]);
      char *ref = g_strdup_printf ("clip.%s.last_hidden_state", clip_cases[i]);
      char *in = ids_input (key);
      compare_component ("clip", "text_encoders/diffusers", in, "text_encoders/reference.safetensors",
                         "last_hidden_state", ref);
      g_unlink (in);
      g_free (in);
      g_free (key);
      g_free (ref);
    }
  for (i = 0; i < G_N_ELEMENTS (t5_cases); i++)
    {
      char *key = g_strdup_printf ("t5.%s.input_ids", t5_cases[i]);
      char *ref = g_strdup_printf ("t5.%s.last_hidden_state", t5_cases[i]);
      char *in = ids_input (key);
      compare_component ("t5", "text_encoders/diffusers", in, "text_encoders/reference.safetensors",
                         "last_hidden_state", ref);
      g_unlink (in);
      g_free (in);
      g_free (key);
      g_free (ref);
    }
}

/* An input file holding one tensor of a VAE fixture under its own name. */
static char *
vae_input (const char *fixture, const char *name)
{
  char *rel = g_strdup_printf ("vae/%s/reference.safetensors", fixture), *rp = sd_test_data_path (rel);
  char *path = g_build_filename (tmp_dir, "vae-in.safetensors", NULL);
  GError *error = NULL;
  SdTensorFile *rf = sd_tensors_open (rp, &error);
  const SdTensorInfo *t;
  SdTensorOut o = { name, 0, { 0 }, NULL };
  float *d;
  int k;

  g_assert_no_error (error);
  t = sd_tensors_find (rf, name);
  g_assert_nonnull (t);
  d = sd_tensor_to_f32 (t, &error);
  g_assert_no_error (error);
  o.ndim = t->ndim;
  for (k = 0; k < t->ndim; k++)
    o.shape[k] = t->shape[k];
  o.data = d;
  g_assert_true (sd_tensors_write (path, &o, 1, &error));
  g_assert_no_error (error);
  g_free (d);
  sd_tensors_close (rf);
  g_free (rp);
  g_free (rel);
  return path;
}

static void
test_vae (void)
{
  static const char *fixtures[] = { "attn", "noattn" };
  gsize i;
  if (cuda_test_skip ())
    return;
  for (i = 0; i < G_N_ELEMENTS (fixtures); i++)
    {
      char *model = g_strdup_printf ("vae/%s", fixtures[i]); /* the folder, with its config */
      char *ref = g_strdup_printf ("vae/%s/reference.safetensors", fixtures[i]);
      char *in = vae_input (fixtures[i], "latents");
      compare_component ("vae-decode", model, in, ref, "image", "decoded");
      g_unlink (in);
      g_free (in);
      in = vae_input (fixtures[i], "image");
      compare_component ("vae-encode", model, in, ref, "latents", "encoded");
      g_unlink (in);
      g_free (in);
      g_free (model);
      g_free (ref);
    }
}

/* Tiled decode on the GPU (small tiles: halos, GroupNorm statistics merged over tiles in f32,
 * the mid-block attention's queries tile by tile), with intermediates in host memory, all resident
 * on the GPU, or some of each, against the untiled CPU decode of the same latents; every case is
 * measured before any is asserted; with the default budget and one so small that the attention
 * streams its keys and values in chunks. Intermediates in host memory (bf16, as the GPU holds
 * them) must give the very pixels of intermediates resident on the GPU. */
static void
test_vae_tiled (void)
{
  static const char *fixtures[] = { "vae/noattn", "vae/attn" };
  static const gsize caps[] = { 0, (gsize) 1 << 30, 16 * 1024 };
  static const int tiles[] = { 0, 5 };
  /* the default, and one that streams the attention's keys and values in chunks */
  static const gsize budgets[] = { 0, 24 * 1024 };
  CudaTestEnv *env;
  GError *error = NULL;
  GRand *rng;
  const int lw = 13, lh = 10;
  double worst = 0;
  gsize f, i, k, mismatched = 0;

  if (cuda_test_skip ())
    return;
  env = cuda_test_env ();
  rng = g_rand_new_with_seed (g_test_rand_int ());
  for (f = 0; f < G_N_ELEMENTS (fixtures); f++)
    {
      char *path = sd_test_data_path (fixtures[f]); /* folders: their config.json has the groups */
      SdVae *vg = sd_vae_load (env->gpu, path, NULL, &error), *vc;
      float *lat = sd_test_random (rng, (gsize) 16 * lw * lh, 2.0f), *dc;
      gsize n_out;
      g_assert_no_error (error);
      n_out = (gsize) 3 * lw * sd_vae_factor (vg) * lh * sd_vae_factor (vg);
      vc = sd_vae_load (env->cpu, path, NULL, &error);
      g_assert_no_error (error);
      dc = sd_vae_decode (vc, lat, lw, lh, NULL, NULL, &error);
      g_assert_no_error (error);
      for (k = 0; k < G_N_ELEMENTS (tiles) * G_N_ELEMENTS (budgets); k++)
        {
          const int tile = tiles[k % G_N_ELEMENTS (tiles)];
          const gsize budget = budgets[k / G_N_ELEMENTS (tiles)];
          float *on_host = NULL;
          for (i = 0; i < G_N_ELEMENTS (caps); i++)
            {
              SdVaeTiling t = { 0 };
              SdVaeStats st;
              gsize before = env->gpu->bytes_in_use;
              float *dg;
              double err;
              t.max_tile = tile;
              t.budget_bytes = budget;
              t.device_slot_bytes = caps[i];
              dg = sd_vae_decode (vg, lat, lw, lh, &t, &st, &error);
              g_assert_no_error (error);
              g_assert_cmpuint (env->gpu->bytes_in_use, ==, before);
              if (budget && f == 1)
                g_assert_cmpint (st.attention_kv_chunks, >, 1);
              err = sd_rel_error (dg, dc, n_out);
              g_test_message ("%s decode, max tile %d (%d tiles), budget %zu, attention in %d chunks, device "
                              "slots %zu bytes: gpu vs cpu rel error %.2e",
                              fixtures[f], tile, st.tiles, (size_t) budget, st.attention_kv_chunks,
                              (size_t) caps[i], err);
              worst = MAX (worst, err);
              if (caps[i] == 0)
                on_host = dg;
              else
                {
                  if (caps[i] == ((gsize) 1 << 30) && memcmp (dg, on_host, n_out * sizeof (float)) != 0)
                    {
                      g_test_message ("%s, max tile %d, budget %zu: host-slot pixels differ from resident ones",
                                      fixtures[f], tile, (size_t) budget);
                      mismatched++;
                    }
                  g_free (dg);
                }
            }
          g_free (on_host);
        }
      g_free (dc);
      g_free (lat);
      sd_vae_free (vg);
      sd_vae_free (vc);
      g_free (path);
    }
  g_assert_cmpfloat (worst, <=, TOL_MODEL);
  g_assert_cmpuint (mismatched, ==, 0);
  g_rand_free (rng);
}

static SdEngine *
open_engine (const char *backend, GError **error)
{
  SdEngineOptions o = { 0 };
  char *model = sd_test_data_path ("pipeline-model");
  SdEngine *e;
  o.path = model;
  o.backend = backend;
  e = sd_engine_open (&o, error);
  g_free (model);
  return e;
}

static void
small_request (SdRequest *q, int size)
{
  sd_request_init (q);
  q->prompt = "a red fox in the snow";
  q->width = q->height = size;
  q->seed = 42;
  q->global_steps = 6;
  q->detail_steps = 4;
}

static double
psnr (const float *a, const float *b, gsize n)
{
  double se = 0;
  gsize i;
  for (i = 0; i < n; i++)
    se += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
  return se == 0 ? INFINITY : 10.0 * log10 (n / se);
}

static void
test_pipeline_psnr (void)
{
  GError *error = NULL;
  SdEngine *eg, *ec;
  SdRequest q;
  SdResult *rg, *rc;
  double p;

  if (cuda_test_skip ())
    return;
  eg = open_engine ("cuda", &error);
  g_assert_no_error (error);
  ec = open_engine ("cpu", &error);
  g_assert_no_error (error);
  small_request (&q, 512);
  rg = sd_engine_generate (eg, &q, NULL, &error);
  g_assert_no_error (error);
  rc = sd_engine_generate (ec, &q, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rg->width, ==, rc->width);
  g_assert_cmpint (rg->height, ==, rc->height);
  p = psnr (rg->rgb, rc->rgb, (gsize) rg->width * rg->height * 3);
  g_test_message ("pipeline %dx%d: GPU vs CPU PSNR %.2f dB (peak GPU memory %.1f MiB)", rg->width, rg->height, p,
                  rg->peak_device_bytes / 1048576.0);
  g_assert_cmpfloat (p, >=, MIN_PSNR);
  g_assert_cmpuint (rg->peak_device_bytes, >, 0);
  sd_result_free (rg);
  sd_result_free (rc);
  sd_engine_close (eg);
  sd_engine_close (ec);
}

/* A size the limit cannot hold fails with an out-of-memory error naming the size asked for;
 * the same engine then generates a small image. */
static void
test_out_of_memory (void)
{
  GError *error = NULL;
  SdEngine *e;
  SdRequest q;
  SdResult *r;

  if (cuda_test_skip ())
    return;
  g_setenv ("SCALEDIT_CUDA_MEMORY_LIMIT", "48M", TRUE);
  e = open_engine ("cuda", &error);
  g_unsetenv ("SCALEDIT_CUDA_MEMORY_LIMIT");
  g_assert_no_error (error);
  small_request (&q, 4096);
  q.global_steps = 2;
  q.detail_steps = 1;
  r = sd_engine_generate (e, &q, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_test_message ("4096² under a 48 MiB limit: %s", error->message);
  g_assert_nonnull (strstr (error->message, "allocating"));
  g_assert_nonnull (strstr (error->message, "bytes"));
  g_clear_error (&error);
  small_request (&q, 256);
  r = sd_engine_generate (e, &q, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
  g_assert_cmpuint (r->peak_device_bytes, <=, (gsize) 48 << 20);
  sd_result_free (r);
  sd_engine_close (e);
  /* a malformed limit is refused by name */
  g_setenv ("SCALEDIT_CUDA_MEMORY_LIMIT", "lots", TRUE);
  e = open_engine ("cuda", &error);
  g_unsetenv ("SCALEDIT_CUDA_MEMORY_LIMIT");
  g_assert_null (e);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "SCALEDIT_CUDA_MEMORY_LIMIT"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  int rc;
  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("sdcudamodels-XXXXXX", NULL);
  g_test_add_func ("/cuda/models/flux", test_flux);
  g_test_add_func ("/cuda/models/text-encoders", test_text_encoders);
  g_test_add_func ("/cuda/models/vae", test_vae);
  g_test_add_func ("/cuda/models/vae-tiled", test_vae_tiled);
  g_test_add_func ("/cuda/models/pipeline-psnr", test_pipeline_psnr);
  g_test_add_func ("/cuda/models/out-of-memory", test_out_of_memory);
  rc = g_test_run ();
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  return rc;
}

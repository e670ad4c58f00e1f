/* test_pipeline.c: the two-stage Scale-DiT pipeline on the CPU with a tiny random model
 * (tests/data/pipeline-model): sizes that are not multiples of 16, preview-then-commit equal to
 * one run, upscaling, seeds and thread counts, cancel in every phase, requests refused naming the
 * value, guidance recorded only where the model has a guidance embedding, and a request refused
 * for want of host memory before it starts. */
#include <string.h>

#include "scaledit.h"
#include "testutil.h"

static SdEngine *
open_engine (int threads)
{
  char *path = sd_test_data_path ("pipeline-model");
  SdEngineOptions o = { 0 };
  GError *error = NULL;
  SdEngine *e;
  o.path = path;
  o.backend = "cpu";
  o.threads = threads;
  e = sd_engine_open (&o, &error);
  g_assert_no_error (error);
  g_free (path);
  return e;
}

static void
small_request (SdRequest *q, int w, int h)
{
  sd_request_init (q);
  q->prompt = "a desert with dunes at night under the moon";
  q->width = w;
  q->height = h;
  q->seed = 11;
  q->global_steps = 4;
  q->detail_steps = 3;
}

static SdResult *
generate (SdEngine *e, const SdRequest *q)
{
  GError *error = NULL;
  SdResult *r = sd_engine_generate (e, q, NULL, &error);
  g_assert_no_error (error);
  return r;
}

static gboolean
same_pixels (const SdResult *a, const SdResult *b)
{
  return a->width == b->width && a->height == b->height
         && memcmp (a->rgb, b->rgb, (gsize) a->width * a->height * 3 * sizeof (float)) == 0;
}

static void
test_odd_size_and_parameters (void)
{
  SdEngine *e = open_engine (0);
  SdRequest q;
  SdResult *r;
  gsize i, n;
  small_request (&q, 333, 150);
  r = generate (e, &q);
  g_assert_cmpint (r->width, ==, 333);
  g_assert_cmpint (r->height, ==, 150);
  n = (gsize) r->width * r->height * 3;
  for (i = 0; i < n; i++)
    g_assert_true (r->rgb[i] >= 0 && r->rgb[i] <= 1);
  g_assert_true (g_str_has_prefix (r->parameters, "a desert with dunes at night under the moon\nSteps: 4, "));
  g_assert_nonnull (strstr (r->parameters, "Seed: 11, Size: 333x150, Model: pipeline-model"));
  sd_result_free (r);
  sd_engine_close (e);
}

static void
test_1024 (void)
{
  SdEngine *e = open_engine (0);
  SdRequest q;
  SdResult *r;
  small_request (&q, 1024, 1024);
  q.global_steps = 2;
  q.detail_steps = 1;
  r = generate (e, &q);
  g_assert_cmpint (r->width, ==, 1024);
  g_assert_cmpint (r->height, ==, 1024);
  sd_result_free (r);
  sd_engine_close (e);
}

static void
test_preview_then_commit (void)
{
  SdEngine *e1 = open_engine (0), *e2 = open_engine (0);
  SdRequest q;
  SdResult *preview, *commit, *one;
  small_request (&q, 256, 192);
  q.preview_only = TRUE;
  preview = generate (e1, &q);
  g_assert_cmpint (preview->width, ==, 64);
  g_assert_cmpint (preview->height, ==, 48);
  q.preview_only = FALSE;
  commit = generate (e1, &q);
  one = generate (e2, &q);
  g_assert_true (same_pixels (commit, one));
  /* the same seed again gives the same picture */
  sd_result_free (one);
  one = generate (e2, &q);
  g_assert_true (same_pixels (commit, one));
  sd_result_free (preview);
  sd_result_free (commit);
  sd_result_free (one);
  sd_engine_close (e1);
  sd_engine_close (e2);
}

static void
test_threads_identical (void)
{
  SdEngine *e1 = open_engine (1), *e2 = open_engine (2);
  SdRequest q;
  SdResult *a, *b;
  small_request (&q, 192, 128);
  a = generate (e1, &q);
  b = generate (e2, &q);
  g_assert_true (same_pixels (a, b));
  sd_result_free (a);
  sd_result_free (b);
  sd_engine_close (e1);
  sd_engine_close (e2);
}

static void
test_upscale (void)
{
  SdEngine *e = open_engine (0);
  SdRequest q;
  SdResult *r;
  float *input = g_new (float, 80 * 60 * 3);
  int i;
  for (i = 0; i < 80 * 60 * 3; i++)
    input[i] = (float) ((i * 37) % 255) / 255.0f;
  small_request (&q, 320, 240);
  q.init_rgb = input;
  q.init_width = 80;
  q.init_height = 60;
  r = generate (e, &q);
  g_assert_cmpint (r->width, ==, 320);
  g_assert_cmpint (r->height, ==, 240);
  g_assert_nonnull (strstr (r->parameters, "Upscaled from: 80x60"));
  sd_result_free (r);
  g_free (input);
  sd_engine_close (e);
}

typedef struct {
  const char *phase;
  volatile gint flag;
  int calls_after;
} CancelAt;

static void
cancel_progress (const char *phase, int step, int total, gpointer data)
{
  CancelAt *c = data;
  if (g_atomic_int_get (&c->flag))
    c->calls_after++;
  else if (g_str_equal (phase, c->phase) && step < total)
    g_atomic_int_set (&c->flag, 1);
}

static void
test_cancel_each_phase (void)
{
  const char *phases[] = { "global", "handover", "detail" };
  SdEngine *e = open_engine (0);
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (phases); i++)
    {
      CancelAt c = { phases[i], 0, 0 };
      SdCallbacks cb = { cancel_progress, NULL, &c, &c.flag };
      GError *error = NULL;
      SdRequest q;
      SdResult *r;
      small_request (&q, 192, 128);
      q.seed = 100 + i; /* no cached global pass */
      r = sd_engine_generate (e, &q, &cb, &error);
      g_assert_null (r);
      g_assert_error (error, SD_ERROR, SD_ERROR_CANCELLED);
      /* stopped within one step: no further progress of another step was reported */
      g_assert_cmpint (c.calls_after, <=, 1);
      g_clear_error (&error);
    }
  sd_engine_close (e);
}

static void
test_bad_requests (void)
{
  SdEngine *e = open_engine (0);
  SdRequest q;
  GError *error = NULL;
  small_request (&q, 0, 128);
  g_assert_null (sd_engine_generate (e, &q, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  small_request (&q, 100000, 128);
  g_assert_null (sd_engine_generate (e, &q, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  /* the message names the value that is wrong */
  small_request (&q, 512, 20000);
  g_assert_null (sd_engine_generate (e, &q, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "height 20000 is out of range: it must be between 64 and 16384 pixels");
  g_clear_error (&error);
  small_request (&q, 128, 128);
  q.detail_steps = 9;
  g_assert_null (sd_engine_generate (e, &q, NULL, &error));
  g_assert_nonnull (strstr (error->message, "detail steps 9 is out of range"));
  g_clear_error (&error);
  sd_engine_close (e);
}

/* Guidance is recorded in the parameters only for a model with a guidance embedding (the test
 * model has one; the bundled model, like FLUX.1-schnell, has none, so guidance does nothing). */
static void
test_guidance_recorded_only_when_used (void)
{
  SdEngine *guided = open_engine (0), *unguided;
  SdEngineOptions o = { 0 };
  GError *error = NULL;
  SdRequest q;
  SdResult *r;

  o.backend = "cpu"; /* no path: the bundled model */
  unguided = sd_engine_open (&o, &error);
  g_assert_no_error (error);
  g_assert_true (sd_engine_uses_guidance (guided));
  g_assert_false (sd_engine_uses_guidance (unguided));
  small_request (&q, 64, 64);
  q.global_steps = 2;
  q.detail_steps = 1;
  q.global_guidance = 7.0f;
  q.detail_guidance = 8.0f;
  r = generate (guided, &q);
  g_assert_nonnull (strstr (r->parameters, "Guidance: 7,"));
  g_assert_nonnull (strstr (r->parameters, "Detail guidance: 8,"));
  sd_result_free (r);
  r = generate (unguided, &q);
  g_test_message ("bundled model: %s", r->parameters);
  g_assert_null (strstr (r->parameters, "uidance"));
  g_assert_nonnull (strstr (r->parameters, "Model: scaledit-tiny, Detail steps: 1, Global factor: 4"));
  sd_result_free (r);
  sd_engine_close (guided);
  sd_engine_close (unguided);
}

static void
count_progress (const char *phase, int step, int total, gpointer data)
{
  (*(int *) data)++;
}

/* On the CPU a request larger than the host memory available (SCALEDIT_HOST_MEMORY_LIMIT stands
 * in for MemAvailable) is refused before any phase starts, naming the size and the figures; the
 * engine then runs a request that fits as before. */
static void
test_host_memory (void)
{
  SdEngine *e = open_engine (0);
  SdRequest q;
  SdCallbacks cb = { 0 };
  GError *error = NULL;
  SdResult *before, *after;
  int calls = 0;

  small_request (&q, 128, 96);
  before = generate (e, &q);
  g_setenv ("SCALEDIT_HOST_MEMORY_LIMIT", "16M", TRUE);
  cb.on_progress = count_progress;
  cb.user_data = &calls;
  small_request (&q, 1024, 1024);
  g_assert_null (sd_engine_generate (e, &q, &cb, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull (strstr (error->message, "1024x1024"));
  g_assert_nonnull (strstr (error->message, "0.0 GiB is available (SCALEDIT_HOST_MEMORY_LIMIT)"));
  g_assert_cmpint (calls, ==, 0);
  g_clear_error (&error);
  g_setenv ("SCALEDIT_HOST_MEMORY_LIMIT", "4G", TRUE);
  small_request (&q, 128, 96);
  after = generate (e, &q);
  g_assert_true (same_pixels (before, after));
  g_unsetenv ("SCALEDIT_HOST_MEMORY_LIMIT");
  sd_result_free (before);
  sd_result_free (after);
  sd_engine_close (e);
}

/* With less host memory than the VAE's intermediates take, those beyond it go to temporary files
 * and the picture is the very same; with less than what cannot go there, the request is refused
 * before any phase. */
static void
test_spill (void)
{
  static const char *limits[] = { "96M", "200M", "256M" };
  SdEngine *e = open_engine (0);
  SdRequest q;
  SdResult *whole, *r;
  GError *error = NULL;
  gsize i, spilled = 0;

  small_request (&q, 1024, 768);
  whole = generate (e, &q);
  g_assert_cmpuint (whole->spill_peak_bytes, ==, 0);
  for (i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      SdCallbacks cb = { 0 };
      int calls = 0;
      cb.on_progress = count_progress;
      cb.user_data = &calls;
      g_setenv ("SCALEDIT_HOST_MEMORY_LIMIT", limits[i], TRUE);
      r = sd_engine_generate (e, &q, &cb, &error);
      g_test_message ("limit %s: %s, %.1f MiB in temporary files", limits[i], r ? "done" : error->message,
                      r ? r->spill_peak_bytes / 1048576.0 : 0.0);
      if (!r)
        {
          g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
          g_assert_cmpint (calls, ==, 0);
          g_clear_error (&error);
          continue;
        }
      g_assert_true (same_pixels (whole, r));
      spilled += r->spill_peak_bytes > 0;
      sd_result_free (r);
    }
  g_unsetenv ("SCALEDIT_HOST_MEMORY_LIMIT");
  g_assert_cmpuint (spilled, >=, 2);
  sd_result_free (whole);
  sd_engine_close (e);
}

static void
test_missing_model (void)
{
  SdEngineOptions o = { 0 };
  GError *error = NULL;
  o.path = "/nonexistent/model";
  g_assert_null (sd_engine_open (&o, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipeline/odd-size-and-parameters", test_odd_size_and_parameters);
  g_test_add_func ("/pipeline/1024", test_1024);
  g_test_add_func ("/pipeline/preview-then-commit", test_preview_then_commit);
  g_test_add_func ("/pipeline/threads-identical", test_threads_identical);
  g_test_add_func ("/pipeline/upscale", test_upscale);
  g_test_add_func ("/pipeline/cancel-each-phase", test_cancel_each_phase);
  g_test_add_func ("/pipeline/bad-requests", test_bad_requests);
  g_test_add_func ("/pipeline/guidance-recorded-only-when-used", test_guidance_recorded_only_when_used);
  g_test_add_func ("/pipeline/missing-model", test_missing_model);
  g_test_add_func ("/pipeline/host-memory", test_host_memory);
  g_test_add_func ("/pipeline/spill", test_spill);
  return g_test_run ();
}

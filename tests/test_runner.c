/* test_runner.c: the plug-in's engine runner (ui/runner.c) without GIMP: a cancelled request
 * reports SD_ERROR_CANCELLED exactly once and leaves the runner usable, its results equal the
 * engine's own for the same request, a busy runner refuses a second start, and freeing a busy
 * runner stops the worker and runs no callback afterwards (leaks: run it under valgrind/LSan); after
 * a file or device error the next request opens the engine afresh. */
#include <glib/gstdio.h>
#include <string.h>

#include "runner.h"
#include "testutil.h"

/* What the callbacks saw. */
typedef struct
{
  SdRunner *runner;
  int progress_calls, previews, done_calls;
  int cancel_at_global_step; /* > 0: cancel when the global pass reports this step */
  int last_global_step, global_total;
  SdResult *result;
  GError *error;
} Seen;

static void
on_progress (const char *phase, int step, int total, gpointer data)
{
  Seen *s = data;
  s->progress_calls++;
  if (!g_str_equal (phase, "global"))
    return;
  s->last_global_step = step;
  s->global_total = total;
  if (s->cancel_at_global_step > 0 && step == s->cancel_at_global_step)
    sd_runner_cancel (s->runner);
}

static void
on_preview (const float *rgb, int width, int height, gpointer data)
{
  ((Seen *) data)->previews++;
}

static void
on_done (SdResult *result, const GError *error, gpointer data)
{
  Seen *s = data;
  s->done_calls++;
  s->result = result;
  if (error)
    s->error = g_error_copy (error);
}

static const SdRunnerCallbacks callbacks = { on_progress, on_preview, on_done, NULL };

static void
seen_clear (Seen *s)
{
  sd_result_free (s->result);
  g_clear_error (&s->error);
  memset (s, 0, sizeof *s);
}

static void
request (SdRequest *q, int side, int global_steps, int detail_steps)
{
  sd_request_init (q);
  q->prompt = "a lighthouse on a cliff in a storm";
  q->width = side;
  q->height = side;
  q->seed = 23;
  q->global_steps = global_steps;
  q->detail_steps = detail_steps;
}

/* Starts q on the runner and runs the main context until its on_done. */
static void
run (SdRunner *runner, const char *model, const SdRequest *q, Seen *s)
{
  SdRunnerCallbacks cb = callbacks;
  cb.user_data = s;
  s->runner = runner;
  g_assert_true (sd_runner_start (runner, model, "cpu", q, &cb));
  g_assert_true (sd_runner_busy (runner));
  sd_runner_wait (runner);
  g_assert_false (sd_runner_busy (runner));
  g_assert_cmpint (s->done_calls, ==, 1);
}

/* The engine's own result for q, through a separately opened engine (the reference). */
static SdResult *
engine_generate (const char *model, const SdRequest *q)
{
  SdEngineOptions o = { 0 };
  GError *error = NULL;
  SdEngine *e;
  SdResult *r;

  o.path = model;
  o.backend = "cpu";
  e = sd_engine_open (&o, &error);
  g_assert_no_error (error);
  r = sd_engine_generate (e, q, NULL, &error);
  g_assert_no_error (error);
  sd_engine_close (e);
  return r;
}

static void
assert_same_pixels (const SdResult *a, const SdResult *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpint (a->seed, ==, b->seed);
  g_assert_true (memcmp (a->rgb, b->rgb, (gsize) a->width * a->height * 3 * sizeof (float)) == 0);
  g_assert_cmpstr (a->parameters, ==, b->parameters);
}

/* Cancel before the worker reaches the first step: a cancelled error, no result, no preview;
 * then the same runner runs a preview and its commit, equal to the engine's single run. */
static void
test_cancel_at_once (void)
{
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  SdRunner *runner = sd_runner_new ();
  SdRunnerCallbacks cb = callbacks;
  SdRequest q;
  SdResult *reference;
  Seen s = { 0 };

  request (&q, 128, 6, 3);
  cb.user_data = &s;
  s.runner = runner;
  g_assert_true (sd_runner_start (runner, model, "cpu", &q, &cb));
  sd_runner_cancel (runner);
  sd_runner_wait (runner);
  g_assert_cmpint (s.done_calls, ==, 1);
  g_assert_null (s.result);
  g_assert_error (s.error, SD_ERROR, SD_ERROR_CANCELLED);
  g_assert_cmpint (s.previews, ==, 0);
  g_assert_false (sd_runner_busy (runner));
  seen_clear (&s);

  /* the dialog's flow: a preview, then the full run continues from it */
  q.preview_only = TRUE;
  run (runner, model, &q, &s);
  g_assert_no_error (s.error);
  g_assert_nonnull (s.result);
  g_assert_cmpint (s.previews, ==, 1);
  g_assert_cmpint (s.result->width, ==, 32); /* the global pass: a quarter of the side */
  seen_clear (&s);
  q.preview_only = FALSE;
  run (runner, model, &q, &s);
  g_assert_no_error (s.error);
  g_assert_nonnull (s.result);
  reference = engine_generate (model, &q);
  assert_same_pixels (s.result, reference);
  sd_result_free (reference);
  seen_clear (&s);
  sd_runner_free (runner);
}

/* Cancel from the main thread when the global pass reports its second step: the request ends
 * cancelled before its last step, and the next request on the runner is unaffected. */
static void
test_cancel_mid_run (void)
{
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  SdRunner *runner = sd_runner_new ();
  SdRequest q;
  SdResult *reference;
  Seen s = { 0 };

  request (&q, 64, 1000, 2);
  s.cancel_at_global_step = 2;
  run (runner, model, &q, &s);
  g_test_message ("cancelled after global step %d of %d", s.last_global_step, s.global_total);
  g_assert_null (s.result);
  g_assert_error (s.error, SD_ERROR, SD_ERROR_CANCELLED);
  g_assert_cmpint (s.global_total, ==, 1000);
  g_assert_cmpint (s.last_global_step, <, s.global_total);
  seen_clear (&s);

  request (&q, 64, 4, 2);
  run (runner, model, &q, &s);
  g_assert_no_error (s.error);
  reference = engine_generate (model, &q);
  assert_same_pixels (s.result, reference);
  sd_result_free (reference);
  seen_clear (&s);
  sd_runner_free (runner);
}

/* A second start while a request runs is refused and changes nothing. */
static void
test_busy (void)
{
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  SdRunner *runner = sd_runner_new ();
  SdRunnerCallbacks cb = callbacks;
  SdRequest q, other;
  Seen s = { 0 }, t = { 0 };

  request (&q, 64, 4, 2);
  request (&other, 96, 4, 2);
  cb.user_data = &s;
  s.runner = runner;
  g_assert_true (sd_runner_start (runner, model, "cpu", &q, &cb));
  cb.user_data = &t;
  g_assert_false (sd_runner_start (runner, model, "cpu", &other, &cb));
  sd_runner_wait (runner);
  g_assert_cmpint (s.done_calls, ==, 1);
  g_assert_cmpint (t.done_calls + t.progress_calls + t.previews, ==, 0);
  g_assert_no_error (s.error);
  g_assert_cmpint (s.result->width, ==, 64);
  seen_clear (&s);
  sd_runner_free (runner);
}

/* A request that fails on a file (a LoRA that is not a safetensors file) closes the engine: the
 * runner's next request gives the engine's own result; only cancels, argument errors and
 * out-of-memory keep the engine. */
static void
test_after_file_error (void)
{
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  g_autofree char *dir = g_dir_make_tmp ("runner-XXXXXX", NULL);
  g_autofree char *lora = g_build_filename (dir, "bad.safetensors", NULL);
  SdRunner *runner = sd_runner_new ();
  SdResult *ref;
  SdRequest q, bad;
  Seen s = { 0 };
  GError *kinds[] = {
    g_error_new (SD_ERROR, SD_ERROR_CANCELLED, "c"), g_error_new (SD_ERROR, SD_ERROR_ARGUMENT, "a"),
    g_error_new (SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "m"), g_error_new (SD_ERROR, SD_ERROR_BACKEND, "b"),
    g_error_new (SD_ERROR, SD_ERROR_IO, "i"), g_error_new (SD_ERROR, SD_ERROR_FORMAT, "f"),
  };
  gboolean survives[] = { TRUE, TRUE, TRUE, FALSE, FALSE, FALSE };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_assert_cmpint (sd_runner_engine_survives (kinds[i]), ==, survives[i]);
      g_error_free (kinds[i]);
    }
  g_assert_true (g_file_set_contents (lora, "this is not a LoRA", -1, NULL));
  request (&q, 64, 4, 2);
  bad = q;
  bad.lora_path = lora;
  run (runner, model, &bad, &s);
  g_assert_nonnull (s.error);
  g_assert_false (sd_runner_engine_survives (s.error));
  seen_clear (&s);
  run (runner, model, &q, &s);
  g_assert_no_error (s.error);
  ref = engine_generate (model, &q);
  assert_same_pixels (s.result, ref);
  sd_result_free (ref);
  seen_clear (&s);
  sd_runner_free (runner);
  g_unlink (lora);
  g_rmdir (dir);
}

/* Freeing a busy runner cancels and joins its worker; the messages it had posted are dropped:
 * no callback runs after the free, and their memory goes when the context dispatches them. */
static void
test_free_while_busy (void)
{
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  SdRunner *runner = sd_runner_new ();
  SdRunnerCallbacks cb = callbacks;
  SdRequest q;
  Seen s = { 0 };
  gint64 until;

  request (&q, 64, 1000, 2);
  cb.user_data = &s;
  s.runner = runner;
  g_assert_true (sd_runner_start (runner, model, "cpu", &q, &cb));
  /* let it reach the sampling loop, so that messages are queued */
  while (s.last_global_step < 1)
    g_main_context_iteration (NULL, TRUE);
  sd_runner_free (runner);
  s.runner = NULL;
  until = g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpint (s.done_calls, ==, 0);
  g_assert_cmpint (s.last_global_step, <, 1000);
  g_assert_false (g_main_context_pending (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runner/cancel-at-once", test_cancel_at_once);
  g_test_add_func ("/runner/cancel-mid-run", test_cancel_mid_run);
  g_test_add_func ("/runner/busy", test_busy);
  g_test_add_func ("/runner/free-while-busy", test_free_while_busy);
  g_test_add_func ("/runner/after-file-error", test_after_file_error);
  return g_test_run ();
}

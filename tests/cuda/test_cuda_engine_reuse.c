/* test_cuda_engine_reuse.c: one CUDA engine serving many requests, as the plug-in's dialog uses it:
 * 50 generations with flat host and device memory and identical pixels, and an out-of-memory in
 * the middle of a request (after the global pass) that leaves the engine usable and unchanged. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cuda_testutil.h"
#include "engine_internal.h"
#include "scaledit.h"
#include "testutil.h"

#define N_GENERATIONS 50
#define WARM_UP 5
/* host growth allowed over the 45 generations after the warm-up (allocator noise, not a leak:
 * one leaked 512² RGB float picture alone is 3 MiB, so a per-request leak would show 135 MiB) */
#define HOST_SLACK_BYTES ((gsize) 24 << 20)

static SdEngine *
open_cuda_engine (GError **error)
{
  SdEngineOptions o = { 0 };
  g_autofree char *model = sd_test_data_path ("pipeline-model");
  o.path = model;
  o.backend = "cuda";
  return sd_engine_open (&o, error);
}

static void
request (SdRequest *q, int size)
{
  sd_request_init (q);
  q->prompt = "a red fox in the snow";
  q->width = q->height = size;
  q->seed = 42;
  q->global_steps = 6;
  q->detail_steps = 4;
}

/* Resident host memory in bytes, from /proc/self/statm. */
static gsize
resident_bytes (void)
{
  g_autofree char *text = NULL;
  unsigned long long pages_total = 0, pages_resident = 0;
  g_assert_true (g_file_get_contents ("/proc/self/statm", &text, NULL, NULL));
  g_assert_cmpint (sscanf (text, "%llu %llu", &pages_total, &pages_resident), ==, 2);
  return (gsize) pages_resident * (gsize) sysconf (_SC_PAGESIZE);
}

static void
test_fifty_generations (void)
{
  GError *error = NULL;
  SdEngine *e;
  SdRequest q;
  SdResult *first = NULL;
  gsize device_after_first = 0, host_after_warm_up = 0, host_max = 0;
  int i;

  if (cuda_test_skip ())
    return;
  e = open_cuda_engine (&error);
  g_assert_no_error (error);
  request (&q, 512);
  for (i = 0; i < N_GENERATIONS; i++)
    {
      SdResult *r = sd_engine_generate (e, &q, NULL, &error);
      gsize host = resident_bytes ();
      g_assert_no_error (error);
      if (i == 0)
        {
          first = r;
          device_after_first = e->be->bytes_in_use;
          continue;
        }
      /* the same request gives the same pixels every time */
      g_assert_cmpint (memcmp (r->rgb, first->rgb, sizeof (float) * 3 * r->width * r->height), ==, 0);
      g_assert_cmpuint (r->peak_device_bytes, ==, first->peak_device_bytes);
      /* what a request allocates on the device, it releases */
      g_assert_cmpuint (e->be->bytes_in_use, ==, device_after_first);
      sd_result_free (r);
      if (i == WARM_UP)
        host_after_warm_up = host;
      if (i >= WARM_UP)
        host_max = MAX (host_max, host);
    }
  g_test_message ("%d generations at 512²: device in use %.1f MiB after each, peak %.1f MiB; host "
                  "resident %.1f MiB after %d, at most %.1f MiB after", N_GENERATIONS,
                  device_after_first / 1048576.0, first->peak_device_bytes / 1048576.0,
                  host_after_warm_up / 1048576.0, WARM_UP, host_max / 1048576.0);
  g_assert_cmpuint (host_max, <=, host_after_warm_up + HOST_SLACK_BYTES);
  sd_result_free (first);
  sd_engine_close (e);
}

typedef struct {
  gboolean global_done; /* the global pass finished before the failure */
} Phases;

static void
on_progress (const char *phase, int step, int total, gpointer data)
{
  Phases *p = data;
  if (g_str_equal (phase, "global") && step == total)
    p->global_done = TRUE;
}

/* A limit the global pass fits in but the full-size passes do not: the request fails with an
 * out-of-memory error after the global pass; every device byte comes back, and the next request
 * gives the very pixels the engine gave before the failure. */
static void
test_out_of_memory_mid_request (void)
{
  GError *error = NULL;
  SdEngine *e;
  SdRequest q;
  SdResult *before, *after, *r;
  Phases phases = { FALSE };
  SdCallbacks cb = { on_progress, NULL, &phases, NULL };
  gsize in_use, limit;
  char limit_text[32];

  if (cuda_test_skip ())
    return;
  /* the limit: what a 256² request peaks at, far below what 2048² needs */
  e = open_cuda_engine (&error);
  g_assert_no_error (error);
  request (&q, 256);
  r = sd_engine_generate (e, &q, NULL, &error);
  g_assert_no_error (error);
  limit = r->peak_device_bytes + ((gsize) 8 << 20);
  sd_result_free (r);
  sd_engine_close (e);

  g_snprintf (limit_text, sizeof limit_text, "%" G_GSIZE_FORMAT, limit);
  g_setenv ("SCALEDIT_CUDA_MEMORY_LIMIT", limit_text, TRUE);
  e = open_cuda_engine (&error);
  g_unsetenv ("SCALEDIT_CUDA_MEMORY_LIMIT");
  g_assert_no_error (error);
  request (&q, 256);
  before = sd_engine_generate (e, &q, NULL, &error);
  g_assert_no_error (error);
  in_use = e->be->bytes_in_use;

  request (&q, 2048);
  q.global_factor = 8; /* a 256² global pass, which the limit holds */
  r = sd_engine_generate (e, &q, &cb, &error);
  g_assert_null (r);
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_test_message ("2048² under a %.1f MiB limit: %s (global pass %s)", limit / 1048576.0,
                  error->message, phases.global_done ? "done" : "not done");
  g_assert_true (phases.global_done);
  g_clear_error (&error);
  g_assert_cmpuint (e->be->bytes_in_use, ==, in_use);

  request (&q, 256);
  after = sd_engine_generate (e, &q, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (memcmp (after->rgb, before->rgb, sizeof (float) * 3 * 256 * 256), ==, 0);
  sd_result_free (before);
  sd_result_free (after);
  sd_engine_close (e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda/engine-reuse/fifty-generations", test_fifty_generations);
  g_test_add_func ("/cuda/engine-reuse/out-of-memory-mid-request", test_out_of_memory_mid_request);
  return g_test_run ();
}

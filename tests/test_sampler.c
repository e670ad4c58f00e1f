/* test_sampler.c: FLUX's sigma schedules against diffusers' FlowMatchEulerDiscreteScheduler
 * (tests/data/flux/scheduler.json) to 1e-6 relative, and the Euler step against its formula. */
#include <json-glib/json-glib.h>
#include <math.h>

#include "sampler.h"
#include "testutil.h"

static void
test_sigmas_match_diffusers (void)
{
  char *path = sd_test_data_path ("flux/scheduler.json");
  JsonParser *p = json_parser_new ();
  GError *error = NULL;
  JsonArray *cases;
  guint i, checked = 0;

  g_assert_true (json_parser_load_from_file (p, path, &error));
  cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)), "cases");
  for (i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *c = json_array_get_object_element (cases, i);
      const char *kind = json_object_get_string_member (c, "kind");
      int steps = (int) json_object_get_int_member (c, "steps");
      int w = (int) json_object_get_int_member (c, "width"), h = (int) json_object_get_int_member (c, "height");
      JsonArray *sig = json_object_get_array_member (c, "sigmas");
      JsonArray *ts = json_object_get_array_member (c, "timesteps");
      SdSchedule s;
      double mu = 0;
      float *got = g_new (float, steps + 1);
      int k;

      sd_schedule_init_dev (&s);
      if (g_str_equal (kind, "schnell"))
        {
          s.dynamic_shift = FALSE;
          s.shift = 1.0;
        }
      else
        {
          mu = sd_schedule_mu (&s, (w / 16) * (h / 16));
          g_assert_cmpfloat (fabs (mu - json_object_get_double_member (c, "mu")), <=, 1e-9 * fabs (mu));
        }
      sd_schedule_sigmas (&s, steps, mu, got);
      g_assert_cmpuint (json_array_get_length (sig), ==, steps + 1);
      for (k = 0; k <= steps; k++)
        {
          double ref = json_array_get_double_element (sig, k);
          g_assert_cmpfloat (fabs (got[k] - ref), <=, 1e-6 * fabs (ref));
          if (k < steps)
            {
              double tref = json_array_get_double_element (ts, k);
              g_assert_cmpfloat (fabs (got[k] * 1000.0f - tref), <=, 1e-6 * fabs (tref));
            }
          checked++;
        }
      g_free (got);
    }
  g_test_message ("%u sigmas checked", checked);
  g_assert_cmpuint (checked, >, 500);
  g_object_unref (p);
  g_free (path);
}

static void
test_scheduler_config (void)
{
  char *path = sd_test_data_path ("flux/schnell/scheduler/scheduler_config.json");
  GError *error = NULL;
  SdSchedule s;
  g_assert_true (sd_schedule_from_json (path, &s, &error));
  g_assert_no_error (error);
  g_assert_false (s.dynamic_shift);
  g_assert_cmpfloat (s.shift, ==, 1.0);
  g_free (path);
}

static void
test_euler_step (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  GRand *rng = g_rand_new ();
  float *x = sd_test_random (rng, 100, 1), *v = sd_test_random (rng, 100, 1), *got;
  SdBuf *bx = sd_buf_from_host (be, x, 100, NULL), *bv = sd_buf_from_host (be, v, 100, NULL);
  int i;

  sd_euler_step (be, bx, bv, 100, 0.8f, 0.6f);
  got = sd_buf_to_host (be, bx, 0, 100, NULL);
  for (i = 0; i < 100; i++)
    g_assert_cmpfloat (fabsf (got[i] - (x[i] + (0.6f - 0.8f) * v[i])), <=, 1e-6f);
  g_free (got);
  g_free (x);
  g_free (v);
  be->ops->release (be, bx);
  be->ops->release (be, bv);
  sd_backend_close (be);
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sampler/sigmas-match-diffusers", test_sigmas_match_diffusers);
  g_test_add_func ("/sampler/scheduler-config", test_scheduler_config);
  g_test_add_func ("/sampler/euler-step", test_euler_step);
  return g_test_run ();
}

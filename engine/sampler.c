/* sampler.c: FLUX's rectified-flow schedule (sigmas with the resolution-dependent shift) as
 * diffusers' FlowMatchEulerDiscreteScheduler computes it, and the Euler step. */
#include <json-glib/json-glib.h>
#include <math.h>

#include "json_object.h"
#include "sampler.h"
#include "scaledit.h"

void
sd_schedule_init_dev (SdSchedule *s)
{
  s->dynamic_shift = TRUE;
  s->base_shift = 0.5;
  s->max_shift = 1.15;
  s->base_seq_len = 256;
  s->max_seq_len = 4096;
  s->shift = 3.0;
}

static double
num (JsonObject *o, const char *key, double def)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || !JSON_NODE_HOLDS_VALUE (n))
    return def;
  return json_node_get_value_type (n) == G_TYPE_BOOLEAN ? json_node_get_boolean (n) : json_node_get_double (n);
}

gboolean
sd_schedule_from_json (const char *path, SdSchedule *s, GError **error)
{
  JsonParser *p;
  JsonObject *o;
  gboolean ok = FALSE;

  sd_schedule_init_dev (s);
  p = sd_json_object_load (path, error);
  if (!p)
    return FALSE;
  o = json_node_get_object (json_parser_get_root (p));
  s->dynamic_shift = num (o, "use_dynamic_shifting", s->dynamic_shift) != 0;
  s->base_shift = num (o, "base_shift", s->base_shift);
  s->max_shift = num (o, "max_shift", s->max_shift);
  s->base_seq_len = (int) num (o, "base_image_seq_len", s->base_seq_len);
  s->max_seq_len = (int) num (o, "max_image_seq_len", s->max_seq_len);
  s->shift = num (o, "shift", s->shift);
  if (s->max_seq_len == s->base_seq_len || s->shift <= 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: base and max image sequence lengths must differ and shift be > 0",
                   path);
      goto out;
    }
  ok = TRUE;
out:
  g_object_unref (p);
  return ok;
}

double
sd_schedule_mu (const SdSchedule *s, int image_tokens)
{
  double m = (s->max_shift - s->base_shift) / (s->max_seq_len - s->base_seq_len);
  double b = s->base_shift - m * s->base_seq_len;
  return image_tokens * m + b;
}

void
sd_schedule_sigmas (const SdSchedule *s, int steps, double mu, float *sigmas)
{
  int i;
  for (i = 0; i < steps; i++)
    {
      /* np.linspace(1, 1/steps, steps), taken to f32 as diffusers does before shifting */
      double lin = steps == 1 ? 1.0 : 1.0 + (1.0 / steps - 1.0) * i / (steps - 1);
      double t = (float) lin;
      double shifted;
      if (s->dynamic_shift)
        shifted = exp (mu) / (exp (mu) + (1.0 / t - 1.0));
      else
        shifted = s->shift * t / (1.0 + (s->shift - 1.0) * t);
      sigmas[i] = (float) shifted;
    }
  sigmas[steps] = 0.0f;
}

void
sd_euler_step (SdBackend *be, SdBuf *x, SdBuf *v, gsize n, float sigma, float sigma_next)
{
  be->ops->axpby (be, sigma_next - sigma, sd_view (v, 0, (int) n), 1.0f, sd_view (x, 0, (int) n), 1, (int) n);
}

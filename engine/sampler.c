/* sampler.c: FLUX's rectified-flow schedule (sigmas with the resolution-dependent shift) as
 * diffusers' FlowMatchEulerDiscreteScheduler computes it, and the Euler step. */
#include <json-glib/json-glib.h>
#include <math.h>

#include "config_fields.h"
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

gboolean
sd_schedule_from_object (JsonObject *o, const char *file, SdSchedule *s, GError **error)
{
  sd_schedule_init_dev (s);
  if (!sd_config_bool (o, file, "use_dynamic_shifting", s->dynamic_shift, &s->dynamic_shift, error)
      || !sd_config_double (o, file, "base_shift", s->base_shift, -SD_SCHEDULE_MAX_SHIFT, SD_SCHEDULE_MAX_SHIFT,
                            &s->base_shift, error)
      || !sd_config_double (o, file, "max_shift", s->max_shift, -SD_SCHEDULE_MAX_SHIFT, SD_SCHEDULE_MAX_SHIFT,
                            &s->max_shift, error)
      || !sd_config_int (o, file, "base_image_seq_len", s->base_seq_len, 1, SD_SCHEDULE_MAX_SEQ_LEN,
                         &s->base_seq_len, error)
      || !sd_config_int (o, file, "max_image_seq_len", s->max_seq_len, 1, SD_SCHEDULE_MAX_SEQ_LEN,
                         &s->max_seq_len, error)
      || !sd_config_double (o, file, "shift", s->shift, 1e-6, SD_SCHEDULE_MAX_SHIFT, &s->shift, error))
    return FALSE;
  if (s->max_seq_len == s->base_seq_len)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: base_image_seq_len and max_image_seq_len must differ (both are %d)", file, s->base_seq_len);
      return FALSE;
    }
  return TRUE;
}

gboolean
sd_schedule_from_json (const char *path, SdSchedule *s, GError **error)
{
  JsonParser *p;
  gboolean ok;

  sd_schedule_init_dev (s);
  if (!(p = sd_json_object_load (path, error)))
    return FALSE;
  ok = sd_schedule_from_object (json_node_get_object (json_parser_get_root (p)), path, s, error);
  g_object_unref (p);
  return ok;
}

double
sd_schedule_mu (const SdSchedule *s, int image_tokens)
{
  double m = (s->max_shift - s->base_shift) / ((double) s->max_seq_len - s->base_seq_len);
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
        {
          /* exp(mu) as a finite positive number: beyond +-700 the quotient is already 1 or 0 */
          double e = exp (CLAMP (mu, -700.0, 700.0));
          shifted = e / (e + (1.0 / t - 1.0));
        }
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

/* vae.c: decode and encode for the pipeline: FLUX latent scaling, the pass plan and its tiled run. */
#include <string.h>

#include "scaledit.h"
#include "vae_internal.h"

float *
sd_vae_decode (SdVae *vae, const float *latents, int lw, int lh, const SdVaeTiling *tiling,
               SdVaeStats *stats, GError **error)
{
  const SdVaeConfig *c = &vae->cfg;
  const gsize n = (gsize) c->latent_channels * lw * lh;
  VaePlan *plan;
  VaeSlot *in;
  float *out = NULL;
  gsize i;

  if (lw <= 0 || lh <= 0 || lw > (1 << 15) || lh > (1 << 15))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "VAE decode: latent size %dx%d out of range", lw, lh);
      return NULL;
    }
  plan = sd_vae_plan_decoder (vae, lh, lw);
  in = &g_array_index (plan->slots, VaeSlot, plan->input);
  in->data = g_try_new (float, n);
  if (!in->data)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "VAE decode: out of host memory for the latents");
      sd_vae_plan_free (plan);
      return NULL;
    }
  for (i = 0; i < n; i++)
    in->data[i] = latents[i] / c->scaling_factor + c->shift_factor;
  if (!sd_vae_run (vae, plan, tiling, stats, &out, error))
    g_prefix_error (error, "VAE decode: ");
  sd_vae_plan_free (plan);
  return out;
}

float *
sd_vae_encode (SdVae *vae, const float *image, int width, int height, const SdVaeTiling *tiling,
               SdVaeStats *stats, GError **error)
{
  const SdVaeConfig *c = &vae->cfg;
  const int f = sd_vae_factor (vae);
  const gsize n = (gsize) c->in_channels * width * height;
  VaePlan *plan;
  VaeSlot *in, *o;
  float *out = NULL;
  gsize i;

  if (width < f || height < f || width > (1 << 18) || height > (1 << 18))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "VAE encode: image size %dx%d out of range (at least %d pixels a side)", width, height, f);
      return NULL;
    }
  plan = sd_vae_plan_encoder (vae, height, width);
  in = &g_array_index (plan->slots, VaeSlot, plan->input);
  in->data = g_try_new (float, n);
  if (!in->data)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "VAE encode: out of host memory for the image");
      sd_vae_plan_free (plan);
      return NULL;
    }
  memcpy (in->data, image, n * sizeof (float));
  if (sd_vae_run (vae, plan, tiling, stats, &out, error))
    {
      /* The output slot holds the mean's channels first; scale them as FLUX latents. */
      o = &g_array_index (plan->slots, VaeSlot, plan->output);
      for (i = 0; i < (gsize) c->latent_channels * o->h * o->w; i++)
        out[i] = (out[i] - c->shift_factor) * c->scaling_factor;
    }
  else
    g_prefix_error (error, "VAE encode: ");
  sd_vae_plan_free (plan);
  return out;
}

gboolean
sd_vae_memory (SdVae *vae, gboolean encode, int width, int height, const SdVaeTiling *tiling,
               gsize *host_peak, gsize *spill_peak, gsize *work_peak, GError **error)
{
  const int f = sd_vae_factor (vae);
  VaePlan *plan;
  gboolean ok;

  if (width < f || height < f || width > (1 << 18) || height > (1 << 18))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "VAE: image size %dx%d out of range", width, height);
      return FALSE;
    }
  plan = encode ? sd_vae_plan_encoder (vae, height, width) : sd_vae_plan_decoder (vae, height / f, width / f);
  ok = sd_vae_run_memory (vae, plan, tiling, host_peak, spill_peak, work_peak, error);
  sd_vae_plan_free (plan);
  return ok;
}

/* vae_component.c: the vae-decode and vae-encode entries of `scaledit run-component`. */
#include "component.h"
#include "scaledit.h"
#include "vae.h"

/* Reads tensor `name` as [C, H, W] or [1, C, H, W] with C == channels. */
static float *
read_chw (SdTensorFile *inputs, const char *name, int channels, int *h, int *w, GError **error)
{
  const SdTensorInfo *t = sd_tensors_find (inputs, name);
  int o;
  if (!t)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: no input tensor \"%s\"", sd_tensors_path (inputs), name);
      return NULL;
    }
  o = t->ndim == 4 ? 1 : 0;
  if ((t->ndim != 3 && !(t->ndim == 4 && t->shape[0] == 1)) || t->shape[o] != channels
      || t->shape[o + 1] <= 0 || t->shape[o + 2] <= 0 || t->shape[o + 1] > G_MAXINT
      || t->shape[o + 2] > G_MAXINT)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "%s: tensor \"%s\" must have shape [%d, H, W] or [1, %d, H, W]", t->file, name,
                   channels, channels);
      return NULL;
    }
  *h = (int) t->shape[o + 1];
  *w = (int) t->shape[o + 2];
  return sd_tensor_to_f32 (t, error);
}

gboolean
sd_vae_component_decode (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                         GArray *outputs, GError **error)
{
  SdVae *vae = sd_vae_load (be, model_path, NULL, error);
  const SdVaeConfig *c;
  float *lat, *img;
  int h, w, f;
  if (!vae)
    return FALSE;
  c = sd_vae_get_config (vae);
  f = sd_vae_factor (vae);
  lat = read_chw (inputs, "latents", c->latent_channels, &h, &w, error);
  img = lat ? sd_vae_decode (vae, lat, w, h, NULL, NULL, error) : NULL;
  if (img)
    {
      gint64 shape[3] = { c->out_channels, (gint64) h * f, (gint64) w * f };
      sd_component_output (outputs, "image", 3, shape, img);
    }
  g_free (lat);
  sd_vae_free (vae);
  return img != NULL;
}

gboolean
sd_vae_component_encode (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                         GArray *outputs, GError **error)
{
  SdVae *vae = sd_vae_load (be, model_path, NULL, error);
  const SdVaeConfig *c;
  float *img, *lat;
  int h, w, lh, lw;
  if (!vae)
    return FALSE;
  c = sd_vae_get_config (vae);
  img = read_chw (inputs, "image", c->in_channels, &h, &w, error);
  lat = img ? sd_vae_encode (vae, img, w, h, NULL, NULL, error) : NULL;
  if (lat)
    {
      gint64 shape[3];
      sd_vae_latent_size (vae, w, h, &lw, &lh);
      shape[0] = c->latent_channels;
      shape[1] = lh;
      shape[2] = lw;
      sd_component_output (outputs, "latents", 3, shape, lat);
    }
  g_free (img);
  sd_vae_free (vae);
  return lat != NULL;
}

/* run_component.c: the table of runnable components and sd_run_component() behind the CLI. */
#include "clip_model.h"
#include "component.h"
#include "scaledit.h"
#include "t5_model.h"
#include "vae.h"

static const SdComponent components[] = {
  { "flux", "hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids[, guidance, "
            "token_kinds, rope_theta, scale_dit_mask]",
    sd_flux_run_component },
  { "clip", "input_ids [n] or [batch, n], f32 or i64", sd_clip_run_component },
  { "t5", "input_ids [n] or [batch, n], f32 or i64", sd_t5_run_component },
  { "vae-decode", "latents [C, h, w] (scaled FLUX latents)", sd_vae_component_decode },
  { "vae-encode", "image [3, H, W] in [-1, 1]", sd_vae_component_encode },
};

void
sd_component_output (GArray *outputs, const char *name, int ndim, const gint64 *shape, float *data)
{
  SdTensorOut t = { 0 };
  int i;
  t.name = g_strdup (name);
  t.ndim = ndim;
  for (i = 0; i < ndim; i++)
    t.shape[i] = shape[i];
  t.data = data;
  g_array_append_val (outputs, t);
}

char *
sd_component_names (void)
{
  GString *s = g_string_new (NULL);
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (components); i++)
    g_string_append_printf (s, "%s%s (reads %s)", i ? "\n" : "", components[i].name, components[i].inputs_help);
  return g_string_free (s, FALSE);
}

gboolean
sd_run_component (const char *component, const char *model_path, const char *backend_name,
                  const char *in_path, const char *out_path, GError **error)
{
  return sd_run_component_full (component, model_path, backend_name, in_path, out_path, NULL, error);
}

gboolean
sd_run_component_full (const char *component, const char *model_path, const char *backend_name,
                       const char *in_path, const char *out_path, const SdComponentOptions *opts, GError **error)
{
  const SdComponent *c = NULL;
  SdTensorFile *inputs = NULL;
  SdBackend *be = NULL;
  GArray *outputs = g_array_new (FALSE, TRUE, sizeof (SdTensorOut));
  gboolean ok = FALSE;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (components); i++)
    if (g_str_equal (components[i].name, component))
      c = &components[i];
  if (!c)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "unknown component \"%s\"", component);
      goto out;
    }
  if (opts && opts->lora_path && c->run != sd_flux_run_component)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "a LoRA applies to the flux component only, not %s", component);
      goto out;
    }
  inputs = sd_tensors_open (in_path, error);
  if (!inputs)
    goto out;
  be = sd_backend_open (backend_name, error);
  if (!be)
    goto out;
  if (!(c->run == sd_flux_run_component ? sd_flux_run_component_lora (be, model_path, inputs, outputs, opts, error)
                                        : c->run (be, model_path, inputs, outputs, error))
      || !be->ops->sync (be, error))
    goto out;
  ok = sd_tensors_write (out_path, (const SdTensorOut *) outputs->data, outputs->len, error);
out:
  for (i = 0; i < outputs->len; i++)
    {
      SdTensorOut *t = &g_array_index (outputs, SdTensorOut, i);
      g_free ((char *) t->name);
      g_free ((float *) t->data);
    }
  g_array_free (outputs, TRUE);
  if (be)
    sd_backend_close (be);
  if (inputs)
    sd_tensors_close (inputs);
  return ok;
}

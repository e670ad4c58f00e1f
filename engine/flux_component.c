/* flux_component.c: `scaledit run-component flux`: one transformer forward on named tensors
 * (the inputs of diffusers' FluxTransformer2DModel.forward), for tests and comparisons. */
#include <string.h>

#include "component.h"
#include "flux.h"
#include "model_files.h"
#include "scaledit.h"

static float *
input (SdTensorFile *in, const char *name, int ndim, gint64 cols, int *rows, GError **error)
{
  const SdTensorInfo *t = sd_tensors_find (in, name);
  if (!t)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: missing input tensor \"%s\"", sd_tensors_path (in), name);
      return NULL;
    }
  /* a leading batch dimension of 1 is accepted */
  if (t->ndim == ndim + 1 && t->shape[0] == 1)
    ndim++;
  if (t->ndim != ndim || (cols && t->shape[t->ndim - 1] != cols))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: input \"%s\" must have %d dimensions%s", sd_tensors_path (in),
                   name, ndim, cols ? " and the model's width" : "");
      return NULL;
    }
  if (rows)
    *rows = (int) (t->n_elements / MAX (cols, 1));
  return sd_tensor_to_f32 (t, error);
}

gboolean
sd_flux_run_component (SdBackend *be, const char *model_path, SdTensorFile *in, GArray *outputs, GError **error)
{
  SdEngineOptions opts = { 0 };
  SdModelFiles *m = NULL;
  SdTensorFile *tf = NULL;
  SdFluxConfig cfg;
  SdFlux *flux = NULL;
  SdFluxRun *run = NULL;
  SdFluxSetup setup = { 0 };
  SdBuf *img = NULL, *out = NULL;
  float *x = NULL, *txt = NULL, *pooled = NULL, *t = NULL, *g = NULL, *img_ids = NULL, *txt_ids = NULL, *ids = NULL;
  int n_img = 0, n_text = 0, n_ids_img = 0, n_ids_txt = 0;
  gboolean ok = FALSE;

  opts.path = model_path;
  if (g_file_test (model_path, G_FILE_TEST_IS_DIR))
    {
      m = sd_model_files_find (&opts, error);
      if (!m)
        goto out;
      tf = sd_tensors_open (m->transformer, error);
    }
  else
    tf = sd_tensors_open (model_path, error);
  if (!tf)
    goto out;
  if (!(m ? sd_flux_config_from_json (m->transformer_config, &cfg, error) : sd_flux_config_from_bfl (tf, &cfg, error)))
    goto out;
  if (!(x = input (in, "hidden_states", 2, cfg.in_channels, &n_img, error))
      || !(txt = input (in, "encoder_hidden_states", 2, cfg.joint_attention_dim, &n_text, error))
      || !(pooled = input (in, "pooled_projections", 1, cfg.pooled_projection_dim, NULL, error))
      || !(t = input (in, "timestep", 1, 0, NULL, error)) || !(img_ids = input (in, "img_ids", 2, 3, &n_ids_img, error))
      || !(txt_ids = input (in, "txt_ids", 2, 3, &n_ids_txt, error)))
    goto out;
  if (sd_tensors_find (in, "guidance") && !(g = input (in, "guidance", 1, 0, NULL, error)))
    goto out;
  if (n_ids_img != n_img || n_ids_txt != n_text)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: img_ids/txt_ids rows (%d, %d) differ from the token counts (%d, %d)",
                   sd_tensors_path (in), n_ids_img, n_ids_txt, n_img, n_text);
      goto out;
    }
  if (cfg.guidance_embeds && !g)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: this model has a guidance embedding: give a \"guidance\" input",
                   sd_tensors_path (in));
      goto out;
    }
  ids = g_new (float, (gsize) (n_text + n_img) * 3);
  memcpy (ids, txt_ids, (gsize) n_text * 3 * sizeof (float));
  memcpy (ids + (gsize) n_text * 3, img_ids, (gsize) n_img * 3 * sizeof (float));
  if (!(flux = sd_flux_load (be, tf, &cfg, error)))
    goto out;
  setup.txt = txt;
  setup.n_text = n_text;
  setup.pooled = pooled;
  setup.n_img = n_img;
  setup.rope_ids = ids;
  setup.rope_theta = 10000;
  if (!(run = sd_flux_run_new (flux, &setup, error)) || !(img = sd_buf_from_host (be, x, (gsize) n_img * cfg.in_channels, error))
      || !(out = be->ops->alloc (be, (gsize) n_img * cfg.out_channels, error))
      || !sd_flux_forward (run, img, t, 1, NULL, g ? g[0] : 0, out, error))
    goto out;
  {
    float *res = sd_buf_to_host (be, out, 0, (gsize) n_img * cfg.out_channels, error);
    gint64 shape[2] = { n_img, cfg.out_channels };
    if (!res)
      goto out;
    sd_component_output (outputs, "sample", 2, shape, res);
  }
  ok = TRUE;
out:
  if (img)
    be->ops->release (be, img);
  if (out)
    be->ops->release (be, out);
  sd_flux_run_free (run);
  sd_flux_free (flux);
  if (tf)
    sd_tensors_close (tf);
  sd_model_files_free (m);
  g_free (x); g_free (txt); g_free (pooled); g_free (t); g_free (g); g_free (img_ids); g_free (txt_ids); g_free (ids);
  return ok;
}

/* flux_component.c: `scaledit run-component flux`: one transformer forward on named tensors
 * (the inputs of diffusers' FluxTransformer2DModel.forward, plus optional Scale-DiT inputs: token
 * kinds, RoPE theta, the local attention mask's grid and radii), with an optional LoRA. */
#include <string.h>

#include "component.h"
#include "flux.h"
#include "layout.h"
#include "lora.h"
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
  if (t->n_elements == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: input \"%s\" is empty (a dimension of size 0)",
                   sd_tensors_path (in), name);
      return NULL;
    }
  if (rows)
    *rows = (int) (t->n_elements / MAX (cols, 1));
  return sd_tensor_to_f32 (t, error);
}

/* Optional inputs: token_kinds [n_img] (1 HR, 2 LR; LR tokens last: they run at timestep 0 and are
 * the LR rows of LoRA routing), rope_theta [1], scale_dit_mask [8] = hr_rows, hr_cols, lr_rows,
 * lr_cols, window, hr_radius, lr_radius, lr_window_span: the Scale-DiT mask over the tokens in
 * raster order (text, HR, LR). */
typedef struct {
  int n_lr;
  double theta;
  SdLayout *layout;
  SdAttnPlan *plan;
} ScaleDitInputs;

static gboolean
scale_dit_inputs (SdTensorFile *in, int n_text, int n_img, ScaleDitInputs *sd, GError **error)
{
  float *kinds = NULL, *theta = NULL, *grid = NULL;
  int n = 0, i, k;
  gboolean ok = FALSE;

  sd->theta = 10000;
  if (sd_tensors_find (in, "token_kinds"))
    {
      if (!(kinds = input (in, "token_kinds", 1, 0, NULL, error)))
        goto out;
      if ((int) sd_tensors_find (in, "token_kinds")->n_elements != n_img)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: token_kinds has %d entries for %d image tokens",
                       sd_tensors_path (in), (int) sd_tensors_find (in, "token_kinds")->n_elements, n_img);
          goto out;
        }
      for (i = 0; i < n_img; i++)
        {
          k = (int) kinds[i];
          if ((k != SD_TOK_HR && k != SD_TOK_LR) || (k == SD_TOK_HR && sd->n_lr > 0))
            {
              g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                           "%s: token_kinds[%d] = %g: image tokens are 1 (HR) or 2 (LR), the LR ones last",
                           sd_tensors_path (in), i, kinds[i]);
              goto out;
            }
          sd->n_lr += k == SD_TOK_LR;
        }
    }
  if (sd_tensors_find (in, "rope_theta"))
    {
      if (!(theta = input (in, "rope_theta", 1, 1, NULL, error)))
        goto out;
      if (!(theta[0] > 0))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: rope_theta must be positive", sd_tensors_path (in));
          goto out;
        }
      sd->theta = theta[0];
    }
  if (sd_tensors_find (in, "scale_dit_mask"))
    {
      SdLayoutSpec spec = { 0 };
      SdMaskRules rules;
      if (!(grid = input (in, "scale_dit_mask", 1, 8, &n, error)))
        goto out;
      spec.n_text = n_text;
      spec.hr_rows = (int) grid[0];
      spec.hr_cols = (int) grid[1];
      spec.lr_rows = (int) grid[2];
      spec.lr_cols = (int) grid[3];
      spec.window = (int) grid[4];
      spec.order = SD_ORDER_RASTER;
      rules.hr_radius = (int) grid[5];
      rules.lr_radius = (int) grid[6];
      rules.lr_window_span = (int) grid[7];
      if (spec.hr_rows * spec.hr_cols + spec.lr_rows * spec.lr_cols != n_img
          || spec.lr_rows * spec.lr_cols != sd->n_lr)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "%s: scale_dit_mask's grids (%dx%d HR, %dx%d LR) do not match the %d image tokens (%d LR by "
                       "token_kinds)",
                       sd_tensors_path (in), spec.hr_rows, spec.hr_cols, spec.lr_rows, spec.lr_cols, n_img, sd->n_lr);
          goto out;
        }
      if (!(sd->layout = sd_layout_new (&spec, error)) || !(sd->plan = sd_attn_plan_new (sd->layout, &rules, 0, 0, error)))
        goto out;
    }
  ok = TRUE;
out:
  g_free (kinds);
  g_free (theta);
  g_free (grid);
  return ok;
}

gboolean
sd_flux_run_component (SdBackend *be, const char *model_path, SdTensorFile *in, GArray *outputs, GError **error)
{
  return sd_flux_run_component_lora (be, model_path, in, outputs, NULL, error);
}

gboolean
sd_flux_run_component_lora (SdBackend *be, const char *model_path, SdTensorFile *in, GArray *outputs,
                            const SdComponentOptions *copts, GError **error)
{
  SdEngineOptions opts = { 0 };
  SdModelFiles *m = NULL;
  SdTensorFile *tf = NULL;
  SdFluxConfig cfg;
  SdFlux *flux = NULL;
  SdFluxRun *run = NULL;
  SdFluxSetup setup = { 0 };
  SdBuf *img = NULL, *out = NULL;
  SdLora *lora = NULL;
  ScaleDitInputs sdi = { 0 };
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
  if (!scale_dit_inputs (in, n_text, n_img, &sdi, error))
    goto out;
  if (!(flux = sd_flux_load (be, tf, &cfg, error)))
    goto out;
  if (copts && copts->lora_path)
    {
      if (!(lora = sd_lora_load (flux, copts->lora_path, error)))
        goto out;
      setup.lora = lora;
      setup.lora_scale = copts->lora_scale;
      if (!copts->lora_routing || g_str_equal (copts->lora_routing, "all"))
        setup.lora_routing = SD_LORA_ROUTE_ALL;
      else if (g_str_equal (copts->lora_routing, "scale-dit"))
        setup.lora_routing = SD_LORA_ROUTE_SCALE_DIT;
      else
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "LoRA routing \"%s\": use all or scale-dit",
                       copts->lora_routing);
          goto out;
        }
    }
  setup.txt = txt;
  setup.n_text = n_text;
  setup.pooled = pooled;
  setup.n_img = n_img;
  setup.rope_ids = ids;
  setup.rope_theta = sdi.theta;
  setup.plan = sdi.plan;
  setup.n_lr = sdi.n_lr;
  if (!(run = sd_flux_run_new (flux, &setup, error)) || !(img = sd_buf_from_host (be, x, (gsize) n_img * cfg.in_channels, error))
      || !(out = be->ops->alloc (be, (gsize) n_img * cfg.out_channels, error)))
    goto out;
  {
    /* LR tokens (the last n_lr) run at timestep 0 */
    SdSegment seg[2] = { { 0, n_img - sdi.n_lr, 0 }, { n_img - sdi.n_lr, sdi.n_lr, 1 } };
    SdSegments segs = { seg, 2 };
    float ts[2] = { t[0], 0.0f };
    if (!sd_flux_forward (run, img, ts, sdi.n_lr ? 2 : 1, sdi.n_lr ? &segs : NULL, g ? g[0] : 0, out, error))
      goto out;
  }
  {
    float *res = sd_buf_to_host (be, out, 0, (gsize) n_img * cfg.out_channels, error);
    gint64 shape[2] = { n_img, cfg.out_channels };
    if (!res)
      goto out;
    sd_component_output (outputs, "sample", 2, shape, res);
  }
  ok = TRUE;
out:
  sd_buf_release (be, img);
  sd_buf_release (be, out);
  sd_flux_run_free (run);
  sd_lora_free (lora);
  sd_flux_free (flux);
  if (sdi.plan)
    sd_attn_plan_free (sdi.plan);
  sd_layout_free (sdi.layout);
  if (tf)
    sd_tensors_close (tf);
  sd_model_files_free (m);
  g_free (x); g_free (txt); g_free (pooled); g_free (t); g_free (g); g_free (img_ids); g_free (txt_ids); g_free (ids);
  return ok;
}

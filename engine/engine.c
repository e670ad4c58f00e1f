/* engine.c: opening an engine on a model and a backend, request defaults, results. */
#include <float.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config_fields.h"
#include "engine_internal.h"
#include "json_object.h"
#include "tokenizer_t5.h"

void
sd_request_init (SdRequest *q)
{
  memset (q, 0, sizeof *q);
  q->width = q->height = 1024;
  q->seed = -1;
  q->global_factor = 4;
  q->global_steps = 28;
  q->detail_steps = 18;
  q->global_guidance = 3.5f;
  q->detail_guidance = 4.5f;
  q->true_cfg_scale = 1.0f;
  q->window = 16;
  q->hr_radius = 8;
  q->lr_radius = 2;
  q->lr_window_span = 1;
  q->ntk_factor = 10.0f;
  q->sharpen = 0.5f;
  q->order = SD_ORDER_HILBERT;
  q->lora_scale = 1.0f;
  q->use_model_lora = TRUE;
}

/* T5's padded length: tokenizer_2/tokenizer_config.json's model_max_length when it is a whole
 * number from 1 to 512, else FLUX's (512 for dev, 256 for schnell): transformers writes 1e30 for
 * "no limit". A file that is not JSON, or a model_max_length that is not a number, is an error. */
static gboolean
t5_length (SdEngine *e, int *len, GError **error)
{
  char *path = g_build_filename (e->files->tokenizers ? e->files->tokenizers : ".", "tokenizer_2",
                                 "tokenizer_config.json", NULL);
  JsonParser *p = NULL;
  gboolean ok = TRUE;
  double v;

  *len = sd_flux_config (e->flux)->guidance_embeds ? SD_T5_MAX_LENGTH_DEV : SD_T5_MAX_LENGTH_SCHNELL;
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      ok = (p = sd_json_object_load (path, error)) != NULL
           && sd_config_double (json_node_get_object (json_parser_get_root (p)), path, "model_max_length", 0,
                                -DBL_MAX, DBL_MAX, &v, error);
      if (ok && v >= 1 && v <= SD_T5_MAX_LENGTH_DEV && v == (int) v)
        *len = (int) v;
    }
  if (p)
    g_object_unref (p);
  g_free (path);
  return ok;
}

SdEngine *
sd_engine_open (const SdEngineOptions *opts, GError **error)
{
  SdEngine *e = g_new0 (SdEngine, 1);
  SdTensorFile *tf = NULL;
  SdFluxConfig cfg;

  if (opts)
    e->opts = *opts;
  if (!(e->files = sd_model_files_find (&e->opts, error)) || !(e->be = sd_backend_open (e->opts.backend, error))
      || !(tf = sd_tensors_open (e->files->transformer, error)))
    goto fail;
  if (!(e->files->transformer_config ? sd_flux_config_from_json (e->files->transformer_config, &cfg, error)
                                     : sd_flux_config_from_bfl (tf, &cfg, error)))
    goto fail;
  if (cfg.in_channels != 64 || cfg.out_channels != 64)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: the transformer reads %d and writes %d channels; FLUX uses 64 "
                   "(16 latent channels, 2x2 patches)", e->files->transformer, cfg.in_channels, cfg.out_channels);
      goto fail;
    }
  if (!(e->flux = sd_flux_load (e->be, tf, &cfg, error)) || !(e->vae = sd_vae_load (e->be, e->files->vae, NULL, error)))
    goto fail;
  sd_tensors_close (tf);
  tf = NULL;
  if (sd_vae_get_config (e->vae)->latent_channels != 16 || sd_vae_factor (e->vae) != 8)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: the VAE must have 16 latent channels and an 8x factor",
                   e->files->vae);
      goto fail;
    }
  if (e->files->scheduler_config)
    {
      if (!sd_schedule_from_json (e->files->scheduler_config, &e->schedule, error))
        goto fail;
    }
  else
    {
      sd_schedule_init_dev (&e->schedule);
      if (!cfg.guidance_embeds)
        {
          e->schedule.dynamic_shift = FALSE;
          e->schedule.shift = 1.0;
        }
    }
  if (!t5_length (e, &e->t5_max_length, error))
    goto fail;
  e->description = g_strdup_printf ("model %s (%s), %s backend", e->files->name,
                                    e->files->single_file ? "single files" : "diffusers folder", e->be->ops->name);
  return e;
fail:
  if (tf)
    sd_tensors_close (tf);
  sd_engine_close (e);
  return NULL;
}

void
sd_engine_close (SdEngine *e)
{
  if (!e)
    return;
  sd_engine_release_encoders (e);
  sd_flux_free (e->flux);
  sd_vae_free (e->vae);
  if (e->be)
    sd_backend_close (e->be);
  sd_model_files_free (e->files);
  g_free (e->cache.key);
  g_free (e->cache.latent);
  g_free (e->cache.image);
  g_free (e->description);
  g_free (e);
}

const char *
sd_engine_describe (SdEngine *e)
{
  return e->description;
}

gboolean
sd_engine_uses_guidance (SdEngine *e)
{
  return sd_flux_config (e->flux)->guidance_embeds;
}

void
sd_result_free (SdResult *r)
{
  if (!r)
    return;
  g_free (r->rgb);
  g_free (r->parameters);
  g_free (r);
}

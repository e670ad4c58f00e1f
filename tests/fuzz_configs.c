/* fuzz_configs.c: libFuzzer target for every model config reader: the first byte chooses the
 * reader (transformer, VAE, CLIP, T5, scheduler, LoRA adapter, tokenizer special tokens), the rest
 * is the JSON text. A config either fails with an SdError naming the file or holds values the
 * engine's code then runs on within bounds (RoPE tables, sigmas, T5 buckets, LoRA scales). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "clip_model.h"
#include "config_fields.h"
#include "flux.h"
#include "json_object.h"
#include "lora.h"
#include "sampler.h"
#include "scaledit.h"
#include "t5_model.h"
#include "tokens.h"
#include "vae.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FILE_NAME "fuzz.json"

static void
require (gboolean ok)
{
  if (!ok)
    abort ();
}

/* The RoPE tables of a few positions, in buffers sized for head_dim / 2 columns exactly. */
static void
run_flux (const SdFluxConfig *c)
{
  const int n = 3, half = c->head_dim / 2;
  const float ids[9] = { 0, 0, 0, 0, 1, 2, 7, 100, 3 };
  float *cosv = g_new (float, (gsize) n * half), *sinv = g_new (float, (gsize) n * half);

  require (c->hidden == c->heads * c->head_dim && c->hidden <= SD_CONFIG_MAX_DIM
           && c->axes_dims_rope[0] + c->axes_dims_rope[1] + c->axes_dims_rope[2] == c->head_dim);
  sd_rope_tables (ids, n, c->axes_dims_rope, 10000, cosv, sinv);
  g_free (cosv);
  g_free (sinv);
}

static void
run_schedule (const SdSchedule *s)
{
  static const int tokens[] = { 1, 256, 4096, 65536, 1 << 24 };
  float sigmas[29];
  gsize k;
  int i;

  for (k = 0; k < G_N_ELEMENTS (tokens); k++)
    {
      double mu = sd_schedule_mu (s, tokens[k]);
      require (isfinite (mu));
      sd_schedule_sigmas (s, 28, mu, sigmas);
      for (i = 0; i <= 28; i++)
        require (isfinite (sigmas[i]) && sigmas[i] >= 0 && sigmas[i] <= 1);
    }
}

static void
run_t5 (const SdT5Config *c)
{
  int delta;
  for (delta = -1000; delta <= 1000; delta += 7)
    {
      int b = sd_t5_relative_bucket (delta, c->num_buckets, c->max_distance);
      require (b >= 0 && b < c->num_buckets);
    }
}

static void
run_lora (const SdLoraConfig *c)
{
  static const char *const modules[] = { "transformer_blocks.0.attn.to_q", "to_q", "proj_out", "" };
  gsize k;
  for (k = 0; k < G_N_ELEMENTS (modules); k++)
    require (isfinite (sd_lora_config_scale (c, modules[k], 1 + (int) k * 64)));
}

static gboolean
read_config (guint8 which, JsonObject *o, GError **error)
{
  switch (which % 7)
    {
    case 0:
      {
        SdFluxConfig c;
        if (!sd_flux_config_from_object (o, FILE_NAME, &c, error))
          return FALSE;
        run_flux (&c);
        return TRUE;
      }
    case 1:
      {
        SdVaeConfig c;
        if (!sd_vae_config_from_object (o, FILE_NAME, &c, error))
          return FALSE;
        require (c.n_blocks >= 1 && c.n_blocks <= SD_VAE_MAX_BLOCKS && isfinite (c.scaling_factor)
                 && c.scaling_factor != 0 && isfinite (c.shift_factor));
        return TRUE;
      }
    case 2:
      {
        SdClipConfig c;
        return sd_clip_config_from_object (o, FILE_NAME, &c, error);
      }
    case 3:
      {
        SdT5Config c;
        if (!sd_t5_config_from_object (o, FILE_NAME, &c, error))
          return FALSE;
        run_t5 (&c);
        return TRUE;
      }
    case 4:
      {
        SdSchedule s;
        if (!sd_schedule_from_object (o, FILE_NAME, &s, error))
          return FALSE;
        run_schedule (&s);
        return TRUE;
      }
    case 5:
      {
        SdLoraConfig *c = sd_lora_config_from_object (o, FILE_NAME, error);
        if (!c)
          return FALSE;
        run_lora (c);
        sd_lora_config_free (c);
        return TRUE;
      }
    default:
      {
        static const char *const keys[] = { "bos_token", "eos_token", "unk_token", "pad_token" };
        gsize k;
        for (k = 0; k < G_N_ELEMENTS (keys); k++)
          {
            const char *text;
            if (!sd_tokenizer_token_text (o, FILE_NAME, keys[k], &text, error))
              return FALSE;
            require (!text || *text);
          }
        return TRUE;
      }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  JsonParser *parser;

  if (size < 1)
    return 0;
  parser = sd_json_object_parse ((const char *) data + 1, size - 1, FILE_NAME, &error);
  if (!parser)
    {
      require (error && error->domain == SD_ERROR);
      g_error_free (error);
      return 0;
    }
  if (!read_config (data[0], json_node_get_object (json_parser_get_root (parser)), &error))
    {
      /* an error, never a silent failure, and it names the file */
      require (error && error->domain == SD_ERROR && g_str_has_prefix (error->message, FILE_NAME ": "));
      g_error_free (error);
    }
  else
    require (!error);
  g_object_unref (parser);
  return 0;
}

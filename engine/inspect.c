/* inspect.c: `scaledit inspect`: what a model folder or file holds (layout, configs, dtypes,
 * parameter counts), or why it cannot be used. */
#include <string.h>

#include "flux.h"
#include "model_files.h"
#include "safetensors.h"

/* "1.23 B parameters (BF16 98%, F32 2%), 2.4 GiB" for a weights file; NULL with error if corrupt. */
static char *
weights_summary (const char *path, SdTensorFile **keep, GError **error)
{
  SdTensorFile *tf = sd_tensors_open (path, error);
  gsize per_dtype[SD_ST_F8_E5M2 + 1] = { 0 }, total = 0, bytes = 0;
  GString *s;
  guint i;
  int d;

  if (!tf)
    return NULL;
  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      per_dtype[t->dtype] += t->n_elements;
      total += t->n_elements;
      bytes += t->n_bytes;
    }
  s = g_string_new (NULL);
  g_string_append_printf (s, "%u tensors, %.2f M parameters (", sd_tensors_count (tf), total / 1e6);
  for (d = 0, i = 0; d <= SD_ST_F8_E5M2; d++)
    if (per_dtype[d])
      g_string_append_printf (s, "%s%s %.0f%%", i++ ? ", " : "", sd_st_dtype_name (d),
                              100.0 * per_dtype[d] / MAX (total, 1));
  g_string_append_printf (s, "), %.1f MiB", bytes / 1048576.0);
  if (keep)
    *keep = tf;
  else
    sd_tensors_close (tf);
  return g_string_free (s, FALSE);
}

static void
describe_flux (GString *out, const SdFluxConfig *c)
{
  g_string_append_printf (out,
                          "  config: %d double + %d single blocks, %d heads x %d, hidden %d, in %d, out %d, "
                          "text dim %d, pooled dim %d, rope axes (%d, %d, %d), guidance embedding: %s (%s)\n",
                          c->num_layers, c->num_single_layers, c->heads, c->head_dim, c->hidden, c->in_channels,
                          c->out_channels, c->joint_attention_dim, c->pooled_projection_dim, c->axes_dims_rope[0],
                          c->axes_dims_rope[1], c->axes_dims_rope[2], c->guidance_embeds ? "yes" : "no",
                          c->guidance_embeds ? "dev-like" : "schnell-like");
}

/* One component of a diffusers folder or one file: appends its description. */
static gboolean
describe_component (GString *out, const char *label, const char *path, const char *basename, GError **error)
{
  char *weights = g_file_test (path, G_FILE_TEST_IS_DIR) ? sd_component_weights (path, basename) : g_strdup (path);
  char *sum;
  if (!weights || !g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_string_append_printf (out, "%s: missing (%s)\n", label, path);
      g_free (weights);
      return TRUE;
    }
  sum = weights_summary (weights, NULL, error);
  if (sum)
    g_string_append_printf (out, "%s: %s\n  %s\n", label, weights, sum);
  g_free (sum);
  g_free (weights);
  return sum != NULL;
}

static gboolean
inspect_transformer (GString *out, const SdModelFiles *m, GError **error)
{
  SdTensorFile *tf = NULL;
  SdFluxConfig cfg;
  char *sum = weights_summary (m->transformer, &tf, error);
  gboolean ok;
  if (!sum)
    return FALSE;
  g_string_append_printf (out, "transformer: %s\n  %s\n", m->transformer, sum);
  g_free (sum);
  ok = m->transformer_config ? sd_flux_config_from_json (m->transformer_config, &cfg, error)
                             : sd_flux_config_from_bfl (tf, &cfg, error);
  if (ok)
    describe_flux (out, &cfg);
  sd_tensors_close (tf);
  return ok;
}

static const char *
single_file_kind (SdTensorFile *tf)
{
  if (sd_flux_is_bfl (tf, NULL) || sd_tensors_find (tf, "x_embedder.weight"))
    return "FLUX transformer";
  if (sd_tensors_find (tf, "encoder.down.0.block.0.norm1.weight") || sd_tensors_find (tf, "decoder.conv_in.weight")
      || sd_tensors_find (tf, "encoder.conv_in.weight"))
    return "VAE (AutoencoderKL)";
  if (sd_tensors_find (tf, "text_model.embeddings.token_embedding.weight"))
    return "CLIP text encoder";
  if (sd_tensors_find (tf, "shared.weight") || sd_tensors_find (tf, "encoder.embed_tokens.weight"))
    return "T5 encoder";
  return NULL;
}

char *
sd_inspect (const char *path, GError **error)
{
  GString *out = g_string_new (NULL);
  SdEngineOptions opts = { 0 };
  SdModelFiles *m;

  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      SdTensorFile *tf = sd_tensors_open (path, error);
      const char *kind;
      if (!tf)
        goto fail;
      kind = single_file_kind (tf);
      sd_tensors_close (tf);
      if (!kind)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: not a FLUX transformer, VAE, CLIP or T5 file", path);
          goto fail;
        }
      g_string_append_printf (out, "layout: single file (%s)\n", kind);
      if (g_str_equal (kind, "FLUX transformer"))
        {
          SdModelFiles single = { 0 };
          single.single_file = TRUE;
          single.transformer = (char *) path;
          if (!inspect_transformer (out, &single, error))
            goto fail;
        }
      else if (!describe_component (out, kind, path, NULL, error))
        goto fail;
      return g_string_free (out, FALSE);
    }
  opts.path = path;
  m = sd_model_files_find (&opts, error);
  if (!m)
    goto fail;
  g_string_append_printf (out, "layout: diffusers folder\n");
  if (!inspect_transformer (out, m, error) || !describe_component (out, "vae", m->vae, "diffusion_pytorch_model", error)
      || !describe_component (out, "text_encoder (CLIP)", m->clip, "model", error)
      || !describe_component (out, "text_encoder_2 (T5)", m->t5, "model", error))
    {
      sd_model_files_free (m);
      goto fail;
    }
  {
    char *clip_vocab = g_build_filename (path, "tokenizer", "vocab.json", NULL);
    char *t5_tok = g_build_filename (path, "tokenizer_2", "tokenizer.json", NULL);
    g_string_append_printf (out, "tokenizer (CLIP BPE): %s\ntokenizer_2 (T5 unigram): %s\n",
                            g_file_test (clip_vocab, G_FILE_TEST_EXISTS) ? "present" : "missing",
                            g_file_test (t5_tok, G_FILE_TEST_EXISTS) ? "present" : "missing");
    g_free (clip_vocab);
    g_free (t5_tok);
  }
  sd_model_files_free (m);
  return g_string_free (out, FALSE);
fail:
  g_string_free (out, TRUE);
  return NULL;
}

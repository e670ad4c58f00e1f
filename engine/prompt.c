/* prompt.c: encoding a prompt as FluxPipeline does: CLIP's pooled vector (77 tokens) and T5's
 * hidden states (padded to the model's length), encoders loaded on demand; the caller releases them. */
#include <string.h>

#include "clip_model.h"
#include "engine_internal.h"
#include "t5_model.h"
#include "tokenizer_clip.h"
#include "tokenizer_t5.h"

void
sd_prompt_embeds_clear (SdPromptEmbeds *p)
{
  g_clear_pointer (&p->t5, g_free);
  g_clear_pointer (&p->pooled, g_free);
}

void
sd_engine_release_encoders (SdEngine *e)
{
  g_clear_pointer (&e->clip, sd_clip_free);
  g_clear_pointer (&e->t5, sd_t5_free);
}

gboolean
sd_prompt_encode (SdEngine *e, const char *text, SdPromptEmbeds *out, GError **error)
{
  const SdFluxConfig *fc = sd_flux_config (e->flux);
  char *clip_dir = g_build_filename (e->files->tokenizers, "tokenizer", NULL);
  char *t5_dir = g_build_filename (e->files->tokenizers, "tokenizer_2", NULL);
  SdClipTokenizer *ctok = NULL;
  SdT5Tokenizer *ttok = NULL;
  SdTokens *cids = NULL, *tids = NULL;
  float *clip_hidden = NULL;
  gboolean ok = FALSE;

  memset (out, 0, sizeof *out);
  if (!(ctok = sd_clip_tokenizer_load (clip_dir, error)) || !(ttok = sd_t5_tokenizer_load (t5_dir, error))
      || !(cids = sd_clip_tokenizer_encode (ctok, text ? text : "", SD_CLIP_MAX_LENGTH, error))
      || !(tids = sd_t5_tokenizer_encode (ttok, text ? text : "", e->t5_max_length, error)))
    goto out;
  if (!e->clip && !(e->clip = sd_clip_load (e->be, e->files->clip, error)))
    goto out;
  if (sd_clip_config (e->clip)->hidden_size != fc->pooled_projection_dim)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: CLIP width %d does not match the transformer's pooled width %d",
                   e->files->clip, sd_clip_config (e->clip)->hidden_size, fc->pooled_projection_dim);
      goto out;
    }
  if (!sd_clip_encode (e->clip, (const int *) cids->ids->data, cids->ids->len, &clip_hidden, &out->pooled, error))
    goto out;
  if (!e->t5 && !(e->t5 = sd_t5_load (e->be, e->files->t5, error)))
    goto out;
  if (sd_t5_config (e->t5)->d_model != fc->joint_attention_dim)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: T5 width %d does not match the transformer's text width %d",
                   e->files->t5, sd_t5_config (e->t5)->d_model, fc->joint_attention_dim);
      goto out;
    }
  if (!sd_t5_encode (e->t5, (const int *) tids->ids->data, tids->ids->len, &out->t5, error))
    goto out;
  out->n_t5 = tids->ids->len;
  out->truncated = cids->truncated || tids->truncated;
  ok = TRUE;
out:
  if (!ok)
    sd_prompt_embeds_clear (out);
  g_free (clip_hidden);
  if (cids)
    sd_tokens_free (cids);
  if (tids)
    sd_tokens_free (tids);
  if (ctok)
    sd_clip_tokenizer_free (ctok);
  if (ttok)
    sd_t5_tokenizer_free (ttok);
  g_free (clip_dir);
  g_free (t5_dir);
  return ok;
}

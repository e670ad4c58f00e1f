/* fuzz_tokenizer_clip.c: libFuzzer target for the CLIP tokenizer: the input is vocab.json, NUL,
 * merges.txt, NUL, a prompt and optionally NUL and the start, end, unknown and padding tokens one
 * a line. Loading either fails with an SdError or gives a tokenizer that encodes the prompt to
 * vocabulary ids, padded as asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_object.h"
#include "scaledit.h"
#include "tokenizer_clip.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Prompts longer than this are cut: the encoder's cost grows with the prompt, not the files. */
#define MAX_PROMPT 2048

static void
require (gboolean ok)
{
  if (!ok)
    abort ();
}

/* Splits data at NUL bytes into at most n parts; returns how many there are. */
static int
split (const char *data, gsize size, const char **parts, gsize *lens, int n)
{
  int k = 0;
  while (k < n)
    {
      const char *nul = k + 1 < n ? memchr (data, '\0', size) : NULL;
      parts[k] = data;
      lens[k] = nul ? (gsize) (nul - data) : size;
      k++;
      if (!nul)
        break;
      size -= lens[k - 1] + 1;
      data = nul + 1;
    }
  return k;
}

static void
encode (SdClipTokenizer *tok, const char *prompt, gsize len)
{
  char *text = g_strndup (prompt, MIN (len, MAX_PROMPT));
  int max_length;

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_free (text);
      return;
    }
  for (max_length = 0; max_length <= SD_CLIP_MAX_LENGTH; max_length += SD_CLIP_MAX_LENGTH)
    {
      GError *error = NULL;
      SdTokens *t = sd_clip_tokenizer_encode (tok, text, max_length, &error);
      guint i;
      require (t && !error);
      require (max_length == 0 || (int) t->ids->len == max_length);
      for (i = 0; i < t->ids->len; i++)
        require (g_array_index (t->ids, gint32, i) >= 0);
      sd_tokens_free (t);
    }
  g_free (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *parts[4];
  gsize lens[4];
  int n = split ((const char *) data, size, parts, lens, 4);
  char *specials_text = NULL, **lines = NULL;
  SdClipSpecialTokens specials = { NULL, NULL, NULL, NULL };
  GError *error = NULL;
  JsonParser *vocab;
  SdClipTokenizer *tok;

  if (n < 3)
    return 0;
  vocab = sd_json_object_parse (parts[0], lens[0], "vocab.json", &error);
  if (!vocab)
    {
      require (error && error->domain == SD_ERROR);
      g_error_free (error);
      return 0;
    }
  if (n == 4)
    {
      const char **slots[4] = { &specials.bos, &specials.eos, &specials.unk, &specials.pad };
      int k;
      specials_text = g_strndup (parts[3], lens[3]);
      lines = g_strsplit (specials_text, "\n", 4);
      for (k = 0; k < 4 && lines[k]; k++)
        *slots[k] = lines[k];
    }
  tok = sd_clip_tokenizer_new (json_node_get_object (json_parser_get_root (vocab)), "vocab.json", parts[1], lens[1],
                               "merges.txt", &specials, &error);
  if (tok)
    {
      require (!error);
      encode (tok, parts[2], lens[2]);
      sd_clip_tokenizer_free (tok);
    }
  else
    {
      require (error && error->domain == SD_ERROR);
      g_error_free (error);
    }
  g_strfreev (lines);
  g_free (specials_text);
  g_object_unref (vocab);
  return 0;
}

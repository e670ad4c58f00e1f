/* fuzz_tokenizer_t5.c: libFuzzer target for the T5 tokenizer (tokenizer.json with its char map,
 * normalizers, pre-tokenizers, Unigram vocabulary and template): the input is tokenizer.json, NUL
 * and a prompt. Loading either fails with an SdError or gives a tokenizer that encodes the prompt,
 * padded as asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_object.h"
#include "scaledit.h"
#include "tokenizer_t5.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Prompts longer than this are cut: the encoder's cost grows with the prompt, not the file. */
#define MAX_PROMPT 2048

static void
require (gboolean ok)
{
  if (!ok)
    abort ();
}

static void
encode (SdT5Tokenizer *tok, const char *prompt, gsize len)
{
  char *text = g_strndup (prompt, MIN (len, MAX_PROMPT));
  int max_length;

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_free (text);
      return;
    }
  for (max_length = 0; max_length <= SD_T5_MAX_LENGTH_DEV; max_length += SD_T5_MAX_LENGTH_DEV)
    {
      GError *error = NULL;
      SdTokens *t = sd_t5_tokenizer_encode (tok, text, max_length, &error);
      /* a template with more special tokens than max_length holds is an error */
      require (t ? !error : error && error->code == SD_ERROR_ARGUMENT);
      if (t)
        require (max_length == 0 || (int) t->ids->len == max_length);
      sd_tokens_free (t);
      g_clear_error (&error);
    }
  g_free (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *json = (const char *) data, *nul = memchr (data, '\0', size);
  gsize json_len = nul ? (gsize) (nul - json) : size;
  GError *error = NULL;
  JsonParser *parser = sd_json_object_parse (json, json_len, "tokenizer.json", &error);
  SdT5Tokenizer *tok;

  if (!parser)
    {
      require (error && error->domain == SD_ERROR);
      g_error_free (error);
      return 0;
    }
  tok = sd_t5_tokenizer_new (json_node_get_object (json_parser_get_root (parser)), "tokenizer.json", "<pad>", &error);
  if (tok)
    {
      require (!error);
      if (nul)
        encode (tok, nul + 1, size - json_len - 1);
      sd_t5_tokenizer_free (tok);
    }
  else
    {
      require (error && error->domain == SD_ERROR && strstr (error->message, "tokenizer.json"));
      g_error_free (error);
    }
  g_object_unref (parser);
  return 0;
}

/* tokenize.c: sd_tokenize, the public entry to the CLIP and T5 tokenizers of a model folder. */
#include <string.h>

#include "scaledit.h"
#include "tokenizer_clip.h"
#include "tokenizer_t5.h"

/* subdir/file under model_path if present, else model_path itself when it holds file. */
static char *
tokenizer_dir (const char *model_path, const char *subdir, const char *file, const char *what,
               GError **error)
{
  g_autofree char *sub = g_build_filename (model_path, subdir, NULL);
  g_autofree char *in_sub = g_build_filename (sub, file, NULL);
  g_autofree char *direct = g_build_filename (model_path, file, NULL);

  if (g_file_test (in_sub, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&sub);
  if (g_file_test (direct, G_FILE_TEST_EXISTS))
    return g_strdup (model_path);
  g_set_error (error, SD_ERROR, SD_ERROR_IO, "no %s tokenizer in %s: neither %s nor %s exists",
               what, model_path, in_sub, direct);
  return NULL;
}

GArray *
sd_tokenize (const char *which, const char *model_path, const char *text, int max_length,
             gboolean *truncated, GError **error)
{
  g_autoptr (SdTokens) tokens = NULL;
  g_autofree char *dir = NULL;

  if (max_length < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "max_length %d is negative", max_length);
      return NULL;
    }
  if (!g_strcmp0 (which, "clip"))
    {
      g_autoptr (SdClipTokenizer) tok = NULL;
      if (!(dir = tokenizer_dir (model_path, "tokenizer", "vocab.json", "CLIP", error))
          || !(tok = sd_clip_tokenizer_load (dir, error)))
        return NULL;
      tokens = sd_clip_tokenizer_encode (tok, text, max_length ? max_length : SD_CLIP_MAX_LENGTH,
                                         error);
    }
  else if (!g_strcmp0 (which, "t5"))
    {
      g_autoptr (SdT5Tokenizer) tok = NULL;
      if (g_str_has_suffix (model_path, ".json") && g_file_test (model_path, G_FILE_TEST_IS_REGULAR))
        dir = g_strdup (model_path);
      else if (!(dir = tokenizer_dir (model_path, "tokenizer_2", "tokenizer.json", "T5", error)))
        return NULL;
      if (!(tok = sd_t5_tokenizer_load (dir, error)))
        return NULL;
      tokens = sd_t5_tokenizer_encode (tok, text, max_length ? max_length : SD_T5_MAX_LENGTH_DEV,
                                       error);
    }
  else
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "unknown tokenizer \"%s\" (expected clip or t5)", which ? which : "(null)");
      return NULL;
    }
  if (!tokens)
    return NULL;
  if (truncated)
    *truncated = tokens->truncated;
  return g_array_ref (tokens->ids);
}

/* tokens.h: the token sequence the CLIP and T5 tokenizers hand to the text encoders, and the
 * special-token settings both read beside their vocabulary files. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
  GArray *ids;        /* gint32; max_length of them (padded), or the unpadded ids for max_length 0 */
  GArray *mask;       /* gint32 attention mask: 1 for real tokens, 0 for padding */
  int n_tokens;       /* real tokens kept, special tokens included */
  int n_full;         /* real tokens the text gives without truncation */
  gboolean truncated; /* n_full > max_length: the text did not fit */
} SdTokens;

void sd_tokens_free (SdTokens *tokens);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdTokens, sd_tokens_free)

/* Builds prefix + content + suffix, keeping the first max_length - n_prefix - n_suffix content
 * ids (transformers' right-side truncation) and padding with pad_id on the right up to max_length.
 * max_length 0: neither truncation nor padding. */
SdTokens *sd_tokens_build (const gint32 *prefix, int n_prefix, const GArray *content,
                           const gint32 *suffix, int n_suffix, int max_length, gint32 pad_id,
                           GError **error);

/* The text of special token `key` ("pad_token", "eos_token", ...) as transformers reads it from
 * special_tokens_map.json, else tokenizer_config.json, in dir (a string or an object with
 * "content"); a newly allocated copy of fallback when neither file names it. An empty text or a
 * value of another type is an error naming the file and the key. */
char *sd_tokenizer_special_token (const char *dir, const char *key, const char *fallback,
                                  GError **error);
/* The same from one parsed settings object (`file` names it in errors): *text (owned by o) is NULL
 * when the member is absent or null. */
gboolean sd_tokenizer_token_text (JsonObject *o, const char *file, const char *key, const char **text,
                                  GError **error);

/* tokenizer_clip.h: CLIP's byte-level BPE tokenizer, as transformers' slow CLIPTokenizer behaves
 * without ftfy (the tokenizer FluxPipeline uses), read from vocab.json and merges.txt. */
#pragma once

#include <json-glib/json-glib.h>

#include "tokens.h"

#define SD_CLIP_MAX_LENGTH 77

typedef struct SdClipTokenizer SdClipTokenizer;

/* Loads dir/vocab.json and dir/merges.txt, and the start, end, padding and unknown tokens from
 * dir/special_tokens_map.json or dir/tokenizer_config.json when present (else CLIP's defaults).
 * Errors name the missing or malformed file. */
SdClipTokenizer *sd_clip_tokenizer_load (const char *dir, GError **error);
/* The texts of the start, end, unknown and padding tokens; NULL members take CLIP's. */
typedef struct {
  const char *bos, *eos, *unk, *pad;
} SdClipSpecialTokens;

/* Builds the tokenizer from parsed vocab.json and the text of merges.txt (the names say which
 * files they are in errors). The special tokens must be non-empty and in the vocabulary. */
SdClipTokenizer *sd_clip_tokenizer_new (JsonObject *vocab, const char *vocab_name, const char *merges,
                                        gsize merges_len, const char *merges_name,
                                        const SdClipSpecialTokens *specials, GError **error);
void sd_clip_tokenizer_free (SdClipTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdClipTokenizer, sd_clip_tokenizer_free)

/* Tokenizes UTF-8 text as FluxPipeline does: start token, at most max_length - 2 text tokens, end
 * token, then padding to max_length (truncation=True, padding="max_length"). max_length 0: no
 * truncation and no padding. */
SdTokens *sd_clip_tokenizer_encode (SdClipTokenizer *tok, const char *text, int max_length,
                                    GError **error);

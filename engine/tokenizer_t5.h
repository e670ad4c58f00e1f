/* tokenizer_t5.h: the T5 tokenizer as T5TokenizerFast (the tokenizers library) runs it from
 * tokenizer.json: added tokens, the normalizer (Precompiled char map, Replace, Strip), the
 * WhitespaceSplit + Metaspace pre-tokenizer, the Unigram model and the </s> template. */
#pragma once

#include <json-glib/json-glib.h>

#include "tokens.h"

#define SD_T5_MAX_LENGTH_DEV 512
#define SD_T5_MAX_LENGTH_SCHNELL 256

typedef struct SdT5Tokenizer SdT5Tokenizer;

/* Loads a tokenizer.json (path names the file, or a folder holding it); the padding token comes
 * from special_tokens_map.json or tokenizer_config.json beside it when present, else "<pad>".
 * Errors name the missing or malformed file. */
SdT5Tokenizer *sd_t5_tokenizer_load (const char *path, GError **error);
/* Builds the tokenizer from a parsed tokenizer.json (`name` says which file in errors) and the
 * padding token's text, which must be in the vocabulary. */
SdT5Tokenizer *sd_t5_tokenizer_new (JsonObject *root, const char *name, const char *pad_token, GError **error);
void sd_t5_tokenizer_free (SdT5Tokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdT5Tokenizer, sd_t5_tokenizer_free)

/* Tokenizes UTF-8 text as FluxPipeline does (add_special_tokens=True, truncation=True,
 * padding="max_length"): at most max_length - 1 text tokens, then </s>, then padding. max_length
 * 0: no truncation and no padding. */
SdTokens *sd_t5_tokenizer_encode (SdT5Tokenizer *tok, const char *text, int max_length,
                                  GError **error);

/* precompiled_charsmap.h: SentencePiece's precompiled normalization map (a darts-clone double
 * array over UTF-8 bytes plus the replacement strings), applied as the tokenizers library's
 * Precompiled normalizer does. */
#pragma once

#include <glib.h>

typedef struct SdCharsmap SdCharsmap;

/* Parses the base64 `precompiled_charsmap` of a tokenizer.json; errors say what is malformed. */
SdCharsmap *sd_charsmap_new_from_base64 (const char *base64, GError **error);
void sd_charsmap_free (SdCharsmap *cm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdCharsmap, sd_charsmap_free)

/* The replacement of the shortest prefix of s[0..len) that the map holds, or NULL. */
const char *sd_charsmap_transform (const SdCharsmap *cm, const char *s, gsize len);

/* Normalizes valid UTF-8 text: each extended grapheme cluster shorter than six bytes that has a
 * mapped prefix becomes that prefix's replacement; otherwise each character is replaced by its own
 * mapping or kept (the tokenizers library's rule, which differs from SentencePiece's own
 * longest-match walk). */
char *sd_charsmap_normalize (const SdCharsmap *cm, const char *text);

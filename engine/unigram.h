/* unigram.h: the SentencePiece Unigram model as the tokenizers library runs it: the Viterbi
 * segmentation over piece scores, unknown characters scored below every piece and fused. */
#pragma once

#include <glib.h>

typedef struct SdUnigram SdUnigram;

SdUnigram *sd_unigram_new (gint32 unk_id);
void sd_unigram_free (SdUnigram *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdUnigram, sd_unigram_free)

/* Appends a piece; its id is the number of pieces added before it. */
void sd_unigram_add (SdUnigram *model, const char *piece, double score);
int sd_unigram_size (const SdUnigram *model);
/* The id of a piece (the last one added with that text), or -1. */
gint32 sd_unigram_lookup (const SdUnigram *model, const char *piece);

/* Appends the ids of the best segmentation of one pre-tokenized word (valid UTF-8). */
void sd_unigram_encode (const SdUnigram *model, const char *word, GArray *ids);

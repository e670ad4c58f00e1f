/* unigram.c: Viterbi segmentation over Unigram piece scores (tokenizers' encode_optimized): the
 * best path score per byte position, pieces tried shortest first, ties kept by the earlier path,
 * an unknown piece of one character scored min_score - 10 where no one-character piece exists,
 * and runs of unknown pieces fused into one. */
#include <math.h>
#include <string.h>

#include "unigram.h"

#define UNK_PENALTY 10.0

struct SdUnigram {
  GHashTable *ids;     /* piece -> id + 1 */
  GArray *scores;      /* double, by id */
  double min_score;
  gsize max_piece_len; /* bytes */
  gint32 unk_id;
};

SdUnigram *
sd_unigram_new (gint32 unk_id)
{
  SdUnigram *m = g_new0 (SdUnigram, 1);
  m->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m->scores = g_array_new (FALSE, FALSE, sizeof (double));
  m->min_score = INFINITY;
  m->unk_id = unk_id;
  return m;
}

void
sd_unigram_free (SdUnigram *m)
{
  if (!m)
    return;
  g_hash_table_unref (m->ids);
  g_array_unref (m->scores);
  g_free (m);
}

void
sd_unigram_add (SdUnigram *m, const char *piece, double score)
{
  gsize len = strlen (piece);
  g_hash_table_insert (m->ids, g_strdup (piece), GINT_TO_POINTER (m->scores->len + 1));
  g_array_append_val (m->scores, score);
  if (score < m->min_score)
    m->min_score = score;
  if (len > m->max_piece_len)
    m->max_piece_len = len;
}

int
sd_unigram_size (const SdUnigram *m)
{
  return m->scores->len;
}

gint32
sd_unigram_lookup (const SdUnigram *m, const char *piece)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (m->ids, piece)) - 1;
}

typedef struct {
  double score; /* of the best path ending here */
  gsize start;  /* where its last piece starts; G_MAXSIZE: no path yet */
  gint32 id;
} Node;

static void
relax (Node *node, gsize start, double score, gint32 id)
{
  if (node->start == G_MAXSIZE || score > node->score)
    {
      node->score = score;
      node->start = start;
      node->id = id;
    }
}

typedef struct {
  gsize start, end;
  gint32 id;
} Piece;

void
sd_unigram_encode (const SdUnigram *m, const char *word, GArray *ids)
{
  gsize size = strlen (word), pos, end, i;
  double unk_score = m->min_score - UNK_PENALTY;
  g_autofree Node *best = NULL;
  g_autofree char *key = NULL;
  g_autoptr (GArray) path = NULL;

  if (size == 0)
    return;
  best = g_new (Node, size + 1);
  key = g_malloc (MIN (size, m->max_piece_len) + 1);
  path = g_array_new (FALSE, FALSE, sizeof (Piece));
  for (i = 0; i <= size; i++)
    best[i] = (Node) { 0.0, G_MAXSIZE, 0 };
  for (pos = 0; pos < size; pos = g_utf8_next_char (word + pos) - word)
    {
      gsize mblen = g_utf8_next_char (word + pos) - (word + pos);
      gboolean single = FALSE;
      double base = best[pos].score;

      for (end = pos + mblen; end - pos <= m->max_piece_len;
           end = g_utf8_next_char (word + end) - word)
        {
          gint32 id;
          memcpy (key, word + pos, end - pos);
          key[end - pos] = '\0';
          id = sd_unigram_lookup (m, key);
          if (id >= 0)
            {
              relax (&best[end], pos, g_array_index (m->scores, double, id) + base, id);
              single |= end - pos == mblen;
            }
          if (end == size)
            break;
        }
      if (!single)
        relax (&best[pos + mblen], pos, unk_score + base, m->unk_id);
    }
  for (end = size; end > 0; end = best[end].start)
    {
      Piece p = { best[end].start, end, best[end].id };
      g_array_append_val (path, p);
    }
  /* path runs backwards; a run of unknown pieces becomes one, whose text may itself be a piece */
  for (i = path->len; i-- > 0;)
    {
      Piece *p = &g_array_index (path, Piece, i);
      gint32 id = p->id;

      if (id == m->unk_id && i > 0 && g_array_index (path, Piece, i - 1).id == m->unk_id)
        {
          gsize start = p->start;
          g_autofree char *text = NULL;
          while (i > 0 && g_array_index (path, Piece, i - 1).id == m->unk_id)
            i--;
          text = g_strndup (word + start, g_array_index (path, Piece, i).end - start);
          id = sd_unigram_lookup (m, text);
          if (id < 0)
            id = m->unk_id;
        }
      g_array_append_val (ids, id);
    }
}

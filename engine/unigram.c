/* unigram.c: Viterbi segmentation over Unigram piece scores (tokenizers' encode_optimized): the
 * best path score per byte position, pieces tried shortest first, ties kept by the earlier path,
 * an unknown piece of one character scored min_score - 10 where no one-character piece exists,
 * and runs of unknown pieces fused into one. The pieces starting at a position are found by
 * walking a byte trie of the vocabulary, one step per byte, so a hostile vocabulary with very long
 * pieces costs no more than the word's length times the longest match. */
#include <math.h>
#include <string.h>

#include "unigram.h"

#define UNK_PENALTY 10.0

struct SdUnigram {
  GHashTable *ids;     /* piece -> id + 1 */
  GArray *scores;      /* double, by id */
  GArray *trie;        /* gint32 by node: the id of the piece spelled from the root to it, or -1 */
  GHashTable *edges;   /* (node << 8 | byte) + 1 -> child node + 1 */
  double min_score;
  gint32 unk_id;
};

#define EDGE(node, byte) GSIZE_TO_POINTER (((gsize) (node) << 8 | (guint8) (byte)) + 1)

static gint32
trie_child (const SdUnigram *m, gint32 node, char byte)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (m->edges, EDGE (node, byte))) - 1;
}

SdUnigram *
sd_unigram_new (gint32 unk_id)
{
  SdUnigram *m = g_new0 (SdUnigram, 1);
  m->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m->scores = g_array_new (FALSE, FALSE, sizeof (double));
  m->trie = g_array_new (FALSE, FALSE, sizeof (gint32));
  m->edges = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_array_append_val (m->trie, (gint32) { -1 }); /* the root */
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
  g_array_unref (m->trie);
  g_hash_table_unref (m->edges);
  g_free (m);
}

void
sd_unigram_add (SdUnigram *m, const char *piece, double score)
{
  const gint32 id = m->scores->len, none = -1;
  gint32 node = 0;
  const char *p;

  g_hash_table_insert (m->ids, g_strdup (piece), GINT_TO_POINTER (id + 1));
  g_array_append_val (m->scores, score);
  if (score < m->min_score)
    m->min_score = score;
  for (p = piece; *p; p++)
    {
      gint32 child = trie_child (m, node, *p);
      if (child < 0)
        {
          child = m->trie->len;
          g_array_append_val (m->trie, none);
          g_hash_table_insert (m->edges, EDGE (node, *p), GINT_TO_POINTER (child + 1));
        }
      node = child;
    }
  g_array_index (m->trie, gint32, node) = id; /* the last piece added with this text */
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
  g_autoptr (GArray) path = NULL;

  if (size == 0)
    return;
  best = g_new (Node, size + 1);
  path = g_array_new (FALSE, FALSE, sizeof (Piece));
  for (i = 0; i <= size; i++)
    best[i] = (Node) { 0.0, G_MAXSIZE, 0 };
  for (pos = 0; pos < size; pos = g_utf8_next_char (word + pos) - word)
    {
      gsize mblen = g_utf8_next_char (word + pos) - (word + pos);
      gboolean single = FALSE;
      double base = best[pos].score;
      gint32 node = 0;

      /* every piece that starts here, shortest first, ending on a character boundary */
      for (end = pos; end < size && (node = trie_child (m, node, word[end])) >= 0; end++)
        {
          gint32 id = g_array_index (m->trie, gint32, node);
          if (id >= 0 && (end + 1 == size || (word[end + 1] & 0xc0) != 0x80))
            {
              relax (&best[end + 1], pos, g_array_index (m->scores, double, id) + base, id);
              single |= end + 1 - pos == mblen;
            }
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

/* attn_plan.c: builds the exact block-sparse attention plan of a token layout: for every query
 * block the ascending key blocks holding at least one allowed pair, flagged partial unless every
 * pair is allowed, found from the grid structure (dilated query footprints, per-window LR key
 * blocks, bounding boxes) instead of testing all pairs; and the plan's statistics. */
#include <stdlib.h>
#include <string.h>

#include "layout.h"

/* What one block of the sequence holds: token counts per kind and tight bounding boxes. */
typedef struct {
  int n_text, n_hr, n_lr;
  int hr_r0, hr_r1, hr_c0, hr_c1; /* HR tokens' rows and columns */
  int hw_r0, hw_r1, hw_c0, hw_c1; /* HR tokens' windows */
  int lr_r0, lr_r1, lr_c0, lr_c1; /* LR tokens' rows and columns */
  int lw_r0, lw_r1, lw_c0, lw_c1; /* LR tokens' windows */
} BlockInfo;

typedef struct {
  const SdLayout *layout;
  SdMaskRules rules;
  int qb;            /* the query block being planned */
  int *stamp;        /* [n_k_blocks]: qb when already listed */
  int *list;         /* the listed key blocks */
  int n_list;
  int *win_stamp;    /* [windows]: qb when its LR neighbours are listed */
  int *hr_cell_kb;   /* [hr cells]: key block of each raster HR cell */
  int *lr_cell_kb;   /* [lr cells]: same for LR */
  int *win_start;    /* [windows + 1]: CSR of the key blocks holding each window's LR tokens */
  int *win_kb;
  guint8 *mark, *near; /* dilation scratch */
  int *prefix;
  gsize mark_size, near_size, prefix_size;
} Builder;

static void
grow (int a0, int a1, int *lo, int *hi)
{
  *lo = MIN (*lo, a0);
  *hi = MAX (*hi, a1);
}

static BlockInfo *
summarize (const SdTokenPos *tokens, int n_tokens, int block, int n_blocks)
{
  BlockInfo *info = g_new (BlockInfo, n_blocks);
  int b, i;

  for (b = 0; b < n_blocks; b++)
    {
      BlockInfo *f = &info[b];
      f->n_text = f->n_hr = f->n_lr = 0;
      f->hr_r0 = f->hr_c0 = f->hw_r0 = f->hw_c0 = G_MAXINT;
      f->lr_r0 = f->lr_c0 = f->lw_r0 = f->lw_c0 = G_MAXINT;
      f->hr_r1 = f->hr_c1 = f->hw_r1 = f->hw_c1 = -1;
      f->lr_r1 = f->lr_c1 = f->lw_r1 = f->lw_c1 = -1;
    }
  for (i = 0; i < n_tokens; i++)
    {
      const SdTokenPos *t = &tokens[i];
      BlockInfo *f = &info[i / block];
      if (t->kind == SD_TOK_TEXT)
        f->n_text++;
      else if (t->kind == SD_TOK_HR)
        {
          f->n_hr++;
          grow (t->row, t->row, &f->hr_r0, &f->hr_r1);
          grow (t->col, t->col, &f->hr_c0, &f->hr_c1);
          grow (t->wrow, t->wrow, &f->hw_r0, &f->hw_r1);
          grow (t->wcol, t->wcol, &f->hw_c0, &f->hw_c1);
        }
      else
        {
          f->n_lr++;
          grow (t->row, t->row, &f->lr_r0, &f->lr_r1);
          grow (t->col, t->col, &f->lr_c0, &f->lr_c1);
          grow (t->wrow, t->wrow, &f->lw_r0, &f->lw_r1);
          grow (t->wcol, t->wcol, &f->lw_c0, &f->lw_c1);
        }
    }
  return info;
}

static void
add (Builder *b, int kb)
{
  if (b->stamp[kb] == b->qb)
    return;
  b->stamp[kb] = b->qb;
  b->list[b->n_list++] = kb;
}

static void *
scratch (void *p, gsize *size, gsize need)
{
  if (need <= *size)
    return p;
  *size = MAX (need, 2 * *size);
  return g_realloc (p, *size);
}

/* Lists every key block holding a cell within Chebyshev distance `radius` of one of the query
 * tokens of `kind` in [first, last): marks those tokens in their bounding box [r0, r1] × [c0, c1],
 * dilates the marks by the radius along columns then rows (running counts), and looks up the
 * key block of each cell of the dilated footprint. */
static void
list_near (Builder *b, int first, int last, SdTokenKind kind, int rows, int cols, int radius,
           int r0, int r1, int c0, int c1, const int *cell_kb)
{
  const SdTokenPos *tokens = b->layout->tokens;
  const int bh = r1 - r0 + 1, bw = c1 - c0 + 1;
  const int x0 = MAX (0, c0 - radius), x1 = MIN (cols - 1, c1 + radius);
  const int y0 = MAX (0, r0 - radius), y1 = MIN (rows - 1, r1 + radius);
  const int dw = x1 - x0 + 1;
  int *pre, *colsum;
  int i, x, y;

  b->mark = scratch (b->mark, &b->mark_size, (gsize) bh * bw);
  b->near = scratch (b->near, &b->near_size, (gsize) bh * dw);
  b->prefix = scratch (b->prefix, &b->prefix_size, sizeof (int) * ((gsize) (bh + 1) * dw + bw + 1));
  pre = b->prefix;
  colsum = b->prefix + bw + 1;
  memset (b->mark, 0, (gsize) bh * bw);
  for (i = first; i < last; i++)
    if (tokens[i].kind == (int) kind)
      b->mark[(gsize) (tokens[i].row - r0) * bw + tokens[i].col - c0] = 1;

  /* near[y][x]: some marked cell of row y within the radius of column x */
  for (y = 0; y < bh; y++)
    {
      const guint8 *m = b->mark + (gsize) y * bw;
      guint8 *nr = b->near + (gsize) y * dw;
      pre[0] = 0;
      for (x = 0; x < bw; x++)
        pre[x + 1] = pre[x] + m[x];
      for (x = x0; x <= x1; x++)
        {
          int lo = MAX (x - radius, c0) - c0, hi = MIN (x + radius, c1) - c0;
          nr[x - x0] = pre[hi + 1] > pre[lo];
        }
    }
  /* colsum[y][x]: near cells of column x in bounding-box rows before y */
  for (x = 0; x < dw; x++)
    colsum[x] = 0;
  for (y = 0; y < bh; y++)
    for (x = 0; x < dw; x++)
      colsum[(gsize) (y + 1) * dw + x] = colsum[(gsize) y * dw + x] + b->near[(gsize) y * dw + x];
  for (y = y0; y <= y1; y++)
    {
      const int lo = MAX (y - radius, r0) - r0, hi = MIN (y + radius, r1) - r0;
      const int *top = colsum + (gsize) lo * dw, *bottom = colsum + (gsize) (hi + 1) * dw;
      const int *kb = cell_kb + (gsize) y * cols + x0;
      for (x = 0; x < dw; x++)
        if (bottom[x] > top[x])
          add (b, kb[x]);
    }
}

/* Lists the key blocks holding LR tokens of the windows that the HR queries in [first, last)
 * may see: same window row, window column within the span. */
static void
list_lr_windows (Builder *b, int first, int last)
{
  const SdLayout *l = b->layout;
  const int span = b->rules.lr_window_span;
  int i, wc, j;

  for (i = first; i < last; i++)
    {
      const SdTokenPos *t = &l->tokens[i];
      int w;
      if (t->kind != SD_TOK_HR)
        continue;
      w = t->wrow * l->n_wcols + t->wcol;
      if (b->win_stamp[w] == b->qb)
        continue;
      b->win_stamp[w] = b->qb;
      for (wc = MAX (0, t->wcol - span); wc <= MIN (l->n_wcols - 1, t->wcol + span); wc++)
        {
          int w2 = t->wrow * l->n_wcols + wc;
          for (j = b->win_start[w2]; j < b->win_start[w2 + 1]; j++)
            add (b, b->win_kb[j]);
        }
    }
}

/* Every pair of a box of rows/columns [a0, a1] against [b0, b1] is within the radius. */
static gboolean
all_within (int a0, int a1, int b0, int b1, int radius)
{
  return a1 - b0 <= radius && b1 - a0 <= radius;
}

/* TRUE when every (query, key) pair of the two blocks is allowed (bounding boxes are tight, so
 * the largest distance over pairs is read off them exactly). */
static gboolean
block_full (const SdMaskRules *r, const BlockInfo *q, const BlockInfo *k)
{
  if (q->n_text && k->n_lr)
    return FALSE;
  if (q->n_hr && k->n_hr
      && !(all_within (q->hr_r0, q->hr_r1, k->hr_r0, k->hr_r1, r->hr_radius)
           && all_within (q->hr_c0, q->hr_c1, k->hr_c0, k->hr_c1, r->hr_radius)))
    return FALSE;
  if (q->n_hr && k->n_lr
      && !(q->hw_r0 == q->hw_r1 && k->lw_r0 == k->lw_r1 && q->hw_r0 == k->lw_r0
           && all_within (q->hw_c0, q->hw_c1, k->lw_c0, k->lw_c1, r->lr_window_span)))
    return FALSE;
  if (q->n_lr && (k->n_text || k->n_hr))
    return FALSE;
  if (q->n_lr && k->n_lr
      && !(all_within (q->lr_r0, q->lr_r1, k->lr_r0, k->lr_r1, r->lr_radius)
           && all_within (q->lr_c0, q->lr_c1, k->lr_c0, k->lr_c1, r->lr_radius)))
    return FALSE;
  return TRUE;
}

static int
compare_int (const void *a, const void *b)
{
  int x = *(const int *) a, y = *(const int *) b;
  return (x > y) - (x < y);
}

/* The key block of every raster cell of a grid whose sequence slots start at `start`. */
static int *
cell_key_blocks (const int *perm, int n_cells, int start, int k_block)
{
  int *kb = g_new (int, MAX (n_cells, 1));
  int i;
  for (i = 0; i < n_cells; i++)
    kb[perm[i]] = (start + i) / k_block;
  return kb;
}

/* For each window, the ascending distinct key blocks holding its LR tokens (CSR). */
static void
window_lr_blocks (Builder *b, int k_block)
{
  const SdLayout *l = b->layout;
  const int n_w = l->n_wrows * l->n_wcols;
  int *last = g_new (int, n_w), *fill = g_new (int, n_w);
  int i, w, pass;

  b->win_start = g_new0 (int, n_w + 1);
  for (pass = 0; pass < 2; pass++)
    {
      for (w = 0; w < n_w; w++)
        last[w] = -1;
      for (i = l->lr_start; i < l->n_tokens; i++)
        {
          int kb = i / k_block;
          w = l->tokens[i].wrow * l->n_wcols + l->tokens[i].wcol;
          if (last[w] == kb)
            continue;
          last[w] = kb;
          if (pass == 0)
            b->win_start[w + 1]++;
          else
            b->win_kb[fill[w]++] = kb;
        }
      if (pass == 0)
        {
          for (w = 0; w < n_w; w++)
            b->win_start[w + 1] += b->win_start[w];
          b->win_kb = g_new (int, MAX (b->win_start[n_w], 1));
          for (w = 0; w < n_w; w++)
            fill[w] = b->win_start[w];
        }
    }
  g_free (last);
  g_free (fill);
}

SdAttnPlan *
sd_attn_plan_new (const SdLayout *layout, const SdMaskRules *rules, int q_block, int k_block,
                  GError **error)
{
  static const SdMaskRules defaults = { 8, 2, 1 };
  const SdLayoutSpec *s = &layout->spec;
  SdAttnPlan *p;
  Builder b = { 0 };
  BlockInfo *qinfo, *kinfo;
  gsize cap = 0, n_out = 0;
  int qb, j;

  q_block = q_block ? q_block : 128;
  k_block = k_block ? k_block : 64;
  if (q_block < 1 || k_block < 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "attention plan: block size %dx%d is not positive", q_block, k_block);
      return NULL;
    }
  b.rules = rules ? *rules : defaults;
  if (b.rules.hr_radius < 0 || b.rules.lr_radius < 0 || b.rules.lr_window_span < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "attention plan: mask radii (HR %d, LR %d, LR window span %d) must not be negative",
                   b.rules.hr_radius, b.rules.lr_radius, b.rules.lr_window_span);
      return NULL;
    }

  p = g_new0 (SdAttnPlan, 1);
  p->n_tokens = layout->n_tokens;
  p->q_block = q_block;
  p->k_block = k_block;
  p->n_q_blocks = (p->n_tokens + q_block - 1) / q_block;
  p->n_k_blocks = (p->n_tokens + k_block - 1) / k_block;
  p->rules = b.rules;
  p->tokens = g_memdup2 (layout->tokens, sizeof (SdTokenPos) * p->n_tokens);
  p->row_start = g_new (int, p->n_q_blocks + 1);

  b.layout = layout;
  b.stamp = g_new (int, p->n_k_blocks);
  b.list = g_new (int, p->n_k_blocks);
  b.win_stamp = g_new (int, layout->n_wrows * layout->n_wcols);
  for (j = 0; j < p->n_k_blocks; j++)
    b.stamp[j] = -1;
  for (j = 0; j < layout->n_wrows * layout->n_wcols; j++)
    b.win_stamp[j] = -1;
  b.hr_cell_kb = cell_key_blocks (layout->hr_perm, s->hr_rows * s->hr_cols, layout->hr_start, k_block);
  b.lr_cell_kb = cell_key_blocks (layout->lr_perm, s->lr_rows * s->lr_cols, layout->lr_start, k_block);
  window_lr_blocks (&b, k_block);
  qinfo = summarize (layout->tokens, p->n_tokens, q_block, p->n_q_blocks);
  kinfo = summarize (layout->tokens, p->n_tokens, k_block, p->n_k_blocks);

  for (qb = 0; qb < p->n_q_blocks; qb++)
    {
      const BlockInfo *q = &qinfo[qb];
      const int first = qb * q_block, last = MIN (p->n_tokens, first + q_block);

      b.qb = qb;
      b.n_list = 0;
      if (q->n_text) /* text queries: all text and HR keys */
        for (j = 0; j <= (layout->lr_start - 1) / k_block; j++)
          add (&b, j);
      if (q->n_hr)
        {
          for (j = 0; j < (s->n_text + k_block - 1) / k_block; j++) /* all text keys */
            add (&b, j);
          list_near (&b, first, last, SD_TOK_HR, s->hr_rows, s->hr_cols, b.rules.hr_radius,
                     q->hr_r0, q->hr_r1, q->hr_c0, q->hr_c1, b.hr_cell_kb);
          if (s->lr_rows > 0)
            list_lr_windows (&b, first, last);
        }
      if (q->n_lr)
        list_near (&b, first, last, SD_TOK_LR, s->lr_rows, s->lr_cols, b.rules.lr_radius,
                   q->lr_r0, q->lr_r1, q->lr_c0, q->lr_c1, b.lr_cell_kb);

      qsort (b.list, b.n_list, sizeof (int), compare_int);
      if (n_out + b.n_list > cap)
        {
          cap = MAX (2 * cap, n_out + b.n_list + 1024);
          p->kblock = g_renew (int, p->kblock, cap);
          p->partial = g_renew (guint8, p->partial, cap);
        }
      p->row_start[qb] = (int) n_out;
      for (j = 0; j < b.n_list; j++, n_out++)
        {
          p->kblock[n_out] = b.list[j];
          p->partial[n_out] = !block_full (&b.rules, q, &kinfo[b.list[j]]);
        }
    }
  p->row_start[p->n_q_blocks] = (int) n_out;

  g_free (qinfo);
  g_free (kinfo);
  g_free (b.stamp);
  g_free (b.list);
  g_free (b.win_stamp);
  g_free (b.hr_cell_kb);
  g_free (b.lr_cell_kb);
  g_free (b.win_start);
  g_free (b.win_kb);
  g_free (b.mark);
  g_free (b.near);
  g_free (b.prefix);
  return p;
}

void
sd_attn_plan_free (SdAttnPlan *plan)
{
  if (!plan)
    return;
  g_free (plan->row_start);
  g_free (plan->kblock);
  g_free (plan->partial);
  g_free (plan->tokens);
  g_free (plan);
}

/* Cells of [c - r, c + r] inside [0, side). */
static gint64
clipped_span (int c, int r, int side)
{
  return MIN (c + r, side - 1) - MAX (c - r, 0) + 1;
}

void
sd_attn_plan_stats (const SdAttnPlan *plan, const SdLayout *layout, SdAttnPlanStats *stats)
{
  const SdLayoutSpec *s = &layout->spec;
  const SdMaskRules *r = &plan->rules;
  const int n_w = layout->n_wrows * layout->n_wcols;
  gint64 *lr_in_window = g_new0 (gint64, n_w);
  int qb, i, wc;

  stats->computed_blocks = plan->row_start[plan->n_q_blocks];
  stats->total_blocks = (gint64) plan->n_q_blocks * plan->n_k_blocks;
  stats->density = (double) stats->computed_blocks / stats->total_blocks;
  stats->full_blocks = 0;
  stats->computed_pairs = 0;
  for (qb = 0; qb < plan->n_q_blocks; qb++)
    {
      gint64 nq = MIN (plan->n_tokens, (qb + 1) * plan->q_block) - qb * plan->q_block;
      for (i = plan->row_start[qb]; i < plan->row_start[qb + 1]; i++)
        {
          int k0 = plan->kblock[i] * plan->k_block;
          stats->computed_pairs += nq * (MIN (plan->n_tokens, k0 + plan->k_block) - k0);
          stats->full_blocks += !plan->partial[i];
        }
    }

  for (i = layout->lr_start; i < layout->n_tokens; i++)
    lr_in_window[layout->tokens[i].wrow * layout->n_wcols + layout->tokens[i].wcol]++;
  stats->allowed_pairs = 0;
  for (i = 0; i < layout->n_tokens; i++)
    {
      const SdTokenPos *t = &layout->tokens[i];
      if (t->kind == SD_TOK_TEXT)
        stats->allowed_pairs += layout->lr_start;
      else if (t->kind == SD_TOK_HR)
        {
          stats->allowed_pairs += s->n_text + clipped_span (t->row, r->hr_radius, s->hr_rows)
                                                  * clipped_span (t->col, r->hr_radius, s->hr_cols);
          for (wc = MAX (0, t->wcol - r->lr_window_span);
               wc <= MIN (layout->n_wcols - 1, t->wcol + r->lr_window_span); wc++)
            stats->allowed_pairs += lr_in_window[t->wrow * layout->n_wcols + wc];
        }
      else
        stats->allowed_pairs += clipped_span (t->row, r->lr_radius, s->lr_rows)
                                * clipped_span (t->col, r->lr_radius, s->lr_cols);
    }
  stats->allowed_fraction = (double) stats->allowed_pairs / ((double) layout->n_tokens * layout->n_tokens);
  g_free (lr_in_window);
}

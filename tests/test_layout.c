/* test_layout.c: the detail-pass token layout: permutations are bijections, windows are
 * contiguous and visited in the stated order, tokens and RoPE ids match the grids, partial and
 * non-integer LR windows, and bad specs give errors. */
#include <math.h>
#include <stdlib.h>

#include "layout.h"

typedef struct {
  int n_text, hr_rows, hr_cols, lr_rows, lr_cols, window;
} Case;

static const Case cases[] = {
  { 7, 32, 32, 8, 8, 16 },    /* exact windows, f = 4 */
  { 3, 20, 37, 5, 10, 8 },    /* partial windows, f = 4 and 3.7 */
  { 0, 33, 18, 11, 6, 16 },   /* partial windows, f = 3 */
  { 5, 24, 40, 7, 13, 8 },    /* non-integer LR window sides */
  { 2, 9, 13, 0, 0, 4 },      /* no LR */
  { 1, 1, 1, 1, 1, 16 },
  { 4, 48, 16, 3, 1, 8 },     /* LR windows narrower than a token: some are empty */
};

static const SdTokenOrder orders[] = { SD_ORDER_HILBERT, SD_ORDER_WINDOW, SD_ORDER_RASTER };

static SdLayout *
make (const Case *c, SdTokenOrder order)
{
  SdLayoutSpec spec = { c->n_text, c->hr_rows, c->hr_cols, c->lr_rows, c->lr_cols, c->window, order, 0, 0 };
  GError *error = NULL;
  SdLayout *l = sd_layout_new (&spec, &error);
  g_assert_no_error (error);
  return l;
}

/* The HR window holding the centre of LR index r, computed in floating point. */
static int
lr_window (int r, int lr_side, int hr_side, int window)
{
  return (int) floor ((r + 0.5) * hr_side / lr_side / window);
}

static void
assert_bijection (const int *perm, int n)
{
  guint8 *seen = g_new0 (guint8, n);
  int i;
  for (i = 0; i < n; i++)
    {
      g_assert_cmpint (perm[i], >=, 0);
      g_assert_cmpint (perm[i], <, n);
      g_assert_false (seen[perm[i]]);
      seen[perm[i]] = 1;
    }
  g_free (seen);
}

static void
test_tokens (void)
{
  gsize ci, oi;
  for (ci = 0; ci < G_N_ELEMENTS (cases); ci++)
    for (oi = 0; oi < G_N_ELEMENTS (orders); oi++)
      {
        const Case *c = &cases[ci];
        SdLayout *l = make (c, orders[oi]);
        int n_hr = c->hr_rows * c->hr_cols, n_lr = c->lr_rows * c->lr_cols, i;

        g_assert_cmpint (l->hr_start, ==, c->n_text);
        g_assert_cmpint (l->lr_start, ==, c->n_text + n_hr);
        g_assert_cmpint (l->n_tokens, ==, c->n_text + n_hr + n_lr);
        g_assert_cmpint (l->n_wrows, ==, (c->hr_rows + c->window - 1) / c->window);
        g_assert_cmpint (l->n_wcols, ==, (c->hr_cols + c->window - 1) / c->window);
        assert_bijection (l->hr_perm, n_hr);
        if (n_lr)
          assert_bijection (l->lr_perm, n_lr);
        else
          g_assert_null (l->lr_perm);

        for (i = 0; i < l->n_tokens; i++)
          {
            const SdTokenPos *t = &l->tokens[i];
            const float *id = l->rope_ids + 3 * i;
            g_assert_cmpfloat (id[0], ==, 0);
            if (i < l->hr_start)
              {
                g_assert_cmpint (t->kind, ==, SD_TOK_TEXT);
                g_assert_true (t->row == 0 && t->col == 0 && t->wrow == 0 && t->wcol == 0);
                g_assert_true (id[1] == 0 && id[2] == 0);
              }
            else if (i < l->lr_start)
              {
                int p = l->hr_perm[i - l->hr_start];
                g_assert_cmpint (t->kind, ==, SD_TOK_HR);
                g_assert_cmpint (t->row, ==, p / c->hr_cols);
                g_assert_cmpint (t->col, ==, p % c->hr_cols);
                g_assert_cmpint (t->wrow, ==, t->row / c->window);
                g_assert_cmpint (t->wcol, ==, t->col / c->window);
                g_assert_cmpfloat (id[1], ==, t->row);
                g_assert_cmpfloat (id[2], ==, t->col);
              }
            else
              {
                int p = l->lr_perm[i - l->lr_start];
                g_assert_cmpint (t->kind, ==, SD_TOK_LR);
                g_assert_cmpint (t->row, ==, p / c->lr_cols);
                g_assert_cmpint (t->col, ==, p % c->lr_cols);
                g_assert_cmpint (t->wrow, ==, lr_window (t->row, c->lr_rows, c->hr_rows, c->window));
                g_assert_cmpint (t->wcol, ==, lr_window (t->col, c->lr_cols, c->hr_cols, c->window));
                g_assert_cmpfloat_with_epsilon (id[1], t->row * (double) c->hr_rows / c->lr_rows, 1e-4);
                g_assert_cmpfloat_with_epsilon (id[2], t->col * (double) c->hr_cols / c->lr_cols, 1e-4);
              }
          }
        sd_layout_free (l);
      }
}

/* The window-id sequence of the runs of [first, last): each window appears as one run. */
static GArray *
window_runs (const SdLayout *l, int first, int last)
{
  GArray *runs = g_array_new (FALSE, FALSE, sizeof (int));
  guint8 *seen = g_new0 (guint8, l->n_wrows * l->n_wcols);
  int i;
  for (i = first; i < last; i++)
    {
      int w = l->tokens[i].wrow * l->n_wcols + l->tokens[i].wcol;
      if (i > first && w == g_array_index (runs, int, runs->len - 1))
        continue;
      g_assert_false (seen[w]); /* a window comes back: not contiguous */
      seen[w] = 1;
      g_array_append_val (runs, w);
    }
  g_free (seen);
  return runs;
}

static void
test_windows (void)
{
  gsize ci, oi;
  for (ci = 0; ci < G_N_ELEMENTS (cases); ci++)
    for (oi = 0; oi < 2; oi++) /* Hilbert and window orders keep windows contiguous */
      {
        const Case *c = &cases[ci];
        SdLayout *l = make (c, orders[oi]);
        GArray *hr = window_runs (l, l->hr_start, l->lr_start);
        GArray *lr = window_runs (l, l->lr_start, l->n_tokens);
        guint i, j;
        int k;

        g_assert_cmpuint (hr->len, ==, l->n_wrows * l->n_wcols);
        /* LR windows follow the HR window order (skipping empty ones) */
        for (i = j = 0; i < lr->len; i++, j++)
          {
            while (j < hr->len && g_array_index (hr, int, j) != g_array_index (lr, int, i))
              j++;
            g_assert_cmpuint (j, <, hr->len);
          }
        for (i = 0; i < hr->len; i++)
          {
            int w = g_array_index (hr, int, i);
            if (orders[oi] == SD_ORDER_WINDOW)
              g_assert_cmpint (w, ==, (int) i);
            else if (i > 0)
              {
                int p = g_array_index (hr, int, i - 1);
                int dr = abs (w / l->n_wcols - p / l->n_wcols), dc = abs (w % l->n_wcols - p % l->n_wcols);
                g_assert_cmpint (MAX (dr, dc), ==, 1);
              }
          }
        /* inside a window: raster (window order) or 4-neighbour steps, one diagonal at most
         * (Hilbert) */
        for (k = l->hr_start + 1; k < l->lr_start; k++)
          {
            const SdTokenPos *a = &l->tokens[k - 1], *b = &l->tokens[k];
            if (a->wrow != b->wrow || a->wcol != b->wcol)
              continue;
            if (orders[oi] == SD_ORDER_WINDOW)
              g_assert_true ((b->row == a->row && b->col == a->col + 1)
                             || (b->row == a->row + 1 && b->col <= a->col));
            else
              g_assert_cmpint (MAX (abs (b->row - a->row), abs (b->col - a->col)), ==, 1);
          }
        g_array_unref (hr);
        g_array_unref (lr);
        sd_layout_free (l);
      }
}

static void
test_raster (void)
{
  SdLayout *l = make (&cases[1], SD_ORDER_RASTER);
  int i;
  for (i = 0; i < cases[1].hr_rows * cases[1].hr_cols; i++)
    g_assert_cmpint (l->hr_perm[i], ==, i);
  for (i = 0; i < cases[1].lr_rows * cases[1].lr_cols; i++)
    g_assert_cmpint (l->lr_perm[i], ==, i);
  sd_layout_free (l);
}

/* With an integer ratio the LR windows are (window / f)² squares, e.g. 4 × 4 at 4K. */
static void
test_lr_window_side (void)
{
  SdLayoutSpec spec = { 512, 256, 256, 64, 64, 16, SD_ORDER_HILBERT, 0, 0 };
  SdLayout *l = sd_layout_new (&spec, NULL);
  int i;
  for (i = l->lr_start; i < l->n_tokens; i++)
    {
      const SdTokenPos *t = &l->tokens[i];
      g_assert_cmpint (t->wrow, ==, t->row / 4);
      g_assert_cmpint (t->wcol, ==, t->col / 4);
      g_assert_cmpfloat (l->rope_ids[3 * i + 1], ==, 4.0f * t->row);
      g_assert_cmpfloat (l->rope_ids[3 * i + 2], ==, 4.0f * t->col);
      /* each aligned run of 16 LR tokens is one window */
      if ((i - l->lr_start) % 16)
        {
          g_assert_cmpint (t->wrow, ==, l->tokens[i - 1].wrow);
          g_assert_cmpint (t->wcol, ==, l->tokens[i - 1].wcol);
        }
    }
  g_assert_cmpfloat (l->spec.lr_row_scale, ==, 4.0);
  sd_layout_free (l);
}

static void
test_errors (void)
{
  static const SdLayoutSpec bad[] = {
    { -1, 16, 16, 0, 0, 16, SD_ORDER_HILBERT, 0, 0 },
    { 0, 0, 16, 0, 0, 16, SD_ORDER_HILBERT, 0, 0 },
    { 0, 16, 16, 4, 0, 16, SD_ORDER_HILBERT, 0, 0 },
    { 0, 16, 16, 4, 4, 0, SD_ORDER_HILBERT, 0, 0 },
    { 0, 16, 16, 4, 4, 16, (SdTokenOrder) 7, 0, 0 },
    { 0, 16, 16, 4, 4, 16, SD_ORDER_RASTER, -1, 4 },
    { 0, 100000, 100000, 0, 0, 16, SD_ORDER_RASTER, 0, 0 },
  };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      g_assert_null (sd_layout_new (&bad[i], &error));
      g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "layout: "));
      g_error_free (error);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layout/tokens", test_tokens);
  g_test_add_func ("/layout/windows", test_windows);
  g_test_add_func ("/layout/raster", test_raster);
  g_test_add_func ("/layout/lr-window-side", test_lr_window_side);
  g_test_add_func ("/layout/errors", test_errors);
  return g_test_run ();
}

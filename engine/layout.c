/* layout.c: builds the token layout of a detail-pass sequence [text | HR | LR]: the order of HR
 * and LR tokens (Hilbert, window-first raster, or raster), each token's grid position and window,
 * and the RoPE position ids with the scaled LR anchors. */
#include "layout.h"
#include "hilbert.h"

int
sd_layout_lr_window (int r, int lr_side, int hr_side, int window)
{
  /* floor of the centre (r + 1/2) * hr_side / lr_side divided by the window side */
  return (int) (((gint64) (2 * r + 1) * hr_side) / ((gint64) 2 * lr_side * window));
}

/* Writes perm[slot] = raster index for a rows × cols grid cut into n_wr × n_wc windows whose
 * rows are [rstart[wr], rstart[wr + 1]) and columns [cstart[wc], cstart[wc + 1]). */
static void
order_grid (int rows, int cols, int n_wr, int n_wc, const int *rstart, const int *cstart,
            SdTokenOrder order, int *perm)
{
  int *windows, *curve = NULL;
  int curve_h = -1, curve_w = -1, n = 0, i, j;

  if (order == SD_ORDER_RASTER)
    {
      for (i = 0; i < rows * cols; i++)
        perm[i] = i;
      return;
    }
  windows = g_new (int, n_wr * n_wc);
  if (order == SD_ORDER_HILBERT)
    sd_hilbert_order (n_wr, n_wc, windows);
  else
    for (i = 0; i < n_wr * n_wc; i++)
      windows[i] = i;

  for (i = 0; i < n_wr * n_wc; i++)
    {
      const int wr = windows[i] / n_wc, wc = windows[i] % n_wc;
      const int r0 = rstart[wr], c0 = cstart[wc];
      const int h = rstart[wr + 1] - r0, w = cstart[wc + 1] - c0;
      if (h == 0 || w == 0)
        continue;
      if (order == SD_ORDER_HILBERT)
        {
          if (h != curve_h || w != curve_w)
            {
              curve = g_renew (int, curve, h * w);
              sd_hilbert_order (h, w, curve);
              curve_h = h;
              curve_w = w;
            }
          for (j = 0; j < h * w; j++)
            perm[n++] = (r0 + curve[j] / w) * cols + c0 + curve[j] % w;
        }
      else
        for (j = 0; j < h * w; j++)
          perm[n++] = (r0 + j / w) * cols + c0 + j % w;
    }
  g_assert (n == rows * cols);
  g_free (curve);
  g_free (windows);
}

/* Window boundaries along one HR axis: start[w] = w * window, clipped. */
static int *
hr_bounds (int side, int window, int n_w)
{
  int *start = g_new (int, n_w + 1);
  int w;
  for (w = 0; w <= n_w; w++)
    start[w] = MIN (w * window, side);
  return start;
}

/* Window boundaries along one LR axis: start[w] = the first LR index whose window is >= w. */
static int *
lr_bounds (int lr_side, int hr_side, int window, int n_w)
{
  int *start = g_new (int, n_w + 1);
  int w, r = 0;
  for (w = 0; w <= n_w; w++)
    {
      while (r < lr_side && sd_layout_lr_window (r, lr_side, hr_side, window) < w)
        r++;
      start[w] = r;
    }
  return start;
}

static gboolean
check_spec (const SdLayoutSpec *s, GError **error)
{
  gint64 n;

  if (s->n_text < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: n_text %d is negative", s->n_text);
      return FALSE;
    }
  if (s->hr_rows < 1 || s->hr_cols < 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: HR grid %dx%d is empty",
                   s->hr_rows, s->hr_cols);
      return FALSE;
    }
  if (s->lr_rows < 0 || s->lr_cols < 0 || (s->lr_rows == 0) != (s->lr_cols == 0))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "layout: LR grid %dx%d must have both sides positive, or both 0 (no LR)",
                   s->lr_rows, s->lr_cols);
      return FALSE;
    }
  if (s->window < 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: window side %d is not positive",
                   s->window);
      return FALSE;
    }
  if (s->order != SD_ORDER_HILBERT && s->order != SD_ORDER_WINDOW && s->order != SD_ORDER_RASTER)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: unknown token order %d", s->order);
      return FALSE;
    }
  if (s->lr_row_scale < 0 || s->lr_col_scale < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: LR anchor scale %gx%g is negative",
                   s->lr_row_scale, s->lr_col_scale);
      return FALSE;
    }
  n = (gint64) s->n_text + (gint64) s->hr_rows * s->hr_cols + (gint64) s->lr_rows * s->lr_cols;
  if (n > G_MAXINT / 4)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout: %" G_GINT64_FORMAT
                   " tokens are too many", n);
      return FALSE;
    }
  return TRUE;
}

static void
set_token (SdLayout *l, int i, SdTokenKind kind, int row, int col, int wrow, int wcol,
           double rope_row, double rope_col)
{
  l->tokens[i].kind = kind;
  l->tokens[i].row = row;
  l->tokens[i].col = col;
  l->tokens[i].wrow = wrow;
  l->tokens[i].wcol = wcol;
  l->rope_ids[3 * i + 0] = 0;
  l->rope_ids[3 * i + 1] = (float) rope_row;
  l->rope_ids[3 * i + 2] = (float) rope_col;
}

SdLayout *
sd_layout_new (const SdLayoutSpec *spec, GError **error)
{
  SdLayout *l;
  const SdLayoutSpec *s;
  int *rstart, *cstart;
  int i;

  if (!check_spec (spec, error))
    return NULL;

  l = g_new0 (SdLayout, 1);
  l->spec = *spec;
  s = &l->spec;
  if (s->lr_rows > 0 && s->lr_row_scale == 0)
    l->spec.lr_row_scale = (double) s->hr_rows / s->lr_rows;
  if (s->lr_cols > 0 && s->lr_col_scale == 0)
    l->spec.lr_col_scale = (double) s->hr_cols / s->lr_cols;
  l->n_wrows = (s->hr_rows + s->window - 1) / s->window;
  l->n_wcols = (s->hr_cols + s->window - 1) / s->window;
  l->hr_start = s->n_text;
  l->lr_start = l->hr_start + s->hr_rows * s->hr_cols;
  l->n_tokens = l->lr_start + s->lr_rows * s->lr_cols;
  l->tokens = g_new0 (SdTokenPos, l->n_tokens);
  l->rope_ids = g_new0 (float, (gsize) l->n_tokens * 3);

  for (i = 0; i < s->n_text; i++)
    set_token (l, i, SD_TOK_TEXT, 0, 0, 0, 0, 0, 0);

  l->hr_perm = g_new (int, s->hr_rows * s->hr_cols);
  rstart = hr_bounds (s->hr_rows, s->window, l->n_wrows);
  cstart = hr_bounds (s->hr_cols, s->window, l->n_wcols);
  order_grid (s->hr_rows, s->hr_cols, l->n_wrows, l->n_wcols, rstart, cstart, s->order, l->hr_perm);
  g_free (rstart);
  g_free (cstart);
  for (i = 0; i < s->hr_rows * s->hr_cols; i++)
    {
      int row = l->hr_perm[i] / s->hr_cols, col = l->hr_perm[i] % s->hr_cols;
      set_token (l, l->hr_start + i, SD_TOK_HR, row, col, row / s->window, col / s->window, row, col);
    }

  if (s->lr_rows > 0)
    {
      l->lr_perm = g_new (int, s->lr_rows * s->lr_cols);
      rstart = lr_bounds (s->lr_rows, s->hr_rows, s->window, l->n_wrows);
      cstart = lr_bounds (s->lr_cols, s->hr_cols, s->window, l->n_wcols);
      order_grid (s->lr_rows, s->lr_cols, l->n_wrows, l->n_wcols, rstart, cstart, s->order,
                  l->lr_perm);
      g_free (rstart);
      g_free (cstart);
      for (i = 0; i < s->lr_rows * s->lr_cols; i++)
        {
          int row = l->lr_perm[i] / s->lr_cols, col = l->lr_perm[i] % s->lr_cols;
          set_token (l, l->lr_start + i, SD_TOK_LR, row, col,
                     sd_layout_lr_window (row, s->lr_rows, s->hr_rows, s->window),
                     sd_layout_lr_window (col, s->lr_cols, s->hr_cols, s->window),
                     row * s->lr_row_scale, col * s->lr_col_scale);
        }
    }
  return l;
}

void
sd_layout_free (SdLayout *layout)
{
  if (!layout)
    return;
  g_free (layout->hr_perm);
  g_free (layout->lr_perm);
  g_free (layout->tokens);
  g_free (layout->rope_ids);
  g_free (layout);
}

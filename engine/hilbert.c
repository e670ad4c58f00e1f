/* hilbert.c: the generalized Hilbert ("gilbert") curve: recursive halving of a rectangle given
 * by an origin and two axis vectors, keeping sub-rectangle sides even where possible so that
 * each piece ends next to where the following one starts. */
#include <stdlib.h>

#include "hilbert.h"

typedef struct {
  int cols;
  int *out;
  int n;
} Walk;

static int
sign (int v)
{
  return (v > 0) - (v < 0);
}

/* v / 2 rounded towards minus infinity. */
static int
half_floor (int v)
{
  return v >= 0 ? v / 2 : -((1 - v) / 2);
}

static void
emit (Walk *w, int x, int y)
{
  w->out[w->n++] = y * w->cols + x;
}

/* Fills the rectangle with corner (x, y), major axis (ax, ay) and minor axis (bx, by): the curve
 * starts at the corner and ends at the far end of the major axis, on the corner's side. */
static void
walk_rect (Walk *w, int x, int y, int ax, int ay, int bx, int by)
{
  const int len_a = abs (ax + ay), len_b = abs (bx + by);
  const int dax = sign (ax), day = sign (ay), dbx = sign (bx), dby = sign (by);
  int ax2, ay2, bx2, by2, len_a2, len_b2, i;

  if (len_b == 1)
    {
      for (i = 0; i < len_a; i++, x += dax, y += day)
        emit (w, x, y);
      return;
    }
  if (len_a == 1)
    {
      for (i = 0; i < len_b; i++, x += dbx, y += dby)
        emit (w, x, y);
      return;
    }

  ax2 = half_floor (ax);
  ay2 = half_floor (ay);
  bx2 = half_floor (bx);
  by2 = half_floor (by);
  len_a2 = abs (ax2 + ay2);
  len_b2 = abs (bx2 + by2);

  if (2 * len_a > 3 * len_b)
    {
      /* Long and thin: split the major axis in two, each half walked the same way. */
      if ((len_a2 & 1) && len_a > 2)
        {
          ax2 += dax;
          ay2 += day;
        }
      walk_rect (w, x, y, ax2, ay2, bx, by);
      walk_rect (w, x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by);
      return;
    }

  /* Standard Hilbert step: up the minor half, across, and back down. */
  if ((len_b2 & 1) && len_b > 2)
    {
      bx2 += dbx;
      by2 += dby;
    }
  walk_rect (w, x, y, bx2, by2, ax2, ay2);
  walk_rect (w, x + bx2, y + by2, ax, ay, bx - bx2, by - by2);
  walk_rect (w, x + (ax - dax) + (bx2 - dbx), y + (ay - day) + (by2 - dby), -bx2, -by2,
             -(ax - ax2), -(ay - ay2));
}

void
sd_hilbert_order (int rows, int cols, int *out_cells)
{
  Walk w = { cols, out_cells, 0 };

  if (rows <= 0 || cols <= 0)
    return;
  if (cols >= rows)
    walk_rect (&w, 0, 0, cols, 0, 0, rows);
  else
    walk_rect (&w, 0, 0, 0, rows, cols, 0);
}

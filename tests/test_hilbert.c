/* test_hilbert.c: the generalized Hilbert curve is a bijection onto the grid whose consecutive
 * cells are 4-neighbours (at most one diagonal step, none when both sides are even). */
#include <stdlib.h>

#include "hilbert.h"

/* Checks the curve of one grid; returns FALSE with a message on the first failure. */
static gboolean
check_grid (int rows, int cols, char **why)
{
  const int n = rows * cols;
  int *cells = g_new (int, n);
  guint8 *seen = g_new0 (guint8, n);
  int i, diagonals = 0;
  gboolean ok = TRUE;

  for (i = 0; i < n; i++)
    cells[i] = -1;
  sd_hilbert_order (rows, cols, cells);
  for (i = 0; i < n && ok; i++)
    {
      if (cells[i] < 0 || cells[i] >= n || seen[cells[i]])
        {
          *why = g_strdup_printf ("%dx%d: step %d gives cell %d (out of range or repeated)", rows,
                                  cols, i, cells[i]);
          ok = FALSE;
          break;
        }
      seen[cells[i]] = 1;
      if (i > 0)
        {
          int dr = abs (cells[i] / cols - cells[i - 1] / cols);
          int dc = abs (cells[i] % cols - cells[i - 1] % cols);
          if (dr == 1 && dc == 1)
            diagonals++;
          else if (dr + dc != 1)
            {
              *why = g_strdup_printf ("%dx%d: step %d jumps by (%d, %d)", rows, cols, i, dr, dc);
              ok = FALSE;
            }
        }
    }
  if (ok && cells[0] != 0)
    {
      *why = g_strdup_printf ("%dx%d: the curve starts at cell %d", rows, cols, cells[0]);
      ok = FALSE;
    }
  if (ok && (diagonals > 1 || (diagonals == 1 && rows % 2 == 0 && cols % 2 == 0)))
    {
      *why = g_strdup_printf ("%dx%d: %d diagonal steps", rows, cols, diagonals);
      ok = FALSE;
    }
  g_free (seen);
  g_free (cells);
  return ok;
}

static void
test_small_grids (void)
{
  int rows, cols;
  for (rows = 1; rows <= 64; rows++)
    for (cols = 1; cols <= 64; cols++)
      {
        char *why = NULL;
        if (!check_grid (rows, cols, &why))
          g_error ("%s", why);
      }
}

static void
test_large_grids (void)
{
  static const int sizes[][2] = {
    { 1000, 3 }, { 3, 1000 }, { 257, 129 }, { 129, 257 }, { 512, 512 }, { 500, 333 },
    { 1, 4096 }, { 4096, 1 }, { 2, 999 }, { 768, 1366 }, { 1023, 1025 },
  };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      char *why = NULL;
      if (!check_grid (sizes[i][0], sizes[i][1], &why))
        g_error ("%s", why);
    }
}

/* On a power-of-two square the curve is the classic Hilbert curve: every aligned 2^k × 2^k
 * quadrant is one contiguous run of the curve. */
static void
test_power_of_two_quadrants (void)
{
  const int side = 32;
  int cells[32 * 32];
  int q, i;

  sd_hilbert_order (side, side, cells);
  for (q = 2; q <= side; q *= 2)
    for (i = 0; i < side * side; i += q * q)
      {
        int r0 = cells[i] / side / q, c0 = cells[i] % side / q, j;
        for (j = i; j < i + q * q; j++)
          {
            g_assert_cmpint (cells[j] / side / q, ==, r0);
            g_assert_cmpint (cells[j] % side / q, ==, c0);
          }
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hilbert/small-grids", test_small_grids);
  g_test_add_func ("/hilbert/large-grids", test_large_grids);
  g_test_add_func ("/hilbert/power-of-two-quadrants", test_power_of_two_quadrants);
  return g_test_run ();
}

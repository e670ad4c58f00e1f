/* hilbert.h: a generalized Hilbert curve that visits every cell of any rows × cols grid. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes the rows*cols raster indices (row * cols + col) of the grid in curve order.
 * Consecutive cells are 4-neighbours, except for at most one diagonal step on grids where
 * one side is odd and the other even along the curve's split; grids with both sides even
 * have none. The curve starts at cell (0, 0). */
void sd_hilbert_order (int rows, int cols, int *out_cells);

G_END_DECLS

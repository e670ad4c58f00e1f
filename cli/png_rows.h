/* png_rows.h: an image's rows as PNG image data: RGB floats quantized to 8 or 16 bits a channel
 * (big-endian), each row filtered with the filter libpng's default heuristic picks. */
#pragma once

#include <glib.h>

typedef struct SdPngRows SdPngRows;

/* Reads rows of w x h interleaved RGB floats (clamped to [0, 1]; NaN as 0), which must outlive it;
 * depth is 8 or 16. Starts at row 0. */
SdPngRows *sd_png_rows_new (const float *rgb, int w, int depth);
/* The bytes of a filtered row: the filter type byte and the row's samples. */
gsize sd_png_rows_stride (SdPngRows *rows);
/* Makes y the next row. */
void sd_png_rows_seek (SdPngRows *rows, int y);
/* The next row, filtered (sd_png_rows_stride bytes, valid until the next call). */
const guint8 *sd_png_rows_next (SdPngRows *rows);
void sd_png_rows_free (SdPngRows *rows);

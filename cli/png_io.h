/* png_io.h: writing the result as PNG (8 or 16 bits, with a `parameters` text chunk) and reading
 * an upscale input, through libpng. */
#pragma once

#include <glib.h>

gboolean sd_png_write (const char *path, const float *rgb, int w, int h, int depth, const char *parameters,
                       GError **error);
/* Reads any PNG as interleaved RGB floats in [0, 1] (alpha dropped, grey expanded). */
float *sd_png_read (const char *path, int *w, int *h, GError **error);

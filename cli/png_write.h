/* png_write.h: the result as a PNG (8 or 16 bits per channel, sRGB, with the parameters in an iTXt
 * chunk) into an output file, through libpng, with the image data deflated on all threads. */
#pragma once

#include <glib.h>

#include "out_file.h"

/* Writes w x h interleaved RGB floats (clamped to [0, 1]; NaN as 0); parameters (UTF-8, may be
 * NULL) go into the `parameters` iTXt chunk. Checks *cancel (may be NULL) before every strip of
 * rows (png_idat.h) and fails with SD_ERROR_CANCELLED when it is set. The caller commits or
 * discards out. */
gboolean sd_png_write (SdOutFile *out, const float *rgb, int w, int h, int depth, const char *parameters,
                       volatile gint *cancel, GError **error);

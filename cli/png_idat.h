/* png_idat.h: a PNG's image data (the IDAT chunks) written on all OpenMP threads: the filtered rows
 * cut into strips, each strip deflated on its own thread, the pieces one zlib stream. */
#pragma once

#include <glib.h>

#include "out_file.h"

/* Writes the IDAT chunks of w x h interleaved RGB floats (as png_rows.h quantizes and filters them)
 * to out, on omp_get_max_threads () threads; the file's bytes do not depend on the thread count.
 * Checks *cancel (may be NULL) before every strip and then fails with SD_ERROR_CANCELLED. */
gboolean sd_png_write_idat (SdOutFile *out, const float *rgb, int w, int h, int depth, volatile gint *cancel,
                            GError **error);

/* png_read.h: reading an upscale input: any PNG (palette, grey, alpha, 1 to 16 bits, interlaced)
 * as RGB floats, its size checked from the header before anything is decoded. */
#pragma once

#include <stdio.h>
#include <glib.h>

/* Returns interleaved RGB floats in [0, 1] (alpha dropped, grey and palette expanded, 16 bits kept)
 * or fails naming the file: not a PNG, corrupt or truncated, or a side over max_side pixels (said
 * before decoding). */
float *sd_png_read (const char *path, int max_side, int *w, int *h, GError **error);
/* The same from an open stream; name is what messages call it. */
float *sd_png_read_stream (FILE *stream, const char *name, int max_side, int *w, int *h, GError **error);

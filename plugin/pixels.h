/* pixels.h: moves pixels between GIMP drawables and the engine's float sRGB buffers through
 * GeglBuffers, band by band. */
#pragma once

#include <libgimp/gimp.h>

/* Reads the area (x, y, width, height) of drawable as sRGB floats (width × height × 3). */
float *sd_drawable_read_rgb (GimpDrawable *drawable, int x, int y, int width, int height);

/* Writes width × height sRGB floats into drawable at (0, 0), converting to its format. */
void sd_drawable_write_rgb (GimpDrawable *drawable, const float *rgb, int width, int height);

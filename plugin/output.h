/* output.h: puts a finished result into GIMP: a new image or a new layer of an existing image in
 * one undo group, with the parameters as a layer parasite and as the image comment. */
#pragma once

#include <libgimp/gimp.h>

#include "scaledit.h"

/* The layer parasite holding the parameters text (the CLI's PNG `parameters` chunk). */
#define SD_PARAMETERS_PARASITE "scaledit-parameters"

/* Adds result as a new layer named after prompt: into image at (offset_x, offset_y), or, when
 * image is NULL, into a new RGB image of the given precision. Nothing is touched when it fails
 * (an indexed image). *out_image and *out_layer receive the image and layer. */
gboolean sd_output_insert (GimpImage *image, const SdResult *result, const char *prompt,
                           GimpPrecision precision, int offset_x, int offset_y,
                           GimpImage **out_image, GimpLayer **out_layer, GError **error);

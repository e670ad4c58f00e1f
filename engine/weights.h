/* weights.h: loading a model weight onto a backend from one or more safetensors tensors (row
 * slices concatenated along the first axis), with shape checks that name the file and tensor. */
#pragma once

#include "safetensors.h"

/* One source of rows: tensor `name`, rows [row0, row0 + rows) (rows < 0: all of them). */
typedef struct {
  const char *name;
  gint64 row0, rows;
} SdWeightPart;

/* Loads the parts, each [rows, cols] (cols == 0: 1-D tensors), stacked in order into one weight
 * of `total_rows` rows. Fails naming the file and tensor on a missing tensor, a non-float dtype
 * or a shape other than expected. */
SdBuf *sd_weight_load (SdTensorFile *tf, SdBackend *be, const SdWeightPart *parts, int n_parts,
                       gint64 total_rows, gint64 cols, GError **error);

/* Shorthand for one whole tensor of shape [rows, cols] (cols == 0: [rows]). */
SdBuf *sd_weight_load1 (SdTensorFile *tf, SdBackend *be, const char *name, gint64 rows, gint64 cols,
                        GError **error);

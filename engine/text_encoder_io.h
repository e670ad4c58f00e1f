/* text_encoder_io.h: what the CLIP and T5 encoders share for loading: finding their weights (a
 * diffusers folder or a single file), reading config.json, the key prefix of a file, loading
 * checked tensors, gathering embedding rows on the host, and reading input ids for run-component. */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"
#include "safetensors.h"

G_BEGIN_DECLS

typedef struct {
  SdBackend *be;
  SdTensorFile *tf;
  JsonParser *parser; /* config.json; NULL for a single file */
  JsonObject *config; /* its root object, or NULL */
  char *config_path;
  char *prefix;       /* what precedes the model's own key names ("text_model.", "encoder.", "") */
  GPtrArray *bufs;    /* every buffer loaded, released together */
  GError *error;      /* the first loading failure; later loads do nothing */
  GPtrArray *kept;    /* embedding tables copied out of the files (SdTensorInfo, see detach) */
} SdEncoderFiles;

/* Opens the encoder at `path`: a folder holding config.json and model.safetensors (or
 * model.safetensors.index.json), a diffusers model folder holding `subfolder`, or a single
 * .safetensors file. The key prefix is what precedes `anchor` in the first tensor name ending
 * with it; `what` names the model in errors. */
SdEncoderFiles *sd_encoder_files_open (SdBackend *be, const char *path, const char *subfolder,
                                       const char *anchor, const char *what, GError **error);
/* Once every weight is loaded: copies the embedding tables *tables[i] (their rows are read on the
 * host at every encode) into memory, points each *tables[i] at its copy, and closes the files, so
 * that a file replaced or rewritten while the encoder stays open (the plug-in keeps it between
 * runs) cannot fault a later encode. */
gboolean sd_encoder_files_detach (SdEncoderFiles *f, const SdTensorInfo **tables[], int n,
                                  GError **error);
/* Releases every loaded buffer and closes the files. */
void sd_encoder_files_free (SdEncoderFiles *f);

/* Dimension `axis` of a tensor shape as an int, or -1 when it does not fit one (the config
 * checks then refuse it). */
int sd_encoder_shape_int (const SdTensorInfo *t, int axis);
/* Checks, before any layer is allocated, that layers 0 .. n-1 are in the weights: the tensor
 * prefix + anchor_format (with %d for the layer) of each; SD_ERROR_MODEL naming the first missing. */
gboolean sd_encoder_check_layers (SdEncoderFiles *f, int n, const char *anchor_format, GError **error);

/* Tensor prefix + name, or NULL. */
const SdTensorInfo *sd_encoder_find (SdEncoderFiles *f, const char *name);
/* Loads prefix + name onto the backend with the given shape (d1 < 0: 1-D). After a failure
 * (kept in f->error) it returns NULL without trying. */
SdBuf *sd_encoder_load (SdEncoderFiles *f, const char *name, gint64 d0, gint64 d1);
/* Checks that `t` (called prefix + name) is a float tensor of shape [rows, cols]; sets f->error. */
gboolean sd_encoder_check_table (SdEncoderFiles *f, const SdTensorInfo *t, const char *name,
                                 gint64 rows, gint64 cols);
/* Rows ids[0..n) of a 2-D float tensor as host f32 [n][cols]; ids must lie in [0, rows). */
float *sd_encoder_gather_rows (const SdTensorInfo *table, const int *ids, int n, GError **error);

/* The "input_ids" tensor of run-component's inputs ([n] or [batch, n]; f32, i64 or i32) as
 * integers; sets *batch and *n. */
int *sd_encoder_input_ids (SdTensorFile *inputs, int *batch, int *n, GError **error);

G_END_DECLS

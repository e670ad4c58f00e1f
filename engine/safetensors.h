/* safetensors.h: reading safetensors files (one file, or shards through *.safetensors.index.json),
 * memory-mapped and validated, and loading their tensors onto a backend. */
#pragma once

#include <glib.h>

#include "backend.h"

G_BEGIN_DECLS

/* Every dtype the format defines; only F32, F16, BF16 (and the F8 kinds, widened) load as weights. */
typedef enum {
  SD_ST_BOOL, SD_ST_U8, SD_ST_I8, SD_ST_I16, SD_ST_U16, SD_ST_I32, SD_ST_U32, SD_ST_I64, SD_ST_U64,
  SD_ST_F16, SD_ST_BF16, SD_ST_F32, SD_ST_F64, SD_ST_F8_E4M3, SD_ST_F8_E5M2,
} SdStDType;

#define SD_MAX_DIMS 8

typedef struct {
  const char *name;
  SdStDType dtype;
  int ndim;
  gint64 shape[SD_MAX_DIMS];
  gsize n_elements;
  gsize n_bytes;
  const guint8 *data; /* inside the mapping; not necessarily aligned */
  const char *file;   /* the file it lives in */
} SdTensorInfo;

typedef struct SdTensorFile SdTensorFile;

/* Opens a .safetensors file, or a *.safetensors.index.json with its shards. Validates the header
 * (length, JSON, dtypes, shapes, offsets within the file, no overlaps, sizes) of every file. */
SdTensorFile *sd_tensors_open (const char *path, GError **error);
/* Validates a file held in memory (the fuzz target's entry point); `name` stands for the file in
 * messages. The tensors point into `bytes`, which must outlive the result. */
SdTensorFile *sd_tensors_parse (const char *name, const guint8 *bytes, gsize len, GError **error);
void sd_tensors_close (SdTensorFile *tf);

const char *sd_tensors_path (SdTensorFile *tf);
/* NULL when absent. */
const SdTensorInfo *sd_tensors_find (SdTensorFile *tf, const char *name);
/* Sorted names of all tensors. */
guint sd_tensors_count (SdTensorFile *tf);
const SdTensorInfo *sd_tensors_nth (SdTensorFile *tf, guint i);
/* The header's __metadata__ entry `key`, or NULL. For an index: its "metadata" entries (strings,
 * and integers such as total_size printed in decimal), then those of its shards. */
const char *sd_tensors_metadata (SdTensorFile *tf, const char *key);

const char *sd_st_dtype_name (SdStDType dtype);
/* Reads any float tensor into a new f32 host array. */
float *sd_tensor_to_f32 (const SdTensorInfo *t, GError **error);

/* Loads tensor `name` onto the backend, checking it exists, is a float type and has exactly
 * `shape` (ndim entries). Errors name the file and the tensor. */
SdBuf *sd_tensors_load (SdTensorFile *tf, SdBackend *be, const char *name, int ndim,
                        const gint64 *shape, GError **error);

/* Writing (for run-component outputs and tests): f32 tensors. */
typedef struct {
  const char *name;
  int ndim;
  gint64 shape[SD_MAX_DIMS];
  const float *data;
} SdTensorOut;

/* Writes through a temporary file renamed over `path`, so a failed write leaves `path` as it was.
 * The header is padded with spaces to a multiple of 8 bytes, as the reference writer does. */
gboolean sd_tensors_write (const char *path, const SdTensorOut *tensors, int n, GError **error);

G_END_DECLS

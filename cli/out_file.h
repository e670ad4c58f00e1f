/* out_file.h: writing an output file safely: a new temporary file beside the target, every write
 * checked, then flushed, synced, closed and renamed over the target; removed on any failure. */
#pragma once

#include <glib.h>

typedef struct SdOutFile SdOutFile;

/* Creates TARGET.XXXXXX.part (a new name, never an existing file or link) in the target's folder,
 * so that a folder that cannot be written fails before any work is done. */
SdOutFile *sd_out_file_create (const char *target, GError **error);
/* The temporary file's path (for removal from a signal handler). */
const char *sd_out_file_temp_path (SdOutFile *out);
gboolean sd_out_file_write (SdOutFile *out, const void *data, gsize len, GError **error);
/* Flushes, syncs and closes the temporary file and renames it over the target; on failure the
 * temporary file is removed and the target left as it was. Frees out either way. */
gboolean sd_out_file_commit (SdOutFile *out, GError **error);
/* Closes and removes the temporary file. Frees out; NULL is ignored. */
void sd_out_file_discard (SdOutFile *out);

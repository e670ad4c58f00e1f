/* spill.h: memory backed by a temporary file on disk, for full-size intermediates that would not
 * fit the host memory a request may take: the system writes their pages out and reads them back
 * as needed, instead of the request failing or being killed. */
#pragma once

#include <glib.h>

/* `bytes` of zeroed memory backed by an unlinked file in `dir`, its disk blocks reserved up front
 * (a full disk is an error here, not a fault later). NULL dir: g_get_tmp_dir (). */
void *sd_spill_alloc (const char *dir, gsize bytes, GError **error);
void sd_spill_free (void *p, gsize bytes);
/* Bytes free for an unprivileged user on the file system holding dir (NULL: the temp folder);
 * -1 when unknown. */
gint64 sd_spill_space (const char *dir);

/* host_memory.h: the host memory a request may still take. */
#pragma once

#include <glib.h>

/* Bytes of host memory available now (MemAvailable of /proc/meminfo), or the value of
 * SCALEDIT_HOST_MEMORY_LIMIT when set; -1 when unknown (no check is then made). */
gint64 sd_host_memory_available (void);

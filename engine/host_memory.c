/* host_memory.c: how much host memory a request may still take: the kernel's MemAvailable, or
 * SCALEDIT_HOST_MEMORY_LIMIT (bytes, or with K/M/G/T) when set (tests provoke a refusal with it). */
#include <stdio.h>
#include <string.h>

#include "host_memory.h"

/* "12G", "512M", "4096": bytes; -1 for anything else. */
static gint64
parse_size (const char *s)
{
  char *end;
  guint64 v = g_ascii_strtoull (s, &end, 10);
  int shift = 0;
  if (end == s)
    return -1;
  switch (g_ascii_toupper (*end))
    {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    }
  if (*end || v > ((guint64) G_MAXINT64 >> shift))
    return -1;
  return (gint64) (v << shift);
}

gint64
sd_host_memory_available (void)
{
  const char *limit = g_getenv ("SCALEDIT_HOST_MEMORY_LIMIT");
  char line[256];
  gint64 kib = -1;
  FILE *f;

  if (limit && *limit)
    return parse_size (limit);
  f = fopen ("/proc/meminfo", "r");
  if (!f)
    return -1;
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "MemAvailable: %" G_GINT64_FORMAT " kB", &kib) == 1)
      break;
  fclose (f);
  return kib >= 0 && kib <= G_MAXINT64 / 1024 ? kib * 1024 : -1;
}

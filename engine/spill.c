/* spill.c: file-backed memory for intermediates beyond the host memory allowed (see spill.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "scaledit.h"
#include "spill.h"

void *
sd_spill_alloc (const char *dir, gsize bytes, GError **error)
{
  const char *where = dir ? dir : g_get_tmp_dir ();
  g_autofree char *path = g_build_filename (where, "scaledit-spill-XXXXXX", NULL);
  void *p;
  int fd, err;

  fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "cannot create a temporary file in %s for a %.1f MiB "
                   "intermediate: %s", where, bytes / 1048576.0, g_strerror (errno));
      return NULL;
    }
  g_unlink (path); /* nothing is left behind, whatever happens to the process */
  err = posix_fallocate (fd, 0, (off_t) MAX (bytes, 1));
  if (err)
    {
      g_set_error (error, SD_ERROR, err == ENOSPC ? SD_ERROR_OUT_OF_MEMORY : SD_ERROR_IO,
                   "cannot reserve %.1f MiB of disk in %s for an intermediate that does not fit in "
                   "memory: %s", bytes / 1048576.0, where, g_strerror (err));
      close (fd);
      return NULL;
    }
  p = mmap (NULL, MAX (bytes, 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  err = errno;
  close (fd);
  if (p == MAP_FAILED)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "cannot map a %.1f MiB temporary file in %s: %s",
                   bytes / 1048576.0, where, g_strerror (err));
      return NULL;
    }
  return p;
}

void
sd_spill_free (void *p, gsize bytes)
{
  if (p)
    munmap (p, MAX (bytes, 1));
}

gint64
sd_spill_space (const char *dir)
{
  struct statvfs st;
  if (statvfs (dir ? dir : g_get_tmp_dir (), &st) != 0)
    return -1;
  return (gint64) st.f_bavail * (gint64) st.f_frsize;
}

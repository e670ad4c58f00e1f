/* out_file.c: writing an output file through a new temporary file renamed over the target (see
 * out_file.h): a full disk or a failed close never leaves a truncated file under the target's name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "out_file.h"
#include "scaledit.h"

struct SdOutFile {
  char *target, *temp;
  FILE *stream;
};

/* Opens a new file named TARGET.XXXXXX.part with random letters: O_EXCL never opens an existing
 * file and O_NOFOLLOW never follows a link, so nothing planted under a guessable name is written. */
static int
open_new_temp (const char *target, char **temp)
{
  static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  int attempt, i, fd = -1;

  for (attempt = 0; attempt < 100; attempt++)
    {
      char tag[7];
      for (i = 0; i < 6; i++)
        tag[i] = letters[g_random_int_range (0, sizeof letters - 1)];
      tag[6] = '\0';
      *temp = g_strdup_printf ("%s.%s.part", target, tag);
      fd = open (*temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
      if (fd >= 0 || errno != EEXIST)
        return fd;
      g_free (*temp);
    }
  *temp = NULL;
  return -1;
}

SdOutFile *
sd_out_file_create (const char *target, GError **error)
{
  SdOutFile *out;
  char *temp = NULL;
  int fd = open_new_temp (target, &temp), saved;

  if (fd < 0)
    {
      char *folder = g_path_get_dirname (target);
      saved = errno;
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot create a file in the folder %s: %s", target, folder,
                   g_strerror (saved));
      g_free (folder);
      g_free (temp);
      return NULL;
    }
  out = g_new0 (SdOutFile, 1);
  out->target = g_strdup (target);
  out->temp = temp;
  out->stream = fdopen (fd, "wb");
  if (!out->stream)
    {
      saved = errno;
      close (fd);
      sd_out_file_discard (out);
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot write: %s", target, g_strerror (saved));
      return NULL;
    }
  return out;
}

const char *
sd_out_file_temp_path (SdOutFile *out)
{
  return out->temp;
}

static gboolean
fail (SdOutFile *out, const char *what, int err, GError **error)
{
  g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot %s: %s", out->target, what, g_strerror (err));
  return FALSE;
}

gboolean
sd_out_file_write (SdOutFile *out, const void *data, gsize len, GError **error)
{
  if (len && fwrite (data, 1, len, out->stream) != len)
    return fail (out, "write", errno, error);
  return TRUE;
}

/* Makes the rename itself durable; a folder that cannot be synced (some file systems) is no error,
 * as the file's own data is already on disk. */
static void
sync_folder (const char *target)
{
  char *folder = g_path_get_dirname (target);
  int fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
  g_free (folder);
}

gboolean
sd_out_file_commit (SdOutFile *out, GError **error)
{
  FILE *stream = out->stream;
  gboolean ok;

  out->stream = NULL;
  if (fflush (stream) != 0)
    ok = fail (out, "write", errno, error);
  else if (fsync (fileno (stream)) != 0)
    ok = fail (out, "write (sync to disk)", errno, error);
  else
    ok = TRUE;
  /* fclose's own flush and close are checked too (a network file system reports errors there) */
  if (fclose (stream) != 0 && ok)
    ok = fail (out, "write (close)", errno, error);
  if (ok && rename (out->temp, out->target) != 0)
    ok = fail (out, "rename the finished file to this name", errno, error);
  if (ok)
    {
      sync_folder (out->target);
      g_clear_pointer (&out->temp, g_free); /* nothing left to remove */
    }
  sd_out_file_discard (out);
  return ok;
}

void
sd_out_file_discard (SdOutFile *out)
{
  if (!out)
    return;
  if (out->stream)
    fclose (out->stream);
  if (out->temp)
    unlink (out->temp);
  g_free (out->temp);
  g_free (out->target);
  g_free (out);
}

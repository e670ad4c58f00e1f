/* bench_png.c: times sd_png_write (cli/png_write.c) on a large picture with photo-like content
 * (smooth gradients plus noise), 8- and 16-bit, over thread counts, beside libpng's own
 * single-threaded writer at its default settings (what sd_png_write was before issue 27). */
#include <math.h>
#include <omp.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <glib/gstdio.h>

#include "out_file.h"
#include "png_write.h"
#include "scaledit.h"

#define PARAMETERS "a snowy mountain lake with pine trees at sunset\nSteps: 28, Seed: 7, Size: bench"

/* Gradients and waves thousands of pixels long, plus noise of about +-2 levels of 8 bits. */
static float *
photo_image (int size)
{
  float *rgb = g_new (float, (gsize) size * size * 3);
  int y;

#pragma omp parallel for schedule(static)
  for (y = 0; y < size; y++)
    {
      int x, c;
      for (x = 0; x < size; x++)
        for (c = 0; c < 3; c++)
          {
            guint32 hash = (guint32) (((gsize) y * size + x) * 3 + c) * 2654435761u;
            float smooth = 0.5f + 0.3f * sinf (x * 0.0021f + c) * cosf (y * 0.0013f - c) + 0.15f * (x - y) / size;
            hash ^= hash >> 15;
            hash *= 2246822519u;
            hash ^= hash >> 13;
            rgb[((gsize) y * size + x) * 3 + c] = smooth + ((hash & 0xffff) / 65536.0f - 0.5f) * (4.0f / 255.0f);
          }
    }
  return rgb;
}

/* The old writer: libpng alone, default filters and compression, into path; seconds taken. */
static double
write_libpng (const char *path, const float *rgb, int size, int depth)
{
  FILE *f = fopen (path, "wb");
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct (png);
  guint8 *row = g_malloc ((gsize) size * 3 * depth / 8);
  gint64 t0 = g_get_monotonic_time ();
  png_text text = { 0 };
  int y, i;

  if (!f || setjmp (png_jmpbuf (png)))
    g_error ("%s: libpng could not write the reference file", path);
  png_init_io (png, f);
  png_set_IHDR (png, info, size, size, depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB_gAMA_and_cHRM (png, info, PNG_sRGB_INTENT_PERCEPTUAL);
  text.compression = PNG_ITXT_COMPRESSION_NONE;
  text.key = (char *) "parameters";
  text.text = (char *) PARAMETERS;
  png_set_text (png, info, &text, 1);
  png_write_info (png, info);
  for (y = 0; y < size; y++)
    {
      const float *src = rgb + (gsize) y * size * 3;
      for (i = 0; i < size * 3; i++)
        {
          float v = CLAMP (src[i], 0.0f, 1.0f);
          if (depth == 16)
            {
              guint16 q = (guint16) (v * 65535.0f + 0.5f);
              row[2 * i] = q >> 8;
              row[2 * i + 1] = q & 0xff;
            }
          else
            row[i] = (guint8) (v * 255.0f + 0.5f);
        }
      png_write_row (png, row);
    }
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  fclose (f);
  g_free (row);
  return (g_get_monotonic_time () - t0) / 1e6;
}

static goffset
file_size (const char *path)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    g_error ("%s: cannot stat the written file", path);
  return st.st_size;
}

/* One sd_png_write on `threads` threads: the call's seconds, then the commit's (flush, fsync, rename). */
static void
write_scaledit (const char *path, const float *rgb, int size, int depth, int threads, double *write_s,
                double *commit_s)
{
  GError *error = NULL;
  SdOutFile *out = sd_out_file_create (path, &error);
  gint64 t0, t1;

  omp_set_num_threads (threads);
  t0 = g_get_monotonic_time ();
  if (!out || !sd_png_write (out, rgb, size, size, depth, PARAMETERS, NULL, &error))
    g_error ("%s", error->message);
  t1 = g_get_monotonic_time ();
  if (!sd_out_file_commit (out, &error))
    g_error ("%s", error->message);
  *write_s = (t1 - t0) / 1e6;
  *commit_s = (g_get_monotonic_time () - t1) / 1e6;
}

/* "1,2,4" -> {1, 2, 4}; the default is the powers of two below the core count, then the count. */
static GArray *
thread_counts (const char *list)
{
  GArray *counts = g_array_new (FALSE, FALSE, sizeof (int));
  int n, procs = omp_get_num_procs ();

  if (list)
    {
      char **parts = g_strsplit (list, ",", -1), **p;
      for (p = parts; *p; p++)
        if ((n = atoi (*p)) > 0)
          g_array_append_val (counts, n);
      g_strfreev (parts);
    }
  else
    {
      for (n = 1; n < procs; n *= 2)
        g_array_append_val (counts, n);
      g_array_append_val (counts, procs);
    }
  return counts;
}

int
main (int argc, char **argv)
{
  int size = 8192, depth;
  char *threads = NULL, *dir = NULL;
  gboolean no_reference = FALSE;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "Picture side in pixels (8192)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_STRING, &threads, "Thread counts, e.g. 1,2,4 (powers of two, then all cores)",
      "LIST" },
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "Folder for the files written (the temporary folder)", "DIR" },
    { "no-reference", 0, 0, G_OPTION_ARG_NONE, &no_reference, "Leave out libpng's own writer", NULL },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("- time writing a PNG");
  GError *error = NULL;
  GArray *counts;
  char *path;
  float *rgb;
  guint i;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || size < 1)
    {
      fprintf (stderr, "bench_png: %s\n", error ? error->message : "--size must be positive");
      return 2;
    }
  counts = thread_counts (threads);
  path = g_build_filename (dir ? dir : g_get_tmp_dir (), "bench_png.png", NULL);
  rgb = photo_image (size);
  printf ("%dx%d RGB, %d cores; write: the sd_png_write call; commit: flush, fsync, rename\n\n", size, size,
          omp_get_num_procs ());
  printf ("| depth | writer | threads | write s | commit s | MB | size vs libpng |\n");
  printf ("|---|---|---|---|---|---|---|\n");
  for (depth = 8; depth <= 16; depth += 8)
    {
      double ref_mb = 0, write_s, commit_s;
      if (!no_reference)
        {
          write_s = write_libpng (path, rgb, size, depth);
          ref_mb = file_size (path) / 1e6;
          printf ("| %d | libpng | 1 | %.2f | | %.1f | |\n", depth, write_s, ref_mb);
          fflush (stdout);
        }
      for (i = 0; i < counts->len; i++)
        {
          double mb;
          write_scaledit (path, rgb, size, depth, g_array_index (counts, int, i), &write_s, &commit_s);
          mb = file_size (path) / 1e6;
          printf ("| %d | sd_png_write | %d | %.2f | %.2f | %.1f |", depth, g_array_index (counts, int, i), write_s,
                  commit_s, mb);
          if (ref_mb > 0)
            printf (" %+.2f %% |\n", 100.0 * (mb - ref_mb) / ref_mb);
          else
            printf (" |\n");
          fflush (stdout);
        }
    }
  g_unlink (path);
  g_array_free (counts, TRUE);
  g_option_context_free (ctx);
  g_free (rgb);
  g_free (path);
  g_free (threads);
  g_free (dir);
  return 0;
}

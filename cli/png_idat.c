/* png_idat.c: a PNG's image data deflated in parallel (see png_idat.h), as pigz does for gzip.
 * The filtered rows are cut into strips of about STRIP_BYTES; each strip is raw deflate ended with
 * Z_SYNC_FLUSH (the last with Z_FINISH), so the strips laid end to end are one deflate stream. The
 * zlib header goes in front, and the Adler-32 of the whole, combined from the strips' own, after
 * it. Each strip becomes one IDAT chunk, written in order from inside the loop: at most one strip
 * a thread is held in memory, and the bytes written do not depend on the thread count.
 *
 * Deflate's strategy is Z_RLE (runs of the byte before only): on the filtered rows of natural
 * pictures, which is what scaledit writes, it makes files within a few percent of libpng's default
 * (level 6, Z_FILTERED), often smaller, 4 to 19 times faster and at nearly the same speed whatever
 * the content (bench/RESULTS.md, issue 27); flat graphics with repeated patterns, such as
 * screenshots, come out larger. As no match reaches further back than one byte, a strip loses
 * nothing by not seeing the one before. */
#include <omp.h>
#include <string.h>
#include <zlib.h>

#include "png_idat.h"
#include "png_rows.h"
#include "scaledit.h"

#define STRIP_BYTES (256 * 1024)
#define LEVEL 1 /* with Z_RLE any level but 0 works alike; the zlib header says "fastest" */
#define HEAD 8  /* a chunk's length and type */
#define TAIL 8  /* room for the last strip's Adler-32, and a chunk's CRC */

/* One thread's strip: its z_stream, its rows and the IDAT chunk it makes. */
typedef struct {
  z_stream z;
  SdPngRows *rows;
  guint8 *chunk;      /* length, type, data; TAIL bytes of room after used */
  gsize size, used;
  guint32 adler, crc; /* of the strip's uncompressed bytes; of the chunk's type and data so far */
  gsize raw;          /* the strip's uncompressed bytes */
} Strip;

static void
put_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* Deflates len bytes after what the chunk holds, growing it when deflate needs more room (a
 * flush may take a few bytes more than deflateBound says). */
static void
deflate_bytes (Strip *st, const guint8 *data, gsize len, int flush)
{
  int ret;

  st->z.next_in = (Bytef *) data;
  st->z.avail_in = len;
  do
    {
      if (st->size - TAIL - st->used < 64)
        {
          st->size *= 2;
          st->chunk = g_realloc (st->chunk, st->size);
        }
      st->z.next_out = st->chunk + st->used;
      st->z.avail_out = st->size - TAIL - st->used;
      ret = deflate (&st->z, flush);
      g_assert (ret != Z_STREAM_ERROR);
      st->used = st->z.next_out - st->chunk;
    }
  while (st->z.avail_in > 0 || st->z.avail_out == 0);
}

/* Strip s (rows y0 to y1 - 1) into st->chunk, with the zlib header in front when it is the first. */
static void
deflate_strip (Strip *st, int s, int y0, int y1, int h)
{
  gsize stride = sd_png_rows_stride (st->rows);
  int y;

  deflateReset (&st->z);
  sd_png_rows_seek (st->rows, y0);
  memcpy (st->chunk + 4, "IDAT", 4);
  st->used = HEAD;
  if (s == 0)
    {
      /* CMF: deflate, 32 KiB window; FLG: the level's class, no dictionary, check bits making
       * CMF * 256 + FLG a multiple of 31 */
      int flg = (LEVEL < 2 ? 0 : LEVEL < 6 ? 1 : LEVEL == 6 ? 2 : 3) << 6;
      st->chunk[st->used++] = 0x78;
      st->chunk[st->used++] = flg + (31 - (0x78 * 256 + flg) % 31) % 31;
    }
  st->adler = adler32 (0, NULL, 0);
  for (y = y0; y < y1; y++)
    {
      const guint8 *row = sd_png_rows_next (st->rows);
      st->adler = adler32 (st->adler, row, stride);
      deflate_bytes (st, row, stride, Z_NO_FLUSH);
    }
  deflate_bytes (st, NULL, 0, y1 == h ? Z_FINISH : Z_SYNC_FLUSH);
  st->raw = (gsize) (y1 - y0) * stride;
  st->crc = crc32 (crc32 (0, NULL, 0), st->chunk + 4, st->used - 4);
}

/* Finishes the chunk (the stream's Adler-32 after the last strip) and writes it. */
static gboolean
write_strip (SdOutFile *out, Strip *st, gboolean last, guint32 adler, GError **error)
{
  if (last)
    {
      put_be32 (st->chunk + st->used, adler);
      st->crc = crc32 (st->crc, st->chunk + st->used, 4);
      st->used += 4;
    }
  put_be32 (st->chunk, st->used - HEAD);
  put_be32 (st->chunk + st->used, st->crc);
  return sd_out_file_write (out, st->chunk, st->used + 4, error);
}

static gboolean
strips_init (Strip *strips, int n, const float *rgb, int w, int depth, gsize strip_raw, GError **error)
{
  int i;

  for (i = 0; i < n; i++)
    {
      Strip *st = &strips[i];
      if (deflateInit2 (&st->z, LEVEL, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "zlib could not start compressing the PNG");
          return FALSE;
        }
      st->rows = sd_png_rows_new (rgb, w, depth);
      st->size = HEAD + 2 + deflateBound (&st->z, strip_raw) + TAIL + 64;
      st->chunk = g_malloc (st->size);
    }
  return TRUE;
}

static void
strips_free (Strip *strips, int n)
{
  int i;

  for (i = 0; i < n; i++)
    {
      if (strips[i].rows) /* made only once deflateInit2 succeeded */
        deflateEnd (&strips[i].z);
      sd_png_rows_free (strips[i].rows);
      g_free (strips[i].chunk);
    }
  g_free (strips);
}

gboolean
sd_png_write_idat (SdOutFile *out, const float *rgb, int w, int h, int depth, volatile gint *cancel,
                   GError **error)
{
  gsize stride = 1 + (gsize) w * 3 * depth / 8;
  int rows_per_strip = MAX (1, STRIP_BYTES / stride), n_strips = (h + rows_per_strip - 1) / rows_per_strip;
  int n_threads = MAX (1, MIN (omp_get_max_threads (), n_strips)), s;
  guint32 adler = adler32 (0, NULL, 0);
  GError *failure = NULL;
  gint stop = 0;
  Strip *strips;

  g_return_val_if_fail (w > 0 && h > 0 && (depth == 8 || depth == 16), FALSE);
  strips = g_new0 (Strip, n_threads);
  if (!strips_init (strips, n_threads, rgb, w, depth, rows_per_strip * stride, error))
    {
      strips_free (strips, n_threads);
      return FALSE;
    }
  /* Strips are taken in order and written in order: a thread that is done waits for the strips
   * before its own to be written. After a failure or a cancel the rest are skipped. */
#pragma omp parallel for schedule(dynamic, 1) ordered num_threads(n_threads)
  for (s = 0; s < n_strips; s++)
    {
      Strip *st = &strips[omp_get_thread_num ()];
      int y0 = s * rows_per_strip, y1 = MIN (h, y0 + rows_per_strip);
      gboolean go = !g_atomic_int_get (&stop) && !(cancel && g_atomic_int_get (cancel));

      if (go)
        deflate_strip (st, s, y0, y1, h);
#pragma omp ordered
      {
        if (failure)
          ; /* an earlier strip failed or was cancelled: this one is not written */
        else if (!go)
          {
            failure = g_error_new (SD_ERROR, SD_ERROR_CANCELLED, "cancelled while writing the PNG");
            g_atomic_int_set (&stop, 1);
          }
        else
          {
            adler = adler32_combine (adler, st->adler, (z_off_t) st->raw);
            if (!write_strip (out, st, y1 == h, adler, &failure))
              g_atomic_int_set (&stop, 1);
          }
      }
    }
  strips_free (strips, n_threads);
  if (failure)
    {
      g_propagate_error (error, failure);
      return FALSE;
    }
  return TRUE;
}

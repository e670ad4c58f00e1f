/* cpu_backend.c: the CPU backend's memory (f32 host arrays), weight conversion and op table. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"
#include "../dtype.h"
#include "../scaledit.h"

static SdBuf *
cpu_alloc (SdBackend *be, gsize n, GError **error)
{
  SdBuf *b = g_new0 (SdBuf, 1);
  b->data = g_try_malloc0_n (n ? n : 1, sizeof (float));
  if (!b->data)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "out of host memory allocating %.1f MiB", n * 4.0 / (1 << 20));
      g_free (b);
      return NULL;
    }
  b->n = n;
  be->bytes_in_use += n * sizeof (float);
  be->peak_bytes = MAX (be->peak_bytes, be->bytes_in_use);
  return b;
}

static void
cpu_release (SdBackend *be, SdBuf *buf)
{
  if (!buf)
    return;
  be->bytes_in_use -= buf->n * sizeof (float);
  g_free (buf->data);
  g_free (buf);
}

static gboolean
check_range (SdBuf *b, gsize off, gsize n, GError **error)
{
  if (off > b->n || n > b->n - off)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "buffer access [%" G_GSIZE_FORMAT ", +%" G_GSIZE_FORMAT ") outside %" G_GSIZE_FORMAT " elements",
                   off, n, b->n);
      return FALSE;
    }
  return TRUE;
}

static gboolean
cpu_upload (SdBackend *be, SdBuf *dst, gsize off, const float *src, gsize n, GError **error)
{
  if (!check_range (dst, off, n, error))
    return FALSE;
  memcpy (dst->data + off, src, n * sizeof (float));
  return TRUE;
}

static gboolean
cpu_download (SdBackend *be, SdBuf *src, gsize off, float *dst, gsize n, GError **error)
{
  if (!check_range (src, off, n, error))
    return FALSE;
  memcpy (dst, src->data + off, n * sizeof (float));
  return TRUE;
}

static SdBuf *
cpu_weight (SdBackend *be, const void *data, SdDType dtype, gsize n, GError **error)
{
  SdBuf *b = cpu_alloc (be, n, error);
  if (b)
    sd_convert_to_f32 (data, dtype, n, b->data);
  return b;
}

static gboolean
cpu_sync (SdBackend *be, GError **error)
{
  return TRUE;
}

static void
cpu_set_threads (SdBackend *be, int threads)
{
  if (threads <= 0)
    threads = omp_get_num_procs ();
  omp_set_num_threads (threads);
}

static const SdBackendOps cpu_ops = {
  .name = "cpu",
  .alloc = cpu_alloc,
  .alloc_f32 = cpu_alloc,
  .release = cpu_release,
  .upload = cpu_upload,
  .download = cpu_download,
  .weight = cpu_weight,
  .sync = cpu_sync,
  .set_threads = cpu_set_threads,
  .linear = cpu_linear,
  .layer_norm = cpu_layer_norm,
  .rms_norm = cpu_rms_norm,
  .head_norm_rope = cpu_head_norm_rope,
  .attention = cpu_attention,
  .attention_merge = cpu_attention_merge,
  .add_gated = cpu_add_gated,
  .activate = cpu_activate,
  .mul = cpu_mul,
  .axpby = cpu_axpby,
  .gather_rows = cpu_gather_rows,
  .copy = cpu_copy,
  .conv2d = cpu_conv2d,
  .group_norm_stats = cpu_group_norm_stats,
  .group_norm_apply = cpu_group_norm_apply,
  .upsample_nearest2x = cpu_upsample_nearest2x,
  .transpose = cpu_transpose,
};

SdBackend *
sd_backend_cpu_new (void)
{
  SdBackend *be = g_new0 (SdBackend, 1);
  be->ops = &cpu_ops;
  openblas_set_num_threads (1); /* the ops split their GEMMs across OpenMP threads (cpu_gemm.c) */
  return be;
}

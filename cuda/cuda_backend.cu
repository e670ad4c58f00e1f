/* cuda_backend.cu: opening the CUDA backend (device, stream, cuBLASLt), its memory (bf16 buffers
 * from a stream-ordered pool), host transfers, weights, error reporting and the op table. */
#include <gmodule.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "cuda_internal.h"

#define WORKSPACE_BYTES (64u << 20)

void
cu_record (CuBackend *cb, int code, const char *fmt, ...)
{
  va_list ap;
  if (cb->pending)
    return;
  va_start (ap, fmt);
  cb->pending = g_error_new_valist (CU_ERROR, code, fmt, ap);
  va_end (ap);
}

gboolean
cu_check (CuBackend *cb, cudaError_t err, const char *what)
{
  if (err == cudaSuccess)
    return TRUE;
  cu_record (cb, err == cudaErrorMemoryAllocation ? SD_ERROR_OUT_OF_MEMORY : SD_ERROR_BACKEND,
             "CUDA error in %s: %s", what, cudaGetErrorString (err));
  return FALSE;
}

static char *
format_bytes (size_t bytes)
{
  return g_strdup_printf ("%.1f MiB (%zu bytes)", bytes / 1048576.0, bytes);
}

/* Asks the stream's pool for memory; on failure sets error with the size asked for and leaves
 * the device usable (an allocation failure is not a sticky CUDA error). Counted memory (buffers
 * and op scratch) also stops at the memory limit. */
static void *
pool_alloc (CuBackend *cb, size_t bytes, gboolean counted, GError **error)
{
  void *p = NULL;
  cudaError_t err;
  if (counted && cb->memory_limit && bytes > cb->memory_limit - MIN (cb->memory_limit, cb->base.bytes_in_use))
    {
      char *size = format_bytes (bytes);
      g_set_error (error, CU_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "out of GPU memory allocating %s: %.1f MiB in use of the %.1f MiB that "
                   "SCALEDIT_CUDA_MEMORY_LIMIT allows", size, cb->base.bytes_in_use / 1048576.0,
                   cb->memory_limit / 1048576.0);
      g_free (size);
      return NULL;
    }
  err = cudaMallocAsync (&p, bytes ? bytes : 16, cb->stream);
  if (err != cudaSuccess)
    {
      char *size = format_bytes (bytes);
      size_t free_b = 0, total_b = 0;
      cudaGetLastError ();
      cudaMemGetInfo (&free_b, &total_b);
      g_set_error (error, CU_ERROR,
                   err == cudaErrorMemoryAllocation ? SD_ERROR_OUT_OF_MEMORY : SD_ERROR_BACKEND,
                   "out of GPU memory allocating %s (%.1f MiB free of %.1f MiB): %s", size,
                   free_b / 1048576.0, total_b / 1048576.0, cudaGetErrorString (err));
      g_free (size);
      return NULL;
    }
  return p;
}

static void *
record_alloc (CuBackend *cb, size_t bytes, gboolean counted, const char *what)
{
  GError *error = NULL;
  void *p = pool_alloc (cb, bytes, counted, &error);
  if (!p)
    {
      cu_record (cb, error->code, "%s: %s", what, error->message);
      g_error_free (error);
    }
  return p;
}

void *
cu_temp_alloc (CuBackend *cb, size_t bytes, const char *what)
{
  return record_alloc (cb, bytes, FALSE, what);
}

static void
count_bytes (CuBackend *cb, gssize delta)
{
  cb->base.bytes_in_use += delta;
  cb->base.peak_bytes = MAX (cb->base.peak_bytes, cb->base.bytes_in_use);
}

void *
cu_scratch_alloc (CuBackend *cb, size_t bytes, const char *what)
{
  void *p = record_alloc (cb, bytes, TRUE, what);
  if (p)
    count_bytes (cb, (gssize) bytes);
  return p;
}

void
cu_scratch_free (CuBackend *cb, void *ptr, size_t bytes)
{
  if (!ptr)
    return;
  cu_temp_free (cb, ptr);
  count_bytes (cb, -(gssize) bytes);
}

void
cu_temp_free (CuBackend *cb, void *ptr)
{
  if (ptr)
    cu_check (cb, cudaFreeAsync (ptr, cb->stream), "freeing temporary memory");
}

gboolean
cu_segments (CuBackend *cb, const SdSegments *s, CuSegments *out)
{
  int i;
  if (!s)
    {
      out->n = -1;
      return TRUE;
    }
  if (s->n_seg > CU_MAX_SEGMENTS)
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED, "%d modulation segments: the CUDA backend takes at most %d",
                 s->n_seg, CU_MAX_SEGMENTS);
      return FALSE;
    }
  out->n = s->n_seg;
  for (i = 0; i < s->n_seg; i++)
    {
      out->start[i] = s->seg[i].start;
      out->count[i] = s->seg[i].count;
      out->group[i] = s->seg[i].group;
    }
  return TRUE;
}

static size_t
elem_size (const SdBuf *b)
{
  return b->f32 ? sizeof (float) : sizeof (bf16);
}

static SdBuf *
alloc_as (SdBackend *be, gsize n, gboolean f32, GError **error)
{
  CuBackend *cb = cu_backend (be);
  SdBuf *b;
  void *p;
  if (n > G_MAXSIZE / sizeof (float))
    {
      g_set_error (error, CU_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "out of GPU memory allocating %" G_GSIZE_FORMAT " elements: more than memory can address", n);
      return NULL;
    }
  p = pool_alloc (cb, n * (f32 ? sizeof (float) : sizeof (bf16)), TRUE, error);
  if (!p)
    return NULL;
  b = g_new0 (SdBuf, 1);
  b->ptr = (bf16 *) p;
  b->n = n;
  b->f32 = f32;
  count_bytes (cb, (gssize) (n * elem_size (b)));
  return b;
}

static SdBuf *
cu_alloc (SdBackend *be, gsize n, GError **error)
{
  return alloc_as (be, n, FALSE, error);
}

static SdBuf *
cu_alloc_f32 (SdBackend *be, gsize n, GError **error)
{
  return alloc_as (be, n, TRUE, error);
}

static void
cu_release (SdBackend *be, SdBuf *buf)
{
  if (!buf)
    return;
  cu_temp_free (cu_backend (be), buf->ptr);
  count_bytes (cu_backend (be), -(gssize) (buf->n * elem_size (buf)));
  g_free (buf);
}

static gboolean
check_range (SdBuf *b, gsize off, gsize n, GError **error)
{
  if (off > b->n || n > b->n - off)
    {
      g_set_error (error, CU_ERROR, SD_ERROR_ARGUMENT,
                   "buffer access [%" G_GSIZE_FORMAT ", +%" G_GSIZE_FORMAT ") outside %" G_GSIZE_FORMAT " elements",
                   off, n, b->n);
      return FALSE;
    }
  return TRUE;
}

/* Reports (and clears) what ops recorded, then any error the stream holds. */
static gboolean
take_pending (CuBackend *cb, GError **error)
{
  if (cb->pending)
    {
      g_propagate_error (error, cb->pending);
      cb->pending = NULL;
      return FALSE;
    }
  return TRUE;
}

static gboolean
cu_sync (SdBackend *be, GError **error)
{
  CuBackend *cb = cu_backend (be);
  cu_check (cb, cudaStreamSynchronize (cb->stream), "running queued work");
  cu_check (cb, cudaGetLastError (), "running queued work");
  return take_pending (cb, error);
}

/* Host f32 -> device bf16 through a device staging copy converted on the GPU. */
static gboolean
upload_any (CuBackend *cb, bf16 *dst, const void *src, SdDType dtype, gsize n, GError **error)
{
  size_t bytes = n * (dtype == SD_DTYPE_F32 ? 4 : 2);
  void *stage;
  if (n == 0)
    return TRUE;
  if (dtype == SD_DTYPE_BF16)
    {
      cu_check (cb, cudaMemcpyAsync (dst, src, bytes, cudaMemcpyHostToDevice, cb->stream), "upload");
      return take_pending (cb, error);
    }
  stage = pool_alloc (cb, bytes, FALSE, error);
  if (!stage)
    return FALSE;
  cu_check (cb, cudaMemcpyAsync (stage, src, bytes, cudaMemcpyHostToDevice, cb->stream), "upload");
  cu_convert_to_bf16 (cb, stage, dtype, dst, n);
  cu_temp_free (cb, stage);
  return take_pending (cb, error);
}

static gboolean
cu_upload (SdBackend *be, SdBuf *dst, gsize off, const float *src, gsize n, GError **error)
{
  CuBackend *cb = cu_backend (be);
  if (!check_range (dst, off, n, error))
    return FALSE;
  if (dst->f32)
    {
      cu_check (cb, cudaMemcpyAsync ((float *) dst->ptr + off, src, n * sizeof (float), cudaMemcpyHostToDevice,
                                     cb->stream), "upload");
      return take_pending (cb, error);
    }
  return upload_any (cb, dst->ptr + off, src, SD_DTYPE_F32, n, error);
}

static gboolean
cu_download (SdBackend *be, SdBuf *src, gsize off, float *dst, gsize n, GError **error)
{
  CuBackend *cb = cu_backend (be);
  float *stage;
  if (!check_range (src, off, n, error))
    return FALSE;
  if (n == 0)
    return TRUE;
  if (src->f32)
    {
      cu_check (cb, cudaMemcpyAsync (dst, (float *) src->ptr + off, n * sizeof (float), cudaMemcpyDeviceToHost,
                                     cb->stream), "download");
      return cu_sync (be, error);
    }
  stage = (float *) pool_alloc (cb, n * sizeof (float), FALSE, error);
  if (!stage)
    return FALSE;
  cu_convert_to_f32 (cb, src->ptr + off, stage, n);
  cu_check (cb, cudaMemcpyAsync (dst, stage, n * sizeof (float), cudaMemcpyDeviceToHost, cb->stream),
            "download");
  cu_temp_free (cb, stage);
  return cu_sync (be, error);
}

static gboolean
cu_upload_bf16 (SdBackend *be, SdBuf *dst, gsize off, const guint16 *src, gsize n, GError **error)
{
  CuBackend *cb = cu_backend (be);
  bf16 *stage;
  if (!check_range (dst, off, n, error))
    return FALSE;
  if (!dst->f32)
    return upload_any (cb, dst->ptr + off, src, SD_DTYPE_BF16, n, error);
  if (n == 0)
    return TRUE;
  stage = (bf16 *) pool_alloc (cb, n * sizeof (bf16), FALSE, error);
  if (!stage)
    return FALSE;
  cu_check (cb, cudaMemcpyAsync (stage, src, n * sizeof (bf16), cudaMemcpyHostToDevice, cb->stream), "upload");
  cu_convert_to_f32 (cb, stage, (float *) dst->ptr + off, n);
  cu_temp_free (cb, stage);
  return take_pending (cb, error);
}

/* bf16 buffers only: an f32 buffer's values would not survive the trip. */
static gboolean
cu_download_bf16 (SdBackend *be, SdBuf *src, gsize off, guint16 *dst, gsize n, GError **error)
{
  CuBackend *cb = cu_backend (be);
  if (!check_range (src, off, n, error))
    return FALSE;
  if (src->f32)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "bf16 download of an f32 buffer");
      return FALSE;
    }
  if (n == 0)
    return TRUE;
  cu_check (cb, cudaMemcpyAsync (dst, src->ptr + off, n * sizeof (bf16), cudaMemcpyDeviceToHost, cb->stream),
            "download");
  return cu_sync (be, error);
}

static SdBuf *
cu_weight (SdBackend *be, const void *data, SdDType dtype, gsize n, GError **error)
{
  SdBuf *b = cu_alloc (be, n, error);
  if (b && !upload_any (cu_backend (be), b->ptr, data, dtype, n, error))
    {
      cu_release (be, b);
      return NULL;
    }
  return b;
}

static void
cu_destroy (SdBackend *be)
{
  CuBackend *cb = cu_backend (be);
  cudaStreamSynchronize (cb->stream);
  cu_plan_cache_free (cb);
  if (cb->workspace)
    cudaFree (cb->workspace);
  if (cb->lt)
    cublasLtDestroy (cb->lt);
  cudaStreamDestroy (cb->stream);
  if (cb->pending)
    g_error_free (cb->pending);
  g_free (cb);
}

static const SdBackendOps cu_ops = {
  .name = "cuda",
  .alloc = cu_alloc,
  .alloc_f32 = cu_alloc_f32,
  .release = cu_release,
  .upload = cu_upload,
  .download = cu_download,
  .upload_bf16 = cu_upload_bf16,
  .download_bf16 = cu_download_bf16,
  .weight = cu_weight,
  .sync = cu_sync,
  .destroy = cu_destroy,
  .set_threads = NULL,
  .linear = cu_linear,
  .layer_norm = cu_layer_norm,
  .rms_norm = cu_rms_norm,
  .head_norm_rope = cu_head_norm_rope,
  .attention = cu_attention_any,
  .attention_merge = cu_attention_merge,
  .add_gated = cu_add_gated,
  .activate = cu_activate,
  .mul = cu_mul,
  .axpby = cu_axpby,
  .gather_rows = cu_gather_rows,
  .copy = cu_copy,
  .conv2d = cu_conv2d,
  .group_norm_stats = cu_group_norm_stats,
  .group_norm_apply = cu_group_norm_apply,
  .upsample_nearest2x = cu_upsample_nearest2x,
  .transpose = cu_transpose,
};

/* SCALEDIT_CUDA_MEMORY_LIMIT: bytes, or a number with K, M, G or T (powers of 1024). */
static gboolean
memory_limit_from_env (gsize *limit, GError **error)
{
  const char *v = g_getenv ("SCALEDIT_CUDA_MEMORY_LIMIT");
  char *end = NULL;
  double x;
  *limit = 0;
  if (!v || !*v)
    return TRUE;
  x = g_ascii_strtod (v, &end);
  if (*end && strchr ("KMGT", g_ascii_toupper (*end)))
    {
      int k, power = (int) (strchr ("KMGT", g_ascii_toupper (*end)) - "KMGT") + 1;
      for (k = 0; k < power; k++)
        x *= 1024.0;
      end++;
    }
  if (end == v || (*end && g_ascii_toupper (*end) != 'B') || !(x >= 1) || x > 1e18)
    {
      g_set_error (error, CU_ERROR, SD_ERROR_ARGUMENT,
                   "SCALEDIT_CUDA_MEMORY_LIMIT=\"%s\": give a size in bytes, or with K, M, G or T", v);
      return FALSE;
    }
  *limit = (gsize) x;
  return TRUE;
}

extern "C" G_MODULE_EXPORT SdBackend *sd_backend_cuda_open (GError **error);

/* Why no GPU can be used, in a user's words: the runtime's own message for a machine without a
 * driver ("CUDA driver version is insufficient for CUDA runtime version") reads as if an update
 * would help. */
static char *
no_gpu_reason (cudaError_t err)
{
  int driver = 0, runtime = 0;
  cudaDriverGetVersion (&driver);
  cudaRuntimeGetVersion (&runtime);
  if (driver == 0)
    return g_strdup ("no NVIDIA driver was found (libcuda.so.1 is not installed or cannot be loaded): "
                     "the CUDA backend needs an NVIDIA GPU and its driver; use --device cpu");
  if (err == cudaSuccess || err == cudaErrorNoDevice)
    return g_strdup ("the NVIDIA driver is installed but no NVIDIA GPU was found; use --device cpu");
  if (err == cudaErrorInsufficientDriver)
    return g_strdup_printf ("the NVIDIA driver supports CUDA %d.%d but this build needs %d.%d: update "
                            "the driver, or use --device cpu", driver / 1000, driver % 1000 / 10,
                            runtime / 1000, runtime % 1000 / 10);
  return g_strdup (cudaGetErrorString (err));
}

/* The module's entry point: the first GPU, a stream, cuBLASLt and a pool that keeps memory. */
SdBackend *
sd_backend_cuda_open (GError **error)
{
  CuBackend *cb;
  cudaError_t err;
  int count = 0;
  cudaMemPool_t pool;
  uint64_t keep = UINT64_MAX;
  cudaDeviceProp prop;

  err = cudaGetDeviceCount (&count);
  if (err != cudaSuccess || count == 0)
    {
      g_autofree char *why = no_gpu_reason (err);
      g_set_error (error, CU_ERROR, SD_ERROR_UNSUPPORTED, "no usable CUDA GPU: %s", why);
      cudaGetLastError ();
      return NULL;
    }
  cb = g_new0 (CuBackend, 1);
  cb->base.ops = &cu_ops;
  if (!memory_limit_from_env (&cb->memory_limit, error))
    {
      g_free (cb);
      return NULL;
    }
  cb->device = 0;
  if ((err = cudaSetDevice (0)) != cudaSuccess || (err = cudaGetDeviceProperties (&prop, 0)) != cudaSuccess
      || (err = cudaStreamCreateWithFlags (&cb->stream, cudaStreamNonBlocking)) != cudaSuccess)
    {
      g_set_error (error, CU_ERROR, SD_ERROR_BACKEND, "cannot start the CUDA device: %s",
                   cudaGetErrorString (err));
      g_free (cb);
      return NULL;
    }
  if (prop.major < 8)
    {
      g_set_error (error, CU_ERROR, SD_ERROR_UNSUPPORTED,
                   "GPU %s has compute capability %d.%d: the CUDA backend needs 8.0 or newer (bf16 tensor cores)",
                   prop.name, prop.major, prop.minor);
      cudaStreamDestroy (cb->stream);
      g_free (cb);
      return NULL;
    }
  cb->sm_count = prop.multiProcessorCount;
  cb->base.device_memory = cb->memory_limit ? MIN (cb->memory_limit, prop.totalGlobalMem) : prop.totalGlobalMem;
  if (cudaDeviceGetDefaultMemPool (&pool, 0) == cudaSuccess)
    cudaMemPoolSetAttribute (pool, cudaMemPoolAttrReleaseThreshold, &keep);
  if (cublasLtCreate (&cb->lt) != CUBLAS_STATUS_SUCCESS)
    {
      g_set_error (error, CU_ERROR, SD_ERROR_BACKEND, "cannot start cuBLASLt");
      cu_destroy (&cb->base);
      return NULL;
    }
  cb->workspace_size = WORKSPACE_BYTES;
  if (cudaMalloc (&cb->workspace, cb->workspace_size) != cudaSuccess)
    {
      cudaGetLastError ();
      g_set_error (error, CU_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "out of GPU memory allocating the %zu-byte GEMM workspace", cb->workspace_size);
      cb->workspace = NULL;
      cu_destroy (&cb->base);
      return NULL;
    }
  return &cb->base;
}

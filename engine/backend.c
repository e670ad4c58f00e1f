/* backend.c: choosing a backend at run time: the CPU one built in, CUDA from a module when a GPU works. */
#include <gmodule.h>

#include "backend.h"
#include "scaledit.h"
#include "scaledit-config.h"

typedef SdBackend *(*SdCudaOpenFunc) (GError **error);

/* The CUDA module sits beside the engine in the build tree or in the installed libdir;
 * SCALEDIT_CUDA_MODULE overrides both. */
static SdBackend *
open_cuda (GError **error)
{
  const char *override = g_getenv ("SCALEDIT_CUDA_MODULE");
  const char *candidates[] = {
    override,
    SCALEDIT_BUILD_ROOT "/cuda/libscaledit-cuda.so",
    SCALEDIT_PKGLIBDIR "/libscaledit-cuda.so",
  };
  GString *tried = g_string_new (NULL);
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      GModule *mod;
      SdCudaOpenFunc open_fn;
      if (!candidates[i] || !g_file_test (candidates[i], G_FILE_TEST_EXISTS))
        continue;
      mod = g_module_open (candidates[i], G_MODULE_BIND_LOCAL);
      if (!mod)
        {
          g_string_append_printf (tried, "\n  %s: %s", candidates[i], g_module_error ());
          continue;
        }
      if (!g_module_symbol (mod, "sd_backend_cuda_open", (gpointer *) &open_fn))
        {
          g_string_append_printf (tried, "\n  %s: no sd_backend_cuda_open", candidates[i]);
          g_module_close (mod);
          continue;
        }
      g_module_make_resident (mod);
      g_string_free (tried, TRUE);
      return open_fn (error);
    }
  g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
               "the CUDA backend is not available: this build has no CUDA module%s%s",
               tried->len ? " that loads:" : "", tried->str);
  g_string_free (tried, TRUE);
  return NULL;
}

SdBackend *
sd_backend_open (const char *name, GError **error)
{
  if (!name || g_str_equal (name, "auto"))
    {
      SdBackend *be = open_cuda (NULL);
      return be ? be : sd_backend_cpu_new ();
    }
  if (g_str_equal (name, "cpu"))
    return sd_backend_cpu_new ();
  if (g_str_equal (name, "cuda"))
    return open_cuda (error);
  g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
               "unknown device \"%s\": use auto, cpu or cuda", name);
  return NULL;
}

void
sd_backend_close (SdBackend *be)
{
  if (be && be->ops->destroy)
    be->ops->destroy (be);
  else
    g_free (be);
}

SdBuf *
sd_buf_from_host (SdBackend *be, const float *src, gsize n, GError **error)
{
  SdBuf *b = be->ops->alloc (be, n, error);
  if (b && !be->ops->upload (be, b, 0, src, n, error))
    {
      be->ops->release (be, b);
      return NULL;
    }
  return b;
}

void
sd_buf_release (SdBackend *be, SdBuf *buf)
{
  if (buf)
    be->ops->release (be, buf);
}

float *
sd_buf_to_host (SdBackend *be, SdBuf *buf, gsize off, gsize n, GError **error)
{
  float *h = g_try_new (float, n ? n : 1);
  if (!h)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "out of host memory for %" G_GSIZE_FORMAT " floats", n);
      return NULL;
    }
  if (!be->ops->download (be, buf, off, h, n, error))
    {
      g_free (h);
      return NULL;
    }
  return h;
}

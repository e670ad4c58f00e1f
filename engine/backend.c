/* backend.c: choosing a backend at run time: the CPU one built in, CUDA from a module when a GPU works. */
#include <gmodule.h>

#include "backend.h"
#include "scaledit.h"
#include "scaledit-config.h"

typedef SdBackend *(*SdCudaOpenFunc) (GError **error);

/* Where a program at exe_path looks for the CUDA module, in order: SCALEDIT_CUDA_MODULE (for
 * development), the build tree only when the program itself runs from the build tree, the
 * program's own folder (a plug-in installed into GIMP's plug-in folder carries its module there),
 * and the installed libdir. An installed binary never looks in the build folder whose path it
 * was compiled with: whoever can write there later would choose the code it runs. */
GPtrArray *
sd_cuda_module_candidates (const char *exe_path)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  const char *override = g_getenv ("SCALEDIT_CUDA_MODULE");
  g_autofree char *build_root = g_canonicalize_filename (SCALEDIT_BUILD_ROOT, "/");
  g_autofree char *build_prefix = g_strconcat (build_root, G_DIR_SEPARATOR_S, NULL);

  if (override && *override)
    g_ptr_array_add (paths, g_strdup (override));
  if (exe_path && g_str_has_prefix (exe_path, build_prefix))
    g_ptr_array_add (paths, g_build_filename (build_root, "cuda", "libscaledit-cuda.so", NULL));
  if (exe_path && g_path_is_absolute (exe_path))
    {
      g_autofree char *dir = g_path_get_dirname (exe_path);
      g_ptr_array_add (paths, g_build_filename (dir, "libscaledit-cuda.so", NULL));
    }
  g_ptr_array_add (paths, g_build_filename (SCALEDIT_PKGLIBDIR, "libscaledit-cuda.so", NULL));
  return paths;
}

static SdBackend *
open_cuda (GError **error)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autoptr (GPtrArray) candidates = sd_cuda_module_candidates (exe);
  GString *tried = g_string_new (NULL);
  gsize i;

  for (i = 0; i < candidates->len; i++)
    {
      const char *path = g_ptr_array_index (candidates, i);
      GModule *mod;
      SdCudaOpenFunc open_fn;
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      mod = g_module_open (path, G_MODULE_BIND_LOCAL);
      if (!mod)
        {
          g_string_append_printf (tried, "\n  %s: %s", path, g_module_error ());
          continue;
        }
      if (!g_module_symbol (mod, "sd_backend_cuda_open", (gpointer *) &open_fn))
        {
          g_string_append_printf (tried, "\n  %s: no sd_backend_cuda_open", path);
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

/* test_backend.c: where the engine looks for the CUDA module (the build tree only for programs run
 * from the build tree, never for an installed one: a planted module there would run as the user),
 * and what it says on a machine without an NVIDIA driver. */
#include <glib.h>
#include <gmodule.h>
#include <string.h>

#include "backend.h"
#include "scaledit-config.h"

static gboolean
has_prefix_in (GPtrArray *paths, const char *prefix)
{
  guint i;
  for (i = 0; i < paths->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (paths, i), prefix))
      return TRUE;
  return FALSE;
}

static char *
build_root_prefix (void)
{
  g_autofree char *root = g_canonicalize_filename (SCALEDIT_BUILD_ROOT, "/");
  return g_strconcat (root, G_DIR_SEPARATOR_S, NULL);
}

static void
test_installed_program_skips_build_tree (void)
{
  g_autofree char *prefix = build_root_prefix ();
  g_autoptr (GPtrArray) installed = NULL, unknown = NULL;

  g_unsetenv ("SCALEDIT_CUDA_MODULE");
  installed = sd_cuda_module_candidates ("/home/artist/.config/GIMP/3.0/plug-ins/scaledit/scaledit");
  g_assert_false (has_prefix_in (installed, prefix));
  g_assert_cmpstr (g_ptr_array_index (installed, 0), ==,
                   "/home/artist/.config/GIMP/3.0/plug-ins/scaledit/libscaledit-cuda.so");
  g_assert_cmpstr (g_ptr_array_index (installed, installed->len - 1), ==,
                   SCALEDIT_PKGLIBDIR "/libscaledit-cuda.so");

  unknown = sd_cuda_module_candidates (NULL);
  g_assert_cmpuint (unknown->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (unknown, 0), ==, SCALEDIT_PKGLIBDIR "/libscaledit-cuda.so");
}

static void
test_build_tree_program_uses_build_tree (void)
{
  g_autofree char *prefix = build_root_prefix ();
  g_autofree char *exe = g_strconcat (prefix, "cli/scaledit", NULL);
  g_autofree char *module = g_strconcat (prefix, "cuda/libscaledit-cuda.so", NULL);
  g_autofree char *sibling = g_strconcat (prefix, "x/cli/scaledit", NULL);
  g_autoptr (GPtrArray) paths = NULL, lookalike = NULL;

  g_unsetenv ("SCALEDIT_CUDA_MODULE");
  paths = sd_cuda_module_candidates (exe);
  g_assert_cmpstr (g_ptr_array_index (paths, 0), ==, module);

  /* a folder whose name only starts like the build root is not inside it */
  sibling[strlen (prefix) - 1] = 'X';
  lookalike = sd_cuda_module_candidates (sibling);
  g_assert_false (has_prefix_in (lookalike, prefix));
}

static void
test_override_first (void)
{
  g_autoptr (GPtrArray) paths = NULL;
  g_setenv ("SCALEDIT_CUDA_MODULE", "/opt/dev/libscaledit-cuda.so", TRUE);
  paths = sd_cuda_module_candidates ("/usr/bin/scaledit");
  g_assert_cmpstr (g_ptr_array_index (paths, 0), ==, "/opt/dev/libscaledit-cuda.so");
  g_unsetenv ("SCALEDIT_CUDA_MODULE");
}

/* On a machine without an NVIDIA driver, asking for the CUDA backend says so in plain words
 * (the CUDA runtime's own message blames the driver's version). */
static void
test_no_driver_message (void)
{
  GModule *driver = g_module_open ("libcuda.so.1", G_MODULE_BIND_LAZY);
  GError *error = NULL;
  SdBackend *be;

  if (driver)
    {
      g_module_close (driver);
      g_test_skip ("an NVIDIA driver is installed here");
      return;
    }
  be = sd_backend_open ("cuda", &error);
  g_assert_null (be);
  g_assert_nonnull (error);
  if (strstr (error->message, "has no CUDA module"))
    {
      g_test_skip ("this build has no CUDA module");
      g_clear_error (&error);
      return;
    }
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "no NVIDIA driver was found"));
  g_assert_null (strstr (error->message, "insufficient"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backend/cuda-module/installed", test_installed_program_skips_build_tree);
  g_test_add_func ("/backend/cuda-module/build-tree", test_build_tree_program_uses_build_tree);
  g_test_add_func ("/backend/cuda-module/override", test_override_first);
  g_test_add_func ("/backend/cuda/no-driver-message", test_no_driver_message);
  return g_test_run ();
}

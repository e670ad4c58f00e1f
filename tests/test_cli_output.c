/* test_cli_output.c: how `scaledit generate` writes its PNG: a folder that cannot be written fails
 * before the model loads; a full disk (RLIMIT_FSIZE in the child) fails with the reason and leaves
 * the previous file; Ctrl-C, a second Ctrl-C and SIGTERM leave no temporary file behind. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <glib/gstdio.h>

#include "cli_spawn.h"
#include "testutil.h"

static void
test_unwritable_folder (void)
{
  const char *args[] = { "generate", "--prompt", "a lake", "--device", "cpu", "--out",
                         "/nonexistent-scaledit-folder/a.png", NULL };
  gint64 start = g_get_monotonic_time ();
  char *err;

  g_assert_cmpint (sd_test_cli_run (args, NULL, NULL, NULL, &err), ==, 1);
  g_assert_nonnull (strstr (err, "/nonexistent-scaledit-folder/a.png: cannot create a file in the folder "
                                 "/nonexistent-scaledit-folder: No such file or directory"));
  g_assert_null (strstr (err, "done")); /* no phase ran: a 1024x1024 picture would take seconds */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_free (err);
}

static rlim_t size_limit;

/* In the child before exec: writes past size_limit bytes fail with EFBIG (SIGXFSZ ignored). */
static void
limit_file_size (gpointer data)
{
  struct rlimit rl = { size_limit, size_limit };
  signal (SIGXFSZ, SIG_IGN);
  setrlimit (RLIMIT_FSIZE, &rl);
}

/* The file fails to write at its start, or only at its very end (the last flush, which fclose used
 * to do unchecked, leaving a truncated PNG and exit status 0). */
static void
test_full_disk (void)
{
  char *dir = g_dir_make_tmp ("sdout-XXXXXX", NULL), *out = g_build_filename (dir, "a.png", NULL);
  const char *args[] = { "generate", "--prompt", "a lake", "--width", "128", "--height", "128", "--seed", "5",
                         "--steps", "2", "--detail-steps", "1", "--device", "cpu", "--out", out, NULL };
  rlim_t limits[2];
  GStatBuf st;
  guint i;

  g_assert_cmpint (sd_test_cli_run (args, NULL, NULL, NULL, NULL), ==, 0);
  g_assert_cmpint (g_stat (out, &st), ==, 0);
  limits[0] = 100;
  limits[1] = st.st_size - 1;
  for (i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      char *err, *contents, *names;
      g_assert_true (g_file_set_contents (out, "the previous picture", -1, NULL));
      size_limit = limits[i];
      g_assert_cmpint (sd_test_cli_run (args, NULL, limit_file_size, NULL, &err), ==, 1);
      g_assert_nonnull (strstr (err, "a.png: cannot write"));
      g_assert_nonnull (strstr (err, g_strerror (EFBIG)));
      g_assert_true (g_file_get_contents (out, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "the previous picture");
      names = sd_test_folder_names (dir);
      g_assert_cmpstr (names, ==, "a.png");
      g_free (names);
      g_free (contents);
      g_free (err);
    }
  sd_test_folder_remove (dir);
  g_free (out);
  g_free (dir);
}

/* Whether the folder holds a temporary output file (*.part). */
static gboolean
has_temp_file (const char *dir)
{
  char *names = sd_test_folder_names (dir);
  gboolean found = strstr (names, ".part") != NULL;
  g_free (names);
  return found;
}

/* Starts a generation, sends `signals` once its temporary file exists, and checks the exit status
 * and that nothing is left in its folder. */
static void
interrupt (const int *signals, int n_signals, int expected_status)
{
  char *dir = g_dir_make_tmp ("sdout-XXXXXX", NULL), *out = g_build_filename (dir, "a.png", NULL), *names;
  const char *args[] = { "generate", "--prompt", "a lake", "--width", "512", "--height", "512", "--steps", "12",
                         "--detail-steps", "8", "--device", "cpu", "--out", out, NULL };
  GPid pid = sd_test_cli_start (args);
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  int i;

  while (!has_temp_file (dir))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (2000);
    }
  for (i = 0; i < n_signals; i++)
    {
      kill (pid, signals[i]);
      g_usleep (20000);
    }
  g_assert_cmpint (sd_test_cli_wait (pid), ==, expected_status);
  names = sd_test_folder_names (dir);
  g_assert_cmpstr (names, ==, "");
  g_free (names);
  sd_test_folder_remove (dir);
  g_free (out);
  g_free (dir);
}

static void
test_ctrl_c_cancels (void)
{
  const int sig[] = { SIGINT };
  interrupt (sig, 1, 130);
}

static void
test_second_ctrl_c (void)
{
  const int sig[] = { SIGINT, SIGINT };
  interrupt (sig, 2, 130);
}

static void
test_sigterm (void)
{
  const int sig[] = { SIGTERM };
  interrupt (sig, 1, 143);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-output/unwritable-folder", test_unwritable_folder);
  g_test_add_func ("/cli-output/full-disk", test_full_disk);
  g_test_add_func ("/cli-output/ctrl-c-cancels", test_ctrl_c_cancels);
  g_test_add_func ("/cli-output/second-ctrl-c", test_second_ctrl_c);
  g_test_add_func ("/cli-output/sigterm", test_sigterm);
  return g_test_run ();
}

/* cli_spawn.c: running the scaledit command from tests (see cli_spawn.h). */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli_spawn.h"

static char **
command_line (const char *const *args)
{
  const char *cli = g_getenv ("SCALEDIT_CLI");
  GPtrArray *argv = g_ptr_array_new ();

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, g_strdup (cli));
  for (; *args; args++)
    g_ptr_array_add (argv, g_strdup (*args));
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

static int
exit_status (int wait_status)
{
  if (WIFSIGNALED (wait_status))
    return 128 + WTERMSIG (wait_status);
  return WEXITSTATUS (wait_status);
}

int
sd_test_cli_run (const char *const *args, char **envp, GSpawnChildSetupFunc setup, char **out, char **err)
{
  char **argv = command_line (args), *o = NULL, *e = NULL;
  GError *error = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, argv, envp, 0, setup, NULL, &o, &e, &status, &error));
  g_assert_no_error (error);
  g_test_message ("scaledit %s: %s%s", args[0], o, e);
  if (out)
    *out = o;
  else
    g_free (o);
  if (err)
    *err = e;
  else
    g_free (e);
  g_strfreev (argv);
  return exit_status (status);
}

GPid
sd_test_cli_start (const char *const *args)
{
  char **argv = command_line (args);
  GError *error = NULL;
  GPid pid;

  g_assert_true (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL
                                | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  g_strfreev (argv);
  return pid;
}

int
sd_test_cli_wait (GPid pid)
{
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  return exit_status (status);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char *
sd_test_folder_names (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  char *joined;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  joined = g_strjoinv (" ", (char **) names->pdata);
  g_ptr_array_free (names, TRUE);
  return joined;
}

void
sd_test_folder_remove (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (!d)
    return;
  while ((name = g_dir_read_name (d)))
    {
      char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
      g_free (path);
    }
  g_dir_close (d);
  g_rmdir (dir);
}

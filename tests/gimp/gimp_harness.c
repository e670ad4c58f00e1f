/* gimp_harness.c: runs gimp-console-3.0 headless on Script-Fu batch commands for the gimp suite. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <png.h>

#include "gimp_harness.h"

/* What gimp-console prints when a batch command fails (its exit status says so too). */
#define BATCH_ERROR_MARK "batch command experienced an execution error"
/* How many trailing lines of GIMP's output an error message carries. */
#define ERROR_TAIL_LINES 15

struct _SdGimp
{
  char *tmp_dir;   /* the temporary folder (removed by sd_gimp_free) */
  char *gimp_dir;  /* TMP_DIR/gimp3: GIMP3_DIRECTORY */
  char *program;   /* gimp-console-3.0 */
};

G_DEFINE_QUARK (sd-gimp-error-quark, sd_gimp_error)

char *
sd_gimp_quote (const char *s)
{
  GString *q = g_string_new ("\"");
  for (; *s; s++)
    {
      if (*s == '"' || *s == '\\')
        g_string_append_c (q, '\\');
      g_string_append_c (q, *s);
    }
  g_string_append_c (q, '"');
  return g_string_free (q, FALSE);
}

/* The gimprc line that appends each folder of SCALEDIT_PLUGIN_PATH to the default plug-in-path. */
static char *
plug_in_path_line (void)
{
  const char *extra = g_getenv ("SCALEDIT_PLUGIN_PATH");
  GString *path = g_string_new ("${gimp_dir}/plug-ins" G_SEARCHPATH_SEPARATOR_S
                                "${gimp_plug_in_dir}/plug-ins");
  char **dirs, **d, *quoted, *line;

  dirs = g_strsplit (extra ? extra : "", G_SEARCHPATH_SEPARATOR_S, -1);
  for (d = dirs; *d; d++)
    if (**d)
      {
        char *abs = g_canonicalize_filename (*d, NULL);
        g_string_append_printf (path, "%s%s", G_SEARCHPATH_SEPARATOR_S, abs);
        g_free (abs);
      }
  g_strfreev (dirs);
  quoted = sd_gimp_quote (path->str);
  line = g_strdup_printf ("(plug-in-path %s)\n", quoted);
  g_free (quoted);
  g_string_free (path, TRUE);
  return line;
}

SdGimp *
sd_gimp_new (GError **error)
{
  SdGimp *gimp = g_new0 (SdGimp, 1);
  const char *program = g_getenv ("SCALEDIT_GIMP_CONSOLE");
  char *gimprc, *line;
  gboolean ok;

  gimp->program = g_strdup (program && *program ? program : "gimp-console-3.0");
  gimp->tmp_dir = g_dir_make_tmp ("scaledit-gimp-XXXXXX", error);
  if (!gimp->tmp_dir)
    {
      g_prefix_error (error, "making the throwaway GIMP folder: ");
      sd_gimp_free (gimp);
      return NULL;
    }
  gimp->gimp_dir = g_build_filename (gimp->tmp_dir, "gimp3", NULL);
  if (g_mkdir (gimp->gimp_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_SETUP, "cannot create %s: %s",
                   gimp->gimp_dir, g_strerror (e));
      sd_gimp_free (gimp);
      return NULL;
    }
  gimprc = g_build_filename (gimp->gimp_dir, "gimprc", NULL);
  line = plug_in_path_line ();
  ok = g_file_set_contents (gimprc, line, -1, error);
  g_free (line);
  if (!ok)
    {
      g_prefix_error (error, "writing %s: ", gimprc);
      g_free (gimprc);
      sd_gimp_free (gimp);
      return NULL;
    }
  g_free (gimprc);
  return gimp;
}

/* Removes a folder tree without following symbolic links. */
static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  if (dir)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)))
        {
          char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
          g_free (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

void
sd_gimp_free (SdGimp *gimp)
{
  if (!gimp)
    return;
  if (gimp->tmp_dir && !g_getenv ("SCALEDIT_KEEP_GIMP_DIR"))
    remove_tree (gimp->tmp_dir);
  g_free (gimp->tmp_dir);
  g_free (gimp->gimp_dir);
  g_free (gimp->program);
  g_free (gimp);
}

const char *
sd_gimp_tmp_dir (SdGimp *gimp)
{
  return gimp->tmp_dir;
}

char *
sd_gimp_tmp_path (SdGimp *gimp, const char *name)
{
  return g_build_filename (gimp->tmp_dir, name, NULL);
}

/* In the child before exec: its own process group, so that GIMP and its plug-ins die together,
 * and (on Linux) death with the test program when meson test kills it. */
static void
child_setup (gpointer data)
{
  setpgid (0, 0);
#ifdef __linux__
  prctl (PR_SET_PDEATHSIG, SIGKILL);
#endif
}

typedef struct
{
  gboolean exited;
  gboolean timed_out;
  int signal;  /* SIGTERM, SIGINT or SIGHUP sent to the test program (meson test's timeout) */
} RunState;

/* Signals that end the test program while GIMP runs: GIMP's process group goes with it. */
static const int fatal_signals[] = { SIGTERM, SIGINT, SIGHUP };

typedef struct
{
  RunState *state;
  int signal;
} SignalWatch;

static void
on_gimp_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  ((RunState *) data)->exited = TRUE;
}

static gboolean
on_timeout (gpointer data)
{
  ((RunState *) data)->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer data)
{
  SignalWatch *watch = data;
  watch->state->signal = watch->signal;
  return G_SOURCE_CONTINUE;
}

/* What GIMP said about a failure: its Script-Fu error lines, then its last n non-blank lines. */
static char *
describe_output (const char *log, guint n)
{
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  GString *text = g_string_new (NULL);
  guint count = 0, i, first;

  for (i = 0; lines[i]; i++)
    if (strstr (lines[i], "Error: ") || strstr (lines[i], "Stopping at failing batch command"))
      g_string_append_printf (text, "%s\n", lines[i]);
  for (i = g_strv_length (lines); i > 0 && count < n; i--)
    if (*g_strstrip (lines[i - 1]))
      count++;
  first = i;
  g_string_append (text, "-- GIMP's last output --\n");
  for (i = first; lines[i]; i++)
    if (*lines[i])
      g_string_append_printf (text, "%s\n", lines[i]);
  return g_string_free (text, FALSE);
}

gboolean
sd_gimp_run (SdGimp *gimp, const char *const *commands, guint timeout_s, char **output,
             GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *log_path = g_build_filename (gimp->tmp_dir, "gimp-output.log", NULL);
  g_autofree char *log = NULL;
  g_autofree char *xdg_cache = g_build_filename (gimp->tmp_dir, "cache", NULL);
  g_autofree char *xdg_config = g_build_filename (gimp->tmp_dir, "config", NULL);
  GError *spawn_error = NULL;
  GMainContext *context;
  GSource *timer, *signal_sources[G_N_ELEMENTS (fatal_signals)];
  SignalWatch watches[G_N_ELEMENTS (fatal_signals)];
  guint i;
  RunState state = { FALSE, FALSE, 0 };
  pid_t pgid = 0;
  const char *const *c;
  gboolean ok = TRUE;

  if (output)
    *output = NULL;
  g_ptr_array_add (argv, gimp->program);
  g_ptr_array_add (argv, "--no-interface");
  g_ptr_array_add (argv, "--no-data");
  g_ptr_array_add (argv, "--no-fonts");
  g_ptr_array_add (argv, "--stack-trace-mode=never");
  g_ptr_array_add (argv, "--batch-interpreter=plug-in-script-fu-eval");
  for (c = commands; *c; c++)
    {
      g_ptr_array_add (argv, "-b");
      g_ptr_array_add (argv, (gpointer) *c);
    }
  g_ptr_array_add (argv, "--quit");
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                        | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_setenv (launcher, "GIMP3_DIRECTORY", gimp->gimp_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CACHE_HOME", xdg_cache, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", xdg_config, TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GIO_USE_VFS", "local", TRUE);
  g_subprocess_launcher_setenv (launcher, "NO_AT_BRIDGE", "1", TRUE);
  g_subprocess_launcher_set_stdout_file_path (launcher, log_path);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &spawn_error);
  if (!proc)
    {
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_SPAWN, "cannot start %s: %s",
                   gimp->program, spawn_error->message);
      g_error_free (spawn_error);
      g_main_context_pop_thread_default (context);
      g_main_context_unref (context);
      return FALSE;
    }
  if (g_subprocess_get_identifier (proc))
    pgid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (proc), NULL, 10);
  /* stdin is a pipe that we close at once: GIMP never waits for input. */
  g_output_stream_close (g_subprocess_get_stdin_pipe (proc), NULL, NULL);

  g_subprocess_wait_async (proc, NULL, on_gimp_exit, &state);
  timer = g_timeout_source_new_seconds (timeout_s);
  g_source_set_callback (timer, on_timeout, &state, NULL);
  g_source_attach (timer, context);
  for (i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    {
      watches[i] = (SignalWatch) { &state, fatal_signals[i] };
      signal_sources[i] = g_unix_signal_source_new (fatal_signals[i]);
      g_source_set_callback (signal_sources[i], on_signal, &watches[i], NULL);
      g_source_attach (signal_sources[i], context);
    }
  while (!state.exited && !state.timed_out && !state.signal)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  for (i = 0; i < G_N_ELEMENTS (fatal_signals); i++)
    {
      g_source_destroy (signal_sources[i]);
      g_source_unref (signal_sources[i]);
    }
  if (state.signal)
    {
      /* Killed from outside: take GIMP and its plug-ins along, then die of the same signal. */
      if (pgid > 0)
        kill (-pgid, SIGKILL);
      signal (state.signal, SIG_DFL);
      raise (state.signal);
    }
  if (state.timed_out && !state.exited)
    {
      if (pgid > 0)
        kill (-pgid, SIGKILL);
      while (!state.exited)
        g_main_context_iteration (context, TRUE);
    }
  /* Plug-ins left behind by GIMP share its process group. */
  if (pgid > 0)
    kill (-pgid, SIGKILL);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  if (!g_file_get_contents (log_path, &log, NULL, NULL))
    log = g_strdup ("");

  if (state.timed_out)
    {
      g_autofree char *said = describe_output (log, ERROR_TAIL_LINES);
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_TIMEOUT,
                   "GIMP did not finish within %u s and was killed:\n%s", timeout_s, said);
      ok = FALSE;
    }
  else if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0
           || strstr (log, BATCH_ERROR_MARK))
    {
      g_autofree char *how = g_subprocess_get_if_exited (proc)
        ? g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (proc))
        : g_strdup_printf ("was killed by signal %d", g_subprocess_get_term_sig (proc));
      g_autofree char *said = describe_output (log, ERROR_TAIL_LINES);
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_FAILED, "GIMP %s%s:\n%s", how,
                   strstr (log, BATCH_ERROR_MARK) ? " after a Script-Fu error" : "", said);
      ok = FALSE;
    }
  if (output)
    *output = g_steal_pointer (&log);
  return ok;
}

guint8 *
sd_png_read_rgba (const char *path, guint *width, guint *height, GError **error)
{
  png_image image;
  guint8 *pixels;

  memset (&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file (&image, path))
    {
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_PNG, "cannot read PNG %s: %s", path,
                   image.message);
      return NULL;
    }
  image.format = PNG_FORMAT_RGBA;
  pixels = g_malloc (PNG_IMAGE_SIZE (image));
  if (!png_image_finish_read (&image, NULL, pixels, 0, NULL))
    {
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_PNG, "cannot decode PNG %s: %s", path,
                   image.message);
      png_image_free (&image);
      g_free (pixels);
      return NULL;
    }
  *width = image.width;
  *height = image.height;
  return pixels;
}

char *
sd_png_read_text (const char *path, const char *keyword, GError **error)
{
  FILE *f = fopen (path, "rb");
  png_structp png = NULL;
  png_infop info = NULL;
  png_textp texts = NULL;
  char *found = NULL;
  int n = 0, i;

  if (!f)
    {
      int e = errno;
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_PNG, "cannot open PNG %s: %s", path,
                   g_strerror (e));
      return NULL;
    }
  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (!info || setjmp (png_jmpbuf (png)))
    {
      g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_PNG, "cannot decode PNG %s", path);
      png_destroy_read_struct (&png, &info, NULL);
      fclose (f);
      return NULL;
    }
  png_init_io (png, f);
  png_read_info (png, info);
  png_get_text (png, info, &texts, &n);
  for (i = 0; i < n && !found; i++)
    if (g_str_equal (texts[i].key, keyword))
      found = g_strndup (texts[i].text, texts[i].itxt_length ? texts[i].itxt_length
                                                             : texts[i].text_length);
  png_destroy_read_struct (&png, &info, NULL);
  fclose (f);
  if (!found)
    g_set_error (error, SD_GIMP_ERROR, SD_GIMP_ERROR_PNG, "PNG %s has no \"%s\" text chunk",
                 path, keyword);
  return found;
}

/* progress.c: the progress bar and, with --verbose, the time of each phase (see progress.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

struct SdProgress {
  gboolean tty, verbose;
  char phase[16];
  gint64 phase_start;
  GString *timings;
};

SdProgress *
sd_progress_new (gboolean verbose)
{
  SdProgress *pr = g_new0 (SdProgress, 1);
  pr->tty = isatty (STDERR_FILENO);
  pr->verbose = verbose;
  pr->timings = g_string_new (NULL);
  return pr;
}

void
sd_progress_free (SdProgress *pr)
{
  if (!pr)
    return;
  g_string_free (pr->timings, TRUE);
  g_free (pr);
}

/* A phase ends when the next one starts (or at the end). */
static void
phase_switch (SdProgress *pr, const char *phase)
{
  gint64 now = g_get_monotonic_time ();
  if (pr->phase[0])
    g_string_append_printf (pr->timings, "scaledit: phase %-9s %8.2f s\n", pr->phase, (now - pr->phase_start) / 1e6);
  g_strlcpy (pr->phase, phase ? phase : "", sizeof pr->phase);
  pr->phase_start = now;
}

void
sd_progress_update (const char *phase, int step, int total, gpointer user_data)
{
  SdProgress *pr = user_data;
  int width = 30, filled = total > 0 ? step * width / total : width, i;
  if (pr->verbose && strcmp (phase, pr->phase) != 0)
    phase_switch (pr, phase);
  if (!pr->tty)
    {
      if (step == total)
        fprintf (stderr, "%s: done\n", phase);
      return;
    }
  fprintf (stderr, "\r%-9s [", phase);
  for (i = 0; i < width; i++)
    fputc (i < filled ? '#' : '.', stderr);
  fprintf (stderr, "] %d/%d ", step, total);
  if (step == total)
    fputc ('\n', stderr);
  fflush (stderr);
}

void
sd_progress_begin_phase (SdProgress *pr, const char *phase)
{
  if (pr->verbose)
    phase_switch (pr, phase);
}

void
sd_progress_print_timings (SdProgress *pr)
{
  if (!pr->verbose)
    return;
  phase_switch (pr, NULL);
  fputs (pr->timings->str, stderr);
}

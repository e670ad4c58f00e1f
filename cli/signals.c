/* signals.c: Ctrl-C cancels, a second Ctrl-C or SIGTERM removes the temporary output file and ends
 * the process at once (see signals.h). The handler only calls async-signal-safe functions. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static volatile gint cancel_flag;
static volatile sig_atomic_t interrupts;
/* Written only while the signals are held, read by the handler. */
static char temp_file[PATH_MAX];
static volatile sig_atomic_t have_temp_file;

static void
on_signal (int sig)
{
  static const char cancelling[] = "\nscaledit: cancelling (Ctrl-C again stops at once)\n";
  int saved = errno;

  if (sig == SIGINT && interrupts++ == 0)
    {
      g_atomic_int_set (&cancel_flag, 1);
      if (write (STDERR_FILENO, cancelling, sizeof cancelling - 1) < 0)
        { /* nothing to do: stderr is gone */ }
      errno = saved;
      return;
    }
  if (have_temp_file)
    unlink (temp_file);
  _exit (128 + sig); /* 130 for Ctrl-C, 143 for SIGTERM, as a shell reports them */
}

volatile gint *
sd_signals_install (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* a write interrupted by the first Ctrl-C goes on */
  sigemptyset (&sa.sa_mask);
  sigaddset (&sa.sa_mask, SIGINT);
  sigaddset (&sa.sa_mask, SIGTERM);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  return &cancel_flag;
}

static void
mask (int how, sigset_t *old)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  pthread_sigmask (how, &set, old);
}

void
sd_signals_hold (void)
{
  mask (SIG_BLOCK, NULL);
}

void
sd_signals_release (void)
{
  mask (SIG_UNBLOCK, NULL);
}

void
sd_signals_set_temp_file (const char *path)
{
  sigset_t old;

  mask (SIG_BLOCK, &old); /* the handler never sees a half-copied path */
  have_temp_file = 0;
  if (path && strlen (path) < sizeof temp_file)
    {
      strcpy (temp_file, path);
      have_temp_file = 1;
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

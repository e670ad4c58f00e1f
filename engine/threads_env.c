/* threads_env.c: restarts the program once with OMP_WAIT_POLICY=passive (see scaledit.h). */
#include <unistd.h>

#include "scaledit.h"

void
sd_prefer_passive_threads (char **argv)
{
  if (g_getenv ("OMP_WAIT_POLICY"))
    return; /* the user's choice, or already restarted */
  g_setenv ("OMP_WAIT_POLICY", "passive", TRUE);
  execv ("/proc/self/exe", argv);
  /* No /proc (or exec refused): go on with libgomp's default policy. */
}

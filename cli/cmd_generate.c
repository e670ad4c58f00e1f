/* cmd_generate.c: `scaledit generate`: a picture from a prompt into a PNG. */
#include <stdio.h>

#include "cli.h"
#include "render.h"

int
cmd_generate (int argc, char **argv)
{
  SdRenderOptions o;
  GError *error = NULL;
  int rc;

  if (!sd_render_options_parse (&o, FALSE, argc, argv, &error))
    {
      fprintf (stderr, "scaledit generate: %s (scaledit generate --help lists the options)\n", error->message);
      g_error_free (error);
      rc = 2;
    }
  else
    rc = sd_render (&o);
  sd_render_options_clear (&o);
  return rc;
}

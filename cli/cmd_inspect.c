/* cmd_inspect.c: `scaledit inspect PATH`: what a model folder or file holds, or why it cannot be used. */
#include <stdio.h>

#include "scaledit.h"
#include "cli.h"

int
cmd_inspect (int argc, char **argv)
{
  GError *error = NULL;
  char *text;

  if (argc != 2 || argv[1][0] == '-')
    {
      fprintf (stderr, "usage: scaledit inspect PATH\n");
      return 2;
    }
  text = sd_inspect (argv[1], &error);
  if (!text)
    {
      fprintf (stderr, "scaledit: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
  fputs (text, stdout);
  g_free (text);
  return 0;
}

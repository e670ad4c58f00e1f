/* cmd_tokenize.c: `scaledit tokenize clip|t5 --model PATH --text TEXT [--max-length N]`: prints the
 * token ids a text encoder gets for a prompt and says on stderr when the prompt was truncated. */
#include <stdio.h>
#include <string.h>

#include "scaledit.h"
#include "cli.h"

int
cmd_tokenize (int argc, char **argv)
{
  g_autofree char *model = NULL, *text = NULL;
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ids = NULL;
  gboolean truncated = FALSE;
  int max_length = 0;
  guint i;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model,
      "a diffusers folder (tokenizer/, tokenizer_2/) or a folder holding the tokenizer files", "PATH" },
    /* taken as bytes (no locale conversion): the prompt must be UTF-8, whatever the locale */
    { "text", 0, 0, G_OPTION_ARG_FILENAME, &text, "the prompt (UTF-8)", "TEXT" },
    { "max-length", 0, 0, G_OPTION_ARG_INT, &max_length,
      "pad or truncate to N tokens (77 for clip, 512 for t5; 256 suits FLUX.1-schnell)", "N" },
    { NULL }
  };

  ctx = g_option_context_new ("clip|t5 - print the token ids of a prompt");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto bad_option;
  if (argc != 2 || !model || !text || (strcmp (argv[1], "clip") && strcmp (argv[1], "t5")))
    {
      g_set_error (&error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "usage: scaledit tokenize clip|t5 --model PATH --text TEXT [--max-length N]");
      goto bad_option;
    }
  if (max_length < 0)
    {
      g_set_error (&error, SD_ERROR, SD_ERROR_ARGUMENT, "--max-length %d: must not be negative", max_length);
      goto bad_option;
    }
  if (!(ids = sd_tokenize (argv[1], model, text, max_length, &truncated, &error)))
    goto fail;
  for (i = 0; i < ids->len; i++)
    printf ("%s%d", i ? " " : "", g_array_index (ids, gint32, i));
  printf ("\n");
  if (truncated)
    fprintf (stderr, "scaledit tokenize: the prompt is longer than %u %s tokens and was truncated\n",
             ids->len, argv[1]);
  return 0;

fail:
  fprintf (stderr, "scaledit tokenize: %s\n", error->message);
  return 1;
bad_option:
  fprintf (stderr, "scaledit tokenize: %s\n", error->message);
  return 2;
}

/* main.c: the scaledit command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "scaledit.h"
#include "scaledit-config.h"
#include "cli.h"

static int cmd_help (int argc, char **argv);

static const SdCommand commands[] = {
  { "help", "show this list", cmd_help },
  { "generate", "generate a picture (Scale-DiT two-stage pipeline) into a PNG", cmd_generate },
  { "upscale", "upscale a picture with Scale-DiT's detail pass", cmd_upscale },
  { "inspect", "describe a model folder or file, or say why it cannot be used", cmd_inspect },
  { "run-component", "run one model component on named tensors (safetensors in, safetensors out)", cmd_run_component },
  { "layout-stats", "token layout and attention-plan sparsity of the detail pass", cmd_layout_stats },
  { "tokenize", "print the CLIP or T5 token ids of a prompt", cmd_tokenize },
};

static void
usage (FILE *f)
{
  gsize i;
  fprintf (f, "scaledit %s: ultra-high-resolution image generation with Scale-DiT\n\n"
              "usage: scaledit COMMAND [OPTIONS]   (scaledit COMMAND --help for its options)\n\n",
           SCALEDIT_VERSION);
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (f, "  %-16s %s\n", commands[i].name, commands[i].summary);
}

static int
cmd_help (int argc, char **argv)
{
  usage (stdout);
  return 0;
}

int
main (int argc, char **argv)
{
  gsize i;

  sd_prefer_passive_threads (argv);
  if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (!strcmp (argv[1], "--version"))
    {
      printf ("scaledit %s\n", SCALEDIT_VERSION);
      return 0;
    }
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    if (!strcmp (argv[1], commands[i].name))
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "scaledit: unknown command \"%s\"\n\n", argv[1]);
  usage (stderr);
  return 2;
}

/* cli.h: the scaledit subcommands, one file each. */
#pragma once

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} SdCommand;

int cmd_layout_stats (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_run_component (int argc, char **argv);
int cmd_tokenize (int argc, char **argv);
int cmd_generate (int argc, char **argv);
int cmd_upscale (int argc, char **argv);

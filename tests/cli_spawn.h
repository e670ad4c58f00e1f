/* cli_spawn.h: running the scaledit command ($SCALEDIT_CLI) from tests, and looking at the folders
 * it writes into. */
#pragma once

#include <glib.h>

/* Runs scaledit with args (NULL-terminated, without the program) in the environment envp (NULL:
 * this one's), with an optional child setup run before exec; returns its exit status, 128 + N when
 * signal N ended it. out and err (either may be NULL) receive what it printed. */
int sd_test_cli_run (const char *const *args, char **envp, GSpawnChildSetupFunc setup, char **out, char **err);
/* Starts scaledit without waiting; its output goes to /dev/null. */
GPid sd_test_cli_start (const char *const *args);
/* Waits for a started scaledit; the exit status as sd_test_cli_run returns it. */
int sd_test_cli_wait (GPid pid);
/* The names in a folder, sorted, separated by spaces ("" when empty). */
char *sd_test_folder_names (const char *dir);
/* Removes a folder and the files (or links) in it. */
void sd_test_folder_remove (const char *dir);

/* signals.h: Ctrl-C and SIGTERM for a command that writes a file: the first Ctrl-C cancels (the
 * engine and the PNG writer poll the flag), a second one or SIGTERM ends the process at once after
 * removing the temporary output file. */
#pragma once

#include <glib.h>

/* Installs the handlers; returns the flag they set on the first Ctrl-C. */
volatile gint *sd_signals_install (void);
/* Holds SIGINT and SIGTERM back (until sd_signals_release) while a temporary file is created and
 * registered, so that no signal falls between the two. */
void sd_signals_hold (void);
void sd_signals_release (void);
/* The file a signal that ends the process removes first; NULL: none. The path is copied. */
void sd_signals_set_temp_file (const char *path);

/* gimp_harness.h: runs gimp-console-3.0 headless on Script-Fu batch commands for the gimp suite. */
#pragma once

#include <glib.h>

#define SD_GIMP_ERROR (sd_gimp_error_quark ())

typedef enum
{
  SD_GIMP_ERROR_SETUP,    /* the throwaway GIMP folder could not be made */
  SD_GIMP_ERROR_SPAWN,    /* gimp-console-3.0 could not be started */
  SD_GIMP_ERROR_TIMEOUT,  /* GIMP did not finish in time and was killed */
  SD_GIMP_ERROR_FAILED,   /* GIMP exited non-zero or reported a Script-Fu error */
  SD_GIMP_ERROR_PNG,      /* an exported PNG could not be read */
} SdGimpError;

typedef struct _SdGimp SdGimp;

GQuark sd_gimp_error_quark (void);

/* A throwaway GIMP3_DIRECTORY (absolute path) under a new temporary folder.  Its gimprc adds
 * every folder of $SCALEDIT_PLUGIN_PATH (a ':'-separated list; the test suite sets it to the
 * build's plugin/ folder) to GIMP's default plug-in-path.  The GIMP program is
 * $SCALEDIT_GIMP_CONSOLE, else gimp-console-3.0 from PATH. */
SdGimp *sd_gimp_new (GError **error);
/* Removes the temporary folder and everything in it. */
void sd_gimp_free (SdGimp *gimp);

/* The temporary folder, for files a script writes (exported PNGs). */
const char *sd_gimp_tmp_dir (SdGimp *gimp);
/* TMP_DIR/name (newly allocated). */
char *sd_gimp_tmp_path (SdGimp *gimp, const char *name);

/* Runs GIMP once on the given Script-Fu commands (NULL-terminated, one -b each), then quits.
 * GIMP gets timeout_s seconds in all; after that it is killed with its plug-ins and the call
 * fails with SD_GIMP_ERROR_TIMEOUT.  It fails with SD_GIMP_ERROR_FAILED when GIMP exits
 * non-zero or prints a Script-Fu error.  GIMP's output (stdout and stderr merged) goes to
 * *output (newly allocated) when output is not NULL, on success and on failure; the error
 * message carries its last lines too. */
gboolean sd_gimp_run (SdGimp *gimp, const char *const *commands, guint timeout_s, char **output,
                      GError **error);

/* A Script-Fu string literal for s (quotes and backslashes escaped; newly allocated). */
char *sd_gimp_quote (const char *s);

/* The text of a PNG file's tEXt/iTXt/zTXt chunk with the given keyword (newly allocated), or NULL
 * with an error when the file cannot be read or has no such chunk. */
char *sd_png_read_text (const char *path, const char *keyword, GError **error);

/* Reads a PNG file as 8-bit RGBA rows (width × height × 4 bytes, newly allocated). */
guint8 *sd_png_read_rgba (const char *path, guint *width, guint *height, GError **error);

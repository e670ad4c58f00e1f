/* test_gimp_harness.c: self-tests of the GIMP harness: a Script-Fu image exported to PNG and
 * checked pixel by pixel, and Script-Fu errors and endless scripts failing within the limit. */
#include <string.h>

#include "gimp_harness.h"

/* Generous: a first start in a fresh GIMP folder queries every plug-in (about 20 s on 2 cores). */
#define GIMP_TIMEOUT_S 150

/* Colours the script paints: the background and a rectangle at (RX, RY) of size RW × RH. */
static const guint8 background[3] = { 200, 30, 60 };
static const guint8 rectangle[3] = { 10, 220, 90 };
enum { WIDTH = 96, HEIGHT = 64, RX = 8, RY = 4, RW = 32, RH = 16 };

static void
assert_pixel (const guint8 *pixels, guint x, guint y, const guint8 rgb[3])
{
  const guint8 *p = pixels + ((gsize) y * WIDTH + x) * 4;
  if (p[0] != rgb[0] || p[1] != rgb[1] || p[2] != rgb[2] || p[3] != 255)
    g_error ("pixel (%u, %u) is (%u, %u, %u, %u), expected (%u, %u, %u, 255)", x, y, p[0], p[1],
             p[2], p[3], rgb[0], rgb[1], rgb[2]);
}

static void
test_export_png (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *png = NULL, *quoted = NULL, *script = NULL, *output = NULL;
  g_autofree guint8 *pixels = NULL;
  guint width = 0, height = 0, x, y;

  g_assert_no_error (error);
  png = sd_gimp_tmp_path (gimp, "export.png");
  quoted = sd_gimp_quote (png);
  script = g_strdup_printf (
    "(let* ((img (car (gimp-image-new %d %d RGB)))"
    "       (layer (car (gimp-layer-new img \"background\" %d %d RGB-IMAGE 100"
    "                                   LAYER-MODE-NORMAL))))"
    "  (gimp-image-insert-layer img layer 0 0)"
    "  (gimp-context-set-foreground '(%u %u %u))"
    "  (gimp-drawable-edit-fill layer FILL-FOREGROUND)"
    "  (gimp-image-select-rectangle img CHANNEL-OP-REPLACE %d %d %d %d)"
    "  (gimp-context-set-foreground '(%u %u %u))"
    "  (gimp-drawable-edit-fill layer FILL-FOREGROUND)"
    "  (gimp-selection-none img)"
    "  (gimp-file-save RUN-NONINTERACTIVE img %s -1)"
    "  (gimp-image-delete img))",
    WIDTH, HEIGHT, WIDTH, HEIGHT, background[0], background[1], background[2], RX, RY, RW, RH,
    rectangle[0], rectangle[1], rectangle[2], quoted);

  if (!sd_gimp_run (gimp, (const char *const[]) { script, NULL }, GIMP_TIMEOUT_S, &output,
                    &error))
    g_error ("%s", error->message);
  pixels = sd_png_read_rgba (png, &width, &height, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (width, ==, WIDTH);
  g_assert_cmpuint (height, ==, HEIGHT);
  for (y = 0; y < HEIGHT; y++)
    for (x = 0; x < WIDTH; x++)
      {
        gboolean inside = x >= RX && x < RX + RW && y >= RY && y < RY + RH;
        assert_pixel (pixels, x, y, inside ? rectangle : background);
      }
  sd_gimp_free (gimp);
}

/* Runs one failing script and checks the failure kind, its message and that it came in time. */
static void
run_expecting_failure (const char *script, guint timeout_s, gint code,
                       const char *message_part)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *output = NULL;
  gint64 start;
  double seconds;
  gboolean ok;

  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  ok = sd_gimp_run (gimp, (const char *const[]) { script, NULL }, timeout_s, &output, &error);
  seconds = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("GIMP gave up after %.1f s: %s", seconds, error ? error->message : "(no error)");
  g_assert_false (ok);
  g_assert_error (error, SD_GIMP_ERROR, code);
  g_assert_nonnull (strstr (error->message, message_part));
  g_assert_nonnull (output);
  /* The limit holds: killing GIMP and its plug-ins takes well under a few seconds. */
  g_assert_cmpfloat (seconds, <, timeout_s + 5.0);
  g_error_free (error);
  sd_gimp_free (gimp);
}

static void
test_script_error (void)
{
  run_expecting_failure ("(scaledit-no-such-procedure 96 64)", GIMP_TIMEOUT_S,
                         SD_GIMP_ERROR_FAILED, "scaledit-no-such-procedure");
}

static void
test_pdb_error (void)
{
  /* A real procedure called with an image that does not exist. */
  run_expecting_failure ("(gimp-image-get-width 987654)", GIMP_TIMEOUT_S, SD_GIMP_ERROR_FAILED,
                         "Script-Fu error");
}

static void
test_endless_script (void)
{
  run_expecting_failure ("(let loop () (loop))", 30, SD_GIMP_ERROR_TIMEOUT, "within 30 s");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gimp/harness/export-png", test_export_png);
  g_test_add_func ("/gimp/harness/script-error", test_script_error);
  g_test_add_func ("/gimp/harness/pdb-error", test_pdb_error);
  g_test_add_func ("/gimp/harness/endless-script", test_endless_script);
  return g_test_run ();
}

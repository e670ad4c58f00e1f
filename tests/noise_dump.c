/* noise_dump.c: test helper that writes the engine's seeded noise (sd_noise_normal) as raw float32
 * values, so tools/eval/philox_noise.py can be compared with it bit for bit.
 * Usage: noise_dump SEED STREAM N OUT.f32 */
#include <stdio.h>
#include <stdlib.h>

#include "noise.h"

int
main (int argc, char **argv)
{
  GError *error = NULL;
  guint64 seed, stream, n;
  float *v;
  gboolean ok;

  if (argc != 5 || !g_ascii_string_to_unsigned (argv[1], 10, 0, G_MAXUINT64, &seed, &error)
      || !g_ascii_string_to_unsigned (argv[2], 10, 0, G_MAXUINT32, &stream, &error)
      || !g_ascii_string_to_unsigned (argv[3], 10, 1, 1 << 28, &n, &error))
    {
      fprintf (stderr, "usage: noise_dump SEED STREAM N OUT.f32%s%s\n", error ? ": " : "",
               error ? error->message : "");
      g_clear_error (&error);
      return 2;
    }
  v = g_new (float, n);
  sd_noise_normal (seed, (guint32) stream, v, n);
  ok = g_file_set_contents (argv[4], (const char *) v, (gssize) (n * sizeof (float)), &error);
  if (!ok)
    {
      fprintf (stderr, "noise_dump: %s\n", error->message);
      g_error_free (error);
    }
  g_free (v);
  return ok ? 0 : 1;
}

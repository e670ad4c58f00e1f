/* test_cli_args.c: generate and upscale refuse wrong options before any model loads, with exit
 * status 2 and a message naming the option, the value and what it may be; each command's --help
 * lists only its own options; upscale inputs are checked from their header; run-component and
 * tokenize refuse wrong options with exit status 2 too. */
#include <string.h>

#include "cli_spawn.h"
#include "testutil.h"

/* Runs scaledit with args (NULL-terminated); it must exit with `status` and say `phrase` on stderr. */
static void
expect_refused (int status, const char *phrase, const char *const *args)
{
  char *err;
  int got = sd_test_cli_run (args, NULL, NULL, NULL, &err);
  if (got != status || !strstr (err, phrase))
    g_error ("scaledit %s ...: exit %d, \"%s\"; expected exit %d and \"%s\"", args[0], got, err, status, phrase);
  g_free (err);
}

#define REFUSED(status, phrase, ...) expect_refused (status, phrase, (const char *const[]) { __VA_ARGS__, NULL })

static void
test_numbers (void)
{
  REFUSED (2, "--steps 0: must be between 1 and 1000", "generate", "--steps", "0", "-o", "a.png");
  REFUSED (2, "--steps -3: must be between 1 and 1000", "generate", "--steps", "-3", "-o", "a.png");
  REFUSED (2, "--seed -7: must be -1 (a random seed) or at least 0", "generate", "--seed", "-7", "-o", "a.png");
  REFUSED (2, "--depth 12: must be 8 or 16", "generate", "--depth", "12", "-o", "a.png");
  REFUSED (2, "--width 20000: must be between 64 and 16384", "generate", "--width", "20000", "-o", "a.png");
  REFUSED (2, "--height 10: must be between 64 and 16384", "generate", "--height", "10", "-o", "a.png");
  REFUSED (2, "--detail-steps 18: must be between 1 and --steps (10)", "generate", "--steps", "10", "-o", "a.png");
  REFUSED (2, "--global-factor 0: must be between 1 and 16", "generate", "-f", "0", "-o", "a.png");
  REFUSED (2, "--guidance nan: must be between 0 and 100", "generate", "--guidance", "nan", "-o", "a.png");
  REFUSED (2, "--guidance strong: not a number", "generate", "--guidance", "strong", "-o", "a.png");
  REFUSED (2, "--true-cfg 0.5: must be between 1 and 100", "generate", "--true-cfg", "0.5", "-o", "a.png");
  REFUSED (2, "--window 0: must be between 1 and 1024", "generate", "--window", "0", "-o", "a.png");
  REFUSED (2, "Cannot parse integer value", "generate", "--steps", "many", "-o", "a.png");
}

static void
test_choices_and_names (void)
{
  REFUSED (2, "--device gpu: must be auto, cpu or cuda", "generate", "--device", "gpu", "-o", "a.png");
  REFUSED (2, "--order zigzag: must be hilbert, window or raster", "generate", "--order", "zigzag", "-o", "a.png");
  REFUSED (2, "--out a.jpg: the picture is written as PNG: give a file name ending in .png", "generate", "-o", "a.jpg");
  REFUSED (2, "--out .png: the picture is written as PNG", "generate", "-o", ".png");
  /* .PNG is a PNG name too: the refusal is about the steps */
  REFUSED (2, "--steps 0", "generate", "-o", "A.PNG", "--steps", "0");
  REFUSED (2, "--out FILE.png is required", "generate", "--prompt", "a lake");
  REFUSED (2, "unexpected argument \"a lake\"", "generate", "-o", "a.png", "a lake");
  REFUSED (2, "--prompt: the text is not valid UTF-8 (byte 0xe9 at offset 3)", "generate", "-p", "caf\xe9", "-o",
           "a.png");
  REFUSED (2, "--negative-prompt: the text is not valid UTF-8 (byte 0xff at offset 0)", "generate",
           "--negative-prompt", "\xff", "-o", "a.png");
  REFUSED (2, "--prompt: the text is not valid UTF-8", "upscale", "--in", "x.png", "--scale", "2", "-p", "\xc3(",
           "-o", "a.png");
}

static void
test_upscale_size (void)
{
  char *rgb8 = sd_test_data_path ("fuzz-seeds/png/rgb8.png"), *wide = sd_test_data_path ("fuzz-seeds/png/wide-4100x100.png");
  char *huge = sd_test_data_path ("fuzz-seeds/png/huge-header.png"), *text = sd_test_data_path ("fuzz-seeds/png/not-png.txt");

  REFUSED (2, "upscale needs --scale 2 or 4, or both --width and --height", "upscale", "--in", rgb8, "-o", "a.png");
  REFUSED (2, "upscale needs --scale 2 or 4, or both --width and --height", "upscale", "--in", rgb8, "--width", "256",
           "-o", "a.png");
  REFUSED (2, "--scale 3: must be 2 or 4", "upscale", "--in", rgb8, "--scale", "3", "-o", "a.png");
  REFUSED (2, "--scale and --width/--height: give one or the other", "upscale", "--in", rgb8, "--scale", "2",
           "--width", "256", "-o", "a.png");
  REFUSED (2, "--in IMG is required", "upscale", "--scale", "2", "-o", "a.png");
  REFUSED (2, "--global-factor 1: must be between 2 and 16", "upscale", "--in", rgb8, "--scale", "2", "-f", "1",
           "-o", "a.png");
  /* 16x8 to 256x256 would stretch; 256x128 keeps the proportions */
  REFUSED (2, "--width 256 --height 256 would stretch the 16x8 input; keep its proportions (--height 128", "upscale",
           "--in", rgb8, "--width", "256", "--height", "256", "-o", "a.png");
  REFUSED (2, "--scale 4: the 4100x100 input would become 16400x400, but each side must be between 64 and 16384",
           "upscale", "--in", wide, "--scale", "4", "-o", "a.png");
  REFUSED (1, "the picture is 100000x100000 pixels, over the 8192 pixels a side", "upscale", "--in", huge, "--scale",
           "2", "-o", "a.png");
  REFUSED (1, "not-png.txt: not a PNG file", "upscale", "--in", text, "--scale", "2", "-o", "a.png");
  g_free (rgb8);
  g_free (wide);
  g_free (huge);
  g_free (text);
}

/* The other commands' wrong options exit with 2 as well. */
static void
test_other_commands (void)
{
  REFUSED (2, "--device gpu: must be auto, cpu or cuda", "run-component", "flux", "--model", "m", "--in", "i.safetensors",
           "--out", "o.safetensors", "--device", "gpu");
  REFUSED (2, "--lora-routing every: must be all or scale-dit", "run-component", "flux", "--model", "m", "--in",
           "i.safetensors", "--out", "o.safetensors", "--lora-routing", "every");
  REFUSED (2, "usage: scaledit tokenize clip|t5", "tokenize", "clip5", "--model", "m", "--text", "a");
  REFUSED (2, "--max-length -1: must not be negative", "tokenize", "t5", "--model", "m", "--text", "a",
           "--max-length", "-1");
  REFUSED (2, "usage: scaledit inspect PATH", "inspect");
}

/* Each command's --help lists its own options only; generate does not take upscale's. */
static void
test_help_per_command (void)
{
  const char *generate[] = { "generate", "--help", NULL }, *upscale[] = { "upscale", "--help", NULL };
  char *out;

  g_assert_cmpint (sd_test_cli_run (generate, NULL, NULL, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "--preview"));
  g_assert_nonnull (strstr (out, "--guidance"));
  g_assert_null (strstr (out, "--scale"));
  g_assert_null (strstr (out, "--in="));
  g_free (out);
  g_assert_cmpint (sd_test_cli_run (upscale, NULL, NULL, &out, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "--scale=2|4"));
  g_assert_nonnull (strstr (out, "--in=IMG"));
  g_assert_null (strstr (out, "--preview"));
  g_assert_null (strstr (out, "--guidance="));
  g_free (out);
  REFUSED (2, "Unknown option --scale", "generate", "--scale", "2", "-o", "a.png");
  REFUSED (2, "Unknown option --preview", "upscale", "--preview", "--scale", "2", "-o", "a.png");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-args/numbers", test_numbers);
  g_test_add_func ("/cli-args/choices-and-names", test_choices_and_names);
  g_test_add_func ("/cli-args/upscale-size", test_upscale_size);
  g_test_add_func ("/cli-args/help-per-command", test_help_per_command);
  g_test_add_func ("/cli-args/other-commands", test_other_commands);
  return g_test_run ();
}

/* test_gimp_plugin.c: the plug-in end to end in a headless GIMP 3: Script-Fu calls of
 * plug-in-scaledit-generate and -upscale (named and positional arguments) checked against the
 * scaledit CLI's output for the same parameters (pixels within ±1 in 8 bits, the same parameters
 * text), bad arguments, last values, the German catalog, the precision of new images and of
 * layers in 16-bit and float images, and GIMP's progress Cancel (which kills the plug-in). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "gimp_harness.h"

/* A first start in a fresh GIMP folder queries every plug-in (about 20 s on 2 cores). */
#define GIMP_TIMEOUT_S 200
/* Small schedules keep every run to seconds with the tiny random pipeline model. */
#define STEPS "4"
#define DETAIL_STEPS "2"
#define PROMPT "a red cube on a table"

/* Script-Fu helpers: sd-say prints "SD: a b c" lines the test parses, each built in a string port
 * and written in one piece (plug-ins' warnings share the output and must not land inside a line);
 * sd-try runs a thunk and returns (error message) instead of stopping the batch when it fails;
 * sd-text prints a parasite's text between markers, also in one piece. */
static const char *const scheme_helpers =
  "(define (sd-say . xs) (let ((p (open-output-string))) (display \"SD:\" p)"
  "  (for-each (lambda (x) (display \" \" p) (display x p)) xs) (newline p)"
  "  (display (get-output-string p))))"
  "(define (sd-try thunk)"
  "  (call-with-current-continuation"
  "    (lambda (k)"
  "      (let ((old *error-hook*))"
  "        (set! *error-hook* (lambda args (set! *error-hook* old) (k (cons 'error args))))"
  "        (let ((r (thunk))) (set! *error-hook* old) r)))))"
  "(define (sd-text tag p)"
  "  (display (string-append \"SD-BEGIN \" tag \"\\n\" (caddr (car p)) \"\\nSD-END\\n\")))"
  "(define (sd-layers img) (vector-length (car (gimp-image-get-layers img))))";

static const char *
model_path (void)
{
  static char *path;
  if (!path)
    path = g_build_filename (g_getenv ("SCALEDIT_TEST_DATA"), "pipeline-model", NULL);
  return path;
}

/* Runs GIMP on one Script-Fu program (the helpers are defined first) and returns its output. */
static char *
run_script (SdGimp *gimp, const char *body)
{
  g_autofree char *script = g_strdup_printf ("(begin %s %s)", scheme_helpers, body);
  GError *error = NULL;
  char *output = NULL;

  if (!sd_gimp_run (gimp, (const char *const[]) { script, NULL }, GIMP_TIMEOUT_S, &output,
                    &error))
    g_error ("%s", error->message);
  return output;
}

/* The words after "SD: key" on the line that starts so (newly allocated), or fails the test. */
static char *
said (const char *output, const char *key)
{
  g_autofree char *mark = g_strdup_printf ("SD: %s ", key);
  const char *p = strstr (output, mark), *end;
  if (!p)
    g_error ("GIMP's output has no \"%s\" line:\n%s", mark, output);
  p += strlen (mark);
  end = strchr (p, '\n');
  return g_strndup (p, end ? (gsize) (end - p) : strlen (p));
}

/* The text printed between "SD-BEGIN tag" and "SD-END". */
static char *
said_text (const char *output, const char *tag)
{
  g_autofree char *mark = g_strdup_printf ("SD-BEGIN %s\n", tag);
  const char *p = strstr (output, mark), *end;
  if (!p || !(end = strstr (p, "\nSD-END")))
    g_error ("GIMP's output has no text for %s:\n%s", tag, output);
  p += strlen (mark);
  return g_strndup (p, end - p);
}

/* Runs the scaledit CLI with the given arguments after the model and schedule options. */
static void
run_cli (const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL, *err = NULL;
  GError *error = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) g_getenv ("SCALEDIT_CLI"));
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, (gpointer) "--model");
  g_ptr_array_add (argv, (gpointer) model_path ());
  g_ptr_array_add (argv, (gpointer) "--device");
  g_ptr_array_add (argv, (gpointer) "cpu");
  g_ptr_array_add (argv, (gpointer) "--steps");
  g_ptr_array_add (argv, (gpointer) STEPS);
  g_ptr_array_add (argv, (gpointer) "--detail-steps");
  g_ptr_array_add (argv, (gpointer) DETAIL_STEPS);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                     &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    g_error ("scaledit CLI failed: %s\n%s", error->message, err ? err : "");
}

/* Compares two PNGs: same size, every channel within tolerance; returns the largest difference. */
static int
compare_png (const char *a_path, const char *b_path, int tolerance)
{
  GError *error = NULL;
  guint aw, ah, bw, bh;
  g_autofree guint8 *a = sd_png_read_rgba (a_path, &aw, &ah, &error);
  g_autofree guint8 *b = NULL;
  gsize i;
  int worst = 0;

  g_assert_no_error (error);
  b = sd_png_read_rgba (b_path, &bw, &bh, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (aw, ==, bw);
  g_assert_cmpuint (ah, ==, bh);
  for (i = 0; i < (gsize) aw * ah * 4; i++)
    worst = MAX (worst, ABS ((int) a[i] - (int) b[i]));
  g_test_message ("%s vs %s: largest difference %d", a_path, b_path, worst);
  g_assert_cmpint (worst, <=, tolerance);
  return worst;
}

static void
test_generate_and_upscale (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *gen1 = NULL, *gen2 = NULL, *into = NULL, *up = NULL, *q1 = NULL, *q2 = NULL;
  g_autofree char *qi = NULL, *qu = NULL, *qm = NULL, *body = NULL, *output = NULL;
  g_autofree char *cli_gen = NULL, *cli_into = NULL, *cli_up = NULL, *text = NULL;
  g_autofree char *sq = NULL, *qs = NULL, *cli_sq = NULL;
  g_autofree char *comment = NULL, *cli_text = NULL, *random_text = NULL;
  char *v;
  const char *seed_at;

  g_assert_no_error (error);
  gen1 = sd_gimp_tmp_path (gimp, "gen1.png");
  gen2 = sd_gimp_tmp_path (gimp, "gen2.png");
  into = sd_gimp_tmp_path (gimp, "into.png");
  up = sd_gimp_tmp_path (gimp, "up.png");
  sq = sd_gimp_tmp_path (gimp, "square.png");
  qs = sd_gimp_quote (sq);
  q1 = sd_gimp_quote (gen1);
  q2 = sd_gimp_quote (gen2);
  qi = sd_gimp_quote (into);
  qu = sd_gimp_quote (up);
  qm = sd_gimp_quote (model_path ());
  body = g_strdup_printf (
    /* 1. a new image (no image given), named arguments, 80×72 */
    "(let* ((r1 (plug-in-scaledit-generate #:run-mode RUN-NONINTERACTIVE #:prompt \"" PROMPT "\""
    "          #:width 80 #:height 72 #:seed 5 #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "          #:model %s #:device \"cpu\"))"
    "       (img1 (car r1)) (l1 (cadr r1)))"
    "  (sd-say \"new-size\" (car (gimp-image-get-width img1)) (car (gimp-image-get-height img1))"
    "          (car (gimp-drawable-get-width l1)) (car (gimp-drawable-get-height l1)) (sd-layers img1))"
    "  (sd-say \"new-name\" (car (gimp-item-get-name l1)))"
    "  (sd-text \"parasite\" (gimp-item-get-parasite l1 \"scaledit-parameters\"))"
    "  (sd-text \"comment\" (gimp-image-get-parasite img1 \"gimp-comment\"))"
    "  (gimp-file-save RUN-NONINTERACTIVE img1 %s -1)"
    /* 2. the same seed again */
    "  (let ((r2 (plug-in-scaledit-generate #:run-mode RUN-NONINTERACTIVE #:prompt \"" PROMPT "\""
    "             #:width 80 #:height 72 #:seed 5 #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "             #:model %s #:device \"cpu\")))"
    "    (gimp-file-save RUN-NONINTERACTIVE (car r2) %s -1))"
    /* 3. into an existing 100×70 image, positional arguments, size -1 = the image's */
    "  (let* ((img (car (gimp-image-new 100 70 RGB)))"
    "         (bg (car (gimp-layer-new img \"background\" 100 70 RGB-IMAGE 100 LAYER-MODE-NORMAL))))"
    "    (gimp-image-insert-layer img bg 0 0)"
    "    (let* ((r3 (plug-in-scaledit-generate RUN-NONINTERACTIVE img (vector bg) \"" PROMPT "\""
    "                -1 -1 7 " STEPS " " DETAIL_STEPS " 3.5 4.5 %s \"cpu\" 16 \"\" 1.0 FALSE \"u8\"))"
    "           (l3 (cadr r3)))"
    "      (sd-say \"into\" (if (= (car r3) img) \"same-image\" \"other-image\") (sd-layers img)"
    "              (car (gimp-drawable-get-width l3)) (car (gimp-drawable-get-height l3)))"
    "      (gimp-file-save RUN-NONINTERACTIVE img %s -1)))"
    /* 4. seed -1 records the seed it used */
    "  (let ((r4 (plug-in-scaledit-generate #:run-mode RUN-NONINTERACTIVE #:prompt \"" PROMPT "\""
    "             #:width 64 #:height 64 #:seed -1 #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "             #:model %s #:device \"cpu\")))"
    "    (sd-text \"random\" (gimp-item-get-parasite (cadr r4) \"scaledit-parameters\")))"
    /* 4b. a square new image, 64×64 */
    "  (let ((r6 (plug-in-scaledit-generate #:run-mode RUN-NONINTERACTIVE #:prompt \"" PROMPT "\""
    "             #:width 64 #:height 64 #:seed 3 #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "             #:model %s #:device \"cpu\")))"
    "    (sd-say \"square\" (car (gimp-image-get-width (car r6))) (car (gimp-image-get-height (car r6))))"
    "    (gimp-file-save RUN-NONINTERACTIVE (car r6) %s -1))"
    /* 5. upscale the first result 2× into a new image */
    "  (let* ((r5 (plug-in-scaledit-upscale #:run-mode RUN-NONINTERACTIVE #:image img1"
    "              #:drawables (vector l1) #:prompt \"" PROMPT "\" #:scale 2 #:seed 11"
    "              #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS " #:model %s"
    "              #:device \"cpu\" #:new-image TRUE))"
    "         (img5 (car r5)))"
    "    (sd-say \"upscale\" (car (gimp-image-get-width img5)) (car (gimp-image-get-height img5))"
    "            (sd-layers img1))"
    "    (gimp-file-save RUN-NONINTERACTIVE img5 %s -1)))",
    qm, q1, qm, q2, qm, qi, qm, qm, qs, qm, qu);
  output = run_script (gimp, body);

  v = said (output, "new-size");
  g_assert_cmpstr (v, ==, "80 72 80 72 1");
  g_free (v);
  v = said (output, "new-name");
  g_assert_cmpstr (v, ==, PROMPT);
  g_free (v);
  v = said (output, "into");
  g_assert_cmpstr (v, ==, "same-image 2 100 70");
  g_free (v);
  v = said (output, "square");
  g_assert_cmpstr (v, ==, "64 64");
  g_free (v);
  v = said (output, "upscale");
  g_assert_cmpstr (v, ==, "160 144 1");
  g_free (v);

  /* The same seed twice gives identical pixels. */
  g_assert_cmpint (compare_png (gen1, gen2, 0), ==, 0);

  /* The CLI with the same parameters: pixels within ±1, the same parameters text. */
  cli_gen = sd_gimp_tmp_path (gimp, "cli-gen.png");
  cli_into = sd_gimp_tmp_path (gimp, "cli-into.png");
  cli_up = sd_gimp_tmp_path (gimp, "cli-up.png");
  cli_sq = sd_gimp_tmp_path (gimp, "cli-square.png");
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "80", "--height",
                                   "72", "--seed", "5", "--out", cli_gen, NULL });
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "100", "--height",
                                   "70", "--seed", "7", "--out", cli_into, NULL });
  run_cli ((const char *const[]) { "upscale", "--in", gen1, "--prompt", PROMPT, "--scale", "2",
                                   "--seed", "11", "--out", cli_up, NULL });
  compare_png (gen1, cli_gen, 1);
  compare_png (into, cli_into, 1);
  compare_png (up, cli_up, 1);
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "64", "--height",
                                   "64", "--seed", "3", "--out", cli_sq, NULL });
  compare_png (sq, cli_sq, 1);

  text = said_text (output, "parasite");
  comment = said_text (output, "comment");
  cli_text = sd_png_read_text (cli_gen, "parameters", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text, ==, cli_text);
  g_assert_cmpstr (comment, ==, cli_text);

  random_text = said_text (output, "random");
  seed_at = strstr (random_text, "Seed: ");
  g_assert_nonnull (seed_at);
  g_assert_true (g_ascii_isdigit (seed_at[6]));
  g_test_message ("seed -1 recorded: %.*s", (int) strcspn (seed_at, ","), seed_at);
  sd_gimp_free (gimp);
}

/* Copies the pipeline model and replaces its transformer weights with a broken safetensors file
 * (a header length that runs past the end of the file). */
static char *
make_corrupt_model (SdGimp *gimp)
{
  static const char *const files[] = {
    "model_index.json", "scheduler/scheduler_config.json", "transformer/config.json",
    "text_encoder/config.json", "text_encoder/model.safetensors",
    "text_encoder_2/config.json", "text_encoder_2/model.safetensors",
    "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json", "tokenizer_2/tokenizer.json",
    "tokenizer_2/tokenizer_config.json", "tokenizer_2/special_tokens_map.json",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors", NULL,
  };
  static const char broken[] = "\x00\x10\x00\x00\x00\x00\x00\x00{\"not\": \"json";
  char *dir = sd_gimp_tmp_path (gimp, "corrupt-model");
  g_autofree char *weights = g_build_filename (dir, "transformer",
                                               "diffusion_pytorch_model.safetensors", NULL);
  const char *const *f;
  GError *error = NULL;

  for (f = files; *f; f++)
    {
      g_autofree char *from = g_build_filename (model_path (), *f, NULL);
      g_autofree char *to = g_build_filename (dir, *f, NULL);
      g_autofree char *parent = g_path_get_dirname (to);
      g_autoptr (GFile) src = g_file_new_for_path (from);
      g_autoptr (GFile) dst = g_file_new_for_path (to);
      g_mkdir_with_parents (parent, 0700);
      if (g_file_test (from, G_FILE_TEST_EXISTS)
          && !g_file_copy (src, dst, G_FILE_COPY_NONE, NULL, NULL, NULL, &error))
        g_error ("copying %s: %s", from, error->message);
    }
  if (!g_file_set_contents (weights, broken, sizeof broken - 1, &error))
    g_error ("%s", error->message);
  return dir;
}

static void
test_bad_arguments (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *qm = NULL, *corrupt = NULL, *qc = NULL, *body = NULL, *output = NULL;
  char *v;
  static const struct
  {
    const char *key, *message;
  } expected[] = {
    { "width-0", "Width 0 is out of range" },
    { "width-100000", "Width 100000 is out of range" },
    { "missing-model", "does not exist" },
    { "corrupt-model", "diffusion_pytorch_model.safetensors" },
    { "upscale-too-large", "Width 100000 is out of range" },
    { "device-gpu", "The device \"gpu\" is not one of auto, cpu or cuda." },
  };
  gsize i;

  g_assert_no_error (error);
  qm = sd_gimp_quote (model_path ());
  corrupt = make_corrupt_model (gimp);
  qc = sd_gimp_quote (corrupt);
  body = g_strdup_printf (
    "(let* ((img (car (gimp-image-new 96 64 RGB)))"
    "       (bg (car (gimp-layer-new img \"background\" 96 64 RGB-IMAGE 100 LAYER-MODE-NORMAL))))"
    "  (gimp-image-insert-layer img bg 0 0)"
    "  (define (gen . args)"
    "    (sd-try (lambda () (apply plug-in-scaledit-generate"
    "      (append (list #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector bg)"
    "                    #:prompt \"x\" #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "                    #:device \"cpu\") args)))))"
    "  (sd-say \"width-0\" (gen #:width 0 #:model %s))"
    "  (sd-say \"width-100000\" (gen #:width 100000 #:model %s))"
    "  (sd-say \"missing-model\" (gen #:model \"/nonexistent/scaledit-model\"))"
    "  (sd-say \"corrupt-model\" (gen #:model %s))"
    "  (sd-say \"upscale-too-large\" (sd-try (lambda () (plug-in-scaledit-upscale"
    "    #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector bg) #:scale 0"
    "    #:width 100000 #:height 100 #:model %s #:new-image FALSE))))"
    "  (sd-say \"device-gpu\" (sd-try (lambda () (plug-in-scaledit-generate"
    "    #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector bg) #:prompt \"x\""
    "    #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS " #:model %s #:device \"gpu\"))))"
    "  (sd-say \"layers\" (sd-layers img) (car (gimp-image-get-width img))))",
    qm, qm, qc, qm, qm);
  output = run_script (gimp, body);
  for (i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      v = said (output, expected[i].key);
      g_test_message ("%s: %s", expected[i].key, v);
      g_assert_true (g_str_has_prefix (v, "(error "));
      g_assert_nonnull (strstr (v, expected[i].message));
      g_free (v);
    }
  /* the image is as it was: one layer, same size */
  v = said (output, "layers");
  g_assert_cmpstr (v, ==, "1 96");
  g_free (v);
  sd_gimp_free (gimp);
}

/* GIMP saves last values after interactive runs only (a dialog, which a headless GIMP cannot
 * show), into plug-in-settings/<config type>.last in its own config format; the test writes
 * that file as such a run would and checks that RUN-WITH-LAST-VALS uses every value in it. */
static void
test_last_values (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *settings = NULL, *last = NULL, *content = NULL, *body = NULL;
  g_autofree char *output = NULL, *qm = NULL, *text = NULL;
  char *v;

  g_assert_no_error (error);
  settings = g_build_filename (sd_gimp_tmp_dir (gimp), "gimp3", "plug-in-settings", NULL);
  g_mkdir_with_parents (settings, 0700);
  last = g_build_filename (settings, "GimpProcedureConfigRun-plug-in-scaledit-generate.last",
                           NULL);
  qm = sd_gimp_quote (model_path ());
  content = g_strdup_printf ("# settings\n\n(prompt \"remembered prompt\")\n(width 96)\n"
                             "(height 80)\n(seed 9)\n(global-steps " STEPS ")\n"
                             "(detail-steps " DETAIL_STEPS ")\n(model %s)\n(device \"cpu\")\n"
                             "(new-image yes)\n\n# end of settings\n", qm);
  g_assert_true (g_file_set_contents (last, content, -1, &error));
  body = g_strdup (
    "(let* ((r (plug-in-scaledit-generate #:run-mode RUN-WITH-LAST-VALS)) (l (cadr r)))"
    "  (sd-say \"size\" (car (gimp-drawable-get-width l)) (car (gimp-drawable-get-height l)))"
    "  (sd-text \"parameters\" (gimp-item-get-parasite l \"scaledit-parameters\")))");
  output = run_script (gimp, body);
  v = said (output, "size");
  g_assert_cmpstr (v, ==, "96 80");
  g_free (v);
  text = said_text (output, "parameters");
  g_assert_true (g_str_has_prefix (text, "remembered prompt\nSteps: " STEPS ","));
  g_assert_nonnull (strstr (text, "Seed: 9,"));
  g_assert_nonnull (strstr (text, "Detail steps: " DETAIL_STEPS ","));
  sd_gimp_free (gimp);
}

static void
test_german (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *qm = NULL, *body = NULL, *output = NULL;
  char *v;

  g_assert_no_error (error);
  g_setenv ("LANG", "C.UTF-8", TRUE);
  g_setenv ("LANGUAGE", "de", TRUE);
  qm = sd_gimp_quote (model_path ());
  body = g_strdup_printf (
    "(sd-say \"message\" (sd-try (lambda () (plug-in-scaledit-generate"
    "  #:run-mode RUN-NONINTERACTIVE #:width 0 #:model %s))))", qm);
  output = run_script (gimp, body);
  v = said (output, "message");
  g_test_message ("German message: %s", v);
  g_assert_nonnull (strstr (v, "Breite 0 liegt außerhalb des gültigen Bereichs"));
  g_free (v);
  sd_gimp_free (gimp);
}

/* The precision's value and GIMP's constant for it, and the layer's bytes per pixel. */
static void
check_precision (const char *output, const char *key, int bpp)
{
  g_autofree char *v = said (output, key);
  g_auto (GStrv) f = g_strsplit (v, " ", -1);

  g_test_message ("%s: precision, expected precision, bytes per pixel: %s", key, v);
  g_assert_cmpuint (g_strv_length (f), ==, 3);
  g_assert_cmpstr (f[0], ==, f[1]);
  g_assert_cmpint (atoi (f[2]), ==, bpp);
}

/* A new image asked for in u16 or f32 gets that precision; generating into an existing 16-bit or
 * float (linear) image writes a layer of the image's precision. Each result, converted to 8 bits
 * by GIMP, matches the CLI's 8-bit output within ±1. */
static void
test_precision (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  static const char *const names[] = { "new-u16", "new-f32", "into-u16", "into-f32" };
  g_autofree char *qm = NULL, *body = NULL, *output = NULL, *cli = NULL;
  char *q[G_N_ELEMENTS (names)], *png[G_N_ELEMENTS (names)];
  gsize i;

  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *file = g_strconcat (names[i], ".png", NULL);
      png[i] = sd_gimp_tmp_path (gimp, file);
      q[i] = sd_gimp_quote (png[i]);
    }
  qm = sd_gimp_quote (model_path ());
  body = g_strdup_printf (
    "(define (gen . args) (cadr (apply plug-in-scaledit-generate"
    "  (append (list #:run-mode RUN-NONINTERACTIVE #:prompt \"" PROMPT "\" #:width 80 #:height 64"
    "                #:seed 3 #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS
    "                #:model %s #:device \"cpu\") args))))"
    "(define (save-u8 img path)"
    "  (gimp-image-convert-precision img PRECISION-U8-NON-LINEAR)"
    "  (gimp-file-save RUN-NONINTERACTIVE img path -1))"
    "(define (say key img layer expected)"
    "  (sd-say key (car (gimp-image-get-precision img)) expected (car (gimp-drawable-get-bpp layer))))"
    "(define (existing precision)"
    "  (let* ((img (car (gimp-image-new-with-precision 80 64 RGB precision)))"
    "         (bg (car (gimp-layer-new img \"background\" 80 64 RGB-IMAGE 100 LAYER-MODE-NORMAL))))"
    "    (gimp-image-insert-layer img bg 0 0) (list img bg)))"
    "(let* ((l (gen #:precision \"u16\")) (img (car (gimp-item-get-image l))))"
    "  (say \"new-u16\" img l PRECISION-U16-NON-LINEAR) (save-u8 img %s))"
    "(let* ((l (gen #:precision \"f32\")) (img (car (gimp-item-get-image l))))"
    "  (say \"new-f32\" img l PRECISION-FLOAT-NON-LINEAR) (save-u8 img %s))"
    "(let* ((e (existing PRECISION-U16-NON-LINEAR)) (img (car e))"
    "       (l (gen #:image img #:drawables (vector (cadr e)) #:new-image FALSE)))"
    "  (say \"into-u16\" img l PRECISION-U16-NON-LINEAR) (save-u8 img %s))"
    "(let* ((e (existing PRECISION-FLOAT-LINEAR)) (img (car e))"
    "       (l (gen #:image img #:drawables (vector (cadr e)) #:new-image FALSE)))"
    "  (say \"into-f32\" img l PRECISION-FLOAT-LINEAR) (save-u8 img %s))",
    qm, q[0], q[1], q[2], q[3]);
  output = run_script (gimp, body);
  /* RGB without alpha: 3 channels of 2 or 4 bytes */
  check_precision (output, "new-u16", 6);
  check_precision (output, "new-f32", 12);
  check_precision (output, "into-u16", 6);
  check_precision (output, "into-f32", 12);

  cli = sd_gimp_tmp_path (gimp, "cli-precision.png");
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "80", "--height",
                                   "64", "--seed", "3", "--out", cli, NULL });
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      compare_png (png[i], cli, 1);
      g_free (png[i]);
      g_free (q[i]);
    }
  sd_gimp_free (gimp);
}

/* Plays the part of the Cancel button of GIMP's progress bar, which ends a plug-in by killing
 * its process: kills the plug-in once it has been running a procedure for a while. Only this
 * test's GIMP's plug-in: the one whose environment names this test's GIMP folder. */
typedef struct
{
  char *program;      /* the plug-in executable GIMP starts */
  char *env_mark;     /* GIMP3_DIRECTORY=..., as GIMP passes it on to its plug-ins */
  guint after_ms;     /* how long the procedure runs before the kill */
  gint killed;        /* set once it was killed */
  gint stop;          /* set by the test to end the watch */
} Killer;

/* Whether the NUL-separated list (len bytes) holds item; with first_only, as its first item. */
static gboolean
nul_list_has (const char *list, gsize len, const char *item, gboolean first_only)
{
  gsize at;
  for (at = 0; at < len; at += strlen (list + at) + 1)
    if (g_str_equal (list + at, item))
      return TRUE;
    else if (first_only)
      return FALSE;
  return FALSE;
}

/* The pid of a process running `program ... -run ...` with env_mark in its environment, or 0. */
static pid_t
find_running_plugin (const char *program, const char *env_mark)
{
  GDir *proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  pid_t found = 0;

  while (proc && !found && (name = g_dir_read_name (proc)))
    {
      g_autofree char *path = NULL, *cmdline = NULL, *env_path = NULL, *env = NULL;
      gsize len = 0, env_len = 0;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_build_filename ("/proc", name, "cmdline", NULL);
      env_path = g_build_filename ("/proc", name, "environ", NULL);
      if (g_file_get_contents (path, &cmdline, &len, NULL)
          && nul_list_has (cmdline, len, program, TRUE) && nul_list_has (cmdline, len, "-run", FALSE)
          && g_file_get_contents (env_path, &env, &env_len, NULL)
          && nul_list_has (env, env_len, env_mark, FALSE))
        found = (pid_t) atoi (name);
    }
  if (proc)
    g_dir_close (proc);
  return found;
}

static gpointer
killer_thread (gpointer data)
{
  Killer *k = data;
  gint64 seen = 0;
  pid_t pid;

  while (!g_atomic_int_get (&k->stop))
    {
      pid = find_running_plugin (k->program, k->env_mark);
      if (pid && !seen)
        seen = g_get_monotonic_time ();
      if (pid && g_get_monotonic_time () - seen >= (gint64) k->after_ms * 1000)
        {
          kill (pid, SIGKILL);
          g_atomic_int_set (&k->killed, 1);
          break;
        }
      g_usleep (20000);
    }
  return NULL;
}

/* A run ended from GIMP's progress bar (the plug-in killed mid-run) leaves the image as it was:
 * no new layer, no new image, no comment. */
static void
test_progress_cancel (void)
{
  GError *error = NULL;
  SdGimp *gimp = sd_gimp_new (&error);
  g_autofree char *qm = NULL, *body = NULL, *output = NULL, *plugins = NULL;
  g_autofree char *before = NULL, *after = NULL;
  Killer k = { 0 };
  GThread *thread;
  char *v;

  g_assert_no_error (error);
  plugins = g_canonicalize_filename (g_getenv ("SCALEDIT_PLUGIN_PATH"), NULL);
  k.program = g_build_filename (plugins, "scaledit", "scaledit", NULL);
  k.env_mark = g_strconcat ("GIMP3_DIRECTORY=", sd_gimp_tmp_dir (gimp), "/gimp3", NULL);
  k.after_ms = 2000;
  qm = sd_gimp_quote (model_path ());
  /* about 90 s of work on one core: far longer than the 2 s before the kill */
  body = g_strdup_printf (
    "(let* ((img (car (gimp-image-new 512 512 RGB)))"
    "       (bg (car (gimp-layer-new img \"background\" 512 512 RGB-IMAGE 100 LAYER-MODE-NORMAL))))"
    "  (gimp-image-insert-layer img bg 0 0)"
    "  (sd-say \"before\" (sd-layers img) (vector-length (car (gimp-get-images)))"
    "          (length (car (gimp-image-get-parasite-list img))))"
    "  (sd-say \"run\" (sd-try (lambda () (plug-in-scaledit-generate"
    "    #:run-mode RUN-NONINTERACTIVE #:image img #:drawables (vector bg) #:prompt \"" PROMPT "\""
    "    #:global-steps 1000 #:detail-steps 1000 #:model %s #:device \"cpu\"))))"
    "  (sd-say \"after\" (sd-layers img) (vector-length (car (gimp-get-images)))"
    "          (length (car (gimp-image-get-parasite-list img)))))",
    qm);
  thread = g_thread_new ("killer", killer_thread, &k);
  output = run_script (gimp, body);
  g_atomic_int_set (&k.stop, 1);
  g_thread_join (thread);
  g_assert_true (g_atomic_int_get (&k.killed));
  v = said (output, "run");
  g_test_message ("the killed run returned %s", v);
  g_assert_true (g_str_has_prefix (v, "(error "));
  g_free (v);
  /* layers, images, image parasites: one layer, and nothing added */
  before = said (output, "before");
  after = said (output, "after");
  g_assert_true (g_str_has_prefix (before, "1 1 "));
  g_assert_cmpstr (after, ==, before);
  g_free (k.program);
  g_free (k.env_mark);
  sd_gimp_free (gimp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gimp/plugin/generate-and-upscale", test_generate_and_upscale);
  g_test_add_func ("/gimp/plugin/bad-arguments", test_bad_arguments);
  g_test_add_func ("/gimp/plugin/last-values", test_last_values);
  g_test_add_func ("/gimp/plugin/german", test_german);
  g_test_add_func ("/gimp/plugin/precision", test_precision);
  g_test_add_func ("/gimp/plugin/progress-cancel", test_progress_cancel);
  return g_test_run ();
}

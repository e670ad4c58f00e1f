/* test_gimp_plugin.c: the plug-in end to end in a headless GIMP 3: Script-Fu calls of
 * plug-in-scaledit-generate and -upscale (named and positional arguments) checked against the
 * scaledit CLI's output for the same parameters (pixels within ±1 in 8 bits, the same parameters
 * text), bad arguments, last values and the German catalog. */
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

/* Script-Fu helpers: sd-say prints "SD: a b c" lines the test parses; sd-try runs a thunk and
 * returns (error message) instead of stopping the batch when it fails; sd-text prints a
 * parasite's text between markers. */
static const char *const scheme_helpers =
  "(define (sd-say . xs) (display \"SD:\")"
  "  (for-each (lambda (x) (display \" \") (display x)) xs) (newline))"
  "(define (sd-try thunk)"
  "  (call-with-current-continuation"
  "    (lambda (k)"
  "      (let ((old *error-hook*))"
  "        (set! *error-hook* (lambda args (set! *error-hook* old) (k (cons 'error args))))"
  "        (let ((r (thunk))) (set! *error-hook* old) r)))))"
  "(define (sd-text tag p) (display (string-append \"SD-BEGIN \" tag \"\\n\"))"
  "  (display (caddr (car p))) (display \"\\nSD-END\\n\"))"
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
  g_autofree char *comment = NULL, *cli_text = NULL, *random_text = NULL;
  char *v;
  const char *seed_at;

  g_assert_no_error (error);
  gen1 = sd_gimp_tmp_path (gimp, "gen1.png");
  gen2 = sd_gimp_tmp_path (gimp, "gen2.png");
  into = sd_gimp_tmp_path (gimp, "into.png");
  up = sd_gimp_tmp_path (gimp, "up.png");
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
    /* 5. upscale the first result 2× into a new image */
    "  (let* ((r5 (plug-in-scaledit-upscale #:run-mode RUN-NONINTERACTIVE #:image img1"
    "              #:drawables (vector l1) #:prompt \"" PROMPT "\" #:scale 2 #:seed 11"
    "              #:global-steps " STEPS " #:detail-steps " DETAIL_STEPS " #:model %s"
    "              #:device \"cpu\" #:new-image TRUE))"
    "         (img5 (car r5)))"
    "    (sd-say \"upscale\" (car (gimp-image-get-width img5)) (car (gimp-image-get-height img5))"
    "            (sd-layers img1))"
    "    (gimp-file-save RUN-NONINTERACTIVE img5 %s -1)))",
    qm, q1, qm, q2, qm, qi, qm, qm, qu);
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
  v = said (output, "upscale");
  g_assert_cmpstr (v, ==, "160 144 1");
  g_free (v);

  /* The same seed twice gives identical pixels. */
  g_assert_cmpint (compare_png (gen1, gen2, 0), ==, 0);

  /* The CLI with the same parameters: pixels within ±1, the same parameters text. */
  cli_gen = sd_gimp_tmp_path (gimp, "cli-gen.png");
  cli_into = sd_gimp_tmp_path (gimp, "cli-into.png");
  cli_up = sd_gimp_tmp_path (gimp, "cli-up.png");
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "80", "--height",
                                   "72", "--seed", "5", "--out", cli_gen, NULL });
  run_cli ((const char *const[]) { "generate", "--prompt", PROMPT, "--width", "100", "--height",
                                   "70", "--seed", "7", "--out", cli_into, NULL });
  run_cli ((const char *const[]) { "upscale", "--in", gen1, "--prompt", PROMPT, "--scale", "2",
                                   "--seed", "11", "--out", cli_up, NULL });
  compare_png (gen1, cli_gen, 1);
  compare_png (into, cli_into, 1);
  compare_png (up, cli_up, 1);

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
    "  (sd-say \"layers\" (sd-layers img) (car (gimp-image-get-width img))))",
    qm, qm, qc, qm);
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gimp/plugin/generate-and-upscale", test_generate_and_upscale);
  g_test_add_func ("/gimp/plugin/bad-arguments", test_bad_arguments);
  g_test_add_func ("/gimp/plugin/last-values", test_last_values);
  g_test_add_func ("/gimp/plugin/german", test_german);
  return g_test_run ();
}

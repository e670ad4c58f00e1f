/* cmd_generate.c: `scaledit generate` and `scaledit upscale`: a request from options, a progress
 * bar on a terminal (with --verbose, time per phase and peak memory), the PNG with its parameters. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "scaledit.h"
#include "cli.h"
#include "png_io.h"

static volatile gint cancel_flag;

static void
on_sigint (int sig)
{
  g_atomic_int_set (&cancel_flag, 1);
}

/* What the progress callback keeps: the bar's mode and, with --verbose, when each phase began. */
typedef struct {
  gboolean tty, verbose;
  char phase[16];
  gint64 phase_start;
  GString *timings;
} Progress;

/* With --verbose: a phase ends when the next one starts (or at the end); after the generation's
 * phases comes the PNG writing. */
static void
phase_switch (Progress *pr, const char *phase)
{
  gint64 now = g_get_monotonic_time ();
  if (pr->phase[0])
    g_string_append_printf (pr->timings, "scaledit: phase %-9s %8.2f s\n", pr->phase, (now - pr->phase_start) / 1e6);
  g_strlcpy (pr->phase, phase ? phase : "", sizeof pr->phase);
  pr->phase_start = now;
}

static void
on_progress (const char *phase, int step, int total, gpointer data)
{
  Progress *pr = data;
  gboolean tty = pr->tty;
  int width = 30, filled = total > 0 ? step * width / total : width, i;
  if (pr->verbose && strcmp (phase, pr->phase) != 0)
    phase_switch (pr, phase);
  if (!tty)
    {
      if (step == total)
        fprintf (stderr, "%s: done\n", phase);
      return;
    }
  fprintf (stderr, "\r%-9s [", phase);
  for (i = 0; i < width; i++)
    fputc (i < filled ? '#' : '.', stderr);
  fprintf (stderr, "] %d/%d ", step, total);
  if (step == total)
    fputc ('\n', stderr);
  fflush (stderr);
}

static int
run (int argc, char **argv, gboolean upscale)
{
  SdRequest q;
  SdEngineOptions eo = { 0 };
  char *model = NULL, *device = NULL, *prompt = NULL, *negative = NULL, *out = NULL, *in = NULL, *order = NULL;
  char *vae = NULL, *clip = NULL, *t5 = NULL, *tokenizers = NULL, *lora = NULL;
  int depth = 8, steps = -1, scale = 0;
  double guidance = -1, detail_guidance = -1, true_cfg = 1, ntk = -1, sharpen = -1, lora_scale = 1;
  gint64 seed = -1;
  gboolean verbose = FALSE, preview = FALSE, no_model_lora = FALSE;
  GOptionContext *ctx;
  GError *error = NULL;
  SdEngine *engine = NULL;
  SdResult *res = NULL;
  SdCallbacks cb = { 0 };
  Progress pr = { 0 };
  float *init = NULL;
  gint64 t_open;
  int rc = 1;

  sd_request_init (&q);
  {
    GOptionEntry entries[] = {
      { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "model folder or transformer file (default: the bundled model)", "PATH" },
      { "vae", 0, 0, G_OPTION_ARG_FILENAME, &vae, "VAE file or folder (single-file models)", "PATH" },
      { "clip", 0, 0, G_OPTION_ARG_FILENAME, &clip, "CLIP text encoder file (single-file models)", "PATH" },
      { "t5", 0, 0, G_OPTION_ARG_FILENAME, &t5, "T5 encoder file (single-file models)", "PATH" },
      { "tokenizers", 0, 0, G_OPTION_ARG_FILENAME, &tokenizers, "folder holding tokenizer/ and tokenizer_2/", "PATH" },
      { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "auto, cpu or cuda (default auto)", "DEVICE" },
      { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "what to draw", "TEXT" },
      { "negative-prompt", 0, 0, G_OPTION_ARG_STRING, &negative, "what to avoid (with --true-cfg > 1)", "TEXT" },
      { "width", 'W', 0, G_OPTION_ARG_INT, &q.width, "width in pixels (default 1024)", "W" },
      { "height", 'H', 0, G_OPTION_ARG_INT, &q.height, "height in pixels (default 1024)", "H" },
      { "scale", 0, 0, G_OPTION_ARG_INT, &scale, "upscale: output = input size times this (2 or 4)", "N" },
      { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "seed (-1: random; the one used is printed)", "S" },
      { "steps", 'n', 0, G_OPTION_ARG_INT, &steps, "steps of the global schedule (28)", "N" },
      { "detail-steps", 0, 0, G_OPTION_ARG_INT, &q.detail_steps, "last steps the detail pass runs (18)", "N" },
      { "guidance", 'g', 0, G_OPTION_ARG_DOUBLE, &guidance, "guidance of the global pass (3.5)", "G" },
      { "detail-guidance", 0, 0, G_OPTION_ARG_DOUBLE, &detail_guidance, "guidance of the detail pass (4.5)", "G" },
      { "true-cfg", 0, 0, G_OPTION_ARG_DOUBLE, &true_cfg, "true classifier-free guidance scale (1: off)", "S" },
      { "global-factor", 'f', 0, G_OPTION_ARG_INT, &q.global_factor, "global pass at target / F (4; 1: one dense pass)", "F" },
      { "window", 0, 0, G_OPTION_ARG_INT, &q.window, "window side in tokens (16)", "N" },
      { "hr-radius", 0, 0, G_OPTION_ARG_INT, &q.hr_radius, "HR attention radius in tokens (8)", "R" },
      { "lr-radius", 0, 0, G_OPTION_ARG_INT, &q.lr_radius, "LR attention radius in tokens (2)", "R" },
      { "lr-window-span", 0, 0, G_OPTION_ARG_INT, &q.lr_window_span, "LR windows each side an HR token sees (1)", "N" },
      { "ntk", 0, 0, G_OPTION_ARG_DOUBLE, &ntk, "RoPE theta factor of the detail pass (10)", "F" },
      { "sharpen", 0, 0, G_OPTION_ARG_DOUBLE, &sharpen, "unsharp-mask amount of the handover (0.5)", "A" },
      { "order", 0, 0, G_OPTION_ARG_STRING, &order, "token order: hilbert, window or raster", "ORDER" },
      { "lora", 0, 0, G_OPTION_ARG_FILENAME, &lora, "Scale-DiT bridge LoRA of the detail pass (PEFT folder or .safetensors)",
        "PATH" },
      { "lora-scale", 0, 0, G_OPTION_ARG_DOUBLE, &lora_scale, "LoRA scale (1; 0: none)", "S" },
      { "no-model-lora", 0, 0, G_OPTION_ARG_NONE, &no_model_lora, "do not use the model folder's scale_dit_lora/", NULL },
      { "preview", 0, 0, G_OPTION_ARG_NONE, &preview, "stop after the global pass and write its picture", NULL },
      { "depth", 0, 0, G_OPTION_ARG_INT, &depth, "PNG bits per channel: 8 or 16", "8|16" },
      { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in, "upscale: the input picture (PNG)", "IMG" },
      { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "output PNG", "FILE.png" },
      { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print timing and memory", NULL },
      { NULL }
    };
    ctx = g_option_context_new (upscale ? "- upscale a picture with Scale-DiT" : "- generate a picture with Scale-DiT");
    g_option_context_add_main_entries (ctx, entries, NULL);
    if (!g_option_context_parse (ctx, &argc, &argv, &error))
      {
        fprintf (stderr, "scaledit: %s\n", error->message);
        rc = 2;
        goto out;
      }
  }
  if (!out || argc != 1 || (upscale && !in) || (depth != 8 && depth != 16))
    {
      fprintf (stderr, "scaledit: %s needs --out FILE.png%s (and --depth 8 or 16); see --help\n",
               upscale ? "upscale" : "generate", upscale ? " and --in IMG" : "");
      rc = 2;
      goto out;
    }
  q.prompt = prompt ? prompt : "";
  q.negative_prompt = negative;
  q.seed = seed;
  if (steps > 0)
    q.global_steps = steps;
  if (guidance >= 0)
    q.global_guidance = (float) guidance;
  if (detail_guidance >= 0)
    q.detail_guidance = (float) detail_guidance;
  q.true_cfg_scale = (float) true_cfg;
  if (ntk > 0)
    q.ntk_factor = (float) ntk;
  if (sharpen >= 0)
    q.sharpen = (float) sharpen;
  q.lora_path = lora;
  q.lora_scale = (float) lora_scale;
  q.use_model_lora = !no_model_lora;
  q.preview_only = preview;
  if (order)
    {
      if (g_str_equal (order, "hilbert"))
        q.order = SD_ORDER_HILBERT;
      else if (g_str_equal (order, "window"))
        q.order = SD_ORDER_WINDOW;
      else if (g_str_equal (order, "raster"))
        q.order = SD_ORDER_RASTER;
      else
        {
          fprintf (stderr, "scaledit: unknown order \"%s\" (hilbert, window or raster)\n", order);
          rc = 2;
          goto out;
        }
    }
  if (upscale)
    {
      if (!(init = sd_png_read (in, &q.init_width, &q.init_height, &error)))
        goto fail;
      q.init_rgb = init;
      if (scale > 0)
        {
          q.width = q.init_width * scale;
          q.height = q.init_height * scale;
        }
    }
  eo.path = model;
  eo.vae_path = vae;
  eo.clip_path = clip;
  eo.t5_path = t5;
  eo.tokenizer_path = tokenizers;
  eo.backend = device;
  t_open = g_get_monotonic_time ();
  if (!(engine = sd_engine_open (&eo, &error)))
    goto fail;
  if (verbose)
    fprintf (stderr, "scaledit: %s (loaded in %.2f s)\n", sd_engine_describe (engine),
             (g_get_monotonic_time () - t_open) / 1e6);
  pr.tty = isatty (2);
  pr.verbose = verbose;
  pr.timings = g_string_new (NULL);
  cb.on_progress = on_progress;
  cb.user_data = &pr;
  cb.cancel = &cancel_flag;
  signal (SIGINT, on_sigint);
  if (!(res = sd_engine_generate (engine, &q, &cb, &error)))
    goto fail;
  if (verbose)
    phase_switch (&pr, "png write"); /* the generation's last phase ends here */
  if (!sd_png_write (out, res->rgb, res->width, res->height, depth, res->parameters, &error))
    goto fail;
  if (res->prompt_truncated)
    fprintf (stderr, "scaledit: the prompt is longer than the text encoders read: its end was cut off\n");
  printf ("%s: %dx%d, seed %" G_GINT64_FORMAT ", %.1f s\n", out, res->width, res->height, res->seed, res->seconds);
  if (verbose)
    {
      struct rusage ru;
      phase_switch (&pr, NULL);
      fputs (pr.timings->str, stderr);
      fprintf (stderr, "scaledit: peak compute-device memory %.1f MiB\n", res->peak_device_bytes / 1048576.0);
      if (getrusage (RUSAGE_SELF, &ru) == 0)
        fprintf (stderr, "scaledit: peak host memory (resident) %.1f MiB\n", ru.ru_maxrss / 1024.0);
    }
  rc = 0;
  goto out;
fail:
  fprintf (stderr, "scaledit: %s\n", error->message);
  if (g_error_matches (error, SD_ERROR, SD_ERROR_CANCELLED))
    rc = 130;
out:
  g_clear_error (&error);
  sd_result_free (res);
  sd_engine_close (engine);
  g_option_context_free (ctx);
  if (pr.timings)
    g_string_free (pr.timings, TRUE);
  g_free (init);
  g_free (model); g_free (device); g_free (prompt); g_free (negative); g_free (out); g_free (in); g_free (order);
  g_free (vae); g_free (clip); g_free (t5); g_free (tokenizers); g_free (lora);
  return rc;
}

int
cmd_generate (int argc, char **argv)
{
  return run (argc, argv, FALSE);
}

int
cmd_upscale (int argc, char **argv)
{
  return run (argc, argv, TRUE);
}

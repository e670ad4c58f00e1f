/* render_options.c: the options of generate and upscale (see render_options.h). Text options are
 * taken as bytes (G_OPTION_ARG_FILENAME: GLib would convert G_OPTION_ARG_STRING from the locale's
 * charset, refusing every non-ASCII prompt under LANG=C) and checked as UTF-8 here. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "render_options.h"

#define MAX_SIDE 16384

static gboolean G_GNUC_PRINTF (2, 3)
bad_value (GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, format, args));
  va_end (args);
  return FALSE;
}

/* Fails naming the option and the value unless min <= value <= max. */
static gboolean
check_int (const char *option, int value, int min, int max, GError **error)
{
  if (value >= min && value <= max)
    return TRUE;
  if (max == G_MAXINT)
    return bad_value (error, "%s %d: must be at least %d", option, value, min);
  return bad_value (error, "%s %d: must be between %d and %d", option, value, min, max);
}

static gboolean
check_double (const char *option, double value, double min, double max, GError **error)
{
  if (isfinite (value) && value >= min && value <= max)
    return TRUE;
  return bad_value (error, "%s %g: must be between %g and %g", option, value, min, max);
}

/* An option kept as text so that whether it was given is known: NULL leaves *value as it is. */
static gboolean
check_given_double (const char *option, const char *text, double min, double max, float *value, GError **error)
{
  char *end;
  double v;

  if (!text)
    return TRUE;
  v = g_ascii_strtod (text, &end);
  if (end == text || *end)
    return bad_value (error, "%s %s: not a number (between %g and %g)", option, text, min, max);
  if (!check_double (option, v, min, max, error))
    return FALSE;
  *value = (float) v;
  return TRUE;
}

/* allowed: NULL-terminated; the message lists it ("a, b or c"). */
static gboolean
check_choice (const char *option, const char *value, const char *const *allowed, GError **error)
{
  GString *list;
  int i;

  for (i = 0; allowed[i]; i++)
    if (g_str_equal (value, allowed[i]))
      return TRUE;
  list = g_string_new (NULL);
  for (i = 0; allowed[i]; i++)
    g_string_append_printf (list, "%s%s", i == 0 ? "" : allowed[i + 1] ? ", " : " or ", allowed[i]);
  bad_value (error, "%s %s: must be %s", option, value, list->str);
  g_string_free (list, TRUE);
  return FALSE;
}

static gboolean
check_utf8 (const char *option, const char *value, GError **error)
{
  const char *end;
  if (!value || g_utf8_validate (value, -1, &end))
    return TRUE;
  return bad_value (error, "%s: the text is not valid UTF-8 (byte 0x%02x at offset %d); give UTF-8 text", option,
                    (guint8) *end, (int) (end - value));
}

static gboolean
check_out (const char *out, GError **error)
{
  char *lower;
  gboolean png;

  if (!out)
    return bad_value (error, "--out FILE.png is required");
  lower = g_ascii_strdown (out, -1);
  png = g_str_has_suffix (lower, ".png") && strlen (lower) > 4;
  g_free (lower);
  if (!png)
    return bad_value (error, "--out %s: the picture is written as PNG: give a file name ending in .png", out);
  return TRUE;
}

/* Upscale: the output size comes from --scale 2|4, or from both --width and --height. */
static gboolean
check_upscale_size (const SdRenderOptions *o, GError **error)
{
  gboolean sized = o->width != SD_NOT_GIVEN || o->height != SD_NOT_GIVEN;
  if (o->scale && sized)
    return bad_value (error, "--scale and --width/--height: give one or the other");
  if (o->scale)
    return o->scale == 2 || o->scale == 4 ? TRUE : bad_value (error, "--scale %d: must be 2 or 4", o->scale);
  if (o->width == SD_NOT_GIVEN || o->height == SD_NOT_GIVEN)
    return bad_value (error, "upscale needs --scale 2 or 4, or both --width and --height");
  return check_int ("--width", o->width, 64, MAX_SIDE, error)
         && check_int ("--height", o->height, 64, MAX_SIDE, error);
}

/* Generate: a size that is given is checked; the request's default (1024) is used otherwise. */
static gboolean
check_generate_size (const SdRenderOptions *o, GError **error)
{
  return (o->width == SD_NOT_GIVEN || check_int ("--width", o->width, 64, MAX_SIDE, error))
         && (o->height == SD_NOT_GIVEN || check_int ("--height", o->height, 64, MAX_SIDE, error));
}

static gboolean
check_request_options (SdRenderOptions *o, gboolean upscale, GError **error)
{
  static const char *const devices[] = { "auto", "cpu", "cuda", NULL };
  static const char *const orders[] = { "hilbert", "window", "raster", NULL };
  SdRequest *q = &o->request;

  if (!check_utf8 ("--prompt", o->prompt, error) || !check_utf8 ("--negative-prompt", o->negative, error)
      || !check_out (o->out, error)
      || (o->depth != 8 && o->depth != 16 && !bad_value (error, "--depth %d: must be 8 or 16", o->depth))
      || (o->device && !check_choice ("--device", o->device, devices, error))
      || (o->order && !check_choice ("--order", o->order, orders, error)))
    return FALSE;
  if (!(upscale ? check_upscale_size (o, error) : check_generate_size (o, error)))
    return FALSE;
  if (q->seed < -1)
    return bad_value (error, "--seed %" G_GINT64_FORMAT ": must be -1 (a random seed) or at least 0", q->seed);
  if (!check_int ("--steps", q->global_steps, 1, 1000, error)
      || !check_int ("--global-factor", q->global_factor, upscale ? 2 : 1, 16, error)
      || (q->global_factor > 1 && (q->detail_steps < 1 || q->detail_steps > q->global_steps)
          && !bad_value (error, "--detail-steps %d: must be between 1 and --steps (%d)", q->detail_steps,
                         q->global_steps))
      || !check_int ("--window", q->window, 1, MAX_SIDE / 16, error)
      || !check_int ("--hr-radius", q->hr_radius, 0, MAX_SIDE / 16, error)
      || !check_int ("--lr-radius", q->lr_radius, 0, MAX_SIDE / 16, error)
      || !check_int ("--lr-window-span", q->lr_window_span, 0, MAX_SIDE / 16, error)
      || !check_given_double ("--guidance", o->guidance, 0, 100, &q->global_guidance, error)
      || !check_given_double ("--detail-guidance", o->detail_guidance, 0, 100, &q->detail_guidance, error)
      || !check_double ("--true-cfg", o->true_cfg, 1, 100, error)
      || !check_double ("--ntk", o->ntk, 0.01, 1000, error)
      || !check_double ("--sharpen", o->sharpen, 0, 10, error)
      || !check_double ("--lora-scale", o->lora_scale, -100, 100, error))
    return FALSE;
  return TRUE;
}

/* The checked options into the request. */
static void
fill_request (SdRenderOptions *o)
{
  SdRequest *q = &o->request;

  q->prompt = o->prompt ? o->prompt : "";
  q->negative_prompt = o->negative;
  if (o->width != SD_NOT_GIVEN)
    q->width = o->width;
  if (o->height != SD_NOT_GIVEN)
    q->height = o->height;
  q->true_cfg_scale = (float) o->true_cfg;
  q->ntk_factor = (float) o->ntk;
  q->sharpen = (float) o->sharpen;
  q->lora_path = o->lora;
  q->lora_scale = (float) o->lora_scale;
  q->use_model_lora = !o->no_model_lora;
  q->preview_only = o->preview;
  if (o->order)
    q->order = g_str_equal (o->order, "window") ? SD_ORDER_WINDOW
               : g_str_equal (o->order, "raster") ? SD_ORDER_RASTER : SD_ORDER_HILBERT;
}

static void
init_options (SdRenderOptions *o)
{
  memset (o, 0, sizeof *o);
  sd_request_init (&o->request);
  o->width = o->height = SD_NOT_GIVEN;
  o->depth = 8;
  o->true_cfg = o->request.true_cfg_scale;
  o->ntk = o->request.ntk_factor;
  o->sharpen = o->request.sharpen;
  o->lora_scale = o->request.lora_scale;
}

/* The entries of both commands, then each one's own: generate lists no upscale option and the
 * other way round. */
static GOptionContext *
new_context (SdRenderOptions *o, gboolean upscale)
{
  SdRequest *q = &o->request;
  GOptionEntry shared[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model, "model folder or transformer file (default: the bundled model)", "PATH" },
    { "vae", 0, 0, G_OPTION_ARG_FILENAME, &o->vae, "VAE file or folder (single-file models)", "PATH" },
    { "clip", 0, 0, G_OPTION_ARG_FILENAME, &o->clip, "CLIP text encoder file (single-file models)", "PATH" },
    { "t5", 0, 0, G_OPTION_ARG_FILENAME, &o->t5, "T5 encoder file (single-file models)", "PATH" },
    { "tokenizers", 0, 0, G_OPTION_ARG_FILENAME, &o->tokenizers, "folder holding tokenizer/ and tokenizer_2/", "PATH" },
    { "device", 'd', 0, G_OPTION_ARG_FILENAME, &o->device, "auto, cpu or cuda (default auto)", "DEVICE" },
    { "prompt", 'p', 0, G_OPTION_ARG_FILENAME, &o->prompt, "what to draw (UTF-8)", "TEXT" },
    { "negative-prompt", 0, 0, G_OPTION_ARG_FILENAME, &o->negative, "what to avoid, with --true-cfg > 1 (UTF-8)", "TEXT" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &q->seed, "seed (-1: random; the one used is printed)", "S" },
    { "steps", 'n', 0, G_OPTION_ARG_INT, &q->global_steps, "steps of the global schedule, 1 to 1000 (28)", "N" },
    { "detail-steps", 0, 0, G_OPTION_ARG_INT, &q->detail_steps, "last steps the detail pass runs, 1 to --steps (18)", "N" },
    { "detail-guidance", 0, 0, G_OPTION_ARG_FILENAME, &o->detail_guidance, "guidance of the detail pass, 0 to 100 (4.5)", "G" },
    { "true-cfg", 0, 0, G_OPTION_ARG_DOUBLE, &o->true_cfg, "true classifier-free guidance scale, 1 to 100 (1: off)", "S" },
    { "global-factor", 'f', 0, G_OPTION_ARG_INT, &q->global_factor,
      upscale ? "global pass at target / F, 2 to 16 (4)" : "global pass at target / F, 1 to 16 (4; 1: one dense pass)", "F" },
    { "window", 0, 0, G_OPTION_ARG_INT, &q->window, "window side in tokens (16)", "N" },
    { "hr-radius", 0, 0, G_OPTION_ARG_INT, &q->hr_radius, "HR attention radius in tokens (8)", "R" },
    { "lr-radius", 0, 0, G_OPTION_ARG_INT, &q->lr_radius, "LR attention radius in tokens (2)", "R" },
    { "lr-window-span", 0, 0, G_OPTION_ARG_INT, &q->lr_window_span, "LR windows each side an HR token sees (1)", "N" },
    { "ntk", 0, 0, G_OPTION_ARG_DOUBLE, &o->ntk, "RoPE theta factor of the detail pass (10)", "F" },
    { "sharpen", 0, 0, G_OPTION_ARG_DOUBLE, &o->sharpen, "unsharp-mask amount of the handover, 0 to 10 (0.5)", "A" },
    { "order", 0, 0, G_OPTION_ARG_FILENAME, &o->order, "token order: hilbert, window or raster", "ORDER" },
    { "lora", 0, 0, G_OPTION_ARG_FILENAME, &o->lora, "Scale-DiT bridge LoRA of the detail pass (PEFT folder or .safetensors)", "PATH" },
    { "lora-scale", 0, 0, G_OPTION_ARG_DOUBLE, &o->lora_scale, "LoRA scale (1; 0: none)", "S" },
    { "no-model-lora", 0, 0, G_OPTION_ARG_NONE, &o->no_model_lora, "do not use the model folder's scale_dit_lora/", NULL },
    { "depth", 0, 0, G_OPTION_ARG_INT, &o->depth, "PNG bits per channel: 8 or 16", "8|16" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &o->out, "output PNG (written as FILE.png.XXXXXX.part, then renamed)", "FILE.png" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose, "print timing and memory", NULL },
    { NULL }
  };
  GOptionEntry generate_only[] = {
    { "width", 'W', 0, G_OPTION_ARG_INT, &o->width, "width in pixels, 64 to 16384 (1024)", "W" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &o->height, "height in pixels, 64 to 16384 (1024)", "H" },
    { "guidance", 'g', 0, G_OPTION_ARG_FILENAME, &o->guidance, "guidance of the global pass, 0 to 100 (3.5)", "G" },
    { "preview", 0, 0, G_OPTION_ARG_NONE, &o->preview, "stop after the global pass and write its picture", NULL },
    { NULL }
  };
  GOptionEntry upscale_only[] = {
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &o->in, "the input picture (PNG, up to 8192 pixels a side)", "IMG" },
    { "scale", 0, 0, G_OPTION_ARG_INT, &o->scale, "output = input size times 2 or 4", "2|4" },
    { "width", 'W', 0, G_OPTION_ARG_INT, &o->width, "output width (with --height, instead of --scale)", "W" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &o->height, "output height (with --width, instead of --scale)", "H" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (upscale ? "- upscale a picture with Scale-DiT's detail pass"
                                                      : "- generate a picture with Scale-DiT");
  g_option_context_add_main_entries (ctx, shared, NULL);
  g_option_context_add_main_entries (ctx, upscale ? upscale_only : generate_only, NULL);
  g_option_context_set_description (ctx, upscale ? "The output keeps the input's aspect: --scale 2 or 4, or --width "
                                                   "and --height in the input's proportions."
                                                 : NULL);
  return ctx;
}

gboolean
sd_render_options_parse (SdRenderOptions *o, gboolean upscale, int argc, char **argv, GError **error)
{
  GOptionContext *ctx;
  char **args = g_new0 (char *, argc + 1);
  gboolean ok;
  int i;

  for (i = 0; i < argc; i++)
    args[i] = g_strdup (argv[i]);
  init_options (o);
  ctx = new_context (o, upscale);
  ok = g_option_context_parse_strv (ctx, &args, error);
  if (ok && args[0] && args[1])
    ok = bad_value (error, "unexpected argument \"%s\" (the prompt goes after --prompt)", args[1]);
  if (ok && upscale && !o->in)
    ok = bad_value (error, "--in IMG is required: the picture to upscale");
  ok = ok && check_request_options (o, upscale, error);
  if (ok)
    fill_request (o);
  g_option_context_free (ctx);
  g_strfreev (args);
  return ok;
}

void
sd_render_options_clear (SdRenderOptions *o)
{
  g_free (o->model); g_free (o->vae); g_free (o->clip); g_free (o->t5); g_free (o->tokenizers);
  g_free (o->device); g_free (o->order); g_free (o->lora);
  g_free (o->prompt); g_free (o->negative); g_free (o->out); g_free (o->in);
  g_free (o->guidance); g_free (o->detail_guidance);
  memset (o, 0, sizeof *o);
}

void
sd_render_options_engine (const SdRenderOptions *o, SdEngineOptions *eo)
{
  memset (eo, 0, sizeof *eo);
  eo->path = o->model;
  eo->vae_path = o->vae;
  eo->clip_path = o->clip;
  eo->t5_path = o->t5;
  eo->tokenizer_path = o->tokenizers;
  eo->backend = o->device;
}

/* cmd_run_component.c: `scaledit run-component NAME --model PATH --in IN.safetensors --out OUT.safetensors`
 * (flux: optionally --lora PATH --lora-scale S --lora-routing all|scale-dit). */
#include <stdio.h>

#include "scaledit.h"
#include "cli.h"

int
cmd_run_component (int argc, char **argv)
{
  char *model = NULL, *in = NULL, *out = NULL, *device = NULL, *lora = NULL, *routing = NULL;
  double lora_scale = 1.0;
  SdComponentOptions copts = { 0 };
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "model folder or file", "PATH" },
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in, "input tensors", "IN.safetensors" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "output tensors", "OUT.safetensors" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "auto, cpu or cuda (default auto)", "DEVICE" },
    { "lora", 0, 0, G_OPTION_ARG_FILENAME, &lora, "flux: a LoRA (PEFT folder, diffusers file)", "PATH" },
    { "lora-scale", 0, 0, G_OPTION_ARG_DOUBLE, &lora_scale, "flux: the LoRA's scale (1)", "S" },
    { "lora-routing", 0, 0, G_OPTION_ARG_STRING, &routing,
      "flux: all (every token) or scale-dit (LR tokens every layer, text/HR q, k, v only)", "all|scale-dit" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("COMPONENT - run one model component");
  GError *error = NULL;
  char *names = sd_component_names ();
  char *desc = g_strdup_printf ("Components:\n%s", names);
  int rc = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx, desc);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "scaledit run-component: %s\n", error->message);
      rc = 2;
      goto out;
    }
  if (argc != 2 || !model || !in || !out)
    {
      fprintf (stderr, "usage: scaledit run-component COMPONENT --model PATH --in IN.safetensors --out OUT.safetensors\n%s\n",
               desc);
      rc = 2;
      goto out;
    }
  if (device && !g_str_equal (device, "auto") && !g_str_equal (device, "cpu") && !g_str_equal (device, "cuda"))
    {
      fprintf (stderr, "scaledit run-component: --device %s: must be auto, cpu or cuda\n", device);
      rc = 2;
      goto out;
    }
  if (routing && !g_str_equal (routing, "all") && !g_str_equal (routing, "scale-dit"))
    {
      fprintf (stderr, "scaledit run-component: --lora-routing %s: must be all or scale-dit\n", routing);
      rc = 2;
      goto out;
    }
  copts.lora_path = lora;
  copts.lora_scale = (float) lora_scale;
  copts.lora_routing = routing;
  if (!sd_run_component_full (argv[1], model, device ? device : "auto", in, out, &copts, &error))
    {
      fprintf (stderr, "scaledit run-component: %s\n", error->message);
      goto out;
    }
  rc = 0;
out:
  g_clear_error (&error);
  g_option_context_free (ctx);
  g_free (names);
  g_free (desc);
  g_free (model);
  g_free (in);
  g_free (out);
  g_free (device);
  g_free (lora);
  g_free (routing);
  return rc;
}

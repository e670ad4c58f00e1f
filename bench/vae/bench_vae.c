/* bench_vae.c: times a tiled VAE decode (and optionally encode) of random latents within a device
 * memory budget and prints time, peak device working memory and host intermediates. */
#include <stdio.h>

#include "scaledit.h"
#include "vae.h"

static void
on_tile (int done, int total, gpointer user_data)
{
  if (done == total || done % 64 == 0)
    fprintf (stderr, "\r  tile %d/%d", done, total);
  if (done == total)
    fprintf (stderr, "\n");
}

static void
report (const char *what, const SdVaeStats *st, int w, int h)
{
  printf ("%s %dx%d: %.2f s, device working peak %.1f MiB (attention K/V %.1f MiB), host "
          "full-resolution intermediates peak %.1f MiB, %d passes, %d tiles, halo re-read %.2f%%\n",
          what, w, h, st->seconds, st->device_peak_bytes / 1048576.0, st->attention_kv_bytes / 1048576.0,
          st->host_peak_bytes / 1048576.0, st->passes, st->tiles, 100 * st->halo_fraction);
}

int
main (int argc, char **argv)
{
  char *model = NULL, *config = NULL, *device = NULL;
  int lw = 128, lh = 128, budget_mib = 2048, threads = 0;
  gboolean encode = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "VAE folder or ae.safetensors", "PATH" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "config.json for a single file", "JSON" },
    { "width", 'W', 0, G_OPTION_ARG_INT, &lw, "latent width (128)", "N" },
    { "height", 'H', 0, G_OPTION_ARG_INT, &lh, "latent height (128)", "N" },
    { "budget-mib", 'b', 0, G_OPTION_ARG_INT, &budget_mib, "device working memory budget (2048)", "MIB" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "CPU threads (0: all cores)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (cpu)", "DEVICE" },
    { "encode", 'e', 0, G_OPTION_ARG_NONE, &encode, "also encode the decoded image", NULL },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("- time a tiled VAE decode");
  GError *error = NULL;
  SdBackend *be;
  SdVae *vae;
  SdVaeTiling t = { 0 };
  SdVaeStats st;
  GRand *rng;
  float *lat, *img;
  gsize i, n;
  int f, rc = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !model)
    {
      fprintf (stderr, "bench_vae: %s\n", error ? error->message : "--model is required");
      return 2;
    }
  be = sd_backend_open (device ? device : "cpu", &error);
  if (!be)
    goto fail;
  if (be->ops->set_threads)
    be->ops->set_threads (be, threads);
  vae = sd_vae_load (be, model, config, &error);
  if (!vae)
    goto fail;
  printf ("VAE %s: %d blocks, top %d channels, %.1f MiB of weights on %s\n", model,
          sd_vae_get_config (vae)->n_blocks,
          sd_vae_get_config (vae)->block_out_channels[sd_vae_get_config (vae)->n_blocks - 1],
          be->bytes_in_use / 1048576.0, be->ops->name);
  f = sd_vae_factor (vae);
  n = (gsize) sd_vae_get_config (vae)->latent_channels * lw * lh;
  rng = g_rand_new_with_seed (1);
  lat = g_new (float, n);
  for (i = 0; i < n; i++)
    lat[i] = (float) g_rand_double_range (rng, -1.5, 1.5);
  g_rand_free (rng);
  t.budget_bytes = (gsize) budget_mib << 20;
  t.on_tile = on_tile;
  img = sd_vae_decode (vae, lat, lw, lh, &t, &st, &error);
  g_free (lat);
  if (!img)
    goto fail;
  report ("decode", &st, lw * f, lh * f);
  if (encode)
    {
      for (i = 0; i < (gsize) 3 * lw * f * lh * f; i++)
        img[i] = CLAMP (img[i], -1.0f, 1.0f);
      lat = sd_vae_encode (vae, img, lw * f, lh * f, &t, &st, &error);
      if (!lat)
        goto fail;
      report ("encode", &st, lw * f, lh * f);
      g_free (lat);
    }
  g_free (img);
  sd_vae_free (vae);
  sd_backend_close (be);
  rc = 0;
fail:
  if (error)
    fprintf (stderr, "bench_vae: %s\n", error->message);
  g_clear_error (&error);
  g_option_context_free (ctx);
  return rc;
}

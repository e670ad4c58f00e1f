/* cmd_layout_stats.c: `scaledit layout-stats`: the detail pass's token count and attention-plan
 * sparsity (computed blocks, density, allowed pairs, build time) for an image size and order. */
#include <stdio.h>
#include <string.h>

#include "scaledit.h"
#include "cli.h"

static const char *const order_names[] = { "hilbert", "window", "raster" };

int
cmd_layout_stats (int argc, char **argv)
{
  SdLayoutStatsRequest req = { 0 };
  SdLayoutStats st;
  char *order = NULL, *block = NULL;
  GError *error = NULL;
  GOptionContext *ctx;
  int ok = 1;
  gsize i;
  GOptionEntry entries[] = {
    { "width", 0, 0, G_OPTION_ARG_INT, &req.width, "image width in pixels", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &req.height, "image height in pixels", "H" },
    { "order", 0, 0, G_OPTION_ARG_STRING, &order, "token order: hilbert (default), window, raster", "ORDER" },
    { "block", 0, 0, G_OPTION_ARG_STRING, &block, "query x key block size (128x64)", "QxK" },
    { "window", 0, 0, G_OPTION_ARG_INT, &req.window, "window side in tokens (16)", "N" },
    { "global-factor", 0, 0, G_OPTION_ARG_INT, &req.global_factor,
      "LR guidance at 1/F of each side; 1: none (4)", "F" },
    { "text", 0, 0, G_OPTION_ARG_INT, &req.n_text, "text tokens (512)", "N" },
    { "hr-radius", 0, 0, G_OPTION_ARG_INT, &req.hr_radius, "HR to HR radius in tokens (8)", "R" },
    { "lr-radius", 0, 0, G_OPTION_ARG_INT, &req.lr_radius, "LR to LR radius in tokens (2)", "R" },
    { "lr-window-span", 0, 0, G_OPTION_ARG_INT, &req.lr_window_span,
      "HR to LR: windows of the same row within this span (1)", "S" },
    { NULL }
  };

  req.global_factor = 4;
  req.window = 16;
  req.n_text = 512;
  req.q_block = 128;
  req.k_block = 64;
  req.hr_radius = 8;
  req.lr_radius = 2;
  req.lr_window_span = 1;
  req.order = SD_ORDER_HILBERT;

  ctx = g_option_context_new ("- token layout and attention-plan statistics of the detail pass");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto fail;
  if (req.width <= 0 || req.height <= 0)
    {
      g_set_error (&error, SD_ERROR, SD_ERROR_ARGUMENT, "--width and --height are required and positive");
      goto fail;
    }
  if (order)
    {
      for (i = 0; i < G_N_ELEMENTS (order_names) && strcmp (order, order_names[i]); i++)
        ;
      if (i == G_N_ELEMENTS (order_names))
        {
          g_set_error (&error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "--order \"%s\": expected hilbert, window or raster", order);
          goto fail;
        }
      req.order = (SdTokenOrder) i;
    }
  if (block)
    {
      char end;
      if (sscanf (block, "%dx%d%c", &req.q_block, &req.k_block, &end) != 2 || req.q_block < 1
          || req.k_block < 1)
        {
          g_set_error (&error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "--block \"%s\": expected two positive sizes as QxK, e.g. 128x64", block);
          goto fail;
        }
    }
  if (!sd_layout_stats (&req, &st, &error))
    goto fail;

  printf ("image        %d x %d px, order %s, window %d, global factor %d\n", req.width,
          req.height, order_names[req.order], req.window, req.global_factor);
  printf ("tokens       %d (%d text + %d x %d HR + %d x %d LR)\n", st.n_tokens, req.n_text,
          st.hr_rows, st.hr_cols, st.lr_rows, st.lr_cols);
  printf ("blocks       %d x %d: %" G_GINT64_FORMAT " computed of %" G_GINT64_FORMAT
          " (%" G_GINT64_FORMAT " full)\n",
          req.q_block, req.k_block, st.computed_blocks, st.total_blocks, st.full_blocks);
  printf ("density      %.3f%%\n", 100 * st.density);
  printf ("allowed      %.3f%% of token pairs (%.3f%% inside computed blocks)\n",
          100 * st.allowed_fraction, 100 * st.computed_fraction);
  printf ("plan built   %.1f ms\n", 1e3 * st.build_seconds);
  ok = 0;
  goto done;

fail:
  fprintf (stderr, "scaledit layout-stats: %s\n", error->message);
  g_clear_error (&error);
  ok = 2;
done:
  g_free (order);
  g_free (block);
  g_option_context_free (ctx);
  return ok;
}

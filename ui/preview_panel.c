/* preview_panel.c: "Preview composition": runs the cheap global pass in the runner's worker
 * thread and shows its picture, with its own progress bar and Cancel button; the dialog stays
 * responsive meanwhile. */
#include "intl.h"
#include "preview_panel.h"
#include "progress_text.h"
#include "request.h"

/* The preview picture's longest side on screen. */
#define PREVIEW_SIDE 320

typedef struct
{
  GimpProcedureConfig *config;
  SdRunner *runner;
  int image_w, image_h;
  GtkWidget *picture, *progress, *start, *cancel, *status;
} Panel;

static void
set_running (Panel *p, gboolean running)
{
  gtk_widget_set_sensitive (p->start, !running);
  gtk_widget_set_sensitive (p->cancel, running);
}

static void
on_progress (const char *phase, int step, int total, gpointer data)
{
  Panel *p = data;
  g_autofree char *text = sd_progress_text (phase, step, total);
  double fraction = 0.0;

  /* the preview is the encode, global and decode phases */
  if (g_str_equal (phase, "global"))
    fraction = total > 0 ? 0.05 + 0.9 * step / total : 0.95;
  else if (g_str_equal (phase, "decode"))
    fraction = step == total ? 1.0 : 0.95;
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), fraction);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), text);
}

static void
on_preview (const float *rgb, int width, int height, gpointer data)
{
  Panel *p = data;
  GdkPixbuf *full = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guchar *pixels = gdk_pixbuf_get_pixels (full);
  int stride = gdk_pixbuf_get_rowstride (full), x, y, c;
  double s = (double) PREVIEW_SIDE / MAX (width, height);
  GdkPixbuf *shown;

  for (y = 0; y < height; y++)
    for (x = 0; x < width; x++)
      for (c = 0; c < 3; c++)
        {
          float v = rgb[((gsize) y * width + x) * 3 + c];
          pixels[y * stride + x * 3 + c] = (guchar) (CLAMP (v, 0.0f, 1.0f) * 255.0f + 0.5f);
        }
  shown = gdk_pixbuf_scale_simple (full, MAX (1, (int) (width * s)), MAX (1, (int) (height * s)),
                                   GDK_INTERP_BILINEAR);
  gtk_image_set_from_pixbuf (GTK_IMAGE (p->picture), shown);
  g_object_unref (shown);
  g_object_unref (full);
}

static void
on_done (SdResult *result, const GError *error, gpointer data)
{
  Panel *p = data;
  set_running (p, FALSE);
  if (result)
    {
      g_autofree char *text = g_strdup_printf (_("Seed %d, %.1f s"),
                                               (int) result->seed, result->seconds);
      /* the run then asks for the same composition and continues from it */
      g_object_set (p->config, "seed", (int) result->seed, NULL);
      gtk_label_set_text (GTK_LABEL (p->status), text);
      gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), _("Preview ready"));
      sd_result_free (result);
    }
  else if (g_error_matches (error, SD_ERROR, SD_ERROR_CANCELLED))
    {
      gtk_label_set_text (GTK_LABEL (p->status), _("Preview cancelled."));
      gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), 0.0);
      gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), "");
    }
  else
    gtk_label_set_text (GTK_LABEL (p->status), error->message);
}

static void
on_start (GtkButton *button, gpointer data)
{
  Panel *p = data;
  SdPlugRequest r;
  SdRunnerCallbacks cb = { on_progress, on_preview, on_done, p };
  GError *error = NULL;

  if (!sd_plug_request_from_config (&r, p->config, SD_PROC_GENERATE, p->image_w, p->image_h, 0,
                                    0, &error))
    {
      gtk_label_set_text (GTK_LABEL (p->status), error->message);
      g_error_free (error);
      return;
    }
  r.req.preview_only = TRUE;
  if (sd_runner_start (p->runner, r.model, r.device, &r.req, &cb))
    {
      set_running (p, TRUE);
      gtk_label_set_text (GTK_LABEL (p->status), "");
      gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (p->progress), 0.0);
      gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), _("Loading the model"));
    }
  sd_plug_request_clear (&r);
}

static void
on_cancel (GtkButton *button, gpointer data)
{
  Panel *p = data;
  sd_runner_cancel (p->runner);
}

GtkWidget *
sd_preview_panel_new (GimpProcedureConfig *config, SdRunner *runner, int image_w, int image_h)
{
  Panel *p = g_new0 (Panel, 1);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *frame = gtk_frame_new (NULL);
  GtkWidget *buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

  p->config = config;
  p->runner = runner;
  p->image_w = image_w;
  p->image_h = image_h;
  p->picture = gtk_image_new_from_icon_name ("image-x-generic", GTK_ICON_SIZE_DIALOG);
  gtk_widget_set_size_request (p->picture, PREVIEW_SIDE, PREVIEW_SIDE);
  gtk_frame_set_shadow_type (GTK_FRAME (frame), GTK_SHADOW_IN);
  gtk_container_add (GTK_CONTAINER (frame), p->picture);
  p->progress = gtk_progress_bar_new ();
  gtk_progress_bar_set_show_text (GTK_PROGRESS_BAR (p->progress), TRUE);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (p->progress), "");
  p->start = gtk_button_new_with_mnemonic (_("_Preview composition"));
  gtk_widget_set_tooltip_text (p->start, _("Run only the quick global pass and show its picture; "
                                           "Generate then continues from it at full resolution"));
  p->cancel = gtk_button_new_with_label (_("Cancel preview"));
  p->status = gtk_label_new (NULL);
  gtk_label_set_line_wrap (GTK_LABEL (p->status), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (p->status), 40);
  set_running (p, FALSE);

  g_signal_connect (p->start, "clicked", G_CALLBACK (on_start), p);
  g_signal_connect (p->cancel, "clicked", G_CALLBACK (on_cancel), p);
  g_object_set_data_full (G_OBJECT (box), "sd-panel", p, g_free);
  gtk_box_pack_start (GTK_BOX (buttons), p->start, TRUE, TRUE, 0);
  gtk_box_pack_start (GTK_BOX (buttons), p->cancel, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), frame, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), p->progress, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), buttons, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), p->status, FALSE, FALSE, 0);
  gtk_widget_set_valign (box, GTK_ALIGN_START);
  gtk_widget_show_all (box);
  return box;
}

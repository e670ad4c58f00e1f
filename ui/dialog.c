/* dialog.c: the plug-in's dialog: GimpProcedureDialog widgets for the plain arguments, custom GTK
 * widgets for the prompt (multi-line), size presets, the device, seed with Randomize, the model
 * check and, for generate, the composition preview beside them. */
#include "device_row.h"
#include "dialog.h"
#include "intl.h"
#include "model_chooser.h"
#include "preview_panel.h"
#include "size_presets.h"

static void
on_prompt_changed (GtkTextBuffer *buffer, gpointer config)
{
  GtkTextIter start, end;
  g_autofree char *text = NULL;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  g_object_set (config, "prompt", text, NULL);
}

/* A framed multi-line text view bound to the config's "prompt". */
static GtkWidget *
prompt_view_new (GObject *config)
{
  GtkWidget *frame = gimp_frame_new (_("Prompt"));
  GtkWidget *scrolled = gtk_scrolled_window_new (NULL, NULL);
  GtkWidget *view = gtk_text_view_new ();
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (view));
  g_autofree char *prompt = NULL;

  g_object_get (config, "prompt", &prompt, NULL);
  gtk_text_buffer_set_text (buffer, prompt ? prompt : "", -1);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_accepts_tab (GTK_TEXT_VIEW (view), FALSE);
  gtk_widget_set_tooltip_text (view, _("Describe the picture"));
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_shadow_type (GTK_SCROLLED_WINDOW (scrolled), GTK_SHADOW_IN);
  gtk_widget_set_size_request (scrolled, 360, 90);
  g_signal_connect (buffer, "changed", G_CALLBACK (on_prompt_changed), config);
  gtk_container_add (GTK_CONTAINER (scrolled), view);
  gtk_container_add (GTK_CONTAINER (frame), scrolled);
  gtk_widget_show_all (frame);
  return frame;
}

static void
on_randomize (GtkButton *button, gpointer config)
{
  g_object_set (config, "seed", g_random_int_range (0, G_MAXINT), NULL);
}

/* The seed widget with a Randomize button after it. */
static GtkWidget *
seed_row_new (GimpProcedureDialog *dialog, GObject *config)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *seed = gimp_procedure_dialog_get_widget (dialog, "seed", G_TYPE_NONE);
  GtkWidget *button = gtk_button_new_with_label (_("Randomize"));

  gtk_widget_set_tooltip_text (button, _("Pick a new random seed"));
  g_signal_connect (button, "clicked", G_CALLBACK (on_randomize), config);
  g_object_ref (seed);
  if (gtk_widget_get_parent (seed))
    gtk_container_remove (GTK_CONTAINER (gtk_widget_get_parent (seed)), seed);
  gtk_box_pack_start (GTK_BOX (row), seed, TRUE, TRUE, 0);
  g_object_unref (seed);
  gtk_box_pack_start (GTK_BOX (row), button, FALSE, FALSE, 0);
  gtk_widget_show_all (row);
  return row;
}

gboolean
sd_dialog_run (GimpProcedure *procedure, GimpProcedureConfig *config, GimpImage *image,
               SdProcKind kind, SdRunner *runner)
{
  GObject *cfg = G_OBJECT (config);
  int image_w = image ? gimp_image_get_width (image) : 0;
  int image_h = image ? gimp_image_get_height (image) : 0;
  GtkWidget *dialog, *main_box, *outer, *w;
  gboolean run;
  int width, height;

  /* "-1: the image's size" shows as that size in the dialog */
  g_object_get (cfg, "width", &width, "height", &height, NULL);
  if (kind == SD_PROC_GENERATE && (width == -1 || height == -1))
    g_object_set (cfg, "width", image_w > 0 ? image_w : 1024,
                  "height", image_h > 0 ? image_h : 1024, NULL);

  dialog = gimp_procedure_dialog_new (procedure, config,
                                      kind == SD_PROC_GENERATE ? _("Scale-DiT Generate")
                                                               : _("Scale-DiT Upscale"));
  gimp_procedure_dialog_set_ok_label (GIMP_PROCEDURE_DIALOG (dialog),
                                      kind == SD_PROC_GENERATE ? _("_Generate") : _("_Upscale"));

  gimp_procedure_dialog_fill_box (GIMP_PROCEDURE_DIALOG (dialog), "advanced-box",
                                  "global-steps", "detail-steps", "guidance", "detail-guidance",
                                  "window", "lora", "lora-scale", NULL);
  gimp_procedure_dialog_get_label (GIMP_PROCEDURE_DIALOG (dialog), "advanced-label",
                                   _("Advanced"), FALSE, FALSE);
  gimp_procedure_dialog_fill_expander (GIMP_PROCEDURE_DIALOG (dialog), "advanced",
                                       "advanced-label", FALSE, "advanced-box");
  if (kind == SD_PROC_GENERATE)
    main_box = gimp_procedure_dialog_fill_box (GIMP_PROCEDURE_DIALOG (dialog), "main-box",
                                               "width", "height", "new-image",
                                               "precision", "advanced", NULL);
  else
    main_box = gimp_procedure_dialog_fill_box (GIMP_PROCEDURE_DIALOG (dialog), "main-box",
                                               "scale", "width", "height",
                                               "new-image", "advanced", NULL);
  gtk_box_set_spacing (GTK_BOX (main_box), 6);
  /* the device right after the height, where the procedure's own widget for it would be */
  w = sd_device_row_new (cfg);
  gtk_box_pack_start (GTK_BOX (main_box), w, FALSE, FALSE, 0);
  gtk_box_reorder_child (GTK_BOX (main_box), w, kind == SD_PROC_GENERATE ? 2 : 3);
  /* the precision is that of a new image; a layer takes its image's */
  if (kind == SD_PROC_GENERATE && image)
    gimp_procedure_dialog_set_sensitive (GIMP_PROCEDURE_DIALOG (dialog), "precision", TRUE,
                                         cfg, "new-image", FALSE);

  /* custom widgets: prompt and size first, seed and model after the size fields */
  w = prompt_view_new (cfg);
  gtk_box_pack_start (GTK_BOX (main_box), w, TRUE, TRUE, 0);
  gtk_box_reorder_child (GTK_BOX (main_box), w, 0);
  if (kind == SD_PROC_GENERATE)
    {
      w = sd_size_presets_new (cfg, image_w, image_h);
      gtk_box_pack_start (GTK_BOX (main_box), w, FALSE, FALSE, 0);
      gtk_box_reorder_child (GTK_BOX (main_box), w, 1);
    }
  w = seed_row_new (GIMP_PROCEDURE_DIALOG (dialog), cfg);
  gtk_box_pack_start (GTK_BOX (main_box), w, FALSE, FALSE, 0);
  gtk_box_reorder_child (GTK_BOX (main_box), w, kind == SD_PROC_GENERATE ? 4 : 5);
  w = sd_model_chooser_new (cfg, GTK_DIALOG (dialog));
  gtk_box_pack_start (GTK_BOX (main_box), w, FALSE, FALSE, 0);
  gtk_box_reorder_child (GTK_BOX (main_box), w, kind == SD_PROC_GENERATE ? 5 : 6);

  outer = gimp_procedure_dialog_fill_box (GIMP_PROCEDURE_DIALOG (dialog), "outer", "main-box",
                                          NULL);
  gtk_orientable_set_orientation (GTK_ORIENTABLE (outer), GTK_ORIENTATION_HORIZONTAL);
  gtk_box_set_spacing (GTK_BOX (outer), 12);
  if (kind == SD_PROC_GENERATE)
    gtk_box_pack_start (GTK_BOX (outer),
                        sd_preview_panel_new (config, runner, image_w, image_h), FALSE, FALSE,
                        0);
  gimp_procedure_dialog_fill (GIMP_PROCEDURE_DIALOG (dialog), "outer", NULL);

  run = gimp_procedure_dialog_run (GIMP_PROCEDURE_DIALOG (dialog));
  /* a preview still running stops before its widgets go */
  if (sd_runner_busy (runner))
    {
      sd_runner_cancel (runner);
      sd_runner_wait (runner);
    }
  gtk_widget_destroy (dialog);
  return run;
}

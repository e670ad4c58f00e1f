/* model_chooser.c: the model field: an entry bound to a config's "model", a Browse button and a
 * line that says at once (from sd_inspect, which reads only headers and configs) whether the
 * model can be used, and why not; the dialog's run button follows it. */
#include <string.h>

#include "intl.h"
#include "model_chooser.h"
#include "request.h"

/* Milliseconds of quiet typing before the model is checked. */
#define CHECK_DELAY_MS 300

typedef struct
{
  GObject *config;
  GtkDialog *dialog;
  GtkWidget *entry, *status;
  guint timer;
} Chooser;

static gboolean
check_now (gpointer data)
{
  Chooser *c = data;
  const char *text = gtk_entry_get_text (GTK_ENTRY (c->entry));
  g_autofree char *path = *text ? g_strdup (text) : sd_plug_bundled_model ();
  g_autofree char *about = NULL, *markup = NULL;
  GError *error = NULL;

  c->timer = 0;
  about = sd_inspect (path, &error);
  if (about)
    {
      g_autofree char *first = g_strndup (about, strcspn (about, "\n"));
      markup = g_markup_printf_escaped ("<span foreground='#2e7d32'>✔ %s</span> %s",
                                        *text ? _("Usable:") : _("Bundled model, usable:"),
                                        first);
    }
  else
    {
      markup = g_markup_printf_escaped ("<span foreground='#c62828'>✘ %s</span> %s",
                                        _("Cannot be used:"), error->message);
      g_error_free (error);
    }
  gtk_label_set_markup (GTK_LABEL (c->status), markup);
  gtk_dialog_set_response_sensitive (c->dialog, GTK_RESPONSE_OK, about != NULL);
  return G_SOURCE_REMOVE;
}

static void
on_entry_changed (GtkEntry *entry, gpointer data)
{
  Chooser *c = data;
  g_object_set (c->config, "model", gtk_entry_get_text (entry), NULL);
  if (c->timer)
    g_source_remove (c->timer);
  c->timer = g_timeout_add (CHECK_DELAY_MS, check_now, c);
}

static void
on_browse (GtkButton *button, gpointer data)
{
  Chooser *c = data;
  GtkWidget *toplevel = gtk_widget_get_toplevel (GTK_WIDGET (button));
  GtkFileChooserNative *fc
    = gtk_file_chooser_native_new (_("Choose a model folder"), GTK_WINDOW (toplevel),
                                   GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
                                   _("_Cancel"));
  if (gtk_native_dialog_run (GTK_NATIVE_DIALOG (fc)) == GTK_RESPONSE_ACCEPT)
    {
      g_autofree char *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (fc));
      if (path)
        gtk_entry_set_text (GTK_ENTRY (c->entry), path);
    }
  g_object_unref (fc);
}

static void
chooser_free (gpointer data)
{
  Chooser *c = data;
  if (c->timer)
    g_source_remove (c->timer);
  g_free (c);
}

GtkWidget *
sd_model_chooser_new (GObject *config, GtkDialog *dialog)
{
  Chooser *c = g_new0 (Chooser, 1);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label = gtk_label_new (_("Model:"));
  GtkWidget *browse = gtk_button_new_with_label (_("Browse..."));
  g_autofree char *model = NULL;

  c->config = config;
  c->dialog = dialog;
  g_object_get (config, "model", &model, NULL);
  c->entry = gtk_entry_new ();
  gtk_entry_set_text (GTK_ENTRY (c->entry), model ? model : "");
  gtk_entry_set_placeholder_text (GTK_ENTRY (c->entry), _("Bundled model"));
  gtk_widget_set_tooltip_text (c->entry, _("A diffusers model folder or a transformer "
                                           ".safetensors file; empty: the bundled model"));
  c->status = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (c->status), 0.0);
  gtk_label_set_line_wrap (GTK_LABEL (c->status), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (c->status), 60);
  gtk_label_set_selectable (GTK_LABEL (c->status), TRUE);

  g_signal_connect (c->entry, "changed", G_CALLBACK (on_entry_changed), c);
  g_signal_connect (browse, "clicked", G_CALLBACK (on_browse), c);
  g_object_set_data_full (G_OBJECT (box), "sd-chooser", c, chooser_free);
  gtk_box_pack_start (GTK_BOX (row), label, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (row), c->entry, TRUE, TRUE, 0);
  gtk_box_pack_start (GTK_BOX (row), browse, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), row, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), c->status, FALSE, FALSE, 0);
  gtk_widget_show_all (box);
  check_now (c);
  return box;
}

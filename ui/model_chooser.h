/* model_chooser.h: the model field: an entry bound to a config's "model", a Browse button and a
 * line that says at once whether the model can be used, and why not; the dialog's run button
 * (GTK_RESPONSE_OK) is sensitive only while it can. */
#pragma once

#include <gtk/gtk.h>

GtkWidget *sd_model_chooser_new (GObject *config, GtkDialog *dialog);

/* device_row.c: the dialog's Device row (see device_row.h), laid out as GimpProcedureDialog lays
 * out its own labelled widgets. */
#include "device_row.h"
#include "intl.h"

GtkWidget *
sd_device_row_new (GObject *config)
{
  GtkListStore *devices = gtk_list_store_new (2, G_TYPE_STRING, G_TYPE_STRING);
  GtkWidget *combo, *row;

  gtk_list_store_insert_with_values (devices, NULL, -1, 0, "auto", 1, _("Automatic"), -1);
  gtk_list_store_insert_with_values (devices, NULL, -1, 0, "cpu", 1, _("CPU"), -1);
  gtk_list_store_insert_with_values (devices, NULL, -1, 0, "cuda", 1, _("GPU (CUDA)"), -1);
  combo = gimp_prop_string_combo_box_new (config, "device", GTK_TREE_MODEL (devices), 0, 1);
  g_object_unref (devices);
  gtk_widget_set_tooltip_text (combo, _("Where the model runs"));
  gtk_widget_set_hexpand (combo, TRUE); /* as wide as the other fields */
  row = gimp_label_string_widget_new (_("De_vice"), combo);
  gtk_widget_show_all (row);
  return row;
}

/* device_row.h: the dialog's Device row: a combo of auto, cpu and cuda bound to the config's
 * "device" (a string argument, so that the plug-in itself refuses any other value). */
#pragma once

#include <libgimp/gimpui.h>

GtkWidget *sd_device_row_new (GObject *config);

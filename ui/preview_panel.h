/* preview_panel.h: "Preview composition": runs the cheap global pass in the runner's worker
 * thread and shows its picture, with its own progress bar and Cancel button. */
#pragma once

#include <libgimp/gimp.h>
#include <gtk/gtk.h>

#include "runner.h"

/* The panel reads the request from config (a generate procedure's) when its button is pressed;
 * a finished preview writes its seed back into config so that the run continues from it. */
GtkWidget *sd_preview_panel_new (GimpProcedureConfig *config, SdRunner *runner, int image_w,
                                 int image_h);

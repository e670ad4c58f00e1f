/* dialog.h: the plug-in's dialog: GimpProcedureDialog with a multi-line prompt, size presets,
 * seed, model check, device, an advanced section and (generate) a composition preview. */
#pragma once

#include <libgimp/gimpui.h>

#include "request.h"
#include "runner.h"

/* Shows the dialog for the procedure's config; TRUE when the user chose to run. runner runs the
 * previews and stays open with their engine, so that the run continues from the last preview. */
gboolean sd_dialog_run (GimpProcedure *procedure, GimpProcedureConfig *config, GimpImage *image,
                        SdProcKind kind, SdRunner *runner);

/* run.h: what both procedures do when they run: arguments, dialog, the engine in a worker thread
 * with GIMP's progress bar, and the result into the image. */
#pragma once

#include <libgimp/gimp.h>

#include "request.h"

GimpValueArray *sd_run (GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                        GimpDrawable **drawables, GimpProcedureConfig *config, SdProcKind kind);

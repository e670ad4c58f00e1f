/* render.h: running a checked request of generate or upscale into its PNG. */
#pragma once

#include "render_options.h"

/* Creates the output's temporary file, opens the engine, generates o->request, writes the PNG and
 * renames it over o->out; Ctrl-C and SIGTERM as signals.h says. Returns the exit status: 0, 1 on
 * an error (printed), 130 when cancelled. */
int sd_render (SdRenderOptions *o);

/* progress_text.h: the translated progress line ("Detail pass 7/18") and the overall fraction
 * for an engine progress report. */
#pragma once

#include <glib.h>

char *sd_progress_text (const char *phase, int step, int total);
double sd_progress_fraction (const char *phase, int step, int total);

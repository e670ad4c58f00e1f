/* progress.h: the progress bar of generate and upscale on a terminal ("phase: done" lines
 * otherwise) and, with --verbose, the time of each phase. */
#pragma once

#include <glib.h>

typedef struct SdProgress SdProgress;

SdProgress *sd_progress_new (gboolean verbose);
void sd_progress_free (SdProgress *pr);
/* An SdProgressFunc; user_data is the SdProgress. */
void sd_progress_update (const char *phase, int step, int total, gpointer user_data);
/* With --verbose: a phase the engine does not report (e.g. "png write") starts now. */
void sd_progress_begin_phase (SdProgress *pr, const char *phase);
/* With --verbose: ends the last phase and prints every phase's time on stderr. */
void sd_progress_print_timings (SdProgress *pr);

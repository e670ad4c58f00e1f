/* runner.h: runs the engine in a worker thread (one request at a time) and reports progress, the
 * preview picture and the result on the main thread; keeps the engine open between requests so
 * that a full run continues from a previewed global pass. */
#pragma once

#include <glib.h>

#include "scaledit.h"

typedef struct _SdRunner SdRunner;

/* All callbacks run on the thread-default main context of the thread that called
 * sd_runner_start. */
typedef struct
{
  SdProgressFunc on_progress;
  /* rgb: the decoded global pass (width × height × 3 sRGB floats), valid during the call. */
  SdPreviewFunc on_preview;
  /* Exactly once per start: result (owned by the callee) or error (not NULL when result is). */
  void (*on_done) (SdResult *result, const GError *error, gpointer user_data);
  gpointer user_data;
} SdRunnerCallbacks;

SdRunner *sd_runner_new (void);
/* Cancels a running request and waits for the worker; pending callbacks are dropped. */
void sd_runner_free (SdRunner *runner);

/* Starts one request (deep-copied, init_rgb included) with the model at model_path (a folder or
 * file) on device ("auto", "cpu", "cuda"). The engine is reopened only when the model or device
 * differs from the previous request's. Returns FALSE (with nothing started) while busy. */
gboolean sd_runner_start (SdRunner *runner, const char *model_path, const char *device,
                          const SdRequest *request, const SdRunnerCallbacks *callbacks);
gboolean sd_runner_busy (SdRunner *runner);
/* Asks the running request to stop at its next step; on_done then reports SD_ERROR_CANCELLED. */
void sd_runner_cancel (SdRunner *runner);
/* Whether the engine stays open after a request failed with `error`: only after a cancel, a
 * request argument out of range or running out of memory (which the engine recovers from); after
 * a device failure or a file error the next request opens the engine afresh. */
gboolean sd_runner_engine_survives (const GError *error);
/* Runs the main context until the current request's on_done has run. */
void sd_runner_wait (SdRunner *runner);

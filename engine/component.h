/* component.h: running one model component on named input tensors (`scaledit run-component`). */
#pragma once

#include "backend.h"
#include "safetensors.h"
#include "scaledit.h"

/* Reads its inputs by name from `inputs` and appends its outputs (SdTensorOut whose data the
 * runner allocated with g_malloc) to `outputs`. */
typedef gboolean (*SdComponentFunc) (SdBackend *be, const char *model_path, SdTensorFile *inputs,
                                     GArray *outputs, GError **error);

typedef struct {
  const char *name;
  const char *inputs_help; /* the input tensors it reads, for --help */
  SdComponentFunc run;
} SdComponent;

/* The FLUX transformer's runner (flux_component.c). */
gboolean sd_flux_run_component (SdBackend *be, const char *model_path, SdTensorFile *inputs, GArray *outputs,
                                GError **error);

/* The same with the options of `scaledit run-component flux --lora` (copts may be NULL). */
gboolean sd_flux_run_component_lora (SdBackend *be, const char *model_path, SdTensorFile *inputs, GArray *outputs,
                                     const SdComponentOptions *copts, GError **error);

/* Appends one f32 output tensor (takes ownership of data). */
void sd_component_output (GArray *outputs, const char *name, int ndim, const gint64 *shape, float *data);

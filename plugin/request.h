/* request.h: turns a procedure's arguments (GimpProcedureConfig) into an engine request, checking
 * them first so that bad arguments fail with a calling error before anything runs. */
#pragma once

#include <libgimp/gimp.h>

#include "scaledit.h"

/* An engine request with the strings it points to. */
typedef struct
{
  SdRequest req;
  char *prompt;
  char *lora;       /* NULL: none */
  char *model;      /* the model to open (the bundled one when the argument is empty) */
  char *device;     /* "auto", "cpu" or "cuda" */
  gboolean new_image;
  GimpPrecision precision; /* of a new image */
} SdPlugRequest;

/* Which procedure the arguments belong to. */
typedef enum { SD_PROC_GENERATE, SD_PROC_UPSCALE } SdProcKind;

#define SD_PROC_GENERATE_NAME "plug-in-scaledit-generate"
#define SD_PROC_UPSCALE_NAME "plug-in-scaledit-upscale"

/* The largest side the engine accepts, and the smallest. */
#define SD_MAX_SIDE 16384
#define SD_MIN_SIDE 64

/* Fills r from config. width/height -1 take image_w/image_h (the image's or the upscale
 * source's size times scale; 1024 without either). For upscale, src_w/src_h is the source area.
 * Fails with GIMP_PDB_CALLING_ERROR semantics (a translated message) on bad arguments. */
gboolean sd_plug_request_from_config (SdPlugRequest *r, GimpProcedureConfig *config,
                                      SdProcKind kind, int image_w, int image_h, int src_w,
                                      int src_h, GError **error);
void sd_plug_request_clear (SdPlugRequest *r);

/* The bundled model: models/scaledit-tiny beside the plug-in when installed that way, else the
 * engine's default (installed data folder or source tree). */
char *sd_plug_bundled_model (void);

#define SD_PLUG_ERROR (sd_plug_error_quark ())
GQuark sd_plug_error_quark (void);

typedef enum
{
  SD_PLUG_ERROR_ARGUMENT, /* a bad argument: the procedure returns GIMP_PDB_CALLING_ERROR */
  SD_PLUG_ERROR_IMAGE,    /* the image cannot take the result (execution error) */
} SdPlugErrorCode;

/* run.c: what both procedures do when they run: arguments (or the dialog), the engine in a
 * worker thread while GIMP's progress bar shows the phase and step, and only then the result
 * into the image, so that a failure or a cancel leaves the image as it was. Every libgimp call
 * stays on this (the main) thread. */
#include <libgimp/gimpui.h>

#include "dialog.h"
#include "intl.h"
#include "output.h"
#include "pixels.h"
#include "progress_text.h"
#include "run.h"
#include "runner.h"

typedef struct
{
  GMainLoop *loop;
  SdResult *result;
  GError *error;
} Wait;

static void
on_progress (const char *phase, int step, int total, gpointer data)
{
  g_autofree char *text = sd_progress_text (phase, step, total);
  gimp_progress_set_text (text);
  gimp_progress_update (sd_progress_fraction (phase, step, total));
}

static void
on_done (SdResult *result, const GError *error, gpointer data)
{
  Wait *wait = data;
  wait->result = result;
  if (error)
    wait->error = g_error_copy (error);
  g_main_loop_quit (wait->loop);
}

static GimpValueArray *
fail (GimpProcedure *procedure, GError *error)
{
  GimpPDBStatusType status = g_error_matches (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT)
    ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
  return gimp_procedure_new_return_values (procedure, status, error);
}

/* The area the upscale reads: the selection's bounds within the drawable, else all of it. */
static gboolean
source_area (GimpDrawable **drawables, GimpDrawable **drawable, int *x, int *y, int *w, int *h,
             GError **error)
{
  if (!drawables || !drawables[0] || drawables[1])
    {
      g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                   _("Upscale works on exactly one layer; select one."));
      return FALSE;
    }
  *drawable = drawables[0];
  if (!gimp_drawable_mask_intersect (*drawable, x, y, w, h))
    {
      g_set_error (error, SD_PLUG_ERROR, SD_PLUG_ERROR_ARGUMENT,
                   _("The selection does not touch the layer; there is nothing to upscale."));
      return FALSE;
    }
  return TRUE;
}

GimpValueArray *
sd_run (GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
        GimpDrawable **drawables, GimpProcedureConfig *config, SdProcKind kind)
{
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree float *init = NULL;
  SdRunner *runner;
  SdPlugRequest r;
  SdRunnerCallbacks cb = { on_progress, NULL, on_done, NULL };
  Wait wait = { 0 };
  GimpDrawable *source = NULL;
  GimpImage *out_image = NULL;
  GimpLayer *out_layer = NULL;
  GimpValueArray *values;
  GError *error = NULL;
  int sx = 0, sy = 0, sw = 0, sh = 0, ox = 0, oy = 0;
  int image_w = image ? gimp_image_get_width (image) : 0;
  int image_h = image ? gimp_image_get_height (image) : 0;
  gboolean into_new;

  gegl_init (NULL, NULL);
  if (kind == SD_PROC_UPSCALE && !source_area (drawables, &source, &sx, &sy, &sw, &sh, &error))
    return fail (procedure, error);

  runner = sd_runner_new ();
  if (run_mode == GIMP_RUN_INTERACTIVE)
    {
      gimp_ui_init ("scaledit");
      if (!sd_dialog_run (procedure, config, image, kind, runner))
        {
          sd_runner_free (runner);
          return gimp_procedure_new_return_values (procedure, GIMP_PDB_CANCEL, NULL);
        }
    }

  if (!sd_plug_request_from_config (&r, config, kind, image_w, image_h, sw, sh, &error))
    {
      sd_runner_free (runner);
      return fail (procedure, error);
    }
  if (source)
    {
      gimp_drawable_get_offsets (source, &ox, &oy);
      ox += sx;
      oy += sy;
      init = sd_drawable_read_rgb (source, sx, sy, sw, sh);
      r.req.init_rgb = init;
      r.req.init_width = sw;
      r.req.init_height = sh;
    }

  gimp_progress_init (_("Scale-DiT"));
  loop = g_main_loop_new (NULL, FALSE);
  wait.loop = loop;
  cb.user_data = &wait;
  sd_runner_start (runner, r.model, r.device, &r.req, &cb);
  g_main_loop_run (loop);
  sd_runner_free (runner);

  into_new = image == NULL || r.new_image;
  if (wait.result
      && sd_output_insert (into_new ? NULL : image, wait.result, r.prompt,
                           kind == SD_PROC_GENERATE || !image ? r.precision
                                                              : gimp_image_get_precision (image),
                           ox, oy, &out_image, &out_layer, &wait.error))
    {
      if (into_new && run_mode == GIMP_RUN_INTERACTIVE)
        gimp_display_new (out_image);
      gimp_progress_end ();
    }
  sd_result_free (wait.result);
  sd_plug_request_clear (&r);
  if (wait.error)
    return fail (procedure, wait.error);

  values = gimp_procedure_new_return_values (procedure, GIMP_PDB_SUCCESS, NULL);
  GIMP_VALUES_SET_IMAGE (values, 1, out_image);
  GIMP_VALUES_SET_LAYER (values, 2, out_layer);
  return values;
}

/* render.c: a checked request of generate or upscale into its PNG (see render.h). The output's
 * temporary file comes first, so that a folder that cannot be written fails before the model loads. */
#include <stdio.h>
#include <sys/resource.h>

#include "out_file.h"
#include "png_write.h"
#include "progress.h"
#include "render.h"
#include "signals.h"

static SdOutFile *
create_output (const char *path, GError **error)
{
  SdOutFile *out;

  sd_signals_hold (); /* no signal between creating the file and registering it for removal */
  out = sd_out_file_create (path, error);
  if (out)
    sd_signals_set_temp_file (sd_out_file_temp_path (out));
  sd_signals_release ();
  return out;
}

static void
warn_unused_guidance (SdEngine *engine, const SdRenderOptions *o)
{
  if (sd_engine_uses_guidance (engine) || (!o->guidance && !o->detail_guidance))
    return;
  fprintf (stderr, "scaledit: this model has no guidance embedding: --guidance and --detail-guidance have no "
                   "effect (and are not recorded)\n");
}

static void
print_result (const SdRenderOptions *o, const SdResult *res, SdProgress *pr)
{
  struct rusage ru;

  if (res->prompt_truncated)
    fprintf (stderr, "scaledit: the prompt is longer than the text encoders read: its end was cut off\n");
  printf ("%s: %dx%d, seed %" G_GINT64_FORMAT ", %.1f s\n", o->out, res->width, res->height, res->seed, res->seconds);
  if (!o->verbose)
    return;
  sd_progress_print_timings (pr);
  fprintf (stderr, "scaledit: peak compute-device memory %.1f MiB\n", res->peak_device_bytes / 1048576.0);
  if (getrusage (RUSAGE_SELF, &ru) == 0)
    fprintf (stderr, "scaledit: peak host memory (resident) %.1f MiB\n", ru.ru_maxrss / 1024.0);
  if (res->spill_peak_bytes)
    fprintf (stderr, "scaledit: VAE intermediates beyond host memory, in temporary files: peak %.1f MiB "
             "(the resident peak counts their pages while mapped)\n", res->spill_peak_bytes / 1048576.0);
}

int
sd_render (SdRenderOptions *o)
{
  volatile gint *cancel = sd_signals_install ();
  SdEngineOptions eo;
  SdCallbacks cb = { 0 };
  GError *error = NULL;
  SdEngine *engine = NULL;
  SdResult *res = NULL;
  SdOutFile *out;
  SdProgress *pr = sd_progress_new (o->verbose);
  gint64 t_open = g_get_monotonic_time ();
  int rc = 1;

  if (!(out = create_output (o->out, &error)))
    goto fail;
  sd_render_options_engine (o, &eo);
  if (!(engine = sd_engine_open (&eo, &error)))
    goto fail;
  if (o->verbose)
    fprintf (stderr, "scaledit: %s (loaded in %.2f s)\n", sd_engine_describe (engine),
             (g_get_monotonic_time () - t_open) / 1e6);
  warn_unused_guidance (engine, o);
  cb.on_progress = sd_progress_update;
  cb.user_data = pr;
  cb.cancel = cancel;
  if (!(res = sd_engine_generate (engine, &o->request, &cb, &error)))
    goto fail;
  sd_progress_begin_phase (pr, "png write"); /* the generation's last phase ends here */
  if (!sd_png_write (out, res->rgb, res->width, res->height, o->depth, res->parameters, cancel, &error))
    goto fail;
  if (!sd_out_file_commit (g_steal_pointer (&out), &error))
    goto fail;
  sd_signals_set_temp_file (NULL);
  print_result (o, res, pr);
  rc = 0;
  goto done;
fail:
  sd_out_file_discard (out);
  sd_signals_set_temp_file (NULL);
  fprintf (stderr, "scaledit: %s\n", error->message);
  if (g_error_matches (error, SD_ERROR, SD_ERROR_CANCELLED))
    rc = 130;
  g_clear_error (&error);
done:
  sd_result_free (res);
  sd_engine_close (engine);
  sd_progress_free (pr);
  return rc;
}

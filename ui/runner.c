/* runner.c: runs the engine in a worker thread and hands progress, preview and result back to
 * the main thread through its main context. */
#include <string.h>

#include "runner.h"

/* One started request, shared by the worker and the messages it posts. */
typedef struct
{
  gint ref;
  gboolean dropped;  /* the runner was freed: messages still queued do nothing */
  SdRunner *runner;
  SdRunnerCallbacks cb;
  GMainContext *context;
  char *model, *device, *prompt, *negative, *lora;
  float *init;
  SdRequest req;
} Job;

struct _SdRunner
{
  /* Touched by the worker only while busy, by the main thread only while idle. */
  SdEngine *engine;
  char *engine_model, *engine_device;
  GThread *thread;
  Job *job;
  gboolean busy;
  volatile gint cancel;
};

typedef enum { MSG_PROGRESS, MSG_PREVIEW, MSG_DONE } MsgKind;

typedef struct
{
  Job *job;
  MsgKind kind;
  char *phase;
  int step, total;
  float *rgb;
  int width, height;
  SdResult *result;
  GError *error;
} Msg;

static Job *
job_ref (Job *job)
{
  g_atomic_int_inc (&job->ref);
  return job;
}

static void
job_unref (Job *job)
{
  if (!g_atomic_int_dec_and_test (&job->ref))
    return;
  g_main_context_unref (job->context);
  g_free (job->model);
  g_free (job->device);
  g_free (job->prompt);
  g_free (job->negative);
  g_free (job->lora);
  g_free (job->init);
  g_free (job);
}

static void
msg_free (gpointer data)
{
  Msg *msg = data;
  g_free (msg->phase);
  g_free (msg->rgb);
  sd_result_free (msg->result);
  g_clear_error (&msg->error);
  job_unref (msg->job);
  g_free (msg);
}

static gboolean
msg_dispatch (gpointer data)
{
  Msg *msg = data;
  Job *job = msg->job;
  SdRunner *runner = job->runner;

  if (job->dropped)
    return G_SOURCE_REMOVE;
  switch (msg->kind)
    {
    case MSG_PROGRESS:
      if (job->cb.on_progress)
        job->cb.on_progress (msg->phase, msg->step, msg->total, job->cb.user_data);
      break;
    case MSG_PREVIEW:
      if (job->cb.on_preview)
        job->cb.on_preview (msg->rgb, msg->width, msg->height, job->cb.user_data);
      break;
    case MSG_DONE:
      g_thread_join (runner->thread);
      runner->thread = NULL;
      runner->busy = FALSE;
      runner->job = NULL;
      job->dropped = TRUE; /* nothing of this job runs after its result */
      if (job->cb.on_done)
        job->cb.on_done (g_steal_pointer (&msg->result), msg->error, job->cb.user_data);
      job_unref (job); /* the runner's reference */
      break;
    }
  return G_SOURCE_REMOVE;
}

/* Queues msg on the job's context. Not g_main_context_invoke: it would run msg_dispatch in the
 * worker itself whenever the context is free to acquire (the main thread between iterations). */
static void
post (Job *job, Msg *msg)
{
  GSource *source = g_idle_source_new ();

  msg->job = job_ref (job);
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, msg_dispatch, msg, msg_free);
  g_source_attach (source, job->context);
  g_source_unref (source);
}

static void
worker_progress (const char *phase, int step, int total, gpointer data)
{
  Msg *msg = g_new0 (Msg, 1);
  msg->kind = MSG_PROGRESS;
  msg->phase = g_strdup (phase);
  msg->step = step;
  msg->total = total;
  post (data, msg);
}

static void
worker_preview (const float *rgb, int width, int height, gpointer data)
{
  Msg *msg = g_new0 (Msg, 1);
  msg->kind = MSG_PREVIEW;
  msg->rgb = g_memdup2 (rgb, (gsize) width * height * 3 * sizeof (float));
  msg->width = width;
  msg->height = height;
  post (data, msg);
}

/* Opens the engine unless the one from the previous request has the same model and device. */
static gboolean
ensure_engine (SdRunner *runner, Job *job, GError **error)
{
  SdEngineOptions opts = { 0 };

  if (runner->engine && g_strcmp0 (runner->engine_model, job->model) == 0
      && g_strcmp0 (runner->engine_device, job->device) == 0)
    return TRUE;
  g_clear_pointer (&runner->engine, sd_engine_close);
  g_clear_pointer (&runner->engine_model, g_free);
  g_clear_pointer (&runner->engine_device, g_free);
  opts.path = job->model;
  opts.backend = job->device;
  opts.keep_text_encoders = TRUE; /* a preview and its commit encode the same prompt */
  runner->engine = sd_engine_open (&opts, error);
  if (!runner->engine)
    return FALSE;
  runner->engine_model = g_strdup (job->model);
  runner->engine_device = g_strdup (job->device);
  return TRUE;
}

gboolean
sd_runner_engine_survives (const GError *error)
{
  return error && error->domain == SD_ERROR
         && (error->code == SD_ERROR_CANCELLED || error->code == SD_ERROR_ARGUMENT
             || error->code == SD_ERROR_OUT_OF_MEMORY);
}

static gpointer
worker (gpointer data)
{
  Job *job = data;
  SdRunner *runner = job->runner;
  SdCallbacks cb = { worker_progress, worker_preview, job, &runner->cancel };
  Msg *msg = g_new0 (Msg, 1);

  msg->kind = MSG_DONE;
  if (ensure_engine (runner, job, &msg->error))
    msg->result = sd_engine_generate (runner->engine, &job->req, &cb, &msg->error);
  if (msg->error && !sd_runner_engine_survives (msg->error))
    {
      /* a failed device or a file that changed under the engine: the next request opens afresh */
      g_clear_pointer (&runner->engine, sd_engine_close);
      g_clear_pointer (&runner->engine_model, g_free);
      g_clear_pointer (&runner->engine_device, g_free);
    }
  post (job, msg);
  return NULL;
}

SdRunner *
sd_runner_new (void)
{
  return g_new0 (SdRunner, 1);
}

void
sd_runner_free (SdRunner *runner)
{
  if (!runner)
    return;
  if (runner->busy)
    {
      g_atomic_int_set (&runner->cancel, 1);
      g_thread_join (runner->thread);
      runner->job->dropped = TRUE;
      job_unref (runner->job);
    }
  sd_engine_close (runner->engine);
  g_free (runner->engine_model);
  g_free (runner->engine_device);
  g_free (runner);
}

gboolean
sd_runner_start (SdRunner *runner, const char *model_path, const char *device,
                 const SdRequest *request, const SdRunnerCallbacks *callbacks)
{
  Job *job;

  if (runner->busy)
    return FALSE;
  job = g_new0 (Job, 1);
  job->ref = 1;
  job->runner = runner;
  job->cb = *callbacks;
  job->context = g_main_context_ref_thread_default ();
  job->model = g_strdup (model_path);
  job->device = g_strdup (device ? device : "auto");
  job->req = *request;
  job->req.prompt = job->prompt = g_strdup (request->prompt ? request->prompt : "");
  job->req.negative_prompt = job->negative = g_strdup (request->negative_prompt);
  job->req.lora_path = job->lora = g_strdup (request->lora_path);
  if (request->init_rgb)
    job->req.init_rgb = job->init
      = g_memdup2 (request->init_rgb,
                   (gsize) request->init_width * request->init_height * 3 * sizeof (float));
  runner->job = job;
  runner->busy = TRUE;
  g_atomic_int_set (&runner->cancel, 0);
  runner->thread = g_thread_new ("scaledit-engine", worker, job);
  return TRUE;
}

gboolean
sd_runner_busy (SdRunner *runner)
{
  return runner->busy;
}

void
sd_runner_cancel (SdRunner *runner)
{
  g_atomic_int_set (&runner->cancel, 1);
}

void
sd_runner_wait (SdRunner *runner)
{
  GMainContext *context;

  if (!runner->busy)
    return;
  context = g_main_context_ref (runner->job->context);
  while (runner->busy)
    g_main_context_iteration (context, TRUE);
  g_main_context_unref (context);
}

/* pipeline.c: Scale-DiT's two-stage generation: a dense global pass at target/f, the deterministic
 * handover (decode, bicubic upsample, unsharp mask, encode), and the detail pass over the
 * Hilbert-ordered [text | HR | LR] sequence with the local attention plan (and the Scale-DiT bridge
 * LoRA, routed per token stream), then a tiled decode. */
#include <math.h>
#include <string.h>

#include "engine_internal.h"
#include "host_memory.h"
#include "image_ops.h"
#include "layout.h"
#include "lora.h"
#include "noise.h"
#include "spill.h"

#define LATENT_CH 16

typedef struct {
  SdEngine *e;
  const SdRequest *req;
  const SdCallbacks *cb;
  SdPromptEmbeds pos, neg;
  gboolean cfg;       /* true classifier-free guidance */
  int w16, h16, gw, gh; /* generated size and global size, multiples of 16 */
  float *sigmas;      /* global_steps + 1 */
  double mu;
  SdLora *lora;       /* the detail pass's bridge LoRA, or NULL */
  char *lora_name;    /* for the parameters text */
  gsize spill_peak;   /* the VAE runs' intermediates in temporary files, at most */
} Gen;

static gboolean
cancelled (const Gen *g, GError **error)
{
  if (g->cb && g->cb->cancel && g_atomic_int_get (g->cb->cancel))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_CANCELLED, "cancelled");
      return TRUE;
    }
  return FALSE;
}

static void
progress (const Gen *g, const char *phase, int step, int total)
{
  if (g->cb && g->cb->on_progress)
    g->cb->on_progress (phase, step, total, g->cb->user_data);
}

static int
round16 (double v)
{
  int r = (int) floor (v / 16.0 + 0.5) * 16;
  return MAX (r, 16);
}

/* A FLUX run over one sequence layout for the positive (and negative) prompt. */
typedef struct {
  SdFluxRun *pos, *neg;
} Runs;

/* n_lr > 0: the detail pass, whose last n_lr tokens are the LR guidance and which runs the LoRA. */
static gboolean
runs_new (Gen *g, Runs *runs, int n_img, int n_lr, const float *img_ids, double theta, const SdAttnPlan *plan,
          GError **error)
{
  SdFluxSetup s = { 0 };
  int n_text = g->pos.n_t5;
  float *ids = g_new0 (float, (gsize) (n_text + n_img) * 3); /* text positions stay 0 */
  gboolean ok;

  memcpy (ids + (gsize) n_text * 3, img_ids, (gsize) n_img * 3 * sizeof (float));
  s.txt = g->pos.t5;
  s.n_text = n_text;
  s.pooled = g->pos.pooled;
  s.n_img = n_img;
  s.rope_ids = ids;
  s.rope_theta = theta;
  s.plan = plan;
  s.n_lr = n_lr;
  if (n_lr > 0 && g->lora)
    {
      s.lora = g->lora;
      s.lora_scale = g->req->lora_scale;
      s.lora_routing = SD_LORA_ROUTE_SCALE_DIT;
    }
  runs->pos = sd_flux_run_new (g->e->flux, &s, error);
  runs->neg = NULL;
  ok = runs->pos != NULL;
  if (ok && g->cfg)
    {
      s.txt = g->neg.t5;
      s.pooled = g->neg.pooled;
      runs->neg = sd_flux_run_new (g->e->flux, &s, error);
      ok = runs->neg != NULL;
    }
  g_free (ids);
  return ok;
}

static void
runs_free (Runs *runs)
{
  sd_flux_run_free (runs->pos);
  sd_flux_run_free (runs->neg);
}

/* v = model(x) (with true CFG: v_neg + scale * (v_pos - v_neg)) into v. */
static gboolean
velocity (Gen *g, Runs *runs, SdBuf *x, const float *ts, int n_groups, const SdSegments *segs, float guidance,
          SdBuf *v, SdBuf *vneg, gsize n, GError **error)
{
  SdBackend *be = g->e->be;
  if (!sd_flux_forward (runs->pos, x, ts, n_groups, segs, guidance, v, error))
    return FALSE;
  if (!g->cfg)
    return TRUE;
  if (!sd_flux_forward (runs->neg, x, ts, n_groups, segs, guidance, vneg, error))
    return FALSE;
  /* v = s * v + (1 - s) * vneg */
  be->ops->axpby (be, 1.0f - g->req->true_cfg_scale, sd_view (vneg, 0, (int) n), g->req->true_cfg_scale,
                  sd_view (v, 0, (int) n), 1, (int) n);
  return TRUE;
}

/* The VAE on a GPU: its tiles' working memory is an eighth of what the device has free beyond the
 * resident weights and a margin (at least VAE_GPU_MIN_BUDGET, at most VAE_GPU_MAX_BUDGET: FLUX's
 * mid-block attention keeps its keys and values in it up to 8192²), and full-resolution
 * intermediates may stay in what is left, up to VAE_DEVICE_SLOTS (host memory beyond). */
#define VAE_GPU_MIN_BUDGET ((gsize) 256 << 20)
#define VAE_GPU_MAX_BUDGET ((gsize) 8 << 30)
#define VAE_DEVICE_SLOTS ((gsize) 12 << 30)
#define VAE_DEVICE_RESERVE ((gsize) 4 << 30)
/* On the CPU the tiles' working memory is host memory beside the full-size intermediates: smaller
 * tiles (whole-width strips of hundreds of rows at 2048²) keep the peak down. */
#define VAE_CPU_BUDGET ((gsize) 512 << 20)
/* Host memory the VAE's intermediates may always take before going to temporary files. */
#define VAE_HOST_SLOTS_MIN ((gsize) 16 << 20)

/* What the picture's own buffers take beside the VAE: the upscaled guidance image, then the
 * decoded picture and its pixels. */
static gsize
picture_bytes (const Gen *g)
{
  return (gsize) g->w16 * g->h16 * 3 * sizeof (float) * 2;
}

/* How the VAE runs an encode of (or a decode to) a width x height image now. */
static void
vae_tiling (const Gen *g, gboolean encode, int width, int height, SdVaeTiling *t)
{
  const SdBackend *be = g->e->be;
  const gsize used = be->bytes_in_use + VAE_DEVICE_RESERVE;
  const gsize spare = be->device_memory > used ? be->device_memory - used : 0;
  const gint64 avail = sd_host_memory_available ();
  gsize host, spill, work;
  memset (t, 0, sizeof *t);
  t->cancel = g->cb ? g->cb->cancel : NULL;
  if (!be->device_memory)
    t->budget_bytes = VAE_CPU_BUDGET;
  else
    {
      t->budget_bytes = CLAMP (spare / 8, VAE_GPU_MIN_BUDGET, VAE_GPU_MAX_BUDGET);
      t->device_slot_bytes = spare > t->budget_bytes ? MIN (VAE_DEVICE_SLOTS, spare - t->budget_bytes) : 0;
    }
  /* Intermediates beyond what host memory holds beside the picture's buffers and the CPU's tiles
   * (a fifth left for the allocator's slack) go to temporary files, which the system pages:
   * slower, but the request completes. */
  if (avail >= 0 && sd_vae_memory (g->e->vae, encode, width, height, t, &host, &spill, &work, NULL))
    {
      const gsize usable = (gsize) avail / 5 * 4;
      const gsize other = picture_bytes (g) + (be->device_memory ? 0 : work);
      t->host_slot_bytes = usable > other + VAE_HOST_SLOTS_MIN ? usable - other : VAE_HOST_SLOTS_MIN;
    }
}

/* Encodes an image, or decodes latents into one, of width x height, as vae_tiling says. */
static float *
vae_run (Gen *g, gboolean encode, const float *in, int width, int height, GError **error)
{
  const int f = sd_vae_factor (g->e->vae);
  SdVaeTiling t;
  SdVaeStats st;
  float *out;
  vae_tiling (g, encode, width, height, &t);
  out = encode ? sd_vae_encode (g->e->vae, in, width, height, &t, &st, error)
               : sd_vae_decode (g->e->vae, in, width / f, height / f, &t, &st, error);
  g->spill_peak = MAX (g->spill_peak, st.spill_peak_bytes);
  return out;
}

/* The request's largest VAE runs, the handover's encode and the final decode at full size, must
 * fit now: in host memory what cannot go to temporary files (the runs' input and output, the
 * picture's buffers, the CPU's tiles), and on disk the rest. A request too large is refused before
 * any work rather than killed by the system halfway. On a GPU the slots on the device take the
 * first intermediates; the host keeps them as bf16. */
static gboolean
check_host_memory (Gen *g, GError **error)
{
  const gboolean gpu = g->e->be->device_memory != 0;
  const gint64 avail = sd_host_memory_available ();
  gsize need = 0, disk = 0, host, spill, work;
  gint64 space;
  SdVaeTiling t;
  int encode;

  if (avail < 0)
    return TRUE;
  for (encode = 0; encode < 2; encode++)
    {
      vae_tiling (g, encode, g->w16, g->h16, &t);
      if (!sd_vae_memory (g->e->vae, encode, g->w16, g->h16, &t, &host, &spill, &work, error))
        return FALSE;
      if (gpu)
        {
          const gsize off_device = host + spill > t.device_slot_bytes ? host + spill - t.device_slot_bytes : 0;
          host = MIN (host, off_device);
          spill = off_device - host;
        }
      need = MAX (need, host);
      disk = MAX (disk, spill);
    }
  need += picture_bytes (g) + (gpu ? 0 : work);
  need += need / 4; /* the allocator's slack (CPU 2048²: 2.6 GiB before it, 2.8 GiB measured in all) */
  if (need > (guint64) avail)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "a %dx%d picture on the %s needs about %.1f GiB of host memory (the VAE at full size), "
                   "and %.1f GiB is available%s: choose a smaller size, or close other programs%s",
                   g->req->width, g->req->height, gpu ? "GPU" : "CPU", need / 1073741824.0,
                   avail / 1073741824.0,
                   g_getenv ("SCALEDIT_HOST_MEMORY_LIMIT") ? " (SCALEDIT_HOST_MEMORY_LIMIT)" : "",
                   gpu ? "" : ", or use a GPU");
      return FALSE;
    }
  space = disk ? sd_spill_space (NULL) : -1;
  if (space >= 0 && disk > (guint64) space)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "a %dx%d picture needs %.1f GiB of disk in %s for the VAE's intermediates that do not fit "
                   "in memory (%.1f GiB available), and %.1f GiB is free there: choose a smaller size, free "
                   "disk space, or point TMPDIR at a larger disk",
                   g->req->width, g->req->height, disk / 1073741824.0, g_get_tmp_dir (), avail / 1073741824.0,
                   space / 1073741824.0);
      return FALSE;
    }
  return TRUE;
}

static void
raster_ids (int rows, int cols, double scale_r, double scale_c, float *ids)
{
  int r, c;
  for (r = 0; r < rows; r++)
    for (c = 0; c < cols; c++)
      {
        float *p = ids + ((gsize) r * cols + c) * 3;
        p[0] = 0;
        p[1] = (float) (r * scale_r);
        p[2] = (float) (c * scale_c);
      }
}

/* The sampler state stays f32 on every backend (alloc_f32); the model reads a copy of it in the
 * backend's own element type, refreshed before every step. */
static SdBuf *
state_new (SdBackend *be, const float *host, gsize n, GError **error)
{
  SdBuf *s = be->ops->alloc_f32 (be, n, error);
  if (s && !be->ops->upload (be, s, 0, host, n, error))
    {
      be->ops->release (be, s);
      return NULL;
    }
  return s;
}

static void
state_to_model (SdBackend *be, SdBuf *state, SdBuf *x, gsize n)
{
  be->ops->copy (be, sd_view (state, 0, (int) n), sd_view (x, 0, (int) n), 1, (int) n);
}

/* The global pass: dense attention at gw x gh from noise; returns the clean latent. */
static float *
global_pass (Gen *g, GError **error)
{
  SdEngine *e = g->e;
  SdBackend *be = e->be;
  const int rows = g->gh / 16, cols = g->gw / 16, n_img = rows * cols, feat = LATENT_CH * 4;
  const gsize n = (gsize) n_img * feat;
  float *noise = g_new (float, n), *tokens = g_new (float, n), *ids = g_new (float, (gsize) n_img * 3);
  float *latent = NULL;
  Runs runs = { 0 };
  SdBuf *xs = NULL, *x = NULL, *v = NULL, *vneg = NULL;
  int i;

  sd_noise_normal ((guint64) g->req->seed, 0, noise, n);
  sd_latent_pack (noise, LATENT_CH, rows, cols, tokens);
  raster_ids (rows, cols, 1, 1, ids);
  if (!runs_new (g, &runs, n_img, 0, ids, 10000, NULL, error) || !(xs = state_new (be, tokens, n, error))
      || !(x = be->ops->alloc (be, n, error))
      || !(v = be->ops->alloc (be, n, error)) || (g->cfg && !(vneg = be->ops->alloc (be, n, error))))
    goto out;
  for (i = 0; i < g->req->global_steps; i++)
    {
      float t = g->sigmas[i];
      if (cancelled (g, error))
        goto out;
      progress (g, "global", i, g->req->global_steps);
      state_to_model (be, xs, x, n);
      if (!velocity (g, &runs, x, &t, 1, NULL, g->req->global_guidance, v, vneg, n, error))
        goto out;
      sd_euler_step (be, xs, v, n, g->sigmas[i], g->sigmas[i + 1]);
    }
  progress (g, "global", g->req->global_steps, g->req->global_steps);
  if (!be->ops->download (be, xs, 0, tokens, n, error))
    goto out;
  latent = g_new (float, n);
  sd_latent_unpack (tokens, LATENT_CH, rows, cols, latent);
out:
  sd_buf_release (be, xs);
  sd_buf_release (be, x);
  sd_buf_release (be, v);
  sd_buf_release (be, vneg);
  runs_free (&runs);
  g_free (noise);
  g_free (tokens);
  g_free (ids);
  return latent;
}

/* The detail pass: from the handed-over clean HR latent x0 and the clean LR latent, runs the last
 * detail_steps steps of the global schedule; returns the final HR latent. */
static float *
detail_pass (Gen *g, const float *x0, const float *lr_latent, GError **error)
{
  SdEngine *e = g->e;
  SdBackend *be = e->be;
  const SdRequest *q = g->req;
  const int hr_rows = g->h16 / 16, hr_cols = g->w16 / 16, lr_rows = g->gh / 16, lr_cols = g->gw / 16;
  const int n_hr = hr_rows * hr_cols, n_lr = lr_rows * lr_cols, feat = LATENT_CH * 4;
  const int start = q->global_steps - q->detail_steps;
  const gsize n = (gsize) (n_hr + n_lr) * feat, n_hr_el = (gsize) n_hr * feat;
  SdLayoutSpec spec = { 0 };
  SdLayout *lay = NULL;
  SdAttnPlan *plan = NULL;
  SdMaskRules rules = { q->hr_radius, q->lr_radius, q->lr_window_span };
  float *raster = g_new (float, n), *seq = g_new (float, n), *noise = g_new (float, n_hr_el);
  float *ids = g_new (float, (gsize) (n_hr + n_lr) * 3), *out = NULL;
  float sigma0 = g->sigmas[start];
  SdSegment seg[2] = { { 0, n_hr, 0 }, { n_hr, n_lr, 1 } };
  SdSegments segs = { seg, 2 };
  Runs runs = { 0 };
  SdBuf *xs = NULL, *x = NULL, *v = NULL, *vneg = NULL;
  int i;
  gsize k;

  /* HR tokens noised to the start step: x = (1 - sigma) x0 + sigma noise; LR tokens clean. */
  sd_latent_pack (x0, LATENT_CH, hr_rows, hr_cols, raster);
  sd_latent_pack (lr_latent, LATENT_CH, lr_rows, lr_cols, raster + n_hr_el);
  {
    float *nl = g_new (float, n_hr_el);
    sd_noise_normal ((guint64) q->seed, 1, nl, n_hr_el);
    sd_latent_pack (nl, LATENT_CH, hr_rows, hr_cols, noise);
    g_free (nl);
  }
  for (k = 0; k < n_hr_el; k++)
    raster[k] = (1.0f - sigma0) * raster[k] + sigma0 * noise[k];

  spec.n_text = g->pos.n_t5;
  spec.hr_rows = hr_rows;
  spec.hr_cols = hr_cols;
  spec.lr_rows = lr_rows;
  spec.lr_cols = lr_cols;
  spec.window = q->window;
  spec.order = q->order;
  if (!(lay = sd_layout_new (&spec, error)) || !(plan = sd_attn_plan_new (lay, &rules, 0, 0, error)))
    goto out;
  /* the permutation, applied once here and undone once at the end */
  for (i = 0; i < n_hr; i++)
    memcpy (seq + (gsize) i * feat, raster + (gsize) lay->hr_perm[i] * feat, feat * sizeof (float));
  for (i = 0; i < n_lr; i++)
    memcpy (seq + n_hr_el + (gsize) i * feat, raster + n_hr_el + (gsize) lay->lr_perm[i] * feat, feat * sizeof (float));
  for (i = 0; i < n_hr + n_lr; i++)
    memcpy (ids + (gsize) i * 3, lay->rope_ids + (gsize) (lay->hr_start + i) * 3, 3 * sizeof (float));
  if (!runs_new (g, &runs, n_hr + n_lr, n_lr, ids, 10000.0 * q->ntk_factor, plan, error)
      || !(xs = state_new (be, seq, n, error)) || !(x = be->ops->alloc (be, n, error))
      || !(v = be->ops->alloc (be, n, error))
      || (g->cfg && !(vneg = be->ops->alloc (be, n, error))))
    goto out;
  for (i = start; i < q->global_steps; i++)
    {
      float ts[2] = { g->sigmas[i], 0.0f };
      if (cancelled (g, error))
        goto out;
      progress (g, "detail", i - start, q->detail_steps);
      state_to_model (be, xs, x, n);
      if (!velocity (g, &runs, x, ts, 2, &segs, q->detail_guidance, v, vneg, n, error))
        goto out;
      /* only the HR tokens move; the LR guidance stays clean */
      sd_euler_step (be, xs, v, n_hr_el, g->sigmas[i], g->sigmas[i + 1]);
    }
  progress (g, "detail", q->detail_steps, q->detail_steps);
  if (!be->ops->download (be, xs, 0, seq, n_hr_el, error))
    goto out;
  for (i = 0; i < n_hr; i++)
    memcpy (raster + (gsize) lay->hr_perm[i] * feat, seq + (gsize) i * feat, feat * sizeof (float));
  out = g_new (float, n_hr_el);
  sd_latent_unpack (raster, LATENT_CH, hr_rows, hr_cols, out);
out:
  sd_buf_release (be, xs);
  sd_buf_release (be, x);
  sd_buf_release (be, v);
  sd_buf_release (be, vneg);
  runs_free (&runs);
  if (plan)
    sd_attn_plan_free (plan);
  if (lay)
    sd_layout_free (lay);
  g_free (raster);
  g_free (seq);
  g_free (noise);
  g_free (ids);
  return out;
}

/* Handover: the global image (or the upscale input) upsampled to the target, sharpened and encoded. */
static float *
handover (Gen *g, const float *image, int w, int h, GError **error)
{
  float *up = sd_resize_bicubic (image, 3, w, h, g->w16, g->h16, error), *x0 = NULL;
  if (!up)
    return NULL;
  progress (g, "handover", 0, 1);
  if (g->req->sharpen <= 0 || sd_unsharp_mask (up, 3, g->w16, g->h16, g->req->sharpen, error))
    x0 = vae_run (g, TRUE, up, g->w16, g->h16, error);
  g_free (up);
  if (!x0)
    return NULL;
  progress (g, "handover", 1, 1);
  return x0;
}

static char *
cache_key (const Gen *g)
{
  const SdRequest *q = g->req;
  return g_strdup_printf ("%s\n%s\n%" G_GINT64_FORMAT " %dx%d %d %.6g %.6g", q->prompt ? q->prompt : "",
                          q->negative_prompt ? q->negative_prompt : "", q->seed, g->gw, g->gh, q->global_steps,
                          q->global_guidance, g->cfg ? q->true_cfg_scale : 1.0);
}

static void
cache_store (SdEngine *e, char *key, float *latent, float *image, int gw, int gh)
{
  g_free (e->cache.key);
  g_free (e->cache.latent);
  g_free (e->cache.image);
  e->cache.key = key;
  e->cache.latent = latent;
  e->cache.image = image;
  e->cache.gw = gw;
  e->cache.gh = gh;
}

/* The detail pass's LoRA: the request's, else the model folder's scale_dit_lora/ (unless turned
 * off); none with a scale of 0 or without a detail pass. */
static gboolean
load_lora (SdEngine *e, Gen *g, GError **error)
{
  const SdRequest *q = g->req;
  char *path = NULL;
  if (q->global_factor < 2 || q->lora_scale == 0.0f)
    return TRUE;
  if (q->lora_path)
    path = g_strdup (q->lora_path);
  else if (q->use_model_lora && !e->files->single_file && e->files->transformer_config)
    {
      char *tdir = g_path_get_dirname (e->files->transformer_config), *root = g_path_get_dirname (tdir);
      path = g_build_filename (root, "scale_dit_lora", NULL);
      g_free (tdir);
      g_free (root);
      if (!g_file_test (path, G_FILE_TEST_IS_DIR))
        g_clear_pointer (&path, g_free);
    }
  if (!path)
    return TRUE;
  g->lora = sd_lora_load (e->flux, path, error);
  if (g->lora)
    {
      char *clean = g_strdup (path);
      gsize len = strlen (clean);
      while (len > 1 && clean[len - 1] == G_DIR_SEPARATOR)
        clean[--len] = '\0';
      g->lora_name = g_path_get_basename (clean);
      g_free (clean);
    }
  g_free (path);
  return g->lora != NULL;
}

/* Sets an argument error; returns FALSE for `return refuse (...)`. */
static gboolean G_GNUC_PRINTF (2, 3)
refuse (GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (SD_ERROR, SD_ERROR_ARGUMENT, format, args));
  va_end (args);
  return FALSE;
}

/* Every message names the value that is wrong. */
static gboolean
check_request (SdEngine *e, const SdRequest *q, GError **error)
{
  if (q->width < 64 || q->width > 16384)
    return refuse (error, "width %d is out of range: it must be between 64 and 16384 pixels", q->width);
  if (q->height < 64 || q->height > 16384)
    return refuse (error, "height %d is out of range: it must be between 64 and 16384 pixels", q->height);
  if (q->global_factor < 1 || q->global_factor > 16)
    return refuse (error, "global factor %d is out of range: it must be between 1 and 16", q->global_factor);
  if (q->global_steps < 1 || q->global_steps > 1000)
    return refuse (error, "global steps %d is out of range: it must be between 1 and 1000", q->global_steps);
  if (q->global_factor > 1 && (q->detail_steps < 1 || q->detail_steps > q->global_steps))
    return refuse (error, "detail steps %d is out of range: it must be between 1 and the global steps (%d)",
                   q->detail_steps, q->global_steps);
  if (q->window < 1)
    return refuse (error, "window %d is out of range: it must be at least 1 token", q->window);
  if (q->hr_radius < 0 || q->lr_radius < 0 || q->lr_window_span < 0)
    return refuse (error, "radii and span %d/%d/%d: none may be negative", q->hr_radius, q->lr_radius,
                   q->lr_window_span);
  if (q->init_rgb && (q->init_width < 16 || q->init_height < 16 || q->init_width > 16384 || q->init_height > 16384))
    return refuse (error, "the upscale input is %dx%d pixels: each side must be between 16 and 16384",
                   q->init_width, q->init_height);
  if (q->init_rgb && q->global_factor < 2)
    return refuse (error, "upscaling needs a global factor of at least 2, not %d", q->global_factor);
  if (!isfinite (q->lora_scale))
    return refuse (error, "the LoRA scale must be a finite number, not %g", q->lora_scale);
  return TRUE;
}

static char *
parameters_text (SdEngine *e, const Gen *g, gint64 seed)
{
  const SdRequest *q = g->req;
  GString *s = g_string_new (q->prompt ? q->prompt : "");
  if (q->negative_prompt && *q->negative_prompt)
    g_string_append_printf (s, "\nNegative prompt: %s", q->negative_prompt);
  gboolean guided = sd_engine_uses_guidance (e); /* else the guidance values did nothing */
  g_string_append_printf (s, "\nSteps: %d, Sampler: Euler (rectified flow), Seed: %" G_GINT64_FORMAT ", Size: %dx%d, Model: %s",
                          q->global_steps, seed, q->width, q->height, e->files->name);
  if (guided && !q->init_rgb) /* an upscale runs no global pass */
    g_string_append_printf (s, ", Guidance: %.3g", q->global_guidance);
  if (q->global_factor > 1)
    {
      g_string_append_printf (s, ", Detail steps: %d", q->detail_steps);
      if (guided)
        g_string_append_printf (s, ", Detail guidance: %.3g", q->detail_guidance);
      g_string_append_printf (s, ", Global factor: %d, Window: %d, Radii: %d/%d/%d, NTK: %.3g, Sharpen: %.3g",
                              q->global_factor, q->window, q->hr_radius, q->lr_radius, q->lr_window_span,
                              q->ntk_factor, q->sharpen);
    }
  if (g->cfg)
    g_string_append_printf (s, ", True CFG: %.3g", q->true_cfg_scale);
  if (g->lora)
    g_string_append_printf (s, ", LoRA: %s, LoRA scale: %.3g", g->lora_name, q->lora_scale);
  if (q->init_rgb)
    g_string_append_printf (s, ", Upscaled from: %dx%d", q->init_width, q->init_height);
  g_string_append_printf (s, ", Version: scaledit %s", "0.1.0");
  return g_string_free (s, FALSE);
}

SdResult *
sd_engine_generate (SdEngine *e, const SdRequest *req, const SdCallbacks *cb, GError **error)
{
  SdRequest q = *req;
  Gen g = { 0 };
  SdResult *res = NULL;
  float *glatent = NULL, *gimage = NULL, *x0 = NULL, *lr = NULL, *final = NULL, *pixels = NULL;
  gint64 t0 = g_get_monotonic_time ();
  char *key = NULL;

  if (!check_request (e, &q, error))
    return NULL;
  if (q.seed < 0)
    q.seed = g_random_int_range (0, G_MAXINT32);
  g.e = e;
  g.req = &q;
  g.cb = cb;
  g.cfg = q.true_cfg_scale > 1.0f;
  g.w16 = (q.width + 15) / 16 * 16;
  g.h16 = (q.height + 15) / 16 * 16;
  g.gw = q.global_factor > 1 ? round16 ((double) g.w16 / q.global_factor) : g.w16;
  g.gh = q.global_factor > 1 ? round16 ((double) g.h16 / q.global_factor) : g.h16;
  g.sigmas = g_new (float, q.global_steps + 1);
  if (!check_host_memory (&g, error) || !load_lora (e, &g, error))
    goto out;
  /* the detail pass reuses the global pass's schedule and mu */
  g.mu = sd_schedule_mu (&e->schedule, (g.gw / 16) * (g.gh / 16));
  sd_schedule_sigmas (&e->schedule, q.global_steps, g.mu, g.sigmas);
  if (e->be->ops->set_threads)
    e->be->ops->set_threads (e->be, e->opts.threads);

  /* a cancel that came while the model loaded, or while the text encoders ran */
  if (cancelled (&g, error))
    goto out;
  progress (&g, "encode", 0, 1);
  if (!sd_prompt_encode (e, q.prompt, &g.pos, error) || (g.cfg && !sd_prompt_encode (e, q.negative_prompt, &g.neg, error))
      || cancelled (&g, error))
    goto out;
  if (!e->opts.keep_text_encoders)
    sd_engine_release_encoders (e); /* before the transformer needs the memory */
  progress (&g, "encode", 1, 1);

  if (q.init_rgb)
    {
      /* upscale: the input, resized to the global size, is the guidance */
      float *img = sd_rgb_to_image (q.init_rgb, q.init_width, q.init_height, error), *small = NULL;
      if (!img || !(small = sd_resize_bicubic (img, 3, q.init_width, q.init_height, g.gw, g.gh, error)))
        {
          g_free (img);
          goto out;
        }
      lr = vae_run (&g, TRUE, small, g.gw, g.gh, error);
      g_free (small);
      if (!lr || cancelled (&g, error) || !(x0 = handover (&g, img, q.init_width, q.init_height, error)))
        {
          g_free (img);
          goto out;
        }
      g_free (img);
    }
  else
    {
      key = cache_key (&g);
      if (e->cache.key && g_str_equal (e->cache.key, key))
        {
          glatent = g_memdup2 (e->cache.latent, (gsize) LATENT_CH * (g.gw / 8) * (g.gh / 8) * sizeof (float));
          gimage = g_memdup2 (e->cache.image, (gsize) 3 * g.gw * g.gh * sizeof (float));
          progress (&g, "global", q.global_steps, q.global_steps);
        }
      else
        {
          if (!(glatent = global_pass (&g, error)))
            goto out;
          progress (&g, "decode", 0, 1);
          if (!(gimage = vae_run (&g, FALSE, glatent, g.gw, g.gh, error)))
            goto out;
          cache_store (e, g_strdup (key), g_memdup2 (glatent, (gsize) LATENT_CH * (g.gw / 8) * (g.gh / 8) * sizeof (float)),
                       g_memdup2 (gimage, (gsize) 3 * g.gw * g.gh * sizeof (float)), g.gw, g.gh);
        }
      if (cb && cb->on_preview)
        {
          float *rgb = sd_image_to_rgb (gimage, g.gw, g.gh, g.gw, g.gh, error);
          if (!rgb)
            goto out;
          cb->on_preview (rgb, g.gw, g.gh, cb->user_data);
          g_free (rgb);
        }
      if (q.preview_only || q.global_factor == 1)
        {
          final = gimage;
          gimage = NULL;
          goto finish;
        }
      if (cancelled (&g, error) || !(x0 = handover (&g, gimage, g.gw, g.gh, error)))
        goto out;
      lr = glatent;
      glatent = NULL;
    }
  if (!(glatent = detail_pass (&g, x0, lr, error)))
    goto out;
  progress (&g, "decode", 0, 1);
  if (!(final = vae_run (&g, FALSE, glatent, g.w16, g.h16, error)))
    goto out;
finish:
  progress (&g, "decode", 1, 1);
  pixels = q.preview_only ? sd_image_to_rgb (final, g.gw, g.gh, g.gw, g.gh, error)
                          : sd_image_to_rgb (final, g.w16, g.h16, q.width, q.height, error);
  if (!pixels)
    goto out;
  res = g_new0 (SdResult, 1);
  res->width = q.preview_only ? g.gw : q.width;
  res->height = q.preview_only ? g.gh : q.height;
  res->rgb = pixels;
  res->seed = q.seed;
  res->prompt_truncated = g.pos.truncated;
  res->parameters = parameters_text (e, &g, q.seed);
  res->seconds = (g_get_monotonic_time () - t0) / 1e6;
  res->peak_device_bytes = e->be->peak_bytes;
  res->spill_peak_bytes = g.spill_peak;
out:
  sd_prompt_embeds_clear (&g.pos);
  sd_prompt_embeds_clear (&g.neg);
  g_free (g.sigmas);
  sd_lora_free (g.lora);
  g_free (g.lora_name);
  g_free (glatent);
  g_free (gimage);
  g_free (x0);
  g_free (lr);
  g_free (final);
  g_free (key);
  return res;
}

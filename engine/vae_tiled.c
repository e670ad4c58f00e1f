/* vae_tiled.c: runs a VAE pass plan tile by tile. Full-resolution images live in host memory; each
 * tile goes to the device with the halo its conv needs (zero padding where it meets the image
 * edge), is normalized with whole-image GroupNorm statistics gathered by the pass that produced
 * it, and comes back; so the result does not depend on the tile size. */
#include <math.h>
#include <string.h>

#include "scaledit.h"
#include "spill.h"
#include "vae_internal.h"

/* Device bytes a backend's conv may hold as scratch (the largest im2col chunk bound: CUDA's). */
#define CONV_SCRATCH_BYTES (32u << 20)
/* Floats of attention scores the backend may hold for a block of queries (the CPU backend's
 * bound; at least one row of scores). */
#define ATTN_SCRATCH_FLOATS (4u << 20)
#define DEFAULT_BUDGET ((gsize) 2 << 30)
#define MAX_GROUPS 256

typedef struct {
  const SdVae *vae;
  SdBackend *be;
  VaePlan *plan;
  const SdVaeTiling *tiling;
  gsize budget;
  int tiles_done, tiles_total;
  gsize host_bytes, host_peak, kv_bytes;
  gsize spill_bytes, spill_peak;
  int kv_chunks;
  gsize device_peak, tile_peak, attn_peak; /* device bytes above the weights */
  gsize slot_cap, slot_dev_bytes;          /* device-resident slots: allowed, in use */
  double in_read, in_unique;
} Run;

typedef struct {
  int th, tw; /* tile size in output pixels */
  int n;      /* tiles */
} TilePlan;

static VaeSlot *
slot (Run *r, int i)
{
  return &g_array_index (r->plan->slots, VaeSlot, i);
}

static gsize
conv_tile_bytes (Run *r, const VaePass *p, int th, int tw)
{
  const VaeSlot *in = slot (r, p->in);
  const int s = p->stride, k = p->conv->k;
  gsize rows = (gsize) (th - 1) * s + k, cols = (gsize) (tw - 1) * s + k;
  gsize px = (gsize) th * tw;
  gsize n = (gsize) in->c * rows * cols + (gsize) p->c_out * px + 4 * r->plan->groups;
  gsize scratch = k > 1 || s > 1 ? MIN ((gsize) CONV_SCRATCH_BYTES, (gsize) in->c * k * k * px * 4) : 0;
  if (p->upsample)
    n += (gsize) in->c * (rows / 2 + 2) * (cols / 2 + 2);
  if (p->res >= 0)
    n += (gsize) slot (r, p->res)->c * px + (p->shortcut ? (gsize) p->c_out * px : 0);
  return n * sizeof (float) + scratch;
}

/* Keys and values per chunk of the mid-block attention: all of them when they take at most half
 * the budget (they stay in it, as the query tiles stream past); else chunks of half the budget,
 * the whole set kept outside it (a device slot or host memory) and streamed through for every
 * query tile, the chunks' results merged by their log-sum-exps (online softmax). */
static gsize
attn_kv_chunk (Run *r, const VaePass *p)
{
  const VaeSlot *x = slot (r, p->in);
  const gsize tokens = (gsize) x->h * x->w, row = 2 * (gsize) x->c * sizeof (float);
  return tokens * row <= r->budget / 2 ? tokens : CLAMP (r->budget / 2 / row, 1, tokens);
}

static gsize
attn_tile_bytes (Run *r, const VaePass *p, int th, int tw)
{
  const VaeSlot *x = slot (r, p->in);
  const gsize tokens = (gsize) x->h * x->w, c = x->c, t = (gsize) th * tw, kv = attn_kv_chunk (r, p);
  const gsize scores = MIN (t * kv, MAX ((gsize) ATTN_SCRATCH_FLOATS, kv));
  const gsize merge = kv < tokens ? c * t + 2 * t : 0; /* running result and log-sum-exps, f32 */
  return (2 * kv * c + 5 * c * t + scores + merge + 256 + 4 * r->plan->groups) * sizeof (float);
}

static gsize
tile_bytes (Run *r, const VaePass *p, int th, int tw)
{
  return p->kind == VAE_PASS_ATTN ? attn_tile_bytes (r, p, th, tw) : conv_tile_bytes (r, p, th, tw);
}

/* The largest tile within the budget: square, or whole-width strips once a row fits. */
static gboolean
choose_tile (Run *r, const VaePass *p, TilePlan *tp, GError **error)
{
  const VaeSlot *out = slot (r, p->out);
  const int H = out->h, W = out->w;
  const int cap = r->tiling && r->tiling->max_tile > 0 ? r->tiling->max_tile : G_MAXINT;
  int lo = 1, hi = MIN (MAX (H, W), cap), t, th, tw;

  if (tile_bytes (r, p, 1, 1) > r->budget)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "the VAE's working memory of %.1f MiB is too small for its %d-channel %dx%d layer, "
                   "whose smallest tile needs %.1f MiB: free memory on the device or choose a smaller size",
                   r->budget / 1048576.0, out->c, W, H, tile_bytes (r, p, 1, 1) / 1048576.0);
      return FALSE;
    }
  while (lo < hi)
    {
      int mid = lo + (hi - lo + 1) / 2;
      if (tile_bytes (r, p, MIN (mid, H), MIN (mid, W)) <= r->budget)
        lo = mid;
      else
        hi = mid - 1;
    }
  t = lo;
  th = MIN (t, H);
  tw = MIN (t, W);
  if (tw == W)
    while (th < MIN (H, cap) && tile_bytes (r, p, th + 1, tw) <= r->budget)
      th++;
  tp->th = th;
  tp->tw = tw;
  tp->n = ((H + th - 1) / th) * ((W + tw - 1) / tw);
  return TRUE;
}

/* A host slot's element size and first element: bf16 (half) or f32 (data). */
static gsize
host_elem (const VaeSlot *s)
{
  return s->half ? sizeof (guint16) : sizeof (float);
}

static char *
host_at (const VaeSlot *s, int ch, int y, int x)
{
  return (s->half ? (char *) s->half : (char *) s->data)
         + (((gsize) ch * s->h + y) * s->w + x) * host_elem (s);
}

/* Copies channels [0, c) rows [y0, y1) cols [x0, x1) of a host slot into a compact array. The
 * rows are copied by all threads: at 4096² a tile is hundreds of MB, and a new slot's first
 * writes also fault its pages in. */
static void
gather (const VaeSlot *s, int c, int y0, int y1, int x0, int x1, void *dst)
{
  const gsize row = (gsize) (x1 - x0) * host_elem (s);
  const gint64 rows = y1 - y0;
  gint64 k;
#pragma omp parallel for schedule(static)
  for (k = 0; k < c * rows; k++)
    memcpy ((char *) dst + k * row, host_at (s, (int) (k / rows), y0 + (int) (k % rows), x0), row);
}

static void
scatter (VaeSlot *s, int y0, int y1, int x0, int x1, const void *src)
{
  const gsize row = (gsize) (x1 - x0) * host_elem (s);
  const gint64 rows = y1 - y0;
  gint64 k;
#pragma omp parallel for schedule(static)
  for (k = 0; k < s->c * rows; k++)
    memcpy (host_at (s, (int) (k / rows), y0 + (int) (k % rows), x0), (const char *) src + k * row, row);
}

/* n elements of host slot data at src into buf at off, and back, in the slot's element type. */
static gboolean
host_to_device (Run *r, const VaeSlot *s, const void *src, SdBuf *buf, gsize off, gsize n, GError **error)
{
  return s->half ? r->be->ops->upload_bf16 (r->be, buf, off, src, n, error)
                 : r->be->ops->upload (r->be, buf, off, src, n, error);
}

static gboolean
device_to_host (Run *r, const VaeSlot *s, SdBuf *buf, gsize off, void *dst, gsize n, GError **error)
{
  return s->half ? r->be->ops->download_bf16 (r->be, buf, off, dst, n, error)
                 : r->be->ops->download (r->be, buf, off, dst, n, error);
}

/* Channels [0, c) rows [y0, y1) cols [x0, x1) of a slot into dst (compact planes) on the device:
 * device copies for a resident slot; from a host slot, each channel's rows straight from the slot
 * when the tile spans its width (they are contiguous there), else through the host stage. */
static gboolean
slot_read (Run *r, const VaeSlot *s, int c, int y0, int y1, int x0, int x1, SdBuf *dst, float *stage,
           GError **error)
{
  SdBackend *be = r->be;
  const int rows = y1 - y0, cols = x1 - x0;
  const gsize plane = (gsize) s->h * s->w, tile = (gsize) rows * cols;
  int ch;
  if (!s->dev && cols == s->w)
    {
      for (ch = 0; ch < c; ch++)
        if (!host_to_device (r, s, host_at (s, ch, y0, 0), dst, ch * tile, tile, error))
          return FALSE;
      return TRUE;
    }
  if (!s->dev)
    {
      gather (s, c, y0, y1, x0, x1, stage);
      return host_to_device (r, s, stage, dst, 0, (gsize) c * tile, error);
    }
  if (cols == s->w)
    be->ops->copy (be, sd_view (s->dev, (gsize) y0 * s->w, (int) plane), sd_view (dst, 0, (int) tile), c,
                   (int) tile);
  else
    for (ch = 0; ch < c; ch++)
      be->ops->copy (be, sd_view (s->dev, ch * plane + (gsize) y0 * s->w + x0, s->w),
                     sd_view (dst, ch * tile, cols), rows, cols);
  return TRUE;
}

/* The inverse: src (compact planes of all s->c channels) into rows [y0, y1) cols [x0, x1). */
static gboolean
slot_write (Run *r, VaeSlot *s, int y0, int y1, int x0, int x1, SdBuf *src, float *stage, GError **error)
{
  SdBackend *be = r->be;
  const int rows = y1 - y0, cols = x1 - x0;
  const gsize plane = (gsize) s->h * s->w, tile = (gsize) rows * cols;
  int ch;
  if (!s->dev && cols == s->w)
    {
      for (ch = 0; ch < s->c; ch++)
        if (!device_to_host (r, s, src, ch * tile, host_at (s, ch, y0, 0), tile, error))
          return FALSE;
      return TRUE;
    }
  if (!s->dev)
    {
      if (!device_to_host (r, s, src, 0, stage, (gsize) s->c * tile, error))
        return FALSE;
      scatter (s, y0, y1, x0, x1, stage);
      return TRUE;
    }
  if (cols == s->w)
    be->ops->copy (be, sd_view (src, 0, (int) tile), sd_view (s->dev, (gsize) y0 * s->w, (int) plane), s->c,
                   (int) tile);
  else
    for (ch = 0; ch < s->c; ch++)
      be->ops->copy (be, sd_view (src, ch * tile, cols),
                     sd_view (s->dev, ch * plane + (gsize) y0 * s->w + x0, s->w), rows, cols);
  return TRUE;
}

/* Whether a new host slot of `bytes` goes to a temporary file: when it would take the slots in host
 * memory past tiling->host_slot_bytes; never the plan's output, which the caller takes over. */
static gboolean
must_spill (const Run *r, gsize bytes, gboolean output)
{
  const gsize cap = r->tiling ? r->tiling->host_slot_bytes : 0;
  return cap && !output && r->host_bytes + bytes > cap;
}

/* Device memory for the slot when it fits the cap; else host memory: bf16 on a backend that
 * transfers bf16 as it is (its buffers hold no more; half the bytes to keep and to move), except
 * the plan's output, which the caller takes as f32. */
static gboolean
slot_alloc (Run *r, VaeSlot *s, GError **error)
{
  gsize n = (gsize) s->c * s->h * s->w;
  gboolean half = r->be->ops->upload_bf16 && r->be->ops->download_bf16 && s != slot (r, r->plan->output);
  if (s->data || s->half || s->dev)
    return TRUE;
  if (r->slot_cap && r->slot_dev_bytes + n * sizeof (float) / 2 <= r->slot_cap)
    {
      /* resident on the device when it fits (the backend's own element size is counted) */
      gsize before = r->be->bytes_in_use;
      s->dev = r->be->ops->alloc (r->be, n ? n : 1, NULL);
      if (s->dev && r->slot_dev_bytes + (r->be->bytes_in_use - before) <= r->slot_cap)
        {
          r->slot_dev_bytes += r->be->bytes_in_use - before;
          return TRUE;
        }
      if (s->dev)
        r->be->ops->release (r->be, s->dev);
      s->dev = NULL;
    }
  if (must_spill (r, n * (half ? 2 : sizeof (float)), s == slot (r, r->plan->output)))
    {
      void *p = sd_spill_alloc (r->tiling->spill_dir, n * (half ? 2 : sizeof (float)), error);
      if (!p)
        return FALSE;
      if (half)
        s->half = p;
      else
        s->data = p;
      s->spilled = n * host_elem (s);
      r->spill_bytes += s->spilled;
      r->spill_peak = MAX (r->spill_peak, r->spill_bytes);
      return TRUE;
    }
  if (half)
    s->half = g_try_new (guint16, n ? n : 1);
  else
    s->data = g_try_new (float, n ? n : 1);
  if (!s->data && !s->half)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "out of host memory for a %d-channel %dx%d VAE intermediate (%.1f MiB)", s->c,
                   s->w, s->h, n * (half ? 2.0 : 4.0) / 1048576.0);
      return FALSE;
    }
  r->host_bytes += n * host_elem (s);
  r->host_peak = MAX (r->host_peak, r->host_bytes);
  return TRUE;
}

static void
slot_release (Run *r, VaeSlot *s)
{
  if (s->dev)
    {
      gsize before = r->be->bytes_in_use;
      r->be->ops->release (r->be, s->dev);
      r->slot_dev_bytes -= MIN (r->slot_dev_bytes, before - r->be->bytes_in_use);
      s->dev = NULL;
    }
  if (!s->data && !s->half)
    return;
  if (s->spilled)
    {
      sd_spill_free (s->data ? (void *) s->data : (void *) s->half, s->spilled);
      r->spill_bytes -= s->spilled;
      s->spilled = 0;
      s->data = NULL;
      s->half = NULL;
      return;
    }
  r->host_bytes -= (gsize) s->c * s->h * s->w * host_elem (s);
  g_clear_pointer (&s->data, g_free);
  g_clear_pointer (&s->half, g_free);
}

static void
stats_reset (Run *r, VaeSlot *s)
{
  const int G = r->plan->groups;
  if (!s->needs_stats)
    return;
  if (!s->mean)
    {
      s->mean = g_new (double, G);
      s->m2 = g_new (double, G);
    }
  memset (s->mean, 0, G * sizeof (double));
  memset (s->m2, 0, G * sizeof (double));
  s->count = 0;
}

/* Merges one tile's per-group (mean, M2) over `n` elements each (Chan et al.). */
static void
stats_merge (Run *r, VaeSlot *s, const float *tile, gint64 n)
{
  const int G = r->plan->groups;
  gint64 na = s->count, nt = na + n;
  int g;
  for (g = 0; g < G; g++)
    {
      double delta = tile[2 * g] - s->mean[g];
      s->mean[g] += delta * n / nt;
      s->m2[g] += tile[2 * g + 1] + delta * delta * (double) na * n / nt;
    }
  s->count = nt;
}

/* Uploads the slot's whole-image mean and 1/std per group. */
static gboolean
upload_mean_rstd (Run *r, VaeSlot *s, SdBuf *dst, GError **error)
{
  const int G = r->plan->groups;
  float *mr = g_new (float, 2 * G);
  gboolean ok;
  int g;
  for (g = 0; g < G; g++)
    {
      mr[2 * g] = (float) s->mean[g];
      mr[2 * g + 1] = (float) (1.0 / sqrt (s->m2[g] / s->count + SD_VAE_NORM_EPS));
    }
  ok = r->be->ops->upload (r->be, dst, 0, mr, 2 * G, error);
  g_free (mr);
  return ok;
}

static gboolean
tile_done (Run *r, GError **error)
{
  r->tiles_done++;
  if (r->tiling && r->tiling->on_tile)
    r->tiling->on_tile (r->tiles_done, r->tiles_total, r->tiling->user_data);
  return TRUE;
}

static gboolean
cancelled (Run *r, GError **error)
{
  if (r->tiling && r->tiling->cancel && g_atomic_int_get (r->tiling->cancel))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_CANCELLED, "VAE cancelled");
      return TRUE;
    }
  return FALSE;
}

/* Device buffers of one pass, released together. */
typedef struct {
  SdBuf *b[12];
  int n;
} Bufs;

static SdBuf *
bufs_alloc_as (Run *r, Bufs *bs, gboolean f32, gsize n, GError **error)
{
  SdBuf *b;
  g_assert (bs->n < (int) G_N_ELEMENTS (bs->b));
  b = (f32 ? r->be->ops->alloc_f32 : r->be->ops->alloc) (r->be, n ? n : 1, error);
  if (b)
    bs->b[bs->n++] = b;
  return b;
}

static SdBuf *
bufs_alloc (Run *r, Bufs *bs, gsize n, GError **error)
{
  return bufs_alloc_as (r, bs, FALSE, n, error);
}

/* Group statistics and mean/rstd stay f32 on every backend. */
static SdBuf *
bufs_alloc_stats (Run *r, Bufs *bs, int groups, GError **error)
{
  return bufs_alloc_as (r, bs, TRUE, 2 * (gsize) groups, error);
}

static void
bufs_release (Run *r, Bufs *bs)
{
  int i;
  for (i = 0; i < bs->n; i++)
    r->be->ops->release (r->be, bs->b[i]);
  bs->n = 0;
}

/* Gathers the tile's group statistics of d_out (c planes of n) into the output slot. */
static gboolean
tile_stats (Run *r, VaeSlot *out, SdBuf *d_out, int c, int n, SdBuf *d_stats, float *h_stats, GError **error)
{
  if (!out->needs_stats)
    return TRUE;
  r->be->ops->group_norm_stats (r->be, sd_view (d_out, 0, n), c, n, r->plan->groups, sd_view (d_stats, 0, 0));
  if (!r->be->ops->download (r->be, d_stats, 0, h_stats, 2 * r->plan->groups, error))
    return FALSE;
  stats_merge (r, out, h_stats, (gint64) (c / r->plan->groups) * n);
  return TRUE;
}

static gboolean
run_conv (Run *r, const VaePass *p, const TilePlan *tp, GError **error)
{
  SdBackend *be = r->be;
  VaeSlot *in = slot (r, p->in), *out = slot (r, p->out), *res = p->res >= 0 ? slot (r, p->res) : NULL;
  const int s = p->stride, k = p->conv->k, G = r->plan->groups;
  const int Hc = p->upsample ? 2 * in->h : in->h, Wc = p->upsample ? 2 * in->w : in->w;
  const int rows_max = MIN ((tp->th - 1) * s + k, Hc), cols_max = MIN ((tp->tw - 1) * s + k, Wc);
  const gsize px_max = (gsize) tp->th * tp->tw;
  const gsize low_max = p->upsample ? (gsize) in->c * (rows_max / 2 + 2) * (cols_max / 2 + 2) : 0;
  const gsize stage_n = MAX (MAX ((gsize) in->c * rows_max * cols_max, low_max),
                             MAX ((gsize) p->c_out, res ? (gsize) res->c : 0) * px_max);
  Bufs bs = { 0 };
  SdBuf *d_in, *d_low = NULL, *d_out, *d_res = NULL, *d_tmp = NULL, *d_stats, *d_mr;
  float *stage = NULL, h_stats[2 * MAX_GROUPS];
  gboolean ok = FALSE;
  int oy0, ox0;

  if (!(d_in = bufs_alloc (r, &bs, (gsize) in->c * rows_max * cols_max, error))
      || (p->upsample && !(d_low = bufs_alloc (r, &bs, low_max, error)))
      || !(d_out = bufs_alloc (r, &bs, (gsize) p->c_out * px_max, error))
      || (res && !(d_res = bufs_alloc (r, &bs, (gsize) res->c * px_max, error)))
      || (p->shortcut && !(d_tmp = bufs_alloc (r, &bs, (gsize) p->c_out * px_max, error)))
      || !(d_stats = bufs_alloc_stats (r, &bs, G, error)) || !(d_mr = bufs_alloc_stats (r, &bs, G, error)))
    goto out;
  if (p->norm && !upload_mean_rstd (r, in, d_mr, error))
    goto out;
  stage = g_try_new (float, stage_n);
  if (!stage)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "out of host memory for a VAE tile");
      goto out;
    }
  stats_reset (r, out);
  r->in_unique += (double) in->c * Hc * Wc;

  for (oy0 = 0; oy0 < out->h; oy0 += tp->th)
    for (ox0 = 0; ox0 < out->w; ox0 += tp->tw)
      {
        const int oy1 = MIN (out->h, oy0 + tp->th), ox1 = MIN (out->w, ox0 + tp->tw);
        const int n = (oy1 - oy0) * (ox1 - ox0);
        /* The conv input rows/cols this tile needs, clipped to the image; the rest is padding. */
        const int ya = oy0 * s - p->pad_top, yb = (oy1 - 1) * s - p->pad_top + k;
        const int xa = ox0 * s - p->pad_left, xb = (ox1 - 1) * s - p->pad_left + k;
        const int a0 = MAX (0, ya), a1 = MIN (Hc, yb), b0 = MAX (0, xa), b1 = MIN (Wc, xb);
        const int hin = a1 - a0, win = b1 - b0;
        SdConv2dArgs ca = { 0 };

        if (cancelled (r, error))
          goto out;
        if (p->upsample)
          {
            const int l0 = a0 >> 1, l1 = ((a1 - 1) >> 1) + 1, m0 = b0 >> 1, m1 = ((b1 - 1) >> 1) + 1;
            if (!slot_read (r, in, in->c, l0, l1, m0, m1, d_low, stage, error))
              goto out;
            be->ops->upsample_nearest2x (be, sd_view (d_low, 0, (l1 - l0) * (m1 - m0)), in->c, l1 - l0,
                                         m1 - m0, sd_view (d_in, 0, hin * win), hin, win, a0 & 1, b0 & 1);
          }
        else if (!slot_read (r, in, in->c, a0, a1, b0, b1, d_in, stage, error))
          goto out;
        r->in_read += (double) in->c * hin * win;
        if (p->norm)
          be->ops->group_norm_apply (be, sd_view (d_in, 0, hin * win), sd_view (d_in, 0, hin * win), in->c,
                                     hin * win, G, d_mr, p->norm->w, p->norm->b,
                                     p->silu ? SD_ACT_SILU : SD_ACT_NONE);
        ca.x = sd_view (d_in, 0, hin * win);
        ca.y = sd_view (d_out, 0, n);
        ca.c_in = in->c;
        ca.h = hin;
        ca.w = win;
        ca.c_out = p->c_out;
        ca.kh = ca.kw = k;
        ca.stride = s;
        ca.pad_top = a0 - ya;
        ca.pad_bottom = yb - a1;
        ca.pad_left = b0 - xa;
        ca.pad_right = xb - b1;
        ca.weight = p->conv->w;
        ca.bias = p->conv->b;
        be->ops->conv2d (be, &ca);
        if (res)
          {
            SdBuf *add = d_res;
            if (!slot_read (r, res, res->c, oy0, oy1, ox0, ox1, d_res, stage, error))
              goto out;
            if (p->shortcut)
              {
                SdConv2dArgs sa = { 0 };
                sa.x = sd_view (d_res, 0, n);
                sa.y = sd_view (d_tmp, 0, n);
                sa.c_in = res->c;
                sa.h = oy1 - oy0;
                sa.w = ox1 - ox0;
                sa.c_out = p->c_out;
                sa.kh = sa.kw = sa.stride = 1;
                sa.weight = p->shortcut->w;
                sa.bias = p->shortcut->b;
                be->ops->conv2d (be, &sa);
                add = d_tmp;
              }
            be->ops->axpby (be, 1.0f, sd_view (add, 0, n), 1.0f, sd_view (d_out, 0, n), p->c_out, n);
          }
        if (!tile_stats (r, out, d_out, p->c_out, n, d_stats, h_stats, error)
            || !slot_write (r, out, oy0, oy1, ox0, ox1, d_out, stage, error))
          goto out;
        if (!tile_done (r, error))
          goto out;
      }
  ok = be->ops->sync (be, error);
out:
  g_free (stage);
  bufs_release (r, &bs);
  return ok;
}

/* Normalizes tile x (c planes of n) into xn and transposes it to tokens x channels in xt. */
static void
attn_tokens (Run *r, const VaePass *p, SdBuf *x, SdBuf *xn, SdBuf *xt, SdBuf *mr, int c, int n)
{
  SdBackend *be = r->be;
  be->ops->group_norm_apply (be, sd_view (x, 0, n), sd_view (xn, 0, n), c, n, r->plan->groups, mr,
                             p->attn->norm.w, p->attn->norm.b, SD_ACT_NONE);
  be->ops->transpose (be, sd_view (xn, 0, n), sd_view (xt, 0, c), c, n);
}

/* Where phase 0 of the attention writes the key (or value) rows of a tile: into the store itself
 * when it is on the device, else into tmp, which kv_rows_flush then copies to the host store. The
 * stores are slots of one channel: tokens rows of c, in tile order (attention does not depend on
 * the keys' order). */
static SdView
kv_rows_view (const VaeSlot *s, gsize n0, SdBuf *tmp)
{
  return s->dev ? sd_view (s->dev, n0 * s->w, s->w) : sd_view (tmp, 0, s->w);
}

static gboolean
kv_rows_flush (Run *r, const VaeSlot *s, gsize n0, int n, SdBuf *tmp, GError **error)
{
  return s->dev || device_to_host (r, s, tmp, 0, host_at (s, 0, (int) n0, 0), (gsize) n * s->w, error);
}

/* Rows [j0, j0 + len) of a store as a device view: in place on the device, or copied into chunk. */
static gboolean
kv_chunk_view (Run *r, const VaeSlot *s, gsize j0, int len, SdBuf *chunk, SdView *v, GError **error)
{
  if (s->dev)
    {
      *v = sd_view (s->dev, j0 * s->w, s->w);
      return TRUE;
    }
  *v = sd_view (chunk, 0, s->w);
  return host_to_device (r, s, host_at (s, 0, (int) j0, 0), chunk, 0, (gsize) len * s->w, error);
}

/* Attention of n query rows (q) over every key, into o: in one call when the keys are one chunk,
 * else chunk by chunk, the results merged by their log-sum-exps into acc (f32) and copied to o. */
static gboolean
attend_all (Run *r, const VaeSlot *ks, const VaeSlot *vs, gsize kv_chunk, SdBuf *q, int n, SdBuf *o,
            SdBuf *kc, SdBuf *vc, SdBuf *acc, SdBuf *acc_lse, SdBuf *part_lse, GError **error)
{
  SdBackend *be = r->be;
  const int c = ks->w;
  const gsize tokens = ks->h;
  SdAttnArgs aa = { 0 };
  gsize j0;

  aa.q = sd_view (q, 0, c);
  aa.out = sd_view (o, 0, c);
  aa.n_q = n;
  aa.heads = 1;
  aa.head_dim = c;
  aa.scale = (float) (1.0 / sqrt ((double) c));
  for (j0 = 0; j0 < tokens; j0 += kv_chunk)
    {
      aa.n_kv = (int) MIN (kv_chunk, tokens - j0);
      if (!kv_chunk_view (r, ks, j0, aa.n_kv, kc, &aa.k, error)
          || !kv_chunk_view (r, vs, j0, aa.n_kv, vc, &aa.v, error))
        return FALSE;
      if (kv_chunk < tokens)
        aa.lse = j0 == 0 ? acc_lse : part_lse;
      be->ops->attention (be, &aa);
      if (kv_chunk >= tokens)
        return TRUE;
      if (j0 == 0)
        be->ops->copy (be, sd_view (o, 0, c), sd_view (acc, 0, c), n, c);
      else
        be->ops->attention_merge (be, sd_view (acc, 0, c), sd_view (acc_lse, 0, 1), sd_view (o, 0, c),
                                  sd_view (part_lse, 0, 1), n, c);
    }
  be->ops->copy (be, sd_view (acc, 0, c), sd_view (o, 0, c), n, c);
  return TRUE;
}

/* The mid-block self-attention (one head of dim C over all latent pixels), in place: keys and
 * values of the whole latent first (phase 0), then the queries tile by tile (phase 1). The keys
 * and values stay in the tile budget when they fit half of it (attn_kv_chunk); else they are kept
 * in a device slot or host memory and streamed in chunks. */
static gboolean
run_attn (Run *r, const VaePass *p, const TilePlan *tp, GError **error)
{
  SdBackend *be = r->be;
  const VaeAttn *a = p->attn;
  VaeSlot *x = slot (r, p->in);
  const int c = x->c, G = r->plan->groups;
  const gsize tokens = (gsize) x->h * x->w, px_max = (gsize) tp->th * tp->tw;
  const gsize kv_chunk = attn_kv_chunk (r, p);
  const gboolean in_budget = kv_chunk >= tokens;
  VaeSlot ks = { 1, (int) tokens, c }, vs = { 1, (int) tokens, c };
  Bufs bs = { 0 };
  SdBuf *d_kc = NULL, *d_vc = NULL, *d_x, *d_xn, *d_t, *d_q, *d_o, *d_stats, *d_mr;
  SdBuf *d_acc = NULL, *d_la = NULL, *d_lp = NULL;
  float *stage = NULL, h_stats[2 * MAX_GROUPS];
  gboolean ok = FALSE;
  int phase, oy0, ox0;

  if (in_budget)
    {
      if (!(ks.dev = bufs_alloc (r, &bs, tokens * c, error)) || !(vs.dev = bufs_alloc (r, &bs, tokens * c, error)))
        goto out;
    }
  else if (!slot_alloc (r, &ks, error) || !slot_alloc (r, &vs, error)
           || (!ks.dev && (!(d_kc = bufs_alloc (r, &bs, kv_chunk * c, error))
                           || !(d_vc = bufs_alloc (r, &bs, kv_chunk * c, error))))
           || !(d_acc = bufs_alloc_as (r, &bs, TRUE, c * px_max, error))
           || !(d_la = bufs_alloc_as (r, &bs, TRUE, px_max, error))
           || !(d_lp = bufs_alloc_as (r, &bs, TRUE, px_max, error)))
    goto out;
  if (!(d_x = bufs_alloc (r, &bs, c * px_max, error)) || !(d_xn = bufs_alloc (r, &bs, c * px_max, error))
      || !(d_t = bufs_alloc (r, &bs, c * px_max, error)) || !(d_q = bufs_alloc (r, &bs, c * px_max, error))
      || !(d_o = bufs_alloc (r, &bs, c * px_max, error)) || !(d_stats = bufs_alloc_stats (r, &bs, G, error))
      || !(d_mr = bufs_alloc_stats (r, &bs, G, error)) || !upload_mean_rstd (r, x, d_mr, error))
    goto out;
  r->kv_bytes = MAX (r->kv_bytes, 2 * kv_chunk * c * sizeof (float));
  r->kv_chunks = MAX (r->kv_chunks, (int) ((tokens + kv_chunk - 1) / kv_chunk));
  stage = g_try_new (float, c * px_max);
  if (!stage)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "out of host memory for a VAE tile");
      goto out;
    }

  for (phase = 0; phase < 2; phase++)
    {
      gsize n0 = 0;
      if (phase == 1)
        stats_reset (r, x);
      for (oy0 = 0; oy0 < x->h; oy0 += tp->th)
        for (ox0 = 0; ox0 < x->w; ox0 += tp->tw)
          {
            const int oy1 = MIN (x->h, oy0 + tp->th), ox1 = MIN (x->w, ox0 + tp->tw);
            const int n = (oy1 - oy0) * (ox1 - ox0);

            if (cancelled (r, error))
              goto out;
            if (!slot_read (r, x, c, oy0, oy1, ox0, ox1, d_x, stage, error))
              goto out;
            attn_tokens (r, p, d_x, d_xn, d_t, d_mr, c, n);
            if (phase == 0)
              {
                be->ops->linear (be, sd_view (d_t, 0, c), n, c, a->k_w, a->k_b, kv_rows_view (&ks, n0, d_q), c,
                                 SD_ACT_NONE);
                be->ops->linear (be, sd_view (d_t, 0, c), n, c, a->v_w, a->v_b, kv_rows_view (&vs, n0, d_o), c,
                                 SD_ACT_NONE);
                if (!kv_rows_flush (r, &ks, n0, n, d_q, error) || !kv_rows_flush (r, &vs, n0, n, d_o, error))
                  goto out;
                n0 += n;
              }
            else
              {
                be->ops->linear (be, sd_view (d_t, 0, c), n, c, a->q_w, a->q_b, sd_view (d_q, 0, c), c, SD_ACT_NONE);
                if (!attend_all (r, &ks, &vs, kv_chunk, d_q, n, d_o, d_kc, d_vc, d_acc, d_la, d_lp, error))
                  goto out;
                be->ops->linear (be, sd_view (d_o, 0, c), n, c, a->o_w, a->o_b, sd_view (d_t, 0, c), c, SD_ACT_NONE);
                be->ops->transpose (be, sd_view (d_t, 0, c), sd_view (d_xn, 0, n), n, c);
                be->ops->axpby (be, 1.0f, sd_view (d_x, 0, n), 1.0f, sd_view (d_xn, 0, n), c, n);
                if (!tile_stats (r, x, d_xn, c, n, d_stats, h_stats, error)
                    || !slot_write (r, x, oy0, oy1, ox0, ox1, d_xn, stage, error))
                  goto out;
              }
            if (!tile_done (r, error))
              goto out;
          }
    }
  ok = be->ops->sync (be, error);
out:
  g_free (stage);
  if (in_budget)
    ks.dev = vs.dev = NULL; /* released with the pass's buffers */
  slot_release (r, &ks);
  slot_release (r, &vs);
  bufs_release (r, &bs);
  return ok;
}

/* sd_vae_run_memory's bookkeeping of one host slot: taken (as sd_vae_run's slot_alloc would, in
 * memory or in a temporary file) and given back. */
typedef struct {
  gsize bytes;
  gboolean held, spilled;
} SimSlot;

static void
sim_take (Run *r, SimSlot *s, gsize bytes, gboolean output)
{
  s->held = TRUE;
  s->bytes = bytes;
  s->spilled = must_spill (r, bytes, output);
  if (s->spilled)
    {
      r->spill_bytes += bytes;
      r->spill_peak = MAX (r->spill_peak, r->spill_bytes);
    }
  else
    {
      r->host_bytes += bytes;
      r->host_peak = MAX (r->host_peak, r->host_bytes);
    }
}

static void
sim_give (Run *r, SimSlot *s)
{
  if (s->spilled)
    r->spill_bytes -= s->bytes;
  else
    r->host_bytes -= s->bytes;
  s->held = FALSE;
}

gboolean
sd_vae_run_memory (const SdVae *vae, VaePlan *plan, const SdVaeTiling *tiling, gsize *host_peak,
                   gsize *spill_peak, gsize *work_peak, GError **error)
{
  Run r = { 0 };
  const gboolean half = vae->be->ops->upload_bf16 && vae->be->ops->download_bf16;
  SimSlot *held = g_new0 (SimSlot, plan->slots->len);
  gsize work = 0;
  guint i, j;

  r.vae = vae;
  r.be = vae->be;
  r.plan = plan;
  r.tiling = tiling;
  r.budget = tiling && tiling->budget_bytes ? tiling->budget_bytes : DEFAULT_BUDGET;
  r.host_bytes = r.host_peak = (gsize) slot (&r, plan->input)->c * slot (&r, plan->input)->h
                               * slot (&r, plan->input)->w * sizeof (float);
  held[plan->input].held = TRUE;
  held[plan->input].bytes = r.host_bytes;
  for (i = 0; i < plan->passes->len; i++)
    {
      const VaePass *p = &g_array_index (plan->passes, VaePass, i);
      const VaeSlot *o = slot (&r, p->out);
      const gsize px = (gsize) o->h * o->w;
      TilePlan tp;
      if (!held[p->out].held)
        sim_take (&r, &held[p->out], px * o->c * (half && p->out != plan->output ? 2 : sizeof (float)),
                  p->out == plan->output);
      if (!choose_tile (&r, p, &tp, error))
        {
          g_free (held);
          return FALSE;
        }
      work = MAX (work, tile_bytes (&r, p, tp.th, tp.tw));
      if (p->kind == VAE_PASS_ATTN && attn_kv_chunk (&r, p) < px)
        {
          /* the keys' and values' stores, for the pass */
          SimSlot kv[2] = { { 0 } };
          for (j = 0; j < 2; j++)
            sim_take (&r, &kv[j], px * o->c * (half ? 2 : sizeof (float)), FALSE);
          for (j = 0; j < 2; j++)
            sim_give (&r, &kv[j]);
        }
      for (j = 0; j < plan->slots->len; j++)
        if (held[j].held && slot (&r, j)->last_use == (int) i)
          sim_give (&r, &held[j]);
    }
  g_free (held);
  *host_peak = r.host_peak;
  *spill_peak = r.spill_peak;
  *work_peak = work;
  return TRUE;
}

gboolean
sd_vae_run (const SdVae *vae, VaePlan *plan, const SdVaeTiling *tiling, SdVaeStats *stats,
            float **out, GError **error)
{
  Run r = { 0 };
  SdBackend *be = vae->be;
  TilePlan *tps = g_new0 (TilePlan, plan->passes->len);
  const gsize old_peak = be->peak_bytes, base = be->bytes_in_use;
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = FALSE;
  guint i, j;

  r.vae = vae;
  r.be = be;
  r.plan = plan;
  r.tiling = tiling;
  r.budget = tiling && tiling->budget_bytes ? tiling->budget_bytes : DEFAULT_BUDGET;
  r.slot_cap = tiling ? tiling->device_slot_bytes : 0;
  if (plan->groups > MAX_GROUPS)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "norm_num_groups %d is more than %d",
                   plan->groups, MAX_GROUPS);
      goto out;
    }
  r.host_bytes = r.host_peak = (gsize) slot (&r, plan->input)->c * slot (&r, plan->input)->h
                               * slot (&r, plan->input)->w * sizeof (float);
  for (i = 0; i < plan->passes->len; i++)
    {
      const VaePass *p = &g_array_index (plan->passes, VaePass, i);
      if (!choose_tile (&r, p, &tps[i], error))
        goto out;
      r.tiles_total += tps[i].n * (p->kind == VAE_PASS_ATTN ? 2 : 1);
    }
  stats_reset (&r, slot (&r, plan->input));

  for (i = 0; i < plan->passes->len; i++)
    {
      const VaePass *p = &g_array_index (plan->passes, VaePass, i);
      gboolean pass_ok;
      if (!slot_alloc (&r, slot (&r, p->out), error))
        goto out;
      be->peak_bytes = be->bytes_in_use;
      pass_ok = p->kind == VAE_PASS_ATTN ? run_attn (&r, p, &tps[i], error) : run_conv (&r, p, &tps[i], error);
      r.device_peak = MAX (r.device_peak, be->peak_bytes - base);
      if (p->kind == VAE_PASS_ATTN)
        r.attn_peak = MAX (r.attn_peak, be->peak_bytes - base);
      else
        r.tile_peak = MAX (r.tile_peak, be->peak_bytes - base);
      if (!pass_ok)
        goto out;
      for (j = 0; j < plan->slots->len; j++)
        if (slot (&r, j)->last_use == (int) i)
          slot_release (&r, slot (&r, j));
    }
  if (slot (&r, plan->output)->dev)
    {
      VaeSlot *o = slot (&r, plan->output);
      if (!(*out = sd_buf_to_host (be, o->dev, 0, (gsize) o->c * o->h * o->w, error)))
        goto out;
    }
  else
    {
      *out = slot (&r, plan->output)->data;
      slot (&r, plan->output)->data = NULL;
    }
  ok = TRUE;
out:
  for (j = 0; j < plan->slots->len; j++)
    if (slot (&r, j)->dev)
      slot_release (&r, slot (&r, j));
  if (stats)
    {
      memset (stats, 0, sizeof *stats);
      stats->device_peak_bytes = r.device_peak;
      stats->tile_peak_bytes = r.tile_peak;
      stats->attention_peak_bytes = r.attn_peak;
      stats->attention_kv_bytes = r.kv_bytes;
      stats->attention_kv_chunks = r.kv_chunks;
      stats->host_peak_bytes = r.host_peak;
      stats->spill_peak_bytes = r.spill_peak;
      stats->tiles = r.tiles_done;
      stats->passes = plan->passes->len;
      stats->halo_fraction = r.in_read > 0 ? (r.in_read - r.in_unique) / r.in_read : 0;
      stats->seconds = (g_get_monotonic_time () - t0) / 1e6;
    }
  be->peak_bytes = MAX (old_peak, base + r.device_peak);
  g_free (tps);
  return ok;
}

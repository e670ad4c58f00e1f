/* test_cuda_ops.c: every CUDA backend op but the fused attention kernel (test_cuda_attention.c)
 * against the CPU backend on fresh random
 * inputs, with strided (16-byte aligned and unaligned) views and NaN-poisoned outputs:
 * ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-2 (bf16 storage, f32 arithmetic), ≤ 1e-5 for ops into f32 buffers. */
#include <math.h>
#include <string.h>

#include "cuda_testutil.h"
#include "dtype.h"
#include "scaledit.h"
#include "testutil.h"

#define TOL 1e-2
#define TOL_F32 1e-5

/* A view layout: element offset and row stride for `cols` columns. */
typedef struct {
  int off, pad;
} Layout;

static const Layout layouts[] = { { 8, 8 }, { 1, 3 } };

static gsize
span (Layout l, int rows, int cols)
{
  return l.off + (gsize) rows * (cols + l.pad);
}

#define GPU (cuda_test_env ()->gpu)
#define CPU (cuda_test_env ()->cpu)
#define VG(p, l, cols) sd_view ((p).g, (l).off, (cols) + (l).pad)
#define VC(p, l, cols) sd_view ((p).c, (l).off, (cols) + (l).pad)

static GRand *
test_rng (void)
{
  return g_rand_new_with_seed (g_test_rand_int ());
}

static void
check (Pair *y, Layout l, int rows, int cols, const char *what)
{
  double err = pair_error_rows (y, l.off, cols + l.pad, rows, cols);
  g_test_message ("%s (off %d, pad %d): rel error %.2e", what, l.off, l.pad, err);
  g_assert_cmpfloat (err, <=, TOL);
}

static void
test_round_trip (void)
{
  GRand *rng;
  float *h, *back;
  GError *error = NULL;
  guint16 *b16;
  SdBuf *w;
  gsize i, n = 1000;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  h = cuda_test_random (rng, n, 3.0f);
  Pair p = pair_new (h, n);
  g_assert_cmpfloat (pair_error (&p, 0, n), ==, 0); /* bf16-exact values survive unchanged */
  /* weights from bf16 and f16 host data */
  b16 = g_new (guint16, n);
  for (i = 0; i < n; i++)
    b16[i] = (guint16) (*(guint32 *) &h[i] >> 16);
  w = GPU->ops->weight (GPU, b16, SD_DTYPE_BF16, n, &error);
  g_assert_no_error (error);
  back = sd_buf_to_host (GPU, w, 0, n, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (sd_rel_error (back, h, n), ==, 0);
  g_free (back);
  GPU->ops->release (GPU, w);
  for (i = 0; i < n; i++)
    b16[i] = 0x3c00; /* f16 1.0 */
  w = GPU->ops->weight (GPU, b16, SD_DTYPE_F16, n, &error);
  g_assert_no_error (error);
  back = sd_buf_to_host (GPU, w, 0, n, &error);
  g_assert_no_error (error);
  for (i = 0; i < n; i++)
    g_assert_cmpfloat (back[i], ==, 1.0f);
  g_free (back);
  GPU->ops->release (GPU, w);
  g_free (b16);
  g_free (h);
  pair_free (&p);
  g_rand_free (rng);
}

static void
test_out_of_memory (void)
{
  GError *error = NULL;
  SdBuf *b;
  gsize before;

  if (cuda_test_skip ())
    return;
  before = GPU->bytes_in_use;
  b = GPU->ops->alloc (GPU, (gsize) 1 << 46, &error); /* 128 TiB of bf16 */
  g_assert_null (b);
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull (strstr (error->message, "140737488355328 bytes"));
  g_clear_error (&error);
  g_assert_cmpuint (GPU->bytes_in_use, ==, before);
  /* still usable */
  b = GPU->ops->alloc (GPU, 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (GPU->bytes_in_use, ==, before + 2048);
  g_assert_cmpuint (GPU->peak_bytes, >=, before + 2048);
  GPU->ops->release (GPU, b);
  g_assert_true (GPU->ops->sync (GPU, &error));
  g_assert_no_error (error);
}

static void
test_recorded_error (void)
{
  GError *error = NULL;
  SdBuf *b;
  SdAttnArgs a = { 0 };

  if (cuda_test_skip ())
    return;
  b = GPU->ops->alloc (GPU, 4 * 1000, &error);
  g_assert_no_error (error);
  a.q = a.k = a.v = a.out = sd_view (b, 0, 1000);
  a.n_q = a.n_kv = 4;
  a.heads = 1;
  a.head_dim = 1000; /* neither the fused kernel nor the generic path takes it */
  a.scale = 0.1f;
  GPU->ops->attention (GPU, &a);
  g_assert_false (GPU->ops->sync (GPU, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_true (GPU->ops->sync (GPU, &error)); /* reported once */
  GPU->ops->release (GPU, b);
}

static void
test_linear (void)
{
  static const SdAct acts[] = { SD_ACT_NONE, SD_ACT_GELU_TANH, SD_ACT_GELU_ERF, SD_ACT_QUICK_GELU, SD_ACT_SILU };
  GRand *rng;
  gsize a, li;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (li = 0; li < G_N_ELEMENTS (layouts); li++)
    for (a = 0; a < G_N_ELEMENTS (acts); a++)
      {
        Layout l = layouts[li];
        int M = g_rand_int_range (rng, 1, 300), K = 8 * g_rand_int_range (rng, 1, 40);
        int N = g_rand_int_range (rng, 1, 200);
        gboolean with_bias = a % 2 == 0;
        Pair x = pair_random (rng, span (l, M, K), 1.0f);
        Pair w = pair_random (rng, (gsize) N * K, 0.2f);
        Pair b = pair_random (rng, N, 1.0f);
        Pair y = pair_random (rng, span (l, M, N), 1.0f);
        char *what = g_strdup_printf ("linear %dx%dx%d act %d bias %d", M, N, K, acts[a], with_bias);
        pair_poison (&y);
        GPU->ops->linear (GPU, VG (x, l, K), M, K, w.g, with_bias ? b.g : NULL, VG (y, l, N), N, acts[a]);
        CPU->ops->linear (CPU, VC (x, l, K), M, K, w.c, with_bias ? b.c : NULL, VC (y, l, N), N, acts[a]);
        check (&y, l, M, N, what);
        g_free (what);
        pair_free (&x);
        pair_free (&w);
        pair_free (&b);
        pair_free (&y);
      }
  g_rand_free (rng);
}

static void
test_norms (void)
{
  GRand *rng;
  gsize li;
  int variant;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (li = 0; li < G_N_ELEMENTS (layouts); li++)
    for (variant = 0; variant < 4; variant++)
      {
        Layout l = layouts[li];
        int rows = g_rand_int_range (rng, 1, 200), dim = g_rand_int_range (rng, 8, 1200);
        Pair x = pair_random (rng, span (l, rows, dim), 2.0f);
        Pair y = pair_random (rng, span (l, rows, dim), 1.0f);
        Pair w = pair_random (rng, dim, 1.5f), b = pair_random (rng, dim, 1.0f);
        Pair mod = pair_random (rng, span (l, 3, 2 * dim), 0.5f);
        SdSegment seg[2] = { { 0, rows / 3, 2 }, { rows / 3, rows - rows / 3, 1 } };
        float eps = 1e-6f;

        pair_poison (&y);
        if (variant == 3)
          {
            GPU->ops->rms_norm (GPU, VG (x, l, dim), VG (y, l, dim), rows, dim, eps, w.g);
            CPU->ops->rms_norm (CPU, VC (x, l, dim), VC (y, l, dim), rows, dim, eps, w.c);
            check (&y, l, rows, dim, "rms_norm");
          }
        else
          {
            /* variant 0: plain; 1: affine; 2: affine + two-group modulation (shift | scale) */
            SdModulation mg = { sd_view (mod.g, l.off, 2 * dim + l.pad), sd_view (mod.g, l.off + dim, 2 * dim + l.pad), { seg, 2 } };
            SdModulation mc = { sd_view (mod.c, l.off, 2 * dim + l.pad), sd_view (mod.c, l.off + dim, 2 * dim + l.pad), { seg, 2 } };
            GPU->ops->layer_norm (GPU, VG (x, l, dim), VG (y, l, dim), rows, dim, eps, variant ? w.g : NULL,
                                  variant ? b.g : NULL, variant == 2 ? &mg : NULL);
            CPU->ops->layer_norm (CPU, VC (x, l, dim), VC (y, l, dim), rows, dim, eps, variant ? w.c : NULL,
                                  variant ? b.c : NULL, variant == 2 ? &mc : NULL);
            check (&y, l, rows, dim, "layer_norm");
          }
        pair_free (&x);
        pair_free (&y);
        pair_free (&w);
        pair_free (&b);
        pair_free (&mod);
      }
  g_rand_free (rng);
}

static void
test_head_norm_rope (void)
{
  static const int dims[] = { 64, 128 };
  GRand *rng;
  gsize di;
  int variant;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (di = 0; di < G_N_ELEMENTS (dims); di++)
    for (variant = 0; variant < 3; variant++)
      {
        int d = dims[di], heads = g_rand_int_range (rng, 1, 5), rows = g_rand_int_range (rng, 1, 300);
        Layout l = { 2 * d, 2 * d }; /* q inside a fused qkv-like row */
        int cols = heads * d;
        Pair x = pair_random (rng, span (l, rows, cols), 2.0f);
        Pair w = pair_random (rng, d, 1.5f);
        float *angles = cuda_test_random (rng, (gsize) rows * d / 2, 3.0f);
        float *cs = g_new (float, (gsize) rows * d / 2), *sn = g_new (float, (gsize) rows * d / 2);
        gsize i;
        for (i = 0; i < (gsize) rows * d / 2; i++)
          {
            cs[i] = cosf (angles[i]);
            sn[i] = sinf (angles[i]);
          }
        Pair c = pair_new (cs, (gsize) rows * d / 2), s = pair_new (sn, (gsize) rows * d / 2);
        gboolean norm = variant != 1, rope = variant != 0;
        GPU->ops->head_norm_rope (GPU, VG (x, l, cols), rows, heads, d, 1e-6f, norm ? w.g : NULL,
                                  rope ? c.g : NULL, rope ? s.g : NULL);
        CPU->ops->head_norm_rope (CPU, VC (x, l, cols), rows, heads, d, 1e-6f, norm ? w.c : NULL,
                                  rope ? c.c : NULL, rope ? s.c : NULL);
        check (&x, l, rows, cols, "head_norm_rope");
        g_free (angles);
        g_free (cs);
        g_free (sn);
        pair_free (&x);
        pair_free (&w);
        pair_free (&c);
        pair_free (&s);
      }
  g_rand_free (rng);
}

static void
test_elementwise (void)
{
  static const SdAct acts[] = { SD_ACT_NONE, SD_ACT_GELU_TANH, SD_ACT_GELU_ERF, SD_ACT_QUICK_GELU, SD_ACT_SILU };
  GRand *rng;
  gsize li;
  int op;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (li = 0; li < G_N_ELEMENTS (layouts); li++)
    for (op = 0; op < 11; op++)
      {
        Layout l = layouts[li];
        int rows = g_rand_int_range (rng, 1, 300), cols = 8 * g_rand_int_range (rng, 1, 60);
        Pair x = pair_random (rng, span (l, rows, cols), 2.0f);
        Pair y = pair_random (rng, span (l, rows, cols), 2.0f);
        Pair gate = pair_random (rng, span (l, 3, cols), 1.0f);
        SdSegment seg[2] = { { 0, rows / 2, 2 }, { rows / 2, rows - rows / 2, 0 } };
        SdSegments groups = { seg, 2 };
        SdView none = { NULL, 0, 0 };
        const char *what;
        if (op < 5)
          {
            pair_poison (&y);
            GPU->ops->activate (GPU, VG (x, l, cols), VG (y, l, cols), rows, cols, acts[op]);
            CPU->ops->activate (CPU, VC (x, l, cols), VC (y, l, cols), rows, cols, acts[op]);
            what = "activate";
          }
        else if (op == 5)
          {
            GPU->ops->mul (GPU, VG (x, l, cols), VG (y, l, cols), rows, cols);
            CPU->ops->mul (CPU, VC (x, l, cols), VC (y, l, cols), rows, cols);
            what = "mul";
          }
        else if (op == 6)
          {
            GPU->ops->axpby (GPU, 0.7f, VG (x, l, cols), -1.3f, VG (y, l, cols), rows, cols);
            CPU->ops->axpby (CPU, 0.7f, VC (x, l, cols), -1.3f, VC (y, l, cols), rows, cols);
            what = "axpby";
          }
        else if (op == 7)
          {
            GPU->ops->add_gated (GPU, VG (y, l, cols), VG (x, l, cols), rows, cols, VG (gate, l, cols), &groups);
            CPU->ops->add_gated (CPU, VC (y, l, cols), VC (x, l, cols), rows, cols, VC (gate, l, cols), &groups);
            what = "add_gated";
          }
        else if (op == 8)
          {
            GPU->ops->add_gated (GPU, VG (y, l, cols), VG (x, l, cols), rows, cols, none, NULL);
            CPU->ops->add_gated (CPU, VC (y, l, cols), VC (x, l, cols), rows, cols, none, NULL);
            what = "add (no gate)";
          }
        else if (op == 9)
          {
            int *idx = g_new (int, rows), i;
            for (i = 0; i < rows; i++)
              idx[i] = g_rand_int_range (rng, 0, rows);
            pair_poison (&y);
            GPU->ops->gather_rows (GPU, VG (x, l, cols), VG (y, l, cols), idx, rows, cols);
            CPU->ops->gather_rows (CPU, VC (x, l, cols), VC (y, l, cols), idx, rows, cols);
            g_free (idx);
            what = "gather_rows";
          }
        else
          {
            pair_poison (&y);
            GPU->ops->copy (GPU, VG (x, l, cols), VG (y, l, cols), rows, cols);
            CPU->ops->copy (CPU, VC (x, l, cols), VC (y, l, cols), rows, cols);
            what = "copy";
          }
        check (&y, l, rows, cols, what);
        pair_free (&x);
        pair_free (&y);
        pair_free (&gate);
      }
  g_rand_free (rng);
}

/* A pair of alloc_f32 buffers holding the same host data (NULL: zeros). */
static Pair
pair_f32 (const float *host, gsize n)
{
  GError *error = NULL;
  Pair p = { NULL, NULL, n };
  p.g = GPU->ops->alloc_f32 (GPU, n, &error);
  g_assert_no_error (error);
  p.c = CPU->ops->alloc_f32 (CPU, n, &error);
  g_assert_no_error (error);
  if (host)
    {
      g_assert_true (GPU->ops->upload (GPU, p.g, 0, host, n, &error));
      g_assert_true (CPU->ops->upload (CPU, p.c, 0, host, n, &error));
      g_assert_no_error (error);
    }
  return p;
}

static void
test_f32_buffers (void)
{
  GRand *rng;
  float *h, *back;
  GError *error = NULL;
  gsize n = 777, before;
  SdBuf *b;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  h = sd_test_random (rng, n, 1000.0f); /* not bf16-exact: f32 storage keeps every bit */
  before = GPU->bytes_in_use;
  b = GPU->ops->alloc_f32 (GPU, n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (GPU->bytes_in_use, ==, before + n * 4);
  g_assert_true (GPU->ops->upload (GPU, b, 5, h + 5, n - 5, &error));
  back = sd_buf_to_host (GPU, b, 5, n - 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (memcmp (back, h + 5, (n - 5) * sizeof (float)), ==, 0);
  g_assert_false (GPU->ops->upload (GPU, b, 6, h, n, &error)); /* out of range */
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  GPU->ops->release (GPU, b);
  g_assert_cmpuint (GPU->bytes_in_use, ==, before);
  g_free (back);
  g_free (h);

  /* copy and axpby across f32 and bf16 buffers (the sampler state) */
  {
    const int rows = 37, cols = 129;
    Pair xb = pair_random (rng, (gsize) rows * (cols + 3), 2.0f);
    float *hs = sd_test_random (rng, (gsize) rows * (cols + 3), 2.0f);
    Pair xf = pair_f32 (hs, (gsize) rows * (cols + 3)), yf = pair_f32 (NULL, (gsize) rows * (cols + 3));
    Pair yb = pair_random (rng, (gsize) rows * (cols + 3), 1.0f);
    double err;
    pair_poison (&yf);
    GPU->ops->copy (GPU, sd_view (xb.g, 0, cols + 3), sd_view (yf.g, 0, cols + 3), rows, cols);
    CPU->ops->copy (CPU, sd_view (xb.c, 0, cols + 3), sd_view (yf.c, 0, cols + 3), rows, cols);
    err = pair_error_rows (&yf, 0, cols + 3, rows, cols);
    g_assert_cmpfloat (err, ==, 0); /* bf16 values are exact in f32 */
    GPU->ops->axpby (GPU, -0.37f, sd_view (xb.g, 0, cols + 3), 1.0f, sd_view (xf.g, 0, cols + 3), rows, cols);
    CPU->ops->axpby (CPU, -0.37f, sd_view (xb.c, 0, cols + 3), 1.0f, sd_view (xf.c, 0, cols + 3), rows, cols);
    err = pair_error_rows (&xf, 0, cols + 3, rows, cols);
    g_test_message ("axpby bf16 -> f32: rel error %.2e", err);
    g_assert_cmpfloat (err, <=, TOL_F32);
    pair_poison (&yb);
    GPU->ops->copy (GPU, sd_view (xf.g, 0, cols + 3), sd_view (yb.g, 0, cols + 3), rows, cols);
    CPU->ops->copy (CPU, sd_view (xf.c, 0, cols + 3), sd_view (yb.c, 0, cols + 3), rows, cols);
    check (&yb, (Layout) { 0, 3 }, rows, cols, "copy f32 -> bf16");
    g_free (hs);
    pair_free (&xb);
    pair_free (&xf);
    pair_free (&yf);
    pair_free (&yb);
  }
  g_rand_free (rng);
}

static void
test_conv2d (void)
{
  GRand *rng;
  int trial;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (trial = 0; trial < 14; trial++)
    {
      /* trial 0: a 1x1 conv over aligned planes (one GEMM); 1: big enough for several im2col chunks */
      const gboolean big = trial == 1;
      const int k = trial == 0 ? 1 : (trial % 3 == 2 ? 1 : 3);
      const int stride = trial > 1 && trial % 4 == 3 ? 2 : 1;
      const int c_in = big ? 128 : g_rand_int_range (rng, 1, 40), c_out = big ? 64 : g_rand_int_range (rng, 1, 40);
      const int h = big ? 80 : g_rand_int_range (rng, 1, 30), w = big ? 72 : g_rand_int_range (rng, 1, 30);
      const int pt = trial > 1 ? g_rand_int_range (rng, 0, 2) : (k == 3), pb = trial > 1 ? g_rand_int_range (rng, 0, 2) : (k == 3);
      const int pl = trial > 1 ? g_rand_int_range (rng, 0, 2) : (k == 3), pr = trial > 1 ? g_rand_int_range (rng, 0, 2) : (k == 3);
      const int h_out = (h + pt + pb - k) / stride + 1, w_out = (w + pl + pr - k) / stride + 1;
      const int xpad = trial % 2 ? 3 : 0, ypad = trial % 2 ? 5 : 0, xoff = trial % 2, yoff = trial % 2 ? 7 : 0;
      const gboolean with_bias = trial % 2 == 0;
      SdConv2dArgs ag = { 0 }, ac = { 0 };
      Pair x, wt, b, y;
      char *what;

      if (h_out <= 0 || w_out <= 0)
        continue;
      x = pair_random (rng, xoff + (gsize) c_in * (h * w + xpad), 1.0f);
      wt = pair_random (rng, (gsize) c_out * c_in * k * k, 0.3f);
      b = pair_random (rng, c_out, 1.0f);
      y = pair_random (rng, yoff + (gsize) c_out * (h_out * w_out + ypad), 1.0f);
      pair_poison (&y);
      ag.c_in = c_in;
      ag.h = h;
      ag.w = w;
      ag.c_out = c_out;
      ag.kh = ag.kw = k;
      ag.stride = stride;
      ag.pad_top = pt;
      ag.pad_bottom = pb;
      ag.pad_left = pl;
      ag.pad_right = pr;
      ac = ag;
      ag.x = sd_view (x.g, xoff, h * w + xpad);
      ag.y = sd_view (y.g, yoff, h_out * w_out + ypad);
      ag.weight = wt.g;
      ag.bias = with_bias ? b.g : NULL;
      ac.x = sd_view (x.c, xoff, h * w + xpad);
      ac.y = sd_view (y.c, yoff, h_out * w_out + ypad);
      ac.weight = wt.c;
      ac.bias = with_bias ? b.c : NULL;
      GPU->ops->conv2d (GPU, &ag);
      CPU->ops->conv2d (CPU, &ac);
      what = g_strdup_printf ("conv2d %d->%d %dx%d k%d s%d pad %d%d%d%d bias %d", c_in, c_out, w, h, k, stride, pt, pb,
                              pl, pr, with_bias);
      check (&y, (Layout) { yoff, ypad }, c_out, h_out * w_out, what);
      g_free (what);
      pair_free (&x);
      pair_free (&wt);
      pair_free (&b);
      pair_free (&y);
    }
  g_rand_free (rng);
}

static void
test_group_norm (void)
{
  GRand *rng;
  int trial;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (trial = 0; trial < 8; trial++)
    {
      const int groups = g_rand_int_range (rng, 1, 9), channels = groups * g_rand_int_range (rng, 1, 6);
      const int hw = trial == 0 ? 70000 : g_rand_int_range (rng, 1, 3000), pad = trial % 2 ? 3 : 8;
      const gsize n = (gsize) channels * (hw + pad);
      float *hx = cuda_test_random (rng, n, 1.0f), *mr = g_new (float, 2 * groups);
      Pair x, st, m, wt, bs, y;
      gsize i;
      int g;
      double err;

      /* an offset mean makes the statistics' precision matter */
      for (i = 0; i < n; i++)
        hx[i] = sd_bf16_to_f32 (sd_f32_to_bf16 (hx[i] + 3.0f));
      x = pair_new (hx, n);
      st = pair_f32 (NULL, 2 * groups);
      pair_poison (&st);
      GPU->ops->group_norm_stats (GPU, sd_view (x.g, 0, hw + pad), channels, hw, groups, sd_view (st.g, 0, 0));
      CPU->ops->group_norm_stats (CPU, sd_view (x.c, 0, hw + pad), channels, hw, groups, sd_view (st.c, 0, 0));
      err = pair_error (&st, 0, 2 * groups);
      g_test_message ("group_norm_stats %d channels %d groups %d px: rel error %.2e", channels, groups, hw, err);
      g_assert_cmpfloat (err, <=, TOL_F32);

      for (g = 0; g < groups; g++)
        {
          mr[2 * g] = (float) g_rand_double_range (rng, 2.0, 4.0);
          mr[2 * g + 1] = (float) g_rand_double_range (rng, 0.5, 2.0);
        }
      m = pair_f32 (mr, 2 * groups);
      wt = pair_random (rng, channels, 1.5f);
      bs = pair_random (rng, channels, 1.0f);
      y = pair_random (rng, n, 1.0f);
      pair_poison (&y);
      GPU->ops->group_norm_apply (GPU, sd_view (x.g, 0, hw + pad), sd_view (y.g, 0, hw + pad), channels, hw, groups,
                                  m.g, trial % 3 ? wt.g : NULL, trial % 3 ? bs.g : NULL,
                                  trial % 2 ? SD_ACT_SILU : SD_ACT_NONE);
      CPU->ops->group_norm_apply (CPU, sd_view (x.c, 0, hw + pad), sd_view (y.c, 0, hw + pad), channels, hw, groups,
                                  m.c, trial % 3 ? wt.c : NULL, trial % 3 ? bs.c : NULL,
                                  trial % 2 ? SD_ACT_SILU : SD_ACT_NONE);
      check (&y, (Layout) { 0, pad }, channels, hw, "group_norm_apply");
      /* in place */
      GPU->ops->group_norm_apply (GPU, sd_view (x.g, 0, hw + pad), sd_view (x.g, 0, hw + pad), channels, hw, groups,
                                  m.g, wt.g, bs.g, SD_ACT_SILU);
      CPU->ops->group_norm_apply (CPU, sd_view (x.c, 0, hw + pad), sd_view (x.c, 0, hw + pad), channels, hw, groups,
                                  m.c, wt.c, bs.c, SD_ACT_SILU);
      check (&x, (Layout) { 0, pad }, channels, hw, "group_norm_apply in place");
      g_free (hx);
      g_free (mr);
      pair_free (&x);
      pair_free (&st);
      pair_free (&m);
      pair_free (&wt);
      pair_free (&bs);
      pair_free (&y);
    }
  g_rand_free (rng);
}

static void
test_upsample_transpose (void)
{
  GRand *rng;
  int trial;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (trial = 0; trial < 8; trial++)
    {
      const int c = g_rand_int_range (rng, 1, 20), h = g_rand_int_range (rng, 1, 40), w = g_rand_int_range (rng, 1, 40);
      const int oy = trial & 1, ox = (trial >> 1) & 1;
      const int h_out = g_rand_int_range (rng, 1, 2 * h - oy + 1), w_out = g_rand_int_range (rng, 1, 2 * w - ox + 1);
      const int rows = g_rand_int_range (rng, 1, 300), cols = g_rand_int_range (rng, 1, 300);
      Pair x = pair_random (rng, (gsize) c * h * w + 3, 2.0f);
      Pair y = pair_random (rng, (gsize) c * (h_out * w_out + 2) + 1, 1.0f);
      Pair s = pair_random (rng, (gsize) rows * (cols + 5), 2.0f);
      Pair t = pair_random (rng, (gsize) cols * (rows + 3), 1.0f);

      pair_poison (&y);
      GPU->ops->upsample_nearest2x (GPU, sd_view (x.g, 3, h * w), c, h, w, sd_view (y.g, 1, h_out * w_out + 2), h_out,
                                    w_out, oy, ox);
      CPU->ops->upsample_nearest2x (CPU, sd_view (x.c, 3, h * w), c, h, w, sd_view (y.c, 1, h_out * w_out + 2), h_out,
                                    w_out, oy, ox);
      check (&y, (Layout) { 1, 2 }, c, h_out * w_out, "upsample_nearest2x");
      g_assert_cmpfloat (pair_error_rows (&y, 1, h_out * w_out + 2, c, h_out * w_out), ==, 0);

      pair_poison (&t);
      GPU->ops->transpose (GPU, sd_view (s.g, 0, cols + 5), sd_view (t.g, 0, rows + 3), rows, cols);
      CPU->ops->transpose (CPU, sd_view (s.c, 0, cols + 5), sd_view (t.c, 0, rows + 3), rows, cols);
      check (&t, (Layout) { 0, 3 }, cols, rows, "transpose");
      g_assert_cmpfloat (pair_error_rows (&t, 0, rows + 3, cols, rows), ==, 0);
      pair_free (&x);
      pair_free (&y);
      pair_free (&s);
      pair_free (&t);
    }
  g_rand_free (rng);
}

/* The generic attention path (head dims the fused kernel does not take): dense, queries fewer
 * than keys, causal, and T5's relative bias, against the CPU backend. */
static void
test_attention_generic (void)
{
  static const struct {
    int n_q, n_kv, heads, d, causal, bias;
  } cases[] = {
    { 130, 130, 1, 32, 0, 0 }, { 25, 130, 1, 32, 0, 0 }, { 77, 77, 2, 16, 0, 0 },
    { 200, 200, 3, 16, 1, 0 }, { 50, 70, 2, 32, 0, 1 }, { 33, 300, 1, 96, 0, 0 },
  };
  GRand *rng;
  gsize i;

  if (cuda_test_skip ())
    return;
  rng = test_rng ();
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const int nq = cases[i].n_q, nk = cases[i].n_kv, h = cases[i].heads, d = cases[i].d, ld = h * d + 4;
      Pair q = pair_random (rng, (gsize) nq * ld, 2.0f), k = pair_random (rng, (gsize) nk * ld, 2.0f);
      Pair v = pair_random (rng, (gsize) nk * ld, 2.0f), o = pair_random (rng, (gsize) nq * ld, 1.0f);
      Pair b = pair_random (rng, (gsize) h * (nq + nk - 1), 1.0f);
      SdAttnArgs ag = { 0 }, ac;
      char *what;
      ag.n_q = nq;
      ag.n_kv = nk;
      ag.heads = h;
      ag.head_dim = d;
      ag.scale = 1.0f / sqrtf ((float) d);
      ag.causal = cases[i].causal;
      ac = ag;
      ag.q = sd_view (q.g, 0, ld);
      ag.k = sd_view (k.g, 0, ld);
      ag.v = sd_view (v.g, 0, ld);
      ag.out = sd_view (o.g, 0, ld);
      ag.bias_by_delta = cases[i].bias ? b.g : NULL;
      ac.q = sd_view (q.c, 0, ld);
      ac.k = sd_view (k.c, 0, ld);
      ac.v = sd_view (v.c, 0, ld);
      ac.out = sd_view (o.c, 0, ld);
      ac.bias_by_delta = cases[i].bias ? b.c : NULL;
      pair_poison (&o);
      GPU->ops->attention (GPU, &ag);
      CPU->ops->attention (CPU, &ac);
      what = g_strdup_printf ("generic attention %d x %d, %d x %d, causal %d, bias %d", nq, nk, h, d, cases[i].causal,
                              cases[i].bias);
      check (&o, (Layout) { 0, 4 }, nq, h * d, what);
      g_free (what);
      pair_free (&q);
      pair_free (&k);
      pair_free (&v);
      pair_free (&o);
      pair_free (&b);
    }
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda/ops/round-trip", test_round_trip);
  g_test_add_func ("/cuda/ops/out-of-memory", test_out_of_memory);
  g_test_add_func ("/cuda/ops/recorded-error", test_recorded_error);
  g_test_add_func ("/cuda/ops/linear", test_linear);
  g_test_add_func ("/cuda/ops/norms", test_norms);
  g_test_add_func ("/cuda/ops/head-norm-rope", test_head_norm_rope);
  g_test_add_func ("/cuda/ops/elementwise", test_elementwise);
  g_test_add_func ("/cuda/ops/f32-buffers", test_f32_buffers);
  g_test_add_func ("/cuda/ops/attention-generic", test_attention_generic);
  g_test_add_func ("/cuda/ops/conv2d", test_conv2d);
  g_test_add_func ("/cuda/ops/group-norm", test_group_norm);
  g_test_add_func ("/cuda/ops/upsample-transpose", test_upsample_transpose);
  return g_test_run ();
}

/* test_cuda_attention.c: the CUDA attention kernel against the CPU backend's attention on fresh
 * random inputs: random block-sparse plans (random key blocks, partial flags and token
 * positions), real Scale-DiT plans in all three token orders, ragged lengths, head dims 64 and
 * 128, dense, cross, causal (CLIP) and T5-bias attention, and the VAE's one head of dim 512;
 * ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-2. Also attention over keys split in chunks: each chunk's log-sum-exps
 * against the CPU's, and the chunks merged (attention_merge) against attention over all keys. On Hopper the sm_90a kernel runs; SCALEDIT_ATTENTION=mma in the
 * environment tests the portable kernel instead. */
#include <math.h>

#include "cuda_testutil.h"
#include "layout.h"
#include "testutil.h"

#define TOL 1e-2

#define GPU (cuda_test_env ()->gpu)
#define CPU (cuda_test_env ()->cpu)

typedef struct {
  int n_q, n_kv, heads, head_dim;
  gboolean causal, bias, fused; /* fused: q, k, v side by side in one buffer (FLUX's qkv) */
  const SdAttnPlan *plan;
} Case;

static void
run_case (GRand *rng, const Case *c, const char *what)
{
  const int width = c->heads * c->head_dim;
  const int ld_in = c->fused ? 3 * width : width + 8, ld_out = width + 16;
  const gsize n_in = c->fused ? (gsize) MAX (c->n_q, c->n_kv) * ld_in : 0;
  Pair qkv = { 0 }, q = { 0 }, k = { 0 }, v = { 0 }, bias = { 0 };
  Pair out = pair_random (rng, 8 + (gsize) c->n_q * ld_out, 1.0f);
  SdAttnArgs ag = { 0 }, ac;
  double err;

  if (c->fused)
    {
      qkv = pair_random (rng, n_in, 1.0f);
      ag.q = sd_view (qkv.g, 0, ld_in);
      ag.k = sd_view (qkv.g, width, ld_in);
      ag.v = sd_view (qkv.g, 2 * width, ld_in);
    }
  else
    {
      q = pair_random (rng, (gsize) c->n_q * ld_in, 1.0f);
      k = pair_random (rng, (gsize) c->n_kv * ld_in, 1.0f);
      v = pair_random (rng, (gsize) c->n_kv * ld_in, 1.0f);
      ag.q = sd_view (q.g, 0, ld_in);
      ag.k = sd_view (k.g, 0, ld_in);
      ag.v = sd_view (v.g, 0, ld_in);
    }
  ag.out = sd_view (out.g, 8, ld_out);
  ag.n_q = c->n_q;
  ag.n_kv = c->n_kv;
  ag.heads = c->heads;
  ag.head_dim = c->head_dim;
  /* a larger scale than 1/sqrt(d) sharpens the softmax so masking mistakes show */
  ag.scale = 3.0f / sqrtf (c->head_dim);
  ag.plan = c->plan;
  ag.causal = c->causal;
  if (c->bias)
    {
      bias = pair_random (rng, (gsize) c->heads * (c->n_q + c->n_kv - 1), 2.0f);
      ag.bias_by_delta = bias.g;
    }
  ac = ag;
  ac.q.buf = c->fused ? qkv.c : q.c;
  ac.k.buf = c->fused ? qkv.c : k.c;
  ac.v.buf = c->fused ? qkv.c : v.c;
  ac.out.buf = out.c;
  ac.bias_by_delta = c->bias ? bias.c : NULL;

  pair_poison (&out);
  GPU->ops->attention (GPU, &ag);
  CPU->ops->attention (CPU, &ac);
  err = pair_error_rows (&out, 8, ld_out, c->n_q, width);
  g_test_message ("%s: n_q %d n_kv %d heads %d d %d: rel error %.2e", what, c->n_q, c->n_kv, c->heads,
                  c->head_dim, err);
  g_assert_cmpfloat (err, <=, TOL);
  if (c->fused)
    pair_free (&qkv);
  else
    {
      pair_free (&q);
      pair_free (&k);
      pair_free (&v);
    }
  if (c->bias)
    pair_free (&bias);
  pair_free (&out);
}

/* A plan over n tokens of random kinds and positions (small grids, so the mask allows some pairs
 * and rejects others), with each key block listed with probability `density` and marked partial
 * with probability 1/2; some query blocks list nothing. */
static SdAttnPlan *
random_plan (GRand *rng, int n, int q_block, int k_block, double density)
{
  SdAttnPlan *p = g_new0 (SdAttnPlan, 1);
  int i, b, nnz = 0;

  p->n_tokens = n;
  p->q_block = q_block;
  p->k_block = k_block;
  p->n_q_blocks = (n + q_block - 1) / q_block;
  p->n_k_blocks = (n + k_block - 1) / k_block;
  p->rules.hr_radius = 3;
  p->rules.lr_radius = 1;
  p->rules.lr_window_span = 1;
  p->tokens = g_new0 (SdTokenPos, n);
  for (i = 0; i < n; i++)
    {
      SdTokenPos *t = &p->tokens[i];
      t->kind = g_rand_int_range (rng, 0, 3);
      if (t->kind != SD_TOK_TEXT)
        {
          t->row = g_rand_int_range (rng, 0, 12);
          t->col = g_rand_int_range (rng, 0, 12);
          t->wrow = g_rand_int_range (rng, 0, 2);
          t->wcol = g_rand_int_range (rng, 0, 4);
        }
    }
  p->row_start = g_new0 (int, p->n_q_blocks + 1);
  p->kblock = g_new (int, (gsize) p->n_q_blocks * p->n_k_blocks);
  p->partial = g_new (guint8, (gsize) p->n_q_blocks * p->n_k_blocks);
  for (b = 0; b < p->n_q_blocks; b++)
    {
      gboolean empty = g_rand_int_range (rng, 0, 8) == 0;
      for (i = 0; i < p->n_k_blocks; i++)
        if (!empty && g_rand_double (rng) < density)
          {
            p->kblock[nnz] = i;
            p->partial[nnz] = g_rand_boolean (rng);
            nnz++;
          }
      p->row_start[b + 1] = nnz;
    }
  return p;
}

static void
random_plan_free (SdAttnPlan *p)
{
  g_free (p->tokens);
  g_free (p->row_start);
  g_free (p->kblock);
  g_free (p->partial);
  g_free (p);
}

static void
test_dense (void)
{
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  for (int d = 64; d <= 128; d += 64)
    {
      Case square = { g_rand_int_range (rng, 1, 700), 0, g_rand_int_range (rng, 1, 4), d };
      square.n_kv = square.n_q;
      run_case (rng, &square, "dense");
      Case fused = { 512 + 64, 512 + 64, 3, d, FALSE, FALSE, TRUE };
      run_case (rng, &fused, "dense, fused qkv");
      Case cross = { g_rand_int_range (rng, 1, 400), g_rand_int_range (rng, 1, 300), 2, d };
      run_case (rng, &cross, "cross");
      /* long enough for the key-tile ring to wrap several times */
      Case longer = { g_rand_int_range (rng, 1500, 2500), 0, 2, d };
      longer.n_kv = longer.n_q;
      run_case (rng, &longer, "dense, long");
    }
  g_rand_free (rng);
}

static void
test_causal (void)
{
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  Case clip = { 77, 77, 12, 64, TRUE, FALSE, TRUE };
  run_case (rng, &clip, "causal (CLIP)");
  Case longer = { g_rand_int_range (rng, 100, 600), 0, 2, 128, TRUE };
  longer.n_kv = longer.n_q;
  run_case (rng, &longer, "causal");
  g_rand_free (rng);
}

static void
test_t5_bias (void)
{
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  Case t5 = { g_rand_int_range (rng, 1, 300), 0, 4, 64, FALSE, TRUE };
  t5.n_kv = t5.n_q;
  run_case (rng, &t5, "T5 bias");
  Case t5x = { 150, 260, 2, 128, FALSE, TRUE };
  run_case (rng, &t5x, "T5 bias, cross");
  g_rand_free (rng);
}

static void
test_random_plans (void)
{
  static const int blocks[][2] = { { 128, 64 }, { 256, 128 }, { 128, 192 } };
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  for (gsize bi = 0; bi < G_N_ELEMENTS (blocks); bi++)
    for (int d = 64; d <= 128; d += 64)
      {
        int n = g_rand_int_range (rng, 200, 1500);
        SdAttnPlan *p = random_plan (rng, n, blocks[bi][0], blocks[bi][1], 0.35);
        Case c = { n, n, g_rand_int_range (rng, 1, 4), d, FALSE, FALSE, bi == 0, p };
        char *what = g_strdup_printf ("random plan %dx%d", blocks[bi][0], blocks[bi][1]);
        run_case (rng, &c, what);
        /* the same plan again (from the device cache), then changed in place */
        run_case (rng, &c, what);
        p->partial[0] ^= 1;
        p->tokens[n - 1].kind = (p->tokens[n - 1].kind + 1) % 3;
        run_case (rng, &c, what);
        g_free (what);
        random_plan_free (p);
      }
  g_rand_free (rng);
}

/* The VAE mid-block: one head of dim 512, rows of exactly 512 elements, a tile of queries against
 * every key (ragged lengths). */
static void
test_vae_512 (void)
{
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  Case self = { g_rand_int_range (rng, 1, 400), 0, 1, 512 };
  self.n_kv = self.n_q;
  run_case (rng, &self, "VAE, head dim 512");
  Case tile = { g_rand_int_range (rng, 100, 300), g_rand_int_range (rng, 700, 1500), 1, 512 };
  run_case (rng, &tile, "VAE tile, head dim 512");
  Case two = { 130, 97, 2, 512, FALSE, FALSE, TRUE };
  run_case (rng, &two, "head dim 512, two heads, fused qkv");
  g_rand_free (rng);
}

/* Dense attention over the keys in three chunks on both backends: the first chunk's log-sum-exps
 * (written by the wide kernel at head dim 512, by the generic path otherwise), merged over the
 * chunks, match the CPU's, and the chunks merged into a running result (f32, or the backend's own
 * type) match attention over every key at once; rows neither side has seen (-inf on both) stay as
 * they were. */
static void
chunked_case (GRand *rng, int n_q, int n_kv, int d, gboolean acc_f32)
{
  const int cuts[4] = { 0, n_kv / 3, n_kv / 3 + n_kv / 4, n_kv };
  Pair q = pair_random (rng, (gsize) n_q * d, 1.0f), k = pair_random (rng, (gsize) n_kv * d, 1.0f);
  Pair v = pair_random (rng, (gsize) n_kv * d, 1.0f), full = pair_random (rng, (gsize) n_q * d, 1.0f);
  Pair part = pair_random (rng, (gsize) n_q * d, 1.0f), acc;
  float *nan = g_new (float, (gsize) n_q * d);
  Pair la, lp;
  SdBackend *bes[2] = { GPU, CPU };
  double e_lse, e_out;
  gsize i;
  int b, j;

  for (i = 0; i < (gsize) n_q * d; i++)
    nan[i] = NAN;
  acc = acc_f32 ? pair_new_f32 (nan, (gsize) n_q * d) : pair_new (nan, (gsize) n_q * d);
  la = pair_new_f32 (nan, n_q);
  lp = pair_new_f32 (nan, n_q);
  for (b = 0; b < 2; b++)
    {
      SdBackend *be = bes[b];
      SdAttnArgs a = { 0 };
      a.q = sd_view (b ? q.c : q.g, 0, d);
      a.n_q = n_q;
      a.heads = 1;
      a.head_dim = d;
      a.scale = 3.0f / sqrtf (d);
      for (j = 0; j < 3; j++)
        {
          SdBuf *pb = b ? part.c : part.g, *ab = b ? acc.c : acc.g;
          a.k = sd_view (b ? k.c : k.g, (gsize) cuts[j] * d, d);
          a.v = sd_view (b ? v.c : v.g, (gsize) cuts[j] * d, d);
          a.n_kv = cuts[j + 1] - cuts[j];
          a.out = sd_view (pb, 0, d);
          a.lse = j == 0 ? (b ? la.c : la.g) : (b ? lp.c : lp.g);
          if (b == 0 && j == 0)
            pair_poison (&part);
          be->ops->attention (be, &a);
          if (j == 0)
            be->ops->copy (be, sd_view (pb, 0, d), sd_view (ab, 0, d), n_q, d);
          else
            be->ops->attention_merge (be, sd_view (ab, 0, d), sd_view (b ? la.c : la.g, 0, 1), sd_view (pb, 0, d),
                                      sd_view (b ? lp.c : lp.g, 0, 1), n_q, d);
        }
      a.k = sd_view (b ? k.c : k.g, 0, d);
      a.v = sd_view (b ? v.c : v.g, 0, d);
      a.n_kv = n_kv;
      a.out = sd_view (b ? full.c : full.g, 0, d);
      a.lse = NULL;
      be->ops->attention (be, &a);
    }
  e_out = pair_error (&acc, 0, (gsize) n_q * d);
  e_lse = pair_error (&la, 0, n_q); /* every chunk's log-sum-exp, merged: that of all keys */
  {
    /* the CPU's merged result against its own single pass: the merge is exact up to rounding */
    GError *error = NULL;
    float *m = sd_buf_to_host (CPU, acc.c, 0, (gsize) n_q * d, &error), *f;
    g_assert_no_error (error);
    f = sd_buf_to_host (CPU, full.c, 0, (gsize) n_q * d, &error);
    g_assert_no_error (error);
    g_test_message ("chunked n_q %d n_kv %d d %d (%s running result): lse rel error %.2e, merged vs CPU "
                    "%.2e, CPU merged vs CPU whole %.2e", n_q, n_kv, d, acc_f32 ? "f32" : "bf16", e_lse, e_out,
                    sd_rel_error (m, f, (gsize) n_q * d));
    g_assert_cmpfloat (sd_rel_error (m, f, (gsize) n_q * d), <=, 1e-5);
    g_free (m);
    g_free (f);
  }
  g_assert_cmpfloat (e_lse, <=, 1e-3);
  g_assert_cmpfloat (e_out, <=, TOL);
  pair_free (&q);
  pair_free (&k);
  pair_free (&v);
  pair_free (&full);
  pair_free (&part);
  pair_free (&acc);
  pair_free (&la);
  pair_free (&lp);
  g_free (nan);
}

/* The merge on rows whose log-sum-exps are -inf on one side or both (a side that saw no key). */
static void
merge_empty_rows (GRand *rng)
{
  const int rows = 6, cols = 40;
  static const float lse_a[] = { -INFINITY, -INFINITY, 0.5f, 2.0f, -3.0f, 10.0f };
  static const float lse_p[] = { -INFINITY, 1.5f, -INFINITY, 2.0f, 4.0f, -10.0f };
  Pair acc = pair_random (rng, (gsize) rows * cols, 1.0f), part = pair_random (rng, (gsize) rows * cols, 1.0f);
  Pair la = pair_new_f32 (lse_a, rows), lp = pair_new_f32 (lse_p, rows);
  GError *error = NULL;
  float *before = sd_buf_to_host (CPU, acc.c, 0, cols, &error), *after, *lse;

  GPU->ops->attention_merge (GPU, sd_view (acc.g, 0, cols), sd_view (la.g, 0, 1), sd_view (part.g, 0, cols),
                             sd_view (lp.g, 0, 1), rows, cols);
  CPU->ops->attention_merge (CPU, sd_view (acc.c, 0, cols), sd_view (la.c, 0, 1), sd_view (part.c, 0, cols),
                             sd_view (lp.c, 0, 1), rows, cols);
  g_assert_cmpfloat (pair_error (&acc, 0, (gsize) rows * cols), <=, TOL);
  after = sd_buf_to_host (CPU, acc.c, 0, cols, &error);
  lse = sd_buf_to_host (GPU, la.g, 0, rows, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (before, cols * sizeof (float), after, cols * sizeof (float)); /* row 0 untouched */
  g_assert_true (isinf (lse[0]) && lse[0] < 0); /* (a relative error over -inf rows is no measure) */
  g_assert_cmpfloat (fabsf (lse[1] - 1.5f), <=, 1e-6);
  g_assert_cmpfloat (fabsf (lse[2] - 0.5f), <=, 1e-6);
  g_assert_cmpfloat (fabsf (lse[3] - (2.0f + logf (2.0f))), <=, 1e-5);
  g_assert_cmpfloat (fabsf (lse[4] - (4.0f + logf (1.0f + expf (-7.0f)))), <=, 1e-5);
  g_assert_cmpfloat (fabsf (lse[5] - (10.0f + logf (1.0f + expf (-20.0f)))), <=, 1e-5);
  g_free (before);
  g_free (after);
  g_free (lse);
  pair_free (&acc);
  pair_free (&part);
  pair_free (&la);
  pair_free (&lp);
}

static void
test_chunked_merge (void)
{
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  chunked_case (rng, g_rand_int_range (rng, 1, 300), g_rand_int_range (rng, 300, 1200), 512, TRUE);
  chunked_case (rng, g_rand_int_range (rng, 1, 300), g_rand_int_range (rng, 300, 1200), 512, FALSE);
  chunked_case (rng, g_rand_int_range (rng, 1, 100), g_rand_int_range (rng, 50, 300), 32, TRUE);
  chunked_case (rng, g_rand_int_range (rng, 1, 100), g_rand_int_range (rng, 50, 300), 64, TRUE);
  merge_empty_rows (rng);
  g_rand_free (rng);
}

/* Plans from the layout code: a small [text | HR | LR] sequence in each token order. */
static void
test_scale_dit_plans (void)
{
  static const SdTokenOrder orders[] = { SD_ORDER_HILBERT, SD_ORDER_WINDOW, SD_ORDER_RASTER };
  GRand *rng;
  if (cuda_test_skip ())
    return;
  rng = g_rand_new_with_seed (g_test_rand_int ());
  for (gsize oi = 0; oi < G_N_ELEMENTS (orders); oi++)
    {
      SdLayoutSpec spec = { 0 };
      GError *error = NULL;
      spec.n_text = 77;
      spec.hr_rows = 40;
      spec.hr_cols = 36;
      spec.lr_rows = 10;
      spec.lr_cols = 9;
      spec.window = 16;
      spec.order = orders[oi];
      SdLayout *layout = sd_layout_new (&spec, &error);
      g_assert_no_error (error);
      SdAttnPlan *plan = sd_attn_plan_new (layout, NULL, 128, 64, &error);
      g_assert_no_error (error);
      Case c = { layout->n_tokens, layout->n_tokens, 2, oi == 1 ? 64 : 128, FALSE, FALSE, TRUE, plan };
      run_case (rng, &c, oi == 0 ? "Scale-DiT plan, Hilbert" : oi == 1 ? "Scale-DiT plan, window" : "Scale-DiT plan, raster");
      sd_attn_plan_free (plan);
      sd_layout_free (layout);
    }
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda/attention/dense", test_dense);
  g_test_add_func ("/cuda/attention/causal", test_causal);
  g_test_add_func ("/cuda/attention/t5-bias", test_t5_bias);
  g_test_add_func ("/cuda/attention/random-plans", test_random_plans);
  g_test_add_func ("/cuda/attention/scale-dit-plans", test_scale_dit_plans);
  g_test_add_func ("/cuda/attention/vae-512", test_vae_512);
  g_test_add_func ("/cuda/attention/chunked-merge", test_chunked_merge);
  return g_test_run ();
}

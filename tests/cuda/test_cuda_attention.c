/* test_cuda_attention.c: the CUDA attention kernel against the CPU backend's attention on fresh
 * random inputs: random block-sparse plans (random key blocks, partial flags and token
 * positions), real Scale-DiT plans in all three token orders, ragged lengths, head dims 64 and
 * 128, dense, cross, causal (CLIP) and T5-bias attention, and the VAE's one head of dim 512;
 * ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-2. On Hopper the sm_90a kernel runs; SCALEDIT_ATTENTION=mma in the
 * environment tests the portable kernel instead. */
#include <math.h>

#include "cuda_testutil.h"
#include "layout.h"

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
  return g_test_run ();
}

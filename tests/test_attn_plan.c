/* test_attn_plan.c: the block-sparse attention plan against brute force over all token pairs
 * (with a mask written here from the grids), block-sparse CPU attention against naive dense
 * masked attention, and the block densities of the three orders at 4096². */
#include <math.h>
#include <stdlib.h>

#include "backend.h"
#include "layout.h"
#include "testutil.h"

typedef struct {
  int n_text, hr_rows, hr_cols, lr_rows, lr_cols, window;
} Case;

static const Case cases[] = {
  { 5, 16, 16, 4, 4, 8 },
  { 3, 20, 37, 5, 10, 8 },   /* partial windows */
  { 0, 33, 18, 11, 6, 16 },  /* partial windows, no text */
  { 17, 24, 40, 7, 13, 8 },  /* non-integer LR windows */
  { 2, 9, 13, 0, 0, 4 },     /* no LR */
  { 1, 1, 1, 1, 1, 16 },
  { 4, 48, 16, 3, 1, 8 },    /* empty LR windows */
  { 64, 32, 32, 8, 8, 16 },
};
static const int blocks[][2] = { { 128, 64 }, { 16, 16 }, { 32, 8 }, { 7, 5 }, { 64, 128 }, { 1, 3 } };
static const SdMaskRules rule_sets[] = { { 8, 2, 1 }, { 3, 1, 0 }, { 0, 0, 2 }, { 5, 3, 1 } };
static const SdTokenOrder orders[] = { SD_ORDER_HILBERT, SD_ORDER_WINDOW, SD_ORDER_RASTER };

/* A token's place computed here from the layout's permutations alone. */
typedef struct {
  int kind, row, col, wrow, wcol;
} Place;

static Place *
places (const SdLayout *l)
{
  const SdLayoutSpec *s = &l->spec;
  Place *p = g_new0 (Place, l->n_tokens);
  int i;
  for (i = l->hr_start; i < l->lr_start; i++)
    {
      int cell = l->hr_perm[i - l->hr_start];
      p[i].kind = 1;
      p[i].row = cell / s->hr_cols;
      p[i].col = cell % s->hr_cols;
      p[i].wrow = p[i].row / s->window;
      p[i].wcol = p[i].col / s->window;
    }
  for (i = l->lr_start; i < l->n_tokens; i++)
    {
      int cell = l->lr_perm[i - l->lr_start];
      p[i].kind = 2;
      p[i].row = cell / s->lr_cols;
      p[i].col = cell % s->lr_cols;
      /* the HR window holding the LR token's centre */
      p[i].wrow = (int) floor ((p[i].row + 0.5) * s->hr_rows / s->lr_rows / s->window);
      p[i].wcol = (int) floor ((p[i].col + 0.5) * s->hr_cols / s->lr_cols / s->window);
    }
  return p;
}

/* The Scale-DiT inference mask (DESIGN.md section 3, spatial form). */
static gboolean
allowed (const SdMaskRules *r, const Place *q, const Place *k)
{
  if (q->kind == 0)
    return k->kind != 2;
  if (q->kind == 1)
    {
      if (k->kind == 0)
        return TRUE;
      if (k->kind == 1)
        return abs (q->row - k->row) <= r->hr_radius && abs (q->col - k->col) <= r->hr_radius;
      return q->wrow == k->wrow && abs (q->wcol - k->wcol) <= r->lr_window_span;
    }
  return k->kind == 2 && abs (q->row - k->row) <= r->lr_radius && abs (q->col - k->col) <= r->lr_radius;
}

static SdLayout *
make (const Case *c, SdTokenOrder order)
{
  SdLayoutSpec spec = { c->n_text, c->hr_rows, c->hr_cols, c->lr_rows, c->lr_cols, c->window, order, 0, 0 };
  GError *error = NULL;
  SdLayout *l = sd_layout_new (&spec, &error);
  g_assert_no_error (error);
  return l;
}

/* Checks the plan of one configuration against all pairs; counts full and partial blocks. */
static void
check_plan (const Case *c, SdTokenOrder order, int qbs, int kbs, const SdMaskRules *rules,
            gint64 *n_full, gint64 *n_partial)
{
  SdLayout *l = make (c, order);
  GError *error = NULL;
  SdAttnPlan *p = sd_attn_plan_new (l, rules, qbs, kbs, &error);
  Place *pl = places (l);
  const int n = l->n_tokens, nqb = (n + qbs - 1) / qbs, nkb = (n + kbs - 1) / kbs;
  int *count = g_new0 (int, (gsize) nqb * nkb);
  gint64 allowed_pairs = 0, computed_blocks = 0, computed_pairs = 0, full = 0;
  SdAttnPlanStats st;
  int i, j, qb, kb;

  g_assert_no_error (error);
  g_assert_cmpint (p->n_tokens, ==, n);
  g_assert_cmpint (p->n_q_blocks, ==, nqb);
  g_assert_cmpint (p->n_k_blocks, ==, nkb);
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      {
        gboolean a = allowed (rules, &pl[i], &pl[j]);
        g_assert_cmpint (a, ==, sd_mask_allows (rules, &p->tokens[i], &p->tokens[j]));
        if (a)
          {
            count[(gsize) (i / qbs) * nkb + j / kbs]++;
            allowed_pairs++;
          }
      }
  for (qb = 0; qb < nqb; qb++)
    {
      int nq = MIN (n, (qb + 1) * qbs) - qb * qbs, e = p->row_start[qb];
      for (kb = 0; kb < nkb; kb++)
        {
          int nk = MIN (n, (kb + 1) * kbs) - kb * kbs, got = count[(gsize) qb * nkb + kb];
          if (!got)
            {
              g_assert_true (e == p->row_start[qb + 1] || p->kblock[e] != kb);
              continue;
            }
          /* listed, in ascending order, full iff every real pair is allowed */
          g_assert_cmpint (e, <, p->row_start[qb + 1]);
          g_assert_cmpint (p->kblock[e], ==, kb);
          g_assert_cmpint (p->partial[e], ==, got < nq * nk);
          computed_blocks++;
          computed_pairs += (gint64) nq * nk;
          full += got == nq * nk;
          e++;
        }
      g_assert_cmpint (e, ==, p->row_start[qb + 1]);
    }
  sd_attn_plan_stats (p, l, &st);
  g_assert_cmpint (st.allowed_pairs, ==, allowed_pairs);
  g_assert_cmpint (st.computed_blocks, ==, computed_blocks);
  g_assert_cmpint (st.full_blocks, ==, full);
  g_assert_cmpint (st.computed_pairs, ==, computed_pairs);
  g_assert_cmpint (st.total_blocks, ==, (gint64) nqb * nkb);
  g_assert_cmpfloat_with_epsilon (st.allowed_fraction, (double) allowed_pairs / ((double) n * n), 1e-12);
  *n_full += full;
  *n_partial += computed_blocks - full;
  g_free (count);
  g_free (pl);
  sd_attn_plan_free (p);
  sd_layout_free (l);
}

static void
test_plan_exact (void)
{
  gint64 n_full = 0, n_partial = 0;
  gsize ci, oi, bi;
  for (ci = 0; ci < G_N_ELEMENTS (cases); ci++)
    for (oi = 0; oi < G_N_ELEMENTS (orders); oi++)
      for (bi = 0; bi < G_N_ELEMENTS (blocks); bi++)
        check_plan (&cases[ci], orders[oi], blocks[bi][0], blocks[bi][1],
                    &rule_sets[(ci + oi + bi) % G_N_ELEMENTS (rule_sets)], &n_full, &n_partial);
  g_assert_cmpint (n_full, >, 0);
  g_assert_cmpint (n_partial, >, 0);
}

static void
test_plan_random (void)
{
  gint64 n_full = 0, n_partial = 0;
  int t;
  for (t = 0; t < 24; t++)
    {
      Case c;
      SdMaskRules r;
      int f = g_test_rand_int_range (1, 6);
      c.n_text = g_test_rand_int_range (0, 40);
      c.hr_rows = g_test_rand_int_range (1, 36);
      c.hr_cols = g_test_rand_int_range (1, 36);
      c.lr_rows = f == 1 ? 0 : (c.hr_rows + f - 1) / f;
      c.lr_cols = f == 1 ? 0 : (c.hr_cols + f - 1) / f;
      c.window = g_test_rand_int_range (1, 17);
      r.hr_radius = g_test_rand_int_range (0, 10);
      r.lr_radius = g_test_rand_int_range (0, 4);
      r.lr_window_span = g_test_rand_int_range (0, 3);
      check_plan (&c, orders[t % 3], g_test_rand_int_range (1, 160), g_test_rand_int_range (1, 160),
                  &r, &n_full, &n_partial);
    }
}

/* Naive dense attention with the mask above: out[i] = softmax(q_i k^T * scale | mask) v. */
static float *
dense_masked (const float *q, const float *k, const float *v, int n, int heads, int d,
              const SdMaskRules *r, const Place *pl)
{
  const int ld = heads * d;
  float *out = g_new0 (float, (gsize) n * ld);
  double *s = g_new (double, n);
  int h, i, j, c;
  for (h = 0; h < heads; h++)
    for (i = 0; i < n; i++)
      {
        double mx = -INFINITY, sum = 0;
        for (j = 0; j < n; j++)
          {
            s[j] = -INFINITY;
            if (!allowed (r, &pl[i], &pl[j]))
              continue;
            s[j] = 0;
            for (c = 0; c < d; c++)
              s[j] += (double) q[(gsize) i * ld + h * d + c] * k[(gsize) j * ld + h * d + c];
            s[j] /= sqrt (d);
            mx = MAX (mx, s[j]);
          }
        for (j = 0; j < n; j++)
          {
            double e = s[j] == -INFINITY ? 0 : exp (s[j] - mx);
            sum += e;
            for (c = 0; c < d && e != 0; c++)
              out[(gsize) i * ld + h * d + c] += e * v[(gsize) j * ld + h * d + c];
          }
        for (c = 0; c < d; c++)
          out[(gsize) i * ld + h * d + c] /= sum;
      }
  g_free (s);
  return out;
}

static void
test_sparse_attention (void)
{
  static const struct {
    Case c;
    int qbs, kbs, heads, head_dim;
    SdMaskRules rules;
  } runs[] = {
    { { 7, 20, 37, 5, 10, 8 }, 32, 16, 2, 64, { 8, 2, 1 } },
    { { 5, 16, 16, 4, 4, 8 }, 16, 16, 2, 128, { 8, 2, 1 } },
    { { 3, 24, 40, 7, 13, 8 }, 64, 32, 3, 32, { 4, 1, 1 } },
    { { 9, 11, 30, 0, 0, 4 }, 128, 64, 2, 64, { 6, 2, 1 } },
  };
  SdBackend *be = sd_backend_cpu_new ();
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  gint64 n_full = 0, n_partial = 0;
  gsize ri, oi;

  for (ri = 0; ri < G_N_ELEMENTS (runs); ri++)
    for (oi = 0; oi < G_N_ELEMENTS (orders); oi++)
      {
        SdLayout *l = make (&runs[ri].c, orders[oi]);
        SdAttnPlan *p = sd_attn_plan_new (l, &runs[ri].rules, runs[ri].qbs, runs[ri].kbs, NULL);
        const int n = l->n_tokens, heads = runs[ri].heads, d = runs[ri].head_dim, ld = heads * d;
        const gsize size = (gsize) n * ld;
        Place *pl = places (l);
        float *q = sd_test_random (rng, size, 2.0f), *k = sd_test_random (rng, size, 2.0f);
        float *v = sd_test_random (rng, size, 1.0f), *want, *got;
        SdBuf *bq, *bk, *bv, *bo;
        SdAttnArgs args = { 0 };
        GError *error = NULL;
        SdAttnPlanStats st;
        double err;

        sd_attn_plan_stats (p, l, &st);
        n_full += st.full_blocks;
        n_partial += st.computed_blocks - st.full_blocks;
        bq = sd_buf_from_host (be, q, size, &error);
        bk = sd_buf_from_host (be, k, size, &error);
        bv = sd_buf_from_host (be, v, size, &error);
        bo = be->ops->alloc (be, size, &error);
        g_assert_no_error (error);
        args.q = sd_view (bq, 0, ld);
        args.k = sd_view (bk, 0, ld);
        args.v = sd_view (bv, 0, ld);
        args.out = sd_view (bo, 0, ld);
        args.n_q = args.n_kv = n;
        args.heads = heads;
        args.head_dim = d;
        args.scale = 1.0f / sqrtf (d);
        args.plan = p;
        be->ops->attention (be, &args);
        got = sd_buf_to_host (be, bo, 0, size, &error);
        g_assert_no_error (error);
        want = dense_masked (q, k, v, n, heads, d, &runs[ri].rules, pl);
        err = sd_rel_error (got, want, size);
        if (err > 1e-5)
          g_error ("run %zu order %zu: relative error %g", ri, oi, err);
        be->ops->release (be, bq);
        be->ops->release (be, bk);
        be->ops->release (be, bv);
        be->ops->release (be, bo);
        g_free (q);
        g_free (k);
        g_free (v);
        g_free (got);
        g_free (want);
        g_free (pl);
        sd_attn_plan_free (p);
        sd_layout_free (l);
      }
  g_assert_cmpint (n_full, >, 0);
  g_assert_cmpint (n_partial, >, 0);
  g_rand_free (rng);
  sd_backend_close (be);
}

static SdLayoutStats
image_stats (int side, SdTokenOrder order)
{
  SdLayoutStatsRequest req = { side, side, 4, 16, 512, order, 128, 64, 8, 2, 1 };
  SdLayoutStats st;
  GError *error = NULL;
  g_assert_true (sd_layout_stats (&req, &st, &error));
  g_assert_no_error (error);
  return st;
}

/* At 4096² with 128 × 64 blocks: Hilbert < window-first raster < plain raster. */
static void
test_density_4k (void)
{
  SdLayoutStats h = image_stats (4096, SD_ORDER_HILBERT);
  SdLayoutStats w = image_stats (4096, SD_ORDER_WINDOW);
  SdLayoutStats r = image_stats (4096, SD_ORDER_RASTER);

  g_test_message ("4096x4096: density hilbert %.3f%%, window %.3f%%, raster %.3f%%; allowed %.3f%%",
                  100 * h.density, 100 * w.density, 100 * r.density, 100 * h.allowed_fraction);
  g_assert_cmpint (h.n_tokens, ==, 512 + 256 * 256 + 64 * 64);
  g_assert_cmpint (h.total_blocks, ==, (gint64) 548 * 1096);
  g_assert_cmpfloat (h.density, <, w.density);
  g_assert_cmpfloat (w.density, <, r.density);
  g_assert_cmpfloat (w.density, <, 0.6 * r.density);
  g_assert_cmpfloat (h.allowed_fraction, ==, w.allowed_fraction);
  g_assert_cmpfloat (h.allowed_fraction, ==, r.allowed_fraction);
  g_assert_cmpfloat (h.allowed_fraction, <, h.computed_fraction);
}

/* 8192²: 279,040 tokens; the plan builds well under a second. */
static void
test_build_time_8k (void)
{
  SdLayoutStats h = image_stats (8192, SD_ORDER_HILBERT);
  g_test_message ("8192x8192: %d tokens, density %.3f%%, built in %.1f ms", h.n_tokens,
                  100 * h.density, 1e3 * h.build_seconds);
  g_assert_cmpint (h.n_tokens, ==, 512 + 512 * 512 + 128 * 128);
  g_assert_cmpfloat (h.build_seconds, <, 1.0);
}

static void
test_errors (void)
{
  SdLayout *l = make (&cases[0], SD_ORDER_HILBERT);
  SdMaskRules bad = { -1, 2, 1 };
  GError *error = NULL;

  g_assert_null (sd_attn_plan_new (l, NULL, -4, 64, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (sd_attn_plan_new (l, &bad, 128, 64, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  sd_layout_free (l);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/attn-plan/exact", test_plan_exact);
  g_test_add_func ("/attn-plan/random", test_plan_random);
  g_test_add_func ("/attn-plan/sparse-attention", test_sparse_attention);
  g_test_add_func ("/attn-plan/density-4k", test_density_4k);
  g_test_add_func ("/attn-plan/build-time-8k", test_build_time_8k);
  g_test_add_func ("/attn-plan/errors", test_errors);
  return g_test_run ();
}

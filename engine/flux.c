/* flux.c: the FLUX transformer's forward pass over [text | image] tokens on the backend interface,
 * with AdaLN modulation that can differ per group of image tokens (Scale-DiT's LR guidance) and
 * LoRA layers routed per token stream. */
#include <math.h>
#include <string.h>

#include "flux_internal.h"
#include "lora.h"
#include "scaledit.h"

#define MAX_GROUPS 4
#define MAX_SEGMENTS 8

struct SdFluxRun {
  SdFlux *f;
  SdBackend *be;
  int n_text, n_img, n;
  const SdAttnPlan *plan;
  SdBuf *txt;          /* [T, D] context embedder output, fixed over the run */
  SdBuf *pooled;       /* [MAX_GROUPS, pooled_dim]: the pooled vector repeated */
  SdBuf *cos, *sin;    /* [N, head_dim / 2] */
  SdBuf *x, *nrm, *tmp;    /* [N, D] */
  SdBuf *wide;         /* [N, 3D + M]: q, k, v (+ MLP input of single blocks, MLP hidden) */
  SdBuf *cat;          /* [N, D + M]: attention output | activated MLP */
  SdBuf *emb_in;       /* [MAX_GROUPS, 256] */
  SdBuf *emb_h, *temb, *stemb, *emb_t; /* [MAX_GROUPS, D] */
  SdBuf *mod_a, *mod_b;    /* [MAX_GROUPS, 6D] */
  const SdLora *lora;  /* NULL: none (or a user scale of 0) */
  float lora_scale;
  SdLoraRouting routing;
  int lr0;             /* first LR row of the sequence (n without LR) */
  SdBuf *lora_h, *lora_d; /* [N, max rank], [N, max LoRA output] */
};

static SdBuf *
alloc (SdFluxRun *r, gsize n, GError **error)
{
  return r->be->ops->alloc (r->be, n, error);
}

void
sd_flux_run_free (SdFluxRun *r)
{
  gsize i;
  if (!r)
    return;
  {
    SdBuf *bufs[] = { r->txt, r->pooled, r->cos, r->sin, r->x, r->nrm, r->tmp, r->wide, r->cat,
                      r->emb_in, r->emb_h, r->temb, r->stemb, r->emb_t, r->mod_a, r->mod_b, r->lora_h, r->lora_d };
    for (i = 0; i < G_N_ELEMENTS (bufs); i++)
      if (bufs[i])
        r->be->ops->release (r->be, bufs[i]);
  }
  g_free (r);
}

/* Adds the LoRA layers of `lin` to its output y over the span of `rows` rows starting at sequence
 * row seq_r0 (x and y are views of the span's first row, x with K columns). q/k/v layers, and every
 * layer under routing "all", reach every row; the others only the span's LR rows. */
static void
lora_add (SdFluxRun *r, const SdLinear *lin, SdView x, int K, SdView y, int seq_r0, int rows)
{
  SdBackend *be = r->be;
  SdLoraLayer *const *ls;
  int n, i;

  if (!r->lora)
    return;
  ls = sd_lora_layers (r->lora, lin, &n);
  for (i = 0; i < n; i++)
    {
      const SdLoraLayer *l = ls[i];
      int a = 0;
      if (!l->qkv && r->routing == SD_LORA_ROUTE_SCALE_DIT)
        a = MAX (0, r->lr0 - seq_r0);
      if (a >= rows)
        continue;
      be->ops->linear (be, sd_view (x.buf, x.off + (gsize) a * x.ld, x.ld), rows - a, K, l->a, NULL,
                       sd_view (r->lora_h, 0, l->rank), l->rank, SD_ACT_NONE);
      be->ops->linear (be, sd_view (r->lora_h, 0, l->rank), rows - a, l->rank, l->b, NULL, sd_view (r->lora_d, 0, l->out),
                       l->out, SD_ACT_NONE);
      be->ops->axpby (be, r->lora_scale * l->scale, sd_view (r->lora_d, 0, l->out), 1.0f,
                      sd_view (y.buf, y.off + (gsize) a * y.ld + l->col0, y.ld), rows - a, l->out);
    }
}

static gboolean
has_lora (SdFluxRun *r, const SdLinear *lin)
{
  int n = 0;
  if (r->lora)
    sd_lora_layers (r->lora, lin, &n);
  return n > 0;
}

/* y = act(x W^T + b) plus the LoRA of the linear (before the activation). */
static void
linear_lora (SdFluxRun *r, const SdLinear *lin, SdView x, int K, SdView y, int N, int seq_r0, int rows, SdAct act)
{
  const SdBackendOps *o = r->be->ops;
  if (!has_lora (r, lin))
    {
      o->linear (r->be, x, rows, K, lin->w, lin->b, y, N, act);
      return;
    }
  o->linear (r->be, x, rows, K, lin->w, lin->b, y, N, SD_ACT_NONE);
  lora_add (r, lin, x, K, y, seq_r0, rows);
  if (act != SD_ACT_NONE)
    o->activate (r->be, y, y, rows, N, act);
}

SdFluxRun *
sd_flux_run_new (SdFlux *f, const SdFluxSetup *s, GError **error)
{
  const SdFluxConfig *c = &f->cfg;
  const gsize D = c->hidden, M = c->mlp_hidden, half = c->head_dim / 2;
  SdFluxRun *r = g_new0 (SdFluxRun, 1);
  SdBuf *txt_in = NULL;
  float *cosv = NULL, *sinv = NULL, *pooled = NULL;
  gsize n;
  int g;

  r->f = f;
  r->be = f->be;
  r->n_text = s->n_text;
  r->n_img = s->n_img;
  r->n = n = s->n_text + s->n_img;
  r->plan = s->plan;
  r->lora = s->lora_scale != 0.0f ? s->lora : NULL;
  r->lora_scale = s->lora_scale;
  r->routing = s->lora_routing;
  r->lr0 = (int) n - s->n_lr;
  if (s->n_lr < 0 || s->n_lr > s->n_img)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%d LR tokens among %d image tokens", s->n_lr, s->n_img);
      goto fail;
    }
  if (s->n_img <= 0 || s->n_text < 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "a FLUX run needs image tokens (got %d) and text (got %d)",
                   s->n_img, s->n_text);
      goto fail;
    }
  if (s->plan && s->plan->n_tokens != (int) n)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "the attention plan covers %d tokens, the sequence has %d",
                   s->plan->n_tokens, (int) n);
      goto fail;
    }
  if (!(r->x = alloc (r, n * D, error)) || !(r->nrm = alloc (r, n * D, error)) || !(r->tmp = alloc (r, n * D, error))
      || !(r->wide = alloc (r, n * (3 * D + M), error)) || !(r->cat = alloc (r, n * (D + M), error))
      || !(r->emb_in = alloc (r, MAX_GROUPS * 256, error)) || !(r->emb_h = alloc (r, MAX_GROUPS * D, error))
      || !(r->temb = alloc (r, MAX_GROUPS * D, error)) || !(r->stemb = alloc (r, MAX_GROUPS * D, error))
      || !(r->emb_t = alloc (r, MAX_GROUPS * D, error)) || !(r->mod_a = alloc (r, MAX_GROUPS * 6 * D, error))
      || !(r->mod_b = alloc (r, MAX_GROUPS * 6 * D, error)) || !(r->cos = alloc (r, n * half, error))
      || !(r->sin = alloc (r, n * half, error)) || !(r->txt = alloc (r, MAX (s->n_text, 1) * D, error)))
    goto fail;
  if (r->lora && (!(r->lora_h = alloc (r, n * sd_lora_max_rank (r->lora), error))
                  || !(r->lora_d = alloc (r, n * sd_lora_max_out (r->lora), error))))
    goto fail;

  /* The text stream's input projection and the rotary tables do not change over the run. */
  if (s->n_text > 0)
    {
      txt_in = sd_buf_from_host (r->be, s->txt, (gsize) s->n_text * c->joint_attention_dim, error);
      if (!txt_in)
        goto fail;
      linear_lora (r, &f->context_embedder, sd_view (txt_in, 0, c->joint_attention_dim), c->joint_attention_dim,
                   sd_view (r->txt, 0, D), D, 0, s->n_text, SD_ACT_NONE);
    }
  cosv = g_new (float, n * half);
  sinv = g_new (float, n * half);
  sd_rope_tables (s->rope_ids, n, c->axes_dims_rope, s->rope_theta, cosv, sinv);
  pooled = g_new (float, MAX_GROUPS * c->pooled_projection_dim);
  for (g = 0; g < MAX_GROUPS; g++)
    memcpy (pooled + (gsize) g * c->pooled_projection_dim, s->pooled, c->pooled_projection_dim * sizeof (float));
  if (!r->be->ops->upload (r->be, r->cos, 0, cosv, n * half, error)
      || !r->be->ops->upload (r->be, r->sin, 0, sinv, n * half, error)
      || !(r->pooled = sd_buf_from_host (r->be, pooled, MAX_GROUPS * c->pooled_projection_dim, error))
      || !r->be->ops->sync (r->be, error))
    goto fail;
  g_free (cosv);
  g_free (sinv);
  g_free (pooled);
  if (txt_in)
    r->be->ops->release (r->be, txt_in);
  return r;

fail:
  g_free (cosv);
  g_free (sinv);
  g_free (pooled);
  if (txt_in)
    r->be->ops->release (r->be, txt_in);
  sd_flux_run_free (r);
  return NULL;
}

/* temb[g] = time(t_g) + guidance + text(pooled); stemb = silu(temb). */
static gboolean
conditioning (SdFluxRun *r, const float *timesteps, int G, float guidance, GError **error)
{
  SdFlux *f = r->f;
  SdBackend *be = r->be;
  const SdBackendOps *o = be->ops;
  const int D = f->cfg.hidden;
  float in[MAX_GROUPS * 256];
  int g;

  for (g = 0; g < G; g++)
    sd_timestep_embedding (timesteps[g] * 1000.0f, 256, in + g * 256);
  if (!o->upload (be, r->emb_in, 0, in, (gsize) G * 256, error))
    return FALSE;
  o->linear (be, sd_view (r->emb_in, 0, 256), G, 256, f->time1.w, f->time1.b, sd_view (r->emb_h, 0, D), D, SD_ACT_SILU);
  o->linear (be, sd_view (r->emb_h, 0, D), G, D, f->time2.w, f->time2.b, sd_view (r->temb, 0, D), D, SD_ACT_NONE);
  if (f->cfg.guidance_embeds)
    {
      for (g = 0; g < G; g++)
        sd_timestep_embedding (guidance * 1000.0f, 256, in + g * 256);
      if (!o->upload (be, r->emb_in, 0, in, (gsize) G * 256, error))
        return FALSE;
      o->linear (be, sd_view (r->emb_in, 0, 256), G, 256, f->guid1.w, f->guid1.b, sd_view (r->emb_h, 0, D), D,
                 SD_ACT_SILU);
      o->linear (be, sd_view (r->emb_h, 0, D), G, D, f->guid2.w, f->guid2.b, sd_view (r->emb_t, 0, D), D,
                 SD_ACT_NONE);
      o->add_gated (be, sd_view (r->temb, 0, D), sd_view (r->emb_t, 0, D), G, D, sd_view (NULL, 0, 0), NULL);
    }
  o->linear (be, sd_view (r->pooled, 0, f->cfg.pooled_projection_dim), G, f->cfg.pooled_projection_dim, f->text1.w,
             f->text1.b, sd_view (r->emb_h, 0, D), D, SD_ACT_SILU);
  o->linear (be, sd_view (r->emb_h, 0, D), G, D, f->text2.w, f->text2.b, sd_view (r->emb_t, 0, D), D, SD_ACT_NONE);
  o->add_gated (be, sd_view (r->temb, 0, D), sd_view (r->emb_t, 0, D), G, D, sd_view (NULL, 0, 0), NULL);
  o->activate (be, sd_view (r->temb, 0, D), sd_view (r->stemb, 0, D), G, D, SD_ACT_SILU);
  return TRUE;
}

/* Rows [r0, r0 + rows) of the sequence with their modulation groups. */
typedef struct {
  int r0, rows;
  const SdSegments *groups;
} Span;

static SdModulation
modulation (SdBuf *mod, int ld, int shift_col, int scale_col, const SdSegments *groups)
{
  SdModulation m;
  m.shift = sd_view (mod, shift_col, ld);
  m.scale = sd_view (mod, scale_col, ld);
  m.groups = *groups;
  return m;
}

static void
attention (SdFluxRun *r, int ldw, int ldc)
{
  const SdFluxConfig *c = &r->f->cfg;
  SdAttnArgs a = { 0 };
  a.q = sd_view (r->wide, 0, ldw);
  a.k = sd_view (r->wide, c->hidden, ldw);
  a.v = sd_view (r->wide, 2 * c->hidden, ldw);
  a.out = sd_view (r->cat, 0, ldc);
  a.n_q = a.n_kv = r->n;
  a.heads = c->heads;
  a.head_dim = c->head_dim;
  a.scale = 1.0f / sqrtf ((float) c->head_dim);
  a.plan = r->plan;
  r->be->ops->attention (r->be, &a);
}

static void
double_block (SdFluxRun *r, SdFluxDouble *b, int G, const Span *spans)
{
  const SdFluxConfig *c = &r->f->cfg;
  SdBackend *be = r->be;
  const SdBackendOps *o = be->ops;
  const int D = c->hidden, M = c->mlp_hidden, ldw = 3 * D + M, ldc = D + M;
  SdFluxStream *st[2] = { &b->txt, &b->img };
  SdBuf *mods[2] = { r->mod_a, r->mod_b };
  int s;

  for (s = 0; s < 2; s++)
    {
      const Span *sp = &spans[s];
      SdModulation m = modulation (mods[s], 6 * D, 0, D, sp->groups);
      if (sp->rows == 0)
        continue;
      o->linear (be, sd_view (r->stemb, 0, D), G, D, st[s]->mod.w, st[s]->mod.b, sd_view (mods[s], 0, 6 * D),
                 6 * D, SD_ACT_NONE);
      o->layer_norm (be, sd_view (r->x, (gsize) sp->r0 * D, D), sd_view (r->nrm, (gsize) sp->r0 * D, D), sp->rows, D,
                     1e-6f, NULL, NULL, &m);
      linear_lora (r, &st[s]->qkv, sd_view (r->nrm, (gsize) sp->r0 * D, D), D, sd_view (r->wide, (gsize) sp->r0 * ldw, ldw),
                   3 * D, sp->r0, sp->rows, SD_ACT_NONE);
      o->head_norm_rope (be, sd_view (r->wide, (gsize) sp->r0 * ldw, ldw), sp->rows, c->heads, c->head_dim, 1e-6f,
                         st[s]->q_norm, NULL, NULL);
      o->head_norm_rope (be, sd_view (r->wide, (gsize) sp->r0 * ldw + D, ldw), sp->rows, c->heads, c->head_dim,
                         1e-6f, st[s]->k_norm, NULL, NULL);
    }
  o->head_norm_rope (be, sd_view (r->wide, 0, ldw), r->n, c->heads, c->head_dim, 0, NULL, r->cos, r->sin);
  o->head_norm_rope (be, sd_view (r->wide, D, ldw), r->n, c->heads, c->head_dim, 0, NULL, r->cos, r->sin);
  attention (r, ldw, ldc);
  for (s = 0; s < 2; s++)
    {
      const Span *sp = &spans[s];
      SdModulation m = modulation (mods[s], 6 * D, 3 * D, 4 * D, sp->groups);
      SdView x = sd_view (r->x, (gsize) sp->r0 * D, D), tmp = sd_view (r->tmp, (gsize) sp->r0 * D, D);
      SdView nrm = sd_view (r->nrm, (gsize) sp->r0 * D, D), hid = sd_view (r->wide, (gsize) sp->r0 * ldw, ldw);
      if (sp->rows == 0)
        continue;
      linear_lora (r, &st[s]->proj, sd_view (r->cat, (gsize) sp->r0 * ldc, ldc), D, tmp, D, sp->r0, sp->rows,
                   SD_ACT_NONE);
      o->add_gated (be, x, tmp, sp->rows, D, sd_view (mods[s], 2 * D, 6 * D), sp->groups);
      o->layer_norm (be, x, nrm, sp->rows, D, 1e-6f, NULL, NULL, &m);
      linear_lora (r, &st[s]->mlp0, nrm, D, hid, M, sp->r0, sp->rows, SD_ACT_GELU_TANH);
      linear_lora (r, &st[s]->mlp2, hid, M, tmp, D, sp->r0, sp->rows, SD_ACT_NONE);
      o->add_gated (be, x, tmp, sp->rows, D, sd_view (mods[s], 5 * D, 6 * D), sp->groups);
    }
}

static void
single_block (SdFluxRun *r, SdFluxSingle *b, int G, const SdSegments *all)
{
  const SdFluxConfig *c = &r->f->cfg;
  SdBackend *be = r->be;
  const SdBackendOps *o = be->ops;
  const int D = c->hidden, M = c->mlp_hidden, ldw = 3 * D + M, ldc = D + M;
  SdModulation m = modulation (r->mod_a, 3 * D, 0, D, all);

  o->linear (be, sd_view (r->stemb, 0, D), G, D, b->mod.w, b->mod.b, sd_view (r->mod_a, 0, 3 * D), 3 * D,
             SD_ACT_NONE);
  o->layer_norm (be, sd_view (r->x, 0, D), sd_view (r->nrm, 0, D), r->n, D, 1e-6f, NULL, NULL, &m);
  linear_lora (r, &b->lin1, sd_view (r->nrm, 0, D), D, sd_view (r->wide, 0, ldw), 3 * D + M, 0, r->n, SD_ACT_NONE);
  o->head_norm_rope (be, sd_view (r->wide, 0, ldw), r->n, c->heads, c->head_dim, 1e-6f, b->q_norm, r->cos, r->sin);
  o->head_norm_rope (be, sd_view (r->wide, D, ldw), r->n, c->heads, c->head_dim, 1e-6f, b->k_norm, r->cos, r->sin);
  attention (r, ldw, ldc);
  o->activate (be, sd_view (r->wide, 3 * D, ldw), sd_view (r->cat, D, ldc), r->n, M, SD_ACT_GELU_TANH);
  linear_lora (r, &b->lin2, sd_view (r->cat, 0, ldc), D + M, sd_view (r->tmp, 0, D), D, 0, r->n, SD_ACT_NONE);
  o->add_gated (be, sd_view (r->x, 0, D), sd_view (r->tmp, 0, D), r->n, D, sd_view (r->mod_a, 2 * D, 3 * D), all);
}

gboolean
sd_flux_forward (SdFluxRun *r, SdBuf *img, const float *timesteps, int G, const SdSegments *img_groups,
                 float guidance, SdBuf *out, GError **error)
{
  SdFlux *f = r->f;
  const SdFluxConfig *c = &f->cfg;
  SdBackend *be = r->be;
  const SdBackendOps *o = be->ops;
  const int D = c->hidden, T = r->n_text;
  SdSegment txt_seg = { 0, T, 0 }, all_seg[MAX_SEGMENTS + 1], img_seg[MAX_SEGMENTS];
  SdSegments txt_groups = { &txt_seg, 1 }, all_groups, imgs;
  Span spans[2];
  int i, n_seg;

  if (G < 1 || G > MAX_GROUPS)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%d timestep groups (1 to %d supported)", G, MAX_GROUPS);
      return FALSE;
    }
  n_seg = img_groups ? img_groups->n_seg : 1;
  if (n_seg > MAX_SEGMENTS)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%d token segments (at most %d)", n_seg, MAX_SEGMENTS);
      return FALSE;
    }
  for (i = 0; i < n_seg; i++)
    {
      img_seg[i] = img_groups ? img_groups->seg[i] : (SdSegment) { 0, r->n_img, 0 };
      if (img_seg[i].group < 0 || img_seg[i].group >= G)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "segment %d uses timestep group %d of %d", i,
                       img_seg[i].group, G);
          return FALSE;
        }
      all_seg[i + 1] = img_seg[i];
      all_seg[i + 1].start += T;
    }
  all_seg[0] = txt_seg;
  imgs = (SdSegments) { img_seg, n_seg };
  all_groups = (SdSegments) { all_seg, n_seg + 1 };
  spans[0] = (Span) { 0, T, &txt_groups };
  spans[1] = (Span) { T, r->n_img, &imgs };

  if (!conditioning (r, timesteps, G, guidance, error))
    return FALSE;
  if (T > 0)
    o->copy (be, sd_view (r->txt, 0, D), sd_view (r->x, 0, D), T, D);
  linear_lora (r, &f->x_embedder, sd_view (img, 0, c->in_channels), c->in_channels, sd_view (r->x, (gsize) T * D, D), D,
               T, r->n_img, SD_ACT_NONE);
  for (i = 0; i < c->num_layers; i++)
    double_block (r, &f->dbl[i], G, spans);
  for (i = 0; i < c->num_single_layers; i++)
    single_block (r, &f->sgl[i], G, &all_groups);
  {
    SdModulation m = modulation (r->mod_a, 2 * D, D, 0, &imgs);
    o->linear (be, sd_view (r->stemb, 0, D), G, D, f->norm_out.w, f->norm_out.b, sd_view (r->mod_a, 0, 2 * D),
               2 * D, SD_ACT_NONE);
    o->layer_norm (be, sd_view (r->x, (gsize) T * D, D), sd_view (r->nrm, 0, D), r->n_img, D, 1e-6f, NULL, NULL, &m);
    linear_lora (r, &f->proj_out, sd_view (r->nrm, 0, D), D, sd_view (out, 0, c->out_channels), c->out_channels, T,
                 r->n_img, SD_ACT_NONE);
  }
  return o->sync (be, error);
}

/* flux_load.c: loading the FLUX transformer's weights from diffusers or BFL (ComfyUI) key names. */
#include "flux_internal.h"
#include "scaledit.h"
#include "weights.h"

typedef struct {
  SdFlux *f;
  SdTensorFile *tf;
  const char *prefix; /* BFL: "" or "model.diffusion_model."; diffusers: NULL */
  GError **error;
  gboolean failed;
} Loader;

/* Loads a linear (weight [rows, cols] and bias [rows]) stacked from row slices of the named tensors
 * ("%s" in each name is replaced by weight / bias). */
static void
load_linear (Loader *L, SdLinear *lin, gint64 rows, gint64 cols, int n, const char *const *names,
             const gint64 *row0, const gint64 *nrows)
{
  SdWeightPart wp[8], bp[8];
  char *wn[8], *bn[8];
  int i;

  if (L->failed)
    return;
  for (i = 0; i < n; i++)
    {
      wn[i] = g_strdup_printf ("%s%s.weight", L->prefix ? L->prefix : "", names[i]);
      bn[i] = g_strdup_printf ("%s%s.bias", L->prefix ? L->prefix : "", names[i]);
      wp[i] = (SdWeightPart) { wn[i], row0 ? row0[i] : 0, nrows ? nrows[i] : -1 };
      bp[i] = (SdWeightPart) { bn[i], row0 ? row0[i] : 0, nrows ? nrows[i] : -1 };
    }
  lin->w = sd_weight_load (L->tf, L->f->be, wp, n, rows, cols, L->error);
  if (lin->w)
    lin->b = sd_weight_load (L->tf, L->f->be, bp, n, rows, 0, L->error);
  if (!lin->w || !lin->b)
    L->failed = TRUE;
  for (i = 0; i < n; i++)
    {
      g_free (wn[i]);
      g_free (bn[i]);
    }
}

static void
load1 (Loader *L, SdLinear *lin, gint64 rows, gint64 cols, const char *name)
{
  load_linear (L, lin, rows, cols, 1, &name, NULL, NULL);
}

static void
load_vec (Loader *L, SdBuf **out, gint64 n, const char *name)
{
  char *k;
  if (L->failed)
    return;
  k = g_strconcat (L->prefix ? L->prefix : "", name, NULL);
  *out = sd_weight_load1 (L->tf, L->f->be, k, n, 0, L->error);
  if (!*out)
    L->failed = TRUE;
  g_free (k);
}

static void
load_diffusers (Loader *L)
{
  SdFlux *f = L->f;
  const SdFluxConfig *c = &f->cfg;
  const gint64 D = c->hidden, M = c->mlp_hidden;
  int i;

  load1 (L, &f->x_embedder, D, c->in_channels, "x_embedder");
  load1 (L, &f->context_embedder, D, c->joint_attention_dim, "context_embedder");
  load1 (L, &f->time1, D, 256, "time_text_embed.timestep_embedder.linear_1");
  load1 (L, &f->time2, D, D, "time_text_embed.timestep_embedder.linear_2");
  if (c->guidance_embeds)
    {
      load1 (L, &f->guid1, D, 256, "time_text_embed.guidance_embedder.linear_1");
      load1 (L, &f->guid2, D, D, "time_text_embed.guidance_embedder.linear_2");
    }
  load1 (L, &f->text1, D, c->pooled_projection_dim, "time_text_embed.text_embedder.linear_1");
  load1 (L, &f->text2, D, D, "time_text_embed.text_embedder.linear_2");
  for (i = 0; i < c->num_layers && !L->failed; i++)
    {
      SdFluxDouble *b = &f->dbl[i];
      char *p = g_strdup_printf ("transformer_blocks.%d.", i);
#define N(s) g_strconcat (p, s, NULL)
      char *img_qkv[3] = { N ("attn.to_q"), N ("attn.to_k"), N ("attn.to_v") };
      char *txt_qkv[3] = { N ("attn.add_q_proj"), N ("attn.add_k_proj"), N ("attn.add_v_proj") };
      char *names[] = { N ("norm1.linear"), N ("norm1_context.linear"), N ("attn.to_out.0"), N ("attn.to_add_out"),
                        N ("ff.net.0.proj"), N ("ff.net.2"), N ("ff_context.net.0.proj"), N ("ff_context.net.2"),
                        N ("attn.norm_q.weight"), N ("attn.norm_k.weight"), N ("attn.norm_added_q.weight"),
                        N ("attn.norm_added_k.weight") };
#undef N
      int k;
      load1 (L, &b->img.mod, 6 * D, D, names[0]);
      load1 (L, &b->txt.mod, 6 * D, D, names[1]);
      load_linear (L, &b->img.qkv, 3 * D, D, 3, (const char *const *) img_qkv, NULL, NULL);
      load_linear (L, &b->txt.qkv, 3 * D, D, 3, (const char *const *) txt_qkv, NULL, NULL);
      load1 (L, &b->img.proj, D, D, names[2]);
      load1 (L, &b->txt.proj, D, D, names[3]);
      load1 (L, &b->img.mlp0, M, D, names[4]);
      load1 (L, &b->img.mlp2, D, M, names[5]);
      load1 (L, &b->txt.mlp0, M, D, names[6]);
      load1 (L, &b->txt.mlp2, D, M, names[7]);
      load_vec (L, &b->img.q_norm, c->head_dim, names[8]);
      load_vec (L, &b->img.k_norm, c->head_dim, names[9]);
      load_vec (L, &b->txt.q_norm, c->head_dim, names[10]);
      load_vec (L, &b->txt.k_norm, c->head_dim, names[11]);
      for (k = 0; k < 3; k++)
        {
          g_free (img_qkv[k]);
          g_free (txt_qkv[k]);
        }
      for (k = 0; k < (int) G_N_ELEMENTS (names); k++)
        g_free (names[k]);
      g_free (p);
    }
  for (i = 0; i < c->num_single_layers && !L->failed; i++)
    {
      SdFluxSingle *s = &f->sgl[i];
      char *p = g_strdup_printf ("single_transformer_blocks.%d.", i);
#define N(x) g_strconcat (p, x, NULL)
      char *lin1[4] = { N ("attn.to_q"), N ("attn.to_k"), N ("attn.to_v"), N ("proj_mlp") };
      char *names[] = { N ("norm.linear"), N ("proj_out"), N ("attn.norm_q.weight"), N ("attn.norm_k.weight") };
#undef N
      int k;
      load1 (L, &s->mod, 3 * D, D, names[0]);
      load_linear (L, &s->lin1, 3 * D + M, D, 4, (const char *const *) lin1, NULL, NULL);
      load1 (L, &s->lin2, D, D + M, names[1]);
      load_vec (L, &s->q_norm, c->head_dim, names[2]);
      load_vec (L, &s->k_norm, c->head_dim, names[3]);
      for (k = 0; k < 4; k++)
        {
          g_free (lin1[k]);
          g_free (names[k]);
        }
      g_free (p);
    }
  load1 (L, &f->norm_out, 2 * D, D, "norm_out.linear");
  load1 (L, &f->proj_out, c->out_channels, D, "proj_out");
}

static void
load_bfl (Loader *L)
{
  SdFlux *f = L->f;
  const SdFluxConfig *c = &f->cfg;
  const gint64 D = c->hidden, M = c->mlp_hidden;
  /* BFL's final modulation is (shift, scale); the engine's is diffusers' (scale, shift). */
  const char *final_mod[2] = { "final_layer.adaLN_modulation.1", "final_layer.adaLN_modulation.1" };
  const gint64 swap_row0[2] = { D, 0 }, swap_rows[2] = { D, D };
  int i;

  load1 (L, &f->x_embedder, D, c->in_channels, "img_in");
  load1 (L, &f->context_embedder, D, c->joint_attention_dim, "txt_in");
  load1 (L, &f->time1, D, 256, "time_in.in_layer");
  load1 (L, &f->time2, D, D, "time_in.out_layer");
  if (c->guidance_embeds)
    {
      load1 (L, &f->guid1, D, 256, "guidance_in.in_layer");
      load1 (L, &f->guid2, D, D, "guidance_in.out_layer");
    }
  load1 (L, &f->text1, D, c->pooled_projection_dim, "vector_in.in_layer");
  load1 (L, &f->text2, D, D, "vector_in.out_layer");
  for (i = 0; i < c->num_layers && !L->failed; i++)
    {
      SdFluxDouble *b = &f->dbl[i];
      SdFluxStream *st[2] = { &b->img, &b->txt };
      const char *sn[2] = { "img", "txt" };
      int k;
      for (k = 0; k < 2; k++)
        {
          char *mod = g_strdup_printf ("double_blocks.%d.%s_mod.lin", i, sn[k]);
          char *qkv = g_strdup_printf ("double_blocks.%d.%s_attn.qkv", i, sn[k]);
          char *proj = g_strdup_printf ("double_blocks.%d.%s_attn.proj", i, sn[k]);
          char *mlp0 = g_strdup_printf ("double_blocks.%d.%s_mlp.0", i, sn[k]);
          char *mlp2 = g_strdup_printf ("double_blocks.%d.%s_mlp.2", i, sn[k]);
          char *qn = g_strdup_printf ("double_blocks.%d.%s_attn.norm.query_norm.scale", i, sn[k]);
          char *kn = g_strdup_printf ("double_blocks.%d.%s_attn.norm.key_norm.scale", i, sn[k]);
          load1 (L, &st[k]->mod, 6 * D, D, mod);
          load1 (L, &st[k]->qkv, 3 * D, D, qkv);
          load1 (L, &st[k]->proj, D, D, proj);
          load1 (L, &st[k]->mlp0, M, D, mlp0);
          load1 (L, &st[k]->mlp2, D, M, mlp2);
          load_vec (L, &st[k]->q_norm, c->head_dim, qn);
          load_vec (L, &st[k]->k_norm, c->head_dim, kn);
          g_free (mod); g_free (qkv); g_free (proj); g_free (mlp0); g_free (mlp2); g_free (qn); g_free (kn);
        }
    }
  for (i = 0; i < c->num_single_layers && !L->failed; i++)
    {
      SdFluxSingle *s = &f->sgl[i];
      char *mod = g_strdup_printf ("single_blocks.%d.modulation.lin", i);
      char *lin1 = g_strdup_printf ("single_blocks.%d.linear1", i);
      char *lin2 = g_strdup_printf ("single_blocks.%d.linear2", i);
      char *qn = g_strdup_printf ("single_blocks.%d.norm.query_norm.scale", i);
      char *kn = g_strdup_printf ("single_blocks.%d.norm.key_norm.scale", i);
      load1 (L, &s->mod, 3 * D, D, mod);
      load1 (L, &s->lin1, 3 * D + M, D, lin1);
      load1 (L, &s->lin2, D, D + M, lin2);
      load_vec (L, &s->q_norm, c->head_dim, qn);
      load_vec (L, &s->k_norm, c->head_dim, kn);
      g_free (mod); g_free (lin1); g_free (lin2); g_free (qn); g_free (kn);
    }
  load_linear (L, &f->norm_out, 2 * D, D, 2, final_mod, swap_row0, swap_rows);
  load1 (L, &f->proj_out, c->out_channels, D, "final_layer.linear");
}

SdFlux *
sd_flux_load (SdBackend *be, SdTensorFile *tf, const SdFluxConfig *cfg, GError **error)
{
  SdFlux *f = g_new0 (SdFlux, 1);
  Loader L = { f, tf, NULL, error, FALSE };
  const char *prefix;

  f->be = be;
  f->cfg = *cfg;
  f->dbl = g_new0 (SdFluxDouble, cfg->num_layers);
  f->sgl = g_new0 (SdFluxSingle, cfg->num_single_layers);
  if (sd_flux_is_bfl (tf, &prefix))
    {
      L.prefix = prefix;
      load_bfl (&L);
    }
  else
    load_diffusers (&L);
  if (L.failed)
    {
      sd_flux_free (f);
      return NULL;
    }
  return f;
}

static void
free_linear (SdBackend *be, SdLinear *l)
{
  sd_buf_release (be, l->w);
  sd_buf_release (be, l->b);
}

static void
free_stream (SdBackend *be, SdFluxStream *s)
{
  free_linear (be, &s->mod);
  free_linear (be, &s->qkv);
  free_linear (be, &s->proj);
  free_linear (be, &s->mlp0);
  free_linear (be, &s->mlp2);
  sd_buf_release (be, s->q_norm);
  sd_buf_release (be, s->k_norm);
}

void
sd_flux_free (SdFlux *f)
{
  SdBackend *be;
  int i;
  if (!f)
    return;
  be = f->be;
  free_linear (be, &f->x_embedder);
  free_linear (be, &f->context_embedder);
  free_linear (be, &f->time1);
  free_linear (be, &f->time2);
  free_linear (be, &f->guid1);
  free_linear (be, &f->guid2);
  free_linear (be, &f->text1);
  free_linear (be, &f->text2);
  for (i = 0; i < f->cfg.num_layers; i++)
    {
      free_stream (be, &f->dbl[i].img);
      free_stream (be, &f->dbl[i].txt);
    }
  for (i = 0; i < f->cfg.num_single_layers; i++)
    {
      free_linear (be, &f->sgl[i].mod);
      free_linear (be, &f->sgl[i].lin1);
      free_linear (be, &f->sgl[i].lin2);
      sd_buf_release (be, f->sgl[i].q_norm);
      sd_buf_release (be, f->sgl[i].k_norm);
    }
  free_linear (be, &f->norm_out);
  free_linear (be, &f->proj_out);
  g_free (f->dbl);
  g_free (f->sgl);
  g_free (f);
}

const SdFluxConfig *
sd_flux_config (SdFlux *f)
{
  return &f->cfg;
}

/* clip_model.c: the CLIP text transformer (CLIPTextModel) on the backend interface: token and
 * position embeddings, pre-LN causal encoder layers, final layer norm, pooled end-token vector. */
#include <math.h>
#include <string.h>

#include "clip_model.h"
#include "config_fields.h"
#include "scaledit.h"
#include "text_encoder_io.h"

typedef struct {
  SdBuf *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
  SdBuf *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} ClipLayer;

struct SdClipModel {
  SdClipConfig cfg;
  SdEncoderFiles *files;
  const SdTensorInfo *tok, *pos; /* embedding tables, read on the host */
  ClipLayer *layers;
  SdBuf *final_w, *final_b;
};

#define TOKEN_EMBEDDING "embeddings.token_embedding.weight"
#define POSITION_EMBEDDING "embeddings.position_embedding.weight"
/* The tensor that shows layer %d is there. */
#define LAYER_ANCHOR "encoder.layers.%d.self_attn.q_proj.weight"

/* A single file has no config: infer it as diffusers' from_single_file does for CLIP-L (heads of
 * 64 channels, quick-GELU, the defaults of openai/clip-vit-large-patch14's config). */
static void
infer_config (SdEncoderFiles *f, SdClipConfig *c)
{
  const SdTensorInfo *tok = sd_encoder_find (f, TOKEN_EMBEDDING);
  const SdTensorInfo *pos = sd_encoder_find (f, POSITION_EMBEDDING);
  const SdTensorInfo *fc1 = sd_encoder_find (f, "encoder.layers.0.mlp.fc1.weight");
  int n = 0;

  while (n <= SD_CONFIG_MAX_LAYERS)
    {
      char *name = g_strdup_printf (LAYER_ANCHOR, n);
      gboolean found = sd_encoder_find (f, name) != NULL;
      g_free (name);
      if (!found)
        break;
      n++;
    }
  c->vocab_size = tok->ndim == 2 ? sd_encoder_shape_int (tok, 0) : 0;
  c->hidden_size = tok->ndim == 2 ? sd_encoder_shape_int (tok, 1) : 0;
  c->max_positions = pos && pos->ndim == 2 ? sd_encoder_shape_int (pos, 0) : 77;
  c->intermediate_size = fc1 && fc1->ndim == 2 ? sd_encoder_shape_int (fc1, 0)
                        : c->hidden_size <= SD_CONFIG_MAX_DIM ? 4 * c->hidden_size : -1;
  c->num_layers = n;
  c->num_heads = MAX (c->hidden_size / 64, 1);
  c->layer_norm_eps = 1e-5f;
  c->act = SD_ACT_QUICK_GELU;
  c->eos_token_id = 2;
}

static void
load_layer (SdClipModel *m, int i)
{
  SdEncoderFiles *f = m->files;
  ClipLayer *l = &m->layers[i];
  const gint64 d = m->cfg.hidden_size, ff = m->cfg.intermediate_size;
  struct {
    SdBuf **dst;
    const char *name;
    gint64 d0, d1;
  } w[] = {
    { &l->ln1_w, "layer_norm1.weight", d, -1 },     { &l->ln1_b, "layer_norm1.bias", d, -1 },
    { &l->q_w, "self_attn.q_proj.weight", d, d },   { &l->q_b, "self_attn.q_proj.bias", d, -1 },
    { &l->k_w, "self_attn.k_proj.weight", d, d },   { &l->k_b, "self_attn.k_proj.bias", d, -1 },
    { &l->v_w, "self_attn.v_proj.weight", d, d },   { &l->v_b, "self_attn.v_proj.bias", d, -1 },
    { &l->o_w, "self_attn.out_proj.weight", d, d }, { &l->o_b, "self_attn.out_proj.bias", d, -1 },
    { &l->ln2_w, "layer_norm2.weight", d, -1 },     { &l->ln2_b, "layer_norm2.bias", d, -1 },
    { &l->fc1_w, "mlp.fc1.weight", ff, d },         { &l->fc1_b, "mlp.fc1.bias", ff, -1 },
    { &l->fc2_w, "mlp.fc2.weight", d, ff },         { &l->fc2_b, "mlp.fc2.bias", d, -1 },
  };
  gsize k;
  for (k = 0; k < G_N_ELEMENTS (w); k++)
    {
      char *name = g_strdup_printf ("encoder.layers.%d.%s", i, w[k].name);
      *w[k].dst = sd_encoder_load (f, name, w[k].d0, w[k].d1);
      g_free (name);
    }
}

SdClipModel *
sd_clip_load (SdBackend *be, const char *path, GError **error)
{
  SdClipModel *m = g_new0 (SdClipModel, 1);
  SdClipConfig *c = &m->cfg;
  gboolean ok;
  int i;

  m->files = sd_encoder_files_open (be, path, "text_encoder", TOKEN_EMBEDDING, "CLIP text encoder", error);
  if (!m->files)
    goto fail;
  if (m->files->config)
    ok = sd_clip_config_from_object (m->files->config, m->files->config_path, c, error);
  else
    {
      infer_config (m->files, c);
      ok = sd_clip_config_check (sd_tensors_path (m->files->tf), c, error);
    }
  /* every layer the config declares must be in the weights before any is allocated */
  if (!ok || !sd_encoder_check_layers (m->files, c->num_layers, LAYER_ANCHOR, error))
    goto fail;

  m->tok = sd_encoder_find (m->files, TOKEN_EMBEDDING);
  m->pos = sd_encoder_find (m->files, POSITION_EMBEDDING);
  sd_encoder_check_table (m->files, m->tok, TOKEN_EMBEDDING, c->vocab_size, c->hidden_size);
  sd_encoder_check_table (m->files, m->pos, POSITION_EMBEDDING, c->max_positions, c->hidden_size);
  m->layers = g_new0 (ClipLayer, c->num_layers);
  for (i = 0; i < c->num_layers; i++)
    load_layer (m, i);
  m->final_w = sd_encoder_load (m->files, "final_layer_norm.weight", c->hidden_size, -1);
  m->final_b = sd_encoder_load (m->files, "final_layer_norm.bias", c->hidden_size, -1);
  if (m->files->error)
    {
      g_propagate_error (error, m->files->error);
      m->files->error = NULL;
      goto fail;
    }
  if (!sd_encoder_files_detach (m->files, (const SdTensorInfo **[]) { &m->tok, &m->pos }, 2, error))
    goto fail;
  return m;
fail:
  sd_clip_free (m);
  return NULL;
}

const SdClipConfig *
sd_clip_config (const SdClipModel *model)
{
  return &model->cfg;
}

void
sd_clip_free (SdClipModel *model)
{
  if (!model)
    return;
  sd_encoder_files_free (model->files);
  g_free (model->layers);
  g_free (model);
}

/* The row CLIPTextModel pools: the largest id with the legacy eos_token_id 2, else the first
 * eos_token_id (position 0 when there is none, as argmax over all-false gives). */
static int
pooled_row (const SdClipConfig *c, const int *ids, int n)
{
  int i, best = 0;
  if (c->eos_token_id == 2)
    {
      for (i = 1; i < n; i++)
        if (ids[i] > ids[best])
          best = i;
      return best;
    }
  for (i = 0; i < n; i++)
    if (ids[i] == c->eos_token_id)
      return i;
  return 0;
}

/* The summed token and position embeddings, host f32 [n][hidden]. */
static float *
embed (SdClipModel *m, const int *ids, int n, GError **error)
{
  float *x, *pos;
  int *positions = g_new (int, n);
  gsize i;

  for (i = 0; i < (gsize) n; i++)
    positions[i] = (int) i;
  x = sd_encoder_gather_rows (m->tok, ids, n, error);
  pos = x ? sd_encoder_gather_rows (m->pos, positions, n, error) : NULL;
  g_free (positions);
  if (!pos)
    {
      g_free (x);
      return NULL;
    }
  for (i = 0; i < (gsize) n * m->cfg.hidden_size; i++)
    x[i] += pos[i];
  g_free (pos);
  return x;
}

gboolean
sd_clip_encode (SdClipModel *m, const int *ids, int n, float **hidden_out, float **pooled_out,
                GError **error)
{
  const SdClipConfig *c = &m->cfg;
  SdBackend *be = m->files->be;
  const SdBackendOps *ops = be->ops;
  const int d = c->hidden_size, ff = c->intermediate_size, hd = d / c->num_heads;
  const gsize nd = (gsize) n * d;
  SdBuf *act;
  SdView x, h, q, k, v, a, f, none = { 0 };
  float *emb, *hidden;
  int i;

  if (n <= 0 || n > c->max_positions)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "CLIP takes 1 to %d tokens, not %d", c->max_positions, n);
      return FALSE;
    }
  emb = embed (m, ids, n, error);
  if (!emb)
    return FALSE;
  act = ops->alloc (be, 6 * nd + (gsize) n * ff, error);
  if (!act || !ops->upload (be, act, 0, emb, nd, error))
    {
      sd_buf_release (be, act);
      g_free (emb);
      return FALSE;
    }
  g_free (emb);
  x = sd_view (act, 0, d);
  h = sd_view (act, nd, d);
  q = sd_view (act, 2 * nd, d);
  k = sd_view (act, 3 * nd, d);
  v = sd_view (act, 4 * nd, d);
  a = sd_view (act, 5 * nd, d);
  f = sd_view (act, 6 * nd, ff);

  for (i = 0; i < c->num_layers; i++)
    {
      const ClipLayer *l = &m->layers[i];
      SdAttnArgs at = { 0 };

      ops->layer_norm (be, x, h, n, d, c->layer_norm_eps, l->ln1_w, l->ln1_b, NULL);
      ops->linear (be, h, n, d, l->q_w, l->q_b, q, d, SD_ACT_NONE);
      ops->linear (be, h, n, d, l->k_w, l->k_b, k, d, SD_ACT_NONE);
      ops->linear (be, h, n, d, l->v_w, l->v_b, v, d, SD_ACT_NONE);
      at.q = q;
      at.k = k;
      at.v = v;
      at.out = a;
      at.n_q = at.n_kv = n;
      at.heads = c->num_heads;
      at.head_dim = hd;
      at.scale = 1.0f / sqrtf ((float) hd);
      at.causal = TRUE;
      ops->attention (be, &at);
      ops->linear (be, a, n, d, l->o_w, l->o_b, h, d, SD_ACT_NONE);
      ops->add_gated (be, x, h, n, d, none, NULL);

      ops->layer_norm (be, x, h, n, d, c->layer_norm_eps, l->ln2_w, l->ln2_b, NULL);
      ops->linear (be, h, n, d, l->fc1_w, l->fc1_b, f, ff, c->act);
      ops->linear (be, f, n, ff, l->fc2_w, l->fc2_b, h, d, SD_ACT_NONE);
      ops->add_gated (be, x, h, n, d, none, NULL);
    }
  ops->layer_norm (be, x, h, n, d, c->layer_norm_eps, m->final_w, m->final_b, NULL);

  hidden = ops->sync (be, error) ? sd_buf_to_host (be, act, nd, nd, error) : NULL;
  ops->release (be, act);
  if (!hidden)
    return FALSE;
  if (pooled_out)
    *pooled_out = g_memdup2 (hidden + (gsize) pooled_row (c, ids, n) * d, d * sizeof (float));
  *hidden_out = hidden;
  return TRUE;
}

gboolean
sd_clip_run_component (SdBackend *be, const char *model_path, SdTensorFile *inputs, GArray *outputs,
                       GError **error)
{
  SdClipModel *m;
  int batch, n, b, d;
  int *ids = sd_encoder_input_ids (inputs, &batch, &n, error);
  float *hidden_all, *pooled_all;
  gboolean ok = TRUE;

  if (!ids)
    return FALSE;
  m = sd_clip_load (be, model_path, error);
  if (!m)
    {
      g_free (ids);
      return FALSE;
    }
  d = m->cfg.hidden_size;
  hidden_all = g_new (float, (gsize) batch * n * d);
  pooled_all = g_new (float, (gsize) batch * d);
  for (b = 0; b < batch && ok; b++)
    {
      float *hidden, *pooled;
      ok = sd_clip_encode (m, ids + (gsize) b * n, n, &hidden, &pooled, error);
      if (!ok)
        break;
      memcpy (hidden_all + (gsize) b * n * d, hidden, (gsize) n * d * sizeof (float));
      memcpy (pooled_all + (gsize) b * d, pooled, d * sizeof (float));
      g_free (hidden);
      g_free (pooled);
    }
  sd_clip_free (m);
  g_free (ids);
  if (!ok)
    {
      g_free (hidden_all);
      g_free (pooled_all);
      return FALSE;
    }
  sd_component_output (outputs, "last_hidden_state", 3, (gint64[]){ batch, n, d }, hidden_all);
  sd_component_output (outputs, "pooler_output", 2, (gint64[]){ batch, d }, pooled_all);
  return TRUE;
}

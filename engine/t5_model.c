/* t5_model.c: the T5 encoder (T5EncoderModel, v1.1 style) on the backend interface: shared
 * embedding, relative position bias of the first layer reused by all, unscaled attention, RMS
 * norms, gated-GELU feed-forward, final norm. */
#include <math.h>
#include <string.h>

#include "config_fields.h"
#include "scaledit.h"
#include "t5_model.h"
#include "text_encoder_io.h"

typedef struct {
  SdBuf *ln0, *q, *k, *v, *o, *ln1, *wi_0, *wi_1, *wo;
} T5Layer;

struct SdT5Model {
  SdT5Config cfg;
  SdEncoderFiles *files;
  const SdTensorInfo *embed; /* the shared embedding, read on the host */
  float *rel_bias;           /* host f32 [num_buckets][num_heads] */
  T5Layer *layers;
  SdBuf *final_norm;
};

/* The anchor that finds the key prefix ("encoder." in both common layouts). */
#define REL_BIAS "block.0.layer.0.SelfAttention.relative_attention_bias.weight"
/* The tensor that shows layer %d is there. */
#define LAYER_ANCHOR "block.%d.layer.0.SelfAttention.q.weight"

int
sd_t5_relative_bucket (int delta, int num_buckets, int max_distance)
{
  int half = num_buckets / 2, max_exact = half / 2, bucket = 0, rel;
  float large;

  if (delta > 0)
    bucket = half;
  rel = ABS (delta);
  if (rel < max_exact)
    return bucket + rel;
  /* As transformers computes it, in f32: the truncation must agree at bucket edges. */
  large = logf ((float) rel / (float) max_exact) / (float) log ((double) max_distance / max_exact)
          * (float) (half - max_exact);
  return bucket + MIN (max_exact + (int) large, half - 1);
}

/* The shared embedding: "shared.weight" beside the encoder's keys, else the encoder's own copy. */
static const SdTensorInfo *
find_embedding (SdEncoderFiles *f)
{
  const SdTensorInfo *t = NULL;
  if (g_str_has_suffix (f->prefix, "encoder."))
    {
      char *outer = g_strndup (f->prefix, strlen (f->prefix) - strlen ("encoder."));
      char *name = g_strconcat (outer, "shared.weight", NULL);
      t = sd_tensors_find (f->tf, name);
      g_free (outer);
      g_free (name);
    }
  if (!t)
    t = sd_tensors_find (f->tf, "shared.weight");
  if (!t)
    t = sd_encoder_find (f, "embed_tokens.weight");
  return t;
}

/* A single file has no config: infer it from the shapes, as diffusers' from_single_file does. */
static gboolean
infer_config (SdEncoderFiles *f, const SdTensorInfo *embed, SdT5Config *c, GError **error)
{
  const SdTensorInfo *bias = sd_encoder_find (f, REL_BIAS);
  const SdTensorInfo *q = sd_encoder_find (f, "block.0.layer.0.SelfAttention.q.weight");
  const SdTensorInfo *wi = sd_encoder_find (f, "block.0.layer.1.DenseReluDense.wi_0.weight");
  int n = 0;

  if (!wi)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: missing tensor \"%sblock.0.layer.1.DenseReluDense.wi_0.weight\": only gated "
                   "feed-forwards (T5 v1.1, as FLUX's T5-XXL) are supported",
                   sd_tensors_path (f->tf), f->prefix);
      return FALSE;
    }
  while (n <= SD_CONFIG_MAX_LAYERS)
    {
      char *name = g_strdup_printf (LAYER_ANCHOR, n);
      gboolean found = sd_encoder_find (f, name) != NULL;
      g_free (name);
      if (!found)
        break;
      n++;
    }
  c->vocab_size = embed->ndim == 2 ? sd_encoder_shape_int (embed, 0) : 0;
  c->d_model = embed->ndim == 2 ? sd_encoder_shape_int (embed, 1) : 0;
  c->num_buckets = bias->ndim == 2 ? sd_encoder_shape_int (bias, 0) : 0;
  c->num_heads = bias->ndim == 2 ? sd_encoder_shape_int (bias, 1) : 0;
  c->d_kv = q && q->ndim == 2 && c->num_heads > 0 && q->shape[0] / c->num_heads <= G_MAXINT
              ? (int) (q->shape[0] / c->num_heads) : 64;
  c->d_ff = wi->ndim == 2 ? sd_encoder_shape_int (wi, 0) : 0;
  c->num_layers = n;
  c->max_distance = 128;
  c->layer_norm_eps = 1e-6f;
  c->act = SD_ACT_GELU_TANH;
  return TRUE;
}

static void
load_layer (SdT5Model *m, int i)
{
  SdEncoderFiles *f = m->files;
  T5Layer *l = &m->layers[i];
  const gint64 d = m->cfg.d_model, inner = (gint64) m->cfg.num_heads * m->cfg.d_kv, ff = m->cfg.d_ff;
  struct {
    SdBuf **dst;
    const char *name;
    gint64 d0, d1;
  } w[] = {
    { &l->ln0, "layer.0.layer_norm.weight", d, -1 },
    { &l->q, "layer.0.SelfAttention.q.weight", inner, d },
    { &l->k, "layer.0.SelfAttention.k.weight", inner, d },
    { &l->v, "layer.0.SelfAttention.v.weight", inner, d },
    { &l->o, "layer.0.SelfAttention.o.weight", d, inner },
    { &l->ln1, "layer.1.layer_norm.weight", d, -1 },
    { &l->wi_0, "layer.1.DenseReluDense.wi_0.weight", ff, d },
    { &l->wi_1, "layer.1.DenseReluDense.wi_1.weight", ff, d },
    { &l->wo, "layer.1.DenseReluDense.wo.weight", d, ff },
  };
  gsize k;
  for (k = 0; k < G_N_ELEMENTS (w); k++)
    {
      char *name = g_strdup_printf ("block.%d.%s", i, w[k].name);
      *w[k].dst = sd_encoder_load (f, name, w[k].d0, w[k].d1);
      g_free (name);
    }
}

SdT5Model *
sd_t5_load (SdBackend *be, const char *path, GError **error)
{
  SdT5Model *m = g_new0 (SdT5Model, 1);
  SdT5Config *c = &m->cfg;
  const SdTensorInfo *bias;
  gboolean ok;
  int i;

  m->files = sd_encoder_files_open (be, path, "text_encoder_2", REL_BIAS, "T5 encoder", error);
  if (!m->files)
    goto fail;
  m->embed = find_embedding (m->files);
  if (!m->embed)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: missing tensor \"shared.weight\" (or \"%sembed_tokens.weight\")",
                   sd_tensors_path (m->files->tf), m->files->prefix);
      goto fail;
    }
  if (m->files->config)
    ok = sd_t5_config_from_object (m->files->config, m->files->config_path, c, error);
  else
    ok = infer_config (m->files, m->embed, c, error) && sd_t5_config_check (sd_tensors_path (m->files->tf), c, error);
  /* every layer the config declares must be in the weights before any is allocated */
  if (!ok || !sd_encoder_check_layers (m->files, c->num_layers, LAYER_ANCHOR, error))
    goto fail;

  sd_encoder_check_table (m->files, m->embed, "shared.weight", c->vocab_size, c->d_model);
  bias = sd_encoder_find (m->files, REL_BIAS);
  if (sd_encoder_check_table (m->files, bias, REL_BIAS, c->num_buckets, c->num_heads))
    m->rel_bias = sd_tensor_to_f32 (bias, &m->files->error);
  m->layers = g_new0 (T5Layer, c->num_layers);
  for (i = 0; i < c->num_layers; i++)
    load_layer (m, i);
  m->final_norm = sd_encoder_load (m->files, "final_layer_norm.weight", c->d_model, -1);
  if (m->files->error)
    {
      g_propagate_error (error, m->files->error);
      m->files->error = NULL;
      goto fail;
    }
  if (!sd_encoder_files_detach (m->files, (const SdTensorInfo **[]) { &m->embed }, 1, error))
    goto fail;
  return m;
fail:
  sd_t5_free (m);
  return NULL;
}

const SdT5Config *
sd_t5_config (const SdT5Model *model)
{
  return &model->cfg;
}

void
sd_t5_free (SdT5Model *model)
{
  if (!model)
    return;
  sd_encoder_files_free (model->files);
  g_free (model->rel_bias);
  g_free (model->layers);
  g_free (model);
}

/* The bias table SdAttnArgs.bias_by_delta expects: [heads][2n - 1], entry (j - i) + n - 1. */
static float *
bias_table (const SdT5Model *m, int n)
{
  const SdT5Config *c = &m->cfg;
  const int w = 2 * n - 1;
  float *t = g_new (float, (gsize) c->num_heads * w);
  int delta, h;

  for (delta = -(n - 1); delta <= n - 1; delta++)
    {
      int b = sd_t5_relative_bucket (delta, c->num_buckets, c->max_distance);
      for (h = 0; h < c->num_heads; h++)
        t[(gsize) h * w + delta + n - 1] = m->rel_bias[b * c->num_heads + h];
    }
  return t;
}

gboolean
sd_t5_encode (SdT5Model *m, const int *ids, int n, float **hidden_out, GError **error)
{
  const SdT5Config *c = &m->cfg;
  SdBackend *be = m->files->be;
  const SdBackendOps *ops = be->ops;
  const int d = c->d_model, inner = c->num_heads * c->d_kv, ff = c->d_ff;
  const gsize nd = (gsize) n * d, ni = (gsize) n * inner, nf = (gsize) n * ff;
  SdBuf *act = NULL, *bias = NULL;
  SdView x, h, q, k, v, a, g, f, none = { 0 };
  float *emb = NULL, *table = NULL, *hidden = NULL;
  int i;

  if (n <= 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "T5 needs at least one token");
      return FALSE;
    }
  emb = sd_encoder_gather_rows (m->embed, ids, n, error);
  if (!emb)
    return FALSE;
  table = bias_table (m, n);
  bias = sd_buf_from_host (be, table, (gsize) c->num_heads * (2 * n - 1), error);
  act = bias ? ops->alloc (be, 2 * nd + 4 * ni + 2 * nf, error) : NULL;
  if (!act || !ops->upload (be, act, 0, emb, nd, error))
    goto out;
  x = sd_view (act, 0, d);
  h = sd_view (act, nd, d);
  q = sd_view (act, 2 * nd, inner);
  k = sd_view (act, 2 * nd + ni, inner);
  v = sd_view (act, 2 * nd + 2 * ni, inner);
  a = sd_view (act, 2 * nd + 3 * ni, inner);
  g = sd_view (act, 2 * nd + 4 * ni, ff);
  f = sd_view (act, 2 * nd + 4 * ni + nf, ff);

  for (i = 0; i < c->num_layers; i++)
    {
      const T5Layer *l = &m->layers[i];
      SdAttnArgs at = { 0 };

      ops->rms_norm (be, x, h, n, d, c->layer_norm_eps, l->ln0);
      ops->linear (be, h, n, d, l->q, NULL, q, inner, SD_ACT_NONE);
      ops->linear (be, h, n, d, l->k, NULL, k, inner, SD_ACT_NONE);
      ops->linear (be, h, n, d, l->v, NULL, v, inner, SD_ACT_NONE);
      at.q = q;
      at.k = k;
      at.v = v;
      at.out = a;
      at.n_q = at.n_kv = n;
      at.heads = c->num_heads;
      at.head_dim = c->d_kv;
      at.scale = 1.0f; /* T5 does not scale its scores */
      at.bias_by_delta = bias;
      ops->attention (be, &at);
      ops->linear (be, a, n, inner, l->o, NULL, h, d, SD_ACT_NONE);
      ops->add_gated (be, x, h, n, d, none, NULL);

      ops->rms_norm (be, x, h, n, d, c->layer_norm_eps, l->ln1);
      ops->linear (be, h, n, d, l->wi_0, NULL, g, ff, c->act);
      ops->linear (be, h, n, d, l->wi_1, NULL, f, ff, SD_ACT_NONE);
      ops->mul (be, g, f, n, ff);
      ops->linear (be, f, n, ff, l->wo, NULL, h, d, SD_ACT_NONE);
      ops->add_gated (be, x, h, n, d, none, NULL);
    }
  ops->rms_norm (be, x, h, n, d, c->layer_norm_eps, m->final_norm);
  if (ops->sync (be, error))
    hidden = sd_buf_to_host (be, act, nd, nd, error);
out:
  sd_buf_release (be, act);
  sd_buf_release (be, bias);
  g_free (emb);
  g_free (table);
  if (!hidden)
    return FALSE;
  *hidden_out = hidden;
  return TRUE;
}

gboolean
sd_t5_run_component (SdBackend *be, const char *model_path, SdTensorFile *inputs, GArray *outputs,
                     GError **error)
{
  SdT5Model *m;
  int batch, n, b, d;
  int *ids = sd_encoder_input_ids (inputs, &batch, &n, error);
  float *hidden_all;
  gboolean ok = TRUE;

  if (!ids)
    return FALSE;
  m = sd_t5_load (be, model_path, error);
  if (!m)
    {
      g_free (ids);
      return FALSE;
    }
  d = m->cfg.d_model;
  hidden_all = g_new (float, (gsize) batch * n * d);
  for (b = 0; b < batch && ok; b++)
    {
      float *hidden;
      ok = sd_t5_encode (m, ids + (gsize) b * n, n, &hidden, error);
      if (!ok)
        break;
      memcpy (hidden_all + (gsize) b * n * d, hidden, (gsize) n * d * sizeof (float));
      g_free (hidden);
    }
  sd_t5_free (m);
  g_free (ids);
  if (!ok)
    {
      g_free (hidden_all);
      return FALSE;
    }
  sd_component_output (outputs, "last_hidden_state", 3, (gint64[]){ batch, n, d }, hidden_all);
  return TRUE;
}

/* lora.c: reading LoRA files (PEFT folders, diffusers and BFL-named safetensors), checking every
 * key against the loaded FLUX transformer, and mapping each module onto the engine's fused linears. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flux_internal.h"
#include "json_object.h"
#include "lora.h"
#include "scaledit.h"
#include "weights.h"

struct SdLora {
  SdBackend *be;
  GPtrArray *layers;     /* SdLoraLayer *, owned */
  GHashTable *by_target; /* target -> GPtrArray of SdLoraLayer * (not owned) */
  int max_rank, max_out;
};

/* Where a module name lands: up to two parts of one linear (BFL's linear1 holds q, k, v and the
 * MLP input; its q/k/v rows and MLP rows route differently). */
typedef struct {
  const SdLinear *lin;
  int in, col0, out, b_row0; /* b_row0: first row of the file's B for this part */
  gboolean qkv;
} Part;

typedef enum {
  MAP_OK,
  MAP_UNKNOWN,
  MAP_CONDITIONING, /* a modulation or conditioning linear: not applied per token */
} MapResult;

/* What the file says about one module. */
typedef struct {
  const SdTensorInfo *a, *b;
  char *a_key, *b_key;
  double alpha;
  gboolean has_alpha;
} Entry;

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->a_key);
  g_free (e->b_key);
  g_free (e);
}

static void
layer_free (gpointer p)
{
  SdLoraLayer *l = p;
  g_free (l->module);
  g_free (l);
}

void
sd_lora_free (SdLora *lora)
{
  guint i;
  if (!lora)
    return;
  for (i = 0; i < lora->layers->len; i++)
    {
      SdLoraLayer *l = g_ptr_array_index (lora->layers, i);
      if (l->a)
        lora->be->ops->release (lora->be, l->a);
      if (l->b)
        lora->be->ops->release (lora->be, l->b);
    }
  g_ptr_array_free (lora->layers, TRUE);
  g_hash_table_destroy (lora->by_target);
  g_free (lora);
}

SdLoraLayer *const *
sd_lora_layers (const SdLora *lora, const void *target, int *n)
{
  GPtrArray *a = lora ? g_hash_table_lookup (lora->by_target, target) : NULL;
  *n = a ? (int) a->len : 0;
  return a ? (SdLoraLayer *const *) a->pdata : NULL;
}

int
sd_lora_max_rank (const SdLora *lora)
{
  return lora->max_rank;
}

int
sd_lora_max_out (const SdLora *lora)
{
  return lora->max_out;
}

int
sd_lora_count (const SdLora *lora)
{
  return (int) lora->layers->len;
}

/* "<prefix><i>.<rest>" -> i and rest, with i in [0, n). */
static gboolean
block_of (const char *m, const char *prefix, int n, int *i, const char **rest)
{
  char *end;
  long v;
  if (!g_str_has_prefix (m, prefix))
    return FALSE;
  m += strlen (prefix);
  if (!g_ascii_isdigit (*m))
    return FALSE;
  v = strtol (m, &end, 10);
  if (*end != '.' || v < 0 || v >= n)
    return FALSE;
  *i = (int) v;
  *rest = end + 1;
  return TRUE;
}

static void
part (Part *p, const SdLinear *lin, int in, int col0, int out, int b_row0, gboolean qkv)
{
  p->lin = lin;
  p->in = in;
  p->col0 = col0;
  p->out = out;
  p->b_row0 = b_row0;
  p->qkv = qkv;
}

static gboolean
is_conditioning (const char *m)
{
  static const char *const names[] = { "norm1.linear", "norm1_context.linear", "norm.linear", "img_mod.lin",
                                       "txt_mod.lin", "modulation.lin" };
  static const char *const top[] = { "norm_out.linear", "final_layer.adaLN_modulation.1", "time_in.", "vector_in.",
                                     "guidance_in.", "time_text_embed." };
  gsize k;
  for (k = 0; k < G_N_ELEMENTS (top); k++)
    if (g_str_has_prefix (m, top[k]) || g_str_equal (m, top[k]))
      return TRUE;
  for (k = 0; k < G_N_ELEMENTS (names); k++)
    if (g_str_has_suffix (m, names[k]))
      return TRUE;
  return FALSE;
}

/* Maps a module name (diffusers or BFL) onto the transformer; fills up to 2 parts. */
static MapResult
map_module (SdFlux *f, const char *m, Part *parts, int *n_parts)
{
  const SdFluxConfig *c = &f->cfg;
  const int D = c->hidden, M = c->mlp_hidden;
  const char *rest;
  int i;

  *n_parts = 1;
  if (block_of (m, "transformer_blocks.", c->num_layers, &i, &rest))
    {
      SdFluxStream *img = &f->dbl[i].img, *txt = &f->dbl[i].txt;
      static const char *const qkv[6] = { "attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj",
                                          "attn.add_v_proj" };
      int k;
      for (k = 0; k < 6; k++)
        if (g_str_equal (rest, qkv[k]))
          {
            part (parts, k < 3 ? &img->qkv : &txt->qkv, D, (k % 3) * D, D, 0, TRUE);
            return MAP_OK;
          }
      if (g_str_equal (rest, "attn.to_out.0") || g_str_equal (rest, "attn.to_add_out"))
        part (parts, g_str_equal (rest, "attn.to_out.0") ? &img->proj : &txt->proj, D, 0, D, 0, FALSE);
      else if (g_str_equal (rest, "ff.net.0.proj") || g_str_equal (rest, "ff_context.net.0.proj"))
        part (parts, g_str_has_prefix (rest, "ff.") ? &img->mlp0 : &txt->mlp0, D, 0, M, 0, FALSE);
      else if (g_str_equal (rest, "ff.net.2") || g_str_equal (rest, "ff_context.net.2"))
        part (parts, g_str_has_prefix (rest, "ff.") ? &img->mlp2 : &txt->mlp2, M, 0, D, 0, FALSE);
      else
        return is_conditioning (m) ? MAP_CONDITIONING : MAP_UNKNOWN;
      return MAP_OK;
    }
  if (block_of (m, "single_transformer_blocks.", c->num_single_layers, &i, &rest))
    {
      SdFluxSingle *s = &f->sgl[i];
      if (g_str_equal (rest, "attn.to_q") || g_str_equal (rest, "attn.to_k") || g_str_equal (rest, "attn.to_v"))
        part (parts, &s->lin1, D, (int) (strchr ("qkv", rest[strlen (rest) - 1]) - "qkv") * D, D, 0, TRUE);
      else if (g_str_equal (rest, "proj_mlp"))
        part (parts, &s->lin1, D, 3 * D, M, 0, FALSE);
      else if (g_str_equal (rest, "proj_out"))
        part (parts, &s->lin2, D + M, 0, D, 0, FALSE);
      else
        return is_conditioning (m) ? MAP_CONDITIONING : MAP_UNKNOWN;
      return MAP_OK;
    }
  if (block_of (m, "double_blocks.", c->num_layers, &i, &rest))
    {
      gboolean is_img = g_str_has_prefix (rest, "img_");
      SdFluxStream *st = is_img ? &f->dbl[i].img : &f->dbl[i].txt;
      if (!is_img && !g_str_has_prefix (rest, "txt_"))
        return MAP_UNKNOWN;
      rest += 4;
      if (g_str_equal (rest, "attn.qkv"))
        part (parts, &st->qkv, D, 0, 3 * D, 0, TRUE);
      else if (g_str_equal (rest, "attn.proj"))
        part (parts, &st->proj, D, 0, D, 0, FALSE);
      else if (g_str_equal (rest, "mlp.0"))
        part (parts, &st->mlp0, D, 0, M, 0, FALSE);
      else if (g_str_equal (rest, "mlp.2"))
        part (parts, &st->mlp2, M, 0, D, 0, FALSE);
      else
        return is_conditioning (m) ? MAP_CONDITIONING : MAP_UNKNOWN;
      return MAP_OK;
    }
  if (block_of (m, "single_blocks.", c->num_single_layers, &i, &rest))
    {
      SdFluxSingle *s = &f->sgl[i];
      if (g_str_equal (rest, "linear1"))
        {
          part (&parts[0], &s->lin1, D, 0, 3 * D, 0, TRUE);
          part (&parts[1], &s->lin1, D, 3 * D, M, 3 * D, FALSE);
          *n_parts = 2;
        }
      else if (g_str_equal (rest, "linear2"))
        part (parts, &s->lin2, D + M, 0, D, 0, FALSE);
      else
        return is_conditioning (m) ? MAP_CONDITIONING : MAP_UNKNOWN;
      return MAP_OK;
    }
  if (g_str_equal (m, "x_embedder") || g_str_equal (m, "img_in"))
    part (parts, &f->x_embedder, c->in_channels, 0, D, 0, FALSE);
  else if (g_str_equal (m, "context_embedder") || g_str_equal (m, "txt_in"))
    part (parts, &f->context_embedder, c->joint_attention_dim, 0, D, 0, FALSE);
  else if (g_str_equal (m, "proj_out") || g_str_equal (m, "final_layer.linear"))
    part (parts, &f->proj_out, D, 0, c->out_channels, 0, FALSE);
  else
    return is_conditioning (m) ? MAP_CONDITIONING : MAP_UNKNOWN;
  return MAP_OK;
}

/* The scale of a module: from the adapter config when there is one, else alpha / rank with the
 * file's own .alpha tensor (the rank without one). */
static double
module_scale (const SdLoraConfig *config, const Entry *e, const char *module, int rank)
{
  if (config)
    return sd_lora_config_scale (config, module, rank);
  return (e->has_alpha ? e->alpha : rank) / rank;
}

/* Splits "<prefix><module>.<suffix>" into the module and the kind of tensor (0 A, 1 B, 2 alpha). */
static char *
split_key (const char *key, int *kind, gboolean *peft_prefix)
{
  static const char *const prefixes[] = { "base_model.model.", "transformer.", "model.diffusion_model.",
                                          "diffusion_model." };
  static const struct {
    const char *suffix;
    int kind;
  } suffixes[] = { { ".lora_A.weight", 0 }, { ".lora_down.weight", 0 }, { ".lora_B.weight", 1 },
                   { ".lora_up.weight", 1 }, { ".alpha", 2 } };
  const char *m = key;
  gsize k;
  *peft_prefix = FALSE;
  for (k = 0; k < G_N_ELEMENTS (prefixes); k++)
    if (g_str_has_prefix (m, prefixes[k]))
      {
        *peft_prefix = k == 0;
        m += strlen (prefixes[k]);
        break;
      }
  for (k = 0; k < G_N_ELEMENTS (suffixes); k++)
    if (g_str_has_suffix (m, suffixes[k].suffix) && strlen (m) > strlen (suffixes[k].suffix))
      {
        *kind = suffixes[k].kind;
        return g_strndup (m, strlen (m) - strlen (suffixes[k].suffix));
      }
  return NULL;
}

/* Appends a name to a list kept short for the message. */
static void
note (GString *s, int *count, const char *fmt, ...)
{
  va_list ap;
  if (++*count > 12)
    return;
  if (s->len)
    g_string_append (s, ", ");
  va_start (ap, fmt);
  g_string_append_vprintf (s, fmt, ap);
  va_end (ap);
}

static void
finish_list (GString *s, int count)
{
  if (count > 12)
    g_string_append_printf (s, " and %d more", count - 12);
}

/* Which file and config a path means. */
static gboolean
resolve (const char *path, char **file, char **config, GError **error)
{
  *file = *config = NULL;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      char *peft = g_build_filename (path, "adapter_model.safetensors", NULL);
      char *dif = g_build_filename (path, "pytorch_lora_weights.safetensors", NULL);
      if (g_file_test (peft, G_FILE_TEST_EXISTS))
        {
          *file = peft;
          *config = g_build_filename (path, "adapter_config.json", NULL);
          g_free (dif);
          if (!g_file_test (*config, G_FILE_TEST_EXISTS))
            {
              g_set_error (error, SD_ERROR, SD_ERROR_IO,
                           "%s: PEFT LoRA folder without adapter_config.json (it holds lora_alpha)", path);
              return FALSE;
            }
          return TRUE;
        }
      g_free (peft);
      if (g_file_test (dif, G_FILE_TEST_EXISTS))
        {
          *file = dif;
          return TRUE;
        }
      g_free (dif);
      g_set_error (error, SD_ERROR, SD_ERROR_IO,
                   "%s: no LoRA in this folder (neither adapter_model.safetensors nor pytorch_lora_weights.safetensors)",
                   path);
      return FALSE;
    }
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: no such LoRA file or folder", path);
      return FALSE;
    }
  *file = g_strdup (path);
  {
    char *dir = g_path_get_dirname (path), *cfg = g_build_filename (dir, "adapter_config.json", NULL);
    g_free (dir);
    if (g_file_test (cfg, G_FILE_TEST_EXISTS))
      *config = cfg;
    else
      g_free (cfg);
  }
  return TRUE;
}

/* Reads the keys into module -> Entry; lists the keys that are not LoRA tensors. */
static GHashTable *
read_entries (SdTensorFile *tf, GString *unknown, int *n_unknown, gboolean *peft_keys, GError **error)
{
  GHashTable *mods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
  guint i;
  *peft_keys = FALSE;
  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      int kind;
      gboolean pp;
      char *m = split_key (t->name, &kind, &pp);
      Entry *e;
      if (!m)
        {
          note (unknown, n_unknown, "%s", t->name);
          continue;
        }
      *peft_keys |= pp;
      e = g_hash_table_lookup (mods, m);
      if (!e)
        {
          e = g_new0 (Entry, 1);
          g_hash_table_insert (mods, g_strdup (m), e);
        }
      if (kind == 2)
        {
          float *v = t->n_elements == 1 ? sd_tensor_to_f32 (t, error) : NULL;
          if (!v || !(fabsf (v[0]) <= SD_LORA_MAX_ALPHA))
            {
              if (!v || t->n_elements != 1)
                g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: alpha tensor %s is not a single number",
                             sd_tensors_path (tf), t->name);
              else
                g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: alpha tensor %s is %g; it must be from %g to %g",
                             sd_tensors_path (tf), t->name, v[0], -SD_LORA_MAX_ALPHA, SD_LORA_MAX_ALPHA);
              g_free (v);
              g_free (m);
              g_hash_table_destroy (mods);
              return NULL;
            }
          e->alpha = v[0];
          e->has_alpha = TRUE;
          g_free (v);
        }
      else if (kind == 0)
        {
          e->a = t;
          g_free (e->a_key);
          e->a_key = g_strdup (t->name);
        }
      else
        {
          e->b = t;
          g_free (e->b_key);
          e->b_key = g_strdup (t->name);
        }
      g_free (m);
    }
  return mods;
}

static char *
shape_text (const SdTensorInfo *t)
{
  GString *s = g_string_new ("[");
  int d;
  for (d = 0; d < t->ndim; d++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, d ? ", " : "", t->shape[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

SdLora *
sd_lora_from_tensors (SdFlux *flux, SdTensorFile *tf, const SdLoraConfig *config, GError **error)
{
  const char *file = sd_tensors_path (tf);
  SdLora *lora = NULL;
  GHashTable *mods = NULL;
  GString *unknown = g_string_new (NULL), *bad = g_string_new (NULL), *cond = g_string_new (NULL);
  int n_unknown = 0, n_bad = 0, n_cond = 0;
  gboolean peft_keys;
  GPtrArray *names = NULL;
  guint i;

  if (!(mods = read_entries (tf, unknown, &n_unknown, &peft_keys, error)))
    goto out;
  if (peft_keys && !config)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: PEFT keys (base_model.model.) but no adapter_config.json beside it (it holds lora_alpha)", file);
      goto out;
    }
  if (g_hash_table_size (mods) == 0 && n_unknown == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: holds no LoRA tensors", file);
      goto out;
    }

  /* modules in name order, so messages and layer order do not depend on hashing */
  names = g_ptr_array_new ();
  {
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init (&it, mods);
    while (g_hash_table_iter_next (&it, &k, NULL))
      g_ptr_array_add (names, k);
    g_ptr_array_sort (names, cmp_str);
  }
  lora = g_new0 (SdLora, 1);
  lora->be = flux->be;
  lora->layers = g_ptr_array_new_with_free_func (layer_free);
  lora->by_target = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_ptr_array_unref);

  for (i = 0; i < names->len; i++)
    {
      const char *m = g_ptr_array_index (names, i);
      Entry *e = g_hash_table_lookup (mods, m);
      Part parts[2];
      int n_parts, p, rank, total_out = 0;
      MapResult r = map_module (flux, m, parts, &n_parts);

      if (r == MAP_CONDITIONING)
        {
          note (cond, &n_cond, "%s", m);
          continue;
        }
      if (r == MAP_UNKNOWN)
        {
          note (unknown, &n_unknown, "%s", e->a_key ? e->a_key : e->b_key ? e->b_key : m);
          continue;
        }
      if (!e->a || !e->b)
        {
          note (bad, &n_bad, "%s (has lora_%s but no lora_%s)", m, e->a ? "A" : "B", e->a ? "B" : "A");
          continue;
        }
      for (p = 0; p < n_parts; p++)
        total_out += parts[p].out;
      rank = e->a->ndim == 2 && e->a->shape[0] <= SD_LORA_MAX_RANK ? (int) e->a->shape[0] : 0;
      if (e->a->ndim != 2 || e->b->ndim != 2 || rank < 1 || e->a->shape[1] != parts[0].in || e->b->shape[0] != total_out
          || e->b->shape[1] != rank)
        {
          char *as = shape_text (e->a), *bs = shape_text (e->b);
          note (bad, &n_bad, "%s (A %s, B %s; expected A [r, %d], B [%d, r])", m, as, bs, parts[0].in, total_out);
          g_free (as);
          g_free (bs);
          continue;
        }
      if (n_unknown || n_bad || n_cond)
        continue; /* keep checking, load nothing */
      for (p = 0; p < n_parts; p++)
        {
          SdLoraLayer *l = g_new0 (SdLoraLayer, 1);
          SdWeightPart bp = { e->b_key, parts[p].b_row0, parts[p].out };
          GPtrArray *list;
          l->module = g_strdup (m);
          l->target = parts[p].lin;
          l->rank = rank;
          l->in = parts[p].in;
          l->out = parts[p].out;
          l->col0 = parts[p].col0;
          l->qkv = parts[p].qkv;
          l->scale = (float) module_scale (config, e, m, rank);
          g_ptr_array_add (lora->layers, l);
          if (!(l->a = sd_weight_load1 (tf, flux->be, e->a_key, rank, parts[p].in, error))
              || !(l->b = sd_weight_load (tf, flux->be, &bp, 1, parts[p].out, rank, error)))
            {
              sd_lora_free (lora);
              lora = NULL;
              goto out;
            }
          list = g_hash_table_lookup (lora->by_target, l->target);
          if (!list)
            {
              list = g_ptr_array_new ();
              g_hash_table_insert (lora->by_target, (gpointer) l->target, list);
            }
          g_ptr_array_add (list, l);
          lora->max_rank = MAX (lora->max_rank, rank);
          lora->max_out = MAX (lora->max_out, l->out);
        }
    }
  if (n_cond)
    {
      finish_list (cond, n_cond);
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "%s: LoRA on modulation or conditioning layers, which the engine does not apply per token, is not "
                   "supported: %s",
                   file, cond->str);
    }
  else if (n_unknown || n_bad)
    {
      finish_list (unknown, n_unknown);
      finish_list (bad, n_bad);
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: does not fit this FLUX transformer (%d double, %d single blocks, "
                   "width %d):%s%s%s%s",
                   file, flux->cfg.num_layers, flux->cfg.num_single_layers, flux->cfg.hidden,
                   n_unknown ? " unknown keys: " : "", unknown->str, n_bad ? (n_unknown ? "; mismatched: " : " mismatched: ") : "",
                   bad->str);
    }
  if (n_cond || n_unknown || n_bad)
    {
      sd_lora_free (lora);
      lora = NULL;
    }
out:
  if (names)
    g_ptr_array_free (names, TRUE);
  if (mods)
    g_hash_table_destroy (mods);
  g_string_free (unknown, TRUE);
  g_string_free (bad, TRUE);
  g_string_free (cond, TRUE);
  return lora;
}

SdLora *
sd_lora_load (SdFlux *flux, const char *path, GError **error)
{
  SdLoraConfig *config = NULL;
  SdTensorFile *tf = NULL;
  SdLora *lora = NULL;
  char *file, *config_path;

  if (resolve (path, &file, &config_path, error) && (!config_path || (config = sd_lora_config_load (config_path, error)))
      && (tf = sd_tensors_open (file, error)))
    lora = sd_lora_from_tensors (flux, tf, config, error);
  if (tf)
    sd_tensors_close (tf);
  sd_lora_config_free (config);
  g_free (file);
  g_free (config_path);
  return lora;
}

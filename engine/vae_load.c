/* vae_load.c: loading the AutoencoderKL's weights by diffusers key names (vae/ folder) or by the
 * original latent-diffusion names (ae.safetensors), inferring the config from a single file's
 * shapes when none is given. diffusers' convert_ldm_vae_checkpoint is the reference mapping. */
#include <string.h>

#include "config_fields.h"
#include "scaledit.h"
#include "vae_internal.h"

typedef struct {
  SdTensorFile *tf;
  SdBackend *be;
  gboolean ldm;       /* original latent-diffusion names */
  const char *prefix; /* "", "first_stage_model." or "vae." */
} Loader;

/* The stored name of a tensor given its diffusers and original names (printf formats). */
static char *
key (const Loader *L, const char *dname, const char *lname)
{
  return g_strconcat (L->prefix, L->ldm ? lname : dname, NULL);
}

static const SdTensorInfo *
find (const Loader *L, const char *dname, const char *lname)
{
  char *k = key (L, dname, lname);
  const SdTensorInfo *t = sd_tensors_find (L->tf, k);
  g_free (k);
  return t;
}

static SdBuf *
load (const Loader *L, const char *dname, const char *lname, int ndim, const gint64 *shape, GError **error)
{
  char *k = key (L, dname, lname);
  SdBuf *b = sd_tensors_load (L->tf, L->be, k, ndim, shape, error);
  g_free (k);
  return b;
}

static gboolean
load_conv (const Loader *L, VaeConv *cv, const char *dbase, const char *lbase, int c_in, int c_out,
           int k, GError **error)
{
  char *dn = g_strconcat (dbase, ".weight", NULL), *ln = g_strconcat (lbase, ".weight", NULL);
  gint64 ws[4] = { c_out, c_in, k, k }, bs[1] = { c_out };
  cv->c_in = c_in;
  cv->c_out = c_out;
  cv->k = k;
  cv->w = load (L, dn, ln, 4, ws, error);
  g_free (dn);
  g_free (ln);
  if (!cv->w)
    return FALSE;
  dn = g_strconcat (dbase, ".bias", NULL);
  ln = g_strconcat (lbase, ".bias", NULL);
  cv->b = load (L, dn, ln, 1, bs, error);
  g_free (dn);
  g_free (ln);
  return cv->b != NULL;
}

static gboolean
load_norm (const Loader *L, VaeNorm *n, const char *dbase, const char *lbase, int c, GError **error)
{
  char *dn = g_strconcat (dbase, ".weight", NULL), *ln = g_strconcat (lbase, ".weight", NULL);
  gint64 s[1] = { c };
  n->c = c;
  n->w = load (L, dn, ln, 1, s, error);
  g_free (dn);
  g_free (ln);
  if (!n->w)
    return FALSE;
  dn = g_strconcat (dbase, ".bias", NULL);
  ln = g_strconcat (lbase, ".bias", NULL);
  n->b = load (L, dn, ln, 1, s, error);
  g_free (dn);
  g_free (ln);
  return n->b != NULL;
}

/* A [c, c] linear weight, stored as such or as a 1x1 conv [c, c, 1, 1] (original layout). */
static gboolean
load_linear (const Loader *L, SdBuf **w, SdBuf **b, const char *dbase, const char *lbase, int c,
             GError **error)
{
  char *dn = g_strconcat (dbase, ".weight", NULL), *ln = g_strconcat (lbase, ".weight", NULL);
  const SdTensorInfo *t = find (L, dn, ln);
  gint64 ws[4] = { c, c, 1, 1 }, bs[1] = { c };
  *w = load (L, dn, ln, t && t->ndim == 4 ? 4 : 2, ws, error);
  g_free (dn);
  g_free (ln);
  if (!*w)
    return FALSE;
  dn = g_strconcat (dbase, ".bias", NULL);
  ln = g_strconcat (lbase, ".bias", NULL);
  *b = load (L, dn, ln, 1, bs, error);
  g_free (dn);
  g_free (ln);
  return *b != NULL;
}

static gboolean
load_resnet (const Loader *L, VaeResnet *r, const char *dbase, const char *lbase, int c_in,
             int c_out, GError **error)
{
  char *d[5], *l[5];
  static const char *dm[5] = { "norm1", "conv1", "norm2", "conv2", "conv_shortcut" };
  static const char *lm[5] = { "norm1", "conv1", "norm2", "conv2", "nin_shortcut" };
  gboolean ok;
  int i;
  for (i = 0; i < 5; i++)
    {
      d[i] = g_strdup_printf ("%s.%s", dbase, dm[i]);
      l[i] = g_strdup_printf ("%s.%s", lbase, lm[i]);
    }
  ok = load_norm (L, &r->norm1, d[0], l[0], c_in, error)
       && load_conv (L, &r->conv1, d[1], l[1], c_in, c_out, 3, error)
       && load_norm (L, &r->norm2, d[2], l[2], c_out, error)
       && load_conv (L, &r->conv2, d[3], l[3], c_out, c_out, 3, error)
       && (c_in == c_out || load_conv (L, &r->shortcut, d[4], l[4], c_in, c_out, 1, error));
  for (i = 0; i < 5; i++)
    {
      g_free (d[i]);
      g_free (l[i]);
    }
  return ok;
}

static gboolean
load_attn (const Loader *L, VaeAttn *a, const char *part, int c, GError **error)
{
  char *d = g_strdup_printf ("%s.mid_block.attentions.0", part), *l = g_strdup_printf ("%s.mid.attn_1", part);
  char *dn[5], *ln[5];
  static const char *dm[5] = { "group_norm", "to_q", "to_k", "to_v", "to_out.0" };
  static const char *lm[5] = { "norm", "q", "k", "v", "proj_out" };
  gboolean ok;
  int i;
  for (i = 0; i < 5; i++)
    {
      dn[i] = g_strdup_printf ("%s.%s", d, dm[i]);
      ln[i] = g_strdup_printf ("%s.%s", l, lm[i]);
    }
  a->c = c;
  ok = load_norm (L, &a->norm, dn[0], ln[0], c, error)
       && load_linear (L, &a->q_w, &a->q_b, dn[1], ln[1], c, error)
       && load_linear (L, &a->k_w, &a->k_b, dn[2], ln[2], c, error)
       && load_linear (L, &a->v_w, &a->v_b, dn[3], ln[3], c, error)
       && load_linear (L, &a->o_w, &a->o_b, dn[4], ln[4], c, error);
  for (i = 0; i < 5; i++)
    {
      g_free (dn[i]);
      g_free (ln[i]);
    }
  g_free (d);
  g_free (l);
  return ok;
}

static gboolean
load_mid (const Loader *L, VaeCoder *cd, const char *part, int c, gboolean attn, GError **error)
{
  int m;
  for (m = 0; m < 2; m++)
    {
      char *d = g_strdup_printf ("%s.mid_block.resnets.%d", part, m);
      char *l = g_strdup_printf ("%s.mid.block_%d", part, m + 1);
      gboolean ok = load_resnet (L, &cd->mid[m], d, l, c, c, error);
      g_free (d);
      g_free (l);
      if (!ok)
        return FALSE;
    }
  return !attn || load_attn (L, &cd->attn, part, c, error);
}

static gboolean
load_encoder (const Loader *L, const SdVaeConfig *c, VaeCoder *e, GError **error)
{
  const int last = c->block_out_channels[c->n_blocks - 1];
  int i, j, ch = c->block_out_channels[0];
  char *dn, *ln;
  gboolean ok;

  if (!load_conv (L, &e->conv_in, "encoder.conv_in", "encoder.conv_in", c->in_channels, ch, 3, error))
    return FALSE;
  for (i = 0; i < c->n_blocks; i++)
    {
      VaeBlock *b = &e->blocks[i];
      int out = c->block_out_channels[i];
      b->n_resnets = c->layers_per_block;
      b->resnets = g_new0 (VaeResnet, b->n_resnets);
      for (j = 0; j < b->n_resnets; j++)
        {
          dn = g_strdup_printf ("encoder.down_blocks.%d.resnets.%d", i, j);
          ln = g_strdup_printf ("encoder.down.%d.block.%d", i, j);
          ok = load_resnet (L, &b->resnets[j], dn, ln, j ? out : ch, out, error);
          g_free (dn);
          g_free (ln);
          if (!ok)
            return FALSE;
        }
      ch = out;
      if (i < c->n_blocks - 1)
        {
          dn = g_strdup_printf ("encoder.down_blocks.%d.downsamplers.0.conv", i);
          ln = g_strdup_printf ("encoder.down.%d.downsample.conv", i);
          ok = load_conv (L, &b->sampler, dn, ln, ch, ch, 3, error);
          g_free (dn);
          g_free (ln);
          if (!ok)
            return FALSE;
        }
    }
  return load_mid (L, e, "encoder", last, c->mid_block_add_attention, error)
         && load_norm (L, &e->norm_out, "encoder.conv_norm_out", "encoder.norm_out", last, error)
         && load_conv (L, &e->conv_out, "encoder.conv_out", "encoder.conv_out", last,
                       2 * c->latent_channels, 3, error);
}

static gboolean
load_decoder (const Loader *L, const SdVaeConfig *c, VaeCoder *d, GError **error)
{
  const int n = c->n_blocks;
  int i, j, ch = c->block_out_channels[n - 1];
  char *dn, *ln;
  gboolean ok;

  if (!load_conv (L, &d->conv_in, "decoder.conv_in", "decoder.conv_in", c->latent_channels, ch, 3, error)
      || !load_mid (L, d, "decoder", ch, c->mid_block_add_attention, error))
    return FALSE;
  for (i = 0; i < n; i++)
    {
      VaeBlock *b = &d->blocks[i];
      int out = c->block_out_channels[n - 1 - i];
      b->n_resnets = c->layers_per_block + 1;
      b->resnets = g_new0 (VaeResnet, b->n_resnets);
      for (j = 0; j < b->n_resnets; j++)
        {
          dn = g_strdup_printf ("decoder.up_blocks.%d.resnets.%d", i, j);
          ln = g_strdup_printf ("decoder.up.%d.block.%d", n - 1 - i, j);
          ok = load_resnet (L, &b->resnets[j], dn, ln, j ? out : ch, out, error);
          g_free (dn);
          g_free (ln);
          if (!ok)
            return FALSE;
        }
      ch = out;
      if (i < n - 1)
        {
          dn = g_strdup_printf ("decoder.up_blocks.%d.upsamplers.0.conv", i);
          ln = g_strdup_printf ("decoder.up.%d.upsample.conv", n - 1 - i);
          ok = load_conv (L, &b->sampler, dn, ln, ch, ch, 3, error);
          g_free (dn);
          g_free (ln);
          if (!ok)
            return FALSE;
        }
    }
  return load_norm (L, &d->norm_out, "decoder.conv_norm_out", "decoder.norm_out", ch, error)
         && load_conv (L, &d->conv_out, "decoder.conv_out", "decoder.conv_out", ch, c->out_channels, 3, error);
}

/* A dimension of a tensor that must exist, for inferring the config. */
static gboolean
dim_of (const Loader *L, const char *dname, const char *lname, int axis, int *out, GError **error)
{
  const SdTensorInfo *t = find (L, dname, lname);
  if (!t || t->ndim <= axis)
    {
      char *k = key (L, dname, lname);
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: missing tensor \"%s\" (or it has too few dimensions)",
                   sd_tensors_path (L->tf), k);
      g_free (k);
      return FALSE;
    }
  {
    char *what = g_strdup_printf ("dimension %d of tensor \"%s\"", axis, t->name);
    gboolean ok = sd_config_check (sd_tensors_path (L->tf), what, t->shape[axis], 1, SD_CONFIG_MAX_DIM, error);
    g_free (what);
    if (ok)
      *out = (int) t->shape[axis];
    return ok;
  }
}

/* The config a single file implies (as from_single_file does with its default original config). */
static gboolean
infer_config (const Loader *L, SdVaeConfig *c, GError **error)
{
  int i;
  memset (c, 0, sizeof *c);
  for (i = 0; i < SD_VAE_MAX_BLOCKS; i++)
    {
      char *dn = g_strdup_printf ("encoder.down_blocks.%d.resnets.0.conv1.weight", i);
      char *ln = g_strdup_printf ("encoder.down.%d.block.0.conv1.weight", i);
      const SdTensorInfo *t = find (L, dn, ln);
      g_free (dn);
      g_free (ln);
      if (!t)
        break;
      c->block_out_channels[i] = t->ndim == 4 && t->shape[0] <= SD_CONFIG_MAX_DIM ? (int) t->shape[0] : 0;
    }
  c->n_blocks = i;
  for (i = 0; i < 64; i++)
    {
      char *dn = g_strdup_printf ("encoder.down_blocks.0.resnets.%d.conv1.weight", i);
      char *ln = g_strdup_printf ("encoder.down.0.block.%d.conv1.weight", i);
      const SdTensorInfo *t = find (L, dn, ln);
      g_free (dn);
      g_free (ln);
      if (!t)
        break;
    }
  c->layers_per_block = i;
  if (c->n_blocks == 0 || c->layers_per_block == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: no encoder blocks found: not an AutoencoderKL checkpoint",
                   sd_tensors_path (L->tf));
      return FALSE;
    }
  if (!dim_of (L, "encoder.conv_in.weight", "encoder.conv_in.weight", 1, &c->in_channels, error)
      || !dim_of (L, "decoder.conv_in.weight", "decoder.conv_in.weight", 1, &c->latent_channels, error)
      || !dim_of (L, "decoder.conv_out.weight", "decoder.conv_out.weight", 0, &c->out_channels, error))
    return FALSE;
  c->norm_num_groups = 32;
  for (i = 0; i < c->n_blocks; i++)
    if (c->block_out_channels[i] <= 0 || c->block_out_channels[i] % c->norm_num_groups)
      {
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                     "%s: block %d has %d channels, not a multiple of 32 groups; give the VAE's config.json",
                     sd_tensors_path (L->tf), i, c->block_out_channels[i]);
        return FALSE;
      }
  c->mid_block_add_attention = find (L, "encoder.mid_block.attentions.0.to_q.weight", "encoder.mid.attn_1.q.weight") != NULL;
  c->use_quant_conv = find (L, "quant_conv.weight", "quant_conv.weight") != NULL;
  c->use_post_quant_conv = find (L, "post_quant_conv.weight", "post_quant_conv.weight") != NULL;
  c->scaling_factor = c->latent_channels == 16 ? 0.3611f : 0.18215f;
  c->shift_factor = c->latent_channels == 16 ? 0.1159f : 0.0f;
  return TRUE;
}

/* Finds which naming a file uses. */
static gboolean
detect_layout (Loader *L, GError **error)
{
  static const char *prefixes[] = { "", "first_stage_model.", "vae." };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      char *k = g_strconcat (prefixes[i], "encoder.conv_in.weight", NULL);
      gboolean has = sd_tensors_find (L->tf, k) != NULL;
      g_free (k);
      if (!has)
        continue;
      L->prefix = prefixes[i];
      L->ldm = FALSE;
      if (find (L, "encoder.down_blocks.0.resnets.0.conv1.weight", "") != NULL)
        return TRUE;
      L->ldm = TRUE;
      if (find (L, "", "encoder.down.0.block.0.conv1.weight") != NULL)
        return TRUE;
    }
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
               "%s: not a VAE: no encoder.conv_in.weight with diffusers or latent-diffusion block names",
               sd_tensors_path (L->tf));
  return FALSE;
}

/* The folder holding config.json: path itself or path/vae. */
static char *
vae_folder (const char *path)
{
  char *sub = g_build_filename (path, "vae", "config.json", NULL);
  char *dir = g_file_test (sub, G_FILE_TEST_EXISTS) ? g_build_filename (path, "vae", NULL) : g_strdup (path);
  g_free (sub);
  return dir;
}

SdVae *
sd_vae_load (SdBackend *be, const char *path, const char *config_json, GError **error)
{
  SdVae *vae = g_new0 (SdVae, 1);
  Loader L = { 0 };
  char *cfg_path = NULL, *weights = NULL;
  const SdVaeConfig *c = &vae->cfg;

  vae->be = be;
  L.be = be;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      char *dir = vae_folder (path);
      cfg_path = g_build_filename (dir, "config.json", NULL);
      weights = g_build_filename (dir, "diffusion_pytorch_model.safetensors", NULL);
      if (!g_file_test (weights, G_FILE_TEST_EXISTS))
        {
          g_free (weights);
          weights = g_build_filename (dir, "diffusion_pytorch_model.safetensors.index.json", NULL);
        }
      g_free (dir);
      if (!g_file_test (cfg_path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: no VAE config.json (looked in it and in its vae/)", path);
          goto fail;
        }
    }
  else
    {
      weights = g_strdup (path);
      cfg_path = g_strdup (config_json);
    }
  L.tf = sd_tensors_open (weights, error);
  if (!L.tf || !detect_layout (&L, error))
    goto fail;
  if (cfg_path ? !sd_vae_config_from_json (cfg_path, &vae->cfg, error) : !infer_config (&L, &vae->cfg, error))
    goto fail;
  if (!load_encoder (&L, c, &vae->enc, error) || !load_decoder (&L, c, &vae->dec, error))
    goto fail;
  if (c->use_quant_conv
      && !load_conv (&L, &vae->quant, "quant_conv", "quant_conv", 2 * c->latent_channels,
                     2 * c->latent_channels, 1, error))
    goto fail;
  if (c->use_post_quant_conv
      && !load_conv (&L, &vae->post_quant, "post_quant_conv", "post_quant_conv", c->latent_channels,
                     c->latent_channels, 1, error))
    goto fail;
  sd_tensors_close (L.tf);
  g_free (cfg_path);
  g_free (weights);
  return vae;
fail:
  if (L.tf)
    sd_tensors_close (L.tf);
  g_free (cfg_path);
  g_free (weights);
  sd_vae_free (vae);
  return NULL;
}

static void
free_conv (SdBackend *be, VaeConv *c)
{
  sd_buf_release (be, c->w);
  sd_buf_release (be, c->b);
}

static void
free_norm (SdBackend *be, VaeNorm *n)
{
  sd_buf_release (be, n->w);
  sd_buf_release (be, n->b);
}

static void
free_resnet (SdBackend *be, VaeResnet *r)
{
  free_norm (be, &r->norm1);
  free_norm (be, &r->norm2);
  free_conv (be, &r->conv1);
  free_conv (be, &r->conv2);
  free_conv (be, &r->shortcut);
}

static void
free_coder (SdBackend *be, VaeCoder *cd)
{
  SdBuf *attn[8] = { cd->attn.q_w, cd->attn.q_b, cd->attn.k_w, cd->attn.k_b,
                     cd->attn.v_w, cd->attn.v_b, cd->attn.o_w, cd->attn.o_b };
  int i, j;
  free_conv (be, &cd->conv_in);
  free_conv (be, &cd->conv_out);
  free_norm (be, &cd->norm_out);
  for (i = 0; i < SD_VAE_MAX_BLOCKS; i++)
    {
      for (j = 0; j < cd->blocks[i].n_resnets; j++)
        free_resnet (be, &cd->blocks[i].resnets[j]);
      g_free (cd->blocks[i].resnets);
      free_conv (be, &cd->blocks[i].sampler);
    }
  free_resnet (be, &cd->mid[0]);
  free_resnet (be, &cd->mid[1]);
  free_norm (be, &cd->attn.norm);
  for (i = 0; i < 8; i++)
    sd_buf_release (be, attn[i]);
}

void
sd_vae_free (SdVae *vae)
{
  if (!vae)
    return;
  free_coder (vae->be, &vae->enc);
  free_coder (vae->be, &vae->dec);
  free_conv (vae->be, &vae->quant);
  free_conv (vae->be, &vae->post_quant);
  g_free (vae);
}

const SdVaeConfig *
sd_vae_get_config (const SdVae *vae)
{
  return &vae->cfg;
}

int
sd_vae_factor (const SdVae *vae)
{
  return 1 << (vae->cfg.n_blocks - 1);
}

void
sd_vae_latent_size (const SdVae *vae, int width, int height, int *lw, int *lh)
{
  int i;
  for (i = 0; i < vae->cfg.n_blocks - 1; i++)
    {
      width /= 2;
      height /= 2;
    }
  *lw = width;
  *lh = height;
}

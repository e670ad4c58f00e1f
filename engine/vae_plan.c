/* vae_plan.c: the AutoencoderKL encoder and decoder written as a list of passes over host image
 * slots (one conv, or the mid-block attention, per pass), which vae_tiled.c runs tile by tile. */
#include "vae_internal.h"

static int
add_slot (VaePlan *p, int c, int h, int w)
{
  VaeSlot s = { 0 };
  s.c = c;
  s.h = h;
  s.w = w;
  s.last_use = -1;
  g_array_append_val (p->slots, s);
  return p->slots->len - 1;
}

static VaeSlot *
slot (VaePlan *p, int i)
{
  return &g_array_index (p->slots, VaeSlot, i);
}

static void
add_pass (VaePlan *p, const VaePass *pass)
{
  g_array_append_val (p->passes, *pass);
  if (pass->norm)
    slot (p, pass->in)->needs_stats = TRUE;
}

/* out = conv(act(norm(in))) with "same" padding for odd kernels; returns the new slot. */
static int
conv (VaePlan *p, int in, const VaeNorm *norm, const VaeConv *cv, int c_out)
{
  VaeSlot *s = slot (p, in);
  VaePass pass = { 0 };
  pass.kind = VAE_PASS_CONV;
  pass.in = in;
  pass.res = -1;
  pass.norm = norm;
  pass.silu = norm != NULL;
  pass.conv = cv;
  pass.c_out = c_out;
  pass.stride = 1;
  pass.pad_top = pass.pad_bottom = pass.pad_left = pass.pad_right = cv->k / 2;
  pass.out = add_slot (p, c_out, s->h, s->w);
  add_pass (p, &pass);
  return pass.out;
}

/* ResnetBlock2D: x + conv2(silu(norm2(conv1(silu(norm1(x)))))) with a 1x1 shortcut when the
 * channel count changes; in place when it does not. */
static int
resnet (VaePlan *p, int x, const VaeResnet *r)
{
  int h = conv (p, x, &r->norm1, &r->conv1, r->conv1.c_out);
  VaePass pass = { 0 };
  pass.kind = VAE_PASS_CONV;
  pass.in = h;
  pass.res = x;
  pass.norm = &r->norm2;
  pass.silu = TRUE;
  pass.conv = &r->conv2;
  pass.c_out = r->conv2.c_out;
  pass.stride = 1;
  pass.pad_top = pass.pad_bottom = pass.pad_left = pass.pad_right = 1;
  pass.shortcut = r->shortcut.w ? &r->shortcut : NULL;
  pass.out = pass.shortcut ? add_slot (p, pass.c_out, slot (p, x)->h, slot (p, x)->w) : x;
  add_pass (p, &pass);
  return pass.out;
}

static int
mid_block (VaePlan *p, int x, const VaeCoder *cd)
{
  x = resnet (p, x, &cd->mid[0]);
  if (cd->attn.norm.w)
    {
      VaePass pass = { 0 };
      pass.kind = VAE_PASS_ATTN;
      pass.in = pass.out = x;
      pass.res = -1;
      pass.norm = &cd->attn.norm;
      pass.attn = &cd->attn;
      pass.c_out = cd->attn.c;
      add_pass (p, &pass);
    }
  return resnet (p, x, &cd->mid[1]);
}

static VaePlan *
plan_new (const SdVae *vae)
{
  VaePlan *p = g_new0 (VaePlan, 1);
  p->slots = g_array_new (FALSE, TRUE, sizeof (VaeSlot));
  p->passes = g_array_new (FALSE, TRUE, sizeof (VaePass));
  p->groups = vae->cfg.norm_num_groups;
  return p;
}

/* Marks each slot's last reader, so the executor frees it as soon as it can. */
static void
plan_finish (VaePlan *p)
{
  guint i;
  for (i = 0; i < p->passes->len; i++)
    {
      const VaePass *pass = &g_array_index (p->passes, VaePass, i);
      slot (p, pass->in)->last_use = i;
      if (pass->res >= 0)
        slot (p, pass->res)->last_use = i;
    }
  slot (p, p->output)->last_use = p->passes->len;
}

VaePlan *
sd_vae_plan_decoder (const SdVae *vae, int lh, int lw)
{
  const VaeCoder *d = &vae->dec;
  const SdVaeConfig *c = &vae->cfg;
  VaePlan *p = plan_new (vae);
  int x, i, j;

  p->input = x = add_slot (p, c->latent_channels, lh, lw);
  if (vae->post_quant.w)
    x = conv (p, x, NULL, &vae->post_quant, c->latent_channels);
  x = conv (p, x, NULL, &d->conv_in, d->conv_in.c_out);
  x = mid_block (p, x, d);
  for (i = 0; i < c->n_blocks; i++)
    {
      const VaeBlock *b = &d->blocks[i];
      for (j = 0; j < b->n_resnets; j++)
        x = resnet (p, x, &b->resnets[j]);
      if (b->sampler.w)
        {
          VaeSlot *s = slot (p, x);
          VaePass pass = { 0 };
          pass.kind = VAE_PASS_CONV;
          pass.in = x;
          pass.res = -1;
          pass.upsample = TRUE;
          pass.conv = &b->sampler;
          pass.c_out = b->sampler.c_out;
          pass.stride = 1;
          pass.pad_top = pass.pad_bottom = pass.pad_left = pass.pad_right = 1;
          pass.out = add_slot (p, pass.c_out, 2 * s->h, 2 * s->w);
          add_pass (p, &pass);
          x = pass.out;
        }
    }
  p->output = conv (p, x, &d->norm_out, &d->conv_out, c->out_channels);
  plan_finish (p);
  return p;
}

VaePlan *
sd_vae_plan_encoder (const SdVae *vae, int h, int w)
{
  const VaeCoder *e = &vae->enc;
  const SdVaeConfig *c = &vae->cfg;
  VaePlan *p = plan_new (vae);
  int x, i, j;

  p->input = x = add_slot (p, c->in_channels, h, w);
  x = conv (p, x, NULL, &e->conv_in, e->conv_in.c_out);
  for (i = 0; i < c->n_blocks; i++)
    {
      const VaeBlock *b = &e->blocks[i];
      for (j = 0; j < b->n_resnets; j++)
        x = resnet (p, x, &b->resnets[j]);
      if (b->sampler.w)
        {
          /* Downsample2D: pad (0, 1, 0, 1) with zeros, then a stride-2 conv without padding. */
          VaeSlot *s = slot (p, x);
          VaePass pass = { 0 };
          pass.kind = VAE_PASS_CONV;
          pass.in = x;
          pass.res = -1;
          pass.conv = &b->sampler;
          pass.c_out = b->sampler.c_out;
          pass.stride = 2;
          pass.pad_bottom = pass.pad_right = 1;
          pass.out = add_slot (p, pass.c_out, (s->h - 2) / 2 + 1, (s->w - 2) / 2 + 1);
          add_pass (p, &pass);
          x = pass.out;
        }
    }
  x = mid_block (p, x, e);
  /* Only the mean (the leading latent_channels of conv_out / quant_conv) is needed. */
  if (vae->quant.w)
    {
      x = conv (p, x, &e->norm_out, &e->conv_out, e->conv_out.c_out);
      x = conv (p, x, NULL, &vae->quant, c->latent_channels);
    }
  else
    x = conv (p, x, &e->norm_out, &e->conv_out, c->latent_channels);
  p->output = x;
  plan_finish (p);
  return p;
}

void
sd_vae_plan_free (VaePlan *p)
{
  guint i;
  if (!p)
    return;
  for (i = 0; i < p->slots->len; i++)
    {
      VaeSlot *s = slot (p, i);
      g_free (s->data);
      g_free (s->half);
      g_free (s->mean);
      g_free (s->m2);
    }
  g_array_free (p->slots, TRUE);
  g_array_free (p->passes, TRUE);
  g_free (p);
}

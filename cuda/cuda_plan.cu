/* cuda_plan.cu: device copies of attention plans (CSR, partial flags, token positions, the token
 * mask of every partial tile as bits computed on the GPU, the order the query tiles run in),
 * uploaded once and kept while a plan with the same contents comes back. */
#include <string.h>

#include "cuda_internal.h"

#define CACHE_SLOTS 4

typedef struct {
  /* What identifies a plan: its sizes and host copies of its arrays. */
  SdAttnPlan key;
  int nnz, heads, q_tile;
  /* The device copy (one allocation). */
  void *mem;
  CuPlanDevice dev;
  guint64 last_use;
} Slot;

struct CuPlanCache {
  Slot slot[CACHE_SLOTS];
  guint64 clock;
};

static gboolean
slot_matches (const Slot *s, const SdAttnPlan *p, int heads, int q_tile)
{
  int nnz = p->row_start[p->n_q_blocks];
  return s->mem && s->key.n_tokens == p->n_tokens && s->key.q_block == p->q_block
         && s->key.k_block == p->k_block && s->key.n_q_blocks == p->n_q_blocks
         && s->key.n_k_blocks == p->n_k_blocks && s->nnz == nnz && s->heads == heads
         && s->q_tile == q_tile && memcmp (&s->key.rules, &p->rules, sizeof p->rules) == 0
         && memcmp (s->key.row_start, p->row_start, (p->n_q_blocks + 1) * sizeof (int)) == 0
         && memcmp (s->key.kblock, p->kblock, nnz * sizeof (int)) == 0
         && memcmp (s->key.partial, p->partial, nnz) == 0
         && memcmp (s->key.tokens, p->tokens, p->n_tokens * sizeof (SdTokenPos)) == 0;
}

static void
slot_clear (CuBackend *cb, Slot *s)
{
  if (s->mem)
    cu_temp_free (cb, s->mem);
  g_free (s->key.row_start);
  g_free (s->key.kblock);
  g_free (s->key.partial);
  g_free (s->key.tokens);
  memset (s, 0, sizeof *s);
}

/* Query tiles whose work is over twice the mean run first (all heads), longest first; the rest
 * follow head by head in sequence order, so neighbouring tiles share keys in L2. */
static int *
make_order (const SdAttnPlan *p, int heads, int q_tile, int *n_out)
{
  int per_block = p->q_block / q_tile;
  int n_tiles = (p->n_tokens + q_tile - 1) / q_tile;
  int *weight = g_new (int, n_tiles), *heavy = g_new (int, n_tiles), *order;
  int t, h, i, j, n_heavy = 0, n = 0;
  double mean = 0;

  for (t = 0; t < n_tiles; t++)
    {
      int b = t / per_block;
      weight[t] = p->row_start[b + 1] - p->row_start[b];
      mean += weight[t];
    }
  mean /= MAX (n_tiles, 1);
  for (t = 0; t < n_tiles; t++)
    if (weight[t] > 2 * mean)
      heavy[n_heavy++] = t;
  for (i = 1; i < n_heavy; i++) /* insertion sort, longest first */
    for (j = i; j > 0 && weight[heavy[j]] > weight[heavy[j - 1]]; j--)
      {
        int tmp = heavy[j];
        heavy[j] = heavy[j - 1];
        heavy[j - 1] = tmp;
      }
  order = g_new (int, (gsize) n_tiles * heads);
  for (i = 0; i < n_heavy; i++)
    for (h = 0; h < heads; h++)
      order[n++] = heavy[i] * heads + h;
  for (h = 0; h < heads; h++)
    for (t = 0; t < n_tiles; t++)
      if (weight[t] <= 2 * mean)
        order[n++] = t * heads + h;
  g_free (weight);
  g_free (heavy);
  *n_out = n;
  return order;
}

/* One CTA per query block: for each partial key tile, each query row's 64-bit mask (keys or
 * queries past the sequence are excluded). */
static __global__ void
mask_kernel (const int *row_start, const int *kblock, const unsigned char *partial, const SdTokenPos *tokens,
             SdMaskRules rules, int n, int q_block, int k_block, unsigned long long *mask)
{
  const int b = blockIdx.x, per_entry = k_block / 64;
  for (int e = row_start[b]; e < row_start[b + 1]; e++)
    {
      if (!partial[e])
        continue;
      for (int sub = 0; sub < per_entry; sub++)
        {
          const int k0 = kblock[e] * k_block + sub * 64;
          for (int r = threadIdx.x; r < q_block; r += blockDim.x)
            {
              const int qi = b * q_block + r;
              unsigned long long bits = 0;
              if (qi < n)
                {
                  const SdTokenPos tq = tokens[qi];
                  for (int c = 0; c < 64 && k0 + c < n; c++)
                    if (sd_mask_allows (&rules, &tq, &tokens[k0 + c]))
                      bits |= 1ull << c;
                }
              mask[((long) e * per_entry + sub) * q_block + r] = bits;
            }
        }
    }
}

static gsize
round_up (gsize n)
{
  return (n + 255) & ~(gsize) 255;
}

static gboolean
upload_plan (CuBackend *cb, Slot *s, const SdAttnPlan *p, int heads, int q_tile)
{
  int nnz = p->row_start[p->n_q_blocks], n_order;
  int *order = make_order (p, heads, q_tile, &n_order);
  gsize o_rs = 0, o_kb = round_up (o_rs + (p->n_q_blocks + 1) * sizeof (int));
  gsize o_pa = round_up (o_kb + nnz * sizeof (int)), o_tok = round_up (o_pa + nnz);
  gsize o_ord = round_up (o_tok + p->n_tokens * sizeof (SdTokenPos));
  gsize o_mask = round_up (o_ord + n_order * sizeof (int));
  gsize total = o_mask + (gsize) nnz * (p->k_block / 64) * p->q_block * sizeof (unsigned long long);
  char *mem = (char *) cu_temp_alloc (cb, total, "attention plan");
  guint8 *host;

  if (!mem)
    {
      g_free (order);
      return FALSE;
    }
  host = (guint8 *) g_malloc0 (o_mask);
  memcpy (host + o_rs, p->row_start, (p->n_q_blocks + 1) * sizeof (int));
  memcpy (host + o_kb, p->kblock, nnz * sizeof (int));
  memcpy (host + o_pa, p->partial, nnz);
  memcpy (host + o_tok, p->tokens, p->n_tokens * sizeof (SdTokenPos));
  memcpy (host + o_ord, order, n_order * sizeof (int));
  cu_check (cb, cudaMemcpyAsync (mem, host, o_mask, cudaMemcpyHostToDevice, cb->stream), "uploading a plan");
  g_free (host);
  g_free (order);
  s->mem = mem;
  s->dev.row_start = (const int *) (mem + o_rs);
  s->dev.kblock = (const int *) (mem + o_kb);
  s->dev.partial = (const unsigned char *) (mem + o_pa);
  s->dev.tokens = (const SdTokenPos *) (mem + o_tok);
  s->dev.order = (const int *) (mem + o_ord);
  s->dev.n_order = n_order;
  s->dev.mask = (const unsigned long long *) (mem + o_mask);
  if (nnz > 0)
    mask_kernel<<<p->n_q_blocks, 128, 0, cb->stream>>> (s->dev.row_start, s->dev.kblock, s->dev.partial,
                                                        s->dev.tokens, p->rules, p->n_tokens, p->q_block,
                                                        p->k_block, (unsigned long long *) s->dev.mask);
  cu_check (cb, cudaGetLastError (), "computing a plan's token masks");
  return TRUE;
}

const CuPlanDevice *
cu_plan_get (CuBackend *cb, const SdAttnPlan *p, int heads, int q_tile)
{
  CuPlanCache *c;
  Slot *victim;
  int i, nnz = p->row_start[p->n_q_blocks];

  if (!cb->plans)
    cb->plans = g_new0 (CuPlanCache, 1);
  c = cb->plans;
  c->clock++;
  for (i = 0; i < CACHE_SLOTS; i++)
    if (slot_matches (&c->slot[i], p, heads, q_tile))
      {
        c->slot[i].last_use = c->clock;
        return &c->slot[i].dev;
      }
  victim = &c->slot[0];
  for (i = 1; i < CACHE_SLOTS; i++)
    if (c->slot[i].last_use < victim->last_use)
      victim = &c->slot[i];
  slot_clear (cb, victim);
  if (!upload_plan (cb, victim, p, heads, q_tile))
    return NULL;
  victim->key = *p;
  victim->key.row_start = (int *) g_memdup2 (p->row_start, (p->n_q_blocks + 1) * sizeof (int));
  victim->key.kblock = (int *) g_memdup2 (p->kblock, nnz * sizeof (int));
  victim->key.partial = (guint8 *) g_memdup2 (p->partial, nnz);
  victim->key.tokens = (SdTokenPos *) g_memdup2 (p->tokens, p->n_tokens * sizeof (SdTokenPos));
  victim->nnz = nnz;
  victim->heads = heads;
  victim->q_tile = q_tile;
  victim->last_use = c->clock;
  return &victim->dev;
}

void
cu_plan_cache_free (CuBackend *cb)
{
  int i;
  if (!cb->plans)
    return;
  for (i = 0; i < CACHE_SLOTS; i++)
    slot_clear (cb, &cb->plans->slot[i]);
  g_free (cb->plans);
  cb->plans = NULL;
}

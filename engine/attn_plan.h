/* attn_plan.h: the block-sparse attention plan (which key blocks each query block visits) and the
 * exact token-level mask rule of Scale-DiT, shared by the CPU reference and the CUDA kernel. */
#pragma once

#include <glib.h>

#ifdef __CUDACC__
#define SD_HOST_DEVICE __host__ __device__
#else
#define SD_HOST_DEVICE
#endif

G_BEGIN_DECLS

typedef enum {
  SD_TOK_TEXT = 0,
  SD_TOK_HR = 1,
  SD_TOK_LR = 2,
} SdTokenKind;

/* Where a token sits: its kind, row and column in its own grid (HR or LR latent tokens), and
 * the HR window (row, column of the window grid) its area belongs to. Text tokens: zeros. */
typedef struct {
  gint32 kind;
  gint32 row, col;
  gint32 wrow, wcol;
} SdTokenPos;

/* The mask's parameters (defaults from DESIGN.md section 3). */
typedef struct {
  int hr_radius;      /* HR -> HR: |drow| <= r and |dcol| <= r (8) */
  int lr_radius;      /* LR -> LR: |drow| <= r and |dcol| <= r (2) */
  int lr_window_span; /* HR -> LR: same window row, |dwcol| <= span (1: own, left, right) */
} SdMaskRules;

/* True when query token q may attend to key token k. */
static inline SD_HOST_DEVICE int
sd_mask_allows (const SdMaskRules *r, const SdTokenPos *q, const SdTokenPos *k)
{
  int dr, dc;
  switch (q->kind)
    {
    case SD_TOK_TEXT:
      return k->kind != SD_TOK_LR;
    case SD_TOK_HR:
      if (k->kind == SD_TOK_TEXT)
        return 1;
      if (k->kind == SD_TOK_HR)
        {
          dr = q->row - k->row;
          dc = q->col - k->col;
          return dr <= r->hr_radius && -dr <= r->hr_radius && dc <= r->hr_radius && -dc <= r->hr_radius;
        }
      dc = q->wcol - k->wcol;
      return q->wrow == k->wrow && dc <= r->lr_window_span && -dc <= r->lr_window_span;
    default:
      if (k->kind != SD_TOK_LR)
        return 0;
      dr = q->row - k->row;
      dc = q->col - k->col;
      return dr <= r->lr_radius && -dr <= r->lr_radius && dc <= r->lr_radius && -dc <= r->lr_radius;
    }
}

/* Computed blocks of a square self-attention over n_tokens, stored per query block (CSR):
 * query block b visits key blocks kblock[row_start[b] .. row_start[b+1]), ascending; partial[i]
 * says the token mask must be applied inside that block (0: every pair is allowed). */
typedef struct {
  int n_tokens;
  int q_block, k_block;
  int n_q_blocks, n_k_blocks;
  int *row_start;
  int *kblock;
  guint8 *partial;
  SdTokenPos *tokens;
  SdMaskRules rules;
} SdAttnPlan;

G_END_DECLS

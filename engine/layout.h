/* layout.h: the token layout of a Scale-DiT detail-pass sequence [text | HR | LR] (order,
 * windows, RoPE positions) and the block-sparse attention plan built over it (attn_plan.c). */
#pragma once

#include <glib.h>

#include "attn_plan.h"
#include "scaledit.h"

G_BEGIN_DECLS

/* What the sequence holds. HR windows are window × window tokens, tiled from the top-left;
 * windows at the right and bottom edges are partial when a side is not a multiple of window.
 *
 * LR tokens belong to the HR window that contains their centre mapped into HR coordinates
 * (LR row r covers HR rows [r * hr_rows / lr_rows, (r + 1) * hr_rows / lr_rows), its centre
 * row (r + 0.5) * hr_rows / lr_rows). The LR tokens of one HR window form a rectangle: the LR
 * window. Its side is window * lr_rows / hr_rows (window / f) when that divides exactly; with a
 * non-integer ratio the LR windows along an axis differ in size by one token (and an LR window
 * is empty when it would be narrower than one LR token). The LR window grid is thus the HR
 * window grid, and HR window (wr, wc) and LR window (wr, wc) cover the same part of the image. */
typedef struct {
  int n_text;
  int hr_rows, hr_cols;   /* HR token grid (latent/2 per side) */
  int lr_rows, lr_cols;   /* LR token grid; 0 when there is no LR guidance */
  int window;             /* HR window side in tokens (16) */
  SdTokenOrder order;     /* SD_ORDER_HILBERT / _WINDOW / _RASTER */
  double lr_row_scale, lr_col_scale; /* RoPE anchor scale of LR tokens, hr_rows / lr_rows etc.;
                                        0: that exact per-axis ratio */
} SdLayoutSpec;

/* Orders (for HR over the HR grid, and for LR the same way over the LR windows):
 * SD_ORDER_HILBERT: windows along a generalized Hilbert curve over the window grid, tokens along
 *   a generalized Hilbert curve inside each window;
 * SD_ORDER_WINDOW: windows in raster order, tokens in raster order inside each window (the
 *   published code's order);
 * SD_ORDER_RASTER: plain raster order of the grid. */
typedef struct {
  SdLayoutSpec spec;
  int n_tokens, hr_start, lr_start;    /* sequence offsets: text at 0 */
  int *hr_perm;   /* [hr_rows*hr_cols]: sequence slot i (after hr_start) holds raster HR token hr_perm[i] */
  int *lr_perm;   /* same for LR (NULL without LR) */
  SdTokenPos *tokens;   /* [n_tokens]: kind, row, col, HR window (wrow, wcol) */
  float *rope_ids;      /* [n_tokens][3]: text (0,0,0); HR (0,row,col); LR (0,row*lr_row_scale,col*lr_col_scale) */
  int n_wrows, n_wcols; /* the HR (and LR) window grid */
} SdLayout;

SdLayout *sd_layout_new (const SdLayoutSpec *spec, GError **error);
void sd_layout_free (SdLayout *layout);

/* The HR window row holding LR row r (or, with lr_cols/hr_cols, LR column r). */
int sd_layout_lr_window (int r, int lr_side, int hr_side, int window);

/* The plan of the layout's self-attention under `rules` (NULL: hr_radius 8, lr_radius 2,
 * lr_window_span 1) in q_block × k_block blocks (0: 128 × 64). Exact: a key block is listed
 * iff it holds at least one allowed pair, and marked full iff all its pairs are allowed. */
SdAttnPlan *sd_attn_plan_new (const SdLayout *layout, const SdMaskRules *rules, int q_block,
                              int k_block, GError **error);
void sd_attn_plan_free (SdAttnPlan *plan);

typedef struct {
  gint64 computed_blocks, full_blocks, total_blocks;
  double density;          /* computed / total blocks */
  gint64 allowed_pairs;    /* token pairs the mask allows */
  double allowed_fraction; /* allowed pairs / n_tokens² */
  gint64 computed_pairs;   /* token pairs inside computed blocks */
} SdAttnPlanStats;

/* Statistics of a plan built from `layout` (allowed pairs counted analytically per query). */
void sd_attn_plan_stats (const SdAttnPlan *plan, const SdLayout *layout, SdAttnPlanStats *stats);

G_END_DECLS

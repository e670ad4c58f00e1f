/* layout_stats.c: sd_layout_stats(), the detail pass's layout and attention plan of an image
 * size, summarized (token count, computed blocks, density, allowed pairs, build time). */
#include "layout.h"

gboolean
sd_layout_stats (const SdLayoutStatsRequest *req, SdLayoutStats *stats, GError **error)
{
  SdLayoutSpec spec = { 0 };
  SdMaskRules rules = { req->hr_radius, req->lr_radius, req->lr_window_span };
  SdLayout *layout;
  SdAttnPlan *plan;
  SdAttnPlanStats ps;
  gint64 t0;
  double n2;

  if (req->width < 1 || req->height < 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "layout stats: image size %dx%d is empty",
                   req->width, req->height);
      return FALSE;
    }
  if (req->global_factor < 1)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "layout stats: global factor %d is not positive", req->global_factor);
      return FALSE;
    }
  spec.n_text = req->n_text;
  spec.hr_rows = (req->height + 15) / 16;
  spec.hr_cols = (req->width + 15) / 16;
  if (req->global_factor > 1)
    {
      spec.lr_rows = (spec.hr_rows + req->global_factor - 1) / req->global_factor;
      spec.lr_cols = (spec.hr_cols + req->global_factor - 1) / req->global_factor;
    }
  spec.window = req->window;
  spec.order = req->order;
  layout = sd_layout_new (&spec, error);
  if (!layout)
    return FALSE;

  t0 = g_get_monotonic_time ();
  plan = sd_attn_plan_new (layout, &rules, req->q_block, req->k_block, error);
  stats->build_seconds = (g_get_monotonic_time () - t0) * 1e-6;
  if (!plan)
    {
      sd_layout_free (layout);
      return FALSE;
    }
  sd_attn_plan_stats (plan, layout, &ps);
  n2 = (double) layout->n_tokens * layout->n_tokens;
  stats->n_tokens = layout->n_tokens;
  stats->hr_rows = spec.hr_rows;
  stats->hr_cols = spec.hr_cols;
  stats->lr_rows = spec.lr_rows;
  stats->lr_cols = spec.lr_cols;
  stats->computed_blocks = ps.computed_blocks;
  stats->full_blocks = ps.full_blocks;
  stats->total_blocks = ps.total_blocks;
  stats->density = ps.density;
  stats->allowed_fraction = ps.allowed_fraction;
  stats->computed_fraction = ps.computed_pairs / n2;
  sd_attn_plan_free (plan);
  sd_layout_free (layout);
  return TRUE;
}

/* progress_text.c: the translated progress line ("Detail pass 7/18") and the overall fraction
 * for an engine progress report. */
#include "intl.h"
#include "progress_text.h"

/* Where each phase starts and ends in the overall fraction (the detail pass costs the most). */
static const struct
{
  const char *phase;
  double from, to;
} spans[] = {
  { "encode", 0.00, 0.03 },
  { "global", 0.03, 0.30 },
  { "handover", 0.30, 0.34 },
  { "detail", 0.34, 0.96 },
  { "decode", 0.96, 1.00 },
};

char *
sd_progress_text (const char *phase, int step, int total)
{
  if (g_str_equal (phase, "encode"))
    return g_strdup (_("Reading the prompt"));
  if (g_str_equal (phase, "global"))
    return g_strdup_printf (_("Global pass %d/%d"), step, total);
  if (g_str_equal (phase, "handover"))
    return g_strdup (_("Handing over to full resolution"));
  if (g_str_equal (phase, "detail"))
    return g_strdup_printf (_("Detail pass %d/%d"), step, total);
  if (g_str_equal (phase, "decode"))
    return g_strdup (_("Decoding the picture"));
  return g_strdup (phase);
}

double
sd_progress_fraction (const char *phase, int step, int total)
{
  double within = total > 0 ? CLAMP ((double) step / total, 0.0, 1.0) : 1.0;
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (spans); i++)
    if (g_str_equal (phase, spans[i].phase))
      return spans[i].from + (spans[i].to - spans[i].from) * within;
  return 0.0;
}

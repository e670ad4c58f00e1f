/* cpu_attention_merge.c: the CPU backend's online-softmax merge of attention results computed over
 * separate sets of keys (see attention_merge in backend.h), one row per task. */
#include <math.h>

#include "cpu_internal.h"

void
cpu_attention_merge (SdBackend *be, SdView acc, SdView acc_lse, SdView part, SdView part_lse, int rows,
                     int cols)
{
  int r;
#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      float *a = cpu_ptr (acc) + (gsize) r * acc.ld, *la = cpu_ptr (acc_lse) + r;
      const float *p = cpu_ptr (part) + (gsize) r * part.ld, lp = cpu_ptr (part_lse)[r];
      const float m = MAX (*la, lp);
      float wa, wp, sum;
      int c;
      if (m == -INFINITY)
        continue; /* neither side saw a key */
      wa = expf (*la - m);
      wp = expf (lp - m);
      sum = wa + wp;
      wa /= sum;
      wp /= sum;
      for (c = 0; c < cols; c++)
        a[c] = wa * a[c] + wp * p[c];
      *la = m + logf (sum);
    }
  (void) be;
}

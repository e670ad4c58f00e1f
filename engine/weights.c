/* weights.c: loading a model weight onto a backend from one or more safetensors tensors (row
 * slices concatenated along the first axis), with shape checks that name the file and tensor. */
#include <string.h>

#include "dtype.h"
#include "scaledit.h"
#include "weights.h"

static gboolean
is_plain_float (SdStDType t, SdDType *out)
{
  switch (t)
    {
    case SD_ST_F32: *out = SD_DTYPE_F32; return TRUE;
    case SD_ST_F16: *out = SD_DTYPE_F16; return TRUE;
    case SD_ST_BF16: *out = SD_DTYPE_BF16; return TRUE;
    default: return FALSE;
    }
}

static char *
shape_string (const SdTensorInfo *t)
{
  GString *s = g_string_new ("[");
  int i;
  for (i = 0; i < t->ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", t->shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Checks one part against its expected [rows, cols]; returns the tensor or NULL. */
static const SdTensorInfo *
check_part (SdTensorFile *tf, const SdWeightPart *p, gint64 cols, GError **error)
{
  const SdTensorInfo *t = sd_tensors_find (tf, p->name);
  gboolean ok;

  if (!t)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: missing tensor \"%s\"", sd_tensors_path (tf), p->name);
      return NULL;
    }
  ok = cols ? (t->ndim == 2 && t->shape[1] == cols) : t->ndim == 1;
  if (ok && p->rows >= 0)
    ok = p->row0 + p->rows <= t->shape[0];
  else if (ok)
    ok = p->row0 == 0;
  if (!ok)
    {
      char *have = shape_string (t);
      if (cols)
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                     "%s: tensor \"%s\" has shape %s, expected %" G_GINT64_FORMAT " columns%s", t->file, p->name,
                     have, cols, p->rows >= 0 ? " and enough rows" : "");
      else
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor \"%s\" has shape %s, expected a vector",
                     t->file, p->name, have);
      g_free (have);
      return NULL;
    }
  return t;
}

SdBuf *
sd_weight_load (SdTensorFile *tf, SdBackend *be, const SdWeightPart *parts, int n_parts,
                gint64 total_rows, gint64 cols, GError **error)
{
  const SdTensorInfo *info[8];
  gint64 rows = 0, width = cols ? cols : 1;
  SdDType common = SD_DTYPE_F32, dt;
  gboolean same = TRUE;
  guint8 *packed;
  gsize at = 0;
  SdBuf *w;
  int i;

  g_return_val_if_fail (n_parts > 0 && n_parts <= (int) G_N_ELEMENTS (info), NULL);
  for (i = 0; i < n_parts; i++)
    {
      info[i] = check_part (tf, &parts[i], cols, error);
      if (!info[i])
        return NULL;
      rows += parts[i].rows >= 0 ? parts[i].rows : info[i]->shape[0];
      if (!is_plain_float (info[i]->dtype, &dt))
        same = FALSE;
      else if (i == 0)
        common = dt;
      else if (dt != common)
        same = FALSE;
    }
  if (rows != total_rows)
    {
      if (n_parts == 1)
        {
          char *have = shape_string (info[0]);
          char *want = cols ? g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", total_rows, cols)
                            : g_strdup_printf ("[%" G_GINT64_FORMAT "]", total_rows);
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor \"%s\" has shape %s, expected %s",
                       info[0]->file, parts[0].name, have, want);
          g_free (want);
          g_free (have);
        }
      else
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                     "%s: tensors \"%s\" ... \"%s\" stack to %" G_GINT64_FORMAT " rows, expected %" G_GINT64_FORMAT,
                     info[0]->file, parts[0].name, parts[n_parts - 1].name, rows, total_rows);
      return NULL;
    }

  if (!same)
    common = SD_DTYPE_F32;
  packed = g_try_malloc ((gsize) total_rows * width * sd_dtype_size (common));
  if (!packed)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "%s: out of host memory loading \"%s\"",
                   info[0]->file, parts[0].name);
      return NULL;
    }
  for (i = 0; i < n_parts; i++)
    {
      gint64 prow = parts[i].rows >= 0 ? parts[i].rows : info[i]->shape[0];
      gsize n = (gsize) prow * width;
      if (same)
        {
          gsize es = sd_dtype_size (common);
          memcpy (packed + at * es, info[i]->data + (gsize) parts[i].row0 * width * es, n * es);
        }
      else
        {
          float *all = sd_tensor_to_f32 (info[i], error);
          if (!all)
            {
              g_free (packed);
              return NULL;
            }
          memcpy ((float *) packed + at, all + (gsize) parts[i].row0 * width, n * sizeof (float));
          g_free (all);
        }
      at += n;
    }
  w = be->ops->weight (be, packed, common, at, error);
  g_free (packed);
  return w;
}

SdBuf *
sd_weight_load1 (SdTensorFile *tf, SdBackend *be, const char *name, gint64 rows, gint64 cols, GError **error)
{
  SdWeightPart p = { name, 0, -1 };
  return sd_weight_load (tf, be, &p, 1, rows, cols, error);
}

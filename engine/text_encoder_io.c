/* text_encoder_io.c: loading helpers the CLIP and T5 encoders share (files, config, prefixes,
 * checked tensors, host embedding rows, run-component input ids). */
#include <math.h>
#include <string.h>

#include "json_object.h"
#include "scaledit.h"
#include "text_encoder_io.h"

/* model.safetensors.index.json (sharded) or model.safetensors inside `dir`, or NULL. */
static char *
folder_weights (const char *dir)
{
  const char *names[] = { "model.safetensors.index.json", "model.safetensors" };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *p = g_build_filename (dir, names[i], NULL);
      if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
        return p;
      g_free (p);
    }
  return NULL;
}

static gboolean
read_config (SdEncoderFiles *f, const char *path, GError **error)
{
  f->config_path = g_strdup (path);
  f->parser = sd_json_object_load (path, error);
  if (!f->parser)
    return FALSE;
  f->config = json_node_get_object (json_parser_get_root (f->parser));
  return TRUE;
}

/* The tensors file of `path`, reading config.json on the way when it is a folder. */
static char *
resolve (SdEncoderFiles *f, const char *path, const char *subfolder, const char *what, GError **error)
{
  char *folder, *config, *weights;

  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return g_strdup (path);
  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: no such file or folder", path);
      return NULL;
    }
  folder = g_strdup (path);
  config = g_build_filename (folder, "config.json", NULL);
  if (!g_file_test (config, G_FILE_TEST_IS_REGULAR))
    {
      char *sub = g_build_filename (path, subfolder, NULL);
      g_free (config);
      config = g_build_filename (sub, "config.json", NULL);
      if (!g_file_test (config, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                       "%s: no config.json and no %s/config.json: not a %s folder", path, subfolder, what);
          g_free (sub);
          g_free (config);
          g_free (folder);
          return NULL;
        }
      g_free (folder);
      folder = sub;
    }
  weights = folder_weights (folder);
  if (!weights)
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                 "%s: no model.safetensors or model.safetensors.index.json", folder);
  else if (!read_config (f, config, error))
    g_clear_pointer (&weights, g_free);
  g_free (config);
  g_free (folder);
  return weights;
}

SdEncoderFiles *
sd_encoder_files_open (SdBackend *be, const char *path, const char *subfolder, const char *anchor,
                       const char *what, GError **error)
{
  SdEncoderFiles *f = g_new0 (SdEncoderFiles, 1);
  char *weights;
  guint i, n;

  f->be = be;
  f->bufs = g_ptr_array_new ();
  weights = resolve (f, path, subfolder, what, error);
  if (!weights)
    goto fail;
  f->tf = sd_tensors_open (weights, error);
  if (!f->tf)
    {
      g_free (weights);
      goto fail;
    }
  n = sd_tensors_count (f->tf);
  for (i = 0; i < n; i++)
    {
      const char *name = sd_tensors_nth (f->tf, i)->name;
      gsize len = strlen (name), alen = strlen (anchor);
      /* Scaled fp8 files hold weights that need their scale tensors applied: loading them as
       * plain weights would silently give wrong outputs. */
      if (g_str_has_suffix (name, "scaled_fp8") || g_str_has_suffix (name, ".scale_weight")
          || g_str_has_suffix (name, ".weight_scale"))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                       "%s: tensor \"%s\" marks a scaled fp8 checkpoint, which is not supported; "
                       "use an fp16, bf16 or plain fp8 file", weights, name);
          g_free (weights);
          goto fail;
        }
      if (!f->prefix && len >= alen && g_str_has_suffix (name, anchor)
          && (len == alen || name[len - alen - 1] == '.'))
        f->prefix = g_strndup (name, len - alen);
    }
  if (!f->prefix)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: no tensor named *%s: not a %s", weights,
                   anchor, what);
      g_free (weights);
      goto fail;
    }
  g_free (weights);
  return f;
fail:
  sd_encoder_files_free (f);
  return NULL;
}

static void
kept_free (gpointer data)
{
  SdTensorInfo *t = data;
  g_free ((char *) t->name);
  g_free ((char *) t->file);
  g_free ((guint8 *) t->data);
  g_free (t);
}

gboolean
sd_encoder_files_detach (SdEncoderFiles *f, const SdTensorInfo **tables[], int n, GError **error)
{
  int i;

  if (!f->kept)
    f->kept = g_ptr_array_new_with_free_func (kept_free);
  for (i = 0; i < n; i++)
    {
      const SdTensorInfo *t = *tables[i];
      SdTensorInfo *copy = g_new (SdTensorInfo, 1);
      *copy = *t;
      copy->data = g_try_malloc (t->n_bytes ? t->n_bytes : 1);
      if (!copy->data)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                       "out of host memory for \"%s\" (%.1f MiB) of %s", t->name,
                       t->n_bytes / 1048576.0, t->file);
          g_free (copy);
          return FALSE;
        }
      memcpy ((guint8 *) copy->data, t->data, t->n_bytes);
      copy->name = g_strdup (t->name);
      copy->file = g_strdup (t->file);
      g_ptr_array_add (f->kept, copy);
      *tables[i] = copy;
    }
  g_clear_pointer (&f->tf, sd_tensors_close);
  return TRUE;
}

void
sd_encoder_files_free (SdEncoderFiles *f)
{
  guint i;
  if (!f)
    return;
  for (i = 0; i < f->bufs->len; i++)
    f->be->ops->release (f->be, g_ptr_array_index (f->bufs, i));
  g_ptr_array_free (f->bufs, TRUE);
  if (f->tf)
    sd_tensors_close (f->tf);
  if (f->kept)
    g_ptr_array_free (f->kept, TRUE);
  if (f->parser)
    g_object_unref (f->parser);
  g_free (f->config_path);
  g_free (f->prefix);
  g_clear_error (&f->error);
  g_free (f);
}

int
sd_encoder_shape_int (const SdTensorInfo *t, int axis)
{
  return t->shape[axis] <= G_MAXINT ? (int) t->shape[axis] : -1;
}

gboolean
sd_encoder_check_layers (SdEncoderFiles *f, int n, const char *anchor_format, GError **error)
{
  int i;
  for (i = 0; i < n; i++)
    {
      char *name = g_strdup_printf (anchor_format, i);
      gboolean found = sd_encoder_find (f, name) != NULL;
      if (!found)
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: %s declares %d layers, but tensor \"%s%s\" is missing",
                     sd_tensors_path (f->tf), f->config_path ? f->config_path : "the config", n, f->prefix, name);
      g_free (name);
      if (!found)
        return FALSE;
    }
  return TRUE;
}

const SdTensorInfo *
sd_encoder_find (SdEncoderFiles *f, const char *name)
{
  char *full = g_strconcat (f->prefix, name, NULL);
  const SdTensorInfo *t = sd_tensors_find (f->tf, full);
  g_free (full);
  return t;
}

SdBuf *
sd_encoder_load (SdEncoderFiles *f, const char *name, gint64 d0, gint64 d1)
{
  gint64 shape[2] = { d0, d1 };
  char *full;
  SdBuf *b;

  if (f->error)
    return NULL;
  full = g_strconcat (f->prefix, name, NULL);
  b = sd_tensors_load (f->tf, f->be, full, d1 < 0 ? 1 : 2, shape, &f->error);
  g_free (full);
  if (b)
    g_ptr_array_add (f->bufs, b);
  return b;
}

static gboolean
is_float (SdStDType d)
{
  return d == SD_ST_F32 || d == SD_ST_F16 || d == SD_ST_BF16 || d == SD_ST_F64 || d == SD_ST_F8_E4M3
         || d == SD_ST_F8_E5M2;
}

gboolean
sd_encoder_check_table (SdEncoderFiles *f, const SdTensorInfo *t, const char *name, gint64 rows,
                        gint64 cols)
{
  if (f->error)
    return FALSE;
  if (!t)
    g_set_error (&f->error, SD_ERROR, SD_ERROR_MODEL, "%s: missing tensor \"%s%s\"",
                 sd_tensors_path (f->tf), f->prefix, name);
  else if (!is_float (t->dtype))
    g_set_error (&f->error, SD_ERROR, SD_ERROR_MODEL,
                 "%s: tensor \"%s\": dtype %s is not a float type", t->file, t->name,
                 sd_st_dtype_name (t->dtype));
  else if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
    {
      GString *has = g_string_new ("[");
      int i;
      for (i = 0; i < t->ndim; i++)
        g_string_append_printf (has, "%s%" G_GINT64_FORMAT, i ? ", " : "", t->shape[i]);
      g_string_append_c (has, ']');
      g_set_error (&f->error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: tensor \"%s\" has shape %s, expected [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                   t->file, t->name, has->str, rows, cols);
      g_string_free (has, TRUE);
    }
  return f->error == NULL;
}

float *
sd_encoder_gather_rows (const SdTensorInfo *table, const int *ids, int n, GError **error)
{
  const gsize cols = table->shape[1];
  const gsize elem = table->n_bytes / table->n_elements;
  float *out = g_new (float, (gsize) n * cols);
  int i;

  for (i = 0; i < n; i++)
    {
      SdTensorInfo row = *table;
      float *r;
      if (ids[i] < 0 || ids[i] >= table->shape[0])
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "token id %d at position %d is outside the vocabulary of %" G_GINT64_FORMAT " (%s)",
                       ids[i], i, table->shape[0], table->name);
          g_free (out);
          return NULL;
        }
      row.ndim = 1;
      row.shape[0] = cols;
      row.n_elements = cols;
      row.n_bytes = cols * elem;
      row.data = table->data + (gsize) ids[i] * cols * elem;
      r = sd_tensor_to_f32 (&row, error);
      if (!r)
        {
          g_free (out);
          return NULL;
        }
      memcpy (out + (gsize) i * cols, r, cols * sizeof (float));
      g_free (r);
    }
  return out;
}

int *
sd_encoder_input_ids (SdTensorFile *inputs, int *batch, int *n, GError **error)
{
  const SdTensorInfo *t = sd_tensors_find (inputs, "input_ids");
  const char *file = sd_tensors_path (inputs);
  gsize i, count;
  int *ids;
  float *f = NULL;

  if (!t)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: no tensor input_ids", file);
      return NULL;
    }
  if (t->ndim != 1 && t->ndim != 2)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "%s: input_ids has %d dimensions, expected [n] or [batch, n]", file, t->ndim);
      return NULL;
    }
  *batch = t->ndim == 2 ? (int) t->shape[0] : 1;
  *n = (int) t->shape[t->ndim - 1];
  count = t->n_elements;
  if (count == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "%s: input_ids is empty", file);
      return NULL;
    }
  if (t->dtype != SD_ST_I64 && t->dtype != SD_ST_I32 && !is_float (t->dtype))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "%s: input_ids has dtype %s; use F32, I64 or I32", file, sd_st_dtype_name (t->dtype));
      return NULL;
    }
  if (is_float (t->dtype) && !(f = sd_tensor_to_f32 (t, error)))
    return NULL;
  ids = g_new (int, count);
  for (i = 0; i < count; i++)
    {
      double v;
      if (t->dtype == SD_ST_I64)
        {
          gint64 x;
          memcpy (&x, t->data + i * 8, 8);
          v = (double) GINT64_FROM_LE (x);
        }
      else if (t->dtype == SD_ST_I32)
        {
          gint32 x;
          memcpy (&x, t->data + i * 4, 4);
          v = (double) GINT32_FROM_LE (x);
        }
      else
        v = f[i];
      if (v != floor (v) || v < 0 || v > G_MAXINT)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "%s: input_ids[%" G_GSIZE_FORMAT "] = %g is not a token id", file, i, v);
          g_free (ids);
          g_free (f);
          return NULL;
        }
      ids[i] = (int) v;
    }
  g_free (f);
  return ids;
}

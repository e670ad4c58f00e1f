/* test_clip_model.c: the CLIP text encoder against transformers' CLIPTextModel (fixtures from
 * tools/reference/make_text_encoder_fixtures.py): both layouts, both pooling rules, damaged
 * model folders, and the run-component entry. */
#include <string.h>

#include <glib/gstdio.h>

#include "clip_model.h"
#include "safetensors.h"
#include "scaledit.h"
#include "testutil.h"

#define TOL 1e-4

static char *tmp_dir;
static SdTensorFile *ref;

static const SdTensorInfo *
ref_tensor (const char *name)
{
  const SdTensorInfo *t = sd_tensors_find (ref, name);
  if (!t)
    g_error ("reference.safetensors has no %s", name);
  return t;
}

static float *
ref_f32 (const char *name, gsize *n)
{
  GError *error = NULL;
  const SdTensorInfo *t = ref_tensor (name);
  float *v = sd_tensor_to_f32 (t, &error);
  g_assert_no_error (error);
  if (n)
    *n = t->n_elements;
  return v;
}

static int *
ref_ids (const char *name, int *n)
{
  const SdTensorInfo *t = ref_tensor (name);
  int *ids = g_new (int, t->n_elements);
  gsize i;
  g_assert_cmpint (t->dtype, ==, SD_ST_I64);
  for (i = 0; i < t->n_elements; i++)
    {
      gint64 v;
      memcpy (&v, t->data + 8 * i, 8);
      ids[i] = (int) v;
    }
  *n = (int) t->n_elements;
  return ids;
}

static char *
data_path (const char *name)
{
  char *rel = g_build_filename ("text_encoders", name, NULL);
  char *p = sd_test_data_path (rel);
  g_free (rel);
  return p;
}

/* Encodes sequence `seq` with the model at `path` and compares with reference `tag`. */
static void
check_encode (const char *path, const char *seq, const char *tag)
{
  GError *error = NULL;
  SdBackend *be = sd_backend_cpu_new ();
  SdClipModel *m = sd_clip_load (be, path, &error);
  char *name;
  int *ids, n;
  float *hidden = NULL, *pooled = NULL, *want_hidden, *want_pooled;
  gsize n_hidden, n_pooled;
  double err_h, err_p;

  g_assert_no_error (error);
  g_assert_cmpint (sd_clip_config (m)->hidden_size, ==, 64);
  name = g_strdup_printf ("clip.%s.input_ids", seq);
  ids = ref_ids (name, &n);
  g_free (name);
  g_assert_true (sd_clip_encode (m, ids, n, &hidden, &pooled, &error));
  g_assert_no_error (error);

  name = g_strdup_printf ("%s.last_hidden_state", tag);
  want_hidden = ref_f32 (name, &n_hidden);
  g_free (name);
  name = g_strdup_printf ("%s.pooler_output", tag);
  want_pooled = ref_f32 (name, &n_pooled);
  g_free (name);
  g_assert_cmpuint (n_hidden, ==, (gsize) n * 64);
  err_h = sd_rel_error (hidden, want_hidden, n_hidden);
  err_p = sd_rel_error (pooled, want_pooled, n_pooled);
  g_test_message ("%s: hidden rel error %.3g, pooled %.3g", tag, err_h, err_p);
  g_assert_cmpfloat (err_h, <=, TOL);
  g_assert_cmpfloat (err_p, <=, TOL);

  sd_clip_free (m);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
  g_free (ids);
  g_free (hidden);
  g_free (pooled);
  g_free (want_hidden);
  g_free (want_pooled);
}

static void
test_diffusers_folder (void)
{
  char *root = data_path ("diffusers");
  char *folder = data_path ("diffusers/text_encoder");
  check_encode (root, "a", "clip.a");   /* the model folder: text_encoder/ is found */
  check_encode (folder, "a", "clip.a"); /* the text_encoder/ folder itself */
  check_encode (folder, "b", "clip.b"); /* a short sequence */
  g_free (root);
  g_free (folder);
}

static void
test_single_file (void)
{
  char *file = data_path ("clip_l.safetensors");
  GError *error = NULL;
  SdBackend *be = sd_backend_cpu_new ();
  SdClipModel *m = sd_clip_load (be, file, &error);
  const SdClipConfig *c;

  g_assert_no_error (error);
  c = sd_clip_config (m);
  g_assert_cmpint (c->vocab_size, ==, 1000);
  g_assert_cmpint (c->num_layers, ==, 2);
  g_assert_cmpint (c->intermediate_size, ==, 128);
  g_assert_cmpint (c->max_positions, ==, 77);
  g_assert_cmpint (c->num_heads, ==, 1);
  sd_clip_free (m);
  sd_backend_close (be);
  check_encode (file, "a", "clip_single.a");
  g_free (file);
}

static void
copy_file (const char *src, const char *dst)
{
  GError *error = NULL;
  char *bytes;
  gsize len;
  g_file_get_contents (src, &bytes, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (dst, bytes, (gssize) len, &error);
  g_assert_no_error (error);
  g_free (bytes);
}

/* A text_encoder/ folder in tmp_dir/sub with the given config and the fixture's tensors (as f32),
 * without tensor `drop`, with tensor `transpose` given its transposed shape, and with a
 * one-element tensor named `extra` added. */
static char *
make_folder (const char *sub, const char *config, const char *drop, const char *transpose,
             const char *extra)
{
  static const float one = 1.0f;
  GError *error = NULL;
  char *dir = g_build_filename (tmp_dir, sub, NULL);
  char *src = data_path ("diffusers/text_encoder/model.safetensors");
  char *dst = g_build_filename (dir, "model.safetensors", NULL);
  char *cfg_dst = g_build_filename (dir, "config.json", NULL);
  SdTensorFile *tf;
  GArray *out = g_array_new (FALSE, TRUE, sizeof (SdTensorOut));
  guint i;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  copy_file (config, cfg_dst);
  tf = sd_tensors_open (src, &error);
  g_assert_no_error (error);
  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      SdTensorOut o = { 0 };
      int k;
      if (drop && g_str_equal (t->name, drop))
        continue;
      o.name = t->name;
      o.ndim = t->ndim;
      for (k = 0; k < t->ndim; k++)
        o.shape[k] = t->shape[transpose && g_str_equal (t->name, transpose) ? t->ndim - 1 - k : k];
      o.data = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      g_array_append_val (out, o);
    }
  if (extra)
    {
      SdTensorOut o = { extra, 1, { 1 }, g_memdup2 (&one, sizeof one) };
      g_array_append_val (out, o);
    }
  g_assert_true (sd_tensors_write (dst, (SdTensorOut *) out->data, out->len, &error));
  g_assert_no_error (error);
  for (i = 0; i < out->len; i++)
    g_free ((float *) g_array_index (out, SdTensorOut, i).data);
  g_array_free (out, TRUE);
  sd_tensors_close (tf);
  g_free (src);
  g_free (dst);
  g_free (cfg_dst);
  return dir;
}

static void
test_new_style_eos (void)
{
  char *config = data_path ("clip_config_eos997.json");
  char *dir = make_folder ("eos997", config, NULL, NULL, NULL);
  check_encode (dir, "c", "clip.c");
  g_free (dir);
  g_free (config);
}

/* Loading a folder with a damaged tensor fails naming the weights file and the tensor. */
static void
expect_load_error (const char *sub, const char *drop, const char *transpose, const char *tensor)
{
  GError *error = NULL;
  char *config = data_path ("diffusers/text_encoder/config.json");
  char *dir = make_folder (sub, config, drop, transpose, NULL);
  char *file = g_build_filename (dir, "model.safetensors", NULL);
  SdBackend *be = sd_backend_cpu_new ();
  SdClipModel *m = sd_clip_load (be, dir, &error);

  g_assert_null (m);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, file));
  g_assert_nonnull (strstr (error->message, tensor));
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_error_free (error);
  sd_backend_close (be);
  g_free (file);
  g_free (dir);
  g_free (config);
}

static void
test_missing_tensor (void)
{
  expect_load_error ("missing", "text_model.encoder.layers.1.mlp.fc2.weight", NULL,
                     "text_model.encoder.layers.1.mlp.fc2.weight");
  expect_load_error ("missing-pos", "text_model.embeddings.position_embedding.weight", NULL,
                     "text_model.embeddings.position_embedding.weight");
}

static void
test_wrong_shape (void)
{
  expect_load_error ("shape", NULL, "text_model.encoder.layers.0.mlp.fc1.weight",
                     "text_model.encoder.layers.0.mlp.fc1.weight");
  expect_load_error ("shape-tok", NULL, "text_model.embeddings.token_embedding.weight",
                     "text_model.embeddings.token_embedding.weight");
}

/* A scaled fp8 checkpoint (weights that need their scale tensors) is refused, not misread. */
static void
test_scaled_fp8 (void)
{
  GError *error = NULL;
  char *config = data_path ("diffusers/text_encoder/config.json");
  char *dir = make_folder ("scaled", config, NULL, NULL,
                           "text_model.encoder.layers.0.self_attn.q_proj.scale_weight");
  SdBackend *be = sd_backend_cpu_new ();

  g_assert_null (sd_clip_load (be, dir, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "q_proj.scale_weight"));
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_error_free (error);
  sd_backend_close (be);
  g_free (dir);
  g_free (config);
}

static void
test_bad_ids (void)
{
  GError *error = NULL;
  char *file = data_path ("clip_l.safetensors");
  SdBackend *be = sd_backend_cpu_new ();
  SdClipModel *m = sd_clip_load (be, file, &error);
  int ids[3] = { 1, 1000, 2 }, many[78] = { 0 };
  float *hidden = NULL, *pooled = NULL;

  g_assert_no_error (error);
  g_assert_false (sd_clip_encode (m, ids, 3, &hidden, &pooled, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sd_clip_encode (m, many, 78, &hidden, &pooled, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (hidden);
  sd_clip_free (m);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
  g_free (file);
}

/* `scaledit run-component clip` on f32 input ids [1, 77]. */
static void
test_run_component (void)
{
  GError *error = NULL;
  char *model = data_path ("diffusers");
  char *in = g_build_filename (tmp_dir, "clip_in.safetensors", NULL);
  char *out = g_build_filename (tmp_dir, "clip_out.safetensors", NULL);
  int *ids, n, i;
  float *fids, *want_h, *want_p, *got_h, *got_p;
  gsize nh, np;
  SdTensorOut t = { "input_ids", 2, { 1, 0 }, NULL };
  SdTensorFile *res;
  const SdTensorInfo *h, *p;

  ids = ref_ids ("clip.a.input_ids", &n);
  fids = g_new (float, n);
  for (i = 0; i < n; i++)
    fids[i] = (float) ids[i];
  t.shape[1] = n;
  t.data = fids;
  g_assert_true (sd_tensors_write (in, &t, 1, &error));
  g_assert_true (sd_run_component ("clip", model, "cpu", in, out, &error));
  g_assert_no_error (error);
  res = sd_tensors_open (out, &error);
  g_assert_no_error (error);
  h = sd_tensors_find (res, "last_hidden_state");
  p = sd_tensors_find (res, "pooler_output");
  g_assert_nonnull (h);
  g_assert_nonnull (p);
  g_assert_cmpint (h->ndim, ==, 3);
  g_assert_cmpint (h->shape[1], ==, n);
  g_assert_cmpint (p->ndim, ==, 2);
  want_h = ref_f32 ("clip.a.last_hidden_state", &nh);
  want_p = ref_f32 ("clip.a.pooler_output", &np);
  got_h = sd_tensor_to_f32 (h, &error);
  got_p = sd_tensor_to_f32 (p, &error);
  g_assert_cmpuint (h->n_elements, ==, nh);
  g_assert_cmpuint (p->n_elements, ==, np);
  g_assert_cmpfloat (sd_rel_error (got_h, want_h, nh), <=, TOL);
  g_assert_cmpfloat (sd_rel_error (got_p, want_p, np), <=, TOL);
  sd_tensors_close (res);
  g_free (got_h);
  g_free (got_p);
  g_free (want_h);
  g_free (want_p);
  g_free (fids);
  g_free (ids);
  g_free (in);
  g_free (out);
  g_free (model);
}

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      char *p = g_build_filename (path, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR))
        remove_tree (p);
      else
        g_unlink (p);
      g_free (p);
    }
  if (d)
    g_dir_close (d);
  g_rmdir (path);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  char *ref_path;
  int rc;

  g_test_init (&argc, &argv, NULL);
  ref_path = data_path ("reference.safetensors");
  ref = sd_tensors_open (ref_path, &error);
  g_assert_no_error (error);
  tmp_dir = g_dir_make_tmp ("scaledit-clip-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/clip/diffusers-folder", test_diffusers_folder);
  g_test_add_func ("/clip/single-file", test_single_file);
  g_test_add_func ("/clip/new-style-eos", test_new_style_eos);
  g_test_add_func ("/clip/missing-tensor", test_missing_tensor);
  g_test_add_func ("/clip/wrong-shape", test_wrong_shape);
  g_test_add_func ("/clip/scaled-fp8", test_scaled_fp8);
  g_test_add_func ("/clip/bad-ids", test_bad_ids);
  g_test_add_func ("/clip/run-component", test_run_component);
  rc = g_test_run ();

  remove_tree (tmp_dir);
  g_free (tmp_dir);
  sd_tensors_close (ref);
  g_free (ref_path);
  return rc;
}

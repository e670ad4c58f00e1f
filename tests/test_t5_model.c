/* test_t5_model.c: the T5 encoder against transformers' T5EncoderModel (fixtures from
 * tools/reference/make_text_encoder_fixtures.py): relative position buckets, both layouts, a
 * key-name variant, damaged model folders, and the run-component entry with i64 ids. */
#include <string.h>

#include <glib/gstdio.h>

#include "safetensors.h"
#include "scaledit.h"
#include "t5_model.h"
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

/* Every relative position of a 512-token prompt lands in transformers' bucket. */
static void
test_buckets (void)
{
  int n, i;
  int *want = ref_ids ("t5.buckets_32_128", &n);
  g_assert_cmpint (n, ==, 1023);
  for (i = 0; i < n; i++)
    if (sd_t5_relative_bucket (i - 511, 32, 128) != want[i])
      g_error ("delta %d: bucket %d, transformers has %d", i - 511,
               sd_t5_relative_bucket (i - 511, 32, 128), want[i]);
  g_free (want);
}

/* Encodes every reference sequence with the model at `path`. */
static void
check_model (const char *path)
{
  static const char *seqs[] = { "a", "b", "c" };
  GError *error = NULL;
  SdBackend *be = sd_backend_cpu_new ();
  SdT5Model *m = sd_t5_load (be, path, &error);
  const SdT5Config *c;
  gsize s;

  g_assert_no_error (error);
  c = sd_t5_config (m);
  g_assert_cmpint (c->d_model, ==, 64);
  g_assert_cmpint (c->d_kv, ==, 16);
  g_assert_cmpint (c->num_heads, ==, 4);
  g_assert_cmpint (c->num_layers, ==, 2);
  g_assert_cmpint (c->d_ff, ==, 128);
  g_assert_cmpint (c->num_buckets, ==, 32);
  g_assert_cmpint (c->max_distance, ==, 128);
  for (s = 0; s < G_N_ELEMENTS (seqs); s++)
    {
      char *name = g_strdup_printf ("t5.%s.input_ids", seqs[s]);
      int n, *ids = ref_ids (name, &n);
      float *hidden = NULL, *want;
      gsize nw;
      double err;

      g_free (name);
      g_assert_true (sd_t5_encode (m, ids, n, &hidden, &error));
      g_assert_no_error (error);
      name = g_strdup_printf ("t5.%s.last_hidden_state", seqs[s]);
      want = ref_f32 (name, &nw);
      g_assert_cmpuint (nw, ==, (gsize) n * 64);
      err = sd_rel_error (hidden, want, nw);
      g_test_message ("%s (%d tokens): rel error %.3g", name, n, err);
      g_assert_cmpfloat (err, <=, TOL);
      g_free (name);
      g_free (want);
      g_free (hidden);
      g_free (ids);
    }
  sd_t5_free (m);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
}

static void
test_diffusers_folder (void)
{
  char *root = data_path ("diffusers");
  char *folder = data_path ("diffusers/text_encoder_2");
  check_model (root);
  check_model (folder);
  g_free (root);
  g_free (folder);
}

static void
test_single_file (void)
{
  char *file = data_path ("t5xxl_tiny.safetensors");
  check_model (file);
  g_free (file);
}

/* The tensors of `src` as f32 in `dst`, without `drop`, with `transpose` transposed, and with
 * `strip` removed from the front of every name (and shared.weight renamed embed_tokens.weight). */
static void
rewrite (const char *src, const char *dst, const char *drop, const char *transpose, const char *strip)
{
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_open (src, &error);
  GArray *out = g_array_new (FALSE, TRUE, sizeof (SdTensorOut));
  guint i;

  g_assert_no_error (error);
  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      SdTensorOut o = { 0 };
      int k;
      if (drop && g_str_equal (t->name, drop))
        continue;
      if (strip && g_str_has_prefix (t->name, strip))
        o.name = g_strdup (t->name + strlen (strip));
      else if (strip && g_str_equal (t->name, "shared.weight"))
        o.name = g_strdup ("embed_tokens.weight");
      else
        o.name = g_strdup (t->name);
      o.ndim = t->ndim;
      for (k = 0; k < t->ndim; k++)
        o.shape[k] = t->shape[transpose && g_str_equal (t->name, transpose) ? t->ndim - 1 - k : k];
      o.data = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      g_array_append_val (out, o);
    }
  g_assert_true (sd_tensors_write (dst, (SdTensorOut *) out->data, out->len, &error));
  g_assert_no_error (error);
  for (i = 0; i < out->len; i++)
    {
      g_free ((char *) g_array_index (out, SdTensorOut, i).name);
      g_free ((float *) g_array_index (out, SdTensorOut, i).data);
    }
  g_array_free (out, TRUE);
  sd_tensors_close (tf);
}

/* A single file whose keys lack the "encoder." prefix and whose embedding is embed_tokens. */
static void
test_key_variant (void)
{
  char *src = data_path ("t5xxl_tiny.safetensors");
  char *dst = g_build_filename (tmp_dir, "t5_noprefix.safetensors", NULL);
  rewrite (src, dst, NULL, NULL, "encoder.");
  check_model (dst);
  g_free (src);
  g_free (dst);
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

/* The tensors of `tf` whose names do (second) or do not contain "block.1." as f32 in `dst`;
 * their names are added to `map` as index.json weight_map entries pointing to `shard`. */
static void
write_shard (SdTensorFile *tf, const char *dst, const char *shard, gboolean second, GString *map)
{
  GError *error = NULL;
  GArray *out = g_array_new (FALSE, TRUE, sizeof (SdTensorOut));
  guint i;

  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      SdTensorOut o = { 0 };
      int k;
      if ((strstr (t->name, "block.1.") != NULL) != second)
        continue;
      o.name = t->name;
      o.ndim = t->ndim;
      for (k = 0; k < t->ndim; k++)
        o.shape[k] = t->shape[k];
      o.data = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      g_array_append_val (out, o);
      g_string_append_printf (map, "%s\"%s\": \"%s\"", map->len > 1 ? ", " : "", t->name, shard);
    }
  g_assert_true (sd_tensors_write (dst, (SdTensorOut *) out->data, out->len, &error));
  g_assert_no_error (error);
  for (i = 0; i < out->len; i++)
    g_free ((float *) g_array_index (out, SdTensorOut, i).data);
  g_array_free (out, TRUE);
}

/* A text_encoder_2/ folder sharded as FLUX.1's is: two files and model.safetensors.index.json. */
static void
test_sharded_folder (void)
{
  static const char *shards[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
  GError *error = NULL;
  char *src = data_path ("diffusers/text_encoder_2/model.safetensors");
  char *config = data_path ("diffusers/text_encoder_2/config.json");
  char *dir = g_build_filename (tmp_dir, "sharded", "text_encoder_2", NULL);
  char *cfg_dst = g_build_filename (dir, "config.json", NULL);
  char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  char *text, *root = g_build_filename (tmp_dir, "sharded", NULL);
  GString *map = g_string_new ("{");
  SdTensorFile *tf = sd_tensors_open (src, &error);
  int i;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  copy_file (config, cfg_dst);
  for (i = 0; i < 2; i++)
    {
      char *dst = g_build_filename (dir, shards[i], NULL);
      write_shard (tf, dst, shards[i], i == 1, map);
      g_free (dst);
    }
  g_string_append_c (map, '}');
  text = g_strdup_printf ("{\"metadata\": {}, \"weight_map\": %s}", map->str);
  g_file_set_contents (index, text, -1, &error);
  g_assert_no_error (error);
  check_model (root);
  sd_tensors_close (tf);
  g_string_free (map, TRUE);
  g_free (text);
  g_free (root);
  g_free (src);
  g_free (config);
  g_free (dir);
  g_free (cfg_dst);
  g_free (index);
}

/* Loading a damaged text_encoder_2/ folder fails naming the weights file and the tensor. */
static void
expect_load_error (const char *sub, const char *drop, const char *transpose)
{
  GError *error = NULL;
  char *dir = g_build_filename (tmp_dir, sub, NULL);
  char *src = data_path ("diffusers/text_encoder_2/model.safetensors");
  char *config = data_path ("diffusers/text_encoder_2/config.json");
  char *file = g_build_filename (dir, "model.safetensors", NULL);
  char *cfg_dst = g_build_filename (dir, "config.json", NULL);
  SdBackend *be = sd_backend_cpu_new ();
  SdT5Model *m;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  copy_file (config, cfg_dst);
  rewrite (src, file, drop, transpose, NULL);
  m = sd_t5_load (be, dir, &error);
  g_assert_null (m);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, file));
  g_assert_nonnull (strstr (error->message, drop ? drop : transpose));
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_error_free (error);
  sd_backend_close (be);
  g_free (dir);
  g_free (src);
  g_free (config);
  g_free (file);
  g_free (cfg_dst);
}

static void
test_missing_tensor (void)
{
  expect_load_error ("missing", "encoder.block.1.layer.1.DenseReluDense.wo.weight", NULL);
  expect_load_error ("missing-shared", "shared.weight", NULL);
  expect_load_error ("missing-norm", "encoder.final_layer_norm.weight", NULL);
}

static void
test_wrong_shape (void)
{
  expect_load_error ("shape", NULL, "encoder.block.0.layer.1.DenseReluDense.wi_1.weight");
  expect_load_error ("shape-bias", NULL,
                     "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
}

/* `scaledit run-component t5` on i64 input ids [1, 9]. */
static void
test_run_component (void)
{
  GError *error = NULL;
  char *model = data_path ("diffusers");
  char *in = data_path ("t5_input_ids_i64.safetensors");
  char *out = g_build_filename (tmp_dir, "t5_out.safetensors", NULL);
  SdTensorFile *res;
  const SdTensorInfo *h;
  float *got, *want;
  gsize nw;

  g_assert_true (sd_run_component ("t5", model, "cpu", in, out, &error));
  g_assert_no_error (error);
  res = sd_tensors_open (out, &error);
  g_assert_no_error (error);
  h = sd_tensors_find (res, "last_hidden_state");
  g_assert_nonnull (h);
  g_assert_cmpint (h->ndim, ==, 3);
  g_assert_cmpint (h->shape[0], ==, 1);
  g_assert_cmpint (h->shape[1], ==, 9);
  g_assert_cmpint (h->shape[2], ==, 64);
  want = ref_f32 ("t5.b.last_hidden_state", &nw);
  got = sd_tensor_to_f32 (h, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (h->n_elements, ==, nw);
  g_assert_cmpfloat (sd_rel_error (got, want, nw), <=, TOL);
  sd_tensors_close (res);
  g_free (got);
  g_free (want);
  g_free (model);
  g_free (in);
  g_free (out);
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
  tmp_dir = g_dir_make_tmp ("scaledit-t5-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/t5/buckets", test_buckets);
  g_test_add_func ("/t5/diffusers-folder", test_diffusers_folder);
  g_test_add_func ("/t5/sharded-folder", test_sharded_folder);
  g_test_add_func ("/t5/single-file", test_single_file);
  g_test_add_func ("/t5/key-variant", test_key_variant);
  g_test_add_func ("/t5/missing-tensor", test_missing_tensor);
  g_test_add_func ("/t5/wrong-shape", test_wrong_shape);
  g_test_add_func ("/t5/run-component", test_run_component);
  rc = g_test_run ();

  remove_tree (tmp_dir);
  g_free (tmp_dir);
  sd_tensors_close (ref);
  g_free (ref_path);
  return rc;
}

/* test_safetensors.c: the safetensors reader and writer against files made by the Python
 * safetensors package and huggingface_hub (tools/reference/make_safetensors_fixture.py), a
 * write/read round trip, and malformed files that must fail with a GError naming the file. */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "safetensors.h"
#include "scaledit.h"
#include "testutil.h"

static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* Same float, NaN matching any NaN, zeros matching in sign. */
static gboolean
same_float (float a, float b)
{
  if (isnan (a) || isnan (b))
    return isnan (a) && isnan (b);
  return a == b && signbit (a) == signbit (b);
}

static void
assert_same_floats (const float *got, const float *want, gsize n)
{
  gsize i;
  for (i = 0; i < n; i++)
    if (!same_float (got[i], want[i]))
      g_error ("element %" G_GSIZE_FORMAT ": got %.9g, expected %.9g", i, got[i], want[i]);
}

static void
assert_message_has (const GError *error, const char *part)
{
  if (part && !strstr (error->message, part))
    g_error ("error \"%s\" does not contain \"%s\"", error->message, part);
}

/* A file image: u64 little-endian header length, the header, data_len bytes of data. */
static GByteArray *
make_file (const char *header, gsize data_len)
{
  GByteArray *b = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE ((guint64) strlen (header));
  gsize i;
  g_byte_array_append (b, (const guint8 *) &len, 8);
  g_byte_array_append (b, (const guint8 *) header, strlen (header));
  for (i = 0; i < data_len; i++)
    {
      guint8 v = (guint8) i;
      g_byte_array_append (b, &v, 1);
    }
  return b;
}

static void
write_bytes (const char *path, const guint8 *bytes, gsize len)
{
  GError *error = NULL;
  g_file_set_contents (path, (const char *) bytes, (gssize) len, &error);
  g_assert_no_error (error);
}

/* Both sd_tensors_open on a file of these bytes and sd_tensors_parse fail with SD_ERROR_FORMAT,
 * naming the file, the tensor (when given) and containing `phrase`. */
static void
expect_bad_bytes (const guint8 *bytes, gsize len, const char *tensor, const char *phrase)
{
  char *path = tmp_path ("bad.safetensors");
  char *quoted = tensor ? g_strdup_printf ("\"%s\"", tensor) : NULL;
  GError *error = NULL;
  SdTensorFile *tf;

  write_bytes (path, bytes, len);
  tf = sd_tensors_open (path, &error);
  g_assert_null (tf);
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_message_has (error, quoted);
  assert_message_has (error, phrase);
  g_clear_error (&error);

  tf = sd_tensors_parse ("in-memory", bytes, len, &error);
  g_assert_null (tf);
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  g_assert_true (g_str_has_prefix (error->message, "in-memory: "));
  assert_message_has (error, quoted);
  assert_message_has (error, phrase);
  g_clear_error (&error);
  g_unlink (path);
  g_free (path);
  g_free (quoted);
}

static void
expect_bad_header (const char *header, gsize data_len, const char *tensor, const char *phrase)
{
  GByteArray *b = make_file (header, data_len);
  expect_bad_bytes (b->data, b->len, tensor, phrase);
  g_byte_array_unref (b);
}

static void
test_round_trip (void)
{
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *a = sd_test_random (rng, 2 * 3 * 5, 3.0f);
  float *b = sd_test_random (rng, 7, 1.0f);
  float scalar = -1.25f;
  SdTensorOut out[] = {
    { "z.cube", 3, { 2, 3, 5 }, a },
    { "a.vector \"quoted\"", 1, { 7 }, b },
    { "m.scalar", 0, { 0 }, &scalar },
    { "e.empty", 2, { 0, 4 }, NULL },
  };
  SdTensorOut dup[] = { { "x", 1, { 7 }, b }, { "x", 1, { 7 }, b } };
  char *path = tmp_path ("round.safetensors");
  const char *sorted[] = { "a.vector \"quoted\"", "e.empty", "m.scalar", "z.cube" };
  const SdTensorOut *by_sorted[] = { &out[1], &out[3], &out[2], &out[0] };
  GError *error = NULL;
  SdTensorFile *tf;
  char *contents;
  gsize len;
  guint64 header_len;
  guint i;
  GDir *dir;

  g_assert_true (sd_tensors_write (path, out, G_N_ELEMENTS (out), &error));
  g_assert_no_error (error);

  /* the header is padded with spaces to a multiple of 8 bytes, then the data follows */
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  memcpy (&header_len, contents, 8);
  header_len = GUINT64_FROM_LE (header_len);
  g_assert_cmpuint (header_len % 8, ==, 0);
  g_assert_cmpuint (len, ==, 8 + header_len + (30 + 7 + 1) * 4);
  g_assert_cmpint (contents[8], ==, '{');
  g_free (contents);

  tf = sd_tensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_tensors_path (tf), ==, path);
  g_assert_cmpuint (sd_tensors_count (tf), ==, 4);
  for (i = 0; i < 4; i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      const SdTensorOut *o = by_sorted[i];
      float *f;
      int d;

      g_assert_cmpstr (t->name, ==, sorted[i]);
      g_assert_true (sd_tensors_find (tf, sorted[i]) == t);
      g_assert_cmpint (t->dtype, ==, SD_ST_F32);
      g_assert_cmpint (t->ndim, ==, o->ndim);
      for (d = 0; d < o->ndim; d++)
        g_assert_cmpint (t->shape[d], ==, o->shape[d]);
      g_assert_cmpuint (t->n_bytes, ==, t->n_elements * 4);
      g_assert_cmpstr (t->file, ==, path);
      f = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      if (t->n_elements)
        g_assert_cmpmem (f, t->n_elements * 4, o->data, t->n_elements * 4);
      g_free (f);
    }
  g_assert_null (sd_tensors_find (tf, "absent"));
  g_assert_null (sd_tensors_metadata (tf, "format"));
  sd_tensors_close (tf);

  /* a refused write leaves the existing file as it was and no temporary file behind */
  g_assert_false (sd_tensors_write (path, dup, 2, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  assert_message_has (error, "\"x\"");
  g_clear_error (&error);
  tf = sd_tensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sd_tensors_count (tf), ==, 4);
  sd_tensors_close (tf);
  dir = g_dir_open (tmp_dir, 0, NULL);
  for (i = 0; g_dir_read_name (dir); i++)
    ;
  g_dir_close (dir);
  g_assert_cmpuint (i, ==, 1);

  /* writing into a folder that does not exist fails naming the file */
  {
    char *bad = tmp_path ("no-such-dir/out.safetensors");
    g_assert_false (sd_tensors_write (bad, out, 1, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_IO);
    assert_message_has (error, bad);
    g_clear_error (&error);
    g_free (bad);
  }

  g_unlink (path);
  g_free (path);
  g_free (a);
  g_free (b);
  g_rand_free (rng);
}

static SdTensorFile *
open_reference (void)
{
  char *path = sd_test_data_path ("safetensors/reference.safetensors");
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_open (path, &error);
  g_assert_no_error (error);
  g_free (path);
  return tf;
}

/* Every float tensor `x` of the fixture equals torch's f32 conversion stored as `ref.x`. */
static void
test_reference (void)
{
  SdTensorFile *tf = open_reference ();
  const char *converted[] = { "f16.patterns", "bf16.patterns", "f64.values", "f8_e4m3.all",
                              "f8_e5m2.all" };
  const SdStDType dtypes[] = { SD_ST_F16, SD_ST_BF16, SD_ST_F64, SD_ST_F8_E4M3, SD_ST_F8_E5M2 };
  const SdTensorInfo *t;
  GError *error = NULL;
  float *f;
  guint i;

  g_assert_cmpstr (sd_tensors_metadata (tf, "format"), ==, "pt");
  g_assert_null (sd_tensors_metadata (tf, "absent"));
  g_assert_cmpuint (sd_tensors_count (tf), ==, 9 + G_N_ELEMENTS (converted));
  for (i = 1; i < sd_tensors_count (tf); i++)
    g_assert_cmpint (strcmp (sd_tensors_nth (tf, i - 1)->name, sd_tensors_nth (tf, i)->name), <, 0);

  for (i = 0; i < G_N_ELEMENTS (converted); i++)
    {
      char *ref_name = g_strconcat ("ref.", converted[i], NULL);
      const SdTensorInfo *ref = sd_tensors_find (tf, ref_name);
      float *want;

      t = sd_tensors_find (tf, converted[i]);
      g_assert_nonnull (t);
      g_assert_nonnull (ref);
      g_assert_cmpint (t->dtype, ==, dtypes[i]);
      g_assert_cmpint (ref->dtype, ==, SD_ST_F32);
      g_assert_cmpuint (t->n_elements, ==, ref->n_elements);
      f = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      want = sd_tensor_to_f32 (ref, &error);
      g_assert_no_error (error);
      assert_same_floats (f, want, t->n_elements);
      g_free (f);
      g_free (want);
      g_free (ref_name);
    }

  t = sd_tensors_find (tf, "f32.matrix");
  g_assert_cmpint (t->ndim, ==, 2);
  g_assert_cmpint (t->shape[0], ==, 3);
  g_assert_cmpint (t->shape[1], ==, 4);
  t = sd_tensors_find (tf, "f32.scalar");
  g_assert_cmpint (t->ndim, ==, 0);
  f = sd_tensor_to_f32 (t, &error);
  g_assert_cmpfloat (f[0], ==, 2.5f);
  g_free (f);
  t = sd_tensors_find (tf, "f32.empty");
  g_assert_cmpuint (t->n_elements, ==, 0);

  t = sd_tensors_find (tf, "i64.ids");
  g_assert_cmpint (t->dtype, ==, SD_ST_I64);
  g_assert_cmpstr (sd_st_dtype_name (t->dtype), ==, "I64");
  g_assert_null (sd_tensor_to_f32 (t, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  assert_message_has (error, "\"i64.ids\"");
  assert_message_has (error, "reference.safetensors");
  g_clear_error (&error);
  sd_tensors_close (tf);
}

static void
check_loaded (SdBackend *be, SdTensorFile *tf, const char *name, const char *ref_name, int ndim,
              const gint64 *shape)
{
  const SdTensorInfo *ref = sd_tensors_find (tf, ref_name);
  GError *error = NULL;
  SdBuf *buf = sd_tensors_load (tf, be, name, ndim, shape, &error);
  float *got, *want;

  g_assert_no_error (error);
  got = sd_buf_to_host (be, buf, 0, ref->n_elements, &error);
  g_assert_no_error (error);
  want = sd_tensor_to_f32 (ref, &error);
  assert_same_floats (got, want, ref->n_elements);
  g_free (got);
  g_free (want);
  be->ops->release (be, buf);
}

static void
test_load (void)
{
  SdTensorFile *tf = open_reference ();
  SdBackend *be = sd_backend_cpu_new ();
  const gint64 f16_shape[] = { 2, 5, 26 }, bf16_shape[] = { 260 }, f8_shape[] = { 16, 16 };
  const gint64 f64_shape[] = { 2, 4 }, matrix_shape[] = { 3, 4 }, wrong[] = { 4, 3 };
  GError *error = NULL;
  char *path;

  check_loaded (be, tf, "f16.patterns", "ref.f16.patterns", 3, f16_shape);
  check_loaded (be, tf, "bf16.patterns", "ref.bf16.patterns", 1, bf16_shape);
  check_loaded (be, tf, "f64.values", "ref.f64.values", 2, f64_shape);
  check_loaded (be, tf, "f8_e4m3.all", "ref.f8_e4m3.all", 2, f8_shape);
  check_loaded (be, tf, "f32.matrix", "f32.matrix", 2, matrix_shape);

  path = sd_test_data_path ("safetensors/reference.safetensors");
  g_assert_null (sd_tensors_load (tf, be, "blocks.0.weight", 2, matrix_shape, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_message_has (error, "missing tensor \"blocks.0.weight\"");
  g_clear_error (&error);

  g_assert_null (sd_tensors_load (tf, be, "f32.matrix", 2, wrong, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_message_has (error, "tensor \"f32.matrix\" has shape [3, 4], expected [4, 3]");
  g_clear_error (&error);

  g_assert_null (sd_tensors_load (tf, be, "f32.matrix", 1, matrix_shape, &error));
  assert_message_has (error, "has shape [3, 4], expected [3]");
  g_clear_error (&error);

  g_assert_null (sd_tensors_load (tf, be, "i64.ids", 1, f64_shape, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  assert_message_has (error, "\"i64.ids\"");
  assert_message_has (error, "not a float type");
  g_clear_error (&error);

  g_free (path);
  sd_backend_close (be);
  sd_tensors_close (tf);
}

/* The index made by huggingface_hub: every tensor in its shard, values as in ref.json. */
static void
test_sharded (void)
{
  char *path = sd_test_data_path ("safetensors/sharded/model.safetensors.index.json");
  char *ref_path = sd_test_data_path ("safetensors/sharded/ref.json");
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  SdTensorFile *tf;
  JsonObject *ref;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  guint n = 0;

  json_parser_load_from_file (parser, ref_path, &error);
  g_assert_no_error (error);
  ref = json_node_get_object (json_parser_get_root (parser));

  tf = sd_tensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_tensors_path (tf), ==, path);
  g_assert_cmpuint (sd_tensors_count (tf), ==, json_object_get_size (ref));
  g_assert_cmpstr (sd_tensors_metadata (tf, "total_size"), ==, "432");
  g_assert_cmpstr (sd_tensors_metadata (tf, "format"), ==, "pt");
  g_assert_true (g_str_has_suffix (sd_tensors_find (tf, "blocks.1.bias")->file,
                                   "model-00002-of-00002.safetensors"));
  g_assert_true (g_str_has_suffix (sd_tensors_find (tf, "blocks.0.weight")->file,
                                   "model-00001-of-00002.safetensors"));

  json_object_iter_init (&iter, ref);
  while (json_object_iter_next (&iter, &name, &node))
    {
      JsonArray *shape = json_object_get_array_member (json_node_get_object (node), "shape");
      JsonArray *values = json_object_get_array_member (json_node_get_object (node), "values");
      const SdTensorInfo *t = sd_tensors_find (tf, name);
      float *f;
      guint i;

      g_assert_nonnull (t);
      g_assert_cmpint (t->ndim, ==, json_array_get_length (shape));
      for (i = 0; i < json_array_get_length (shape); i++)
        g_assert_cmpint (t->shape[i], ==, json_array_get_int_element (shape, i));
      g_assert_cmpuint (t->n_elements, ==, json_array_get_length (values));
      f = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      for (i = 0; i < t->n_elements; i++)
        g_assert_cmpfloat (f[i], ==, (float) json_array_get_double_element (values, i));
      g_free (f);
      n++;
    }
  g_assert_cmpuint (n, ==, 4);
  sd_tensors_close (tf);
  g_object_unref (parser);
  g_free (ref_path);
  g_free (path);
}

/* Copies the fixture shards into the temp folder beside an index with the given weight_map. */
static void
expect_bad_index (const char *weight_map, const char *tensor, const char *phrase)
{
  const char *shards[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
  char *index = tmp_path ("model.safetensors.index.json");
  char *json = g_strdup_printf ("{\"metadata\": {}, \"weight_map\": %s}", weight_map);
  GError *error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (shards); i++)
    {
      char *rel = g_build_filename ("safetensors", "sharded", shards[i], NULL);
      char *src = sd_test_data_path (rel);
      char *dst = tmp_path (shards[i]);
      char *contents;
      gsize len;
      g_assert_true (g_file_get_contents (src, &contents, &len, NULL));
      write_bytes (dst, (const guint8 *) contents, len);
      g_free (contents);
      g_free (rel);
      g_free (src);
      g_free (dst);
    }
  write_bytes (index, (const guint8 *) json, strlen (json));
  g_assert_null (sd_tensors_open (index, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, index));
  if (tensor)
    {
      char *quoted = g_strdup_printf ("\"%s\"", tensor);
      assert_message_has (error, quoted);
      g_free (quoted);
    }
  assert_message_has (error, phrase);
  g_clear_error (&error);

  for (i = 0; i < G_N_ELEMENTS (shards); i++)
    {
      char *dst = tmp_path (shards[i]);
      g_unlink (dst);
      g_free (dst);
    }
  g_unlink (index);
  g_free (index);
  g_free (json);
}

static void
test_index_missing_shard (void)
{
  expect_bad_index ("{\"blocks.0.weight\": \"model-00001-of-00002.safetensors\", "
                    "\"blocks.1.bias\": \"model-00003-of-00003.safetensors\"}",
                    "blocks.1.bias", "model-00003-of-00003.safetensors");
  expect_bad_index ("{\"blocks.1.bias\": \"../model-00002-of-00002.safetensors\"}",
                    "blocks.1.bias", "not a file inside the index's folder");
}

static void
test_index_absent_tensor (void)
{
  expect_bad_index ("{\"blocks.0.weight\": \"model-00001-of-00002.safetensors\", "
                    "\"blocks.1.bias\": \"model-00001-of-00002.safetensors\"}",
                    "blocks.1.bias", "does not hold it");
  expect_bad_index ("{}", NULL, "weight_map is empty");
  expect_bad_index ("{\"blocks.1.bias\": 3}", "blocks.1.bias", "not a file name");
}

static void
test_bad_truncated (void)
{
  char *path = sd_test_data_path ("safetensors/reference.safetensors");
  char *contents;
  gsize len;
  guint64 header_len;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  memcpy (&header_len, contents, 8);
  header_len = GUINT64_FROM_LE (header_len);
  expect_bad_bytes ((const guint8 *) contents, 0, NULL, "too short");
  expect_bad_bytes ((const guint8 *) contents, 5, NULL, "too short");
  expect_bad_bytes ((const guint8 *) contents, 8 + header_len / 2, NULL, "past the end of the file");
  /* cut inside the data: the last tensor (by offset) no longer fits */
  expect_bad_bytes ((const guint8 *) contents, len - 1, NULL, "past the end of the data");
  g_free (contents);
  g_free (path);
}

static void
test_bad_header_length (void)
{
  guint8 bytes[16] = { 0 };
  guint64 len = GUINT64_TO_LE (1000);
  memcpy (bytes, &len, 8);
  memcpy (bytes + 8, "{}      ", 8);
  expect_bad_bytes (bytes, sizeof bytes, NULL, "header length 1000 is past the end of the file");
  len = GUINT64_TO_LE (G_GUINT64_CONSTANT (0xffffffffffffff00));
  memcpy (bytes, &len, 8);
  expect_bad_bytes (bytes, sizeof bytes, NULL, "over the limit");
}

/* Text (here the start of a Markdown file, whose first 8 bytes read as a length of about 7e18) is
 * named as not a safetensors file, not as a header length over the limit. */
static void
test_bad_not_safetensors (void)
{
  const char *markdown = "# scaledit: ultra-high-resolution image generation\n\nA GIMP 3 plug-in.\n";
  const char *short_text = "# short\nno";
  expect_bad_bytes ((const guint8 *) markdown, strlen (markdown), NULL, "not a safetensors file");
  expect_bad_bytes ((const guint8 *) short_text, strlen (short_text), NULL, "not a safetensors file");
}

static void
test_bad_json (void)
{
  expect_bad_header ("{not json", 0, NULL, "header is not valid JSON");
  expect_bad_header ("[1, 2]", 0, NULL, "header is not a JSON object");
  expect_bad_header ("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}} \xff",
                     4, NULL, "header has more than white space after its JSON object");
  /* values one after another, which json-glib 1.6 would accept (leaking all but one) */
  expect_bad_header ("7{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                     NULL, "header is not a JSON object");
  expect_bad_header ("{\"a\": 1} {\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                     4, NULL, "header has more than white space after its JSON object");
  expect_bad_header ("{\"a\": \"}\"} []", 0, NULL, "has more than white space after");
  expect_bad_header ("{\"a\": \"}{\"", 0, NULL, "header is not valid JSON");
  {
    GString *deep = g_string_new ("{\"a\": ");
    int i;
    for (i = 0; i < 10000; i++)
      g_string_append_c (deep, '[');
    expect_bad_header (deep->str, 0, NULL, "nests deeper");
    g_string_free (deep, TRUE);
  }
  expect_bad_header ("{\"__metadata__\": {\"format\": 1}}", 0, NULL, "\"format\" is not a string");
  expect_bad_header ("{\"w\": [1]}", 0, "w", "not a JSON object");
  expect_bad_header ("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "w", "no dtype");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "w", "no shape");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "w", "no data_offsets");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4,
                     "w", "shape entry 0 is not an integer");
}

static void
test_bad_overlap (void)
{
  expect_bad_header ("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                     " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
                     24, "a", "\"b\" [8, 24] overlap");
  /* an empty tensor may sit anywhere; touching ranges do not overlap */
  {
    const char *h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                    " \"b\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [16, 24]},"
                    " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]}}";
    GByteArray *b = make_file (h, 24);
    GError *error = NULL;
    SdTensorFile *tf = sd_tensors_parse ("ok", b->data, b->len, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (sd_tensors_count (tf), ==, 3);
    sd_tensors_close (tf);
    g_byte_array_unref (b);
  }
}

static void
test_bad_dtype (void)
{
  expect_bad_header ("{\"w\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                     "w", "unknown dtype \"F7\"");
  expect_bad_header ("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                     "w", "no dtype string");
}

static void
test_bad_size (void)
{
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}",
                     24, "w", "shape [2, 3] of dtype F32 needs 24 bytes, data_offsets [0, 20] hold 20");
  expect_bad_header ("{\"w\": {\"dtype\": \"BF16\", \"shape\": [4294967296, 4294967296, 2],"
                     " \"data_offsets\": [0, 8]}}", 8, "w", "too large");
  expect_bad_header ("{\"w\": {\"dtype\": \"U8\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 1],"
                     " \"data_offsets\": [0, 1]}}", 1, "w", "9 dimensions");
}

static void
test_bad_offsets (void)
{
  expect_bad_header ("{\"x.weight\": {\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [0, 100]}}",
                     64, "x.weight", "data_offsets [0, 100] past the end of the data (64 bytes)");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
                     "w", "end before they begin");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 8,
                     "w", "non-negative");
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 8,
                     "w", "no data_offsets");
}

static void
test_bad_negative_shape (void)
{
  expect_bad_header ("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}",
                     16, "w", "shape entry 1 is negative (-2)");
}

static void
test_missing_file (void)
{
  char *path = tmp_path ("absent.safetensors");
  GError *error = NULL;
  g_assert_null (sd_tensors_open (path, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_clear_error (&error);
  g_assert_null (sd_tensors_open (tmp_dir, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  assert_message_has (error, "not a regular file");
  g_clear_error (&error);
  g_free (path);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("sd-safetensors-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);
  g_test_add_func ("/safetensors/round-trip", test_round_trip);
  g_test_add_func ("/safetensors/reference", test_reference);
  g_test_add_func ("/safetensors/load", test_load);
  g_test_add_func ("/safetensors/sharded", test_sharded);
  g_test_add_func ("/safetensors/index/missing-shard", test_index_missing_shard);
  g_test_add_func ("/safetensors/index/absent-tensor", test_index_absent_tensor);
  g_test_add_func ("/safetensors/bad/truncated", test_bad_truncated);
  g_test_add_func ("/safetensors/bad/header-length", test_bad_header_length);
  g_test_add_func ("/safetensors/bad/not-safetensors", test_bad_not_safetensors);
  g_test_add_func ("/safetensors/bad/json", test_bad_json);
  g_test_add_func ("/safetensors/bad/overlap", test_bad_overlap);
  g_test_add_func ("/safetensors/bad/dtype", test_bad_dtype);
  g_test_add_func ("/safetensors/bad/size", test_bad_size);
  g_test_add_func ("/safetensors/bad/offsets", test_bad_offsets);
  g_test_add_func ("/safetensors/bad/negative-shape", test_bad_negative_shape);
  g_test_add_func ("/safetensors/missing-file", test_missing_file);
  status = g_test_run ();
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  return status;
}

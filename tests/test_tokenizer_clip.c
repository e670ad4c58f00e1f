/* test_tokenizer_clip.c: the CLIP tokenizer against transformers' slow CLIPTokenizer (no ftfy) on
 * the strings of tests/data/tokenizer/clip_expected.json (ids must be equal, no tolerance), and its
 * errors for missing or malformed files. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "scaledit.h"
#include "testutil.h"
#include "tokenizer_clip.h"

static JsonObject *
load_expected (JsonParser *parser)
{
  g_autofree char *path = sd_test_data_path ("tokenizer/clip_expected.json");
  g_autoptr (GError) error = NULL;

  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static gboolean
ids_equal (const GArray *ids, JsonArray *expected, int max_length, gint32 pad_id)
{
  guint n = json_array_get_length (expected), i;

  if (ids->len != (guint) max_length)
    return FALSE;
  for (i = 0; i < ids->len; i++)
    {
      gint32 want = i < n ? (gint32) json_array_get_int_element (expected, i) : pad_id;
      if (g_array_index (ids, gint32, i) != want)
        return FALSE;
    }
  return TRUE;
}

static char *
format_ids (const GArray *ids)
{
  GString *s = g_string_new (NULL);
  guint i;
  for (i = 0; i < ids->len; i++)
    g_string_append_printf (s, "%s%d", i ? " " : "", g_array_index (ids, gint32, i));
  return g_string_free (s, FALSE);
}

/* Every fixture string gives the slow tokenizer's ids, mask and truncation. */
static void
test_fixture_ids (void)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root = load_expected (parser);
  JsonArray *cases = json_object_get_array_member (root, "cases");
  int max_length = json_object_get_int_member (root, "max_length");
  gint32 pad_id = json_object_get_int_member (root, "pad_id");
  g_autofree char *dir = sd_test_data_path ("tokenizer/flux/tokenizer");
  g_autoptr (GError) error = NULL;
  g_autoptr (SdClipTokenizer) tok = sd_clip_tokenizer_load (dir, &error);
  guint i, failures = 0, truncated = 0;

  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (cases), >=, 500);
  for (i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *c = json_array_get_object_element (cases, i);
      const char *text = json_object_get_string_member (c, "text");
      JsonArray *want = json_object_get_array_member (c, "ids");
      int n_full = json_object_get_int_member (c, "n_full");
      g_autoptr (SdTokens) t = sd_clip_tokenizer_encode (tok, text, max_length, &error);
      g_autoptr (SdTokens) full = sd_clip_tokenizer_encode (tok, text, 0, &error);
      guint j;
      gboolean ok;

      g_assert_no_error (error);
      ok = ids_equal (t->ids, want, max_length, pad_id) && full->n_full == n_full
           && (int) full->ids->len == n_full && t->truncated == (n_full > max_length)
           && t->n_tokens == (int) json_array_get_length (want);
      for (j = 0; ok && j < t->mask->len; j++)
        ok = g_array_index (t->mask, gint32, j) == (j < (guint) t->n_tokens);
      if (!ok && failures++ < 10)
        {
          g_autofree char *got = format_ids (t->ids);
          g_test_message ("case %u %s: got %s (n_full %d, expected %d)", i, text, got,
                          full->n_full, n_full);
        }
      truncated += t->truncated;
    }
  g_assert_cmpuint (failures, ==, 0);
  g_assert_cmpuint (truncated, >, 0);
}

/* sd_tokenize finds tokenizer/ in a diffusers folder and reports truncation. */
static void
test_public_api (void)
{
  g_autofree char *folder = sd_test_data_path ("tokenizer/flux");
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) long_prompt = g_string_new (NULL);
  g_autoptr (GArray) ids = NULL;
  gboolean truncated = TRUE;
  int i;

  ids = sd_tokenize ("clip", folder, "a photo of a cat", 0, &truncated, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, SD_CLIP_MAX_LENGTH);
  g_assert_false (truncated);
  g_clear_pointer (&ids, g_array_unref);

  for (i = 0; i < 100; i++)
    g_string_append (long_prompt, "a red cat ");
  ids = sd_tokenize ("clip", folder, long_prompt->str, 0, &truncated, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, SD_CLIP_MAX_LENGTH);
  g_assert_true (truncated);
  g_clear_pointer (&ids, g_array_unref);

  ids = sd_tokenize ("clip", folder, "\xff\xfe", 0, NULL, &error);
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_assert_null (ids);
}

/* A temporary tokenizer folder holding copies of the fixture files, one of them replaced. */
static char *
make_folder (const char *file, const char *contents)
{
  static const char *const names[] = { "vocab.json", "merges.txt", "special_tokens_map.json" };
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("sd-clip-XXXXXX", &error);
  gsize i;

  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *rel = g_build_filename ("tokenizer/flux/tokenizer", names[i], NULL);
      g_autofree char *src = sd_test_data_path (rel);
      g_autofree char *dst = g_build_filename (dir, names[i], NULL);
      g_autofree char *data = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (src, &data, &len, &error));
      g_assert_true (g_file_set_contents (dst, data, len, &error));
    }
  if (file)
    {
      g_autofree char *dst = g_build_filename (dir, file, NULL);
      if (contents)
        g_assert_true (g_file_set_contents (dst, contents, -1, &error));
      else
        g_assert_cmpint (g_remove (dst), ==, 0);
    }
  return dir;
}

static void
remove_folder (const char *dir)
{
  static const char *const names[] = { "vocab.json", "merges.txt", "special_tokens_map.json" };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

static void
expect_error (const char *file, const char *contents, int code, const char *names)
{
  g_autofree char *dir = make_folder (file, contents);
  g_autoptr (GError) error = NULL;
  SdClipTokenizer *tok = sd_clip_tokenizer_load (dir, &error);
  g_autofree char *path = g_build_filename (dir, names, NULL);

  g_assert_null (tok);
  g_assert_error (error, SD_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  remove_folder (dir);
}

static void
test_errors (void)
{
  g_autofree char *ok_dir = make_folder (NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdClipTokenizer) tok = sd_clip_tokenizer_load (ok_dir, &error);
  g_autoptr (SdTokens) t = NULL;

  g_assert_no_error (error);
  t = sd_clip_tokenizer_encode (tok, "cat", 1, &error);
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT); /* no room for start and end tokens */
  g_assert_null (t);
  remove_folder (ok_dir);

  expect_error ("vocab.json", NULL, SD_ERROR_IO, "vocab.json");
  expect_error ("merges.txt", NULL, SD_ERROR_IO, "merges.txt");
  expect_error ("vocab.json", "{\"a\": 1,", SD_ERROR_FORMAT, "vocab.json");
  expect_error ("vocab.json", "[1, 2]", SD_ERROR_FORMAT, "vocab.json");
  expect_error ("vocab.json", "{\"a\": \"x\"}", SD_ERROR_FORMAT, "vocab.json");
  expect_error ("vocab.json", "{\"a\": 0, \"<|endoftext|>\": 1}", SD_ERROR_FORMAT, "vocab.json");
  expect_error ("merges.txt", "#version: 0.2\na b\nc d e\n", SD_ERROR_FORMAT, "merges.txt");
  expect_error ("merges.txt", "#version: 0.2\n\xff\xfe\n", SD_ERROR_FORMAT, "merges.txt");
  expect_error ("special_tokens_map.json", "{\"pad_token\": ", SD_ERROR_FORMAT,
                "special_tokens_map.json");
  expect_error ("special_tokens_map.json", "{\"pad_token\": \"<nope>\"}", SD_ERROR_FORMAT,
                "vocab.json");
}

/* An empty special token (or one starting with U+0000, which C strings end at) matched before
 * every character and looped forever with growing memory, even when vocab.json held it: it is
 * refused, as is a special token that is not a string, naming the file and the key. */
static void
test_empty_special_tokens (void)
{
  static const struct {
    const char *map, *key;
  } cases[] = {
    { "{\"pad_token\": \"\"}", "pad_token" },
    { "{\"bos_token\": \"\\u0000\"}", "bos_token" },
    { "{\"eos_token\": {\"content\": \"\"}}", "eos_token" },
    { "{\"unk_token\": {\"content\": \"\\u0000<|endoftext|>\"}}", "unk_token" },
    { "{\"pad_token\": 7}", "pad_token" },
    { "{\"pad_token\": {\"content\": [\"<|endoftext|>\"]}}", "pad_token" },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = make_folder ("special_tokens_map.json", cases[i].map);
      g_autofree char *vocab_path = g_build_filename (dir, "vocab.json", NULL);
      g_autofree char *map_path = g_build_filename (dir, "special_tokens_map.json", NULL);
      g_autofree char *vocab = NULL, *with_empty = NULL;
      g_autoptr (GError) error = NULL;
      SdClipTokenizer *tok;

      /* the vocabulary holds the empty token, as a hostile one may */
      g_assert_true (g_file_get_contents (vocab_path, &vocab, NULL, NULL));
      g_assert_true (vocab[0] == '{');
      with_empty = g_strconcat ("{\"\": 5, ", vocab + 1, NULL);
      g_assert_true (g_file_set_contents (vocab_path, with_empty, -1, NULL));
      tok = sd_clip_tokenizer_load (dir, &error);
      g_assert_null (tok);
      g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, map_path));
      g_assert_nonnull (strstr (error->message, cases[i].key));
      remove_folder (dir);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer-clip/fixture-ids", test_fixture_ids);
  g_test_add_func ("/tokenizer-clip/public-api", test_public_api);
  g_test_add_func ("/tokenizer-clip/errors", test_errors);
  g_test_add_func ("/tokenizer-clip/empty-special-tokens", test_empty_special_tokens);
  return g_test_run ();
}

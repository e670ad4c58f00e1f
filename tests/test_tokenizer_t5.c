/* test_tokenizer_t5.c: the T5 tokenizer against transformers' T5TokenizerFast on the strings of
 * tests/data/tokenizer/t5_expected.json, for FLUX.1's tokenizer.json layout and the converter's
 * own (ids must be equal, no tolerance), and its errors for missing or malformed files. */
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "scaledit.h"
#include "testutil.h"
#include "tokenizer_t5.h"

static char *
format_ids (const GArray *ids, guint n)
{
  GString *s = g_string_new (NULL);
  guint i;
  for (i = 0; i < n && i < ids->len; i++)
    g_string_append_printf (s, "%s%d", i ? " " : "", g_array_index (ids, gint32, i));
  return g_string_free (s, FALSE);
}

static gboolean
matches (const SdTokens *t, JsonArray *want, int max_length, gint32 pad_id)
{
  guint n = json_array_get_length (want), i;

  if (t->ids->len != (guint) max_length || t->n_tokens != (int) n)
    return FALSE;
  for (i = 0; i < t->ids->len; i++)
    {
      gint32 id = i < n ? (gint32) json_array_get_int_element (want, i) : pad_id;
      if (g_array_index (t->ids, gint32, i) != id
          || g_array_index (t->mask, gint32, i) != (i < n))
        return FALSE;
    }
  return TRUE;
}

/* Every fixture string, at every recorded max_length, for one tokenizer.json layout. */
static void
check_layout (const char *layout, const char *folder)
{
  g_autofree char *expected = sd_test_data_path ("tokenizer/t5_expected.json");
  g_autofree char *dir = sd_test_data_path (folder);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (SdT5Tokenizer) tok = NULL;
  JsonObject *root;
  JsonArray *cases, *lengths;
  gint32 pad_id;
  guint i, k, failures = 0, truncated = 0;

  g_assert_true (json_parser_load_from_file (parser, expected, &error));
  root = json_node_get_object (json_parser_get_root (parser));
  cases = json_object_get_array_member (root, "cases");
  lengths = json_object_get_array_member (root, "lengths");
  pad_id = json_object_get_int_member (root, "pad_id");
  tok = sd_t5_tokenizer_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (cases), >=, 500);

  for (i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *c = json_array_get_object_element (cases, i);
      JsonObject *r = json_object_get_object_member (c, layout);
      const char *text = json_object_get_string_member (c, "text");
      int n_full = json_object_get_int_member (r, "n_full");
      g_autoptr (SdTokens) full = sd_t5_tokenizer_encode (tok, text, 0, &error);

      g_assert_no_error (error);
      if (full->n_full != n_full && failures++ < 10)
        g_test_message ("%s case %u %s: %d tokens, expected %d", layout, i, text, full->n_full,
                        n_full);
      for (k = 0; k < json_array_get_length (lengths); k++)
        {
          int max_length = json_array_get_int_element (lengths, k);
          g_autofree char *key = g_strdup_printf ("%d", max_length);
          JsonArray *want = json_object_get_array_member (r, key);
          g_autoptr (SdTokens) t = sd_t5_tokenizer_encode (tok, text, max_length, &error);

          g_assert_no_error (error);
          if ((!matches (t, want, max_length, pad_id) || t->truncated != (n_full > max_length))
              && failures++ < 10)
            {
              g_autofree char *got = format_ids (t->ids, t->n_tokens);
              g_test_message ("%s case %u %s (max_length %d): got %s", layout, i, text,
                              max_length, got);
            }
          truncated += t->truncated;
        }
    }
  g_assert_cmpuint (failures, ==, 0);
  g_assert_cmpuint (truncated, >, 0);
}

static void
test_flux_layout (void)
{
  check_layout ("flux", "tokenizer/flux/tokenizer_2");
}

static void
test_converted_layout (void)
{
  check_layout ("converted", "tokenizer/t5_converted/tokenizer.json");
}

/* sd_tokenize finds tokenizer_2/ in a diffusers folder, pads to 512 by default, and truncates. */
static void
test_public_api (void)
{
  g_autofree char *folder = sd_test_data_path ("tokenizer/flux");
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ids = NULL;
  gboolean truncated = TRUE;

  ids = sd_tokenize ("t5", folder, "a photo of a cat", 0, &truncated, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, SD_T5_MAX_LENGTH_DEV);
  g_assert_false (truncated);
  g_clear_pointer (&ids, g_array_unref);

  ids = sd_tokenize ("t5", folder, "a photo of a cat on a red chair in the snow", 4, &truncated,
                     &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 4);
  g_assert_true (truncated);
  g_clear_pointer (&ids, g_array_unref);

  ids = sd_tokenize ("t6", folder, "x", 0, NULL, &error);
  g_assert_error (error, SD_ERROR, SD_ERROR_ARGUMENT);
  g_assert_null (ids);
}

/* A copy of the FLUX-layout tokenizer.json with one substring replaced, in a temporary folder. */
static char *
make_file (const char *dir, const char *from, const char *to)
{
  g_autofree char *src = sd_test_data_path ("tokenizer/flux/tokenizer_2/tokenizer.json");
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  char *dst = g_build_filename (dir, "tokenizer.json", NULL);
  gsize len;

  g_assert_true (g_file_get_contents (src, &data, &len, &error));
  if (from)
    {
      g_auto (GStrv) parts = g_strsplit (data, from, 2);
      g_assert_cmpuint (g_strv_length (parts), ==, 2);
      g_free (data);
      data = g_strjoin (to, parts[0], parts[1], NULL);
      len = strlen (data);
    }
  g_assert_true (g_file_set_contents (dst, data, len, &error));
  return dst;
}

static void
expect_error (const char *from, const char *to, int code)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sd-t5-XXXXXX", &error);
  g_autofree char *path = make_file (dir, from, to);
  SdT5Tokenizer *tok = sd_t5_tokenizer_load (dir, &error);

  g_assert_null (tok);
  g_assert_error (error, SD_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_remove (path);
  g_rmdir (dir);
}

static void
test_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sd-t5-XXXXXX", &error);
  g_autofree char *missing = g_build_filename (dir, "tokenizer.json", NULL);
  SdT5Tokenizer *tok = sd_t5_tokenizer_load (dir, &error);

  g_assert_null (tok);
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_rmdir (dir);

  expect_error ("\"model\"", "\"model\":1,\"x\"", SD_ERROR_UNSUPPORTED);        /* no model */
  expect_error ("\"type\":\"Unigram\"", "\"type\":\"BPE\"", SD_ERROR_UNSUPPORTED);
  expect_error ("\"type\":\"WhitespaceSplit\"", "\"type\":\"Digits\"", SD_ERROR_UNSUPPORTED);
  expect_error ("\"type\":\"Precompiled\"", "\"type\":\"NFKC\"", SD_ERROR_UNSUPPORTED);
  expect_error ("\"precompiled_charsmap\":\"", "\"precompiled_charsmap\":\"AAAA", SD_ERROR_FORMAT);
  expect_error ("\"unk_id\":2", "\"unk_id\":-1", SD_ERROR_FORMAT);
  expect_error ("[\"<pad>\",0.0]", "[\"<pad>\"]", SD_ERROR_FORMAT);
  expect_error ("\"vocab\":[", "\"vocab\":{\"x\":1},\"_\":[", SD_ERROR_FORMAT);
  expect_error ("{\"Regex\":\" {2,}\"}", "{\"Regex\":\"(\"}", SD_ERROR_FORMAT);
  expect_error ("{", "[", SD_ERROR_FORMAT); /* not JSON */
  /* values of the wrong type or range: errors, not GLib criticals or silent misreadings */
  expect_error ("\"ids\":[1]", "\"ids\":[{}]", SD_ERROR_FORMAT);
  expect_error ("\"ids\":[1]", "\"ids\":[-1]", SD_ERROR_FORMAT);
  expect_error ("\"ids\":[1]", "\"ids\":[1.5]", SD_ERROR_FORMAT);
  expect_error ("[\"<pad>\",0.0]", "[\"<pad>\",1e999]", SD_ERROR_FORMAT);
  expect_error ("\"content\":\"<pad>\"", "\"content\":\"\\u0000<pad>\"", SD_ERROR_FORMAT);
}

/* An empty padding token, or one that is not a string, is refused naming special_tokens_map.json. */
static void
test_empty_pad_token (void)
{
  static const char *const maps[] = { "{\"pad_token\": \"\"}", "{\"pad_token\": \"\\u0000\"}",
                                      "{\"pad_token\": {\"content\": \"\"}}", "{\"pad_token\": true}" };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (maps); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *dir = g_dir_make_tmp ("sd-t5-XXXXXX", &error);
      g_autofree char *path = make_file (dir, NULL, NULL);
      g_autofree char *map = g_build_filename (dir, "special_tokens_map.json", NULL);

      g_assert_true (g_file_set_contents (map, maps[i], -1, NULL));
      g_assert_null (sd_t5_tokenizer_load (dir, &error));
      g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, map));
      g_assert_nonnull (strstr (error->message, "pad_token"));
      g_remove (map);
      g_remove (path);
      g_rmdir (dir);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer-t5/flux-layout", test_flux_layout);
  g_test_add_func ("/tokenizer-t5/converted-layout", test_converted_layout);
  g_test_add_func ("/tokenizer-t5/public-api", test_public_api);
  g_test_add_func ("/tokenizer-t5/errors", test_errors);
  g_test_add_func ("/tokenizer-t5/empty-pad-token", test_empty_pad_token);
  return g_test_run ();
}

/* test_json_object.c: the one-object JSON reader on hand-written texts (what json-glib alone
 * would accept or leak) and through the config readers that use it. */
#include <glib/gstdio.h>
#include <string.h>

#include "flux.h"
#include "json_object.h"
#include "scaledit.h"
#include "vae.h"

static void
expect_object (const char *text, const char *member)
{
  GError *error = NULL;
  JsonParser *p = sd_json_object_parse (text, strlen (text), "t", &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_true (json_object_has_member (json_node_get_object (json_parser_get_root (p)), member));
  g_object_unref (p);
}

static void
expect_refused (const char *text, const char *phrase)
{
  GError *error = NULL;
  JsonParser *p = sd_json_object_parse (text, strlen (text), "t", &error);
  g_assert_null (p);
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  if (!strstr (error->message, phrase))
    g_error ("'%s': message '%s' lacks '%s'", text, error->message, phrase);
  g_error_free (error);
}

static void
test_texts (void)
{
  GString *deep = g_string_new ("{\"a\": ");
  int i;

  expect_object ("{\"a\": 1}", "a");
  expect_object ("  \r\n\t{\"a\": {\"b\": [1, {}]}}   \n", "a"); /* safetensors pads with spaces */
  expect_object ("{\"a}{\": \"[\\\"]}{\", \"b\": 2}", "b");      /* brackets and quotes in strings */
  /* values one after another: json-glib 1.6 takes them, keeps one and leaks the others */
  expect_refused ("7{\"a\": 1}", "t is not a JSON object");
  expect_refused ("\"s\"{\"a\": 1}", "t is not a JSON object");
  expect_refused ("{\"a\": 1}{\"b\": {}}", "t has more than white space after its JSON object");
  expect_refused ("{\"a\": 1} 7", "has more than white space after");
  expect_refused ("[1, 2]", "t is not a JSON object");
  expect_refused ("", "t is not a JSON object");
  /* json-glib takes comments and single-quoted strings, which could hide a quote from the scan */
  expect_refused ("{\"a\": 1 /*\"*/ } {\"b\": [2] /*\"*/ }", "t is not valid JSON: a comment");
  expect_refused ("{\"a\": '\"'} {\"b\": '\"'}", "t is not valid JSON: a comment");
  expect_refused ("{\"a\": 1]}", "mismatched brackets");
  expect_refused ("\xef\xbb\xbf{\"a\": 1}", "t is not a JSON object"); /* a BOM: files only */
  expect_refused ("{\"a\": 1,}", "t is not valid JSON");
  expect_refused ("{\"a\": [1}", "t is not valid JSON");
  expect_refused ("{\"a\": 1", "t is not valid JSON");
  for (i = 0; i < SD_JSON_DEPTH_LIMIT; i++)
    g_string_append_c (deep, '[');
  expect_refused (deep->str, "nests deeper than 64 levels");
  g_string_truncate (deep, 0);
  g_string_append (deep, "{\"a\": /*\"*/ "); /* json-glib's recursion would overflow the stack */
  for (i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  expect_refused (deep->str, "not valid JSON");
  g_string_free (deep, TRUE);
}

/* The config readers refuse a file of two objects and say which file; a missing file is an I/O
 * error. */
static void
test_files (void)
{
  char *dir = g_dir_make_tmp ("scaledit-json-XXXXXX", NULL);
  char *path = g_build_filename (dir, "config.json", NULL);
  GError *error = NULL;
  SdFluxConfig flux;
  SdVaeConfig vae;

  g_assert_true (g_file_set_contents (path, "{\"num_layers\": 1}\n{\"num_layers\": 2}\n", -1, NULL));
  g_assert_false (sd_flux_config_from_json (path, &flux, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "more than white space after"));
  g_clear_error (&error);
  g_assert_false (sd_vae_config_from_json (path, &vae, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
  g_clear_error (&error);
  /* a byte order mark at the start of a file is skipped, as json-glib does */
  g_assert_true (g_file_set_contents (path, "\xef\xbb\xbf{\"num_layers\": 1}", -1, NULL));
  {
    JsonParser *p = sd_json_object_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpint (json_object_get_int_member (json_node_get_object (json_parser_get_root (p)),
                                                 "num_layers"), ==, 1);
    g_object_unref (p);
  }
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_null (sd_json_object_load (path, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_clear_error (&error);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  g_free (path);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json-object/texts", test_texts);
  g_test_add_func ("/json-object/files", test_files);
  return g_test_run ();
}

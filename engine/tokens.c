/* tokens.c: truncating, framing and padding token ids, and reading special-token settings. */
#include <json-glib/json-glib.h>

#include "json_object.h"
#include "scaledit.h"
#include "tokens.h"

void
sd_tokens_free (SdTokens *tokens)
{
  if (!tokens)
    return;
  g_array_unref (tokens->ids);
  g_array_unref (tokens->mask);
  g_free (tokens);
}

SdTokens *
sd_tokens_build (const gint32 *prefix, int n_prefix, const GArray *content, const gint32 *suffix,
                 int n_suffix, int max_length, gint32 pad_id, GError **error)
{
  SdTokens *t;
  int n_content = content->len, keep = n_content, i;
  const gint32 one = 1, zero = 0;

  if (max_length < 0 || (max_length > 0 && max_length < n_prefix + n_suffix))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                   "max_length %d cannot hold the %d special tokens", max_length,
                   n_prefix + n_suffix);
      return NULL;
    }
  if (max_length > 0 && keep > max_length - n_prefix - n_suffix)
    keep = max_length - n_prefix - n_suffix;

  t = g_new0 (SdTokens, 1);
  t->ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  t->mask = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_array_append_vals (t->ids, prefix, n_prefix);
  g_array_append_vals (t->ids, content->data, keep);
  g_array_append_vals (t->ids, suffix, n_suffix);
  t->n_tokens = t->ids->len;
  t->n_full = n_prefix + n_content + n_suffix;
  t->truncated = keep < n_content;
  for (i = 0; i < t->n_tokens; i++)
    g_array_append_val (t->mask, one);
  for (i = t->n_tokens; i < max_length; i++)
    {
      g_array_append_val (t->ids, pad_id);
      g_array_append_val (t->mask, zero);
    }
  return t;
}

gboolean
sd_tokenizer_token_text (JsonObject *o, const char *file, const char *key, const char **text, GError **error)
{
  JsonNode *node = json_object_get_member (o, key), *content = NULL;

  *text = NULL;
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (JSON_NODE_HOLDS_OBJECT (node))
    content = json_object_get_member (json_node_get_object (node), "content");
  else
    content = node;
  if (!content || !JSON_NODE_HOLDS_VALUE (content) || json_node_get_value_type (content) != G_TYPE_STRING)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: \"%s\" must be a string or an object with a \"content\" string", file, key);
      return FALSE;
    }
  /* an empty text (or one that starts with U+0000, which C strings end at) would match everywhere */
  if (!*json_node_get_string (content))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: special token \"%s\" is empty", file, key);
      return FALSE;
    }
  *text = json_node_get_string (content);
  return TRUE;
}

char *
sd_tokenizer_special_token (const char *dir, const char *key, const char *fallback, GError **error)
{
  static const char *const files[] = { "special_tokens_map.json", "tokenizer_config.json" };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      g_autoptr (JsonParser) parser = NULL;
      const char *text;

      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      parser = sd_json_object_load (path, error);
      if (!parser || !sd_tokenizer_token_text (json_node_get_object (json_parser_get_root (parser)), path, key, &text,
                                               error))
        return NULL;
      if (text)
        return g_strdup (text);
    }
  return g_strdup (fallback);
}

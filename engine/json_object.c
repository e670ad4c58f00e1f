/* json_object.c: reading JSON texts and files that must hold exactly one object (safetensors
 * headers, configs, tokenizers), through a scan that json-glib's gaps make necessary. */
#include <string.h>

#include "json_object.h"
#include "scaledit.h"

/* What a JSON text looks like before it is parsed. */
typedef enum
{
  JSON_SHAPE_ONE_OBJECT,  /* an object, with only white space around it (or cut short) */
  JSON_SHAPE_NOT_OBJECT,  /* something other than an object comes first */
  JSON_SHAPE_TRAILING,    /* more than white space follows the object */
  JSON_SHAPE_TOO_DEEP,    /* nests deeper than the limit */
  JSON_SHAPE_INVALID,     /* a comment, a single-quoted string or mismatched brackets */
} JsonShape;

static gboolean
json_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Scans text (strings skipped) for its shape. json-glib 1.6 accepts values written one after
 * another ("{...}{...}", "7{...}"), keeps one as the root and leaks the others, so a text that is
 * not exactly one object must not reach it. It also accepts comments and single-quoted strings,
 * which could hide a quote or a bracket from this scan, so those (not JSON) are refused here;
 * other syntax errors inside the object are left to json-glib, which says where they are. */
static JsonShape
json_shape (const char *text, gsize len)
{
  gboolean in_string = FALSE, escaped = FALSE, closed = FALSE;
  int depth = 0;
  gsize i;

  for (i = 0; i < len; i++)
    {
      char c = text[i];
      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (json_space (c))
        continue;
      else if (closed)
        return JSON_SHAPE_TRAILING;
      else if (depth == 0 && c != '{')
        return JSON_SHAPE_NOT_OBJECT;
      else if (c == '"')
        in_string = TRUE;
      else if (c == '\'' || c == '/')
        return JSON_SHAPE_INVALID;
      else if (c == '[' || c == '{')
        {
          if (++depth > SD_JSON_DEPTH_LIMIT)
            return JSON_SHAPE_TOO_DEEP;
        }
      else if ((c == ']' || c == '}') && --depth == 0)
        {
          if (c != '}')
            return JSON_SHAPE_INVALID;
          closed = TRUE;
        }
    }
  return JSON_SHAPE_ONE_OBJECT;
}

JsonParser *
sd_json_object_parse (const char *text, gsize len, const char *where, GError **error)
{
  JsonParser *parser;
  GError *json_error = NULL;
  JsonNode *root;

  switch (json_shape (text, len))
    {
    case JSON_SHAPE_ONE_OBJECT:
      break;
    case JSON_SHAPE_NOT_OBJECT:
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s is not a JSON object", where);
      return NULL;
    case JSON_SHAPE_TRAILING:
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s has more than white space after its JSON object", where);
      return NULL;
    case JSON_SHAPE_TOO_DEEP:
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s nests deeper than %d levels", where,
                   SD_JSON_DEPTH_LIMIT);
      return NULL;
    case JSON_SHAPE_INVALID:
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s is not valid JSON: a comment, a "
                   "single-quoted string or mismatched brackets", where);
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &json_error))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s is not valid JSON: %s", where,
                   json_error->message);
      g_error_free (json_error);
      g_object_unref (parser);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s is not a JSON object", where);
      g_object_unref (parser);
      return NULL;
    }
  return parser;
}

JsonParser *
sd_json_object_load (const char *path, GError **error)
{
  GError *io_error = NULL;
  JsonParser *parser;
  char *text;
  gsize len, skip;

  if (!g_file_get_contents (path, &text, &len, &io_error))
    {
      g_set_error_literal (error, SD_ERROR, SD_ERROR_IO, io_error->message);
      g_error_free (io_error);
      return NULL;
    }
  /* some editors start a file with a UTF-8 byte order mark, which json-glib skips too */
  skip = len >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
  parser = sd_json_object_parse (text + skip, len - skip, path, error);
  g_free (text);
  return parser;
}

/* tokenizer_t5.c: T5's tokenizer.json pipeline as the tokenizers library runs it for
 * T5TokenizerFast: added tokens split off the raw text, each remaining part normalized
 * (Precompiled, Replace, Strip), pre-tokenized (WhitespaceSplit, Metaspace), segmented by the
 * Unigram model, then framed by the TemplateProcessing post-processor, truncated and padded. */
#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "json_object.h"
#include "precompiled_charsmap.h"
#include "scaledit.h"
#include "tokenizer_t5.h"
#include "unicode_text.h"
#include "unigram.h"

typedef enum { NORM_PRECOMPILED, NORM_REPLACE, NORM_STRIP } NormKind;

typedef struct {
  NormKind kind;
  SdCharsmap *charsmap;
  GRegex *regex;
  char *content;
  gboolean left, right;
} Norm;

typedef enum { PRE_WHITESPACE_SPLIT, PRE_METASPACE } PreKind;
typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } PrependScheme;

typedef struct {
  PreKind kind;
  char *replacement;
  PrependScheme prepend;
  gboolean split;
} Pre;

typedef struct {
  char *content;
  gint32 id;
  gboolean lstrip, rstrip, normalized;
} Added;

struct SdT5Tokenizer {
  char *path;
  GArray *norms;  /* Norm */
  GArray *pres;   /* Pre */
  GArray *added;  /* Added */
  SdUnigram *model;
  GArray *prefix, *suffix; /* gint32: the template's special tokens around the text */
  gint32 pad_id;
};

/* A pre-token: its text and its byte offset in the part it came from. */
typedef struct {
  char *text;
  gsize offset;
} Word;

static void
clear_norm (gpointer p)
{
  Norm *n = p;
  sd_charsmap_free (n->charsmap);
  if (n->regex)
    g_regex_unref (n->regex);
  g_free (n->content);
}

static void
clear_pre (gpointer p)
{
  g_free (((Pre *) p)->replacement);
}

static void
clear_added (gpointer p)
{
  g_free (((Added *) p)->content);
}

void
sd_t5_tokenizer_free (SdT5Tokenizer *tok)
{
  if (!tok)
    return;
  g_free (tok->path);
  g_clear_pointer (&tok->norms, g_array_unref);
  g_clear_pointer (&tok->pres, g_array_unref);
  g_clear_pointer (&tok->added, g_array_unref);
  g_clear_pointer (&tok->model, sd_unigram_free);
  g_clear_pointer (&tok->prefix, g_array_unref);
  g_clear_pointer (&tok->suffix, g_array_unref);
  g_free (tok);
}

/* ---- reading tokenizer.json ---- */

static gboolean
bad (GError **error, const char *path, const char *what)
{
  g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "T5 tokenizer %s: %s", path, what);
  return FALSE;
}

static const char *
get_string (JsonObject *obj, const char *name)
{
  JsonNode *n = json_object_get_member (obj, name);
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static gboolean
get_bool (JsonObject *obj, const char *name, gboolean fallback)
{
  JsonNode *n = json_object_get_member (obj, name);
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return fallback;
  return json_node_get_boolean (n);
}

static gboolean
get_int (JsonObject *obj, const char *name, gint64 *value)
{
  JsonNode *n = json_object_get_member (obj, name);
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (n);
  return TRUE;
}

static JsonObject *
get_object (JsonObject *obj, const char *name)
{
  JsonNode *n = json_object_get_member (obj, name);
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static JsonArray *
get_array (JsonObject *obj, const char *name)
{
  JsonNode *n = json_object_get_member (obj, name);
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static gboolean
load_normalizer (SdT5Tokenizer *tok, JsonNode *node, GError **error)
{
  JsonObject *obj;
  const char *type;
  Norm n = { 0 };

  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node) || !(type = get_string (obj = json_node_get_object (node), "type")))
    return bad (error, tok->path, "a normalizer has no type");
  if (!strcmp (type, "Sequence"))
    {
      JsonArray *list = get_array (obj, "normalizers");
      guint i;
      if (!list)
        return bad (error, tok->path, "a Sequence normalizer has no normalizers list");
      for (i = 0; i < json_array_get_length (list); i++)
        if (!load_normalizer (tok, json_array_get_element (list, i), error))
          return FALSE;
      return TRUE;
    }
  if (!strcmp (type, "Precompiled"))
    {
      const char *b64 = get_string (obj, "precompiled_charsmap");
      g_autoptr (GError) local = NULL;
      if (!b64)
        return bad (error, tok->path, "the Precompiled normalizer has no precompiled_charsmap");
      n.kind = NORM_PRECOMPILED;
      if (!(n.charsmap = sd_charsmap_new_from_base64 (b64, &local)))
        return bad (error, tok->path, local->message);
    }
  else if (!strcmp (type, "Replace"))
    {
      JsonObject *pattern = get_object (obj, "pattern");
      const char *regex = pattern ? get_string (pattern, "Regex") : NULL;
      const char *literal = pattern ? get_string (pattern, "String") : NULL;
      const char *content = get_string (obj, "content");
      g_autofree char *escaped = literal ? g_regex_escape_string (literal, -1) : NULL;
      g_autoptr (GError) local = NULL;

      if ((!regex && !literal) || !content)
        return bad (error, tok->path, "a Replace normalizer lacks its pattern or content");
      n.kind = NORM_REPLACE;
      if (!(n.regex = g_regex_new (regex ? regex : escaped, 0, 0, &local)))
        return bad (error, tok->path, local->message);
      n.content = g_strdup (content);
    }
  else if (!strcmp (type, "Strip"))
    {
      n.kind = NORM_STRIP;
      n.left = get_bool (obj, "strip_left", TRUE);
      n.right = get_bool (obj, "strip_right", TRUE);
    }
  else
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "T5 tokenizer %s: normalizer \"%s\" is not supported", tok->path, type);
      return FALSE;
    }
  g_array_append_val (tok->norms, n);
  return TRUE;
}

static gboolean
load_pre_tokenizer (SdT5Tokenizer *tok, JsonNode *node, GError **error)
{
  JsonObject *obj;
  const char *type;
  Pre pre = { 0 };

  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node) || !(type = get_string (obj = json_node_get_object (node), "type")))
    return bad (error, tok->path, "a pre_tokenizer has no type");
  if (!strcmp (type, "Sequence"))
    {
      JsonArray *list = get_array (obj, "pretokenizers");
      guint i;
      if (!list)
        return bad (error, tok->path, "a Sequence pre_tokenizer has no pretokenizers list");
      for (i = 0; i < json_array_get_length (list); i++)
        if (!load_pre_tokenizer (tok, json_array_get_element (list, i), error))
          return FALSE;
      return TRUE;
    }
  if (!strcmp (type, "WhitespaceSplit"))
    pre.kind = PRE_WHITESPACE_SPLIT;
  else if (!strcmp (type, "Metaspace"))
    {
      const char *replacement = get_string (obj, "replacement");
      const char *scheme = get_string (obj, "prepend_scheme");

      if (!replacement || g_utf8_strlen (replacement, -1) != 1)
        return bad (error, tok->path, "the Metaspace replacement is not one character");
      pre.kind = PRE_METASPACE;
      pre.split = get_bool (obj, "split", TRUE);
      if (!scheme)
        pre.prepend = get_bool (obj, "add_prefix_space", TRUE) ? PREPEND_ALWAYS : PREPEND_NEVER;
      else if (!strcmp (scheme, "always"))
        pre.prepend = PREPEND_ALWAYS;
      else if (!strcmp (scheme, "first"))
        pre.prepend = PREPEND_FIRST;
      else if (!strcmp (scheme, "never"))
        pre.prepend = PREPEND_NEVER;
      else
        return bad (error, tok->path, "unknown Metaspace prepend_scheme");
      pre.replacement = g_strdup (replacement);
    }
  else
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "T5 tokenizer %s: pre_tokenizer \"%s\" is not supported", tok->path, type);
      return FALSE;
    }
  g_array_append_val (tok->pres, pre);
  return TRUE;
}

static gboolean
load_model (SdT5Tokenizer *tok, JsonObject *model, GError **error)
{
  const char *type = model ? get_string (model, "type") : NULL;
  JsonArray *vocab = model ? get_array (model, "vocab") : NULL;
  gint64 unk_id;
  guint i, n;

  if (!type || strcmp (type, "Unigram"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "T5 tokenizer %s: the model is not a Unigram model", tok->path);
      return FALSE;
    }
  if (get_bool (model, "byte_fallback", FALSE))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "T5 tokenizer %s: byte_fallback is not supported", tok->path);
      return FALSE;
    }
  if (!vocab || (n = json_array_get_length (vocab)) == 0)
    return bad (error, tok->path, "the Unigram model has no vocab");
  if (!get_int (model, "unk_id", &unk_id) || unk_id < 0 || unk_id >= n)
    return bad (error, tok->path, "the Unigram model has no valid unk_id");
  tok->model = sd_unigram_new (unk_id);
  for (i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (vocab, i);
      JsonArray *pair = JSON_NODE_HOLDS_ARRAY (e) ? json_node_get_array (e) : NULL;
      JsonNode *piece, *score;
      GType st;

      if (!pair || json_array_get_length (pair) != 2
          || !JSON_NODE_HOLDS_VALUE (piece = json_array_get_element (pair, 0))
          || json_node_get_value_type (piece) != G_TYPE_STRING
          || !JSON_NODE_HOLDS_VALUE (score = json_array_get_element (pair, 1))
          || ((st = json_node_get_value_type (score)) != G_TYPE_DOUBLE && st != G_TYPE_INT64)
          || !isfinite (json_node_get_double (score)))
        {
          g_autofree char *what = g_strdup_printf ("vocab entry %u is not a [piece, finite score] pair", i);
          return bad (error, tok->path, what);
        }
      sd_unigram_add (tok->model, json_node_get_string (piece), json_node_get_double (score));
    }
  return TRUE;
}

static gboolean
load_added_tokens (SdT5Tokenizer *tok, JsonArray *list, GError **error)
{
  guint i;

  for (i = 0; list && i < json_array_get_length (list); i++)
    {
      JsonNode *e = json_array_get_element (list, i);
      JsonObject *obj = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      const char *content = obj ? get_string (obj, "content") : NULL;
      gint64 id;
      Added a;

      if (!content || !*content || !get_int (obj, "id", &id) || id < 0 || id > G_MAXINT32)
        return bad (error, tok->path, "an added token lacks its content or id");
      if (get_bool (obj, "single_word", FALSE))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                       "T5 tokenizer %s: single_word added tokens are not supported", tok->path);
          return FALSE;
        }
      a.content = g_strdup (content);
      a.id = id;
      a.lstrip = get_bool (obj, "lstrip", FALSE);
      a.rstrip = get_bool (obj, "rstrip", FALSE);
      a.normalized = get_bool (obj, "normalized", TRUE);
      g_array_append_val (tok->added, a);
    }
  return TRUE;
}

static gboolean
load_post_processor (SdT5Tokenizer *tok, JsonNode *node, GError **error)
{
  JsonObject *obj, *specials;
  JsonArray *single;
  const char *type;
  gboolean seen_a = FALSE;
  guint i, j;

  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node) || !(type = get_string (obj = json_node_get_object (node), "type"))
      || strcmp (type, "TemplateProcessing"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED,
                   "T5 tokenizer %s: only a TemplateProcessing post_processor is supported",
                   tok->path);
      return FALSE;
    }
  single = get_array (obj, "single");
  specials = get_object (obj, "special_tokens");
  if (!single || !specials)
    return bad (error, tok->path, "the TemplateProcessing post_processor lacks single or special_tokens");
  for (i = 0; i < json_array_get_length (single); i++)
    {
      JsonNode *e = json_array_get_element (single, i);
      JsonObject *item = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      JsonObject *special = item ? get_object (item, "SpecialToken") : NULL;
      const char *name = special ? get_string (special, "id") : NULL;
      JsonObject *entry = name ? get_object (specials, name) : NULL;
      JsonArray *ids = entry ? get_array (entry, "ids") : NULL;

      if (item && get_object (item, "Sequence"))
        {
          seen_a = TRUE;
          continue;
        }
      if (!ids)
        return bad (error, tok->path, "a template item is neither the sequence nor a known special token");
      for (j = 0; j < json_array_get_length (ids); j++)
        {
          JsonNode *n = json_array_get_element (ids, j);
          gint32 id;
          if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 0
              || json_node_get_int (n) > G_MAXINT32)
            return bad (error, tok->path, "a special token of the template has an id that is not a token id");
          id = (gint32) json_node_get_int (n);
          g_array_append_val (seen_a ? tok->suffix : tok->prefix, id);
        }
    }
  if (!seen_a)
    return bad (error, tok->path, "the single template has no sequence");
  return TRUE;
}

static gint32
token_id (SdT5Tokenizer *tok, const char *text)
{
  guint i;
  for (i = 0; i < tok->added->len; i++)
    if (!strcmp (g_array_index (tok->added, Added, i).content, text))
      return g_array_index (tok->added, Added, i).id;
  return sd_unigram_lookup (tok->model, text);
}

SdT5Tokenizer *
sd_t5_tokenizer_new (JsonObject *root, const char *name, const char *pad_token, GError **error)
{
  g_autoptr (SdT5Tokenizer) tok = g_new0 (SdT5Tokenizer, 1);

  tok->path = g_strdup (name);
  tok->norms = g_array_new (FALSE, TRUE, sizeof (Norm));
  g_array_set_clear_func (tok->norms, clear_norm);
  tok->pres = g_array_new (FALSE, TRUE, sizeof (Pre));
  g_array_set_clear_func (tok->pres, clear_pre);
  tok->added = g_array_new (FALSE, TRUE, sizeof (Added));
  g_array_set_clear_func (tok->added, clear_added);
  tok->prefix = g_array_new (FALSE, FALSE, sizeof (gint32));
  tok->suffix = g_array_new (FALSE, FALSE, sizeof (gint32));

  if (!load_model (tok, get_object (root, "model"), error)
      || !load_added_tokens (tok, get_array (root, "added_tokens"), error)
      || !load_normalizer (tok, json_object_get_member (root, "normalizer"), error)
      || !load_pre_tokenizer (tok, json_object_get_member (root, "pre_tokenizer"), error)
      || !load_post_processor (tok, json_object_get_member (root, "post_processor"), error))
    return NULL;
  if (!*pad_token || (tok->pad_id = token_id (tok, pad_token)) < 0)
    {
      g_autofree char *what = g_strdup_printf ("the padding token \"%s\" is not in the vocabulary", pad_token);
      bad (error, tok->path, what);
      return NULL;
    }
  return g_steal_pointer (&tok);
}

SdT5Tokenizer *
sd_t5_tokenizer_load (const char *path, GError **error)
{
  g_autofree char *file = g_file_test (path, G_FILE_TEST_IS_DIR) ? g_build_filename (path, "tokenizer.json", NULL)
                                                                   : g_strdup (path);
  g_autofree char *dir = g_path_get_dirname (file), *pad = NULL;
  g_autoptr (JsonParser) parser = sd_json_object_load (file, error);

  if (!parser)
    {
      g_prefix_error (error, "T5 tokenizer: ");
      return NULL;
    }
  if (!(pad = sd_tokenizer_special_token (dir, "pad_token", "<pad>", error)))
    return NULL;
  return sd_t5_tokenizer_new (json_node_get_object (json_parser_get_root (parser)), file, pad, error);
}

/* ---- encoding ---- */

/* The leftmost (then longest) added token in s[0..len) of the given normalized kind: its span,
 * widened over white space on the sides it strips; FALSE if none. */
static gboolean
find_added (SdT5Tokenizer *tok, const char *s, gsize len, gboolean normalized, gsize *start,
            gsize *end, gint32 *id)
{
  const Added *best = NULL;
  gsize best_at = 0, at, i;

  for (at = 0; at < len && !best; at++)
    for (i = 0; i < tok->added->len; i++)
      {
        const Added *a = &g_array_index (tok->added, Added, i);
        gsize n = strlen (a->content);
        if (a->normalized == normalized && n <= len - at && !memcmp (s + at, a->content, n)
            && (!best || n > strlen (best->content)))
          best = a, best_at = at;
      }
  if (!best)
    return FALSE;
  *start = best_at;
  *end = best_at + strlen (best->content);
  *id = best->id;
  if (best->lstrip)
    while (*start > 0)
      {
        const char *prev = g_utf8_find_prev_char (s, s + *start);
        if (!sd_unichar_is_white_space (g_utf8_get_char (prev)))
          break;
        *start = prev - s;
      }
  if (best->rstrip)
    while (*end < len && sd_unichar_is_white_space (g_utf8_get_char (s + *end)))
      *end = g_utf8_next_char (s + *end) - s;
  return TRUE;
}

static char *
normalize (SdT5Tokenizer *tok, const char *text)
{
  char *s = g_strdup (text);
  guint i;

  for (i = 0; i < tok->norms->len; i++)
    {
      const Norm *n = &g_array_index (tok->norms, Norm, i);
      char *next;

      if (n->kind == NORM_PRECOMPILED)
        next = sd_charsmap_normalize (n->charsmap, s);
      else if (n->kind == NORM_REPLACE)
        next = g_regex_replace_literal (n->regex, s, -1, 0, n->content, 0, NULL);
      else
        {
          const char *b = s, *e = s + strlen (s);
          while (n->left && b < e && sd_unichar_is_white_space (g_utf8_get_char (b)))
            b = g_utf8_next_char (b);
          while (n->right && e > b
                 && sd_unichar_is_white_space (g_utf8_get_char (g_utf8_find_prev_char (b, e))))
            e = g_utf8_find_prev_char (b, e);
          next = g_strndup (b, e - b);
        }
      g_free (s);
      s = next ? next : g_strdup ("");
    }
  return s;
}

static void
add_word (GArray *words, const char *text, gsize len, gsize offset)
{
  Word w = { g_strndup (text, len), offset };
  g_array_append_val (words, w);
}

static void
clear_word (gpointer p)
{
  g_free (((Word *) p)->text);
}

static GArray *
new_words (void)
{
  GArray *words = g_array_new (FALSE, FALSE, sizeof (Word));
  g_array_set_clear_func (words, clear_word);
  return words;
}

static void
whitespace_split (const Word *w, GArray *out)
{
  const char *p = w->text, *start = NULL;

  for (;; p = g_utf8_next_char (p))
    {
      gboolean space = !*p || sd_unichar_is_white_space (g_utf8_get_char (p));
      if (space && start)
        {
          add_word (out, start, p - start, w->offset + (start - w->text));
          start = NULL;
        }
      else if (!space && !start)
        start = p;
      if (!*p)
        break;
    }
}

/* Metaspace: spaces become the replacement, which is prepended as the scheme says; with split,
 * each replacement starts a new word (tokenizers' MergedWithNext). at_start: w begins the text. */
static void
metaspace (const Pre *pre, const Word *w, gboolean at_start, GArray *out)
{
  g_autoptr (GString) s = g_string_new (NULL);
  gsize rlen = strlen (pre->replacement), from = 0, i;
  const char *p;

  for (p = w->text; *p; p++)
    if (*p == ' ')
      g_string_append (s, pre->replacement);
    else
      g_string_append_c (s, *p);
  if (!g_str_has_prefix (s->str, pre->replacement)
      && (pre->prepend == PREPEND_ALWAYS
          || (pre->prepend == PREPEND_FIRST && at_start && w->offset == 0)))
    g_string_prepend (s, pre->replacement);
  if (!pre->split)
    {
      add_word (out, s->str, s->len, w->offset);
      return;
    }
  for (i = 1; i <= s->len; i++)
    if (i == s->len || (s->len - i >= rlen && !memcmp (s->str + i, pre->replacement, rlen)))
      {
        add_word (out, s->str + from, i - from, w->offset + from);
        from = i;
      }
}

/* Pre-tokenizes and segments one normalized part free of added tokens. */
static void
encode_part (SdT5Tokenizer *tok, const char *text, gboolean at_start, GArray *ids)
{
  g_autoptr (GArray) words = new_words ();
  guint i, j;

  if (!*text)
    return;
  add_word (words, text, strlen (text), 0);
  for (i = 0; i < tok->pres->len; i++)
    {
      const Pre *pre = &g_array_index (tok->pres, Pre, i);
      g_autoptr (GArray) next = new_words ();
      for (j = 0; j < words->len; j++)
        {
          const Word *w = &g_array_index (words, Word, j);
          if (pre->kind == PRE_WHITESPACE_SPLIT)
            whitespace_split (w, next);
          else
            metaspace (pre, w, at_start, next);
        }
      g_array_unref (words);
      words = g_steal_pointer (&next);
    }
  for (j = 0; j < words->len; j++)
    sd_unigram_encode (tok->model, g_array_index (words, Word, j).text, ids);
}

/* A raw part free of non-normalized added tokens: normalize, then split off normalized ones. */
static void
encode_raw_part (SdT5Tokenizer *tok, const char *raw, gsize len, gboolean at_start, GArray *ids)
{
  g_autofree char *part = g_strndup (raw, len);
  g_autofree char *norm = normalize (tok, part);
  gsize pos = 0, n = strlen (norm), start, end;
  gint32 id;

  while (find_added (tok, norm + pos, n - pos, TRUE, &start, &end, &id))
    {
      g_autofree char *piece = g_strndup (norm + pos, start);
      encode_part (tok, piece, at_start && pos == 0, ids);
      g_array_append_val (ids, id);
      pos += end;
    }
  encode_part (tok, norm + pos, at_start && pos == 0, ids);
}

SdTokens *
sd_t5_tokenizer_encode (SdT5Tokenizer *tok, const char *text, int max_length, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  gsize pos = 0, len = strlen (text), start, end;
  gint32 id;

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "the prompt is not valid UTF-8");
      return NULL;
    }
  while (find_added (tok, text + pos, len - pos, FALSE, &start, &end, &id))
    {
      if (start > 0)
        encode_raw_part (tok, text + pos, start, pos == 0, ids);
      g_array_append_val (ids, id);
      pos += end;
    }
  if (pos < len)
    encode_raw_part (tok, text + pos, len - pos, pos == 0, ids);
  return sd_tokens_build ((gint32 *) tok->prefix->data, tok->prefix->len, ids,
                          (gint32 *) tok->suffix->data, tok->suffix->len, max_length, tok->pad_id,
                          error);
}

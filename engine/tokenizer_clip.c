/* tokenizer_clip.c: CLIP's BPE tokenizer as transformers' slow CLIPTokenizer runs it without ftfy:
 * special tokens split off first, then BasicTokenizer's clean-up (control characters dropped,
 * whitespace unified, spaces around CJK ideographs, NFC, Python's lower-casing), CLIP's
 * pre-tokenizer pattern, byte-to-unicode mapping and BPE merges by rank with </w> word ends. */
#include <string.h>

#include <json-glib/json-glib.h>

#include "json_object.h"
#include "scaledit.h"
#include "tokenizer_clip.h"
#include "unicode_text.h"

/* transformers reads merges.txt lines 1 .. 49152 - 256 - 2 (after the "#version" line) */
#define MAX_MERGES (49152 - 256 - 2)

typedef struct {
  char *text;
  gint32 id;
} Special;

struct SdClipTokenizer {
  GHashTable *vocab;  /* token -> id (GINT_TO_POINTER (id + 1)) */
  GHashTable *ranks;  /* "first second" -> rank + 1 */
  char byte_text[256][3]; /* UTF-8 of the character each byte maps to */
  gint32 bos_id, eos_id, pad_id, unk_id;
  gint32 sot_id, eot_id;  /* ids of the literal <|startoftext|> and <|endoftext|> words */
  GArray *specials;       /* Special: token texts split off before clean-up */
};

static gboolean
vocab_lookup (SdClipTokenizer *tok, const char *text, gint32 *id)
{
  gpointer v = g_hash_table_lookup (tok->vocab, text);
  if (!v)
    return FALSE;
  *id = GPOINTER_TO_INT (v) - 1;
  return TRUE;
}

/* GPT-2's reversible byte-to-unicode table: printable bytes map to themselves, the others to
 * U+0100 onwards in byte order. */
static void
init_byte_text (SdClipTokenizer *tok)
{
  int b, n = 0;
  for (b = 0; b < 256; b++)
    {
      gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      gunichar c = printable ? (gunichar) b : 256 + n++;
      int len = g_unichar_to_utf8 (c, tok->byte_text[b]);
      tok->byte_text[b][len] = '\0';
    }
}

static gboolean
load_vocab (SdClipTokenizer *tok, JsonObject *obj, const char *name, GError **error)
{
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &value))
    {
      gint64 id;
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_INT64
          || (id = json_node_get_int (value)) < 0 || id >= G_MAXINT32)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "CLIP vocabulary %s: token \"%s\" has no valid id", name, key);
          return FALSE;
        }
      g_hash_table_insert (tok->vocab, g_strdup (key), GINT_TO_POINTER ((int) id + 1));
    }
  return TRUE;
}

static gboolean
load_merges (SdClipTokenizer *tok, const char *text, gsize len, const char *name, GError **error)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  gsize i, n;

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "CLIP merges %s: not UTF-8 text", name);
      return FALSE;
    }
  contents = g_strndup (text, len);
  g_strstrip (contents);
  lines = g_strsplit (contents, "\n", -1);
  n = g_strv_length (lines);
  for (i = 1; i < n && i <= MAX_MERGES; i++)
    {
      g_auto (GStrv) fields = g_strsplit_set (lines[i], " \t\r\v\f", -1);
      const char *pair[2];
      int j, n_fields = 0;

      for (j = 0; fields[j]; j++)
        if (*fields[j] && n_fields++ < 2)
          pair[n_fields - 1] = fields[j];
      if (n_fields != 2)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "CLIP merges %s: line %" G_GSIZE_FORMAT " is not a pair of symbols", name, i + 1);
          return FALSE;
        }
      g_hash_table_insert (tok->ranks, g_strdup_printf ("%s %s", pair[0], pair[1]),
                           GSIZE_TO_POINTER (i));
    }
  return TRUE;
}

/* Looks up special token `key` (its text, or fallback when NULL) in the vocabulary. */
static gboolean
special_id (SdClipTokenizer *tok, const char *text, const char *key, const char *fallback,
            const char *vocab_name, gint32 *id, GError **error)
{
  Special sp;

  if (!text)
    text = fallback;
  /* an empty text would match before every character, forever */
  if (!*text)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "CLIP tokenizer: special token %s is empty", key);
      return FALSE;
    }
  if (!vocab_lookup (tok, text, id))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "CLIP vocabulary %s has no %s \"%s\"",
                   vocab_name, key, text);
      return FALSE;
    }
  sp.text = g_strdup (text);
  sp.id = *id;
  g_array_append_val (tok->specials, sp);
  return TRUE;
}

static void
clear_special (gpointer p)
{
  g_free (((Special *) p)->text);
}

SdClipTokenizer *
sd_clip_tokenizer_new (JsonObject *vocab, const char *vocab_name, const char *merges, gsize merges_len,
                       const char *merges_name, const SdClipSpecialTokens *specials, GError **error)
{
  g_autoptr (SdClipTokenizer) tok = g_new0 (SdClipTokenizer, 1);

  tok->vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tok->ranks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tok->specials = g_array_new (FALSE, FALSE, sizeof (Special));
  g_array_set_clear_func (tok->specials, clear_special);
  init_byte_text (tok);
  if (!load_vocab (tok, vocab, vocab_name, error) || !load_merges (tok, merges, merges_len, merges_name, error))
    return NULL;
  if (!special_id (tok, specials->bos, "bos_token", "<|startoftext|>", vocab_name, &tok->bos_id, error)
      || !special_id (tok, specials->eos, "eos_token", "<|endoftext|>", vocab_name, &tok->eos_id, error)
      || !special_id (tok, specials->unk, "unk_token", "<|endoftext|>", vocab_name, &tok->unk_id, error)
      || !special_id (tok, specials->pad, "pad_token", "<|endoftext|>", vocab_name, &tok->pad_id, error))
    return NULL;
  if (!vocab_lookup (tok, "<|startoftext|>", &tok->sot_id))
    tok->sot_id = tok->unk_id;
  if (!vocab_lookup (tok, "<|endoftext|>", &tok->eot_id))
    tok->eot_id = tok->unk_id;
  return g_steal_pointer (&tok);
}

SdClipTokenizer *
sd_clip_tokenizer_load (const char *dir, GError **error)
{
  g_autofree char *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename (dir, "merges.txt", NULL);
  g_autofree char *merges = NULL, *bos = NULL, *eos = NULL, *unk = NULL, *pad = NULL;
  g_autoptr (JsonParser) vocab = NULL;
  g_autoptr (GError) local = NULL;
  SdClipSpecialTokens specials;
  gsize merges_len;

  if (!(vocab = sd_json_object_load (vocab_path, error)))
    {
      g_prefix_error (error, "CLIP vocabulary: ");
      return NULL;
    }
  if (!g_file_get_contents (merges_path, &merges, &merges_len, &local))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "CLIP merges %s", local->message);
      return NULL;
    }
  if (!(bos = sd_tokenizer_special_token (dir, "bos_token", "<|startoftext|>", error))
      || !(eos = sd_tokenizer_special_token (dir, "eos_token", "<|endoftext|>", error))
      || !(unk = sd_tokenizer_special_token (dir, "unk_token", "<|endoftext|>", error))
      || !(pad = sd_tokenizer_special_token (dir, "pad_token", "<|endoftext|>", error)))
    return NULL;
  specials = (SdClipSpecialTokens) { bos, eos, unk, pad };
  return sd_clip_tokenizer_new (json_node_get_object (json_parser_get_root (vocab)), vocab_path, merges,
                                merges_len, merges_path, &specials, error);
}

void
sd_clip_tokenizer_free (SdClipTokenizer *tok)
{
  if (!tok)
    return;
  if (tok->vocab)
    g_hash_table_unref (tok->vocab);
  if (tok->ranks)
    g_hash_table_unref (tok->ranks);
  if (tok->specials)
    g_array_unref (tok->specials);
  g_free (tok);
}

/* ---- BasicTokenizer's clean-up ---- */

static gboolean
is_python_space (gunichar c)
{
  return sd_unichar_is_white_space (c) || (c >= 0x1C && c <= 0x1F);
}

static gboolean
is_cjk (gunichar c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
         || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
         || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
         || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* _clean_text and _tokenize_chinese_chars: drops NUL, U+FFFD and category C* (but \t \n \r),
 * turns \t \n \r and Zs into spaces, puts spaces around CJK ideographs. */
static char *
clean_text (const char *text)
{
  GString *out = g_string_new (NULL);
  const char *p;

  for (p = text; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      GUnicodeType t = g_unichar_type (c);
      gboolean tab_nl = c == '\t' || c == '\n' || c == '\r';

      if (c == 0xFFFD)
        continue;
      if (!tab_nl && (t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT || t == G_UNICODE_UNASSIGNED
                      || t == G_UNICODE_PRIVATE_USE || t == G_UNICODE_SURROGATE))
        continue;
      if (tab_nl || c == ' ' || t == G_UNICODE_SPACE_SEPARATOR)
        g_string_append_c (out, ' ');
      else if (is_cjk (c))
        {
          g_string_append_c (out, ' ');
          g_string_append_unichar (out, c);
          g_string_append_c (out, ' ');
        }
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* Other_Lowercase and Other_Uppercase: cased characters outside Ll, Lu and Lt. */
static const gunichar other_cased[][2] = {
  { 0x00AA, 0x00AA }, { 0x00BA, 0x00BA }, { 0x02B0, 0x02B8 }, { 0x02C0, 0x02C1 },
  { 0x02E0, 0x02E4 }, { 0x0345, 0x0345 }, { 0x037A, 0x037A }, { 0x1D2C, 0x1D6A },
  { 0x1D78, 0x1D78 }, { 0x1D9B, 0x1DBF }, { 0x2071, 0x2071 }, { 0x207F, 0x207F },
  { 0x2090, 0x209C }, { 0x2160, 0x217F }, { 0x24B6, 0x24E9 }, { 0x2C7C, 0x2C7D },
  { 0xA69C, 0xA69D }, { 0xA770, 0xA770 }, { 0xA7F8, 0xA7F9 }, { 0xAB5C, 0xAB5F },
  { 0x10780, 0x10780 }, { 0x10783, 0x10785 }, { 0x10787, 0x107B0 }, { 0x107B2, 0x107BA },
  { 0x1F130, 0x1F149 }, { 0x1F150, 0x1F169 }, { 0x1F170, 0x1F189 },
};

/* The Cased property, as Python's final-sigma rule tests it. */
static gboolean
is_cased (gunichar c)
{
  GUnicodeType t = g_unichar_type (c);
  gsize i;

  if (t == G_UNICODE_LOWERCASE_LETTER || t == G_UNICODE_UPPERCASE_LETTER
      || t == G_UNICODE_TITLECASE_LETTER)
    return TRUE;
  for (i = 0; i < G_N_ELEMENTS (other_cased); i++)
    if (c >= other_cased[i][0] && c <= other_cased[i][1])
      return TRUE;
  return FALSE;
}

static gboolean
is_case_ignorable (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      break;
    }
  /* Word_Break MidLetter, MidNumLet and Single_Quote */
  switch (c)
    {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55:
    case 0xFF07: case 0xFF0E: case 0xFF1A:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Python's str.lower(): full lower-case mapping (U+0130 becomes i + U+0307) and the final-sigma
 * rule for U+03A3. */
static void
append_lower (GString *out, const gunichar *s, glong n)
{
  glong i, j;

  for (i = 0; i < n; i++)
    {
      gunichar c = s[i];
      if (c == 0x130)
        g_string_append (out, "i\xcc\x87");
      else if (c == 0x3A3)
        {
          gboolean final = FALSE;
          for (j = i - 1; j >= 0 && is_case_ignorable (s[j]); j--)
            ;
          if (j >= 0 && is_cased (s[j]))
            {
              for (j = i + 1; j < n && is_case_ignorable (s[j]); j++)
                ;
              final = j == n || !is_cased (s[j]);
            }
          g_string_append_unichar (out, final ? 0x3C2 : 0x3C3);
        }
      else if (c >= 0x2160 && c <= 0x216F) /* Roman numerals (Nl): GLib maps letters only */
        g_string_append_unichar (out, c + 0x10);
      else if (c >= 0x24B6 && c <= 0x24CF) /* circled capital letters (So) */
        g_string_append_unichar (out, c + 0x1A);
      else
        g_string_append_unichar (out, g_unichar_tolower (c));
    }
}

/* ---- CLIP's pre-tokenizer pattern and BPE ---- */

static gboolean
is_letter (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_number (gunichar c)
{
  GUnicodeType t = g_unichar_type (c);
  return t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER
         || t == G_UNICODE_OTHER_NUMBER;
}

/* Case-insensitive match of an ASCII letter as the pattern's IGNORECASE does it (simple case
 * folding: U+017F long s folds to s). */
static const char *
match_folded (const char *p, const char *lower)
{
  for (; *lower; lower++)
    {
      gunichar c = g_utf8_get_char (p);
      if (!(c == (gunichar) *lower || c == (gunichar) g_ascii_toupper (*lower)
            || (*lower == 's' && c == 0x17F)))
        return NULL;
      p = g_utf8_next_char (p);
    }
  return p;
}

/* The end of the pattern's match at p (p is not at a space), as the alternation
 * <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * tries it; NULL where nothing matches (a space). */
static const char *
match_piece (const char *p)
{
  static const char *const contractions[] = { "s", "t", "re", "ve", "m", "ll", "d" };
  gunichar c = g_utf8_get_char (p);
  gsize i;

  if (g_str_has_prefix (p, "<|startoftext|>"))
    return p + strlen ("<|startoftext|>");
  if (g_str_has_prefix (p, "<|endoftext|>"))
    return p + strlen ("<|endoftext|>");
  if (c == '\'')
    for (i = 0; i < G_N_ELEMENTS (contractions); i++)
      {
        const char *end = match_folded (p + 1, contractions[i]);
        if (end)
          return end;
      }
  if (is_letter (c))
    {
      while (*p && is_letter (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      return p;
    }
  if (is_number (c))
    return g_utf8_next_char (p);
  if (sd_unichar_is_white_space (c))
    return NULL;
  while (*p)
    {
      c = g_utf8_get_char (p);
      if (sd_unichar_is_white_space (c) || is_letter (c) || is_number (c))
        break;
      p = g_utf8_next_char (p);
    }
  return p;
}

/* Byte-pair encodes one piece (its UTF-8 bytes) and appends the ids. */
static void
bpe (SdClipTokenizer *tok, const char *piece, gsize len, GArray *ids)
{
  g_autoptr (GPtrArray) word = g_ptr_array_new_with_free_func (g_free);
  GString *key = g_string_new (NULL);
  gsize i;

  for (i = 0; i < len; i++)
    {
      const char *t = tok->byte_text[(guchar) piece[i]];
      g_ptr_array_add (word, i + 1 < len ? g_strdup (t) : g_strconcat (t, "</w>", NULL));
    }
  while (word->len > 1)
    {
      gsize best = G_MAXSIZE, r;
      const char *first = NULL, *second = NULL;
      g_autoptr (GPtrArray) merged = NULL;

      for (i = 0; i + 1 < word->len; i++)
        {
          g_string_printf (key, "%s %s", (char *) word->pdata[i], (char *) word->pdata[i + 1]);
          r = GPOINTER_TO_SIZE (g_hash_table_lookup (tok->ranks, key->str));
          if (r && r < best)
            {
              best = r;
              first = word->pdata[i];
              second = word->pdata[i + 1];
            }
        }
      if (best == G_MAXSIZE)
        break;
      merged = g_ptr_array_new_with_free_func (g_free);
      for (i = 0; i < word->len;)
        {
          if (i + 1 < word->len && !strcmp (word->pdata[i], first)
              && !strcmp (word->pdata[i + 1], second))
            {
              g_ptr_array_add (merged, g_strconcat (first, second, NULL));
              i += 2;
            }
          else
            g_ptr_array_add (merged, g_strdup (word->pdata[i++]));
        }
      g_ptr_array_unref (word);
      word = g_steal_pointer (&merged);
    }
  for (i = 0; i < word->len; i++)
    {
      gint32 id;
      if (!vocab_lookup (tok, word->pdata[i], &id))
        id = tok->unk_id;
      g_array_append_val (ids, id);
    }
  g_string_free (key, TRUE);
}

/* One lower-cased whitespace-free word: pattern pieces, then BPE. */
static void
encode_word (SdClipTokenizer *tok, const char *word, GArray *ids)
{
  const char *p = word;

  while (*p)
    {
      const char *end = match_piece (p);
      if (!end)
        {
          p = g_utf8_next_char (p);
          continue;
        }
      if (end - p == strlen ("<|startoftext|>") && !strncmp (p, "<|startoftext|>", end - p))
        g_array_append_val (ids, tok->sot_id);
      else if (end - p == strlen ("<|endoftext|>") && !strncmp (p, "<|endoftext|>", end - p))
        g_array_append_val (ids, tok->eot_id);
      else
        bpe (tok, p, end - p, ids);
      p = end;
    }
}

/* _tokenize on text between special tokens. */
static void
encode_segment (SdClipTokenizer *tok, const char *text, gsize len, GArray *ids)
{
  g_autofree char *segment = g_strndup (text, len);
  g_autofree char *cleaned = clean_text (segment);
  g_autofree char *nfc = g_utf8_normalize (cleaned, -1, G_NORMALIZE_NFC);
  const char *p = nfc;

  while (*p)
    {
      const char *start;
      glong n;
      g_autofree gunichar *chars = NULL;
      g_autoptr (GString) lower = g_string_new (NULL);

      while (*p && is_python_space (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      if (!*p)
        break;
      start = p;
      while (*p && !is_python_space (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      chars = g_utf8_to_ucs4_fast (start, p - start, &n);
      append_lower (lower, chars, n);
      encode_word (tok, lower->str, ids);
    }
}

SdTokens *
sd_clip_tokenizer_encode (SdClipTokenizer *tok, const char *text, int max_length, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  const char *p = text;

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT, "the prompt is not valid UTF-8");
      return NULL;
    }
  /* special tokens first: the leftmost match, the longest one where several start there */
  while (*p)
    {
      const char *best = NULL;
      const Special *best_sp = NULL;
      guint i;

      for (i = 0; i < tok->specials->len; i++)
        {
          const Special *sp = &g_array_index (tok->specials, Special, i);
          const char *at = strstr (p, sp->text);
          if (at && (!best || at < best || (at == best && strlen (sp->text) > strlen (best_sp->text))))
            best = at, best_sp = sp;
        }
      if (!best)
        {
          encode_segment (tok, p, strlen (p), ids);
          break;
        }
      encode_segment (tok, p, best - p, ids);
      g_array_append_val (ids, best_sp->id);
      p = best + strlen (best_sp->text);
    }
  return sd_tokens_build (&tok->bos_id, 1, ids, &tok->eos_id, 1, max_length, tok->pad_id, error);
}

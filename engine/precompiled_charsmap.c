/* precompiled_charsmap.c: reading and applying SentencePiece's precompiled char map. */
#include <string.h>

#include "precompiled_charsmap.h"
#include "scaledit.h"
#include "unicode_text.h"

struct SdCharsmap {
  guint32 *units;    /* the double array */
  gsize n_units;
  char *normalized;  /* NUL-separated replacement strings, NUL-terminated */
  gsize normalized_len;
};

SdCharsmap *
sd_charsmap_new_from_base64 (const char *base64, GError **error)
{
  gsize len = 0, i;
  g_autofree guchar *blob = g_base64_decode (base64, &len);
  guint32 trie_bytes;
  SdCharsmap *cm;

  if (len < 8)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "precompiled_charsmap: %" G_GSIZE_FORMAT
                   " bytes is too short", len);
      return NULL;
    }
  trie_bytes = GUINT32_FROM_LE (*(guint32 *) blob);
  if (trie_bytes == 0 || trie_bytes % 4 != 0 || trie_bytes > len - 4)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "precompiled_charsmap: trie size %u does not "
                   "fit its %" G_GSIZE_FORMAT " bytes", trie_bytes, len);
      return NULL;
    }
  cm = g_new0 (SdCharsmap, 1);
  cm->n_units = trie_bytes / 4;
  cm->units = g_new (guint32, cm->n_units);
  for (i = 0; i < cm->n_units; i++)
    {
      guint32 u;
      memcpy (&u, blob + 4 + 4 * i, 4);
      cm->units[i] = GUINT32_FROM_LE (u);
    }
  cm->normalized_len = len - 4 - trie_bytes;
  cm->normalized = g_malloc (cm->normalized_len + 1);
  memcpy (cm->normalized, blob + 4 + trie_bytes, cm->normalized_len);
  cm->normalized[cm->normalized_len] = '\0';
  for (i = 0; i < cm->normalized_len; i += strlen (cm->normalized + i) + 1)
    if (!g_utf8_validate (cm->normalized + i, -1, NULL))
      break;
  if (i < cm->normalized_len)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "precompiled_charsmap: the replacement strings are not valid UTF-8");
      sd_charsmap_free (cm);
      return NULL;
    }
  return cm;
}

void
sd_charsmap_free (SdCharsmap *cm)
{
  if (!cm)
    return;
  g_free (cm->units);
  g_free (cm->normalized);
  g_free (cm);
}

/* darts-clone unit fields */
static inline gboolean unit_has_leaf (guint32 u) { return (u >> 8) & 1; }
static inline guint32 unit_value (guint32 u) { return u & 0x7fffffffu; }
static inline guint32 unit_label (guint32 u) { return u & 0x800000ffu; }
static inline guint32 unit_offset (guint32 u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

const char *
sd_charsmap_transform (const SdCharsmap *cm, const char *s, gsize len)
{
  gsize pos = unit_offset (cm->units[0]), i;

  for (i = 0; i < len && s[i] != '\0'; i++)
    {
      guchar c = (guchar) s[i];
      guint32 u;

      pos ^= c;
      if (pos >= cm->n_units)
        return NULL;
      u = cm->units[pos];
      if (unit_label (u) != c)
        return NULL;
      pos ^= unit_offset (u);
      if (unit_has_leaf (u))
        {
          guint32 value;
          if (pos >= cm->n_units)
            return NULL;
          value = unit_value (cm->units[pos]);
          return value < cm->normalized_len ? cm->normalized + value : "";
        }
    }
  return NULL;
}

char *
sd_charsmap_normalize (const SdCharsmap *cm, const char *text)
{
  gsize len = strlen (text), pos = 0;
  GString *out = g_string_sized_new (len);

  while (pos < len)
    {
      gsize end = sd_grapheme_end (text, len, pos);
      const char *rep = NULL;

      if (end - pos < 6)
        rep = sd_charsmap_transform (cm, text + pos, end - pos);
      if (rep)
        g_string_append (out, rep);
      else
        while (pos < end)
          {
            gsize n = g_utf8_next_char (text + pos) - (text + pos);
            rep = sd_charsmap_transform (cm, text + pos, n);
            if (rep)
              g_string_append (out, rep);
            else
              g_string_append_len (out, text + pos, n);
            pos += n;
          }
      pos = end;
    }
  return g_string_free (out, FALSE);
}

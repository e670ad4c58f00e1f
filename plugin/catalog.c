/* catalog.c: the plug-in's message lookup. gettext does it where the message locale names a
 * language; glibc's gettext ignores LANGUAGE under a C or C.UTF-8 locale (what a headless
 * GIMP, CI and many containers run with), so there the first catalog of the languages LANGUAGE
 * lists is read directly (GNU .mo format: header, two tables of length/offset pairs). */
#include <libintl.h>
#include <locale.h>
#include <string.h>

#include "catalog.h"

#define MO_MAGIC 0x950412deu

static GHashTable *own_catalog; /* msgid → msgstr, or NULL: gettext decides */

static guint32
read_u32 (const guint8 *p, gboolean swap)
{
  guint32 v;
  memcpy (&v, p, 4);
  return swap ? GUINT32_SWAP_LE_BE (v) : v;
}

/* Reads a .mo file into a table; NULL when it is missing or malformed. */
static GHashTable *
load_mo (const char *path)
{
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, NULL);
  const guint8 *data;
  gsize size;
  guint32 n, orig, trans, i;
  gboolean swap;
  GHashTable *table;

  if (!file || (size = g_mapped_file_get_length (file)) < 28)
    return NULL;
  data = (const guint8 *) g_mapped_file_get_contents (file);
  if (read_u32 (data, FALSE) == MO_MAGIC)
    swap = FALSE;
  else if (read_u32 (data, TRUE) == MO_MAGIC)
    swap = TRUE;
  else
    return NULL;
  n = read_u32 (data + 8, swap);
  orig = read_u32 (data + 12, swap);
  trans = read_u32 (data + 16, swap);
  if (orig > size || trans > size || n > (size - orig) / 8 || n > (size - trans) / 8)
    return NULL;
  table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (i = 0; i < n; i++)
    {
      guint32 ol = read_u32 (data + orig + 8 * i, swap), oo = read_u32 (data + orig + 8 * i + 4, swap);
      guint32 tl = read_u32 (data + trans + 8 * i, swap), to = read_u32 (data + trans + 8 * i + 4, swap);
      if (oo > size || ol >= size - oo || to > size || tl >= size - to)
        {
          g_hash_table_destroy (table);
          return NULL;
        }
      if (ol > 0) /* entry 0 with the empty msgid is the header */
        g_hash_table_insert (table, g_strndup ((const char *) data + oo, ol),
                             g_strndup ((const char *) data + to, tl));
    }
  return table;
}

static gboolean
c_like (const char *locale)
{
  return !locale || g_str_equal (locale, "C") || g_str_equal (locale, "POSIX")
         || g_str_has_prefix (locale, "C.");
}

void
sd_catalog_init (const char *locale_dir)
{
  const char *language = g_getenv ("LANGUAGE");
  const char *const *names;

  bindtextdomain (GETTEXT_PACKAGE, locale_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_clear_pointer (&own_catalog, g_hash_table_destroy);
  if (!language || !*language || !c_like (setlocale (LC_MESSAGES, NULL)))
    return;
  /* g_get_language_names honours LANGUAGE whatever the locale: "de", ..., "C" */
  for (names = g_get_language_names (); *names && !own_catalog; names++)
    {
      g_autofree char *mo = NULL;
      if (c_like (*names))
        break;
      mo = g_build_filename (locale_dir, *names, "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
      own_catalog = load_mo (mo);
    }
}

const char *
sd_gettext (const char *msgid)
{
  if (own_catalog)
    {
      const char *s = g_hash_table_lookup (own_catalog, msgid);
      return s && *s ? s : msgid;
    }
  return g_dgettext (GETTEXT_PACKAGE, msgid);
}

/* safetensors.c: the safetensors reader (mmap, header validation, sharded index.json), tensor
 * loading onto a backend, and the f32 writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "dtype.h"
#include "json_object.h"
#include "safetensors.h"
#include "scaledit.h"

/* Tensor data is read and written in host order; the format is little-endian. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define HEADER_LIMIT ((guint64) 100 * 1000 * 1000)

struct SdTensorFile {
  char *path;
  GMappedFile *map;      /* the mapping of a single file; NULL for parsed bytes and an index */
  GPtrArray *shards;     /* SdTensorFile of an index's shards; NULL for a single file */
  GStringChunk *names;   /* tensor names of a single file */
  GArray *tensors;       /* SdTensorInfo, sorted by name */
  GHashTable *by_name;   /* name -> position in tensors + 1 */
  GHashTable *metadata;  /* key -> value, both owned */
};

static const struct {
  const char *name;
  gsize size;
} dtypes[] = {
  [SD_ST_BOOL] = { "BOOL", 1 },  [SD_ST_U8] = { "U8", 1 },     [SD_ST_I8] = { "I8", 1 },
  [SD_ST_I16] = { "I16", 2 },    [SD_ST_U16] = { "U16", 2 },   [SD_ST_I32] = { "I32", 4 },
  [SD_ST_U32] = { "U32", 4 },    [SD_ST_I64] = { "I64", 8 },   [SD_ST_U64] = { "U64", 8 },
  [SD_ST_F16] = { "F16", 2 },    [SD_ST_BF16] = { "BF16", 2 }, [SD_ST_F32] = { "F32", 4 },
  [SD_ST_F64] = { "F64", 8 },    [SD_ST_F8_E4M3] = { "F8_E4M3", 1 },
  [SD_ST_F8_E5M2] = { "F8_E5M2", 1 },
};

const char *
sd_st_dtype_name (SdStDType dtype)
{
  return (guint) dtype < G_N_ELEMENTS (dtypes) ? dtypes[dtype].name : "?";
}

static gboolean
is_float (SdStDType dtype)
{
  switch (dtype)
    {
    case SD_ST_F16:
    case SD_ST_BF16:
    case SD_ST_F32:
    case SD_ST_F64:
    case SD_ST_F8_E4M3:
    case SD_ST_F8_E5M2:
      return TRUE;
    default:
      return FALSE;
    }
}

static char *
shape_string (int ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");
  int i;
  for (i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static SdTensorFile *
tensor_file_new (const char *path)
{
  SdTensorFile *tf = g_new0 (SdTensorFile, 1);
  tf->path = g_strdup (path);
  tf->tensors = g_array_new (FALSE, TRUE, sizeof (SdTensorInfo));
  tf->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  tf->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return tf;
}

void
sd_tensors_close (SdTensorFile *tf)
{
  if (!tf)
    return;
  if (tf->shards)
    g_ptr_array_free (tf->shards, TRUE);
  if (tf->map)
    g_mapped_file_unref (tf->map);
  if (tf->names)
    g_string_chunk_free (tf->names);
  g_array_free (tf->tensors, TRUE);
  g_hash_table_destroy (tf->by_name);
  g_hash_table_destroy (tf->metadata);
  g_free (tf->path);
  g_free (tf);
}

/* Parses `text` as one JSON object; the root node is returned (free with json_node_unref). */
static JsonNode *
parse_json_object (const char *file, const char *what, const char *text, gsize len,
                   GError **error)
{
  char *where = g_strdup_printf ("%s: %s", file, what);
  JsonParser *parser = sd_json_object_parse (text, len, where, error);
  JsonNode *root = NULL;

  if (parser)
    {
      root = json_node_ref (json_parser_get_root (parser));
      g_object_unref (parser);
    }
  g_free (where);
  return root;
}

static gboolean
node_is_int (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* Reads the entry of tensor `name` into t (all but name, data and file). The data section holds
 * data_len bytes; *begin and *end receive the offsets. */
static gboolean
parse_entry (const char *file, const char *name, JsonNode *node, gsize data_len,
             SdTensorInfo *t, guint64 *begin, guint64 *end, GError **error)
{
  JsonObject *obj;
  JsonNode *member;
  JsonArray *arr;
  const char *dtype_name;
  guint i, n;
  gsize size;
  gint64 off[2];
  char *shape_str;
  gboolean overflow;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: tensor \"%s\": entry is not a JSON object",
                   file, name);
      return FALSE;
    }
  obj = json_node_get_object (node);

  member = json_object_get_member (obj, "dtype");
  if (!member || !node_is_string (member))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: tensor \"%s\": no dtype string", file,
                   name);
      return FALSE;
    }
  dtype_name = json_node_get_string (member);
  for (i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (g_str_equal (dtype_name, dtypes[i].name))
      break;
  if (i == G_N_ELEMENTS (dtypes))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"",
                   file, name, dtype_name);
      return FALSE;
    }
  t->dtype = (SdStDType) i;

  member = json_object_get_member (obj, "shape");
  if (!member || !JSON_NODE_HOLDS_ARRAY (member))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: tensor \"%s\": no shape array", file,
                   name);
      return FALSE;
    }
  arr = json_node_get_array (member);
  n = json_array_get_length (arr);
  if (n > SD_MAX_DIMS)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: tensor \"%s\": shape has %u dimensions, at most %d are supported", file,
                   name, n, SD_MAX_DIMS);
      return FALSE;
    }
  t->ndim = (int) n;
  for (i = 0; i < n; i++)
    {
      JsonNode *dim = json_array_get_element (arr, i);
      if (!node_is_int (dim))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensor \"%s\": shape entry %u is not an integer", file, name, i);
          return FALSE;
        }
      if (json_node_get_int (dim) < 0)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensor \"%s\": shape entry %u is negative (%" G_GINT64_FORMAT ")",
                       file, name, i, json_node_get_int (dim));
          return FALSE;
        }
      t->shape[i] = json_node_get_int (dim);
    }

  member = json_object_get_member (obj, "data_offsets");
  if (!member || !JSON_NODE_HOLDS_ARRAY (member)
      || json_array_get_length (json_node_get_array (member)) != 2)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: tensor \"%s\": no data_offsets array of two integers", file, name);
      return FALSE;
    }
  arr = json_node_get_array (member);
  for (i = 0; i < 2; i++)
    {
      JsonNode *o = json_array_get_element (arr, i);
      if (!node_is_int (o) || json_node_get_int (o) < 0)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensor \"%s\": data_offsets are not two non-negative integers", file,
                       name);
          return FALSE;
        }
      off[i] = json_node_get_int (o);
    }
  if (off[0] > off[1])
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: tensor \"%s\": data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   "] end before they begin", file, name, off[0], off[1]);
      return FALSE;
    }
  if ((guint64) off[1] > data_len)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: tensor \"%s\": data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   "] past the end of the data (%" G_GSIZE_FORMAT " bytes)", file, name, off[0],
                   off[1], data_len);
      return FALSE;
    }

  t->n_elements = 1;
  size = dtypes[t->dtype].size;
  overflow = FALSE;
  for (i = 0; i < n && !overflow; i++)
    overflow = !g_size_checked_mul (&t->n_elements, t->n_elements, (gsize) t->shape[i]);
  overflow = overflow || !g_size_checked_mul (&size, size, t->n_elements);
  if (overflow || size != (gsize) (off[1] - off[0]))
    {
      shape_str = shape_string (t->ndim, t->shape);
      if (overflow)
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                     "%s: tensor \"%s\": shape %s of dtype %s is too large", file, name,
                     shape_str, dtype_name);
      else
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                     "%s: tensor \"%s\": shape %s of dtype %s needs %" G_GSIZE_FORMAT
                     " bytes, data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] hold %"
                     G_GINT64_FORMAT, file, name, shape_str, dtype_name, size, off[0], off[1],
                     off[1] - off[0]);
      g_free (shape_str);
      return FALSE;
    }
  t->n_bytes = size;
  *begin = (guint64) off[0];
  *end = (guint64) off[1];
  return TRUE;
}

static gboolean
parse_metadata (SdTensorFile *tf, JsonNode *node, GError **error)
{
  JsonObject *obj;
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: __metadata__ is not a JSON object",
                   tf->path);
      return FALSE;
    }
  obj = json_node_get_object (node);
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!node_is_string (value))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: __metadata__ entry \"%s\" is not a string", tf->path, key);
          return FALSE;
        }
      g_hash_table_replace (tf->metadata, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  return TRUE;
}

typedef struct {
  guint64 begin, end;
  guint index;
} Span;

static int
compare_spans (gconstpointer a, gconstpointer b)
{
  const Span *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return 0;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  const SdTensorInfo *x = a, *y = b;
  return strcmp (x->name, y->name);
}

/* Sorts tf->tensors by name and indexes them (JSON object members are unique). */
static void
index_names (SdTensorFile *tf)
{
  guint i;

  g_array_sort (tf->tensors, compare_names);
  for (i = 0; i < tf->tensors->len; i++)
    g_hash_table_insert (tf->by_name, (gpointer) g_array_index (tf->tensors, SdTensorInfo, i).name,
                         GUINT_TO_POINTER (i + 1));
}

/* No two non-empty byte ranges may share a byte. */
static gboolean
check_overlaps (SdTensorFile *tf, GArray *spans, GError **error)
{
  const Span *widest = NULL;
  guint i;

  g_array_sort (spans, compare_spans);
  for (i = 0; i < spans->len; i++)
    {
      const Span *s = &g_array_index (spans, Span, i);
      if (s->begin == s->end)
        continue;
      if (widest && s->begin < widest->end)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensors \"%s\" [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                       "] and \"%s\" [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] overlap",
                       tf->path, g_array_index (tf->tensors, SdTensorInfo, widest->index).name,
                       widest->begin, widest->end,
                       g_array_index (tf->tensors, SdTensorInfo, s->index).name, s->begin,
                       s->end);
          return FALSE;
        }
      if (!widest || s->end > widest->end)
        widest = s;
    }
  return TRUE;
}

/* Validates bytes[0, len) as a safetensors file and fills tf's tensors and metadata. */
static gboolean
parse_file (SdTensorFile *tf, const guint8 *bytes, gsize len, GError **error)
{
  guint64 header_len;
  gsize data_len;
  const guint8 *data;
  JsonNode *root;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  GArray *spans;
  gboolean ok = TRUE;

  if (len < 8)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: file is %" G_GSIZE_FORMAT " bytes, too short for a safetensors header",
                   tf->path, len);
      return FALSE;
    }
  memcpy (&header_len, bytes, 8);
  header_len = GUINT64_FROM_LE (header_len);
  /* a length that cannot be right, and no JSON object after it (the safetensors crate requires the
   * header to start with '{'): some other kind of file, such as text */
  if ((header_len > HEADER_LIMIT || header_len > len - 8) && (len == 8 || bytes[8] != '{'))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: not a safetensors file (it does not start with a header length and a JSON "
                   "header)", tf->path);
      return FALSE;
    }
  if (header_len > HEADER_LIMIT)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: header length %" G_GUINT64_FORMAT " is over the limit of %" G_GUINT64_FORMAT
                   " bytes", tf->path, header_len, HEADER_LIMIT);
      return FALSE;
    }
  if (header_len > len - 8)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                   "%s: header length %" G_GUINT64_FORMAT " is past the end of the file (%"
                   G_GSIZE_FORMAT " bytes)", tf->path, header_len, len);
      return FALSE;
    }
  data = bytes + 8 + header_len;
  data_len = len - 8 - (gsize) header_len;

  root = parse_json_object (tf->path, "header", (const char *) bytes + 8, (gsize) header_len,
                            error);
  if (!root)
    return FALSE;

  tf->names = g_string_chunk_new (1024);
  spans = g_array_new (FALSE, FALSE, sizeof (Span));
  json_object_iter_init (&iter, json_node_get_object (root));
  while (ok && json_object_iter_next (&iter, &name, &node))
    {
      SdTensorInfo t = { 0 };
      Span span;

      if (g_str_equal (name, "__metadata__"))
        {
          ok = parse_metadata (tf, node, error);
          continue;
        }
      ok = parse_entry (tf->path, name, node, data_len, &t, &span.begin, &span.end, error);
      if (!ok)
        break;
      t.name = g_string_chunk_insert (tf->names, name);
      t.data = data + span.begin;
      t.file = tf->path;
      span.index = tf->tensors->len;
      g_array_append_val (tf->tensors, t);
      g_array_append_val (spans, span);
    }
  ok = ok && check_overlaps (tf, spans, error);
  if (ok)
    index_names (tf);
  g_array_free (spans, TRUE);
  json_node_unref (root);
  return ok;
}

SdTensorFile *
sd_tensors_parse (const char *name, const guint8 *bytes, gsize len, GError **error)
{
  SdTensorFile *tf = tensor_file_new (name);
  if (!parse_file (tf, bytes, len, error))
    {
      sd_tensors_close (tf);
      return NULL;
    }
  return tf;
}

static SdTensorFile *
open_single (const char *path, GError **error)
{
  SdTensorFile *tf;
  GMappedFile *map;
  GError *map_error = NULL;
  struct stat st;
  int fd;

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: not a regular file", path);
      close (fd);
      return NULL;
    }
  map = g_mapped_file_new_from_fd (fd, FALSE, &map_error);
  close (fd);
  if (!map)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot map the file: %s", path,
                   map_error->message);
      g_error_free (map_error);
      return NULL;
    }
  tf = tensor_file_new (path);
  tf->map = map;
  if (!parse_file (tf, (const guint8 *) g_mapped_file_get_contents (map),
                   g_mapped_file_get_length (map), error))
    {
      sd_tensors_close (tf);
      return NULL;
    }
  return tf;
}

/* The index's "metadata" object: strings as they are, integers printed (total_size). */
static gboolean
index_metadata (SdTensorFile *tf, JsonObject *root, GError **error)
{
  JsonNode *node = json_object_get_member (root, "metadata");
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;

  if (!node || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: metadata is not a JSON object",
                   tf->path);
      return FALSE;
    }
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (node_is_string (value))
        g_hash_table_replace (tf->metadata, g_strdup (key), g_strdup (json_node_get_string (value)));
      else if (node_is_int (value))
        g_hash_table_replace (tf->metadata, g_strdup (key),
                              g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (value)));
    }
  return TRUE;
}

/* Adds a shard's __metadata__ entries the index does not have (a GFunc over the shards). */
static void
add_shard_metadata (gpointer shard, gpointer metadata)
{
  GHashTableIter it;
  gpointer key, value;

  g_hash_table_iter_init (&it, ((SdTensorFile *) shard)->metadata);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!g_hash_table_contains (metadata, key))
      g_hash_table_insert (metadata, g_strdup (key), g_strdup (value));
}

/* A shard must be named by a relative path that stays inside the index's folder. */
static gboolean
shard_name_ok (const char *file)
{
  char **parts;
  gboolean ok = *file && !g_path_is_absolute (file);
  int i;

  parts = g_strsplit (file, "/", -1);
  for (i = 0; ok && parts[i]; i++)
    ok = !g_str_equal (parts[i], "..");
  g_strfreev (parts);
  return ok;
}

/* Opens the shards named by an index's weight_map and presents the tensors it maps. */
static SdTensorFile *
open_index (const char *path, GError **error)
{
  SdTensorFile *tf = NULL;
  char *text = NULL, *dir = NULL;
  gsize len;
  GError *read_error = NULL;
  JsonNode *root = NULL, *map_node;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;
  GHashTable *shard_by_file = NULL;
  gboolean ok = FALSE;

  if (!g_file_get_contents (path, &text, &len, &read_error))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: %s", path, read_error->message);
      g_error_free (read_error);
      return NULL;
    }
  root = parse_json_object (path, "index", text, len, error);
  if (!root)
    goto out;
  tf = tensor_file_new (path);
  tf->shards = g_ptr_array_new_with_free_func ((GDestroyNotify) sd_tensors_close);
  map_node = json_object_get_member (json_node_get_object (root), "weight_map");
  if (!map_node || !JSON_NODE_HOLDS_OBJECT (map_node))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: no weight_map object", path);
      goto out;
    }
  if (json_object_get_size (json_node_get_object (map_node)) == 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: weight_map is empty", path);
      goto out;
    }
  dir = g_path_get_dirname (path);
  shard_by_file = g_hash_table_new (g_str_hash, g_str_equal);
  json_object_iter_init (&iter, json_node_get_object (map_node));
  while (json_object_iter_next (&iter, &name, &value))
    {
      const char *file;
      SdTensorFile *shard;
      const SdTensorInfo *t;

      if (!node_is_string (value))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensor \"%s\": weight_map entry is not a file name", path, name);
          goto out;
        }
      file = json_node_get_string (value);
      shard = g_hash_table_lookup (shard_by_file, file);
      if (!shard)
        {
          char *shard_path;
          if (!shard_name_ok (file))
            {
              g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                           "%s: tensor \"%s\": shard \"%s\" is not a file inside the index's "
                           "folder", path, name, file);
              goto out;
            }
          shard_path = g_build_filename (dir, file, NULL);
          shard = open_single (shard_path, error);
          g_free (shard_path);
          if (!shard)
            {
              g_prefix_error (error, "%s: shard of tensor \"%s\": ", path, name);
              goto out;
            }
          g_ptr_array_add (tf->shards, shard);
          g_hash_table_insert (shard_by_file, (gpointer) file, shard);
        }
      t = sd_tensors_find (shard, name);
      if (!t)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
                       "%s: tensor \"%s\" is mapped to %s, which does not hold it", path, name,
                       shard->path);
          goto out;
        }
      g_array_append_val (tf->tensors, *t);
    }
  index_names (tf);
  ok = index_metadata (tf, json_node_get_object (root), error);
  if (ok)
    g_ptr_array_foreach (tf->shards, add_shard_metadata, tf->metadata);
out:
  if (shard_by_file)
    g_hash_table_destroy (shard_by_file);
  if (root)
    json_node_unref (root);
  g_free (dir);
  g_free (text);
  if (!ok)
    {
      sd_tensors_close (tf);
      return NULL;
    }
  return tf;
}

SdTensorFile *
sd_tensors_open (const char *path, GError **error)
{
  if (g_str_has_suffix (path, ".json"))
    return open_index (path, error);
  return open_single (path, error);
}

const char *
sd_tensors_path (SdTensorFile *tf)
{
  return tf->path;
}

const SdTensorInfo *
sd_tensors_find (SdTensorFile *tf, const char *name)
{
  guint pos = GPOINTER_TO_UINT (g_hash_table_lookup (tf->by_name, name));
  return pos ? &g_array_index (tf->tensors, SdTensorInfo, pos - 1) : NULL;
}

guint
sd_tensors_count (SdTensorFile *tf)
{
  return tf->tensors->len;
}

const SdTensorInfo *
sd_tensors_nth (SdTensorFile *tf, guint i)
{
  g_return_val_if_fail (i < tf->tensors->len, NULL);
  return &g_array_index (tf->tensors, SdTensorInfo, i);
}

const char *
sd_tensors_metadata (SdTensorFile *tf, const char *key)
{
  return g_hash_table_lookup (tf->metadata, key);
}

float *
sd_tensor_to_f32 (const SdTensorInfo *t, GError **error)
{
  gsize i, n = t->n_elements;
  float *out;

  if (!is_float (t->dtype))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor \"%s\": dtype %s is not a float type",
                   t->file, t->name, sd_st_dtype_name (t->dtype));
      return NULL;
    }
  out = g_try_malloc (MAX (n, 1) * sizeof (float));
  if (!out)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY,
                   "%s: tensor \"%s\": no memory for %" G_GSIZE_FORMAT " floats", t->file,
                   t->name, n);
      return NULL;
    }
  switch (t->dtype)
    {
    case SD_ST_F32:
      sd_convert_to_f32 (t->data, SD_DTYPE_F32, n, out);
      break;
    case SD_ST_F16:
      sd_convert_to_f32 (t->data, SD_DTYPE_F16, n, out);
      break;
    case SD_ST_BF16:
      sd_convert_to_f32 (t->data, SD_DTYPE_BF16, n, out);
      break;
    case SD_ST_F64:
      for (i = 0; i < n; i++)
        {
          double d;
          memcpy (&d, t->data + 8 * i, 8);
          out[i] = (float) d;
        }
      break;
    case SD_ST_F8_E4M3:
      for (i = 0; i < n; i++)
        out[i] = sd_f8_e4m3_to_f32 (t->data[i]);
      break;
    case SD_ST_F8_E5M2:
      for (i = 0; i < n; i++)
        out[i] = sd_f8_e5m2_to_f32 (t->data[i]);
      break;
    default:
      g_assert_not_reached ();
    }
  return out;
}

SdBuf *
sd_tensors_load (SdTensorFile *tf, SdBackend *be, const char *name, int ndim,
                 const gint64 *shape, GError **error)
{
  const SdTensorInfo *t = sd_tensors_find (tf, name);
  SdBuf *buf;
  int i;

  if (!t)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: missing tensor \"%s\"", tf->path, name);
      return NULL;
    }
  if (!is_float (t->dtype))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
                   "%s: tensor \"%s\": dtype %s is not a float type", t->file, name,
                   sd_st_dtype_name (t->dtype));
      return NULL;
    }
  for (i = 0; i < ndim && i < t->ndim; i++)
    if (t->shape[i] != shape[i])
      break;
  if (ndim != t->ndim || i < ndim)
    {
      char *has = shape_string (t->ndim, t->shape);
      char *expected = shape_string (ndim, shape);
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor \"%s\" has shape %s, expected %s",
                   t->file, name, has, expected);
      g_free (has);
      g_free (expected);
      return NULL;
    }
  switch (t->dtype)
    {
    case SD_ST_F32:
      buf = be->ops->weight (be, t->data, SD_DTYPE_F32, t->n_elements, error);
      break;
    case SD_ST_F16:
      buf = be->ops->weight (be, t->data, SD_DTYPE_F16, t->n_elements, error);
      break;
    case SD_ST_BF16:
      buf = be->ops->weight (be, t->data, SD_DTYPE_BF16, t->n_elements, error);
      break;
    default:
      {
        float *f = sd_tensor_to_f32 (t, error);
        if (!f)
          return NULL;
        buf = be->ops->weight (be, f, SD_DTYPE_F32, t->n_elements, error);
        g_free (f);
      }
      break;
    }
  if (!buf)
    g_prefix_error (error, "%s: tensor \"%s\": ", t->file, name);
  return buf;
}

/* The header of a file of f32 tensors laid out in the given order, padded with spaces to a
 * multiple of 8 bytes as the reference writer does. */
static char *
write_header (const char *path, const SdTensorOut *tensors, int n, gsize *header_len,
              GError **error)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen;
  JsonNode *root;
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  GString *text = NULL;
  gsize offset = 0;
  int i, d;

  json_builder_begin_object (b);
  for (i = 0; i < n; i++)
    {
      const SdTensorOut *t = &tensors[i];
      gsize count = 1, bytes;

      if (t->ndim < 0 || t->ndim > SD_MAX_DIMS)
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "%s: tensor \"%s\": %d dimensions, at most %d are supported", path,
                       t->name, t->ndim, SD_MAX_DIMS);
          goto out;
        }
      for (d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0 || !g_size_checked_mul (&count, count, (gsize) t->shape[d]))
          break;
      if (d < t->ndim || !g_size_checked_mul (&bytes, count, sizeof (float))
          || !g_size_checked_add (&bytes, bytes, offset))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "%s: tensor \"%s\": invalid shape", path, t->name);
          goto out;
        }
      if (g_str_equal (t->name, "__metadata__") || !g_hash_table_add (seen, (gpointer) t->name))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_ARGUMENT,
                       "%s: tensor name \"%s\" is reserved or used twice", path, t->name);
          goto out;
        }
      json_builder_set_member_name (b, t->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, "F32");
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (d = 0; d < t->ndim; d++)
        json_builder_add_int_value (b, t->shape[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "data_offsets");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, (gint64) offset);
      json_builder_add_int_value (b, (gint64) bytes);
      json_builder_end_array (b);
      json_builder_end_object (b);
      offset = bytes;
    }
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  text = g_string_new (NULL);
  json_generator_to_gstring (gen, text);
  g_object_unref (gen);
  json_node_unref (root);
  while (text->len % 8)
    g_string_append_c (text, ' ');
  *header_len = text->len;
out:
  g_hash_table_destroy (seen);
  g_object_unref (b);
  return text ? g_string_free (text, FALSE) : NULL;
}

gboolean
sd_tensors_write (const char *path, const SdTensorOut *tensors, int n, GError **error)
{
  gsize header_len = 0;
  char *header = write_header (path, tensors, n, &header_len, error);
  char *tmp;
  guint64 len_le;
  FILE *f = NULL;
  gboolean ok = FALSE;
  int fd, i, saved = 0;

  if (!header)
    return FALSE;
  tmp = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot create a temporary file: %s", path,
                   g_strerror (saved));
      g_free (tmp);
      g_free (header);
      return FALSE;
    }
  f = fdopen (fd, "wb");
  if (!f)
    {
      saved = errno;
      close (fd);
      goto out;
    }
  len_le = GUINT64_TO_LE ((guint64) header_len);
  if (fwrite (&len_le, 8, 1, f) != 1 || fwrite (header, 1, header_len, f) != header_len)
    goto write_failed;
  for (i = 0; i < n; i++)
    {
      gsize count = 1;
      int d;
      for (d = 0; d < tensors[i].ndim; d++)
        count *= (gsize) tensors[i].shape[d];
      if (count && fwrite (tensors[i].data, sizeof (float), count, f) != count)
        goto write_failed;
    }
  if (fflush (f) != 0 || fsync (fileno (f)) != 0)
    goto write_failed;
  if (fclose (f) != 0)
    {
      f = NULL;
      goto write_failed;
    }
  f = NULL;
  if (g_rename (tmp, path) != 0)
    goto write_failed;
  ok = TRUE;
  goto out;
write_failed:
  saved = errno;
out:
  if (f)
    fclose (f);
  if (!ok)
    {
      g_unlink (tmp);
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot write: %s", path,
                   g_strerror (saved));
    }
  g_free (tmp);
  g_free (header);
  return ok;
}

/* config_fields.c: typed, bounded readers of the members of a model's JSON configuration; every
 * refusal names the file, the member and what it holds. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "config_fields.h"
#include "scaledit.h"

/* What a node holds, for messages: its value when it is a number or a boolean, else its kind. */
static char *
describe (JsonNode *n)
{
  if (JSON_NODE_HOLDS_OBJECT (n))
    return g_strdup ("an object");
  if (JSON_NODE_HOLDS_ARRAY (n))
    return g_strdup ("an array");
  if (JSON_NODE_HOLDS_NULL (n))
    return g_strdup ("null");
  switch (json_node_get_value_type (n))
    {
    case G_TYPE_INT64:
      return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
    case G_TYPE_DOUBLE:
      {
        /* 56.0 must not read as the integer 56 */
        double v = json_node_get_double (n);
        return v == floor (v) && fabs (v) < 1e15 ? g_strdup_printf ("%.1f", v) : g_strdup_printf ("%g", v);
      }
    case G_TYPE_BOOLEAN:
      return g_strdup (json_node_get_boolean (n) ? "true" : "false");
    case G_TYPE_STRING:
      return g_strdup ("a string");
    default:
      return g_strdup ("an unknown value");
    }
}

static gboolean
refuse (GError **error, const char *file, const char *key, const char *want, JsonNode *n)
{
  char *has = describe (n);
  g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be %s, not %s", file, key, want, has);
  g_free (has);
  return FALSE;
}

/* The member, or NULL when it is absent or null (the caller's default then holds). */
static JsonNode *
member (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

static GType
value_type (JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
}

/* An integer node in [lo, hi] into *out; `key` names it in errors. */
static gboolean
int_node (JsonNode *n, const char *file, const char *key, int lo, int hi, int *out, GError **error)
{
  char *want = g_strdup_printf ("an integer from %d to %d", lo, hi);
  gboolean ok = value_type (n) == G_TYPE_INT64 && json_node_get_int (n) >= lo && json_node_get_int (n) <= hi;
  if (ok)
    *out = (int) json_node_get_int (n);
  else
    refuse (error, file, key, want, n);
  g_free (want);
  return ok;
}

gboolean
sd_config_int (JsonObject *o, const char *file, const char *key, int def, int lo, int hi, int *out,
               GError **error)
{
  JsonNode *n = member (o, key);
  if (!n)
    {
      *out = def;
      return TRUE;
    }
  return int_node (n, file, key, lo, hi, out, error);
}

gboolean
sd_config_double (JsonObject *o, const char *file, const char *key, double def, double lo, double hi,
                  double *out, GError **error)
{
  JsonNode *n = member (o, key);
  GType t;
  double v;
  if (!n)
    {
      *out = def;
      return TRUE;
    }
  t = value_type (n);
  v = t == G_TYPE_INT64 ? (double) json_node_get_int (n) : t == G_TYPE_DOUBLE ? json_node_get_double (n) : NAN;
  if (!isfinite (v) || v < lo || v > hi)
    {
      char *want = lo == -DBL_MAX && hi == DBL_MAX ? g_strdup ("a number") : g_strdup_printf ("a number from %g to %g", lo, hi);
      refuse (error, file, key, want, n);
      g_free (want);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

gboolean
sd_config_bool (JsonObject *o, const char *file, const char *key, gboolean def, gboolean *out,
                GError **error)
{
  JsonNode *n = member (o, key);
  if (!n)
    {
      *out = def;
      return TRUE;
    }
  if (value_type (n) != G_TYPE_BOOLEAN)
    return refuse (error, file, key, "true or false", n);
  *out = json_node_get_boolean (n);
  return TRUE;
}

gboolean
sd_config_string (JsonObject *o, const char *file, const char *key, const char *def, const char **out,
                  GError **error)
{
  JsonNode *n = member (o, key);
  if (!n)
    {
      *out = def;
      return TRUE;
    }
  if (value_type (n) != G_TYPE_STRING)
    return refuse (error, file, key, "a string", n);
  *out = json_node_get_string (n);
  return TRUE;
}

/* The member as an array of min_len to max_len elements, or NULL (an error when present). */
static JsonArray *
array_member (JsonNode *n, const char *file, const char *key, guint min_len, guint max_len, const char *of,
              GError **error)
{
  JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  if (!a || json_array_get_length (a) < min_len || json_array_get_length (a) > max_len)
    {
      char *want = min_len == max_len ? g_strdup_printf ("an array of %u %s", min_len, of)
                                      : g_strdup_printf ("an array of %u to %u %s", min_len, max_len, of);
      if (a)
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be %s, not of %u", file, key, want,
                     json_array_get_length (a));
      else
        refuse (error, file, key, want, n);
      g_free (want);
      return NULL;
    }
  return a;
}

gboolean
sd_config_int_array (JsonObject *o, const char *file, const char *key, guint min_len, guint max_len, int lo,
                     int hi, int *out, guint *n_out, GError **error)
{
  JsonNode *n = member (o, key);
  JsonArray *a;
  guint i;

  *n_out = 0;
  if (!n)
    return TRUE;
  if (!(a = array_member (n, file, key, min_len, max_len, "integers", error)))
    return FALSE;
  for (i = 0; i < json_array_get_length (a); i++)
    {
      char *name = g_strdup_printf ("%s[%u]", key, i);
      gboolean ok = int_node (json_array_get_element (a, i), file, name, lo, hi, &out[i], error);
      g_free (name);
      if (!ok)
        return FALSE;
    }
  *n_out = json_array_get_length (a);
  return TRUE;
}

gboolean
sd_config_string_array (JsonObject *o, const char *file, const char *key, guint n, const char *want,
                        GError **error)
{
  JsonNode *node = member (o, key);
  JsonArray *a;
  guint i;

  if (!node)
    return TRUE;
  if (!(a = array_member (node, file, key, n, n, "strings", error)))
    return FALSE;
  for (i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (value_type (e) != G_TYPE_STRING)
        {
          char *name = g_strdup_printf ("%s[%u]", key, i);
          refuse (error, file, name, "a string", e);
          g_free (name);
          return FALSE;
        }
      if (!g_str_equal (json_node_get_string (e), want))
        {
          g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: %s[%u] is \"%s\"; only %s is supported", file,
                       key, i, json_node_get_string (e), want);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
sd_config_check (const char *file, const char *what, gint64 value, gint64 lo, gint64 hi, GError **error)
{
  if (value >= lo && value <= hi)
    return TRUE;
  g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
               "%s: %s is %" G_GINT64_FORMAT "; it must be from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, file,
               what, value, lo, hi);
  return FALSE;
}

gboolean
sd_config_activation (const char *file, const char *key, const char *name, SdAct *act, GError **error)
{
  static const struct {
    const char *name;
    SdAct act;
  } acts[] = {
    { "quick_gelu", SD_ACT_QUICK_GELU },
    { "gelu", SD_ACT_GELU_ERF },
    { "gelu_new", SD_ACT_GELU_TANH },
    { "gelu_pytorch_tanh", SD_ACT_GELU_TANH },
    { "gelu_fast", SD_ACT_GELU_TANH },
    { "silu", SD_ACT_SILU },
    { "swish", SD_ACT_SILU },
  };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (acts); i++)
    if (g_str_equal (name, acts[i].name))
      {
        *act = acts[i].act;
        return TRUE;
      }
  g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: %s \"%s\" is not supported", file, key, name);
  return FALSE;
}

gboolean
sd_config_int_fields (JsonObject *o, const char *file, const SdConfigIntField *fields, gsize n, void *base,
                      GError **error)
{
  gsize i;
  for (i = 0; i < n; i++)
    if (!sd_config_int (o, file, fields[i].key, fields[i].def, fields[i].lo, fields[i].hi,
                        (int *) ((char *) base + fields[i].offset), error))
      return FALSE;
  return TRUE;
}

gboolean
sd_config_check_fields (const char *where, const SdConfigIntField *fields, gsize n, const void *base,
                        GError **error)
{
  gsize i;
  for (i = 0; i < n; i++)
    if (!sd_config_check (where, fields[i].key, *(const int *) ((const char *) base + fields[i].offset),
                          fields[i].lo, fields[i].hi, error))
      return FALSE;
  return TRUE;
}

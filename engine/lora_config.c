/* lora_config.c: PEFT's adapter_config.json (peft_type, lora_alpha, alpha_pattern, use_rslora;
 * DoRA refused) with every member checked, and the scale it gives each module. */
#include <math.h>
#include <string.h>

#include "config_fields.h"
#include "json_object.h"
#include "lora.h"
#include "scaledit.h"

/* An alpha_pattern entry: modules named `key` (or ending in "." + key) use this alpha. */
typedef struct {
  char *key;
  double alpha;
} AlphaPattern;

struct SdLoraConfig {
  double alpha;
  gboolean has_alpha, rslora;
  GArray *patterns; /* AlphaPattern, in file order (the last match wins) */
};

static void
clear_pattern (gpointer p)
{
  g_free (((AlphaPattern *) p)->key);
}

void
sd_lora_config_free (SdLoraConfig *c)
{
  if (!c)
    return;
  g_array_unref (c->patterns);
  g_free (c);
}

/* alpha_pattern: an object of module name -> alpha. */
static gboolean
read_patterns (JsonObject *o, const char *file, SdLoraConfig *c, GError **error)
{
  JsonNode *n = json_object_get_member (o, "alpha_pattern");
  JsonObject *patterns;
  JsonObjectIter it;
  const char *key;
  JsonNode *value;

  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"alpha_pattern\" must be an object of module names and "
                   "alphas", file);
      return FALSE;
    }
  patterns = json_node_get_object (n);
  json_object_iter_init (&it, patterns);
  while (json_object_iter_next (&it, &key, &value))
    {
      AlphaPattern p;
      char *name = g_strdup_printf ("alpha_pattern.%s", key);
      gboolean ok = !JSON_NODE_HOLDS_NULL (value)
                    && sd_config_double (patterns, file, key, 0, -SD_LORA_MAX_ALPHA, SD_LORA_MAX_ALPHA, &p.alpha, NULL);
      if (!ok)
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: \"%s\" must be a number from %g to %g", file, name,
                     -SD_LORA_MAX_ALPHA, SD_LORA_MAX_ALPHA);
      g_free (name);
      if (!ok)
        return FALSE;
      p.key = g_strdup (key);
      g_array_append_val (c->patterns, p);
    }
  return TRUE;
}

SdLoraConfig *
sd_lora_config_from_object (JsonObject *o, const char *file, GError **error)
{
  SdLoraConfig *c = g_new0 (SdLoraConfig, 1);
  const char *peft_type;
  gboolean dora;

  c->patterns = g_array_new (FALSE, FALSE, sizeof (AlphaPattern));
  g_array_set_clear_func (c->patterns, clear_pattern);
  if (!sd_config_string (o, file, "peft_type", "LORA", &peft_type, error)
      || !sd_config_bool (o, file, "use_dora", FALSE, &dora, error)
      || !sd_config_bool (o, file, "use_rslora", FALSE, &c->rslora, error)
      || !sd_config_double (o, file, "lora_alpha", NAN, -SD_LORA_MAX_ALPHA, SD_LORA_MAX_ALPHA, &c->alpha, error)
      || !read_patterns (o, file, c, error))
    goto fail;
  c->has_alpha = !isnan (c->alpha);
  if (!g_str_equal (peft_type, "LORA"))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: peft_type \"%s\" is not LORA", file, peft_type);
      goto fail;
    }
  if (dora)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_UNSUPPORTED, "%s: DoRA adapters (use_dora) are not supported", file);
      goto fail;
    }
  return c;
fail:
  sd_lora_config_free (c);
  return NULL;
}

SdLoraConfig *
sd_lora_config_load (const char *path, GError **error)
{
  JsonParser *parser = sd_json_object_load (path, error);
  SdLoraConfig *c;

  if (!parser)
    return NULL;
  c = sd_lora_config_from_object (json_node_get_object (json_parser_get_root (parser)), path, error);
  g_object_unref (parser);
  return c;
}

/* PEFT's matching of a pattern key: the module name equals it or ends with "." + key. */
static gboolean
name_matches (const char *module, const char *key)
{
  gsize lm = strlen (module), lk = strlen (key);
  return g_str_equal (module, key) || (lm > lk && module[lm - lk - 1] == '.' && g_str_equal (module + lm - lk, key));
}

double
sd_lora_config_scale (const SdLoraConfig *c, const char *module, int rank)
{
  double alpha = c->has_alpha ? c->alpha : rank;
  guint i;

  for (i = 0; i < c->patterns->len; i++)
    {
      const AlphaPattern *p = &g_array_index (c->patterns, AlphaPattern, i);
      if (name_matches (module, p->key))
        alpha = p->alpha;
    }
  return c->rslora ? alpha / sqrt ((double) rank) : alpha / rank;
}

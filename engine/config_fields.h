/* config_fields.h: typed, bounded readers of the members of a model's JSON configuration
 * (config.json, scheduler_config.json, adapter_config.json, tokenizer settings): a member of the
 * wrong type or out of range is an SD_ERROR_FORMAT error naming the file and the member. */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"

G_BEGIN_DECLS

/* Generous bounds for what a config may declare: every FLUX-class model is far inside them, and
 * products and sums of values inside them cannot overflow an int. */
#define SD_CONFIG_MAX_LAYERS 1024     /* blocks or layers of one kind */
#define SD_CONFIG_MAX_DIM 65536       /* widths, channels, head sizes, positions */
#define SD_CONFIG_MAX_HEADS 1024      /* attention heads */
#define SD_CONFIG_MAX_FF (1 << 18)    /* feed-forward widths */
#define SD_CONFIG_MAX_VOCAB (1 << 24) /* vocabulary sizes and token ids */

/* Member `key` of o as an int in [lo, hi]; an absent or null member gives def. A float, a string
 * or anything else where an integer belongs is an error. */
gboolean sd_config_int (JsonObject *o, const char *file, const char *key, int def, int lo, int hi,
                        int *out, GError **error);
/* An int member of a config struct: its JSON key, where it lives, its default and bounds. */
typedef struct {
  const char *key;
  gsize offset;
  int def, lo, hi;
} SdConfigIntField;

/* Every field of `fields` read as sd_config_int into the struct at `base`. */
gboolean sd_config_int_fields (JsonObject *o, const char *file, const SdConfigIntField *fields, gsize n,
                               void *base, GError **error);
/* Every field of the struct at `base` within its bounds (for configs inferred from shapes). */
gboolean sd_config_check_fields (const char *where, const SdConfigIntField *fields, gsize n,
                                 const void *base, GError **error);
/* Member `key` as a finite number (integer or float) in [lo, hi] (-DBL_MAX, DBL_MAX: any); absent
 * or null gives def. */
gboolean sd_config_double (JsonObject *o, const char *file, const char *key, double def, double lo,
                           double hi, double *out, GError **error);
/* Member `key` as true or false; absent or null gives def. */
gboolean sd_config_bool (JsonObject *o, const char *file, const char *key, gboolean def,
                         gboolean *out, GError **error);
/* Member `key` as a string (owned by o); absent or null gives def. */
gboolean sd_config_string (JsonObject *o, const char *file, const char *key, const char *def,
                           const char **out, GError **error);
/* Member `key` as an array of min_len to max_len integers, each in [lo, hi], into out[0 .. *n);
 * absent or null leaves out alone and sets *n to 0. */
gboolean sd_config_int_array (JsonObject *o, const char *file, const char *key, guint min_len,
                              guint max_len, int lo, int hi, int *out, guint *n, GError **error);
/* Member `key` as an array of exactly n strings, each equal to want; absent or null passes. */
gboolean sd_config_string_array (JsonObject *o, const char *file, const char *key, guint n,
                                 const char *want, GError **error);

/* A value computed from fields (a product or a sum, taken in gint64) or read from a tensor shape
 * must lie in [lo, hi]; `what` says what it is ("num_attention_heads * attention_head_dim"). */
gboolean sd_config_check (const char *file, const char *what, gint64 value, gint64 lo, gint64 hi,
                          GError **error);

/* The activation a transformers activation name (hidden_act, the gated part of
 * feed_forward_proj) means; an unknown name is SD_ERROR_UNSUPPORTED naming the file and key. */
gboolean sd_config_activation (const char *file, const char *key, const char *name, SdAct *act,
                               GError **error);

G_END_DECLS

/* json_object.h: reading JSON texts and files that must hold exactly one object. */
#pragma once

#include <json-glib/json-glib.h>

/* Nesting deeper than this is refused before json-glib sees the text (its parser recurses). */
#define SD_JSON_DEPTH_LIMIT 64

/* Parses text as one JSON object; `where` names it in errors ("model.safetensors: header").
 * Returns the parser, whose root is the object (free with g_object_unref), or NULL with an
 * SD_ERROR_FORMAT error. */
JsonParser *sd_json_object_parse (const char *text, gsize len, const char *where, GError **error);

/* The same for a file: SD_ERROR_IO when it cannot be read, SD_ERROR_FORMAT when it is not one
 * JSON object. */
JsonParser *sd_json_object_load (const char *path, GError **error);

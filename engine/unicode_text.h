/* unicode_text.h: the Unicode facts the tokenizers need beyond GLib's: the White_Space
 * property and extended grapheme cluster boundaries (UAX #29). */
#pragma once

#include <glib.h>

/* The White_Space property (what Rust's char::is_whitespace and regex \s test). */
gboolean sd_unichar_is_white_space (gunichar c);

/* The byte offset where the extended grapheme cluster that starts at byte `start` of the valid
 * UTF-8 text s (len bytes) ends. */
gsize sd_grapheme_end (const char *s, gsize len, gsize start);

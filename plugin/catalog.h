/* catalog.h: the plug-in's message lookup: gettext, and the plug-in's own .mo catalog read
 * directly where glibc's gettext ignores LANGUAGE (a C or C.UTF-8 message locale, e.g.
 * LANG=C.UTF-8 LANGUAGE=de). */
#pragma once

#include <glib.h>

/* Binds the "scaledit" domain to locale_dir (holding <lang>/LC_MESSAGES/scaledit.mo). */
void sd_catalog_init (const char *locale_dir);

/* The translation of msgid (msgid itself when there is none). */
const char *sd_gettext (const char *msgid);

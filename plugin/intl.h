/* intl.h: the translation macro for the plug-in's and the dialog's strings (domain "scaledit"). */
#pragma once

#include "catalog.h"

#define _(String) sd_gettext (String)

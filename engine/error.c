/* error.c: the engine's GError domain. */
#include "scaledit.h"

G_DEFINE_QUARK (scaledit-error-quark, sd_error)

/* size_presets.h: size presets (image size, 1K, 2K, 4K, 8K, custom) with aspect-ratio choices
 * that set a config's "width" and "height". */
#pragma once

#include <gtk/gtk.h>

/* image_w/image_h: the image's size (0 when there is none: no "Image size" entry). */
GtkWidget *sd_size_presets_new (GObject *config, int image_w, int image_h);

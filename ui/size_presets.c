/* size_presets.c: size presets (image size, 1K, 2K, 4K, 8K, custom) with aspect-ratio choices
 * that set a config's "width" and "height"; the long side follows the preset, the short side
 * the aspect ratio, rounded to a multiple of 16. */
#include "intl.h"
#include "size_presets.h"

typedef struct
{
  GObject *config;
  GtkWidget *preset, *aspect;
  int image_w, image_h;
} Presets;

static const struct
{
  const char *id;
  int long_side;
} sizes[] = { { "1k", 1024 }, { "2k", 2048 }, { "4k", 4096 }, { "8k", 8192 } };

static const struct
{
  const char *id;
  int a, b; /* width : height */
} aspects[] = { { "1:1", 1, 1 }, { "4:3", 4, 3 }, { "3:2", 3, 2 }, { "16:9", 16, 9 },
                { "3:4", 3, 4 }, { "2:3", 2, 3 }, { "9:16", 9, 16 } };

static int
round16 (double v)
{
  return MAX (64, (int) (v / 16.0 + 0.5) * 16);
}

static void
apply (Presets *p)
{
  const char *preset = gtk_combo_box_get_active_id (GTK_COMBO_BOX (p->preset));
  const char *aspect = gtk_combo_box_get_active_id (GTK_COMBO_BOX (p->aspect));
  int long_side = 0, a = 1, b = 1;
  gsize i;

  gtk_widget_set_sensitive (p->aspect, preset && !g_str_equal (preset, "image")
                                         && !g_str_equal (preset, "custom"));
  if (!preset || g_str_equal (preset, "custom"))
    return;
  if (g_str_equal (preset, "image"))
    {
      g_object_set (p->config, "width", p->image_w, "height", p->image_h, NULL);
      return;
    }
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    if (g_str_equal (preset, sizes[i].id))
      long_side = sizes[i].long_side;
  for (i = 0; aspect && i < G_N_ELEMENTS (aspects); i++)
    if (g_str_equal (aspect, aspects[i].id))
      {
        a = aspects[i].a;
        b = aspects[i].b;
      }
  if (a >= b)
    g_object_set (p->config, "width", long_side, "height", round16 ((double) long_side * b / a),
                  NULL);
  else
    g_object_set (p->config, "width", round16 ((double) long_side * a / b), "height", long_side,
                  NULL);
}

static void
on_changed (GtkComboBox *combo, gpointer data)
{
  apply (data);
}

/* The preset that matches the config's current size, else "custom". */
static const char *
current_preset (Presets *p)
{
  int w, h;
  gsize i;

  g_object_get (p->config, "width", &w, "height", &h, NULL);
  if (p->image_w > 0 && ((w == p->image_w && h == p->image_h) || (w == -1 && h == -1)))
    return "image";
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    if (MAX (w, h) == sizes[i].long_side)
      return sizes[i].id;
  return "custom";
}

GtkWidget *
sd_size_presets_new (GObject *config, int image_w, int image_h)
{
  Presets *p = g_new0 (Presets, 1);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label = gtk_label_new_with_mnemonic (_("Si_ze:"));
  gsize i;

  p->config = config;
  p->image_w = image_w;
  p->image_h = image_h;
  p->preset = gtk_combo_box_text_new ();
  if (image_w > 0)
    gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "image", _("Image size"));
  gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "1k", _("1K (1024 px)"));
  gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "2k", _("2K (2048 px)"));
  gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "4k", _("4K (4096 px)"));
  gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "8k", _("8K (8192 px)"));
  gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->preset), "custom", _("Custom"));
  p->aspect = gtk_combo_box_text_new ();
  for (i = 0; i < G_N_ELEMENTS (aspects); i++)
    gtk_combo_box_text_append (GTK_COMBO_BOX_TEXT (p->aspect), aspects[i].id, aspects[i].id);
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (p->aspect), "1:1");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (p->preset), current_preset (p));
  gtk_widget_set_sensitive (p->aspect, FALSE);
  gtk_widget_set_tooltip_text (p->aspect, _("Aspect ratio (width:height)"));
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), p->preset);

  g_signal_connect (p->preset, "changed", G_CALLBACK (on_changed), p);
  g_signal_connect (p->aspect, "changed", G_CALLBACK (on_changed), p);
  g_object_set_data_full (G_OBJECT (box), "sd-presets", p, g_free);
  gtk_box_pack_start (GTK_BOX (box), label, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), p->preset, TRUE, TRUE, 0);
  gtk_box_pack_start (GTK_BOX (box), p->aspect, FALSE, FALSE, 0);
  gtk_widget_show_all (box);
  return box;
}

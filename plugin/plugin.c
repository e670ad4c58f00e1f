/* plugin.c: the scaledit GIMP 3 plug-in: registers plug-in-scaledit-generate and
 * plug-in-scaledit-upscale with their arguments (the stable Script-Fu interface), menus and
 * translations. */
#include "intl.h"
#include "request.h"
#include "run.h"
#include "scaledit-config.h"

#define SCALEDIT_TYPE_PLUG_IN (scaledit_plug_in_get_type ())
G_DECLARE_FINAL_TYPE (ScaleditPlugIn, scaledit_plug_in, SCALEDIT, PLUG_IN, GimpPlugIn)

struct _ScaleditPlugIn
{
  GimpPlugIn parent_instance;
};

G_DEFINE_TYPE (ScaleditPlugIn, scaledit_plug_in, GIMP_TYPE_PLUG_IN)

static GList *
query_procedures (GimpPlugIn *plug_in)
{
  GList *list = NULL;
  list = g_list_append (list, g_strdup (SD_PROC_GENERATE_NAME));
  list = g_list_append (list, g_strdup (SD_PROC_UPSCALE_NAME));
  return list;
}

/* Catalogs: locale/ beside the installed plug-in; a plug-in run from the build folder reads the
 * ones built in po/. The lookup is the plug-in's own (catalog.c), so GIMP's is left off. */
static gboolean
set_i18n (GimpPlugIn *plug_in, const gchar *procedure_name, gchar **gettext_domain,
          gchar **catalog_dir)
{
  g_autofree char *dir = g_path_get_dirname (gimp_get_progname ());
  g_autofree char *beside = g_build_filename (dir, "locale", NULL);

  sd_catalog_init (g_file_test (beside, G_FILE_TEST_IS_DIR) ? beside
                                                            : SCALEDIT_BUILD_ROOT "/po");
  return FALSE;
}

static GimpValueArray *
run_generate (GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
              GimpDrawable **drawables, GimpProcedureConfig *config, gpointer data)
{
  return sd_run (procedure, run_mode, image, drawables, config, SD_PROC_GENERATE);
}

static GimpValueArray *
run_upscale (GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
             GimpDrawable **drawables, GimpProcedureConfig *config, gpointer data)
{
  return sd_run (procedure, run_mode, image, drawables, config, SD_PROC_UPSCALE);
}

/* The arguments both procedures take, after the kind-specific size arguments. */
static void
add_common_arguments (GimpProcedure *p, SdProcKind kind)
{
  SdRequest d;
  sd_request_init (&d);

  gimp_procedure_add_int_argument (p, "seed", _("S_eed"),
                                   _("Seed of the noise; -1 picks one (recorded in the layer's "
                                     "parameters)"),
                                   -1, G_MAXINT, -1, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "global-steps", _("Global s_teps"),
                                   _("Steps of the global schedule"), 1, 1000, d.global_steps,
                                   G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "detail-steps", _("_Detail steps"),
                                   _("Last steps of the schedule that the detail pass runs at "
                                     "full resolution"),
                                   1, 1000, d.detail_steps, G_PARAM_READWRITE);
  gimp_procedure_add_double_argument (p, "guidance", _("Guida_nce"),
                                      _("Guidance of the global pass"), 0.0, 100.0,
                                      d.global_guidance, G_PARAM_READWRITE);
  gimp_procedure_add_double_argument (p, "detail-guidance", _("Detail gu_idance"),
                                      _("Guidance of the detail pass"), 0.0, 100.0,
                                      d.detail_guidance, G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (p, "model", _("_Model"),
                                      _("A diffusers model folder or a transformer .safetensors "
                                        "file; empty: the bundled model"),
                                      "", G_PARAM_READWRITE);
  /* a string, not a choice: GIMP replaces an unknown choice (#:device "gpu") by the default
   * without a word, while the plug-in refuses an unknown string naming the allowed ones */
  gimp_procedure_add_string_argument (p, "device", _("De_vice"),
                                      _("Where the model runs: auto, cpu or cuda"), "auto",
                                      G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "window", _("Window (to_kens)"),
                                   _("Side of the detail pass's attention windows, in tokens "
                                     "of 16 pixels"),
                                   1, 64, d.window, G_PARAM_READWRITE);
  gimp_procedure_add_string_argument (p, "lora", _("LoRA _file"),
                                      _("A LoRA .safetensors file or folder; empty: none"), "",
                                      G_PARAM_READWRITE);
  gimp_procedure_add_double_argument (p, "lora-scale", _("LoRA sc_ale"),
                                      _("Strength of the LoRA"), -4.0, 4.0, 1.0,
                                      G_PARAM_READWRITE);
  gimp_procedure_add_boolean_argument (p, "new-image", _("Create a new i_mage"),
                                       _("Put the result into a new image instead of a new layer "
                                         "of this one"),
                                       kind == SD_PROC_UPSCALE, G_PARAM_READWRITE);
  gimp_procedure_add_image_return_value (p, "image", _("Image"),
                                         _("The image holding the result"), FALSE,
                                         G_PARAM_READWRITE);
  gimp_procedure_add_layer_return_value (p, "layer", _("Layer"), _("The new layer"), FALSE,
                                         G_PARAM_READWRITE);
}

static GimpProcedure *
create_generate (GimpPlugIn *plug_in, const gchar *name)
{
  GimpProcedure *p = gimp_image_procedure_new (plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN,
                                               run_generate, NULL, NULL);

  gimp_procedure_set_image_types (p, "*");
  gimp_procedure_set_sensitivity_mask (p, GIMP_PROCEDURE_SENSITIVE_ALWAYS);
  gimp_procedure_set_menu_label (p, _("Scale-DiT _Generate..."));
  gimp_procedure_add_menu_path (p, "<Image>/Filters/Render");
  gimp_procedure_add_menu_path (p, "<Image>/File/Create");
  gimp_procedure_set_documentation (
    p, _("Generate a picture at high resolution with Scale-DiT"),
    _("Renders the prompt with a FLUX-class diffusion transformer: a global pass at a quarter "
      "of the size composes the picture, a detail pass with local attention renders it at full "
      "resolution. The result becomes a new layer of the image, or a new image when there is "
      "none or new-image is set."),
    name);
  gimp_procedure_set_attribution (p, "scaledit authors", "scaledit authors", "2026");

  gimp_procedure_add_string_argument (p, "prompt", _("_Prompt"), _("What to draw"), "",
                                      G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "width", _("_Width"),
                                   _("Width in pixels; -1: the image's width"), -1, G_MAXINT,
                                   -1, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "height", _("_Height"),
                                   _("Height in pixels; -1: the image's height"), -1, G_MAXINT,
                                   -1, G_PARAM_READWRITE);
  add_common_arguments (p, SD_PROC_GENERATE);
  gimp_procedure_add_choice_argument (p, "precision", _("_Bit depth"),
                                      _("Precision of a new image"),
                                      gimp_choice_new_with_values (
                                        "u8", GIMP_PRECISION_U8_NON_LINEAR,
                                        _("8-bit integer"), NULL,
                                        "u16", GIMP_PRECISION_U16_NON_LINEAR,
                                        _("16-bit integer"), NULL,
                                        "f32", GIMP_PRECISION_FLOAT_NON_LINEAR,
                                        _("32-bit floating point"), NULL, NULL),
                                      "u8", G_PARAM_READWRITE);
  return p;
}

static GimpProcedure *
create_upscale (GimpPlugIn *plug_in, const gchar *name)
{
  GimpProcedure *p = gimp_image_procedure_new (plug_in, name, GIMP_PDB_PROC_TYPE_PLUGIN,
                                               run_upscale, NULL, NULL);

  gimp_procedure_set_image_types (p, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask (p, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label (p, _("Scale-DiT _Upscale..."));
  gimp_procedure_add_menu_path (p, "<Image>/Filters/Enhance");
  gimp_procedure_set_documentation (
    p, _("Upscale a layer with Scale-DiT"),
    _("The layer, or the part of it inside the selection, becomes the global guidance of a "
      "Scale-DiT detail pass at 2×, 4× or a given size. The result goes into a new image or a "
      "new layer of this one."),
    name);
  gimp_procedure_set_attribution (p, "scaledit authors", "scaledit authors", "2026");

  gimp_procedure_add_string_argument (p, "prompt", _("_Prompt"), _("What the picture shows"),
                                      "", G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "scale", _("Si_ze factor"),
                                   _("Output size as a multiple of the source; 0: use width "
                                     "and height"),
                                   0, 8, 2, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "width", _("_Width"),
                                   _("Width in pixels when scale is 0; -1: twice the source"),
                                   -1, G_MAXINT, -1, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument (p, "height", _("_Height"),
                                   _("Height in pixels when scale is 0; -1: twice the source"),
                                   -1, G_MAXINT, -1, G_PARAM_READWRITE);
  add_common_arguments (p, SD_PROC_UPSCALE);
  return p;
}

static GimpProcedure *
create_procedure (GimpPlugIn *plug_in, const gchar *name)
{
  if (g_str_equal (name, SD_PROC_GENERATE_NAME))
    return create_generate (plug_in, name);
  if (g_str_equal (name, SD_PROC_UPSCALE_NAME))
    return create_upscale (plug_in, name);
  return NULL;
}

static void
scaledit_plug_in_class_init (ScaleditPlugInClass *klass)
{
  GimpPlugInClass *plug_in_class = GIMP_PLUG_IN_CLASS (klass);
  plug_in_class->query_procedures = query_procedures;
  plug_in_class->create_procedure = create_procedure;
  plug_in_class->set_i18n = set_i18n;
}

static void
scaledit_plug_in_init (ScaleditPlugIn *plug_in)
{
}

int
main (int argc, char *argv[])
{
  sd_prefer_passive_threads (argv);
  return gimp_main (SCALEDIT_TYPE_PLUG_IN, argc, argv);
}

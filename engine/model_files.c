/* model_files.c: finding a model's components in the two layouts users keep (a diffusers folder,
 * or ComfyUI-style single files). */
#include <string.h>

#include "model_files.h"
#include "scaledit-config.h"

char *
sd_component_weights (const char *folder, const char *basename)
{
  const char *suffixes[] = { ".safetensors.index.json", ".safetensors" };
  gsize i;
  for (i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      char *name = g_strconcat (basename, suffixes[i], NULL);
      char *path = g_build_filename (folder, name, NULL);
      g_free (name);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  return NULL;
}

char *
sd_default_model_path (void)
{
  const char *env = g_getenv ("SCALEDIT_MODEL");
  char *p;
  if (env && *env)
    return g_strdup (env);
  /* the installed bundle, else the source tree's */
  p = g_build_filename (SCALEDIT_PKGDATADIR, "models", "scaledit-tiny", NULL);
  if (g_file_test (p, G_FILE_TEST_IS_DIR))
    return p;
  g_free (p);
  return g_build_filename (SCALEDIT_SOURCE_ROOT, "models", "scaledit-tiny", NULL);
}

/* A file beside `dir` whose name starts with one of the prefixes and ends in .safetensors. */
static char *
find_beside (const char *dir, const char *const *prefixes)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *n;
  char *found = NULL;
  if (!d)
    return NULL;
  while (!found && (n = g_dir_read_name (d)))
    {
      const char *const *p;
      for (p = prefixes; *p && !found; p++)
        if (g_str_has_prefix (n, *p) && g_str_has_suffix (n, ".safetensors"))
          found = g_build_filename (dir, n, NULL);
    }
  g_dir_close (d);
  return found;
}

static gboolean
missing (GError **error, const char *model, const char *what, const char *hint)
{
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: no %s found%s%s", model, what, hint ? ": " : "", hint ? hint : "");
  return FALSE;
}

static gboolean
find_diffusers (SdModelFiles *m, const char *root, const SdEngineOptions *o, GError **error)
{
  char *tdir = g_build_filename (root, "transformer", NULL);
  char *sched = g_build_filename (root, "scheduler", "scheduler_config.json", NULL);
  char *sub;
  gboolean ok = FALSE;

  m->transformer = sd_component_weights (tdir, "diffusion_pytorch_model");
  if (!m->transformer)
    {
      missing (error, root, "transformer weights", "expected transformer/diffusion_pytorch_model.safetensors");
      goto out;
    }
  m->transformer_config = g_build_filename (tdir, "config.json", NULL);
  if (!g_file_test (m->transformer_config, G_FILE_TEST_IS_REGULAR))
    {
      missing (error, root, "transformer/config.json", NULL);
      goto out;
    }
  if (g_file_test (sched, G_FILE_TEST_IS_REGULAR))
    m->scheduler_config = g_steal_pointer (&sched);
  sub = g_build_filename (root, "vae", NULL);
  m->vae = o->vae_path ? g_strdup (o->vae_path) : sub;
  if (o->vae_path)
    g_free (sub);
  m->clip = o->clip_path ? g_strdup (o->clip_path) : g_build_filename (root, "text_encoder", NULL);
  m->t5 = o->t5_path ? g_strdup (o->t5_path) : g_build_filename (root, "text_encoder_2", NULL);
  m->tokenizers = g_strdup (o->tokenizer_path ? o->tokenizer_path : root);
  ok = TRUE;
out:
  g_free (tdir);
  g_free (sched);
  return ok;
}

static gboolean
find_single (SdModelFiles *m, const char *file, const SdEngineOptions *o, GError **error)
{
  static const char *vae_names[] = { "ae", "flux_vae", "vae", NULL };
  static const char *clip_names[] = { "clip_l", NULL };
  static const char *t5_names[] = { "t5xxl", "t5", NULL };
  char *dir = g_path_get_dirname (file);
  gboolean ok = FALSE;

  m->single_file = TRUE;
  m->transformer = g_strdup (file);
  m->vae = o->vae_path ? g_strdup (o->vae_path) : find_beside (dir, vae_names);
  m->clip = o->clip_path ? g_strdup (o->clip_path) : find_beside (dir, clip_names);
  m->t5 = o->t5_path ? g_strdup (o->t5_path) : find_beside (dir, t5_names);
  m->tokenizers = g_strdup (o->tokenizer_path);
  if (!m->vae)
    missing (error, file, "VAE", "put ae.safetensors beside it or pass --vae");
  else if (!m->clip)
    missing (error, file, "CLIP text encoder", "put clip_l.safetensors beside it or pass --clip");
  else if (!m->t5)
    missing (error, file, "T5 text encoder", "put t5xxl_*.safetensors beside it or pass --t5");
  else if (!m->tokenizers)
    missing (error, file, "tokenizers",
             "single files carry none: pass --tokenizers with a diffusers folder holding tokenizer/ and tokenizer_2/");
  else
    ok = TRUE;
  g_free (dir);
  return ok;
}

SdModelFiles *
sd_model_files_find (const SdEngineOptions *o, GError **error)
{
  SdModelFiles *m = g_new0 (SdModelFiles, 1);
  char *path = o->path ? g_strdup (o->path) : sd_default_model_path ();
  gboolean ok;

  m->name = g_path_get_basename (path);
  if (g_str_has_suffix (m->name, ".safetensors"))
    m->name[strlen (m->name) - strlen (".safetensors")] = 0;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    ok = find_diffusers (m, path, o, error);
  else if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    ok = find_single (m, path, o, error);
  else
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: no such model folder or file", path);
      ok = FALSE;
    }
  g_free (path);
  if (!ok)
    {
      sd_model_files_free (m);
      return NULL;
    }
  return m;
}

void
sd_model_files_free (SdModelFiles *m)
{
  if (!m)
    return;
  g_free (m->name);
  g_free (m->transformer);
  g_free (m->transformer_config);
  g_free (m->scheduler_config);
  g_free (m->vae);
  g_free (m->clip);
  g_free (m->t5);
  g_free (m->tokenizers);
  g_free (m);
}

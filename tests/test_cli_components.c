/* test_cli_components.c: `scaledit run-component flux` reproduces the diffusers fixtures from the
 * command line and refuses empty inputs, and `scaledit inspect` describes both layouts and names
 * what is wrong with a broken file or one that is not a safetensors file. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "safetensors.h"
#include "testutil.h"

static char *
run_cli (const char *const *args, int *status)
{
  const char *cli = g_getenv ("SCALEDIT_CLI");
  GPtrArray *argv = g_ptr_array_new ();
  char *out = NULL, *err = NULL, *all;
  GError *error = NULL;

  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (char *) cli);
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, 0, NULL, NULL, &out, &err, status, &error));
  g_assert_no_error (error);
  all = g_strconcat (out, err, NULL);
  g_free (out);
  g_free (err);
  g_ptr_array_free (argv, TRUE);
  return all;
}

static void
check_flux (const char *model_rel, const char *kind, const char *expected_rel)
{
  char *model = sd_test_data_path (model_rel), *expected = sd_test_data_path (expected_rel);
  char *inrel = g_strdup_printf ("flux/%s/inputs.safetensors", kind), *in = sd_test_data_path (inrel);
  char *dir = g_dir_make_tmp ("sdcli-XXXXXX", NULL), *outp = g_build_filename (dir, "out.safetensors", NULL);
  const char *args[] = { "run-component", "flux", "--model", model, "--in", in, "--out", outp, "--device", "cpu", NULL };
  int status;
  char *text = run_cli (args, &status);
  GError *error = NULL;
  SdTensorFile *got, *ref;
  float *a, *b;

  g_assert_cmpint (status, ==, 0);
  got = sd_tensors_open (outp, &error);
  g_assert_no_error (error);
  ref = sd_tensors_open (expected, &error);
  g_assert_no_error (error);
  a = sd_tensor_to_f32 (sd_tensors_find (got, "sample"), &error);
  b = sd_tensor_to_f32 (sd_tensors_find (ref, "sample"), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sd_tensors_find (got, "sample")->n_elements, ==, sd_tensors_find (ref, "sample")->n_elements);
  g_assert_cmpfloat (sd_rel_error (a, b, sd_tensors_find (ref, "sample")->n_elements), <=, 1e-4);
  g_free (a);
  g_free (b);
  sd_tensors_close (got);
  sd_tensors_close (ref);
  g_unlink (outp);
  g_rmdir (dir);
  g_free (text);
  g_free (outp);
  g_free (dir);
  g_free (model);
  g_free (expected);
  g_free (in);
  g_free (inrel);
}

static void
test_run_component_flux (void)
{
  check_flux ("flux/dev", "dev", "flux/dev/expected.safetensors");
  check_flux ("flux/dev/flux-dev-bfl.safetensors", "dev", "flux/dev/expected-bfl.safetensors");
  check_flux ("flux/schnell", "schnell", "flux/schnell/expected.safetensors");
}

static void
test_inspect_layouts (void)
{
  char *folder = sd_test_data_path ("flux/dev"), *single = sd_test_data_path ("flux/schnell/flux-schnell-bfl.safetensors");
  const char *a1[] = { "inspect", folder, NULL }, *a2[] = { "inspect", single, NULL };
  int status;
  char *t1 = run_cli (a1, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (t1, "layout: diffusers folder"));
  g_assert_nonnull (strstr (t1, "2 double + 2 single blocks"));
  g_assert_nonnull (strstr (t1, "guidance embedding: yes"));
  {
    char *t2 = run_cli (a2, &status);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (t2, "layout: single file (FLUX transformer)"));
    g_assert_nonnull (strstr (t2, "1 double + 1 single blocks"));
    g_assert_nonnull (strstr (t2, "guidance embedding: no"));
    g_free (t2);
  }
  g_free (t1);
  g_free (folder);
  g_free (single);
}

static void
test_inspect_broken (void)
{
  char *src = sd_test_data_path ("flux/schnell/flux-schnell-bfl.safetensors");
  char *dir = g_dir_make_tmp ("sdcli-XXXXXX", NULL), *broken = g_build_filename (dir, "broken.safetensors", NULL);
  const char *args[] = { "inspect", broken, NULL };
  char *bytes, *text;
  gsize len;
  int status;

  g_assert_true (g_file_get_contents (src, &bytes, &len, NULL));
  /* cut the file in the middle of its tensor data */
  g_assert_true (g_file_set_contents (broken, bytes, len / 2, NULL));
  text = run_cli (args, &status);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (text, "broken.safetensors"));
  g_test_message ("%s", text);
  g_unlink (broken);
  g_rmdir (dir);
  g_free (text);
  g_free (bytes);
  g_free (broken);
  g_free (dir);
  g_free (src);
}

/* The dev inputs with one tensor emptied (its first dimension 0) are refused, naming the tensor, instead of the
 * forward pass reading a timestep or guidance that is not there. */
static void
check_empty_input (const char *emptied)
{
  char *model = sd_test_data_path ("flux/dev"), *src = sd_test_data_path ("flux/dev/inputs.safetensors");
  char *dir = g_dir_make_tmp ("sdcli-XXXXXX", NULL), *inp = g_build_filename (dir, "in.safetensors", NULL);
  char *outp = g_build_filename (dir, "out.safetensors", NULL), *expected = g_strdup_printf ("\"%s\" is empty", emptied);
  const char *args[] = { "run-component", "flux", "--model", model, "--in", inp, "--out", outp, "--device", "cpu", NULL };
  SdTensorOut outs[16];
  float *data[16];
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_open (src, &error);
  guint i, n;
  int status;
  char *text;

  g_assert_no_error (error);
  n = sd_tensors_count (tf);
  g_assert_cmpuint (n, <=, G_N_ELEMENTS (outs));
  for (i = 0; i < n; i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      data[i] = sd_tensor_to_f32 (t, &error);
      g_assert_no_error (error);
      outs[i].name = t->name;
      outs[i].ndim = t->ndim;
      memcpy (outs[i].shape, t->shape, sizeof outs[i].shape);
      outs[i].data = data[i];
      if (g_str_equal (t->name, emptied))
        outs[i].shape[0] = 0;
    }
  g_assert_true (sd_tensors_write (inp, outs, (int) n, &error));
  g_assert_no_error (error);
  text = run_cli (args, &status);
  g_test_message ("%s", text);
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (text, expected));
  g_assert_false (g_file_test (outp, G_FILE_TEST_EXISTS));
  for (i = 0; i < n; i++)
    g_free (data[i]);
  sd_tensors_close (tf);
  g_unlink (inp);
  g_rmdir (dir);
  g_free (text);
  g_free (expected);
  g_free (outp);
  g_free (inp);
  g_free (dir);
  g_free (src);
  g_free (model);
}

static void
test_run_component_empty_input (void)
{
  check_empty_input ("timestep");
  check_empty_input ("guidance");
  check_empty_input ("hidden_states");
}

/* A text file (the first 8 bytes of Markdown read as a length of about 7e18) is "not a safetensors
 * file", not a header length over a limit. */
static void
test_inspect_text_file (void)
{
  char *dir = g_dir_make_tmp ("sdcli-XXXXXX", NULL), *readme = g_build_filename (dir, "README.md", NULL);
  const char *args[] = { "inspect", readme, NULL };
  int status;
  char *text;

  g_assert_true (g_file_set_contents (readme, "# scaledit\n\nUltra-high-resolution images in GIMP.\n", -1, NULL));
  text = run_cli (args, &status);
  g_test_message ("%s", text);
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (text, "README.md: not a safetensors file"));
  g_unlink (readme);
  g_rmdir (dir);
  g_free (text);
  g_free (readme);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/run-component-flux", test_run_component_flux);
  g_test_add_func ("/cli/inspect-layouts", test_inspect_layouts);
  g_test_add_func ("/cli/inspect-broken", test_inspect_broken);
  g_test_add_func ("/cli/inspect-text-file", test_inspect_text_file);
  g_test_add_func ("/cli/run-component-empty-input", test_run_component_empty_input);
  return g_test_run ();
}

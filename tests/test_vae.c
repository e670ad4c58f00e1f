/* test_vae.c: the AutoencoderKL decoder and encoder against diffusers (fixtures from
 * tools/reference/make_vae_fixtures.py), from the diffusers folder and from ae.safetensors. */
#include <string.h>

#include "scaledit.h"
#include "testutil.h"
#include "vae.h"

typedef struct {
  const char *fixture;
  gboolean single_file;
} Case;

static SdVae *
load_fixture (SdBackend *be, const Case *c, GError **error)
{
  char *dir = g_strdup_printf ("vae/%s", c->fixture);
  char *path = sd_test_data_path (dir);
  SdVae *vae;
  if (c->single_file)
    {
      char *file = g_build_filename (path, "ae.safetensors", NULL);
      char *cfg = g_build_filename (path, "vae", "config.json", NULL);
      vae = sd_vae_load (be, file, cfg, error);
      g_free (file);
      g_free (cfg);
    }
  else
    vae = sd_vae_load (be, path, NULL, error);
  g_free (path);
  g_free (dir);
  return vae;
}

static float *
ref_tensor (SdTensorFile *ref, const char *name, const SdTensorInfo **info)
{
  GError *error = NULL;
  float *v;
  *info = sd_tensors_find (ref, name);
  g_assert_nonnull (*info);
  g_assert_cmpint ((*info)->ndim, ==, 3);
  v = sd_tensor_to_f32 (*info, &error);
  g_assert_no_error (error);
  return v;
}

static void
test_matches_diffusers (gconstpointer data)
{
  const Case *c = data;
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  SdVae *vae = load_fixture (be, c, &error);
  char *rel = g_strdup_printf ("vae/%s/reference.safetensors", c->fixture);
  char *ref_path = sd_test_data_path (rel);
  SdTensorFile *ref = sd_tensors_open (ref_path, &error);
  const SdTensorInfo *ti_lat, *ti_dec, *ti_img, *ti_enc;
  float *lat, *dec_ref, *img, *enc_ref, *dec, *enc;
  int lw, lh, f;
  double err;

  g_assert_no_error (error);
  g_assert_nonnull (vae);
  lat = ref_tensor (ref, "latents", &ti_lat);
  dec_ref = ref_tensor (ref, "decoded", &ti_dec);
  img = ref_tensor (ref, "image", &ti_img);
  enc_ref = ref_tensor (ref, "encoded", &ti_enc);
  f = sd_vae_factor (vae);
  g_assert_cmpint (ti_dec->shape[1], ==, ti_lat->shape[1] * f);
  g_assert_cmpint (ti_dec->shape[2], ==, ti_lat->shape[2] * f);

  dec = sd_vae_decode (vae, lat, (int) ti_lat->shape[2], (int) ti_lat->shape[1], NULL, NULL, &error);
  g_assert_no_error (error);
  err = sd_rel_error (dec, dec_ref, ti_dec->n_elements);
  g_test_message ("%s %s decode: rel err %.3g", c->fixture, c->single_file ? "ae" : "diffusers", err);
  g_assert_cmpfloat (err, <=, 1e-4);

  sd_vae_latent_size (vae, (int) ti_img->shape[2], (int) ti_img->shape[1], &lw, &lh);
  g_assert_cmpint (lw, ==, ti_enc->shape[2]);
  g_assert_cmpint (lh, ==, ti_enc->shape[1]);
  enc = sd_vae_encode (vae, img, (int) ti_img->shape[2], (int) ti_img->shape[1], NULL, NULL, &error);
  g_assert_no_error (error);
  err = sd_rel_error (enc, enc_ref, ti_enc->n_elements);
  g_test_message ("%s %s encode: rel err %.3g", c->fixture, c->single_file ? "ae" : "diffusers", err);
  g_assert_cmpfloat (err, <=, 1e-4);

  g_free (dec);
  g_free (enc);
  g_free (lat);
  g_free (dec_ref);
  g_free (img);
  g_free (enc_ref);
  sd_tensors_close (ref);
  g_free (ref_path);
  g_free (rel);
  sd_vae_free (vae);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
}

/* The config read from config.json and the one a single file implies agree where shapes tell. */
static void
test_config (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  Case c = { "noattn", FALSE };
  SdVae *vae = load_fixture (be, &c, &error);
  const SdVaeConfig *cfg;
  g_assert_no_error (error);
  cfg = sd_vae_get_config (vae);
  g_assert_cmpint (cfg->n_blocks, ==, 3);
  g_assert_cmpint (cfg->block_out_channels[2], ==, 32);
  g_assert_cmpint (cfg->latent_channels, ==, 16);
  g_assert_cmpint (cfg->norm_num_groups, ==, 8);
  g_assert_false (cfg->mid_block_add_attention);
  g_assert_true (cfg->use_quant_conv && cfg->use_post_quant_conv);
  g_assert_cmpfloat_with_epsilon (cfg->scaling_factor, 0.3611, 1e-6);
  g_assert_cmpfloat_with_epsilon (cfg->shift_factor, 0.1159, 1e-6);
  g_assert_cmpint (sd_vae_factor (vae), ==, 4);
  sd_vae_free (vae);
  sd_backend_close (be);
}

/* A single file without config is inferred with 32 groups, which these 16-channel blocks cannot
 * hold: the error names the file and says to give the config. */
static void
test_single_file_needs_config (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  char *path = sd_test_data_path ("vae/attn/ae.safetensors");
  SdVae *vae = sd_vae_load (be, path, NULL, &error);
  g_assert_null (vae);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "ae.safetensors"));
  g_assert_nonnull (strstr (error->message, "config.json"));
  g_error_free (error);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_free (path);
  sd_backend_close (be);
}

/* A config whose shapes disagree with the weights fails naming the tensor. */
static void
test_wrong_config (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  char *path = sd_test_data_path ("vae/attn/ae.safetensors");
  char *cfg = sd_test_data_path ("vae/noattn/vae/config.json");
  SdVae *vae = sd_vae_load (be, path, cfg, &error);
  g_assert_null (vae);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "ae.safetensors"));
  g_assert_nonnull (strstr (error->message, "tensor \""));
  g_error_free (error);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_free (path);
  g_free (cfg);
  sd_backend_close (be);
}

int
main (int argc, char **argv)
{
  static const Case cases[] = {
    { "attn", FALSE }, { "attn", TRUE }, { "noattn", FALSE }, { "noattn", TRUE },
  };
  gsize i;
  g_test_init (&argc, &argv, NULL);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *name = g_strdup_printf ("/vae/diffusers/%s/%s", cases[i].fixture,
                                    cases[i].single_file ? "ae-safetensors" : "folder");
      g_test_add_data_func (name, &cases[i], test_matches_diffusers);
      g_free (name);
    }
  g_test_add_func ("/vae/config", test_config);
  g_test_add_func ("/vae/single-file-needs-config", test_single_file_needs_config);
  g_test_add_func ("/vae/wrong-config", test_wrong_config);
  return g_test_run ();
}

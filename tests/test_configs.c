/* test_configs.c: hostile model configurations (values of the wrong type, out of range or whose
 * int sums and products wrap, layer counts the weights do not back, schedules whose exp()
 * overflows, LoRA alphas that are not finite) are refused with an error naming the file and the
 * member, or handled, never misread. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "clip_model.h"
#include "flux.h"
#include "lora.h"
#include "safetensors.h"
#include "sampler.h"
#include "scaledit.h"
#include "t5_model.h"
#include "testutil.h"
#include "vae.h"

static char *tmp_dir;

/* A config reader under test: reads the file at path. */
typedef gboolean (*ReadConfig) (const char *path, GError **error);

/* A hostile config.json text and the member its error must name. */
typedef struct {
  const char *json;
  const char *member;
} Hostile;

static gboolean
read_flux (const char *path, GError **error)
{
  SdFluxConfig c;
  return sd_flux_config_from_json (path, &c, error);
}

static gboolean
read_vae (const char *path, GError **error)
{
  SdVaeConfig c;
  return sd_vae_config_from_json (path, &c, error);
}

static gboolean
read_schedule (const char *path, GError **error)
{
  SdSchedule s;
  return sd_schedule_from_json (path, &s, error);
}

/* The error names the file and the member. */
static void
assert_names (const GError *error, gint code, const char *file, const char *member)
{
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, SD_ERROR, code);
  g_assert_nonnull (strstr (error->message, file));
  g_assert_nonnull (strstr (error->message, member));
}

static void
expect_refused (ReadConfig read, const char *name, const Hostile *cases, gsize n)
{
  char *path = g_build_filename (tmp_dir, name, NULL);
  gsize i;

  for (i = 0; i < n; i++)
    {
      GError *error = NULL;
      g_test_message ("%s: %s", name, cases[i].json);
      g_assert_true (g_file_set_contents (path, cases[i].json, -1, NULL));
      g_assert_false (read (path, &error));
      assert_names (error, SD_ERROR_FORMAT, path, cases[i].member);
      g_error_free (error);
    }
  g_unlink (path);
  g_free (path);
}

/* The fixture configs still read, with their values. */
static void
test_fixtures_read (void)
{
  char *flux = sd_test_data_path ("flux/dev/transformer/config.json");
  char *sched = sd_test_data_path ("flux/dev/scheduler/scheduler_config.json");
  GError *error = NULL;
  SdFluxConfig c;
  SdSchedule s;

  g_assert_true (sd_flux_config_from_json (flux, &c, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.hidden, ==, 64);
  g_assert_cmpint (c.axes_dims_rope[1], ==, 14);
  g_assert_true (c.guidance_embeds);
  g_assert_cmpint (c.out_channels, ==, 64); /* null: in_channels */
  g_assert_true (sd_schedule_from_json (sched, &s, &error));
  g_assert_no_error (error);
  g_assert_cmpint (s.max_seq_len, ==, 4096);
  g_assert_cmpfloat (s.max_shift, ==, 1.15);
  g_free (flux);
  g_free (sched);
}

static void
test_flux_config (void)
{
  static const Hostile cases[] = {
    /* int sums that wrap to the head size: 2147483646 + 2147483646 + 132 = 2^32 + 128 */
    { "{\"attention_head_dim\": 128, \"axes_dims_rope\": [2147483646, 2147483646, 132]}", "axes_dims_rope[0]" },
    { "{\"attention_head_dim\": 128, \"axes_dims_rope\": [200, -128, 56]}", "axes_dims_rope[1]" },
    /* 1025868 * 12560 wraps to 192 in int */
    { "{\"num_attention_heads\": 1025868, \"attention_head_dim\": 12560}", "num_attention_heads" },
    { "{\"num_attention_heads\": 1024, \"attention_head_dim\": 4096, \"axes_dims_rope\": [512, 1792, 1792]}",
      "num_attention_heads * attention_head_dim" },
    { "{\"num_layers\": \"19\"}", "num_layers" },
    { "{\"num_layers\": 2.5}", "num_layers" },
    { "{\"num_single_layers\": 2000000000}", "num_single_layers" },
    { "{\"in_channels\": -64}", "in_channels" },
    { "{\"joint_attention_dim\": 1e300}", "joint_attention_dim" },
    { "{\"pooled_projection_dim\": 99999999999999999999}", "pooled_projection_dim" },
    { "{\"patch_size\": [1]}", "patch_size" },
    { "{\"guidance_embeds\": \"yes\"}", "guidance_embeds" },
    { "{\"guidance_embeds\": {}}", "guidance_embeds" },
    { "{\"axes_dims_rope\": [16, 56]}", "axes_dims_rope" },
    { "{\"axes_dims_rope\": [16, \"56\", 56]}", "axes_dims_rope[1]" },
    { "{\"axes_dims_rope\": [16, 56.0, 56]}", "axes_dims_rope[1]" },
    { "{\"axes_dims_rope\": [16, 56, [56]]}", "axes_dims_rope[2]" },
    { "{\"axes_dims_rope\": {\"0\": 16}}", "axes_dims_rope" },
  };
  expect_refused (read_flux, "transformer-config.json", cases, G_N_ELEMENTS (cases));
}

static void
test_vae_config (void)
{
  static const Hostile cases[] = {
    { "{\"block_out_channels\": [32, \"64\"]}", "block_out_channels[1]" },
    { "{\"block_out_channels\": [32, {}]}", "block_out_channels[1]" },
    { "{\"block_out_channels\": [32, -2147483616]}", "block_out_channels[1]" },
    { "{\"block_out_channels\": 32}", "block_out_channels" },
    { "{\"block_out_channels\": null}", "block_out_channels" },
    { "{\"block_out_channels\": [32, 32, 32, 32, 32, 32, 32, 32, 32]}", "block_out_channels" },
    { "{\"block_out_channels\": [32], \"layers_per_block\": 100000}", "layers_per_block" },
    { "{\"block_out_channels\": [32], \"latent_channels\": 16.0}", "latent_channels" },
    { "{\"block_out_channels\": [32], \"act_fn\": [\"silu\"]}", "act_fn" },
    { "{\"block_out_channels\": [32], \"down_block_types\": [{}]}", "down_block_types[0]" },
    { "{\"block_out_channels\": [32], \"up_block_types\": \"UpDecoderBlock2D\"}", "up_block_types" },
    { "{\"block_out_channels\": [32], \"scaling_factor\": 1e300}", "scaling_factor" },
    { "{\"block_out_channels\": [32], \"scaling_factor\": \"0.3611\"}", "scaling_factor" },
    { "{\"block_out_channels\": [32], \"scaling_factor\": 0}", "scaling_factor" },
    { "{\"block_out_channels\": [32], \"shift_factor\": [0.1]}", "shift_factor" },
    { "{\"block_out_channels\": [32], \"use_quant_conv\": 1}", "use_quant_conv" },
  };
  expect_refused (read_vae, "vae-config.json", cases, G_N_ELEMENTS (cases));
}

static void
test_scheduler_config (void)
{
  static const Hostile cases[] = {
    { "{\"max_image_seq_len\": 1e300}", "max_image_seq_len" },
    { "{\"base_image_seq_len\": -256}", "base_image_seq_len" },
    { "{\"base_image_seq_len\": 4096, \"max_image_seq_len\": 4096}", "base_image_seq_len" },
    { "{\"base_shift\": \"0.5\"}", "base_shift" },
    { "{\"base_shift\": []}", "base_shift" },
    { "{\"max_shift\": 1e300}", "max_shift" },
    { "{\"shift\": -1}", "shift" },
    { "{\"use_dynamic_shifting\": \"false\"}", "use_dynamic_shifting" },
  };
  expect_refused (read_schedule, "scheduler_config.json", cases, G_N_ELEMENTS (cases));
}

/* Within the bounds, mu can still reach ±1e7, where exp() overflows to inf or underflows to 0:
 * the sigmas stay finite, in [0, 1] and falling. */
static void
test_schedule_extreme_mu (void)
{
  const double shifts[2][2] = { { -100, 100 }, { 100, -100 } };
  int k, i;

  for (k = 0; k < 2; k++)
    {
      SdSchedule s;
      float sigmas[29];
      double mu;

      sd_schedule_init_dev (&s);
      s.base_shift = shifts[k][0];
      s.max_shift = shifts[k][1];
      s.base_seq_len = 1;
      s.max_seq_len = 2;
      mu = sd_schedule_mu (&s, 65536);
      g_test_message ("mu %g", mu);
      g_assert_true (isfinite (mu) && fabs (mu) > 1e6);
      sd_schedule_sigmas (&s, 28, mu, sigmas);
      for (i = 0; i <= 28; i++)
        {
          g_assert_true (isfinite (sigmas[i]));
          g_assert_cmpfloat (sigmas[i], >=, 0.0f);
          g_assert_cmpfloat (sigmas[i], <=, 1.0f);
          if (i > 0)
            g_assert_cmpfloat (sigmas[i], <=, sigmas[i - 1]);
        }
      g_assert_cmpfloat (sigmas[28], ==, 0.0f);
    }
}

/* A text-encoder folder: the fixture's weights and its config.json with the members of
 * `overrides` (a JSON object) replaced. Returns the folder. */
static char *
encoder_folder (const char *name, const char *fixture, const char *overrides)
{
  char *dir = g_build_filename (tmp_dir, name, NULL);
  char *src_dir = sd_test_data_path (fixture);
  char *src_cfg = g_build_filename (src_dir, "config.json", NULL);
  char *src_w = g_build_filename (src_dir, "model.safetensors", NULL);
  char *dst_cfg = g_build_filename (dir, "config.json", NULL);
  char *dst_w = g_build_filename (dir, "model.safetensors", NULL);
  JsonParser *base = json_parser_new (), *over = json_parser_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonObjectIter it;
  const char *key;
  JsonNode *value;
  char *weights;
  gsize len;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_get_contents (src_w, &weights, &len, NULL));
  g_assert_true (g_file_set_contents (dst_w, weights, len, NULL));
  g_assert_true (json_parser_load_from_file (base, src_cfg, NULL));
  g_assert_true (json_parser_load_from_data (over, overrides, -1, NULL));
  json_object_iter_init (&it, json_node_get_object (json_parser_get_root (over)));
  while (json_object_iter_next (&it, &key, &value))
    json_object_set_member (json_node_get_object (json_parser_get_root (base)), key, json_node_copy (value));
  json_generator_set_root (gen, json_parser_get_root (base));
  g_assert_true (json_generator_to_file (gen, dst_cfg, NULL));
  g_object_unref (gen);
  g_object_unref (base);
  g_object_unref (over);
  g_free (weights);
  g_free (src_dir);
  g_free (src_cfg);
  g_free (src_w);
  g_free (dst_cfg);
  g_free (dst_w);
  return dir;
}

typedef gboolean (*LoadEncoder) (SdBackend *be, const char *dir, GError **error);

static gboolean
load_clip (SdBackend *be, const char *dir, GError **error)
{
  SdClipModel *m = sd_clip_load (be, dir, error);
  sd_clip_free (m);
  return m != NULL;
}

static gboolean
load_t5 (SdBackend *be, const char *dir, GError **error)
{
  SdT5Model *m = sd_t5_load (be, dir, error);
  sd_t5_free (m);
  return m != NULL;
}

/* Loading the fixture with the overrides fails with `code`, naming the config file (or, for
 * SD_ERROR_MODEL, the weights) and `member`, quickly and without leaking backend memory. */
static void
expect_encoder_refused (LoadEncoder load, const char *fixture, const char *overrides, gint code, const char *member)
{
  static int serial;
  char *name = g_strdup_printf ("encoder-%d", serial++);
  char *dir = encoder_folder (name, fixture, overrides);
  char *named = g_build_filename (dir, code == SD_ERROR_MODEL ? "model.safetensors" : "config.json", NULL);
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_message ("%s: %s", fixture, overrides);
  g_assert_false (load (be, dir, &error));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  assert_names (error, code, named, member);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  g_error_free (error);
  sd_backend_close (be);
  g_free (named);
  g_free (dir);
  g_free (name);
}

static void
test_clip_config (void)
{
  const char *fx = "text_encoders/diffusers/text_encoder";
  /* 2·10⁹ layers aborted on allocating them, 2·10⁷ ran for minutes */
  expect_encoder_refused (load_clip, fx, "{\"num_hidden_layers\": 2000000000}", SD_ERROR_FORMAT, "num_hidden_layers");
  expect_encoder_refused (load_clip, fx, "{\"num_hidden_layers\": 20000000}", SD_ERROR_FORMAT, "num_hidden_layers");
  expect_encoder_refused (load_clip, fx, "{\"num_hidden_layers\": 3000000000}", SD_ERROR_FORMAT, "num_hidden_layers");
  /* within the bounds, but the weights hold 2 layers: the first missing one is named */
  expect_encoder_refused (load_clip, fx, "{\"num_hidden_layers\": 1024}", SD_ERROR_MODEL,
                          "text_model.encoder.layers.2.self_attn.q_proj.weight");
  expect_encoder_refused (load_clip, fx, "{\"hidden_size\": \"64\"}", SD_ERROR_FORMAT, "hidden_size");
  expect_encoder_refused (load_clip, fx, "{\"vocab_size\": 1000.5}", SD_ERROR_FORMAT, "vocab_size");
  expect_encoder_refused (load_clip, fx, "{\"intermediate_size\": 1000000000}", SD_ERROR_FORMAT, "intermediate_size");
  expect_encoder_refused (load_clip, fx, "{\"num_attention_heads\": 3}", SD_ERROR_FORMAT, "num_attention_heads");
  expect_encoder_refused (load_clip, fx, "{\"layer_norm_eps\": \"1e-5\"}", SD_ERROR_FORMAT, "layer_norm_eps");
  expect_encoder_refused (load_clip, fx, "{\"max_position_embeddings\": -77}", SD_ERROR_FORMAT,
                          "max_position_embeddings");
  expect_encoder_refused (load_clip, fx, "{\"eos_token_id\": [2]}", SD_ERROR_FORMAT, "eos_token_id");
  expect_encoder_refused (load_clip, fx, "{\"hidden_act\": 7}", SD_ERROR_FORMAT, "hidden_act");
}

static void
test_t5_config (void)
{
  const char *fx = "text_encoders/diffusers/text_encoder_2";
  expect_encoder_refused (load_t5, fx, "{\"num_layers\": 2000000000}", SD_ERROR_FORMAT, "num_layers");
  expect_encoder_refused (load_t5, fx, "{\"num_layers\": 20000000}", SD_ERROR_FORMAT, "num_layers");
  expect_encoder_refused (load_t5, fx, "{\"num_layers\": 1024}", SD_ERROR_MODEL,
                          "encoder.block.2.layer.0.SelfAttention.q.weight");
  expect_encoder_refused (load_t5, fx, "{\"num_heads\": 64, \"d_kv\": 4096}", SD_ERROR_FORMAT, "num_heads * d_kv");
  expect_encoder_refused (load_t5, fx, "{\"d_model\": 64.0}", SD_ERROR_FORMAT, "d_model");
  expect_encoder_refused (load_t5, fx, "{\"d_ff\": -128}", SD_ERROR_FORMAT, "d_ff");
  expect_encoder_refused (load_t5, fx, "{\"relative_attention_num_buckets\": \"32\"}", SD_ERROR_FORMAT,
                          "relative_attention_num_buckets");
  expect_encoder_refused (load_t5, fx, "{\"relative_attention_max_distance\": 8}", SD_ERROR_FORMAT,
                          "relative_attention_max_distance");
  expect_encoder_refused (load_t5, fx, "{\"layer_norm_epsilon\": 1e300}", SD_ERROR_FORMAT, "layer_norm_epsilon");
  expect_encoder_refused (load_t5, fx, "{\"feed_forward_proj\": [\"gated-gelu\"]}", SD_ERROR_FORMAT,
                          "feed_forward_proj");
}

/* The unmodified fixture folders still load. */
static void
test_encoder_fixtures_load (void)
{
  char *clip = encoder_folder ("clip-ok", "text_encoders/diffusers/text_encoder", "{}");
  char *t5 = encoder_folder ("t5-ok", "text_encoders/diffusers/text_encoder_2", "{}");
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;

  g_assert_true (load_clip (be, clip, &error));
  g_assert_no_error (error);
  g_assert_true (load_t5 (be, t5, &error));
  g_assert_no_error (error);
  sd_backend_close (be);
  g_free (clip);
  g_free (t5);
}

/* The dev fixture transformer on the CPU backend, for LoRAs to load against. */
static SdFlux *
load_flux (SdBackend *be)
{
  char *config = sd_test_data_path ("flux/dev/transformer/config.json");
  char *weights = sd_test_data_path ("flux/dev/transformer/diffusion_pytorch_model.safetensors");
  GError *error = NULL;
  SdFluxConfig cfg;
  SdTensorFile *tf;
  SdFlux *flux;

  g_assert_true (sd_flux_config_from_json (config, &cfg, &error));
  tf = sd_tensors_open (weights, &error);
  g_assert_no_error (error);
  flux = sd_flux_load (be, tf, &cfg, &error);
  g_assert_no_error (error);
  sd_tensors_close (tf);
  g_free (config);
  g_free (weights);
  return flux;
}

static void
copy_file (const char *from, const char *to)
{
  char *data;
  gsize len;
  g_assert_true (g_file_get_contents (from, &data, &len, NULL));
  g_assert_true (g_file_set_contents (to, data, len, NULL));
  g_free (data);
}

/* A PEFT folder (the fixture's adapter weights) with hostile adapter_config.json files. */
static void
test_lora_config (void)
{
  static const Hostile cases[] = {
    { "{\"lora_alpha\": \"6\"}", "lora_alpha" },
    { "{\"lora_alpha\": [6]}", "lora_alpha" },
    { "{\"lora_alpha\": 1e300}", "lora_alpha" },
    { "{\"lora_alpha\": 6, \"use_dora\": \"no\"}", "use_dora" },
    { "{\"lora_alpha\": 6, \"use_dora\": {}}", "use_dora" },
    { "{\"lora_alpha\": 6, \"use_rslora\": \"true\"}", "use_rslora" },
    { "{\"lora_alpha\": 6, \"peft_type\": [\"LORA\"]}", "peft_type" },
    { "{\"lora_alpha\": 6, \"peft_type\": 1}", "peft_type" },
    { "{\"lora_alpha\": 6, \"alpha_pattern\": {\"to_q\": []}}", "alpha_pattern.to_q" },
    { "{\"lora_alpha\": 6, \"alpha_pattern\": {\"to_q\": 1e300}}", "alpha_pattern.to_q" },
    { "{\"lora_alpha\": 6, \"alpha_pattern\": {\"to_q\": \"8\"}}", "alpha_pattern.to_q" },
    { "{\"lora_alpha\": 6, \"alpha_pattern\": [8]}", "alpha_pattern" },
  };
  SdBackend *be = sd_backend_cpu_new ();
  SdFlux *flux = load_flux (be);
  char *dir = g_build_filename (tmp_dir, "lora-peft", NULL);
  char *src = sd_test_data_path ("lora/peft/adapter_model.safetensors");
  char *src_cfg = sd_test_data_path ("lora/peft/adapter_config.json");
  char *weights = g_build_filename (dir, "adapter_model.safetensors", NULL);
  char *config = g_build_filename (dir, "adapter_config.json", NULL);
  GError *error = NULL;
  SdLora *lora;
  gsize i;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  copy_file (src, weights);
  copy_file (src_cfg, config);
  lora = sd_lora_load (flux, dir, &error);
  g_assert_no_error (error);
  sd_lora_free (lora);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("adapter_config.json: %s", cases[i].json);
      g_assert_true (g_file_set_contents (config, cases[i].json, -1, NULL));
      g_assert_null (sd_lora_load (flux, dir, &error));
      assert_names (error, SD_ERROR_FORMAT, config, cases[i].member);
      g_clear_error (&error);
    }
  sd_flux_free (flux);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
  g_free (dir);
  g_free (src);
  g_free (src_cfg);
  g_free (weights);
  g_free (config);
}

/* The fixture diffusers LoRA with every .alpha tensor (F32) set to `value`. */
static char *
lora_with_alpha (const char *name, float value)
{
  char *src = sd_test_data_path ("lora/diffusers-alpha.safetensors");
  char *dst = g_build_filename (tmp_dir, name, NULL);
  JsonParser *header = json_parser_new ();
  JsonObjectIter it;
  const char *key;
  JsonNode *entry;
  guint64 header_len;
  char *data;
  gsize len;

  g_assert_true (g_file_get_contents (src, &data, &len, NULL));
  memcpy (&header_len, data, 8);
  header_len = GUINT64_FROM_LE (header_len);
  g_assert_true (json_parser_load_from_data (header, data + 8, (gssize) header_len, NULL));
  json_object_iter_init (&it, json_node_get_object (json_parser_get_root (header)));
  while (json_object_iter_next (&it, &key, &entry))
    if (g_str_has_suffix (key, ".alpha"))
      {
        JsonObject *t = json_node_get_object (entry);
        gint64 offset = json_array_get_int_element (json_object_get_array_member (t, "data_offsets"), 0);
        g_assert_cmpstr (json_object_get_string_member (t, "dtype"), ==, "F32");
        memcpy (data + 8 + header_len + offset, &value, 4); /* little-endian host, as the fixture */
      }
  g_assert_true (g_file_set_contents (dst, data, len, NULL));
  g_object_unref (header);
  g_free (data);
  g_free (src);
  return dst;
}

/* A file's .alpha tensors that are not finite (or absurdly large) are refused, naming the file. */
static void
test_lora_alpha_tensor (void)
{
  const float values[] = { INFINITY, NAN, 1e30f };
  SdBackend *be = sd_backend_cpu_new ();
  SdFlux *flux = load_flux (be);
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (values); i++)
    {
      char *name = g_strdup_printf ("alpha-%" G_GSIZE_FORMAT ".safetensors", i);
      char *path = lora_with_alpha (name, values[i]);
      GError *error = NULL;
      g_assert_null (sd_lora_load (flux, path, &error));
      assert_names (error, SD_ERROR_FORMAT, path, ".alpha");
      g_error_free (error);
      g_free (path);
      g_free (name);
    }
  sd_flux_free (flux);
  sd_backend_close (be);
}

/* tokenizer_2/tokenizer_config.json, read when an engine opens: a model_max_length that is not a
 * number, or a file that is not JSON, is refused naming it; transformers' 1e30 "no limit" is not. */
static void
test_t5_tokenizer_config (void)
{
  static const struct {
    const char *json, *member; /* member NULL: the engine opens */
  } cases[] = {
    { "{\"model_max_length\": 64}", NULL },
    { "{\"model_max_length\": 1000000000000000019884624838656}", NULL },
    { "{\"model_max_length\": 1e30}", NULL },
    { "{\"model_max_length\": \"512\"}", "model_max_length" },
    { "{\"model_max_length\": [64]}", "model_max_length" },
    { "{\"model_max_length\": 64", "tokenizer_config.json" },
  };
  char *dir = g_build_filename (tmp_dir, "tokenizers", "tokenizer_2", NULL);
  char *tokenizers = g_build_filename (tmp_dir, "tokenizers", NULL);
  char *config = g_build_filename (dir, "tokenizer_config.json", NULL);
  char *model = sd_test_data_path ("pipeline-model");
  gsize i;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      SdEngineOptions o = { 0 };
      GError *error = NULL;
      SdEngine *e;

      g_test_message ("tokenizer_config.json: %s", cases[i].json);
      g_assert_true (g_file_set_contents (config, cases[i].json, -1, NULL));
      o.path = model;
      o.tokenizer_path = tokenizers;
      o.backend = "cpu";
      e = sd_engine_open (&o, &error);
      if (!cases[i].member)
        g_assert_no_error (error);
      else
        {
          g_assert_null (e);
          assert_names (error, SD_ERROR_FORMAT, config, cases[i].member);
          g_error_free (error);
        }
      sd_engine_close (e);
    }
  g_free (dir);
  g_free (tokenizers);
  g_free (config);
  g_free (model);
}

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  const char *n;
  if (d)
    {
      while ((n = g_dir_read_name (d)))
        {
          char *p = g_build_filename (path, n, NULL);
          remove_tree (p);
          g_free (p);
        }
      g_dir_close (d);
    }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("scaledit-configs-XXXXXX", NULL);
  g_test_add_func ("/configs/fixtures-read", test_fixtures_read);
  g_test_add_func ("/configs/flux", test_flux_config);
  g_test_add_func ("/configs/vae", test_vae_config);
  g_test_add_func ("/configs/scheduler", test_scheduler_config);
  g_test_add_func ("/configs/schedule-extreme-mu", test_schedule_extreme_mu);
  g_test_add_func ("/configs/encoder-fixtures-load", test_encoder_fixtures_load);
  g_test_add_func ("/configs/clip", test_clip_config);
  g_test_add_func ("/configs/t5", test_t5_config);
  g_test_add_func ("/configs/lora", test_lora_config);
  g_test_add_func ("/configs/lora-alpha-tensor", test_lora_alpha_tensor);
  g_test_add_func ("/configs/t5-tokenizer-config", test_t5_tokenizer_config);
  status = g_test_run ();
  remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}

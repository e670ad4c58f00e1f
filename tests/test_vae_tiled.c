/* test_vae_tiled.c: tiled VAE decode / encode equal the untiled run for several tile sizes on
 * non-square images, with intermediates in host memory, resident on the device, or both; the
 * device working memory is bounded by the tile, not the image; cancel between tiles stops
 * cleanly; progress counts every tile; on a backend that holds bf16, host intermediates kept as
 * bf16 give the same result as f32 ones in half the bytes. */
#include <string.h>

#include <glib/gstdio.h>

#include "backend.h"
#include "scaledit.h"
#include "testutil.h"
#include "vae.h"

static SdVae *
load (SdBackend *be, const char *fixture)
{
  GError *error = NULL;
  char *rel = g_strdup_printf ("vae/%s", fixture);
  char *path = sd_test_data_path (rel);
  SdVae *vae = sd_vae_load (be, path, NULL, &error);
  g_assert_no_error (error);
  g_free (path);
  g_free (rel);
  return vae;
}

typedef struct {
  int calls, last_done, total;
  int cancel_after;
  volatile gint *cancel;
} Progress;

static void
on_tile (int done, int total, gpointer user_data)
{
  Progress *p = user_data;
  g_assert_cmpint (done, ==, p->last_done + 1);
  g_assert_cmpint (done, <=, total);
  p->calls++;
  p->last_done = done;
  p->total = total;
  if (p->cancel_after && done == p->cancel_after)
    g_atomic_int_set (p->cancel, 1);
}

static void
test_tiled_equals_untiled (gconstpointer data)
{
  const char *fixture = data;
  static const int tiles[] = { 3, 5, 8, 13 };
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, fixture);
  const SdVaeConfig *c = sd_vae_get_config (vae);
  const int f = sd_vae_factor (vae), lw = 11, lh = 7, iw = 45, ih = 26;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
  float *img = sd_test_random (rng, (gsize) c->in_channels * iw * ih, 1.0f);
  GError *error = NULL;
  SdVaeStats st;
  float *dec0, *enc0;
  int elw, elh;
  gsize i;

  sd_vae_latent_size (vae, iw, ih, &elw, &elh);
  dec0 = sd_vae_decode (vae, lat, lw, lh, NULL, &st, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (st.halo_fraction, ==, 0);
  enc0 = sd_vae_encode (vae, img, iw, ih, NULL, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (tiles); i++)
    {
      SdVaeTiling t = { 0 };
      Progress prog = { 0 };
      float *dec, *enc;
      double ed, ee;
      t.max_tile = tiles[i];
      t.on_tile = on_tile;
      t.user_data = &prog;
      dec = sd_vae_decode (vae, lat, lw, lh, &t, &st, &error);
      g_assert_no_error (error);
      g_assert_cmpint (prog.last_done, ==, prog.total);
      g_assert_cmpint (st.tiles, ==, prog.total);
      g_assert_cmpfloat (st.halo_fraction, >, 0);
      ed = sd_rel_error (dec, dec0, (gsize) c->out_channels * lw * f * lh * f);
      prog.last_done = 0;
      enc = sd_vae_encode (vae, img, iw, ih, &t, &st, &error);
      g_assert_no_error (error);
      ee = sd_rel_error (enc, enc0, (gsize) c->latent_channels * elw * elh);
      g_test_message ("%s tile %d: decode %d tiles rel err %.2g, encode rel err %.2g, halo %.2f",
                      fixture, tiles[i], prog.total, ed, ee, st.halo_fraction);
      g_assert_cmpfloat (ed, <=, 1e-5);
      g_assert_cmpfloat (ee, <=, 1e-5);
      g_free (dec);
      g_free (enc);
    }
  g_free (dec0);
  g_free (enc0);
  g_free (lat);
  g_free (img);
  g_rand_free (rng);
  sd_vae_free (vae);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
}

/* sd_vae_memory tells, before a run, the host and temporary-file peaks the run then reports
 * (exactly: the CPU keeps no intermediate on a device) and working bytes no smaller than the run's
 * device peak, within the budget, for decodes and encodes at several sizes, budgets and caps on
 * host memory. */
static void
test_memory_estimate (gconstpointer data)
{
  const char *fixture = data;
  static const int sizes[][2] = { { 24, 16 }, { 40, 24 }, { 8, 56 } };
  static const gsize budgets[] = { 256 << 10, 2 << 20, 0 };
  static const gsize caps[] = { 0, 1, 300 << 10 };
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, fixture);
  const SdVaeConfig *c = sd_vae_get_config (vae);
  const int f = sd_vae_factor (vae);
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  guint k, b;

  for (k = 0; k < G_N_ELEMENTS (sizes) * G_N_ELEMENTS (caps); k++)
    for (b = 0; b < G_N_ELEMENTS (budgets); b++)
      {
        const int *size = sizes[k % G_N_ELEMENTS (sizes)];
        const gsize cap = caps[k / G_N_ELEMENTS (sizes)];
        const int lw = size[0], lh = size[1], w = lw * f, h = lh * f;
        float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
        float *img = sd_test_random (rng, (gsize) c->in_channels * w * h, 1.0f);
        SdVaeTiling t = { 0 };
        SdVaeStats st;
        GError *error = NULL;
        gsize host, spill, work;
        int encode;
        float *out;
        t.budget_bytes = budgets[b];
        t.host_slot_bytes = cap;
        for (encode = 0; encode < 2; encode++)
          {
            g_assert_true (sd_vae_memory (vae, encode, w, h, &t, &host, &spill, &work, &error));
            g_assert_no_error (error);
            if (cap == 0)
              g_assert_cmpuint (spill, ==, 0);
            if (cap == 1)
              g_assert_cmpuint (spill, >, 0);
            out = encode ? sd_vae_encode (vae, img, w, h, &t, &st, &error)
                         : sd_vae_decode (vae, lat, lw, lh, &t, &st, &error);
            g_assert_no_error (error);
            g_test_message ("%s %s %dx%d, budget %" G_GSIZE_FORMAT ", host cap %" G_GSIZE_FORMAT
                            ": host %" G_GSIZE_FORMAT " estimated, %" G_GSIZE_FORMAT " ran; files %"
                            G_GSIZE_FORMAT " estimated, %" G_GSIZE_FORMAT " ran; working %" G_GSIZE_FORMAT
                            " estimated, device peak %" G_GSIZE_FORMAT, fixture,
                            encode ? "encode" : "decode", w, h, budgets[b], cap, host,
                            st.host_peak_bytes, spill, st.spill_peak_bytes, work, st.device_peak_bytes);
            g_assert_cmpuint (host, ==, st.host_peak_bytes);
            g_assert_cmpuint (spill, ==, st.spill_peak_bytes);
            g_assert_cmpuint (st.device_peak_bytes, <=, work);
            g_assert_cmpuint (work, <=, budgets[b] ? budgets[b] : (gsize) 2 << 30);
            g_free (out);
          }
        g_free (lat);
        g_free (img);
      }
  g_rand_free (rng);
  sd_vae_free (vae);
  sd_backend_close (be);
}

/* With the same budget, decoding a latent of 2.5x the area needs the same device working memory
 * in the conv passes (the tiles are the same); the host's full-resolution buffers grow, and so do
 * the mid-block attention's whole-latent keys and values, reported apart (within the budget). */
static void
test_memory_bounded_by_tile (gconstpointer data)
{
  const char *fixture = data;
  static const int sizes[2][2] = { { 24, 16 }, { 40, 24 } };
  const gsize budget = 512 << 10;
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, fixture);
  const SdVaeConfig *c = sd_vae_get_config (vae);
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  SdVaeStats st[2];
  int k;

  for (k = 0; k < 2; k++)
    {
      GError *error = NULL;
      SdVaeTiling t = { 0 };
      const int lw = sizes[k][0], lh = sizes[k][1];
      float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
      float *dec;
      t.budget_bytes = budget;
      dec = sd_vae_decode (vae, lat, lw, lh, &t, &st[k], &error);
      g_assert_no_error (error);
      g_test_message ("%s %dx%d latent: device peak %" G_GSIZE_FORMAT " B, conv passes %" G_GSIZE_FORMAT
                      " B, attention pass %" G_GSIZE_FORMAT " B (K/V %" G_GSIZE_FORMAT " B), host "
                      "full-resolution peak %" G_GSIZE_FORMAT " B, %d tiles, halo %.3f",
                      fixture, lw, lh, st[k].device_peak_bytes, st[k].tile_peak_bytes,
                      st[k].attention_peak_bytes, st[k].attention_kv_bytes,
                      st[k].host_peak_bytes, st[k].tiles, st[k].halo_fraction);
      g_assert_cmpuint (st[k].device_peak_bytes, <=, budget);
      g_assert_cmpuint (st[k].tile_peak_bytes, <=, st[k].device_peak_bytes);
      g_assert_cmpuint (st[k].attention_peak_bytes, <=, st[k].device_peak_bytes);
      g_free (dec);
      g_free (lat);
    }
  g_assert_cmpuint (st[0].tile_peak_bytes, ==, st[1].tile_peak_bytes);
  g_assert_cmpuint (st[1].host_peak_bytes, >, 2 * st[0].host_peak_bytes);
  g_assert_cmpint (st[1].tiles, >, st[0].tiles);
  g_rand_free (rng);
  sd_vae_free (vae);
  sd_backend_close (be);
}

/* The mid-block attention with its keys and values streamed in chunks (a budget too small to hold
 * them, the chunks merged by their log-sum-exps) equals the run that holds them all, in decode and
 * encode, with the stores in host memory or in a device slot; the working memory stays within the
 * budget, and the memory estimate counts the stores exactly. */
static void
test_chunked_attention (void)
{
  static const gsize budgets[] = { 96 << 10, 56 << 10, 40 << 10 };
  static const gsize caps[] = { 0, (gsize) 1 << 30 };
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, "attn");
  const SdVaeConfig *c = sd_vae_get_config (vae);
  const int f = sd_vae_factor (vae), lw = 24, lh = 17, iw = lw * f, ih = lh * f;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
  float *img = sd_test_random (rng, (gsize) c->in_channels * iw * ih, 1.0f);
  GError *error = NULL;
  SdVaeStats st;
  float *dec0, *enc0;
  gsize b, k;

  dec0 = sd_vae_decode (vae, lat, lw, lh, NULL, &st, &error);
  g_assert_no_error (error);
  g_assert_cmpint (st.attention_kv_chunks, ==, 1);
  enc0 = sd_vae_encode (vae, img, iw, ih, NULL, &st, &error);
  g_assert_no_error (error);
  g_assert_cmpint (st.attention_kv_chunks, ==, 1);
  for (b = 0; b < G_N_ELEMENTS (budgets); b++)
    for (k = 0; k < G_N_ELEMENTS (caps); k++)
      {
        SdVaeTiling t = { 0 };
        gsize host, spill, work;
        float *dec, *enc;
        double ed, ee;
        t.budget_bytes = budgets[b];
        t.device_slot_bytes = caps[k];
        dec = sd_vae_decode (vae, lat, lw, lh, &t, &st, &error);
        g_assert_no_error (error);
        g_assert_cmpint (st.attention_kv_chunks, >, 1);
        g_assert_cmpuint (st.attention_peak_bytes, <=, budgets[b] + caps[k]);
        if (!caps[k])
          g_assert_cmpuint (st.device_peak_bytes, <=, budgets[b]);
        if (!caps[k])
          {
            g_assert_true (sd_vae_memory (vae, FALSE, iw, ih, &t, &host, &spill, &work, &error));
            g_assert_cmpuint (host, ==, st.host_peak_bytes);
          }
        ed = sd_rel_error (dec, dec0, (gsize) c->out_channels * iw * ih);
        enc = sd_vae_encode (vae, img, iw, ih, &t, &st, &error);
        g_assert_no_error (error);
        g_assert_cmpint (st.attention_kv_chunks, >, 1);
        ee = sd_rel_error (enc, enc0, (gsize) c->latent_channels * lw * lh);
        g_test_message ("budget %" G_GSIZE_FORMAT " KiB, slots %s: %d chunks, decode rel err %.2g, encode "
                        "rel err %.2g", budgets[b] >> 10, caps[k] ? "device" : "host", st.attention_kv_chunks,
                        ed, ee);
        g_assert_cmpfloat (ed, <=, 1e-5);
        g_assert_cmpfloat (ee, <=, 1e-5);
        g_free (dec);
        g_free (enc);
      }
  g_free (dec0);
  g_free (enc0);
  g_free (lat);
  g_free (img);
  g_rand_free (rng);
  sd_vae_free (vae);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
}

static gboolean
dir_is_empty (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  gboolean empty;
  g_assert_nonnull (d);
  empty = g_dir_read_name (d) == NULL;
  g_dir_close (d);
  return empty;
}

/* Intermediates beyond the host memory allowed, kept in temporary files, give the very same decode
 * and encode as intermediates in memory, take that much less memory, and leave no file behind
 * (they are unlinked at once); a spill folder that cannot take them is an error that names it,
 * with nothing leaked. */
static void
test_spill (gconstpointer data)
{
  const char *fixture = data;
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, fixture);
  const gsize weights = be->bytes_in_use;
  const SdVaeConfig *c = sd_vae_get_config (vae);
  const int f = sd_vae_factor (vae), lw = 19, lh = 13, iw = lw * f, ih = lh * f;
  const gsize n_dec = (gsize) c->out_channels * iw * ih, n_enc = (gsize) c->latent_channels * lw * lh;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
  float *img = sd_test_random (rng, (gsize) c->in_channels * iw * ih, 1.0f);
  g_autofree char *dir = g_dir_make_tmp ("scaledit-spill-test-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "no-such-folder", NULL);
  SdVaeTiling t = { 0 };
  SdVaeStats s0, s1;
  GError *error = NULL;
  float *dec0, *enc0, *dec, *enc;

  t.max_tile = 7; /* several tiles, with halos */
  dec0 = sd_vae_decode (vae, lat, lw, lh, &t, &s0, &error);
  g_assert_no_error (error);
  enc0 = sd_vae_encode (vae, img, iw, ih, &t, NULL, &error);
  g_assert_no_error (error);
  t.host_slot_bytes = 1; /* every intermediate but the input and output goes to a file */
  t.spill_dir = dir;
  dec = sd_vae_decode (vae, lat, lw, lh, &t, &s1, &error);
  g_assert_no_error (error);
  enc = sd_vae_encode (vae, img, iw, ih, &t, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("%s: host peak %" G_GSIZE_FORMAT " -> %" G_GSIZE_FORMAT " B with %" G_GSIZE_FORMAT
                  " B in files", fixture, s0.host_peak_bytes, s1.host_peak_bytes, s1.spill_peak_bytes);
  g_assert_cmpmem (dec, n_dec * sizeof (float), dec0, n_dec * sizeof (float));
  g_assert_cmpmem (enc, n_enc * sizeof (float), enc0, n_enc * sizeof (float));
  g_assert_cmpuint (s1.spill_peak_bytes, >, 0);
  g_assert_cmpuint (s1.host_peak_bytes, <, s0.host_peak_bytes);
  g_assert_cmpuint (s0.spill_peak_bytes, ==, 0);
  g_assert_true (dir_is_empty (dir));
  g_free (dec);
  g_free (enc);

  t.spill_dir = missing;
  g_assert_null (sd_vae_decode (vae, lat, lw, lh, &t, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_assert_nonnull (g_strstr_len (error->message, -1, missing));
  g_clear_error (&error);
  g_assert_cmpuint (be->bytes_in_use, ==, weights);

  g_rmdir (dir);
  g_free (dec0);
  g_free (enc0);
  g_free (lat);
  g_free (img);
  g_rand_free (rng);
  sd_vae_free (vae);
  sd_backend_close (be);
}

static void
test_cancel (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, "attn");
  const gsize weights = be->bytes_in_use;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *lat = sd_test_random (rng, 16 * 9 * 7, 2.0f);
  volatile gint cancel = 0;
  Progress prog = { 0 };
  SdVaeTiling t = { 0 };
  GError *error = NULL;
  float *dec;

  prog.cancel_after = 20;
  prog.cancel = &cancel;
  t.max_tile = 4;
  t.on_tile = on_tile;
  t.user_data = &prog;
  t.cancel = &cancel;
  dec = sd_vae_decode (vae, lat, 9, 7, &t, NULL, &error);
  g_assert_null (dec);
  g_assert_error (error, SD_ERROR, SD_ERROR_CANCELLED);
  g_assert_cmpint (prog.calls, ==, 20);
  g_assert_cmpint (prog.total, >, 20);
  g_assert_cmpuint (be->bytes_in_use, ==, weights);
  g_clear_error (&error);

  /* Cancelled before the first tile. */
  prog = (Progress) { 0 };
  dec = sd_vae_encode (vae, lat, 9, 7 * 2, &t, NULL, &error); /* the latents double as an image */
  g_assert_null (dec);
  g_assert_error (error, SD_ERROR, SD_ERROR_CANCELLED);
  g_assert_cmpint (prog.calls, ==, 0);
  g_assert_cmpuint (be->bytes_in_use, ==, weights);
  g_clear_error (&error);

  g_free (lat);
  g_rand_free (rng);
  sd_vae_free (vae);
  sd_backend_close (be);
}

static void
test_budget_too_small (void)
{
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, "noattn");
  float lat[16 * 4 * 4] = { 0 };
  SdVaeTiling t = { 0 };
  GError *error = NULL;
  t.budget_bytes = 1024;
  g_assert_null (sd_vae_decode (vae, lat, 4, 4, &t, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull (g_strstr_len (error->message, -1, "smallest tile needs"));
  g_assert_nonnull (g_strstr_len (error->message, -1, "smaller size"));
  g_error_free (error);
  sd_vae_free (vae);
  sd_backend_close (be);
}

/* Intermediates resident on the device (all, or as many as a small allowance holds) give the
 * same decode and encode as intermediates in host memory, and leave no device memory behind. */
static void
test_device_slots (gconstpointer data)
{
  const char *fixture = data;
  static const gsize caps[] = { (gsize) 1 << 30, 24 * 1024 };
  SdBackend *be = sd_backend_cpu_new ();
  SdVae *vae = load (be, fixture);
  const SdVaeConfig *c = sd_vae_get_config (vae);
  const int f = sd_vae_factor (vae), lw = 11, lh = 7, iw = 45, ih = 26;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
  float *img = sd_test_random (rng, (gsize) c->in_channels * iw * ih, 1.0f);
  GError *error = NULL;
  SdVaeTiling t = { 0 };
  float *dec0, *enc0;
  int elw, elh;
  gsize i, base = be->bytes_in_use;

  sd_vae_latent_size (vae, iw, ih, &elw, &elh);
  t.max_tile = 5;
  dec0 = sd_vae_decode (vae, lat, lw, lh, &t, NULL, &error);
  g_assert_no_error (error);
  enc0 = sd_vae_encode (vae, img, iw, ih, &t, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (caps); i++)
    {
      float *dec, *enc;
      t.device_slot_bytes = caps[i];
      dec = sd_vae_decode (vae, lat, lw, lh, &t, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpfloat (sd_rel_error (dec, dec0, (gsize) c->out_channels * lw * f * lh * f), ==, 0);
      enc = sd_vae_encode (vae, img, iw, ih, &t, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpfloat (sd_rel_error (enc, enc0, (gsize) c->latent_channels * elw * elh), ==, 0);
      g_assert_cmpuint (be->bytes_in_use, ==, base);
      g_free (dec);
      g_free (enc);
    }
  g_free (dec0);
  g_free (enc0);
  g_free (lat);
  g_free (img);
  g_rand_free (rng);
  sd_vae_free (vae);
  sd_backend_close (be);
}

/* The CPU backend made to hold bf16 as a GPU backend does: what reaches or leaves a buffer from
 * alloc is rounded to bf16 (alloc_f32 buffers stay exact); with_bf16 adds the bf16 transfers. */
static const SdBackendOps *cpu_ops;
static GHashTable *f32_bufs;
static int bf16_transfers;

static float
round_bf16 (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u; /* to nearest even; inputs are finite */
  memcpy (&f, &u, 4);
  return f;
}

static SdBuf *
emu_alloc_f32 (SdBackend *be, gsize n, GError **error)
{
  SdBuf *b = cpu_ops->alloc_f32 (be, n, error);
  if (b)
    g_hash_table_add (f32_bufs, b);
  return b;
}

static void
emu_release (SdBackend *be, SdBuf *b)
{
  g_hash_table_remove (f32_bufs, b);
  cpu_ops->release (be, b);
}

static gboolean
emu_upload (SdBackend *be, SdBuf *dst, gsize off, const float *src, gsize n, GError **error)
{
  const gboolean exact = g_hash_table_contains (f32_bufs, dst);
  float *t = g_new (float, n + 1);
  gsize i;
  gboolean ok;
  for (i = 0; i < n; i++)
    t[i] = exact ? src[i] : round_bf16 (src[i]);
  ok = cpu_ops->upload (be, dst, off, t, n, error);
  g_free (t);
  return ok;
}

static gboolean
emu_download (SdBackend *be, SdBuf *src, gsize off, float *dst, gsize n, GError **error)
{
  gsize i;
  if (!cpu_ops->download (be, src, off, dst, n, error))
    return FALSE;
  if (g_hash_table_contains (f32_bufs, src))
    return TRUE;
  for (i = 0; i < n; i++)
    dst[i] = round_bf16 (dst[i]);
  return TRUE;
}

static gboolean
emu_upload_bf16 (SdBackend *be, SdBuf *dst, gsize off, const guint16 *src, gsize n, GError **error)
{
  float *t = g_new (float, n + 1);
  gsize i;
  gboolean ok;
  for (i = 0; i < n; i++)
    {
      guint32 u = (guint32) src[i] << 16;
      memcpy (&t[i], &u, 4);
    }
  bf16_transfers++;
  ok = cpu_ops->upload (be, dst, off, t, n, error);
  g_free (t);
  return ok;
}

static gboolean
emu_download_bf16 (SdBackend *be, SdBuf *src, gsize off, guint16 *dst, gsize n, GError **error)
{
  float *t = g_new (float, n + 1);
  gsize i;
  g_assert_false (g_hash_table_contains (f32_bufs, src)); /* its values would not survive */
  if (!cpu_ops->download (be, src, off, t, n, error))
    return FALSE;
  for (i = 0; i < n; i++)
    {
      guint32 u;
      float f = round_bf16 (t[i]);
      memcpy (&u, &f, 4);
      dst[i] = (guint16) (u >> 16);
    }
  bf16_transfers++;
  g_free (t);
  return TRUE;
}

static SdBackend *
emulated_bf16_backend (gboolean with_bf16)
{
  static SdBackendOps plain, both;
  SdBackend *be = sd_backend_cpu_new ();
  cpu_ops = be->ops;
  plain = *cpu_ops;
  plain.alloc_f32 = emu_alloc_f32;
  plain.release = emu_release;
  plain.upload = emu_upload;
  plain.download = emu_download;
  both = plain;
  both.upload_bf16 = emu_upload_bf16;
  both.download_bf16 = emu_download_bf16;
  be->ops = with_bf16 ? &both : &plain;
  return be;
}

/* Host intermediates as bf16 (with the bf16 transfers) against f32 (without) on the same
 * emulated bf16 backend: identical decodes and encodes, for band and small tiles, with all
 * intermediates on the host or some on the device, and half the host bytes when all are. */
static void
test_bf16_host_slots (gconstpointer data)
{
  const char *fixture = data;
  static const int tiles[] = { 0, 3, 5 };
  static const gsize caps[] = { 0, 16 * 1024 };
  SdBackend *be32, *be16;
  SdVae *v32, *v16;
  const SdVaeConfig *c;
  const int lw = 11, lh = 7, iw = 45, ih = 26;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  GError *error = NULL;
  float *lat, *img;
  int elw, elh, f;
  gsize k, i;

  f32_bufs = g_hash_table_new (NULL, NULL);
  be32 = emulated_bf16_backend (FALSE);
  be16 = emulated_bf16_backend (TRUE);
  v32 = load (be32, fixture);
  v16 = load (be16, fixture);
  c = sd_vae_get_config (v32);
  f = sd_vae_factor (v32);
  sd_vae_latent_size (v32, iw, ih, &elw, &elh);
  lat = sd_test_random (rng, (gsize) c->latent_channels * lw * lh, 2.0f);
  img = sd_test_random (rng, (gsize) c->in_channels * iw * ih, 1.0f);
  for (k = 0; k < G_N_ELEMENTS (tiles); k++)
    for (i = 0; i < G_N_ELEMENTS (caps); i++)
      {
        SdVaeTiling t = { 0 };
        SdVaeStats s32, s16;
        float *a, *b;
        t.max_tile = tiles[k];
        t.device_slot_bytes = caps[i];
        bf16_transfers = 0;
        a = sd_vae_decode (v32, lat, lw, lh, &t, &s32, &error);
        g_assert_no_error (error);
        b = sd_vae_decode (v16, lat, lw, lh, &t, &s16, &error);
        g_assert_no_error (error);
        g_assert_cmpint (memcmp (a, b, (gsize) c->out_channels * lw * f * lh * f * sizeof (float)), ==, 0);
        g_assert_cmpint (bf16_transfers, >, 0);
        if (caps[i] == 0)
          g_assert_cmpuint (s16.host_peak_bytes, <, s32.host_peak_bytes);
        g_free (a);
        g_free (b);
        a = sd_vae_encode (v32, img, iw, ih, &t, NULL, &error);
        g_assert_no_error (error);
        b = sd_vae_encode (v16, img, iw, ih, &t, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpint (memcmp (a, b, (gsize) c->latent_channels * elw * elh * sizeof (float)), ==, 0);
        g_free (a);
        g_free (b);
      }
  g_free (lat);
  g_free (img);
  g_rand_free (rng);
  sd_vae_free (v32);
  sd_vae_free (v16);
  sd_backend_close (be32);
  sd_backend_close (be16);
  g_hash_table_destroy (f32_bufs);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/vae-tiled/equals-untiled/attn", "attn", test_tiled_equals_untiled);
  g_test_add_data_func ("/vae-tiled/equals-untiled/noattn", "noattn", test_tiled_equals_untiled);
  g_test_add_data_func ("/vae-tiled/memory-bounded/noattn", "noattn", test_memory_bounded_by_tile);
  g_test_add_data_func ("/vae-tiled/memory-bounded/attn", "attn", test_memory_bounded_by_tile);
  g_test_add_data_func ("/vae-tiled/device-slots/attn", "attn", test_device_slots);
  g_test_add_data_func ("/vae-tiled/device-slots/noattn", "noattn", test_device_slots);
  g_test_add_data_func ("/vae-tiled/bf16-host-slots/attn", "attn", test_bf16_host_slots);
  g_test_add_data_func ("/vae-tiled/bf16-host-slots/noattn", "noattn", test_bf16_host_slots);
  g_test_add_data_func ("/vae-tiled/memory-estimate/attn", "attn", test_memory_estimate);
  g_test_add_data_func ("/vae-tiled/memory-estimate/noattn", "noattn", test_memory_estimate);
  g_test_add_func ("/vae-tiled/chunked-attention", test_chunked_attention);
  g_test_add_data_func ("/vae-tiled/spill/attn", "attn", test_spill);
  g_test_add_data_func ("/vae-tiled/spill/noattn", "noattn", test_spill);
  g_test_add_func ("/vae-tiled/cancel", test_cancel);
  g_test_add_func ("/vae-tiled/budget-too-small", test_budget_too_small);
  return g_test_run ();
}

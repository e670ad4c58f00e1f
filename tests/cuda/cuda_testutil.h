/* cuda_testutil.h: what the cuda suite's programs share: opening the CUDA and CPU backends (or a
 * skip reason), bf16-exact random inputs, NaN-poisoned outputs and GPU-vs-CPU comparisons. */
#pragma once

#include <glib.h>

#include "backend.h"

typedef struct {
  SdBackend *gpu, *cpu;
  char *skip_reason; /* set when no CUDA backend opens here */
} CudaTestEnv;

/* Opens both backends once per program. */
CudaTestEnv *cuda_test_env (void);
/* Calls g_test_skip and returns TRUE when the GPU is missing. */
gboolean cuda_test_skip (void);

/* n random values in [-scale, scale] rounded to bf16, so both backends see the same inputs. */
float *cuda_test_random (GRand *rng, gsize n, float scale);

/* A buffer on each backend holding the same host data. */
typedef struct {
  SdBuf *g, *c;
  gsize n;
} Pair;

Pair pair_new (const float *host, gsize n);
Pair pair_random (GRand *rng, gsize n, float scale);
/* The same in alloc_f32 buffers (f32 on the GPU too). */
Pair pair_new_f32 (const float *host, gsize n);
/* Fills the GPU side with NaN, so elements an op does not write show up. */
void pair_poison (Pair *p);
void pair_free (Pair *p);

/* ‖gpu − cpu‖ / ‖cpu‖ over elements [off, off + n) after syncing the GPU (fails on its errors). */
double pair_error (Pair *p, gsize off, gsize n);
/* Same over a rows x cols block of a view layout (off, ld): gaps between rows are not compared. */
double pair_error_rows (Pair *p, gsize off, int ld, int rows, int cols);

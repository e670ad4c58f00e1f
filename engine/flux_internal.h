/* flux_internal.h: the FLUX transformer's weights as the engine holds them (q, k, v fused). */
#pragma once

#include "flux.h"

typedef struct {
  SdBuf *w, *b;
} SdLinear;

/* One stream (image or text) of a double block. */
typedef struct {
  SdLinear mod;       /* [6D, D]: shift, scale, gate of attention; shift, scale, gate of MLP */
  SdLinear qkv;       /* [3D, D] */
  SdBuf *q_norm, *k_norm; /* [head_dim] */
  SdLinear proj;      /* [D, D] */
  SdLinear mlp0;      /* [M, D] */
  SdLinear mlp2;      /* [D, M] */
} SdFluxStream;

typedef struct {
  SdFluxStream img, txt;
} SdFluxDouble;

typedef struct {
  SdLinear mod;       /* [3D, D]: shift, scale, gate */
  SdLinear lin1;      /* [3D + M, D]: q, k, v, MLP in */
  SdBuf *q_norm, *k_norm;
  SdLinear lin2;      /* [D, D + M] */
} SdFluxSingle;

struct SdFlux {
  SdBackend *be;
  SdFluxConfig cfg;
  SdLinear x_embedder, context_embedder;
  SdLinear time1, time2, guid1, guid2, text1, text2;
  SdFluxDouble *dbl;
  SdFluxSingle *sgl;
  SdLinear norm_out;  /* [2D, D]: scale, shift */
  SdLinear proj_out;  /* [out, D] */
};

/* image_ops.h: host-side image work of the pipeline: torch-style bicubic resizing, the fixed
 * unsharp mask of the handover, latent patchify/unpatchify, and the final sRGB crop. */
#pragma once

#include <glib.h>

/* The image-sized results below are allocated with g_try_new: when memory runs out they fail with
 * SD_ERROR_OUT_OF_MEMORY instead of ending the process. */

/* Resizes a CHW float image as torch's interpolate(mode="bicubic", align_corners=False) does
 * (a = -0.75, edge samples clamped). Returns a new c x oh x ow array. */
float *sd_resize_bicubic (const float *src, int c, int w, int h, int ow, int oh, GError **error);

/* In place: img += amount * (img - gaussian_blur(img, sigma 1)), then clamped to [-1, 1]. */
gboolean sd_unsharp_mask (float *img, int c, int w, int h, float amount, GError **error);

/* Latent [ch][2*rows][2*cols] (CHW) <-> tokens [rows*cols][ch*4], feature ch*4 + dy*2 + dx, as
 * diffusers' FluxPipeline packs them. */
void sd_latent_pack (const float *latent, int ch, int rows, int cols, float *tokens);
void sd_latent_unpack (const float *tokens, int ch, int rows, int cols, float *latent);

/* The decoder's CHW output in [-1, 1] -> interleaved RGB in [0, 1], cropped to w x h. */
float *sd_image_to_rgb (const float *chw, int full_w, int full_h, int w, int h, GError **error);
/* Interleaved RGB in [0, 1] (w x h) -> CHW in [-1, 1]. */
float *sd_rgb_to_image (const float *rgb, int w, int h, GError **error);

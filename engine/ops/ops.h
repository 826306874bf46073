/*
 * ops.h - the engine's operators other than convolution.
 *
 * Every op works on NHWC stp_tensors (batch 1) and splits its work over the
 * engine's thread pool. Output shapes are set by the caller (the plan); ops
 * only assert that shapes agree. Inputs and outputs never alias unless the
 * op says so.
 */
#ifndef STP_OPS_H
#define STP_OPS_H

#include "../base/internal.h"
#include "../base/threadpool.h"

/* Max pooling, kernel k x k, stride s, padding p (padding never wins: out of
 * range taps are ignored, as in PyTorch). out: floor((h + 2p - k)/s) + 1. */
void stp_maxpool2d(const struct stp_tensor *in, struct stp_tensor *out,
		   int k, int s, int p, struct stp_threadpool *pool);

/* Resize to out->h x out->w, PyTorch F.interpolate semantics:
 * nearest: src = floor(dst * in/out) (clamped); bilinear with
 * align_corners=False, half-pixel centres, source index clamped at 0. */
void stp_resize_nearest(const struct stp_tensor *in, struct stp_tensor *out,
			struct stp_threadpool *pool);
void stp_resize_bilinear(const struct stp_tensor *in, struct stp_tensor *out,
			 struct stp_threadpool *pool);
/* The bilinear taps of output index dst over n input samples, scale =
 * (float)n / out: sources i0, i1 and the weight l1 of i1 (i0 gets 1 - l1).
 * A pixel is then (a0 * w0 + a1 * w1) * h0 + (b0 * w0 + b1 * w1) * h1. */
void stp_bilinear_taps(int dst, float scale, int n, int *i0, int *i1, float *l1);

/* out = a + b (same shapes), then ReLU if relu. out may alias a or b. */
void stp_add(const struct stp_tensor *a, const struct stp_tensor *b,
	     struct stp_tensor *out, int relu, struct stp_threadpool *pool);

/* dst = src (same shapes; either may be a channel slice). A plain loop:
 * only concatenations whose inputs could not be views copy. */
void stp_copy(const struct stp_tensor *src, struct stp_tensor *dst);

/* Global average pool to a 1 x 1 x c tensor. */
void stp_global_avgpool(const struct stp_tensor *in, struct stp_tensor *out,
			struct stp_threadpool *pool);

#endif

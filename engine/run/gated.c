/*
 * gated.c - running masks on any conv (plan.h): an STP_OP_MASK op computes
 * its logits (a 3x3 conv to one channel) and samples its mask into the
 * session's mask store (bytes) and list store (the sampled cells in
 * row-major order, then the others: with op->ring, first those next to a
 * sampled cell (its ring), then the rest, each row-major); a gated conv
 * runs its micro-kernels over the sampled cells only and, with a fill,
 * interpolates the ring, or the ring and the rest, from them
 * (sparse/interp.h; each part a sorted list, as its separable form wants).
 * A dense run (budget 1) skips the mask conv, samples every cell and runs
 * gated convs densely.
 */
#include <string.h>

#include "../ops/conv.h"
#include "gated.h"

/* Whether cell (y, x) of an h x w mask has a sampled 3x3 neighbour. */
static int near_sampled(const uint8_t *mask, int h, int w, int y, int x)
{
	for (int dy = -1; dy <= 1; dy++)
		for (int dx = -1; dx <= 1; dx++) {
			const int yy = y + dy, xx = x + dx;
			if (yy >= 0 && yy < h && xx >= 0 && xx < w && mask[yy * w + xx])
				return 1;
		}
	return 0;
}

/* Appends the unsampled cells to list after its `sampled` entries: with
 * ring, the ring first (its count returned), then the rest. */
static size_t complete_list(const uint8_t *mask, int h, int w, int ring, int32_t *list,
			    size_t sampled)
{
	const size_t cells = (size_t)h * w;
	size_t n = sampled, nring = 0;

	for (int pass = ring ? 0 : 1; pass < 2; pass++)
		for (size_t p = 0; p < cells; p++) {
			int near;
			if (mask[p])
				continue;
			near = ring && near_sampled(mask, h, w, (int)(p / (size_t)w), (int)(p % (size_t)w));
			if (ring && near != (pass == 0))
				continue;
			list[n++] = (int32_t)p;
			nring += pass == 0;
		}
	return nring;
}

enum stp_status stp_run_mask(struct stp_session *s, const struct stp_op *op,
			     const struct stp_sparse_options *opts)
{
	const int m = op->mask;
	struct stp_tensor in = stp_run_value(&s->values, op->in), logits = stp_run_value(&s->values, op->out);
	uint8_t *mask = s->mask_store + s->mask_offset[m];
	int32_t *list = s->list_store + s->mask_offset[m];
	const size_t cells = (size_t)logits.h * logits.w;
	size_t sampled;

	if (opts->dense) {
		memset(mask, 1, cells);
		for (size_t p = 0; p < cells; p++)
			list[p] = (int32_t)p;
		sampled = cells;
		s->ring[m] = 0;
	} else {
		stp_conv_run(op->conv, &in, &logits, NULL, NULL, 0, &s->conv, s->engine->pool);
		if (opts->topk)
			sampled = stp_mask_sample_topk(logits.data, 1, logits.h, logits.w, op->grid,
						       opts->topk[m], s->mask_rank, mask, list);
		else
			sampled = stp_mask_sample(logits.data, 1, logits.h, logits.w, op->grid,
						  opts->mode, opts->seed, (uint32_t)m, mask, list);
		s->ring[m] = complete_list(mask, logits.h, logits.w, op->ring, list, sampled);
	}
	s->sampled[m] = sampled;
	s->cells[m] = cells;
	return STP_OK;
}

enum stp_status stp_run_gated_conv(struct stp_session *s, const struct stp_op *op,
				   const struct stp_tensor *in, struct stp_tensor *out,
				   const struct stp_tensor *residual,
				   const struct stp_sparse_options *opts)
{
	const int m = op->mask;
	const uint8_t *mask = s->mask_store + s->mask_offset[m];
	const int32_t *list = s->list_store + s->mask_offset[m];
	const size_t sampled = s->sampled[m], cells = s->cells[m];
	struct stp_interp_exec exec = {s->engine->kernels->gather, &s->sparse.interp_rows,
				       opts->interp_form, STP_INTERP_FORM_AUTO, NULL};

	if (sampled == cells) {
		stp_conv_run(op->conv, in, out, residual, NULL, 0, &s->conv, s->engine->pool);
		return STP_OK;
	}
	const size_t ring = s->ring[m];
	enum stp_status st = STP_OK;

	stp_conv_run(op->conv, in, out, residual, list, sampled, &s->conv, s->engine->pool);
	if (!op->fill)
		return STP_OK;
	if (ring > 0)
		st = stp_interp_apply(op->fill, mask, list + sampled, ring, out, out, NULL, NULL, 0,
				      &exec, s->engine->pool);
	if (st == STP_OK && !op->fill_near && cells > sampled + ring)
		st = stp_interp_apply(op->fill, mask, list + sampled + ring, cells - sampled - ring,
				      out, out, NULL, NULL, 0, &exec, s->engine->pool);
	return st;
}

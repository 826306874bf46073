/*
 * gated.c - running masks on any conv (plan.h): an STP_OP_MASK op computes
 * its logits (a 3x3 conv to one channel) and samples its mask into the
 * session's mask store (bytes) and list store (the sampled cells in
 * row-major order, then the others, also row-major); a gated conv runs its
 * micro-kernels over the sampled cells only and, with a fill, interpolates
 * the others from them (sparse/interp.h). A dense run (budget 1) skips the
 * mask conv, samples every cell and runs gated convs densely.
 */
#include <string.h>

#include "../ops/conv.h"
#include "gated.h"

/* Mask m's cells and its list after sampling: the complement appended. */
static size_t complete_list(uint8_t *mask, int32_t *list, size_t sampled, size_t cells)
{
	size_t n = sampled;

	for (size_t p = 0; p < cells; p++)
		if (!mask[p])
			list[n++] = (int32_t)p;
	return n;
}

enum stp_status stp_run_mask(struct stp_session *s, const struct stp_op *op,
			     const struct stp_sparse_options *opts)
{
	const int m = op->mask;
	struct stp_tensor in = stp_session_value(s, op->in), logits = stp_session_value(s, op->out);
	uint8_t *mask = s->mask_store + s->mask_offset[m];
	int32_t *list = s->list_store + s->mask_offset[m];
	const size_t cells = (size_t)logits.h * logits.w;
	size_t sampled;

	if (opts->dense) {
		memset(mask, 1, cells);
		for (size_t p = 0; p < cells; p++)
			list[p] = (int32_t)p;
		sampled = cells;
	} else {
		stp_conv_run(op->conv, &in, &logits, NULL, NULL, 0, s->zero, s->engine->pool);
		if (opts->topk)
			sampled = stp_mask_sample_topk(logits.data, 1, logits.h, logits.w, op->grid,
						       opts->topk[m], s->mask_rank, mask, list);
		else
			sampled = stp_mask_sample(logits.data, 1, logits.h, logits.w, op->grid,
						  opts->mode, opts->seed, (uint32_t)m, mask, list);
		complete_list(mask, list, sampled, cells);
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
		stp_conv_run(op->conv, in, out, residual, NULL, 0, s->zero, s->engine->pool);
		return STP_OK;
	}
	stp_conv_run(op->conv, in, out, residual, list, sampled, s->zero, s->engine->pool);
	if (!op->fill)
		return STP_OK;
	return stp_interp_apply(op->fill, mask, list + sampled, cells - sampled, out, out, NULL,
				NULL, 0, &exec, s->engine->pool);
}

enum stp_status stp_session_mask_cells(const struct stp_session *s, int m, const int32_t **cells,
				       size_t *n)
{
	if (!s->ran || m < 0 || m >= s->model->plan.nmasks || !s->list_store)
		return STP_ERR_INVALID_ARG;
	*cells = s->list_store + s->mask_offset[m];
	*n = s->sampled[m];
	return STP_OK;
}

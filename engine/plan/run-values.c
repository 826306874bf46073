/*
 * run-values.c - see run-values.h. A value is a channel range of its root
 * value's pixels in the arena (value 0, the input, lives in the caller's
 * memory).
 */
#include "run-values.h"

struct stp_tensor stp_run_value(const struct stp_run_values *r, int v)
{
	const struct stp_shape *sh = &r->shapes[v];
	const int root = r->plan->value_root[v];
	float *data = v == 0 ? (float *)r->input
			     : (float *)((char *)r->arena + r->offsets[root]) +
				       r->plan->value_channel0[v];
	const struct stp_tensor t = {data, sh->h, sh->w, sh->c, r->shapes[root].c};

	return t;
}

enum stp_status stp_run_mask_cells(const struct stp_run_values *r, int m, const int32_t **cells,
				   size_t *n)
{
	if (!r->cells || m < 0 || m >= r->plan->nmasks)
		return STP_ERR_INVALID_ARG;
	*cells = r->cells + r->cell_offset[m];
	*n = r->sampled[m];
	return STP_OK;
}

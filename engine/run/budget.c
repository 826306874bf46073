/*
 * budget.c - budget mode: how many cells each mask may keep so that a run
 * costs at most rho x the dense backbone (docs/method.md section 6 rules), or,
 * for networks with masks on any conv (STP_OP_MASK ops: the budget then
 * caps the whole network), at most rho x the dense network's every conv
 * (cost.c, stp_cost_network: mask convs and interpolation included).
 *
 * Policy: mask i gets target density min(1, s * share_i), where share_i is
 * its calibrated density (backbone.sparse.calibration: how densely the
 * trained masks sample that layer on held-out images) or 1 for every mask
 * without calibration (one density for all). A mask of n cells keeps
 * max(grid cells, floor(density * n)) cells, its best-ranked logits
 * (top-k). The cost of the network as a function of s is evaluated with
 * exactly those rounded counts (so the grid floors and the mask convs are
 * accounted for) and s is the largest value whose cost fits: a scan from
 * s_max (every mask dense) down in 64 steps finds the first that fits,
 * bisection refines it up to the next step. The scan does not assume the
 * cost grows with s (with narrow convs the interpolation term d(1-d) can
 * outweigh the conv savings).
 *
 * A Faster R-CNN box head runs its fully connected layers once per
 * proposal, so the budget caps their number too: ceil(rho x
 * post_nms_top_n), at most rho x the box head's cost at full count.
 */
#include <math.h>
#include <stdlib.h>

#include "cost.h"

#define SCAN_STEPS 64
#define BISECTION_STEPS 24

/* Mask i's share of the budget: its calibrated density, or 1. */
static double share(const struct stp_arch_sparse *sp, uint32_t i)
{
	return sp->ncalibration ? (double)sp->calibration[i] : 1.0;
}

/* Cells each plan-level mask keeps at scale d, and the whole network's
 * cost then. density: nmasks doubles of scratch. */
static double network_cost_at(const struct stp_session *s, double d, size_t *topk,
			      double *density)
{
	const struct stp_plan *plan = &s->model->plan;
	const struct stp_arch_sparse *sp = &s->model->arch.sparse;

	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const int m = op->mask;
		size_t cells, grid, keep;
		if (op->kind != STP_OP_MASK)
			continue;
		cells = (size_t)s->mask_h[m] * s->mask_w[m];
		grid = stp_mask_grid_cells(s->mask_h[m], s->mask_w[m], op->grid);
		keep = (size_t)floor(fmin(1.0, d * share(sp, (uint32_t)m)) * (double)cells);
		keep = keep < grid ? grid : keep > cells ? cells : keep;
		topk[m] = keep;
		density[m] = cells ? (double)keep / (double)cells : 1.0;
	}
	return stp_cost_network(s, density, NULL);
}

/* Cells each mask keeps at scale d, and the network's cost then. */
static double cost_at(const struct stp_session *s, double d, size_t *topk, double dense_total,
		      double *density)
{
	const struct stp_plan *plan = &s->model->plan;
	const struct stp_arch_sparse *sp = &s->model->arch.sparse;
	double macs = dense_total;

	if (s->model->gated)
		return network_cost_at(s, d, topk, density);
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *in = &s->shapes[op->in];
		const struct stp_sparse_block *sb = op->sparse;
		double block_density[STP_BLOCK_MAX_MASKS];
		if (op->kind != STP_OP_SPARSE_BLOCK)
			continue;
		for (int m = 0; m < sb->nmasks; m++) {
			int mh, mw;
			size_t cells, grid, keep;
			stp_sparse_block_mask_size(sb, m, in->h, in->w, &mh, &mw);
			cells = (size_t)mh * mw;
			grid = stp_mask_grid_cells(mh, mw, sb->grid);
			keep = (size_t)floor(fmin(1.0, d * share(sp, sb->mask_index + (uint32_t)m)) *
					     (double)cells);
			if (keep < grid)
				keep = grid;
			if (keep > cells)
				keep = cells;
			topk[sb->mask_index + (uint32_t)m] = keep;
			block_density[m] = cells ? (double)keep / (double)cells : 1.0;
		}
		macs += stp_cost_sparse_block(sb, s->h, s->w, op->out_stride, block_density) -
			stp_cost_dense_block(sb, s->h, s->w, op->out_stride);
	}
	return macs;
}

static enum stp_status solve(const struct stp_session *s, double rho, size_t *topk,
			     double *min_rho, double reference, double *density,
			     const struct stp_arch_sparse *sp)
{
	double lo = 0, hi, cap = rho * reference, floor_cost, d_max = 1, step;

	floor_cost = cost_at(s, 0, topk, reference, density);
	*min_rho = floor_cost / reference;
	if (floor_cost > cap)
		return STP_ERR_BUDGET;
	for (int i = 0; i < sp->ncalibration; i++)   /* the scale where every mask is dense */
		d_max = fmax(d_max, 1.0 / sp->calibration[i]);
	step = d_max / SCAN_STEPS;
	for (int i = SCAN_STEPS; i >= 0; i--) {
		lo = i * step;
		if (cost_at(s, lo, topk, reference, density) <= cap)
			break;
	}
	hi = lo + step;
	for (int i = 0; i < BISECTION_STEPS && hi <= d_max; i++) {
		const double mid = (lo + hi) / 2;
		if (cost_at(s, mid, topk, reference, density) <= cap)
			lo = mid;
		else
			hi = mid;
	}
	/* Leave topk as chosen for lo (the last call may have been another d). */
	return cost_at(s, lo, topk, reference, density) <= cap ? STP_OK : STP_ERR_INTERNAL;
}

enum stp_status stp_budget_solve(const struct stp_session *s, double rho, size_t *topk,
				 double *min_rho)
{
	const struct stp_arch_sparse *sp = &s->model->arch.sparse;
	struct stp_cost dense;
	double reference;

	stp_session_dense_cost(s, &dense);
	reference = s->model->gated ? stp_cost_network(s, NULL, NULL) : dense.backbone_macs;
	if (reference <= 0)
		return STP_ERR_INVALID_ARG;
	return solve(s, rho, topk, min_rho, reference, s->density, sp);
}

int stp_budget_proposals(const stp_model *m, const struct stp_run_options *opts)
{
	const int post = m->arch.detect.post_nms_top_n;
	int cap;

	if (!opts || opts->mode != STP_RUN_BUDGET || opts->budget >= 1)
		return post;
	cap = (int)ceil(opts->budget * post);
	return cap < 1 ? 1 : cap;
}

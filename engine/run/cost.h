/*
 * cost.h - the official cost rules (docs/method.md section 6) for sparse blocks,
 * shared by the run report (cost.c) and the budget solver (budget.c).
 */
#ifndef STP_COST_H
#define STP_COST_H

#include "model-impl.h"

/* Backbone MACs of a sparse block at an h x w input image, with its output
 * at block_stride, given each of its masks' densities (grid included). */
double stp_cost_sparse_block(const struct stp_sparse_block *block, int h, int w,
			     int block_stride, const double *density);
/* The same block run densely (no mask convs, no interpolation). */
double stp_cost_dense_block(const struct stp_sparse_block *block, int h, int w,
			    int block_stride);

/* The plan's whole cost in MACs (every conv at its real output size; mask
 * convs and interpolation counted as docs/method.md section 6 counts them) and,
 * into *backbone, its backbone cost by the official rules, for the masks'
 * densities density[mask index] (NULL: the dense network, no mask convs). */
double stp_cost_network(const struct stp_session *s, const double *density, double *backbone);

/* The dense cost of the session's model at its current size (reshaped). */
void stp_session_dense_cost(const struct stp_session *s, struct stp_cost *out);

/* Budget mode: fills topk[mask index] (cells each mask keeps) so that the
 * run's backbone cost is at most rho x the dense cost, using one target
 * density for every mask (the grid always kept; see docs/sparse.md).
 * *min_rho receives the cost of the grid-only network over the dense one.
 * STP_ERR_BUDGET when rho < *min_rho. Needs the session's shapes. */
enum stp_status stp_budget_solve(const struct stp_session *s, double rho, size_t *topk,
				 double *min_rho);
/* The proposals a Faster R-CNN run of m keeps with opts (NULL: trained
 * masks): post_nms_top_n, or in budget mode ceil(rho x post_nms_top_n). */
int stp_budget_proposals(const stp_model *m, const struct stp_run_options *opts);

#endif

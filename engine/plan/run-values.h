/*
 * run-values.h - a plan's values after a run, as the code that reads them
 * afterwards (the task heads) sees them: each value as a tensor, each
 * plan-level mask's sampled cells, and the pool the run used. The session
 * fills one at every run; readers get this view and never the session, so
 * they stay below it (engine/run/) in the layering.
 */
#ifndef STP_RUN_VALUES_H
#define STP_RUN_VALUES_H

#include "plan.h"

struct stp_run_values {
	const struct stp_plan *plan;
	const struct stp_shape *shapes;   /* [nvalues] at the run's input size */
	const size_t *offsets;            /* [nvalues] bytes into arena, by root value */
	const void *arena;
	const float *input;               /* value 0 */
	/* The plan-level masks: mask m's sampled cells (row-major) start at
	 * cells[cell_offset[m]], sampled[m] of them; cells NULL: none ran. */
	const int32_t *cells;
	const size_t *cell_offset, *sampled;
	struct stp_threadpool *pool;
};

/* A float view of value v. */
struct stp_tensor stp_run_value(const struct stp_run_values *r, int v);
/* The sampled cells of plan-level mask m and their count (the cells after
 * them in the store are the others); STP_ERR_INVALID_ARG when m ran not. */
enum stp_status stp_run_mask_cells(const struct stp_run_values *r, int m, const int32_t **cells,
				   size_t *n);

#endif

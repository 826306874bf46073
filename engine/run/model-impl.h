/*
 * model-impl.h - the stp_model and stp_session objects.
 *
 * A model is immutable once loaded: its plan (ops with packed weights) and
 * its architecture. A session owns everything a run writes: the arena of
 * activations (laid out for one input size, re-laid when the size changes),
 * the zero row convs read for out-of-image taps, and the value shapes.
 */
#ifndef STP_MODEL_IMPL_H
#define STP_MODEL_IMPL_H

#include "../heads/heads.h"
#include "../model/arch.h"
#include "engine-impl.h"
#include "../plan/plan.h"

struct stp_model {
	struct stp_engine *engine;   /* not owned; outlives the model */
	struct stp_arch arch;
	struct stp_plan plan;
	uint64_t parameters;
	int gated;                   /* masks on any conv (STP_OP_MASK ops): the budget
				      * caps the whole network */
	struct stp_detect_head *detect;    /* NULL without a faster_rcnn head */
	struct stp_segment_head *segment;  /* NULL without a semantic_fpn head */
	struct stp_gfl_head *gfl;          /* NULL without a gfl head */
};

struct stp_session {
	const struct stp_model *model;
	struct stp_engine *engine;   /* whose pool runs it: the model's, or one set later */
	int h, w;                    /* input size the layout is for; 0: none yet */
	int scratch_threads;         /* threads the scratch is sized for; 0: none yet */
	size_t network_bytes;        /* the scratch for h x w (scratch.c) */
	struct stp_shape *shapes;    /* [nvalues] */
	size_t *offsets;             /* [nvalues], bytes into the arena */
	float *arena;
	size_t arena_bytes;
	float *zero;                 /* plan.zero_floats zeros */
	/* zero, and tile tables of threads x plan.table_bytes + 64 bytes (owned) */
	struct stp_conv_scratch conv;
	struct stp_run_values values;   /* the last run's values, as heads read them */
	struct stp_sparse_scratch sparse;  /* shared by the sparse blocks, in turn */
	size_t sparse_cells;         /* cells the sparse scratch is sized for */
	size_t mask_store_bytes;     /* mask_store, list_store and mask_rank */
	size_t *sampled, *cells;     /* [plan.nmasks]: the last run's masks */
	size_t *ring;                /* [plan.nmasks]: plan-level masks: unsampled cells next
				      * to a sampled one, listed first among the unsampled */
	size_t *topk;                /* [plan.nmasks]: budget mode's cells per mask */
	double *density;             /* [plan.nmasks]: the budget solver's and the
					report's densities per mask */
	uint8_t *mask_store;         /* every mask of the last run, one after another */
	int32_t *list_store;         /* plan-level masks (STP_OP_MASK): per mask, at its
				      * mask_offset, its sampled cells then the others */
	float *mask_rank;            /* top-k scratch of plan-level masks (largest mask) */
	size_t *mask_offset;         /* [plan.nmasks]: where mask i starts in it */
	int *mask_h, *mask_w;        /* [plan.nmasks]: its size */
	double min_budget;           /* the last budget solve's grid-only cost ratio */
	int ran;                     /* a run completed since the last reshape */
	unsigned run_users;          /* the last run's users (plan.h): it ran the ops
				      * with op->users & run_users */
	int ran_dense;               /* ... with budget 1: no masks, no interpolation cost */
	int partials_used;           /* sparse blocks of the last run whose logits came
				      * from the block before's partials (sparse/block.h) */
	double backbone_ms;          /* the last run's time to the end of its backbone */
	stp_abort_fn abort_fn;
	void *abort_user;
	int profiling;               /* record per-op times */
	struct stp_op_profile *profile;  /* [plan.nops] */
	int profiled;                /* the last run filled profile */
	/* stp_session_run_image (tasks.c) */
	int image_h, image_w;        /* image size the scratch below is for; 0: none */
	size_t image_bytes;          /* that scratch */
	float *image_input;          /* the preprocessed image */
	size_t image_input_floats;
	struct stp_image_geometry geometry;  /* of the last run_image */
	unsigned ran_tasks;          /* STP_TASK_* bits the last run finished */
	struct stp_detect_state *detect_state;
	struct stp_segment_state *segment_state;
	struct stp_gfl_state *gfl_state;
};

/* stp_session_run_with for some users only (plan.h: STP_PLAN_OUTPUT_USER
 * and STP_TASK_* bits): ops that only others need are skipped, masks of
 * skipped MASK ops count no cells (session.c). */
enum stp_status stp_session_run_for(struct stp_session *s, const float *input, int h, int w,
				    const struct stp_run_options *opts, unsigned users);

#endif

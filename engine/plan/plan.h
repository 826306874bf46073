/*
 * plan.h - a network as a flat list of operators over numbered values.
 *
 * Value 0 is the input image. Each op reads one or two values and writes
 * one new value (single assignment), so the list is already in execution
 * order and a value's lifetime runs from its producer to its last reader.
 * Shapes depend on the input size and are computed per session
 * (stp_plan_shapes); the arena layout follows from lifetimes and sizes
 * (stp_plan_layout): values whose lifetimes overlap never share memory.
 *
 * Concatenation without copies: stp_plan_concat() makes its inputs views,
 * channel ranges of the concatenated value, when the ops that write them
 * can store into a slice (convs); the concat op itself then does nothing.
 * A view has no memory of its own: it lives in its root value, whose
 * lifetime is stretched over the lifetimes of its views.
 *
 * Masks on any conv (docs/method.md's sampling and interpolation as values of
 * the plan): a MASK op computes its mask conv's logits (its output value)
 * and samples mask number `mask` from them (the session keeps the cells);
 * a CONV op with `gated` runs only at that mask's cells (its output has the
 * mask's size) and, with `fill`, interpolates its output at every other
 * cell, so that any reader sees a whole map; with `fill_near` too, only at
 * the cells next to a sampled one (its 3x3 ring): enough when every reader
 * is a 3x3 stride-1 conv gated by the same mask. Without fill the other
 * cells hold nothing: only readers of the same cells may follow (a 1x1
 * conv under the same mask, a head that decodes the sampled cells).
 *
 * Users: whoever reads a value after the plan ran (a task head, through
 * stp_plan_keep; the caller of the outputs) is a bit of op->users on every
 * op the value depends on (stp_plan_mark_users), so that a run for some
 * users only skips the ops the others alone need (a detection run skips
 * the segmentation head's convs).
 */
#ifndef STP_PLAN_H
#define STP_PLAN_H

#include <stddef.h>

#include "../ops/conv.h"
#include "../sparse/block.h"

enum stp_op_kind {
	STP_OP_CONV,            /* conv(in) [+ in2 residual], fused bias/ReLU */
	STP_OP_MAXPOOL,         /* k, s, p */
	STP_OP_ADD,             /* in + in2 [ReLU] */
	STP_OP_RESIZE_NEAREST,  /* in resized to in2's spatial size */
	STP_OP_GLOBAL_AVGPOOL,
	STP_OP_SPARSE_BLOCK,    /* a whole sparse residual block (sparse/block.h) */
	STP_OP_RESIZE_BILINEAR, /* in resized to in2's spatial size, align_corners=False */
	STP_OP_CONCAT,          /* channels of in, then of in2; nothing to do when both
				 * are views of out (stp_plan_concat) */
	STP_OP_MASK             /* conv's logits of in, sampled into mask `mask` */
};

#define STP_OP_MAX_TEMPS 4

struct stp_op {
	enum stp_op_kind kind;
	int in, in2;            /* value ids; in2 = -1 when unused */
	int out;
	struct stp_conv *conv;  /* STP_OP_CONV only; owned unless conv_borrowed */
	int conv_borrowed;      /* conv belongs to someone else (a head sharing it by level) */
	int k, s, p;            /* STP_OP_MAXPOOL */
	int relu;               /* STP_OP_ADD */
	int backbone;           /* counts towards the backbone cost (docs/method.md section 6) */
	int out_stride;         /* output stride w.r.t. the input image, for that cost */
	struct stp_sparse_block *sparse;  /* owned; STP_OP_SPARSE_BLOCK only */
	int mask;               /* STP_OP_MASK: the mask it samples; a gated conv: its mask */
	int gated;              /* STP_OP_CONV: runs at mask `mask`'s cells only */
	int grid;               /* STP_OP_MASK: the grid prior's stride */
	int mask_logits;        /* a gated conv: the value of its MASK op (the mask's size) */
	int fill_near;          /* a gated conv: fill only the 3x3 ring of the sampled cells */
	int ring;               /* STP_OP_MASK: some conv fills only the ring: sort the
				 * unsampled cells into ring, then the rest */
	struct stp_interp_kernel *fill;  /* owned; a gated conv's interpolation of the
					  * cells it did not compute, or NULL */
	int ntemps;             /* values the op uses as scratch, dead after it */
	int temps[STP_OP_MAX_TEMPS];
	unsigned users;         /* who needs it: the bits of the kept values and outputs
				 * that depend on it (stp_plan_mark_users) */
};

/* The users bit of the plan's outputs (the bits below are the callers' of
 * stp_plan_keep). */
#define STP_PLAN_OUTPUT_USER 0x80000000u

struct stp_shape {
	int h, w, c;
};

struct stp_plan {
	struct stp_op *ops;
	int nops, cap_ops;
	int nvalues;            /* including the input, value 0 */
	int *value_channels;    /* [nvalues], fixed at build time */
	int *value_root;        /* [nvalues]: the value whose memory v lives in (v itself,
				 * or the concat it is a view of) */
	int *value_channel0;    /* [nvalues]: v's first channel in its root */
	int in_channels;
	int noutputs;
	int *outputs;           /* value ids */
	char **output_names;
	int nkept;
	int *kept;              /* values read after the plan ran (task heads), not outputs */
	unsigned *kept_users;   /* [nkept]: the users bits of each */
	size_t zero_floats;     /* largest zero row any conv needs */
	size_t table_bytes;     /* largest tile tables a thread of any conv needs */
	int nmasks;             /* masks of all sparse blocks */
};

/* Builder calls; on failure they return -1 / an error status and leave the
 * plan valid for stp_plan_clear(). */
void stp_plan_init(struct stp_plan *plan, int in_channels);
void stp_plan_clear(struct stp_plan *plan);
/* Appends op (whose out and temps fields are ignored), producing a value of
 * `channels` channels and op->ntemps scratch values of temp_channels[i]
 * channels; returns the output's id, or -1 when out of memory. Takes
 * ownership of op->conv (unless op->conv_borrowed) / op->sparse even on
 * failure. */
int stp_plan_add(struct stp_plan *plan, const struct stp_op *op, int channels);
int stp_plan_add_with_temps(struct stp_plan *plan, const struct stp_op *op, int channels,
			    const int *temp_channels);
enum stp_status stp_plan_add_output(struct stp_plan *plan, int value, const char *name);
/* Appends the concatenation of a and b along channels (same h x w) and
 * returns its id (-1: out of memory). Each input produced by a conv op of
 * this plan that is no view yet becomes a view of the result, so that the
 * conv stores straight into it; the op copies only the other inputs. */
int stp_plan_concat(struct stp_plan *plan, int a, int b);
/* Keeps a value alive to the end of the run without making it an output
 * (the heads read such values after the plan, users their bits: the task's,
 * below STP_PLAN_OUTPUT_USER). */
enum stp_status stp_plan_keep(struct stp_plan *plan, int value, unsigned users);
/* Sets every op's users once the plan is built: the bits of the outputs and
 * kept values it feeds, through its readers (a gated conv reads its mask's
 * MASK op too). STP_ERR_NOMEM, or OK. */
enum stp_status stp_plan_mark_users(struct stp_plan *plan);

/* Shapes of every value for an input of h x w (shapes has nvalues entries).
 * STP_ERR_INVALID_ARG when the input is too small for the network. */
enum stp_status stp_plan_shapes(const struct stp_plan *plan, int h, int w,
				struct stp_shape *shapes);

/* Byte offsets of every value (but the input) in one arena, by lifetime;
 * returns the arena size in bytes, 0 on overflow. */
size_t stp_plan_layout(const struct stp_plan *plan, const struct stp_shape *shapes,
		       size_t *offsets);

#endif

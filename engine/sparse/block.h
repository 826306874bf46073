/*
 * block.h - one sparse residual block (docs/method.md section 5), executed for
 * real: convs run only at sampled cells, interpolation fills only the cells
 * the next step reads.
 *
 * Bottleneck, variant (b) (the default): masks M1 (stride 1) and M2 (the
 * block's stride) come from 3x3 convs on the block input x (one fused
 * 2-channel conv when their strides match).
 *   1. conv1 (+BN, ReLU) at M1 cells; interpolate y1 at the cells conv2's
 *      3x3 taps read around M2 cells that M1 did not sample;
 *   2. conv2 (+BN, ReLU) at M2 cells;
 *   3. conv3 times BN's scale at M2 cells (no shift), then interpolate that
 *      to every cell and add BN's shift and the dense shortcut, then ReLU:
 *      exactly BN3(conv3(interp(y2))) + shortcut, since conv3 and BN's scale
 *      are linear and the interpolation is a per-cell weighted sum.
 * Variant (a) uses M1 for all three convs (its stride must then be 1);
 * variant (c) gives conv3 its own mask M3 (same stride as M2) and
 * interpolates y2 before running conv3 at M3 cells.
 * BasicBlock: conv1 (3x3, the block's stride) at M1, interpolated where
 * conv2 reads; conv2 times BN's scale at M2, interpolated everywhere, plus
 * BN's shift and the shortcut, then ReLU. Both masks use the block's stride.
 *
 * Logit partials: a block's mask logits are 3x3 convs over its whole input,
 * which the block before it has just written. When every mask conv of the
 * next block has stride 1 (or they run as mask_fused), this block's last
 * pass also takes, at each output cell q and while q's channels are in
 * cache, the dot products of q with every tap's weights,
 * P[q][n][t] = sum_c W_n[c][t] x[q][c]; the next block's logits are then
 * bias_n + the sum over its 9 taps t of P[q_t][n][t] (taps outside the map
 * skipped, as zero padding): the same FMAs, without reading the input back
 * from memory.
 */
#ifndef STP_SPARSE_BLOCK_H
#define STP_SPARSE_BLOCK_H

#include "../ops/conv.h"
#include "interp.h"
#include "mask.h"

#define STP_BLOCK_MAX_MASKS 3
#define STP_BLOCK_MAX_CONVS 3

/* The block as a chain of convs: conv j runs at the cells of mask
 * mask_of[j] and its output is interpolated by module interp_of[j] (with
 * the same mask) at the cells conv j+1 reads that mask did not sample; the
 * last conv's output is interpolated everywhere, then gets the last BN's
 * shift, the shortcut and ReLU. */
struct stp_sparse_block {
	int nconvs;                     /* 3 bottleneck, 2 basic */
	struct stp_conv *conv[STP_BLOCK_MAX_CONVS];  /* BN folded; the last without shift */
	int mask_of[STP_BLOCK_MAX_CONVS];
	int interp_of[STP_BLOCK_MAX_CONVS];
	float *last_shift;              /* the last BN's shift, [cout] */
	struct stp_conv *downsample;    /* NULL: identity shortcut */

	int nmasks;
	struct stp_conv *mask_conv[STP_BLOCK_MAX_MASKS]; /* NULL where fused into another */
	/* NULL, or what runs in place of mask_conv[0] (stride 1) and
	 * mask_conv[1] (stride 2) in one pass over the input: a stride-1 conv
	 * with mask_conv[0]'s channels, then mask_conv[1]'s, whose stride-2
	 * outputs are its values at even rows and columns. mask_conv[] still
	 * defines the masks and their official cost. */
	struct stp_conv *mask_fused;
	int mask_source[STP_BLOCK_MAX_MASKS];  /* which mask_conv computes mask m */
	int mask_channel[STP_BLOCK_MAX_MASKS]; /* and which of its output channels */
	struct stp_interp_kernel kernel[STP_BLOCK_MAX_MASKS]; /* one per interpolation module */
	int grid;                       /* grid prior stride */
	stp_gather_ukernel_fn gather;   /* interpolation kernel of the engine's ISA */
	uint32_t mask_index;            /* of mask 0 in the network, for noise keys */

	/* Logit partials (above). partial_k: channels of the stride-1 logit
	 * map (mask_fused's, or the one stride-1 mask conv's) they give; 0 when
	 * this block cannot take them. */
	int partial_k;
	float *partial_w;               /* [partial_k][9][cin]: W_n[c][t] at (n*9 + t)*cin + c */
	float partial_bias[STP_BLOCK_MAX_MASKS];
	stp_dotconv_ukernel_fn dotconv;
	/* The block that reads this one's output and takes partials, or NULL. */
	const struct stp_sparse_block *next;
};

/* Per-run choices for every mask of a network. */
struct stp_sparse_options {
	int dense;                  /* sample every cell: the dense network exactly */
	const size_t *topk;         /* budget mode: cells to keep per mask, by the
				     * network's mask index; NULL: mode decides */
	enum stp_sample_mode mode;
	uint64_t seed;
	double *phase_ms;           /* NULL, or [STP_PHASE_COUNT] to add each phase's time to */
	enum stp_interp_form interp_form;  /* AUTO unless a benchmark compares forms */
	int partials;               /* compute the next block's logit partials (block.h) */
};

/* Scratch for one block run, sized by stp_sparse_block_scratch_size(). */
struct stp_sparse_scratch {
	float *feature[STP_BLOCK_MAX_CONVS];  /* each conv's output map */
	float *shortcut;                       /* the downsample's output */
	float *logits[STP_BLOCK_MAX_MASKS];    /* each mask conv's output */
	uint8_t *mask[STP_BLOCK_MAX_MASKS];
	int32_t *list[STP_BLOCK_MAX_MASKS];
	int32_t *targets;
	uint8_t *need;
	float *rank;                           /* top-k scratch, one float per cell per mask */
	struct stp_interp_buffer interp_rows;  /* the interpolation's working rows */
	float *partials;                       /* cells x 9 x STP_BLOCK_MAX_MASKS floats */
	/* partials hold the logit partials of partials_for's input, whose data
	 * is at partials_of; partials_for is NULL when they hold nothing. */
	const struct stp_sparse_block *partials_for;
	const float *partials_of;
	const struct stp_conv_scratch *conv;   /* the owner's, for every conv of a block */
};

/* Sampled cells and all cells of each mask after a run (grid included). */
struct stp_sparse_stats {
	size_t sampled[STP_BLOCK_MAX_MASKS];
	size_t cells[STP_BLOCK_MAX_MASKS];
	int partials_used;          /* the logits came from the block before's partials */
};

void stp_sparse_block_destroy(struct stp_sparse_block *block);

/* The tile tables a thread of any of the block's convs needs (conv.h). */
size_t stp_sparse_block_table_bytes(const struct stp_sparse_block *block);

/* The most floats the block's interpolations ask of the scratch's
 * interp_rows (stp_interp_buffer_floats) for an h x w input on `threads`
 * threads. */
size_t stp_sparse_block_interp_floats(const struct stp_sparse_block *block, int h, int w,
				      int threads);

/* Lets the block take logit partials: packs its k stride-1 mask channels'
 * weights w ([k][cin][3][3], PyTorch's layout) as partial_w, with biases
 * bias[k] and the engine's DOTCONV kernel. STP_ERR_NOMEM, or OK. */
enum stp_status stp_sparse_block_set_partials(struct stp_sparse_block *block, const float *w,
					      const float *bias, int k, int cin,
					      stp_dotconv_ukernel_fn dotconv);

/* Spatial size of mask m's map for a block input of h x w. */
void stp_sparse_block_mask_size(const struct stp_sparse_block *block, int m, int h, int w,
				int *mh, int *mw);

/* Runs the block on in (h x w x cin) into out (the block's output shape). */
enum stp_status stp_sparse_block_run(const struct stp_sparse_block *block,
				     const struct stp_tensor *in, struct stp_tensor *out,
				     struct stp_sparse_scratch *scratch,
				     const struct stp_sparse_options *opts,
				     struct stp_sparse_stats *stats, struct stp_threadpool *pool);

#endif

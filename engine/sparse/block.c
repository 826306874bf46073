/*
 * block.c - running one sparse residual block (see block.h for the method).
 *
 * Order of work: mask logits (dense, few-channel convs, or sums of the
 * partials the block before left) -> sampled cell lists -> each conv at
 * its mask's cells -> interpolation of its output at exactly the cells the
 * next conv's taps read and its mask did not sample (none when dense: the
 * step is skipped) -> the last conv's
 * output interpolated everywhere with the last BN's shift, the shortcut
 * and ReLU fused into the same pass, which also leaves the next block's
 * partials.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"

void stp_sparse_block_destroy(struct stp_sparse_block *block)
{
	if (!block)
		return;
	for (int j = 0; j < STP_BLOCK_MAX_CONVS; j++)
		stp_conv_destroy(block->conv[j]);
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++)
		stp_conv_destroy(block->mask_conv[m]);
	stp_conv_destroy(block->mask_fused);
	stp_conv_destroy(block->downsample);
	stp_free(block->partial_w);
	free(block->last_shift);
	free(block);
}

size_t stp_sparse_block_table_bytes(const struct stp_sparse_block *block)
{
	const struct stp_conv *convs[] = {block->conv[0], block->conv[1], block->conv[2],
					  block->mask_conv[0], block->mask_conv[1],
					  block->mask_conv[2], block->mask_fused, block->downsample};
	size_t bytes = 0;

	for (size_t j = 0; j < sizeof(convs) / sizeof(convs[0]); j++)
		if (convs[j] && stp_conv_table_bytes(convs[j]) > bytes)
			bytes = stp_conv_table_bytes(convs[j]);
	return bytes;
}

size_t stp_sparse_block_interp_floats(const struct stp_sparse_block *block, int h, int w,
				      int threads)
{
	size_t most = 0;

	for (int j = 0; j < block->nconvs; j++) {
		const struct stp_conv_desc *d = stp_conv_get_desc(block->conv[j]);
		size_t floats;

		if (!stp_conv_output_size(d, h, w, &h, &w))
			return most;
		floats = stp_interp_buffer_floats(&block->kernel[block->interp_of[j]], w, d->cout,
						  threads);
		most = floats > most ? floats : most;
	}
	return most;
}

enum stp_status stp_sparse_block_set_partials(struct stp_sparse_block *block, const float *w,
					      const float *bias, int k, int cin,
					      stp_dotconv_ukernel_fn dotconv)
{
	block->partial_w = stp_alloc((size_t)k * 9 * (size_t)cin * sizeof(float));
	if (!block->partial_w)
		return STP_ERR_NOMEM;
	for (int n = 0; n < k; n++) {
		for (int t = 0; t < 9; t++)
			for (int c = 0; c < cin; c++)
				block->partial_w[((size_t)n * 9 + t) * cin + c] =
					w[((size_t)n * cin + c) * 9 + t];
		block->partial_bias[n] = bias[n];
	}
	block->partial_k = k;
	block->dotconv = dotconv;
	return STP_OK;
}

void stp_sparse_block_mask_size(const struct stp_sparse_block *block, int m, int h, int w,
				int *mh, int *mw)
{
	const struct stp_conv *mc = block->mask_conv[block->mask_source[m]];
	if (!stp_conv_output_size(stp_conv_get_desc(mc), h, w, mh, mw))
		*mh = *mw = 0;
}

/* Marks in need[] (an h x w map) every cell that conv's taps read when it
 * computes the listed output cells (of an ow-wide output). */
static void mark_reads(const struct stp_conv_desc *d, const int32_t *list, size_t n, int ow,
		       int h, int w, uint8_t *need)
{
	memset(need, 0, (size_t)h * w);
	for (size_t i = 0; i < n; i++) {
		const int oy = list[i] / ow, ox = list[i] % ow;
		for (int ky = 0; ky < d->kh; ky++) {
			const int iy = oy * d->sh - d->ph + ky * d->dh;
			if (iy < 0 || iy >= h)
				continue;
			for (int kx = 0; kx < d->kw; kx++) {
				const int ix = ox * d->sw - d->pw + kx * d->dw;
				if (ix >= 0 && ix < w)
					need[iy * w + ix] = 1;
			}
		}
	}
}

/* The stride-1 logit map of partial_k channels from the partials (block.h),
 * in bands of rows. */
struct partials_job {
	const struct stp_sparse_block *block;
	const float *partials;      /* h x w cells of partial_k x 9 */
	int h, w, band;
	float *logits;              /* h x w cells of partial_k */
};

/* Row by row: the bias, then each tap (ky, kx) added along the whole row,
 * in the order of a 3x3 conv's taps; taps outside the map are skipped. */
static void partials_task(void *ctx, size_t task, int thread)
{
	const struct partials_job *job = ctx;
	const int k = job->block->partial_k, h = job->h, w = job->w;
	const int y0 = (int)task * job->band, y1 = y0 + job->band < h ? y0 + job->band : h;
	const size_t cell = (size_t)k * 9;
	(void)thread;

	for (int y = y0; y < y1; y++) {
		float *row = job->logits + (size_t)y * w * (size_t)k;
		for (int x = 0; x < w; x++)
			for (int n = 0; n < k; n++)
				row[(size_t)x * k + n] = job->block->partial_bias[n];
		for (int ky = 0; ky < 3; ky++) {
			const int iy = y - 1 + ky;
			if (iy < 0 || iy >= h)
				continue;
			for (int kx = 0; kx < 3; kx++) {
				const int x0 = kx == 0 ? 1 : 0, x1 = kx == 2 ? w - 1 : w;
				const float *p;
				float *dst = row + (size_t)x0 * k;
				if (x0 >= x1)
					continue;
				p = job->partials + ((size_t)iy * w + (size_t)(x0 + kx - 1)) * cell + ky * 3 + kx;
				for (int x = x0; x < x1; x++, p += cell, dst += k)
					for (int n = 0; n < k; n++)
						dst[n] += p[n * 9];
			}
		}
	}
}

/* Runs the mask convs on the block input: mask_conv[j]'s logits at
 * logits[j], logit_stride[j] floats per cell. With mask_fused, one pass
 * gives both: mask_conv[0]'s channels read in place, mask_conv[1]'s copied
 * out of the even rows and columns. With partials (non-NULL), their sums
 * replace mask_fused's pass, or the one stride-1 mask conv's. */
static void run_mask_convs(const struct stp_sparse_block *block, const struct stp_tensor *in,
			   struct stp_sparse_scratch *scratch, const float *partials,
			   struct stp_threadpool *pool, const float **logits, size_t *logit_stride)
{
	int first = 0;

	if (partials) {
		const int threads = stp_threadpool_threads(pool);
		struct partials_job job = {block, partials, in->h, in->w,
					   (in->h + 4 * threads - 1) / (4 * threads), scratch->logits[0]};
		stp_threadpool_parallel_for(pool, (size_t)((in->h + job.band - 1) / job.band),
					    partials_task, &job);
		logits[0] = scratch->logits[0];
		logit_stride[0] = (size_t)block->partial_k;
		first = 1;
	}
	if (block->mask_fused) {
		const int n0 = stp_conv_get_desc(block->mask_conv[0])->cout;
		const int n1 = stp_conv_get_desc(block->mask_conv[1])->cout;
		struct stp_tensor all = {scratch->logits[0], in->h, in->w, n0 + n1, n0 + n1};
		float *sub = scratch->logits[1];
		int h1, w1;
		if (!partials)
			stp_conv_run(block->mask_fused, in, &all, NULL, NULL, 0, scratch->conv, pool);
		stp_conv_output_size(stp_conv_get_desc(block->mask_conv[1]), in->h, in->w, &h1, &w1);
		for (int y = 0; y < h1; y++)
			for (int x = 0; x < w1; x++)
				for (int c = 0; c < n1; c++)
					*sub++ = all.data[((size_t)(2 * y) * in->w + 2 * x) * all.c_stride +
							  n0 + c];
		logits[0] = all.data;
		logit_stride[0] = (size_t)(n0 + n1);
		logits[1] = scratch->logits[1];
		logit_stride[1] = (size_t)n1;
		first = 2;
	}
	for (int j = first; j < STP_BLOCK_MAX_MASKS; j++) {
		const struct stp_conv *mc = block->mask_conv[j];
		struct stp_tensor lt;
		if (!mc)
			continue;
		lt.c = lt.c_stride = stp_conv_get_desc(mc)->cout;
		lt.data = scratch->logits[j];
		stp_conv_output_size(stp_conv_get_desc(mc), in->h, in->w, &lt.h, &lt.w);
		stp_conv_run(mc, in, &lt, NULL, NULL, 0, scratch->conv, pool);
		logits[j] = lt.data;
		logit_stride[j] = (size_t)lt.c;
	}
}

/* Sampling of every mask of a block, one task per mask. */
struct sample_job {
	const struct stp_sparse_block *block;
	const struct stp_sparse_options *opts;
	struct stp_sparse_scratch *scratch;
	const float *const *logits;
	const size_t *logit_stride;
	int h, w;                   /* the block input's */
	size_t *count;              /* per mask: cells sampled */
	struct stp_sparse_stats *stats;
};

/* Mask m's sampled cells (and its stats): every cell when dense, else by
 * the options' mode or top-k count (each mask ranks in its own slice of
 * the scratch). */
static void sample_task(void *ctx, size_t task, int thread)
{
	const struct sample_job *job = ctx;
	const struct stp_sparse_block *block = job->block;
	const struct stp_sparse_options *opts = job->opts;
	struct stp_sparse_scratch *scratch = job->scratch;
	const int m = (int)task, src = block->mask_source[m];
	int mh, mw;
	(void)thread;

	stp_sparse_block_mask_size(block, m, job->h, job->w, &mh, &mw);
	job->stats->cells[m] = (size_t)mh * mw;
	if (opts->dense) {
		job->count[m] = (size_t)mh * mw;
		memset(scratch->mask[m], 1, job->count[m]);
		for (size_t p = 0; p < job->count[m]; p++)
			scratch->list[m][p] = (int32_t)p;
	} else if (opts->topk) {
		job->count[m] = stp_mask_sample_topk(
			job->logits[src] + block->mask_channel[m], job->logit_stride[src], mh, mw,
			block->grid, opts->topk[block->mask_index + (uint32_t)m],
			scratch->rank + (size_t)m * (size_t)job->h * (size_t)job->w, scratch->mask[m],
			scratch->list[m]);
	} else {
		job->count[m] = stp_mask_sample(job->logits[src] + block->mask_channel[m],
						job->logit_stride[src], mh, mw, block->grid, opts->mode,
						opts->seed, block->mask_index + (uint32_t)m,
						scratch->mask[m], scratch->list[m]);
	}
	job->stats->sampled[m] = job->count[m];
}

/* Adds the time since *t0 to phase (when profiling) and restarts the clock. */
static void lap(const struct stp_sparse_options *opts, int phase, int64_t *t0)
{
	int64_t t;

	if (!opts->phase_ms)
		return;
	t = stp_now_ns();
	opts->phase_ms[phase] += (double)(t - *t0) / 1e6;
	*t0 = t;
}

enum stp_status stp_sparse_block_run(const struct stp_sparse_block *block,
				     const struct stp_tensor *in, struct stp_tensor *out,
				     struct stp_sparse_scratch *scratch,
				     const struct stp_sparse_options *opts,
				     struct stp_sparse_stats *stats, struct stp_threadpool *pool)
{
	size_t count[STP_BLOCK_MAX_MASKS];
	struct stp_tensor cur = *in, feat[STP_BLOCK_MAX_CONVS], shortcut = *in;
	const int last = block->nconvs - 1;
	struct stp_interp_exec exec = {block->gather, &scratch->interp_rows, opts->interp_form,
				       STP_INTERP_FORM_AUTO, NULL};
	struct stp_interp_dots dots;
	enum stp_status st;
	int64_t t0 = opts->phase_ms ? stp_now_ns() : 0;
	/* Partials left for this very input (block.h), used once. */
	const float *partials = scratch->partials_for == block && scratch->partials_of == in->data
					? scratch->partials : NULL;

	scratch->partials_for = NULL;
	stats->partials_used = partials && !opts->dense;
	/* 1. Mask logits and sampled cells (every cell when dense). */
	const float *logits[STP_BLOCK_MAX_MASKS];
	size_t logit_stride[STP_BLOCK_MAX_MASKS];
	if (!opts->dense)
		run_mask_convs(block, in, scratch, partials, pool, logits, logit_stride);
	{
		struct sample_job job = {block, opts, scratch, logits, logit_stride, in->h, in->w,
					 count, stats};
		stp_threadpool_parallel_for(pool, (size_t)block->nmasks, sample_task, &job);
	}
	lap(opts, STP_PHASE_MASK, &t0);

	/* 2. The conv chain, each conv at its mask's cells. */
	for (int j = 0; j <= last; j++) {
		const struct stp_conv_desc *d = stp_conv_get_desc(block->conv[j]);
		const int m = block->mask_of[j];
		feat[j].data = scratch->feature[j];
		feat[j].c = feat[j].c_stride = d->cout;
		stp_conv_output_size(d, cur.h, cur.w, &feat[j].h, &feat[j].w);
		stp_conv_run(block->conv[j], &cur, &feat[j], NULL, scratch->list[m], count[m],
			     scratch->conv, pool);
		lap(opts, STP_PHASE_CONV, &t0);
		if (j < last && !opts->dense) {
			const struct stp_conv_desc *next = stp_conv_get_desc(block->conv[j + 1]);
			const int mn = block->mask_of[j + 1];
			int nh, nw;
			size_t ntargets = 0;
			stp_conv_output_size(next, feat[j].h, feat[j].w, &nh, &nw);
			mark_reads(next, scratch->list[mn], count[mn], nw, feat[j].h, feat[j].w,
				   scratch->need);
			for (int p = 0; p < feat[j].h * feat[j].w; p++)
				if (scratch->need[p] && !scratch->mask[m][p])
					scratch->targets[ntargets++] = p;
			st = stp_interp_apply(&block->kernel[block->interp_of[j]], scratch->mask[m],
					      scratch->targets, ntargets, &feat[j], &feat[j], NULL, NULL,
					      0, &exec, pool);
			if (st != STP_OK)
				return st;
			lap(opts, STP_PHASE_INTERP, &t0);
		}
		cur = feat[j];
	}

	/* 3. Shortcut, then the last output interpolated everywhere + shift +
	 * shortcut, ReLU. */
	if (block->downsample) {
		shortcut.data = scratch->shortcut;
		shortcut.c = shortcut.c_stride = stp_conv_get_desc(block->downsample)->cout;
		stp_conv_output_size(stp_conv_get_desc(block->downsample), in->h, in->w,
				     &shortcut.h, &shortcut.w);
		stp_conv_run(block->downsample, in, &shortcut, NULL, NULL, 0, scratch->conv, pool);
		lap(opts, STP_PHASE_SHORTCUT, &t0);
	}
	assert(shortcut.h == out->h && shortcut.w == out->w && feat[last].h == out->h);
	if (block->next && opts->partials && !opts->dense && scratch->partials) {
		dots.w = block->next->partial_w;
		dots.n = (size_t)block->next->partial_k * 9;
		dots.out = scratch->partials;
		dots.dotconv = block->next->dotconv;
		exec.dots = &dots;
	}
	st = stp_interp_apply(&block->kernel[block->interp_of[last]],
			      scratch->mask[block->mask_of[last]], NULL, (size_t)out->h * out->w,
			      &feat[last], out, block->last_shift, &shortcut, 1, &exec, pool);
	if (st == STP_OK && exec.dots) {
		scratch->partials_for = block->next;
		scratch->partials_of = out->data;
	}
	lap(opts, STP_PHASE_FINAL, &t0);
	return st;
}

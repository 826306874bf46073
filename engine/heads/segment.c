/*
 * segment.c - the semantic FPN head (proto/model-format.md, "Semantic FPN
 * inference"; the reference is train/stipple_train/segmentation.py).
 *
 * Built into the plan: y_k = ReLU(conv3x3_k(p_k)) per level; a = y_last,
 * then a = bilinear(a, size of y_k) + y_k from the coarsest level to the
 * finest; logits = conv1x1(a), K = N + 1 classes at the finest level's
 * scale. After the plan, per image: the logits resized bilinearly to the
 * padded input (only the top-left rh x rw crop is computed: a resized
 * pixel depends on its own coordinates only, so the crop is identical),
 * that crop resized to the original h x w, and the argmax over classes
 * (ties: the lowest class). Both resizes use PyTorch's arithmetic
 * (stp_bilinear_taps), the column taps computed once per image. The second
 * resize and the argmax run together per output row, so the full-size
 * K-channel logits are never stored.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../ops/ops.h"
#include "../base/threadpool.h"
#include "heads.h"

struct stp_segment_head {
	int logits;       /* plan value, kept alive */
	int classes;      /* K = num_classes + 1 */
};

/* The two source columns of an output column and the second one's weight. */
struct column_tap {
	int x0, x1;
	float w1;
};

struct stp_segment_state {
	float *crop;      /* rh x rw x K: the logits at the resized image's size */
	uint8_t *labels;  /* h x w */
	struct column_tap *crop_taps, *label_taps;  /* rw and w of them */
	size_t caps[4];   /* element capacity of each buffer above, in order */
};

enum stp_status stp_segment_head_build(struct stp_net_builder *b,
				       const struct stp_arch_semantic_fpn *cfg,
				       const struct stp_fpn_values *fpn,
				       struct stp_segment_head **out)
{
	const int c = b->arch->fpn_out_channels, width = cfg->channels;
	struct stp_conv_desc level_desc = stp_net_conv_desc(c, width, 3, 1, 1);
	struct stp_conv_desc classifier = stp_net_conv_desc(width, cfg->num_classes + 1, 1, 1, 0);
	struct stp_segment_head *head;
	enum stp_status st = STP_OK;
	int y[STP_ARCH_MAX_LEVELS] = {0}, a;
	char name[64];

	*out = NULL;
	for (int i = 0; i < cfg->nlevels; i++) {
		snprintf(name, sizeof(name), "seg_head.convs.%d", i);
		y[i] = stp_net_conv(b, name, NULL, 1, fpn->p[cfg->levels[i] - 2], -1, &level_desc,
				    0, 0, &st);
		if (y[i] < 0)
			return st;
	}
	a = y[cfg->nlevels - 1];
	for (int i = cfg->nlevels - 2; i >= 0; i--) {
		struct stp_op up = {.kind = STP_OP_RESIZE_BILINEAR, .in = a, .in2 = y[i]};
		struct stp_op add = {.kind = STP_OP_ADD, .in2 = y[i]};

		add.in = stp_plan_add(b->plan, &up, width);
		a = add.in < 0 ? -1 : stp_plan_add(b->plan, &add, width);
		if (a < 0)
			return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	}
	a = stp_net_conv(b, "seg_head.classifier", NULL, 1, a, -1, &classifier, 0, 0, &st);
	if (a < 0)
		return st;
	head = stp_zalloc(1, sizeof(*head));
	if (!head || stp_plan_keep(b->plan, a, STP_TASK_SEGMENT) != STP_OK) {
		free(head);
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	}
	head->logits = a;
	head->classes = cfg->num_classes + 1;
	*out = head;
	return STP_OK;
}

void stp_segment_head_destroy(struct stp_segment_head *head)
{
	free(head);
}

struct segment_job {
	const struct stp_image_geometry *g;
	struct stp_tensor logits;   /* finest level, K channels */
	float *crop;
	uint8_t *labels;
	int classes;
	const struct column_tap *crop_taps, *label_taps;
};

/* The taps of n output columns resized from in_size columns at scale. */
static void column_taps(int n, float scale, int in_size, struct column_tap *taps)
{
	for (int x = 0; x < n; x++)
		stp_bilinear_taps(x, scale, in_size, &taps[x].x0, &taps[x].x1, &taps[x].w1);
}

/* Rows of the rh x rw crop of the logits resized to ph x pw. */
static void crop_row(void *ctx, size_t task, int thread)
{
	const struct segment_job *job = ctx;
	const struct stp_tensor *in = &job->logits;
	const int k = job->classes, oy = (int)task;
	const float sh = (float)in->h / (float)job->g->ph;
	const size_t row = (size_t)in->w * in->c_stride;
	float *out = job->crop + (size_t)oy * job->g->rw * k;
	int iy0, iy1;
	float h1;
	(void)thread;

	stp_bilinear_taps(oy, sh, in->h, &iy0, &iy1, &h1);
	for (int ox = 0; ox < job->g->rw; ox++) {
		const int ix0 = job->crop_taps[ox].x0, ix1 = job->crop_taps[ox].x1;
		const float w1 = job->crop_taps[ox].w1;
		const float *a, *b;

		a = in->data + (size_t)iy0 * row;
		b = in->data + (size_t)iy1 * row;
		for (int c = 0; c < k; c++) {
			const size_t o0 = (size_t)ix0 * in->c_stride + c, o1 = (size_t)ix1 * in->c_stride + c;

			out[(size_t)ox * k + c] = (a[o0] * (1.0f - w1) + a[o1] * w1) * (1.0f - h1) +
						  (b[o0] * (1.0f - w1) + b[o1] * w1) * h1;
		}
	}
}

/* One row of the label map: the crop resized to h x w, argmax per pixel. */
static void label_row(void *ctx, size_t task, int thread)
{
	const struct segment_job *job = ctx;
	const struct stp_image_geometry *g = job->g;
	const int k = job->classes, oy = (int)task;
	const float sh = (float)g->rh / (float)g->h;
	const size_t row = (size_t)g->rw * k;
	uint8_t *out = job->labels + (size_t)oy * g->w;
	int iy0, iy1;
	float h1;
	(void)thread;

	stp_bilinear_taps(oy, sh, g->rh, &iy0, &iy1, &h1);
	for (int ox = 0; ox < g->w; ox++) {
		const float *a = job->crop + (size_t)iy0 * row, *b = job->crop + (size_t)iy1 * row;
		const int ix0 = job->label_taps[ox].x0, ix1 = job->label_taps[ox].x1;
		const float w1 = job->label_taps[ox].w1;
		float best = 0;
		int label = 0;

		for (int c = 0; c < k; c++) {
			const size_t o0 = (size_t)ix0 * k + c, o1 = (size_t)ix1 * k + c;
			const float v = (a[o0] * (1.0f - w1) + a[o1] * w1) * (1.0f - h1) +
					(b[o0] * (1.0f - w1) + b[o1] * w1) * h1;

			if (c == 0 || v > best) {
				best = v;
				label = c;
			}
		}
		out[ox] = (uint8_t)label;
	}
}

enum stp_status stp_segment_state_reserve(const struct stp_segment_head *head,
					  const struct stp_image_geometry *g,
					  struct stp_segment_state **state, size_t *bytes)
{
	struct stp_segment_state *st = *state;

	if (!st) {
		st = stp_zalloc(1, sizeof(*st));
		if (!st)
			return STP_ERR_NOMEM;
		*state = st;
	}
	{
		const struct stp_buffer_need need[] = {
			STP_NEED(st, 0, crop, (size_t)g->rh * g->rw * (size_t)head->classes),
			STP_NEED(st, 1, labels, (size_t)g->h * g->w),
			STP_NEED(st, 2, crop_taps, (size_t)g->rw),
			STP_NEED(st, 3, label_taps, (size_t)g->w),
		};
		if (stp_grow_all(need, (int)(sizeof(need) / sizeof(need[0])), bytes))
			return STP_ERR_NOMEM;
		*bytes += sizeof(*st);
	}
	return STP_OK;
}

enum stp_status stp_segment_head_run(const struct stp_segment_head *head,
				     const struct stp_run_values *run,
				     const struct stp_image_geometry *g,
				     struct stp_segment_state *st)
{
	struct segment_job job;
	struct stp_threadpool *pool = run->pool;

	if (!st || (size_t)g->h * g->w > st->caps[1] ||
	    (size_t)g->rh * g->rw * (size_t)head->classes > st->caps[0] ||
	    (size_t)g->w > st->caps[3] || (size_t)g->rw > st->caps[2])
		return STP_ERR_INTERNAL;   /* not reserved for this image */
	job = (struct segment_job){g, stp_run_value(run, head->logits), st->crop, st->labels,
				   head->classes, st->crop_taps, st->label_taps};
	column_taps(g->rw, (float)job.logits.w / (float)g->pw, job.logits.w, st->crop_taps);
	column_taps(g->w, (float)g->rw / (float)g->w, g->rw, st->label_taps);
	stp_threadpool_parallel_for(pool, (size_t)g->rh, crop_row, &job);
	stp_threadpool_parallel_for(pool, (size_t)g->h, label_row, &job);
	return STP_OK;
}

const uint8_t *stp_segment_state_labels(const struct stp_segment_state *state)
{
	return state ? state->labels : NULL;
}

void stp_segment_state_destroy(struct stp_segment_state *state)
{
	if (!state)
		return;
	free(state->crop);
	free(state->labels);
	free(state->crop_taps);
	free(state->label_taps);
	free(state);
}

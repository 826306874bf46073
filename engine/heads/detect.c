/*
 * detect.c - running the Faster R-CNN head after the plan
 * (proto/model-format.md, "Faster R-CNN inference"; the reference is
 * train/stipple_train/rpn.py and roi_heads.py):
 *   1. proposals: per RPN level, the pre_nms_top_n largest objectness logits
 *      (anchors in (y, x, a) order), decoded, scored by the float32 sigmoid,
 *      clipped to the resized image, small boxes and low scores dropped; NMS
 *      per level; the best post_nms_top_n overall (fewer where the caller
 *      caps them: budget mode);
 *   2. RoIAlign of every proposal on its level, in parallel over proposals;
 *   3. fc6, fc7 and the predictor as 1x1 convs over the RoIs (the engine's
 *      GEMM kernels, on the pool);
 *   4. per proposal: softmax, class-specific decoding, clipping; candidates
 *      in (proposal, class) order above the score threshold and minimum size;
 *      NMS per class; the best detections_per_img, rescaled to the original
 *      image with float32 ratios.
 * Buffers live in the state, sized by stp_detect_state_reserve for the
 * most each step can use at the run's size (every proposal kept, every
 * class a candidate), so a run allocates nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/threadpool.h"
#include "detect-impl.h"

struct stp_detect_state {
	/* proposals */
	float *objectness, *work_v;
	uint32_t *top, *scratch;
	struct stp_box *cand;
	float *cand_score;
	int *cand_cat;
	uint32_t *keep;
	uint8_t *flags;
	struct stp_box *proposals;
	/* box branch */
	float *roi, *fc6, *fc7, *pred, *acc, *zero, *probs;
	char *tables;      /* the fc convs' tile tables */
	/* results */
	struct stp_detection *dets;
	int ndets;
	int nproposals;    /* the box head's, in the last run */
	size_t caps[19];   /* element capacity of each buffer above, in order */
};

/* The most anchors of any RPN level at run's shapes. */
static size_t most_anchors(const struct stp_detect_head *h, const struct stp_run_values *run)
{
	size_t most = 0;

	for (int i = 0; i < h->cfg.rpn_nlevels; i++) {
		const struct stp_tensor o = stp_run_value(run, h->rpn_out[i]);

		if ((size_t)o.h * o.w * h->anchors > most)
			most = (size_t)o.h * o.w * h->anchors;
	}
	return most;
}

enum stp_status stp_detect_state_reserve(const struct stp_detect_head *h,
					 const struct stp_run_values *run,
					 struct stp_detect_state **state, size_t *bytes)
{
	const struct stp_arch_faster_rcnn *c = &h->cfg;
	const size_t threads = (size_t)stp_threadpool_threads(run->pool);
	const size_t anchors = most_anchors(h, run), post = (size_t)c->post_nms_top_n;
	const size_t per_level = (size_t)c->rpn_nlevels * c->pre_nms_top_n;
	const size_t per_class = post * (size_t)(h->classes - 1);
	const size_t cand = per_level > per_class ? per_level : per_class;
	const size_t sorted = anchors > cand ? anchors : cand;
	const size_t roi = (size_t)h->channels * c->output_size * c->output_size;
	const size_t r = (size_t)c->representation_size;
	struct stp_detect_state *st = *state;

	if (!st) {
		st = stp_zalloc(1, sizeof(*st));
		if (!st)
			return STP_ERR_NOMEM;
		*state = st;
	}
	{
		const struct stp_buffer_need need[] = {
			STP_NEED(st, 0, objectness, anchors), STP_NEED(st, 1, work_v, anchors),
			STP_NEED(st, 2, top, anchors), STP_NEED(st, 3, scratch, 9 * sorted),
			STP_NEED(st, 4, cand, cand), STP_NEED(st, 5, cand_score, cand),
			STP_NEED(st, 6, cand_cat, cand), STP_NEED(st, 7, keep, cand),
			STP_NEED(st, 8, flags, cand), STP_NEED(st, 9, proposals, post),
			STP_NEED(st, 10, roi, post * roi), STP_NEED(st, 11, fc6, post * r),
			STP_NEED(st, 12, fc7, post * r),
			STP_NEED(st, 13, pred, post * 5 * (size_t)h->classes),
			STP_NEED(st, 14, acc, threads * (size_t)h->channels),
			STP_NEED(st, 15, zero, h->zero_floats + 64),
			STP_NEED(st, 16, tables, threads * h->table_bytes + 64),
			STP_NEED(st, 17, probs, (size_t)h->classes),
			STP_NEED(st, 18, dets, (size_t)c->detections_per_img),
		};
		if (stp_grow_all(need, (int)(sizeof(need) / sizeof(need[0])), bytes))
			return STP_ERR_NOMEM;
		*bytes += sizeof(*st);
	}
	return STP_OK;
}

/* Step 1: at most max_proposals proposals into st->proposals; returns their
 * count, or -1 when st was not reserved for run's size. */
static long proposals(const struct stp_detect_head *h, const struct stp_run_values *run,
		      const struct stp_image_geometry *g, size_t max_proposals,
		      struct stp_detect_state *st)
{
	const struct stp_arch_faster_rcnn *c = &h->cfg;
	const int a = h->anchors;
	size_t ncand = 0, nkeep;

	if (most_anchors(h, run) > st->caps[0])
		return -1;   /* not reserved for this size */
	for (int i = 0; i < c->rpn_nlevels; i++) {
		const struct stp_tensor o = stp_run_value(run, h->rpn_out[i]);
		const size_t n = (size_t)o.h * o.w * a;
		const int sh = g->ph / o.h, sw = g->pw / o.w;   /* integer division, as torchvision */
		size_t k;

		for (size_t j = 0; j < n; j++)
			st->objectness[j] = o.data[(j / a) * o.c_stride + j % a];
		k = stp_topk_desc(st->objectness, n, (size_t)c->pre_nms_top_n, st->top,
				  st->scratch, st->work_v);
		for (size_t t = 0; t < k; t++) {
			const size_t pix = st->top[t] / a;
			const int an = (int)(st->top[t] % a);
			const float ox = (float)((int)(pix % o.w) * sw), oy = (float)((int)(pix / o.w) * sh);
			const struct stp_box *cell = &h->cell[i][an];
			const struct stp_box anchor = {ox + cell->x1, oy + cell->y1, ox + cell->x2,
						       oy + cell->y2};
			const float logit = o.data[pix * o.c_stride + an];
			const float score = 1.0f / (1.0f + expf(-logit));
			const struct stp_box box = stp_box_clip(
				stp_box_decode(&anchor, o.data + pix * o.c_stride + a + 4 * an,
					       c->rpn_box_weights, c->bbox_xform_clip),
				(float)g->rh, (float)g->rw);

			if (!(box.x2 - box.x1 >= c->rpn_min_size && box.y2 - box.y1 >= c->rpn_min_size) ||
			    !(score >= c->rpn_score_thresh))
				continue;
			st->cand[ncand] = box;
			st->cand_score[ncand] = score;
			st->cand_cat[ncand] = i;
			ncand++;
		}
	}
	nkeep = stp_batched_nms(st->cand, st->cand_score, st->cand_cat, ncand, c->rpn_nlevels,
				c->rpn_nms_thresh, st->keep, st->scratch, st->flags);
	if (nkeep > (size_t)c->post_nms_top_n)
		nkeep = (size_t)c->post_nms_top_n;
	if (nkeep > max_proposals)
		nkeep = max_proposals;
	for (size_t i = 0; i < nkeep; i++)
		st->proposals[i] = st->cand[st->keep[i]];
	return (long)nkeep;
}

struct roi_job {
	const struct stp_detect_head *h;
	const struct stp_run_values *run;
	struct stp_detect_state *st;
};

static void roi_task(void *ctx, size_t task, int thread)
{
	const struct roi_job *job = ctx;
	const struct stp_detect_head *h = job->h;
	const struct stp_arch_faster_rcnn *c = &h->cfg;
	const struct stp_box *box = &job->st->proposals[task];
	const int kmin = c->roi_levels[0], kmax = c->roi_levels[c->roi_nlevels - 1];
	const int level = stp_roi_level(box, c->canonical_scale, c->canonical_level, c->level_eps,
					kmin, kmax);
	const struct stp_tensor f = stp_run_value(job->run, h->roi_feature[level - kmin]);
	const size_t in = (size_t)h->channels * c->output_size * c->output_size;

	stp_roi_align(&f, box, ldexpf(1.0f, -level), c->output_size, c->sampling_ratio, c->aligned,
		      job->st->roi + task * in, job->st->acc + (size_t)thread * h->channels);
}

/* Steps 2 and 3: the predictor's outputs of n proposals into st->pred. */
static int box_branch(const struct stp_detect_head *h, const struct stp_run_values *run,
		      struct stp_detect_state *st, size_t n)
{
	struct stp_threadpool *pool = run->pool;
	const int c = h->channels, p = h->cfg.output_size, r = h->cfg.representation_size;
	const int in = c * p * p, k5 = 5 * h->classes;
	struct roi_job job = {h, run, st};
	const size_t table_bytes = (size_t)stp_threadpool_threads(pool) * h->table_bytes + 64;
	struct stp_conv_scratch scratch;
	struct stp_tensor tin, t6, t7, tp;

	if (table_bytes > st->caps[16])
		return -1;   /* reserved for fewer threads */
	memset(st->zero, 0, (h->zero_floats + 64) * sizeof(float));
	stp_threadpool_parallel_for(pool, n, roi_task, &job);
	tin = (struct stp_tensor){st->roi, 1, (int)n, in, in};
	t6 = (struct stp_tensor){st->fc6, 1, (int)n, r, r};
	t7 = (struct stp_tensor){st->fc7, 1, (int)n, r, r};
	tp = (struct stp_tensor){st->pred, 1, (int)n, k5, k5};
	scratch = (struct stp_conv_scratch){st->zero, st->tables, table_bytes};
	stp_conv_run(h->fc6, &tin, &t6, NULL, NULL, 0, &scratch, pool);
	stp_conv_run(h->fc7, &t6, &t7, NULL, NULL, 0, &scratch, pool);
	stp_conv_run(h->predictor, &t7, &tp, NULL, NULL, 0, &scratch, pool);
	return 0;
}

/* Softmax over k logits (max-shifted; the sum's reciprocal times each). */
static void softmax(const float *x, int k, float *out)
{
	float m = x[0], sum = 0.0f, inv;

	for (int i = 1; i < k; i++)
		m = x[i] > m ? x[i] : m;
	for (int i = 0; i < k; i++) {
		out[i] = expf(x[i] - m);
		sum += out[i];
	}
	inv = 1.0f / sum;
	for (int i = 0; i < k; i++)
		out[i] *= inv;
}

/* Step 4: detections of n proposals into st->dets. */
static void postprocess(const struct stp_detect_head *h, const struct stp_image_geometry *g,
		       struct stp_detect_state *st, size_t n)
{
	const struct stp_arch_faster_rcnn *c = &h->cfg;
	const int k = h->classes;
	const float ratio_h = (float)g->h / (float)g->rh, ratio_w = (float)g->w / (float)g->rw;
	size_t ncand = 0, nkeep;

	for (size_t r = 0; r < n; r++) {
		const float *logits = st->pred + r * 5 * k, *deltas = logits + k;

		softmax(logits, k, st->probs);
		for (int cls = 1; cls < k; cls++) {
			const struct stp_box box = stp_box_clip(
				stp_box_decode(&st->proposals[r], deltas + 4 * cls, c->box_weights,
					       c->bbox_xform_clip),
				(float)g->rh, (float)g->rw);

			if (!(st->probs[cls] > c->box_score_thresh) ||
			    !(box.x2 - box.x1 >= c->box_min_size && box.y2 - box.y1 >= c->box_min_size))
				continue;
			st->cand[ncand] = box;
			st->cand_score[ncand] = st->probs[cls];
			st->cand_cat[ncand] = cls;
			ncand++;
		}
	}
	nkeep = stp_batched_nms(st->cand, st->cand_score, st->cand_cat, ncand, k,
				c->box_nms_thresh, st->keep, st->scratch, st->flags);
	if (nkeep > (size_t)c->detections_per_img)
		nkeep = (size_t)c->detections_per_img;
	for (size_t i = 0; i < nkeep; i++) {
		const struct stp_box *b = &st->cand[st->keep[i]];

		st->dets[i] = (struct stp_detection){b->x1 * ratio_w, b->y1 * ratio_h, b->x2 * ratio_w,
						     b->y2 * ratio_h, st->cand_score[st->keep[i]],
						     st->cand_cat[st->keep[i]]};
	}
	st->ndets = (int)nkeep;
}

enum stp_status stp_detect_head_run(const struct stp_detect_head *head,
				    const struct stp_run_values *run,
				    const struct stp_image_geometry *g, int max_proposals,
				    struct stp_detect_state *st)
{
	long n;

	if (!st || max_proposals < 1)
		return STP_ERR_INTERNAL;
	st->ndets = 0;
	st->nproposals = 0;
	n = proposals(head, run, g, (size_t)max_proposals, st);
	if (n < 0)
		return STP_ERR_INTERNAL;
	st->nproposals = (int)n;
	if (n == 0)
		return STP_OK;
	if (box_branch(head, run, st, (size_t)n))
		return STP_ERR_INTERNAL;
	postprocess(head, g, st, (size_t)n);
	return STP_OK;
}

int stp_detect_state_proposals(const struct stp_detect_state *state)
{
	return state ? state->nproposals : 0;
}

double stp_detect_head_macs(const struct stp_detect_head *h, int n)
{
	const double in = (double)h->channels * h->cfg.output_size * h->cfg.output_size;
	const double r = h->cfg.representation_size;

	return (double)n * (in * r + r * r + r * 5.0 * h->classes);
}

int stp_detect_state_results(const struct stp_detect_state *state,
			     const struct stp_detection **out)
{
	*out = state && state->ndets > 0 ? state->dets : NULL;
	return state ? state->ndets : 0;
}

void stp_detect_state_destroy(struct stp_detect_state *state)
{
	if (!state)
		return;
	free(state->objectness);
	free(state->work_v);
	free(state->top);
	free(state->scratch);
	free(state->cand);
	free(state->cand_score);
	free(state->cand_cat);
	free(state->keep);
	free(state->flags);
	free(state->proposals);
	free(state->roi);
	free(state->fc6);
	free(state->fc7);
	free(state->pred);
	free(state->acc);
	free(state->zero);
	free(state->tables);
	free(state->probs);
	free(state->dets);
	free(state);
}

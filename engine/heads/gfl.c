/*
 * gfl.c - the one-stage GFL detection head of NanoDet
 * (proto/model-format.md, "One-stage detectors"; the reference is
 * train/stipple_train/nanodet.py, gfl_decode):
 *   build: per level, the stacked 3x3 convs (with the backbone's LeakyReLU)
 *          and the 1x1 output conv, appended to the plan as ordinary ops;
 *   run:   per level, scores = sigmoid(class logits); when the level has
 *          more than nms_pre locations, the nms_pre with the highest class
 *          score (descending, ties by location); at each, the expected
 *          distance of each side's softmax over reg_max + 1 bins, times the
 *          stride, from the cell centre (x + center_offset) * stride, gives a
 *          box clipped to the network input; every (location, class) pair
 *          scoring above score_thresh is a candidate, in (location, class)
 *          order (with multi_label off, only each location's best class,
 *          ties to the lower class); NMS per class; the best detections_per_img, scaled back
 *          to the original image and clipped to it.
 * A sparse level (a mask on its convs) decodes only its sampled cells: the
 * others were not computed.
 * Buffers live in the state, sized by stp_gfl_state_reserve for the most
 * a run at that size can use, so a run allocates nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "detect-ops.h"
#include "heads.h"

struct stp_gfl_head {
	struct stp_arch_gfl cfg;
	int out[STP_ARCH_MAX_LEVELS];   /* plan values: the levels' raw outputs */
	int mask[STP_ARCH_MAX_LEVELS];  /* the level's mask, -1: dense (every cell) */
};

struct stp_gfl_state {
	float *max_score, *work_v;
	uint32_t *order, *scratch, *keep;
	struct stp_box *cand;
	float *cand_score;
	int *cand_cat;
	uint8_t *flags;
	struct stp_detection *dets;
	int ndets;
	size_t caps[10];   /* element capacity of each buffer above, in order */
};

enum stp_status stp_gfl_head_build(struct stp_net_builder *b, const struct stp_arch_gfl *cfg,
				   const struct stp_fpn_values *neck, struct stp_gfl_head **out)
{
	const int k = cfg->num_classes + 4 * (cfg->reg_max + 1);
	struct stp_gfl_head *h = stp_zalloc(1, sizeof(*h));
	enum stp_status st = STP_OK;
	char name[64];

	*out = NULL;
	if (!h)
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	h->cfg = *cfg;
	for (int l = 0; l < cfg->nlevels; l++) {
		int v = neck->p[cfg->levels[l] - 2], c = b->arch->fpn_out_channels, logits = -1;
		h->mask[l] = -1;
		if (b->arch->sparse.enabled && b->arch->csp.sparse_head[l]) {
			snprintf(name, sizeof(name), "head.masks.%d", l);
			logits = stp_net_mask(b, name, v, c, 1, &h->mask[l], &st);
			v = logits < 0 ? -1 : v;
		}
		for (int j = 0; j < cfg->stacked_convs && v >= 0; j++) {
			struct stp_conv_desc d = stp_net_conv_desc(c, cfg->feat_channels, 3, 1, 1);
			d.slope = b->arch->csp.slope;
			snprintf(name, sizeof(name), "head.convs.%d.%d", l, j);
			v = stp_net_conv(b, name, NULL, 1, v, -1, &d, 0, 0, &st);
			if (v >= 0 && logits >= 0 &&
			    (st = stp_net_gate(b, v, h->mask[l], logits, NULL, 0)) != STP_OK)
				v = -1;
			c = cfg->feat_channels;
		}
		if (v >= 0) {
			struct stp_conv_desc d = stp_net_conv_desc(c, k, 1, 1, 0);
			snprintf(name, sizeof(name), "head.out.%d", l);
			v = stp_net_conv(b, name, NULL, 1, v, -1, &d, 0, 0, &st);
			if (v >= 0 && logits >= 0 &&
			    (st = stp_net_gate(b, v, h->mask[l], logits, NULL, 0)) != STP_OK)
				v = -1;
		}
		if (v < 0 || (st = stp_plan_keep(b->plan, v, STP_TASK_DETECT)) != STP_OK) {
			free(h);
			return st == STP_ERR_NOMEM ? stp_set_error(b->err, b->errlen, st, "out of memory")
						   : st;
		}
		h->out[l] = v;
	}
	*out = h;
	return STP_OK;
}

void stp_gfl_head_destroy(struct stp_gfl_head *head)
{
	free(head);
}

/* The cells of the largest level and the most candidates over all levels
 * (each level's top nms_pre cells; every class of each with multi_label). */
static void most_cells(const struct stp_gfl_head *h, const struct stp_run_values *run,
		       size_t *cells, size_t *candidates)
{
	const struct stp_arch_gfl *c = &h->cfg;

	*cells = *candidates = 0;
	for (int l = 0; l < c->nlevels; l++) {
		const struct stp_tensor t = stp_run_value(run, h->out[l]);
		const size_t n = (size_t)t.h * t.w;

		*cells = n > *cells ? n : *cells;
		*candidates += (n > (size_t)c->nms_pre ? (size_t)c->nms_pre : n) *
			       (c->multi_label ? (size_t)c->num_classes : 1);
	}
}

enum stp_status stp_gfl_state_reserve(const struct stp_gfl_head *head,
				      const struct stp_run_values *run,
				      struct stp_gfl_state **state, size_t *bytes)
{
	struct stp_gfl_state *st = *state;
	size_t cells, most;

	if (!st) {
		st = stp_zalloc(1, sizeof(*st));
		if (!st)
			return STP_ERR_NOMEM;
		*state = st;
	}
	most_cells(head, run, &cells, &most);
	{
		const size_t words = 9 * most > 2 * cells ? 9 * most : 2 * cells;
		const struct stp_buffer_need need[] = {
			STP_NEED(st, 0, max_score, cells), STP_NEED(st, 1, work_v, cells),
			STP_NEED(st, 2, order, cells), STP_NEED(st, 3, scratch, words),
			STP_NEED(st, 4, keep, most), STP_NEED(st, 5, cand, most),
			STP_NEED(st, 6, cand_score, most), STP_NEED(st, 7, cand_cat, most),
			STP_NEED(st, 8, flags, most),
			STP_NEED(st, 9, dets, (size_t)head->cfg.detections_per_img),
		};
		if (stp_grow_all(need, (int)(sizeof(need) / sizeof(need[0])), bytes))
			return STP_ERR_NOMEM;
		*bytes += sizeof(*st);
	}
	return STP_OK;
}

static float sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* The expected value of a softmax over bins 0..n-1 of x. */
static float expected_bin(const float *x, int n)
{
	float m = x[0], sum = 0.0f, e[65], acc = 0.0f;

	for (int i = 1; i < n; i++)
		m = x[i] > m ? x[i] : m;
	for (int i = 0; i < n; i++) {
		e[i] = expf(x[i] - m);
		sum += e[i];
	}
	for (int i = 0; i < n; i++)
		acc += e[i] / sum * (float)i;
	return acc;
}

/* Candidates of one level, appended at st->cand[*ncand]. A sparse level
 * computed only the cells of its mask: only those are candidates (cells is
 * their row-major list, ncells their count; NULL: every cell). The top-k
 * rule applies when the level has more than nms_pre cells in all, as in
 * the reference, whose other cells score 0. */
static void level_candidates(const struct stp_gfl_head *h, const struct stp_tensor *t, int l,
			    const int32_t *cells, size_t ncells,
			    const struct stp_image_geometry *g, struct stp_gfl_state *st,
			    size_t *ncand)
{
	const struct stp_arch_gfl *c = &h->cfg;
	const size_t n = (size_t)t->h * t->w;
	const size_t kept = n > (size_t)c->nms_pre && ncells > (size_t)c->nms_pre
				    ? (size_t)c->nms_pre : ncells;
	const int nbins = c->reg_max + 1;
	const float stride = (float)c->strides[l];

	for (size_t j = 0; j < ncells; j++) {
		const float *logit = t->data + (cells ? (size_t)cells[j] : j) * t->c_stride;
		float m = logit[0];
		for (int k = 1; k < c->num_classes; k++)
			m = logit[k] > m ? logit[k] : m;
		st->max_score[j] = sigmoid(m);
		st->order[j] = (uint32_t)j;
	}
	if (n > (size_t)c->nms_pre)
		stp_topk_desc(st->max_score, ncells, kept, st->order, st->scratch, st->work_v);
	for (size_t r = 0; r < kept; r++) {
		const size_t i = cells ? (size_t)cells[st->order[r]] : st->order[r];
		const float *logit = t->data + i * t->c_stride, *bins = logit + c->num_classes;
		const float cx = ((float)(i % (size_t)t->w) + c->center_offset) * stride;
		const float cy = ((float)(i / (size_t)t->w) + c->center_offset) * stride;
		struct stp_box box = {cx - expected_bin(bins, nbins) * stride,
				      cy - expected_bin(bins + nbins, nbins) * stride,
				      cx + expected_bin(bins + 2 * nbins, nbins) * stride,
				      cy + expected_bin(bins + 3 * nbins, nbins) * stride};
		int boxed = 0, best = 0;

		for (int k = 1; !c->multi_label && k < c->num_classes; k++)
			best = logit[k] > logit[best] ? k : best;
		for (int k = c->multi_label ? 0 : best; k < (c->multi_label ? c->num_classes : best + 1);
		     k++) {
			const float score = sigmoid(logit[k]);
			if (!(score > c->score_thresh))
				continue;
			if (!boxed) {
				box = stp_box_clip(box, (float)g->ph, (float)g->pw);
				boxed = 1;
			}
			st->cand[*ncand] = box;
			st->cand_score[*ncand] = score;
			st->cand_cat[*ncand] = k + 1;
			(*ncand)++;
		}
	}
}

enum stp_status stp_gfl_head_run(const struct stp_gfl_head *head, const struct stp_run_values *run,
				 const struct stp_image_geometry *g, struct stp_gfl_state *st)
{
	const struct stp_arch_gfl *c = &head->cfg;
	const float ratio_h = (float)g->h / (float)g->rh, ratio_w = (float)g->w / (float)g->rw;
	size_t cells, most, ncand = 0, nkeep;

	if (!st)
		return STP_ERR_INTERNAL;
	most_cells(head, run, &cells, &most);
	if (cells > st->caps[0] || most > st->caps[5])
		return STP_ERR_INTERNAL;   /* not reserved for this size */
	st->ndets = 0;
	for (int l = 0; l < c->nlevels; l++) {
		const struct stp_tensor t = stp_run_value(run, head->out[l]);
		const int32_t *level_cells = NULL;
		size_t ncells = (size_t)t.h * t.w;
		if (head->mask[l] >= 0 &&
		    stp_run_mask_cells(run, head->mask[l], &level_cells, &ncells) != STP_OK)
			return STP_ERR_INTERNAL;
		level_candidates(head, &t, l, level_cells, ncells, g, st, &ncand);
	}
	nkeep = stp_batched_nms(st->cand, st->cand_score, st->cand_cat, ncand,
				c->num_classes + 1, c->nms_thresh, st->keep, st->scratch, st->flags);
	if (nkeep > (size_t)c->detections_per_img)
		nkeep = (size_t)c->detections_per_img;
	for (size_t i = 0; i < nkeep; i++) {
		const struct stp_box *b = &st->cand[st->keep[i]];
		const struct stp_box scaled = {b->x1 * ratio_w, b->y1 * ratio_h, b->x2 * ratio_w,
					       b->y2 * ratio_h};
		const struct stp_box clipped = stp_box_clip(scaled, (float)g->h, (float)g->w);

		st->dets[i] = (struct stp_detection){clipped.x1, clipped.y1, clipped.x2, clipped.y2,
						     st->cand_score[st->keep[i]],
						     st->cand_cat[st->keep[i]]};
	}
	st->ndets = (int)nkeep;
	return STP_OK;
}

int stp_gfl_state_results(const struct stp_gfl_state *state, const struct stp_detection **out)
{
	*out = state && state->ndets > 0 ? state->dets : NULL;
	return state ? state->ndets : 0;
}

void stp_gfl_state_destroy(struct stp_gfl_state *state)
{
	if (!state)
		return;
	free(state->max_score);
	free(state->work_v);
	free(state->order);
	free(state->scratch);
	free(state->keep);
	free(state->cand);
	free(state->cand_score);
	free(state->cand_cat);
	free(state->flags);
	free(state->dets);
	free(state);
}

/*
 * detect-build.c - building the Faster R-CNN head from a model file's
 * "rpn.*" and "roi_heads.*" tensors (proto/model-format.md, "Head tensor
 * names").
 *
 * The RPN head is shared by every level: its 3x3 conv and its two 1x1 convs
 * (objectness and deltas, packed as one conv of A + 4A outputs) are packed
 * once and appended to the plan per level as borrowed convs, so they run
 * inside the plan on the pool. The box branch's fully connected layers are
 * packed as 1x1 convs: fc6's columns are permuted from PyTorch's
 * channel-major flatten (c * P * P + y * P + x) to the HWC order RoIAlign
 * writes ((y * P + x) * C + c); cls_score and bbox_pred become one conv of
 * K + 4K outputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect-impl.h"

/* Takes name.weight [rows, cols] and name.bias [rows] (row-major floats). */
static enum stp_status take_linear(struct stp_net_builder *b, const char *name, int rows,
				   int cols, const float **w, const float **bias)
{
	const int64_t wshape[2] = {rows, cols}, bshape[1] = {rows};
	enum stp_status st = STP_OK;

	*w = stp_net_take(b, name, "weight", wshape, 2, &st);
	*bias = *w ? stp_net_take(b, name, "bias", bshape, 1, &st) : NULL;
	if (*bias)
		b->parameters += (uint64_t)rows * cols + rows;
	return *bias ? STP_OK : st;
}

static enum stp_status make_conv(struct stp_net_builder *b, const char *name, int cin, int cout,
				 int k, int relu, const float *w, const float *bias,
				 struct stp_conv **out)
{
	const struct stp_conv_desc d = stp_net_conv_desc(cin, cout, k, 1, relu);
	enum stp_status st = stp_conv_create(&d, w, bias, b->kernels, out);

	if (st != STP_OK)
		return stp_set_error(b->err, b->errlen, st, "cannot build '%s': %s", name,
				     stp_status_str(st));
	return STP_OK;
}

/* The RPN's convs, and its ops on every level. */
static enum stp_status build_rpn(struct stp_net_builder *b, struct stp_detect_head *h,
				 const struct stp_fpn_values *fpn)
{
	const int c = h->channels, a = h->anchors;
	const struct stp_conv_desc conv = stp_net_conv_desc(c, c, 3, 1, 1);
	const struct stp_conv_desc cls = stp_net_conv_desc(c, a, 1, 1, 0);
	const struct stp_conv_desc reg = stp_net_conv_desc(c, 4 * a, 1, 1, 0);
	float *w = NULL, *bias = NULL, *cw = NULL, *cb = NULL, *rw = NULL, *rb = NULL, *pw, *pb;
	enum stp_status st;

	st = stp_net_load_conv(b, "rpn.head.conv.0.0", NULL, 1, &conv, &w, &bias);
	if (st == STP_OK)
		st = make_conv(b, "rpn.head.conv.0.0", c, c, 3, 1, w, bias, &h->rpn_conv);
	if (st == STP_OK)
		st = stp_net_load_conv(b, "rpn.head.cls_logits", NULL, 1, &cls, &cw, &cb);
	if (st == STP_OK)
		st = stp_net_load_conv(b, "rpn.head.bbox_pred", NULL, 1, &reg, &rw, &rb);
	pw = st == STP_OK ? stp_malloc((size_t)5 * a * c * sizeof(float)) : NULL;
	pb = st == STP_OK ? stp_malloc((size_t)5 * a * sizeof(float)) : NULL;
	if (st == STP_OK && (!pw || !pb))
		st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	if (st == STP_OK) {
		memcpy(pw, cw, (size_t)a * c * sizeof(float));
		memcpy(pw + (size_t)a * c, rw, (size_t)4 * a * c * sizeof(float));
		memcpy(pb, cb, (size_t)a * sizeof(float));
		memcpy(pb + a, rb, (size_t)4 * a * sizeof(float));
		st = make_conv(b, "rpn.head.cls_logits+bbox_pred", c, 5 * a, 1, 0, pw, pb,
			       &h->rpn_pred);
	}
	free(w);
	free(bias);
	free(cw);
	free(cb);
	free(rw);
	free(rb);
	free(pw);
	free(pb);
	for (int i = 0; st == STP_OK && i < h->cfg.rpn_nlevels; i++) {
		struct stp_op t = {.kind = STP_OP_CONV, .in = fpn->p[h->cfg.rpn_levels[i] - 2],
				   .in2 = -1, .conv = h->rpn_conv, .conv_borrowed = 1};
		struct stp_op o = {.kind = STP_OP_CONV, .in2 = -1, .conv = h->rpn_pred,
				   .conv_borrowed = 1};

		o.in = stp_plan_add(b->plan, &t, c);
		h->rpn_out[i] = o.in < 0 ? -1 : stp_plan_add(b->plan, &o, 5 * a);
		if (h->rpn_out[i] < 0 ||
		    stp_plan_keep(b->plan, h->rpn_out[i], STP_TASK_DETECT) != STP_OK)
			st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	}
	return st;
}

/* fc6, fc7 and the predictor. */
static enum stp_status build_box_branch(struct stp_net_builder *b, struct stp_detect_head *h)
{
	const int c = h->channels, p = h->cfg.output_size, r = h->cfg.representation_size;
	const int k = h->classes, in = c * p * p;
	const float *w6, *b6, *w7, *b7, *wc, *bc, *wr, *br;
	float *perm = NULL, *pw = NULL, *pb = NULL;
	enum stp_status st;

	if ((st = take_linear(b, "roi_heads.box_head.fc6", r, in, &w6, &b6)) ||
	    (st = take_linear(b, "roi_heads.box_head.fc7", r, r, &w7, &b7)) ||
	    (st = take_linear(b, "roi_heads.box_predictor.cls_score", k, r, &wc, &bc)) ||
	    (st = take_linear(b, "roi_heads.box_predictor.bbox_pred", 4 * k, r, &wr, &br)))
		return st;
	perm = stp_malloc((size_t)r * in * sizeof(float));
	pw = stp_malloc((size_t)5 * k * r * sizeof(float));
	pb = stp_malloc((size_t)5 * k * sizeof(float));
	if (!perm || !pw || !pb) {
		st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int o = 0; o < r; o++)
		for (int ch = 0; ch < c; ch++)
			for (int yx = 0; yx < p * p; yx++)
				perm[(size_t)o * in + (size_t)yx * c + ch] =
					w6[(size_t)o * in + (size_t)ch * p * p + yx];
	memcpy(pw, wc, (size_t)k * r * sizeof(float));
	memcpy(pw + (size_t)k * r, wr, (size_t)4 * k * r * sizeof(float));
	memcpy(pb, bc, (size_t)k * sizeof(float));
	memcpy(pb + k, br, (size_t)4 * k * sizeof(float));
	if ((st = make_conv(b, "roi_heads.box_head.fc6", in, r, 1, 1, perm, b6, &h->fc6)) ||
	    (st = make_conv(b, "roi_heads.box_head.fc7", r, r, 1, 1, w7, b7, &h->fc7)) ||
	    (st = make_conv(b, "roi_heads.box_predictor", r, 5 * k, 1, 0, pw, pb, &h->predictor)))
		goto out;
	h->zero_floats = stp_conv_zero_floats(h->fc6);
	if (stp_conv_zero_floats(h->fc7) > h->zero_floats)
		h->zero_floats = stp_conv_zero_floats(h->fc7);
	if (stp_conv_zero_floats(h->predictor) > h->zero_floats)
		h->zero_floats = stp_conv_zero_floats(h->predictor);
	h->table_bytes = stp_conv_table_bytes(h->fc6);
	if (stp_conv_table_bytes(h->fc7) > h->table_bytes)
		h->table_bytes = stp_conv_table_bytes(h->fc7);
	if (stp_conv_table_bytes(h->predictor) > h->table_bytes)
		h->table_bytes = stp_conv_table_bytes(h->predictor);
out:
	free(perm);
	free(pw);
	free(pb);
	return st;
}

enum stp_status stp_detect_head_build(struct stp_net_builder *b,
				      const struct stp_arch_faster_rcnn *cfg,
				      const struct stp_fpn_values *fpn,
				      struct stp_detect_head **out)
{
	struct stp_detect_head *h = stp_zalloc(1, sizeof(*h));
	enum stp_status st;

	*out = NULL;
	if (!h)
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	h->cfg = *cfg;
	h->channels = b->arch->fpn_out_channels;
	h->anchors = cfg->nsizes * cfg->nratios;
	h->classes = cfg->num_classes + 1;
	for (int i = 0; i < cfg->rpn_nlevels; i++)
		stp_cell_anchors(cfg->anchor_sizes[i], cfg->nsizes, cfg->aspect_ratios, cfg->nratios,
				 h->cell[i]);
	for (int i = 0; i < cfg->roi_nlevels; i++)
		h->roi_feature[i] = fpn->p[cfg->roi_levels[i] - 2];
	st = build_rpn(b, h, fpn);
	if (st == STP_OK)
		st = build_box_branch(b, h);
	for (int i = 0; st == STP_OK && i < cfg->roi_nlevels; i++)
		if (stp_plan_keep(b->plan, h->roi_feature[i], STP_TASK_DETECT) != STP_OK)
			st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	if (st != STP_OK) {
		stp_detect_head_destroy(h);
		return st;
	}
	*out = h;
	return STP_OK;
}

void stp_detect_head_destroy(struct stp_detect_head *head)
{
	if (!head)
		return;
	stp_conv_destroy(head->rpn_conv);
	stp_conv_destroy(head->rpn_pred);
	stp_conv_destroy(head->fc6);
	stp_conv_destroy(head->fc7);
	stp_conv_destroy(head->predictor);
	free(head);
}

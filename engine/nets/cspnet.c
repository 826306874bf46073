/*
 * cspnet.c - NanoDet's CSP backbone and PAN neck (proto/model-format.md,
 * "One-stage detectors"; the reference is train/stipple_train/nanodet.py).
 *
 * Backbone: a 3x3 stride-2 stem conv and a 3x3/2 max-pool, then CSP stages.
 * A stage of C channels runs in_conv (C -> C, the stage's stride), tiny
 * blocks (in_conv C -> C/2, mid_conv C/2 -> C/2, output cat(mid, in)) and
 * out_conv (C -> C), and outputs cat(out_conv, in_conv): 2C channels. Every
 * conv has a bias (BatchNorm folded by the exporter) and LeakyReLU fused.
 * Concatenations cost nothing: both halves are convs that store straight
 * into their channel range of the result (stp_plan_concat). In a sparse
 * stage, a mask op on the stage input (its stride) gates every conv of the
 * stage, each interpolated where it did not compute (gate.c): the tiny
 * blocks' convs, read only by the stage's 3x3 convs at the mask's cells,
 * only on the ring around the sampled cells; in_conv and out_conv, whose
 * outputs leave the stage, everywhere. The stem stays dense.
 *
 * PAN: 1x1 laterals with bias; top-down, each finer lateral adds the
 * bilinear resize (align_corners=False, to its size) of the coarser merged
 * map, fused into the lateral conv as its residual; bottom-up, each coarser
 * map adds the bilinear resize of the finer output. No output convs.
 */
#include <stdio.h>

#include "nets.h"

/* The stage's mask, when it has one: mask number and logits value. */
struct stage_mask {
	int mask, logits;   /* logits -1: a dense stage */
};

/* A k x k conv of the backbone with bias and LeakyReLU; in a sparse stage,
 * run at the mask's cells and interpolated elsewhere ("NAME.interp"): on
 * the ring around them only (near) when only the stage's own 3x3 convs
 * read it. */
static int csp_conv(struct stp_net_builder *b, const char *name, int in, int cin, int cout,
		    int k, int stride, int out_stride, const struct stage_mask *sm, int near,
		    enum stp_status *st)
{
	struct stp_conv_desc d = stp_net_conv_desc(cin, cout, k, stride, 1);
	char interp[112];
	int v;

	d.slope = b->arch->csp.slope;
	v = stp_net_conv(b, name, NULL, 1, in, -1, &d, 1, out_stride, st);
	if (v < 0 || sm->logits < 0)
		return v;
	snprintf(interp, sizeof(interp), "%s.interp", name);
	*st = stp_net_gate(b, v, sm->mask, sm->logits, interp, near && k == 3);
	return *st == STP_OK ? v : -1;
}

static int concat(struct stp_net_builder *b, int first, int second, enum stp_status *st)
{
	const int v = stp_plan_concat(b->plan, first, second);

	if (v < 0)
		*st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	return v;
}

/* Stage i (0-based) reading `in` at output stride *out_stride. */
static int csp_stage(struct stp_net_builder *b, int i, int in, int *out_stride,
		     enum stp_status *st)
{
	const struct stp_arch_cspnet *csp = &b->arch->csp;
	const int c = csp->channels[i], k = csp->kernel_size;
	struct stage_mask sm = {0, -1};
	char name[96];
	int x, y;

	*out_stride *= csp->strides[i];
	if (b->arch->sparse.enabled && csp->sparse_stages[i]) {
		snprintf(name, sizeof(name), "backbone.stages.%d.mask", i);
		sm.logits = stp_net_mask(b, name, in, c, csp->strides[i], &sm.mask, st);
		if (sm.logits < 0)
			return -1;
	}
	snprintf(name, sizeof(name), "backbone.stages.%d.in_conv", i);
	x = csp_conv(b, name, in, c, c, k, csp->strides[i], *out_stride, &sm, 0, st);
	y = x;
	for (int j = 0; j < csp->blocks[i] && y >= 0; j++) {
		int t, m;
		snprintf(name, sizeof(name), "backbone.stages.%d.blocks.%d.in_conv", i, j);
		t = csp_conv(b, name, y, c, c / 2, k, 1, *out_stride, &sm, 1, st);
		if (t < 0)
			return -1;
		snprintf(name, sizeof(name), "backbone.stages.%d.blocks.%d.mid_conv", i, j);
		m = csp_conv(b, name, t, c / 2, c / 2, k, 1, *out_stride, &sm, 1, st);
		y = m < 0 ? -1 : concat(b, m, t, st);
	}
	if (y < 0)
		return -1;
	snprintf(name, sizeof(name), "backbone.stages.%d.out_conv", i);
	y = csp_conv(b, name, y, c, c, k, 1, *out_stride, &sm, 0, st);
	return y < 0 ? -1 : concat(b, y, x, st);
}

enum stp_status stp_net_build_cspnet(struct stp_net_builder *b, int levels[4])
{
	const struct stp_arch_cspnet *csp = &b->arch->csp;
	struct stp_op pool = {.kind = STP_OP_MAXPOOL, .in2 = -1, .k = 3, .s = 2, .p = 1,
			      .backbone = 1, .out_stride = 4};
	const struct stage_mask dense = {0, -1};
	enum stp_status st = STP_OK;
	int x, out_stride = 4;

	x = csp_conv(b, "backbone.stem", 0, b->arch->in_channels, csp->stem_width, 3, 2, 2, &dense,
		     0, &st);
	if (x < 0)
		return st;
	pool.in = x;
	x = stp_plan_add(b->plan, &pool, csp->stem_width);
	if (x < 0)
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	for (int i = 0; i < csp->nstages; i++) {
		x = csp_stage(b, i, x, &out_stride, &st);
		if (x < 0)
			return st;
		levels[i] = x;
	}
	return STP_OK;
}

static int add_op(struct stp_net_builder *b, enum stp_op_kind kind, int in, int in2,
		  int channels, enum stp_status *st)
{
	struct stp_op op = {.kind = kind, .in = in, .in2 = in2};
	const int v = stp_plan_add(b->plan, &op, channels);

	if (v < 0)
		*st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	return v;
}

enum stp_status stp_net_build_pan(struct stp_net_builder *b, const int levels[4], int p[5])
{
	const struct stp_arch *a = b->arch;
	const int oc = a->fpn_out_channels, n = a->pan_nlevels;
	enum stp_status st = STP_OK;
	int merged[STP_ARCH_MAX_STAGES], out[STP_ARCH_MAX_STAGES];
	char name[64];

	for (int i = 0; i < 5; i++)
		p[i] = -1;
	for (int i = n - 1; i >= 0; i--) {
		const int in = levels[a->pan_levels[i] - 2];
		const int cin = 2 * a->csp.channels[a->pan_levels[i] - 2];
		struct stp_conv_desc lat = stp_net_conv_desc(cin, oc, 1, 1, 0);
		int top_down = -1;

		if (i < n - 1 &&
		    (top_down = add_op(b, STP_OP_RESIZE_BILINEAR, merged[i + 1], in, oc, &st)) < 0)
			return st;
		snprintf(name, sizeof(name), "neck.lateral.%d", i);
		merged[i] = stp_net_conv(b, name, NULL, 1, in, top_down, &lat, 0, 0, &st);
		if (merged[i] < 0)
			return st;
	}
	out[0] = merged[0];
	for (int i = 1; i < n; i++) {
		const int down = add_op(b, STP_OP_RESIZE_BILINEAR, out[i - 1], merged[i], oc, &st);
		if (down < 0 || (out[i] = add_op(b, STP_OP_ADD, merged[i], down, oc, &st)) < 0)
			return st;
	}
	for (int i = 0; i < n; i++) {
		p[a->pan_levels[i] - 2] = out[i];
		snprintf(name, sizeof(name), "p%d", a->pan_levels[i]);
		st = stp_plan_add_output(b->plan, out[i], name);
		if (st != STP_OK)
			return stp_set_error(b->err, b->errlen, st, "out of memory");
	}
	return STP_OK;
}

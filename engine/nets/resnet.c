/*
 * resnet.c - ResNet backbones (BasicBlock and Bottleneck, torchvision layout:
 * stride on the 3x3 conv, downsample = 1x1 conv + BN on the first block of
 * a stage when the stride or width changes). Blocks the architecture marks
 * sparse are built by sparse-block.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nets.h"

#define NAME_MAX_LEN 160

/* One residual block; returns its output value or -1. */
static int build_block(struct stp_net_builder *b, int stage, int index, int in, int cin,
		       int planes, int stride, int out_stride, enum stp_status *st)
{
	const struct stp_arch *a = b->arch;
	const int cout = planes * a->expansion;
	char p[64], conv[NAME_MAX_LEN], bn[NAME_MAX_LEN];
	struct stp_conv_desc d;
	int shortcut = in, x;

	if (a->sparse.enabled && a->sparse.blocks[stage - 1][index] &&
	    !(a->sparse.variant == 'a' && a->block == STP_BLOCK_BOTTLENECK && stride != 1))
		return stp_net_sparse_block(b, stage, index, in, cin, planes, stride, out_stride, st);
	snprintf(p, sizeof(p), "backbone.layer%d.%d", stage, index);
	if (stride != 1 || cin != cout) {
		snprintf(conv, sizeof(conv), "%s.downsample.0", p);
		snprintf(bn, sizeof(bn), "%s.downsample.1", p);
		d = stp_net_conv_desc(cin, cout, 1, stride, 0);
		d.ph = d.pw = 0;
		shortcut = stp_net_conv(b, conv, bn, 0, in, -1, &d, 1, out_stride, st);
		if (shortcut < 0)
			return -1;
	}
	if (a->block == STP_BLOCK_BASIC) {
		snprintf(conv, sizeof(conv), "%s.conv1", p);
		snprintf(bn, sizeof(bn), "%s.bn1", p);
		d = stp_net_conv_desc(cin, planes, 3, stride, 1);
		x = stp_net_conv(b, conv, bn, 0, in, -1, &d, 1, out_stride, st);
		if (x < 0)
			return -1;
		snprintf(conv, sizeof(conv), "%s.conv2", p);
		snprintf(bn, sizeof(bn), "%s.bn2", p);
		d = stp_net_conv_desc(planes, planes, 3, 1, 1);
		return stp_net_conv(b, conv, bn, 0, x, shortcut, &d, 1, out_stride, st);
	}
	snprintf(conv, sizeof(conv), "%s.conv1", p);
	snprintf(bn, sizeof(bn), "%s.bn1", p);
	d = stp_net_conv_desc(cin, planes, 1, 1, 1);
	x = stp_net_conv(b, conv, bn, 0, in, -1, &d, 1, out_stride / stride, st);
	if (x < 0)
		return -1;
	snprintf(conv, sizeof(conv), "%s.conv2", p);
	snprintf(bn, sizeof(bn), "%s.bn2", p);
	d = stp_net_conv_desc(planes, planes, 3, stride, 1);
	x = stp_net_conv(b, conv, bn, 0, x, -1, &d, 1, out_stride, st);
	if (x < 0)
		return -1;
	snprintf(conv, sizeof(conv), "%s.conv3", p);
	snprintf(bn, sizeof(bn), "%s.bn3", p);
	d = stp_net_conv_desc(planes, cout, 1, 1, 1);
	return stp_net_conv(b, conv, bn, 0, x, shortcut, &d, 1, out_stride, st);
}

enum stp_status stp_net_build_resnet(struct stp_net_builder *b, int levels[4], int *logits)
{
	const struct stp_arch *a = b->arch;
	enum stp_status st = STP_OK;
	struct stp_conv_desc d = stp_net_conv_desc(a->in_channels, a->stem_width, 7, 2, 1);
	struct stp_op pool = {.kind = STP_OP_MAXPOOL, .in2 = -1, .k = 3, .s = 2, .p = 1,
			      .backbone = 1, .out_stride = 4};
	int x, cin = a->stem_width, out_stride = 4;

	x = stp_net_conv(b, "backbone.conv1", "backbone.bn1", 0, 0, -1, &d, 1, 2, &st);
	if (x < 0)
		return st;
	pool.in = x;
	x = stp_plan_add(b->plan, &pool, cin);
	if (x < 0)
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	for (int s = 0; s < 4; s++) {
		const int stride = s == 0 ? 1 : 2;
		out_stride *= stride;
		for (int i = 0; i < a->layers[s]; i++) {
			x = build_block(b, s + 1, i, x, cin, a->widths[s], i == 0 ? stride : 1,
					out_stride, &st);
			if (x < 0)
				return st;
			cin = a->widths[s] * a->expansion;
		}
		levels[s] = x;
	}
	*logits = -1;
	if (a->num_classes > 0) {
		struct stp_op gap = {.kind = STP_OP_GLOBAL_AVGPOOL, .in = x, .in2 = -1};
		struct stp_conv_desc fc = {cin, a->num_classes, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0.0f};
		const int64_t fc_shape[2] = {a->num_classes, cin}, bias_shape[1] = {a->num_classes};
		const float *fw = stp_st_take(b->file, "backbone.fc.weight", fc_shape, 2, b->err, b->errlen);
		const float *fb = fw ? stp_st_take(b->file, "backbone.fc.bias", bias_shape, 1,
						   b->err, b->errlen) : NULL;
		if (!fb)
			return STP_ERR_FORMAT;
		b->parameters += (uint64_t)a->num_classes * (cin + 1);
		x = stp_plan_add(b->plan, &gap, cin);
		if (x < 0)
			return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		/* The FC layer is a 1x1 conv on the pooled 1x1 map. */
		*logits = stp_net_conv_arrays(b, "backbone.fc", &fc, fw, fb, x, -1, 0, 0, &st);
		if (*logits < 0)
			return st;
	}
	return STP_OK;
}

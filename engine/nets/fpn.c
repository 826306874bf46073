/*
 * fpn.c - the Feature Pyramid Network neck, with torchvision's semantics:
 * laterals are 1x1 convs (with bias); from the coarsest level down, each
 * merged map is the lateral plus the nearest-neighbour upsampling of the
 * coarser merged map (the add is fused into the lateral conv as its
 * residual); outputs are 3x3 convs of the merged maps; P6 is a 1x1 stride-2
 * max-pool of P5.
 */
#include <stdio.h>

#include "nets.h"

enum stp_status stp_net_build_fpn(struct stp_net_builder *b, const int levels[4], int p[5])
{
	const struct stp_arch *a = b->arch;
	const int oc = a->fpn_out_channels;
	enum stp_status st = STP_OK;
	char name[64];
	int merged[4], out[5];

	for (int i = 3; i >= 0; i--) {
		struct stp_conv_desc lat = {a->fpn_in_channels[i], oc, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0.0f};
		int top_down = -1;
		if (i < 3) {
			struct stp_op up = {.kind = STP_OP_RESIZE_NEAREST, .in = merged[i + 1],
					    .in2 = levels[i]};
			top_down = stp_plan_add(b->plan, &up, oc);
			if (top_down < 0)
				return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		}
		snprintf(name, sizeof(name), "neck.inner_blocks.%d.0", i);
		merged[i] = stp_net_conv(b, name, NULL, 1, levels[i], top_down, &lat, 0, 0, &st);
		if (merged[i] < 0)
			return st;
	}
	for (int i = 0; i < 4; i++) {
		struct stp_conv_desc smooth = {oc, oc, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0.0f};
		snprintf(name, sizeof(name), "neck.layer_blocks.%d.0", i);
		out[i] = stp_net_conv(b, name, NULL, 1, merged[i], -1, &smooth, 0, 0, &st);
		if (out[i] < 0)
			return st;
	}
	if (a->fpn_extra_maxpool) {
		struct stp_op pool = {.kind = STP_OP_MAXPOOL, .in = out[3], .in2 = -1,
				      .k = 1, .s = 2, .p = 0};
		out[4] = stp_plan_add(b->plan, &pool, oc);
		if (out[4] < 0)
			return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	}
	p[4] = -1;
	for (int i = 0; i < (a->fpn_extra_maxpool ? 5 : 4); i++) {
		p[i] = out[i];
		snprintf(name, sizeof(name), "p%d", i + 2);
		st = stp_plan_add_output(b->plan, out[i], name);
		if (st != STP_OK)
			return stp_set_error(b->err, b->errlen, st, "out of memory");
	}
	return STP_OK;
}

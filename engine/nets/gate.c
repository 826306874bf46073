/*
 * gate.c - masks on any conv, as plan values (plan.h): the builders that
 * append a sampling module (an STP_OP_MASK op: a 3x3 conv with bias to one
 * logit channel, the gated conv's stride, on the gated conv's input) and
 * that gate a conv already appended by a mask, with or without the
 * interpolation of the cells it does not compute (the RBF module of
 * docs/method.md section 4, its scale `a` taken from the file), everywhere or
 * only on the ring around the sampled cells.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nets.h"

int stp_net_mask(struct stp_net_builder *b, const char *name, int in, int cin, int stride,
		 int *mask, enum stp_status *status)
{
	struct stp_op op = {.kind = STP_OP_MASK, .in = in, .in2 = -1,
			    .grid = b->arch->sparse.grid_stride};
	const struct stp_conv_desc d = stp_net_conv_desc(cin, 1, 3, stride, 0);
	float *w, *bias;
	int value;

	*status = stp_net_load_conv(b, name, NULL, 1, &d, &w, &bias);
	if (*status != STP_OK)
		return -1;
	*status = stp_conv_create(&d, w, bias, b->kernels, &op.conv);
	free(w);
	free(bias);
	if (*status != STP_OK) {
		stp_set_error(b->err, b->errlen, *status, "cannot build mask conv '%s'", name);
		return -1;
	}
	op.mask = b->plan->nmasks;
	value = stp_plan_add(b->plan, &op, 1);
	if (value < 0) {
		*status = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		return -1;
	}
	*mask = b->plan->nmasks++;
	return value;
}

enum stp_status stp_net_gate(struct stp_net_builder *b, int value, int mask, int logits,
			     const char *interp, int near)
{
	struct stp_op *op = NULL;
	enum stp_status st = STP_OK;

	for (int i = b->plan->nops - 1; i >= 0 && !op; i--)
		if (b->plan->ops[i].out == value && b->plan->ops[i].kind == STP_OP_CONV)
			op = &b->plan->ops[i];
	if (!op)
		return stp_set_error(b->err, b->errlen, STP_ERR_INTERNAL,
				     "value %d is not a conv's output", value);
	op->gated = 1;
	op->mask = mask;
	op->mask_logits = logits;
	op->fill_near = interp && near;
	for (int i = 0; op->fill_near && i < b->plan->nops; i++)
		if (b->plan->ops[i].kind == STP_OP_MASK && b->plan->ops[i].out == logits)
			b->plan->ops[i].ring = 1;
	if (interp) {
		const int64_t shape[1] = {1};
		const float *a = stp_net_take(b, interp, "a", shape, 1, &st);
		if (!a)
			return st;
		op->fill = stp_malloc(sizeof(*op->fill));
		if (!op->fill)
			return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		stp_interp_kernel_rbf(op->fill, b->arch->sparse.window, a[0]);
		b->parameters += 1;
	}
	return STP_OK;
}

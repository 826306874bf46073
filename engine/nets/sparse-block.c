/*
 * sparse-block.c - building a sparse residual block from a model file:
 * its convs (BN folded; the last one's BN shift kept apart, since it is
 * added after interpolation), its mask-logit convs (masks of equal stride
 * fused into one conv with a channel each), the weights that give its
 * logits from the block before it's partials, and its interpolation kernels.
 * See sparse/block.h for how the block runs and proto/model-format.md for
 * the tensor names.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets.h"

#define NAME_LEN 160

/* Conv with BN folded; with split_shift the BN shift goes to *shift (owned
 * by the caller) and the conv gets no bias. */
static enum stp_status make_conv(struct stp_net_builder *b, const char *name, const char *bn,
				 const struct stp_conv_desc *d, float **shift,
				 struct stp_conv **out)
{
	float *w, *bias;
	enum stp_status st = stp_net_load_conv(b, name, bn, 0, d, &w, &bias);
	if (st != STP_OK)
		return st;
	st = stp_conv_create(d, w, shift ? NULL : bias, b->kernels, out);
	free(w);
	if (shift && st == STP_OK)
		*shift = bias;
	else
		free(bias);
	if (st != STP_OK)
		stp_set_error(b->err, b->errlen, st, "cannot build conv '%s'", name);
	return st;
}

/* The sparse block whose output is value v, or NULL. */
static struct stp_sparse_block *sparse_producer(const struct stp_plan *plan, int v)
{
	for (int i = 0; i < plan->nops; i++)
		if (plan->ops[i].out == v)
			return plan->ops[i].kind == STP_OP_SPARSE_BLOCK ? plan->ops[i].sparse : NULL;
	return NULL;
}

/* Mask convs: mask j (0-based) has conv1's stride when j == 0, else the
 * block's; masks of equal stride share one conv. When the strides are 1 and
 * 2 (variant b), mask_fused computes both in one pass (block.h). */
static enum stp_status make_masks(struct stp_net_builder *b, struct stp_sparse_block *sb,
				  const char *prefix, int cin, int first_stride, int stride)
{
	const int64_t wshape[4] = {1, cin, 3, 3}, bshape[1] = {1};
	const size_t wn = (size_t)cin * 9;
	float *w = stp_malloc(STP_BLOCK_MAX_MASKS * wn * sizeof(float)), bias[STP_BLOCK_MAX_MASKS];
	enum stp_status st = STP_OK;
	int nsrc = 0, ntotal = 0;

	if (!w)
		return stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	for (int pass = 0; pass < 2 && st == STP_OK; pass++) {
		const int s = pass == 0 ? first_stride : stride, first = ntotal;
		if (pass == 1 && stride == first_stride)
			break;
		for (int m = 0; m < sb->nmasks; m++) {
			const int ms = m == 0 ? first_stride : stride;
			char name[NAME_LEN];
			const float *mw, *mb;
			if (ms != s)
				continue;
			snprintf(name, sizeof(name), "%s.mask%d", prefix, m + 1);
			mw = stp_net_take(b, name, "weight", wshape, 4, &st);
			mb = mw ? stp_net_take(b, name, "bias", bshape, 1, &st) : NULL;
			if (!mb)
				break;
			memcpy(w + (size_t)ntotal * wn, mw, wn * sizeof(float));
			bias[ntotal] = mb[0];
			b->parameters += wn + 1;
			sb->mask_source[m] = nsrc;
			sb->mask_channel[m] = ntotal++ - first;
		}
		if (st == STP_OK && ntotal > first) {
			struct stp_conv_desc d = stp_net_conv_desc(cin, ntotal - first, 3, s, 0);
			st = stp_conv_create(&d, w + (size_t)first * wn, bias + first, b->kernels,
					     &sb->mask_conv[nsrc++]);
			if (st != STP_OK)
				stp_set_error(b->err, b->errlen, st, "cannot build mask convs of '%s'", prefix);
		}
	}
	/* Two channels: one pass of the pairwise dot-product kernel. With three
	 * (variant c) the kernel would make two passes at the stride-1 cells,
	 * more FMAs than the separate convs: not measured, not fused. */
	if (st == STP_OK && nsrc == 2 && ntotal == 2 && first_stride == 1 && stride == 2) {
		struct stp_conv_desc d = stp_net_conv_desc(cin, ntotal, 3, 1, 0);
		st = stp_conv_create(&d, w, bias, b->kernels, &sb->mask_fused);
		if (st != STP_OK)
			stp_set_error(b->err, b->errlen, st, "cannot build mask convs of '%s'", prefix);
	}
	/* Logit partials (block.h) give one stride-1 map: mask_fused's, or
	 * that of the only mask conv when its stride is 1. */
	if (st == STP_OK && (sb->mask_fused || (nsrc == 1 && first_stride == 1)) &&
	    stp_sparse_block_set_partials(sb, w, bias, ntotal, cin, b->kernels->dotconv) != STP_OK)
		st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	free(w);
	return st;
}

static enum stp_status make_kernels(struct stp_net_builder *b, struct stp_sparse_block *sb,
				    const char *prefix)
{
	const struct stp_arch_sparse *sp = &b->arch->sparse;
	const int k = sp->window;
	enum stp_status st = STP_OK;

	for (int m = 0; m < sb->nmasks; m++) {
		struct stp_interp_kernel *kern = &sb->kernel[m];
		char name[NAME_LEN];
		snprintf(name, sizeof(name), "%s.interp%d", prefix, m + 1);
		if (sp->kernel == STP_INTERP_RBF) {
			const int64_t shape[1] = {1};
			const float *a = stp_net_take(b, name, "a", shape, 1, &st);
			if (!a)
				return st;
			stp_interp_kernel_rbf(kern, k, a[0]);
			b->parameters += 1;
		} else if (sp->kernel == STP_INTERP_LEARNED) {
			const int64_t shape[2] = {k, k};
			const float *kk = stp_net_take(b, name, "kernel", shape, 2, &st);
			if (!kk)
				return st;
			kern->k = k;
			for (int i = 0; i < k * k; i++)
				kern->w[i] = fabsf(kk[i]);
			b->parameters += (uint64_t)k * k;
		} else {
			kern->k = k;
			for (int i = 0; i < k * k; i++)
				kern->w[i] = 1.0f;
		}
	}
	return STP_OK;
}

int stp_net_sparse_block(struct stp_net_builder *b, int stage, int index, int in, int cin,
			 int planes, int stride, int out_stride, enum stp_status *status)
{
	const struct stp_arch *a = b->arch;
	const int bottleneck = a->block == STP_BLOCK_BOTTLENECK, cout = planes * a->expansion;
	const char variant = a->sparse.variant;
	struct stp_op op = {.kind = STP_OP_SPARSE_BLOCK, .in = in, .in2 = -1, .backbone = 1,
			    .out_stride = out_stride};
	struct stp_sparse_block *sb = stp_zalloc(1, sizeof(*sb));
	char prefix[64], conv[NAME_LEN], bn[NAME_LEN];
	int temp_channels[STP_OP_MAX_TEMPS];
	enum stp_status st;

	if (!sb) {
		*status = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		return -1;
	}
	op.sparse = sb;
	snprintf(prefix, sizeof(prefix), "backbone.layer%d.%d", stage, index);
	sb->nconvs = bottleneck ? 3 : 2;
	sb->nmasks = variant == 'a' ? 1 : variant == 'b' ? 2 : 3;
	sb->grid = a->sparse.grid_stride;
	sb->gather = b->kernels->gather;
	sb->mask_index = (uint32_t)b->plan->nmasks;
	for (int j = 0; j < sb->nconvs; j++) {
		sb->mask_of[j] = j < sb->nmasks ? j : sb->nmasks - 1;
		sb->interp_of[j] = sb->mask_of[j];
	}

	/* The convs, BN folded, the last one's shift kept apart. */
	for (int j = 0; j < sb->nconvs; j++) {
		struct stp_conv_desc d;
		const int last = j == sb->nconvs - 1;
		if (bottleneck)
			d = j == 0 ? stp_net_conv_desc(cin, planes, 1, 1, 1)
			    : j == 1 ? stp_net_conv_desc(planes, planes, 3, stride, 1)
				     : stp_net_conv_desc(planes, cout, 1, 1, 0);
		else
			d = j == 0 ? stp_net_conv_desc(cin, planes, 3, stride, 1)
				   : stp_net_conv_desc(planes, cout, 3, 1, 0);
		snprintf(conv, sizeof(conv), "%s.conv%d", prefix, j + 1);
		snprintf(bn, sizeof(bn), "%s.bn%d", prefix, j + 1);
		st = make_conv(b, conv, bn, &d, last ? &sb->last_shift : NULL, &sb->conv[j]);
		if (st != STP_OK)
			goto error;
		temp_channels[j] = d.cout;
	}
	op.ntemps = sb->nconvs;
	if (stride != 1 || cin != cout) {
		struct stp_conv_desc d = stp_net_conv_desc(cin, cout, 1, stride, 0);
		snprintf(conv, sizeof(conv), "%s.downsample.0", prefix);
		snprintf(bn, sizeof(bn), "%s.downsample.1", prefix);
		st = make_conv(b, conv, bn, &d, NULL, &sb->downsample);
		if (st != STP_OK)
			goto error;
		temp_channels[op.ntemps++] = cout;
	}
	st = make_masks(b, sb, prefix, cin, bottleneck ? 1 : stride, stride);
	if (st == STP_OK)
		st = make_kernels(b, sb, prefix);
	if (st != STP_OK)
		goto error;
	b->plan->nmasks += sb->nmasks;
	{
		struct stp_sparse_block *before = sparse_producer(b->plan, in);
		int value = stp_plan_add_with_temps(b->plan, &op, cout, temp_channels);
		if (value < 0)
			*status = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
		else if (before && sb->partial_k > 0)
			before->next = sb;
		return value;
	}
error:
	stp_sparse_block_destroy(sb);
	*status = st;
	return -1;
}

/*
 * cost.c - the dense cost of a forward pass.
 *
 * backbone_macs follows the official calculator (METHOD.md section 6): a
 * backbone conv costs k*k*cin*cout*(H//S)*(W//S) multiply-accumulates, with
 * S the conv's output stride w.r.t. the image, H x W the input size; heads
 * and necks are not counted. total_flops counts what the plan executes:
 * 2 FLOPs per MAC of every conv at its real output size, plus one per
 * element for pooling taps, adds and resizes. A sparse block counts as
 * dense here; stp_session_report() gives the cost of a run with its
 * masks' densities.
 */
#include <stdlib.h>

#include "cost.h"

/* Official cost of a conv whose output stride is out_stride, at density d. */
static double conv_macs(const struct stp_conv *conv, int h, int w, int out_stride, double d)
{
	const struct stp_conv_desc *cd = stp_conv_get_desc(conv);
	return (double)cd->kh * cd->kw * (cd->cin / cd->groups) * cd->cout *
	       (double)(h / out_stride) * (double)(w / out_stride) * d;
}

/* Official cost of a sparse block given its masks' densities (METHOD.md
 * section 6): each conv at its mask's density, mask convs and downsample
 * dense, and an interpolation of k*k*C*HW*d*(1-d) after conv1, after the
 * last conv, and after any conv whose successor uses another mask. */
double stp_cost_sparse_block(const struct stp_sparse_block *sb, int h, int w,
				int block_stride, const double *density)
{
	const int in_stride = block_stride / stp_conv_get_desc(sb->conv[1])->sh;
	int stride = in_stride;
	double macs = 0;

	for (int j = 0; j < sb->nconvs; j++) {
		const struct stp_conv_desc *cd = stp_conv_get_desc(sb->conv[j]);
		const double d = density[sb->mask_of[j]];
		const int k = sb->kernel[sb->interp_of[j]].k;
		stride *= cd->sh;
		macs += conv_macs(sb->conv[j], h, w, stride, d);
		if (j == 0 || j == sb->nconvs - 1 || sb->mask_of[j + 1] != sb->mask_of[j])
			macs += (double)k * k * cd->cout * (double)(h / stride) * (double)(w / stride) *
				d * (1 - d);
	}
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++)
		if (sb->mask_conv[m])
			macs += conv_macs(sb->mask_conv[m], h, w,
					  in_stride * stp_conv_get_desc(sb->mask_conv[m])->sh, 1);
	if (sb->downsample)
		macs += conv_macs(sb->downsample, h, w, block_stride, 1);
	return macs;
}

/* The dense cost of a sparse block: its convs and downsample, no masks. */
double stp_cost_dense_block(const struct stp_sparse_block *sb, int h, int w, int block_stride)
{
	int stride = block_stride / stp_conv_get_desc(sb->conv[1])->sh;
	double macs = sb->downsample ? conv_macs(sb->downsample, h, w, block_stride, 1) : 0;
	for (int j = 0; j < sb->nconvs; j++) {
		stride *= stp_conv_get_desc(sb->conv[j])->sh;
		macs += conv_macs(sb->conv[j], h, w, stride, 1);
	}
	return macs;
}

/* MACs a conv executes producing output shape o. */
static double real_macs(const struct stp_conv *conv, const struct stp_shape *o)
{
	const struct stp_conv_desc *cd = stp_conv_get_desc(conv);
	return (double)cd->kh * cd->kw * (cd->cin / cd->groups) * cd->cout * o->h * o->w;
}

enum stp_status stp_model_cost(const stp_model *model, int h, int w, struct stp_cost *out)
{
	const struct stp_plan *plan;
	struct stp_shape *shapes;
	enum stp_status st;
	double macs = 0, flops = 0;

	if (!model || !out || h < 1 || w < 1)
		return STP_ERR_INVALID_ARG;
	plan = &model->plan;
	shapes = calloc((size_t)plan->nvalues, sizeof(*shapes));
	if (!shapes)
		return STP_ERR_NOMEM;
	st = stp_plan_shapes(plan, h, w, shapes);
	if (st != STP_OK)
		goto out;
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *o = &shapes[op->out], *in = &shapes[op->in];
		const double elems = (double)o->h * o->w * o->c;
		if (op->kind == STP_OP_SPARSE_BLOCK) {
			/* Run densely; stp_session_report gives a run's sparse cost. */
			const struct stp_sparse_block *sb = op->sparse;
			for (int j = 0; j < sb->nconvs; j++)
				flops += 2.0 * real_macs(sb->conv[j], &shapes[op->temps[j]]);
			if (sb->downsample)
				flops += 2.0 * real_macs(sb->downsample, o);
			flops += 2 * elems;  /* shift + shortcut */
			macs += stp_cost_dense_block(sb, h, w, op->out_stride);
		} else if (op->kind == STP_OP_CONV) {
			const struct stp_conv_desc *d = stp_conv_get_desc(op->conv);
			const double per_pixel = (double)d->kh * d->kw * (d->cin / d->groups) * d->cout;
			flops += 2.0 * per_pixel * o->h * o->w;
			if (op->in2 >= 0)
				flops += elems;
			if (op->backbone && op->out_stride > 0)
				macs += per_pixel * (double)(h / op->out_stride) *
					(double)(w / op->out_stride);
		} else if (op->kind == STP_OP_MAXPOOL) {
			flops += elems * op->k * op->k;
		} else if (op->kind == STP_OP_GLOBAL_AVGPOOL) {
			flops += (double)in->h * in->w * in->c;
		} else {
			flops += elems;
		}
	}
	out->backbone_macs = macs;
	out->total_flops = flops;
out:
	free(shapes);
	return st;
}

enum stp_status stp_session_report(const stp_session *s, struct stp_run_report *out)
{
	const struct stp_plan *plan;
	struct stp_cost dense;
	double macs, density_sum = 0;
	enum stp_status st;

	if (!s || !out || !s->ran)
		return STP_ERR_INVALID_ARG;
	plan = &s->model->plan;
	st = stp_model_cost(s->model, s->h, s->w, &dense);
	if (st != STP_OK)
		return st;
	macs = dense.backbone_macs;
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		double d[STP_BLOCK_MAX_MASKS];
		if (op->kind != STP_OP_SPARSE_BLOCK || s->ran_dense)
			continue;
		for (int m = 0; m < op->sparse->nmasks; m++)
			d[m] = stp_session_mask_density(s, (int)op->sparse->mask_index + m);
		macs += stp_cost_sparse_block(op->sparse, s->h, s->w, op->out_stride, d) -
			stp_cost_dense_block(op->sparse, s->h, s->w, op->out_stride);
	}
	for (int m = 0; m < plan->nmasks; m++)
		density_sum += stp_session_mask_density(s, m);
	out->nmasks = plan->nmasks;
	out->mean_density = plan->nmasks ? density_sum / plan->nmasks : 1.0;
	out->backbone_macs = macs;
	out->dense_backbone_macs = dense.backbone_macs;
	return STP_OK;
}

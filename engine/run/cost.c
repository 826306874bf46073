/*
 * cost.c - the dense cost of a forward pass.
 *
 * backbone_macs follows the official calculator (docs/method.md section 6): a
 * backbone conv costs k*k*cin*cout*(H//S)*(W//S) multiply-accumulates, with
 * S the conv's output stride w.r.t. the image, H x W the input size; heads
 * and necks are not counted. total_flops counts what the plan executes:
 * 2 FLOPs per MAC of every conv at its real output size, plus one per
 * element for pooling taps, adds and resizes. A sparse block counts as
 * dense here; stp_session_report() gives the cost of a run with its
 * masks' densities.
 *
 * Deformable convs (backbone.dcn, arch.h) are not in the plan (sessions
 * refuse such models), so their cost comes from the architecture: the
 * deformable conv2 costs what the plan's plain conv2 costs, and each
 * deformable block adds its offset conv, a 3x3 conv from the block's
 * input channels (not conv2's) to offset_channels at the block's stride,
 * as the official model and calculator have it (mmdet/utils/flops.py:
 * conv_cal(3, _inplane * 4, 18, _stride)). That offset
 * conv counts dense in stp_model_cost and at conv2's mask density in a
 * sparse block's run (docs/method.md section 6). With h = (r//32)*32 and
 * w = (r*5/3//32)*32, the dense ResNet-101 with DCN in c3-c5 gives the
 * official 70.034 / 100.203 / 184.064 / 289.475 G at r = 500 / 600 / 800 /
 * 1000, i.e. inputs 480x832, 576x992, 800x1312, 992x1664 (test-loader.c).
 * budget.c does not see offset convs: budget mode needs a session, which
 * a deformable model cannot have.
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

/* The output stride of a sparse block's input: its output stride over the
 * product of its convs' strides (the stride sits on conv2 of a bottleneck
 * and on conv1 of a basic block). */
static int block_input_stride(const struct stp_sparse_block *sb, int block_stride)
{
	int s = 1;

	for (int j = 0; j < sb->nconvs; j++)
		s *= stp_conv_get_desc(sb->conv[j])->sh;
	return block_stride / s;
}

/* Official cost of a sparse block given its masks' densities (docs/method.md
 * section 6): each conv at its mask's density, mask convs and downsample
 * dense, and an interpolation of k*k*C*HW*d*(1-d) after conv1, after the
 * last conv, and after any conv whose successor uses another mask. */
double stp_cost_sparse_block(const struct stp_sparse_block *sb, int h, int w,
				int block_stride, const double *density)
{
	const int in_stride = block_input_stride(sb, block_stride);
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

/* Official cost of the DCN offset conv of a block with cin input channels
 * and its output at out_stride (4, 8, 16, 32 for stages c2..c5), at
 * density d; 0 unless the architecture makes that stage deformable. */
static double offset_macs(const struct stp_arch *a, int cin, int out_stride, int h, int w,
			  double d)
{
	for (int s = 0; s < 4; s++)
		if ((4 << s) == out_stride && a->dcn.enabled && a->dcn.stages[s])
			return 9.0 * cin * a->dcn.offset_channels * (double)(h / out_stride) *
			       (double)(w / out_stride) * d;
	return 0;
}

/* Every offset conv of the backbone run densely: official MACs into *macs,
 * and executed FLOPs at the real output sizes (each stride-2 layer maps n
 * pixels to ceil(n / 2)) into *flops. */
static void dense_offset_cost(const struct stp_arch *a, int h, int w, double *macs,
			      double *flops)
{
	int cin = a->stem_width, oh = h, ow = w;

	for (int i = 0; i < 2; i++) {   /* the stem conv and max-pool */
		oh = oh / 2 + oh % 2;
		ow = ow / 2 + ow % 2;
	}
	for (int s = 0; s < 4; s++) {
		if (s > 0) {
			oh = oh / 2 + oh % 2;
			ow = ow / 2 + ow % 2;
		}
		for (int b = 0; b < a->layers[s]; b++) {
			const double m = offset_macs(a, cin, 4 << s, h, w, 1);
			if (m > 0) {
				*macs += m;
				*flops += 2.0 * 9 * cin * a->dcn.offset_channels * oh * ow;
			}
			cin = a->widths[s] * a->expansion;
		}
	}
}

/* The dense cost of a sparse block: its convs and downsample, no masks. */
double stp_cost_dense_block(const struct stp_sparse_block *sb, int h, int w, int block_stride)
{
	int stride = block_input_stride(sb, block_stride);
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

/* The dense cost of model at h x w, whose plan values have these shapes. */
static void cost_of_shapes(const stp_model *model, int h, int w, const struct stp_shape *shapes,
			   struct stp_cost *out)
{
	const struct stp_plan *plan = &model->plan;
	double macs = 0, flops = 0;

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
	if (model->arch.dcn.enabled)
		dense_offset_cost(&model->arch, h, w, &macs, &flops);
	out->backbone_macs = macs;
	out->total_flops = flops;
}

enum stp_status stp_model_cost(const stp_model *model, int h, int w, struct stp_cost *out)
{
	struct stp_shape *shapes;
	enum stp_status st;

	if (!model || !out || h < 1 || w < 1)
		return STP_ERR_INVALID_ARG;
	shapes = stp_zalloc((size_t)model->plan.nvalues, sizeof(*shapes));
	if (!shapes)
		return STP_ERR_NOMEM;
	st = stp_plan_shapes(&model->plan, h, w, shapes);
	if (st == STP_OK)
		cost_of_shapes(model, h, w, shapes, out);
	free(shapes);
	return st;
}

void stp_session_dense_cost(const struct stp_session *s, struct stp_cost *out)
{
	cost_of_shapes(s->model, s->h, s->w, s->shapes, out);
}

/* Masks the plan samples with STP_OP_MASK ops (not inside sparse blocks). */
static int plan_masks(const struct stp_plan *plan)
{
	int n = 0;

	for (int i = 0; i < plan->nops; i++)
		n += plan->ops[i].kind == STP_OP_MASK;
	return n;
}

double stp_session_mask_density(const stp_session *s, int index)
{
	if (!s || !s->ran || index < 0 || index >= s->model->plan.nmasks || !s->cells[index])
		return -1;
	return (double)s->sampled[index] / (double)s->cells[index];
}

enum stp_status stp_session_report(const stp_session *s, struct stp_run_report *out)
{
	const struct stp_plan *plan;
	struct stp_cost dense;
	double macs, density_sum = 0, plan_backbone, *d;

	if (!s || !out || !s->ran)
		return STP_ERR_INVALID_ARG;
	plan = &s->model->plan;
	stp_session_dense_cost(s, &dense);
	d = s->density;
	for (int m = 0; m < plan->nmasks; m++) {
		d[m] = stp_session_mask_density(s, m);
		density_sum += d[m];
	}
	macs = dense.backbone_macs;
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		if (op->kind != STP_OP_SPARSE_BLOCK || s->ran_dense)
			continue;
		macs += stp_cost_sparse_block(op->sparse, s->h, s->w, op->out_stride,
					      d + op->sparse->mask_index) -
			stp_cost_dense_block(op->sparse, s->h, s->w, op->out_stride);
		/* A deformable block's offset conv runs where conv2 runs. */
		macs += offset_macs(&s->model->arch, stp_conv_get_desc(op->sparse->conv[0])->cin,
				    op->out_stride, s->h, s->w,
				    d[op->sparse->mask_index + (uint32_t)op->sparse->mask_of[1]] - 1);
	}
	out->network_macs = stp_cost_network(s, s->ran_dense ? NULL : d, &plan_backbone);
	out->dense_network_macs = stp_cost_network(s, NULL, NULL);
	if (s->model->detect && (s->ran_tasks & STP_TASK_DETECT)) {
		/* the box head: its proposals, and the model's full count */
		out->network_macs += stp_detect_head_macs(
			s->model->detect, stp_detect_state_proposals(s->detect_state));
		out->dense_network_macs += stp_detect_head_macs(
			s->model->detect, s->model->arch.detect.post_nms_top_n);
	}
	if (plan_masks(plan) && !s->ran_dense)
		macs = plan_backbone;   /* gated backbone convs ran at their masks' cells */
	out->nmasks = plan->nmasks;
	out->mean_density = plan->nmasks ? density_sum / plan->nmasks : 1.0;
	out->backbone_macs = macs;
	out->dense_backbone_macs = dense.backbone_macs;
	out->backbone_ms = s->backbone_ms;
	return STP_OK;
}

/* k*k*C*HW*d(1-d): the interpolation's cost, docs/method.md section 6. */
static double interp_macs(int k, int c, double cells, double d)
{
	return (double)k * k * c * cells * d * (1 - d);
}

double stp_cost_network(const struct stp_session *s, const double *density, double *backbone)
{
	const struct stp_plan *plan = &s->model->plan;
	double total = 0, bb = 0;

	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *o = &s->shapes[op->out];
		const double cells = (double)o->h * o->w;
		double real, official, d = 1;

		if (!(op->users & s->run_users))
			continue;   /* skipped: only another task needs it */
		if (op->kind == STP_OP_SPARSE_BLOCK) {
			double db[STP_BLOCK_MAX_MASKS];
			for (int m = 0; m < op->sparse->nmasks; m++)
				db[m] = density ? density[op->sparse->mask_index + (uint32_t)m] : 1;
			official = density ? stp_cost_sparse_block(op->sparse, s->h, s->w,
								   op->out_stride, db)
					   : stp_cost_dense_block(op->sparse, s->h, s->w,
								  op->out_stride);
			total += official;
			bb += official;
			continue;
		}
		if (op->kind != STP_OP_CONV && op->kind != STP_OP_MASK)
			continue;
		if (op->kind == STP_OP_MASK && !density)
			continue;   /* a dense run computes no mask */
		if (op->kind == STP_OP_CONV && op->gated && density)
			d = density[op->mask];
		real = real_macs(op->conv, o) * d;
		if (op->fill)
			real += interp_macs(op->fill->k, o->c, cells, d);
		total += real;
		if (op->backbone && op->out_stride > 0) {
			const struct stp_conv_desc *cd = stp_conv_get_desc(op->conv);
			const double px = (double)(s->h / op->out_stride) * (double)(s->w / op->out_stride);
			official = (double)cd->kh * cd->kw * (cd->cin / cd->groups) * cd->cout * px * d;
			if (op->fill)
				official += interp_macs(op->fill->k, o->c, px, d);
			bb += official;
		}
	}
	if (backbone)
		*backbone = bb;
	return total;
}

/*
 * session.c - running a model: its scratch sized for the input (scratch.c:
 * only when the size or the thread count changes; a run allocates
 * nothing), then the ops in order, checking the abort callback between
 * them. Sparse blocks share one scratch (masks, cell lists, logits,
 * interpolation buffer) sized for the largest of them; their feature maps
 * are plan values in the arena like any other.
 */
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "cost.h"
#include "gated.h"
#include "scratch.h"

enum stp_status stp_session_create(const stp_model *model, stp_session **out)
{
	struct stp_session *s;
	const int n = model ? model->plan.nvalues : 0;

	if (!out || !model)
		return STP_ERR_INVALID_ARG;
	*out = NULL;
	/* Deformable convs (backbone.dcn) load for their cost only: the plan
	 * holds plain convs in their place, which must not run. */
	if (model->arch.dcn.enabled)
		return STP_ERR_UNSUPPORTED;
	s = stp_zalloc(1, sizeof(*s));
	if (!s)
		return STP_ERR_NOMEM;
	s->model = model;
	s->engine = model->engine;
	s->shapes = stp_zalloc((size_t)n, sizeof(*s->shapes));
	s->offsets = stp_zalloc((size_t)n, sizeof(*s->offsets));
	s->zero = stp_calloc(model->plan.zero_floats + 64, sizeof(float));
	s->sampled = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(size_t));
	s->cells = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(size_t));
	s->ring = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(size_t));
	s->topk = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(size_t));
	s->density = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(double));
	s->mask_offset = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(size_t));
	s->mask_h = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(int));
	s->mask_w = stp_zalloc((size_t)model->plan.nmasks + 1, sizeof(int));
	s->profile = stp_zalloc((size_t)model->plan.nops + 1, sizeof(*s->profile));
	s->conv.zero = s->zero;
	s->sparse.conv = &s->conv;
	if (!s->shapes || !s->offsets || !s->zero || !s->sampled || !s->cells || !s->ring ||
	    !s->topk || !s->density || !s->mask_offset || !s->mask_h || !s->mask_w || !s->profile) {
		stp_session_destroy(s);
		return STP_ERR_NOMEM;
	}
	*out = s;
	return STP_OK;
}

enum stp_status stp_session_set_engine(stp_session *s, stp_engine *engine)
{
	if (!s || !engine || engine->kernels != s->model->engine->kernels)
		return STP_ERR_INVALID_ARG;
	s->engine = engine;   /* the next run sizes the scratch for its threads */
	return STP_OK;
}

void stp_session_destroy(stp_session *session)
{
	if (!session)
		return;
	stp_scratch_free(session);
	stp_free(session->zero);
	free(session->sampled);
	free(session->cells);
	free(session->ring);
	free(session->topk);
	free(session->density);
	free(session->mask_offset);
	free(session->mask_h);
	free(session->mask_w);
	free(session->profile);
	free(session->shapes);
	free(session->offsets);
	free(session);
}

double stp_session_min_budget(const stp_session *session)
{
	return session && session->min_budget > 0 ? session->min_budget : -1;
}

void stp_session_set_profiling(stp_session *session, int on)
{
	if (session)
		session->profiling = on != 0;
}

int stp_session_profile(const stp_session *session, const struct stp_op_profile **ops)
{
	if (!session || !ops || !session->profiled)
		return 0;
	*ops = session->profile;
	return session->model->plan.nops;
}

static const char *op_kind_name(enum stp_op_kind kind)
{
	static const char *const names[] = {"conv", "maxpool", "add", "resize", "avgpool",
					    "sparse_block", "resize_bilinear", "concat", "mask"};

	return names[kind];
}

void stp_session_set_abort(stp_session *session, stp_abort_fn fn, void *user)
{
	session->abort_fn = fn;
	session->abort_user = user;
}

/* The concat op: copies each input that is not a view of out into its
 * channel range (stp_plan_concat). */
static void run_concat(const struct stp_session *s, const struct stp_op *op)
{
	const struct stp_plan *plan = &s->model->plan;
	const int inputs[2] = {op->in, op->in2};
	struct stp_tensor out = stp_run_value(&s->values, op->out);
	int ch0 = 0;

	for (int i = 0; i < 2; i++) {
		struct stp_tensor src = stp_run_value(&s->values, inputs[i]);
		struct stp_tensor dst = {out.data + ch0, out.h, out.w, src.c, out.c_stride};
		if (plan->value_root[inputs[i]] != op->out)
			stp_copy(&src, &dst);
		ch0 += src.c;
	}
}

static enum stp_status run_sparse(struct stp_session *s, const struct stp_op *op,
				  const struct stp_tensor *in, struct stp_tensor *out,
				  const struct stp_sparse_options *opts, struct stp_threadpool *pool)
{
	const struct stp_sparse_block *sb = op->sparse;
	struct stp_sparse_stats stats;
	enum stp_status st;

	for (int j = 0; j < sb->nconvs; j++)
		s->sparse.feature[j] = stp_run_value(&s->values, op->temps[j]).data;
	if (sb->downsample)
		s->sparse.shortcut = stp_run_value(&s->values, op->temps[sb->nconvs]).data;
	st = stp_sparse_block_run(sb, in, out, &s->sparse, opts, &stats, pool);
	s->partials_used += stats.partials_used;
	for (int m = 0; m < sb->nmasks; m++) {
		const uint32_t idx = sb->mask_index + (uint32_t)m;
		s->sampled[idx] = stats.sampled[m];
		s->cells[idx] = stats.cells[m];
		memcpy(s->mask_store + s->mask_offset[idx], s->sparse.mask[m], stats.cells[m]);
	}
	return st;
}

enum stp_status stp_session_run(stp_session *s, const float *input, int h, int w)
{
	return stp_session_run_with(s, input, h, w, NULL);
}

static int run_options_valid(const struct stp_run_options *o)
{
	const int mode_ok = o->mode == STP_RUN_TRAINED || o->mode == STP_RUN_DENSE ||
			    (o->mode == STP_RUN_BUDGET && o->budget > 0 && o->budget <= 1);

	return mode_ok &&
	       (o->sampling == STP_SAMPLING_DETERMINISTIC || o->sampling == STP_SAMPLING_STOCHASTIC);
}

enum stp_status stp_session_run_with(stp_session *s, const float *input, int h, int w,
				     const struct stp_run_options *opts)
{
	return stp_session_run_for(s, input, h, w, opts, ~0u);
}

enum stp_status stp_session_run_for(struct stp_session *s, const float *input, int h, int w,
				    const struct stp_run_options *opts, unsigned users)
{
	const struct stp_run_options defaults = {.mode = STP_RUN_TRAINED};
	struct stp_sparse_options sparse_opts;
	const struct stp_plan *plan;
	struct stp_threadpool *pool;
	enum stp_status st;
	int64_t start;

	if (!opts)
		opts = &defaults;
	if (!s || !input || h < 1 || w < 1 || h > 65536 || w > 65536 ||
	    !run_options_valid(opts))
		return STP_ERR_INVALID_ARG;
	sparse_opts.dense = opts->mode == STP_RUN_DENSE ||
			    (opts->mode == STP_RUN_BUDGET && opts->budget == 1);
	sparse_opts.topk = NULL;
	sparse_opts.mode = opts->sampling == STP_SAMPLING_STOCHASTIC ? STP_SAMPLE_STOCHASTIC
								     : STP_SAMPLE_DETERMINISTIC;
	sparse_opts.seed = opts->seed;
	sparse_opts.interp_form = s->engine->interp_form;
	sparse_opts.partials = s->engine->logit_partials;
	s->sparse.partials_for = NULL;
	plan = &s->model->plan;
	pool = s->engine->pool;
	/* From here on the last run's results are gone, whatever happens. */
	s->ran = 0;
	s->ran_tasks = 0;
	st = stp_scratch_for_input(s, h, w);
	if (st != STP_OK)
		return st;
	s->values.input = input;   /* the rest of the view is the scratch's */
	s->values.pool = pool;     /* the engine's, even one of as many threads set since */
	s->partials_used = 0;
	s->backbone_ms = 0;
	s->run_users = users;   /* the budget and the report count the ops it runs */
	start = stp_now_ns();
	if (opts->mode == STP_RUN_BUDGET && opts->budget < 1 && plan->nmasks > 0) {
		st = stp_budget_solve(s, opts->budget, s->topk, &s->min_budget);
		if (st != STP_OK)
			return st;
		sparse_opts.topk = s->topk;
	}
	s->profiled = 0;
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		struct stp_tensor in = stp_run_value(&s->values, op->in), out = stp_run_value(&s->values, op->out);
		struct stp_tensor in2;
		struct stp_op_profile *prof = &s->profile[i];
		int64_t t0 = 0;

		if (s->abort_fn && s->abort_fn(s->abort_user))
			return STP_ERR_CANCELLED;
		if (s->profiling) {
			memset(prof, 0, sizeof(*prof));
			prof->kind = op_kind_name(op->kind);
			prof->h = out.h;
			prof->w = out.w;
			prof->c = out.c;
			t0 = stp_now_ns();
		}
		if (!(op->users & users)) {   /* only other users need it */
			if (op->kind == STP_OP_MASK)
				s->sampled[op->mask] = s->cells[op->mask] = 0;
			continue;
		}
		sparse_opts.phase_ms = s->profiling ? prof->phase_ms : NULL;
		if (op->in2 >= 0)
			in2 = stp_run_value(&s->values, op->in2);
		switch (op->kind) {
		case STP_OP_CONV:
			if (op->gated)
				st = stp_run_gated_conv(s, op, &in, &out, op->in2 >= 0 ? &in2 : NULL,
							&sparse_opts);
			else
				stp_conv_run(op->conv, &in, &out, op->in2 >= 0 ? &in2 : NULL, NULL, 0,
					     &s->conv, pool);
			if (st != STP_OK)
				return st;
			break;
		case STP_OP_MASK:
			st = stp_run_mask(s, op, &sparse_opts);
			if (st != STP_OK)
				return st;
			break;
		case STP_OP_MAXPOOL:
			stp_maxpool2d(&in, &out, op->k, op->s, op->p, pool);
			break;
		case STP_OP_ADD:
			stp_add(&in, &in2, &out, op->relu, pool);
			break;
		case STP_OP_RESIZE_NEAREST:
			stp_resize_nearest(&in, &out, pool);
			break;
		case STP_OP_RESIZE_BILINEAR:
			stp_resize_bilinear(&in, &out, pool);
			break;
		case STP_OP_GLOBAL_AVGPOOL:
			stp_global_avgpool(&in, &out, pool);
			break;
		case STP_OP_CONCAT:
			run_concat(s, op);
			break;
		case STP_OP_SPARSE_BLOCK:
			st = run_sparse(s, op, &in, &out, &sparse_opts, pool);
			if (st != STP_OK)
				return st;
			break;
		}
		if (s->profiling)
			prof->ms = (double)(stp_now_ns() - t0) / 1e6;
		if (op->backbone)
			s->backbone_ms = (double)(stp_now_ns() - start) / 1e6;
	}
	s->profiled = s->profiling;
	s->ran = 1;
	s->ran_dense = sparse_opts.dense;
	return STP_OK;
}

enum stp_status stp_session_mask(const stp_session *s, int index, const uint8_t **data,
				 int *h, int *w)
{
	if (!s || !data || !h || !w || !s->ran || index < 0 || index >= s->model->plan.nmasks ||
	    !s->cells[index])
		return STP_ERR_INVALID_ARG;
	*data = s->mask_store + s->mask_offset[index];
	*h = s->mask_h[index];
	*w = s->mask_w[index];
	return STP_OK;
}

enum stp_status stp_session_output(const stp_session *s, int index,
				   struct stp_tensor_view *out)
{
	const struct stp_plan *plan;
	struct stp_tensor t;

	if (!s || !out)
		return STP_ERR_INVALID_ARG;
	plan = &s->model->plan;
	if (index < 0 || index >= plan->noutputs || !s->ran)
		return STP_ERR_INVALID_ARG;
	t = stp_run_value(&s->values, plan->outputs[index]);
	out->data = t.data;
	out->h = t.h;
	out->w = t.w;
	out->c = t.c;
	out->c_stride = t.c_stride;
	return STP_OK;
}

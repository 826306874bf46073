/*
 * plan.c - building a plan, inferring shapes, and laying out the arena.
 *
 * Layout is "greedy by size": values are placed largest first, each at the
 * lowest offset where it overlaps (in bytes) no already-placed value whose
 * lifetime [producer, last reader] intersects its own. Network outputs live
 * to the end of the run. Views (stp_plan_concat) are not placed: their
 * lifetimes stretch their root's, and they take its offset.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

void stp_plan_init(struct stp_plan *plan, int in_channels)
{
	memset(plan, 0, sizeof(*plan));
	plan->in_channels = in_channels;
	plan->nvalues = 1;
	plan->value_channels = stp_malloc(sizeof(int));
	plan->value_root = stp_zalloc(1, sizeof(int));
	plan->value_channel0 = stp_zalloc(1, sizeof(int));
	if (plan->value_channels)
		plan->value_channels[0] = in_channels;
}

void stp_plan_clear(struct stp_plan *plan)
{
	if (!plan)
		return;
	for (int i = 0; i < plan->nops; i++) {
		if (!plan->ops[i].conv_borrowed)
			stp_conv_destroy(plan->ops[i].conv);
		stp_sparse_block_destroy(plan->ops[i].sparse);
		free(plan->ops[i].fill);
	}
	for (int i = 0; i < plan->noutputs; i++)
		free(plan->output_names[i]);
	free(plan->ops);
	free(plan->value_channels);
	free(plan->value_root);
	free(plan->value_channel0);
	free(plan->outputs);
	free(plan->output_names);
	free(plan->kept);
	free(plan->kept_users);
	memset(plan, 0, sizeof(*plan));
}

/* The plan's scratch covers every conv it runs: zero row and tile tables. */
static void note_conv(struct stp_plan *plan, const struct stp_conv *conv)
{
	if (!conv)
		return;
	if (stp_conv_zero_floats(conv) > plan->zero_floats)
		plan->zero_floats = stp_conv_zero_floats(conv);
	if (stp_conv_table_bytes(conv) > plan->table_bytes)
		plan->table_bytes = stp_conv_table_bytes(conv);
}

int stp_plan_add_with_temps(struct stp_plan *plan, const struct stp_op *op, int channels,
			    const int *temp_channels)
{
	const int nnew = 1 + op->ntemps;
	struct stp_op *dst;
	int *vc, *root, *ch0;

	if (!plan->value_channels || !plan->value_root || !plan->value_channel0 ||
	    op->ntemps < 0 || op->ntemps > STP_OP_MAX_TEMPS)
		goto error;
	if (plan->nops == plan->cap_ops) {
		int cap = plan->cap_ops ? plan->cap_ops * 2 : 64;
		struct stp_op *ops = stp_realloc(plan->ops, (size_t)cap * sizeof(*ops));
		if (!ops)
			goto error;
		plan->ops = ops;
		plan->cap_ops = cap;
	}
	vc = stp_realloc(plan->value_channels, ((size_t)plan->nvalues + nnew) * sizeof(int));
	if (!vc)
		goto error;
	plan->value_channels = vc;
	root = stp_realloc(plan->value_root, ((size_t)plan->nvalues + nnew) * sizeof(int));
	if (!root)
		goto error;
	plan->value_root = root;
	ch0 = stp_realloc(plan->value_channel0, ((size_t)plan->nvalues + nnew) * sizeof(int));
	if (!ch0)
		goto error;
	plan->value_channel0 = ch0;
	for (int v = plan->nvalues; v < plan->nvalues + nnew; v++) {
		root[v] = v;
		ch0[v] = 0;
	}
	dst = &plan->ops[plan->nops++];
	*dst = *op;
	dst->out = plan->nvalues;
	vc[dst->out] = channels;
	for (int t = 0; t < op->ntemps; t++) {
		dst->temps[t] = dst->out + 1 + t;
		vc[dst->temps[t]] = temp_channels[t];
	}
	plan->nvalues += nnew;
	if (op->conv)
		note_conv(plan, op->conv);
	if (op->sparse) {
		for (int j = 0; j < STP_BLOCK_MAX_CONVS; j++)
			note_conv(plan, op->sparse->conv[j]);
		for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++)
			note_conv(plan, op->sparse->mask_conv[m]);
		note_conv(plan, op->sparse->mask_fused);
		note_conv(plan, op->sparse->downsample);
	}
	return dst->out;
error:
	if (!op->conv_borrowed)
		stp_conv_destroy(op->conv);
	stp_sparse_block_destroy(op->sparse);
	free(op->fill);
	return -1;
}

int stp_plan_add(struct stp_plan *plan, const struct stp_op *op, int channels)
{
	struct stp_op plain = *op;
	plain.ntemps = 0;
	return stp_plan_add_with_temps(plan, &plain, channels, NULL);
}

enum stp_status stp_plan_add_output(struct stp_plan *plan, int value, const char *name)
{
	int *outs = stp_realloc(plan->outputs, ((size_t)plan->noutputs + 1) * sizeof(int));
	char **names;
	if (!outs)
		return STP_ERR_NOMEM;
	plan->outputs = outs;
	names = stp_realloc(plan->output_names, ((size_t)plan->noutputs + 1) * sizeof(char *));
	if (!names)
		return STP_ERR_NOMEM;
	plan->output_names = names;
	names[plan->noutputs] = stp_strdup(name);
	if (!names[plan->noutputs])
		return STP_ERR_NOMEM;
	outs[plan->noutputs++] = value;
	return STP_OK;
}

/* Whether value v can become a view: written by a conv op (which stores
 * through a pixel stride), neither a view already nor the root of one. */
static int can_be_view(const struct stp_plan *plan, int v)
{
	int producer = -1;

	if (v <= 0 || plan->value_root[v] != v)
		return 0;
	for (int u = 1; u < plan->nvalues; u++)
		if (u != v && plan->value_root[u] == v)
			return 0;
	for (int i = 0; i < plan->nops; i++)
		if (plan->ops[i].out == v)
			producer = i;
	return producer >= 0 && plan->ops[producer].kind == STP_OP_CONV;
}

int stp_plan_concat(struct stp_plan *plan, int a, int b)
{
	const int ca = plan->value_channels[a], cb = plan->value_channels[b];
	struct stp_op op = {.kind = STP_OP_CONCAT, .in = a, .in2 = b};
	const int view_a = can_be_view(plan, a), view_b = a != b && can_be_view(plan, b);
	const int out = stp_plan_add(plan, &op, ca + cb);

	if (out < 0)
		return -1;
	if (view_a)
		plan->value_root[a] = out;
	if (view_b) {
		plan->value_root[b] = out;
		plan->value_channel0[b] = ca;
	}
	return out;
}

enum stp_status stp_plan_keep(struct stp_plan *plan, int value, unsigned users)
{
	int *kept = stp_realloc(plan->kept, ((size_t)plan->nkept + 1) * sizeof(int));
	unsigned *kept_users;

	if (!kept)
		return STP_ERR_NOMEM;
	plan->kept = kept;
	kept_users = stp_realloc(plan->kept_users, ((size_t)plan->nkept + 1) * sizeof(unsigned));
	if (!kept_users)
		return STP_ERR_NOMEM;
	plan->kept_users = kept_users;
	kept[plan->nkept] = value;
	kept_users[plan->nkept++] = users;
	return STP_OK;
}

enum stp_status stp_plan_mark_users(struct stp_plan *plan)
{
	unsigned *users = stp_zalloc((size_t)plan->nvalues, sizeof(unsigned));

	if (!users)
		return STP_ERR_NOMEM;
	for (int i = 0; i < plan->noutputs; i++)
		users[plan->outputs[i]] |= STP_PLAN_OUTPUT_USER;
	for (int k = 0; k < plan->nkept; k++)
		users[plan->kept[k]] |= plan->kept_users[k];
	for (int i = plan->nops - 1; i >= 0; i--) {
		struct stp_op *op = &plan->ops[i];

		op->users = users[op->out];
		users[op->in] |= op->users;
		if (op->in2 >= 0)
			users[op->in2] |= op->users;
		if (op->kind == STP_OP_CONV && op->gated)
			users[op->mask_logits] |= op->users;
	}
	free(users);
	return STP_OK;
}

enum stp_status stp_plan_shapes(const struct stp_plan *plan, int h, int w,
				struct stp_shape *shapes)
{
	shapes[0] = (struct stp_shape){h, w, plan->in_channels};
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *in = &shapes[op->in];
		struct stp_shape *out = &shapes[op->out];
		out->c = plan->value_channels[op->out];
		switch (op->kind) {
		case STP_OP_CONV:
		case STP_OP_MASK:
			if (!stp_conv_output_size(stp_conv_get_desc(op->conv), in->h, in->w,
						  &out->h, &out->w))
				return STP_ERR_INVALID_ARG;
			break;
		case STP_OP_MAXPOOL:
			if (in->h + 2 * op->p < op->k || in->w + 2 * op->p < op->k)
				return STP_ERR_INVALID_ARG;
			out->h = (in->h + 2 * op->p - op->k) / op->s + 1;
			out->w = (in->w + 2 * op->p - op->k) / op->s + 1;
			break;
		case STP_OP_ADD:
		case STP_OP_CONCAT:
			out->h = in->h;
			out->w = in->w;
			break;
		case STP_OP_RESIZE_NEAREST:
		case STP_OP_RESIZE_BILINEAR:
			out->h = shapes[op->in2].h;
			out->w = shapes[op->in2].w;
			break;
		case STP_OP_GLOBAL_AVGPOOL:
			out->h = out->w = 1;
			break;
		case STP_OP_SPARSE_BLOCK: {
			/* temps: each conv's output along the chain, then the shortcut */
			const struct stp_sparse_block *sb = op->sparse;
			struct stp_shape cur = *in;
			for (int j = 0; j < sb->nconvs; j++) {
				struct stp_shape *t = &shapes[op->temps[j]];
				if (!stp_conv_output_size(stp_conv_get_desc(sb->conv[j]), cur.h, cur.w,
							  &t->h, &t->w))
					return STP_ERR_INVALID_ARG;
				t->c = plan->value_channels[op->temps[j]];
				cur = *t;
			}
			out->h = cur.h;
			out->w = cur.w;
			if (sb->downsample)
				shapes[op->temps[sb->nconvs]] = (struct stp_shape){cur.h, cur.w, out->c};
			break;
		}
		}
		if (op->kind == STP_OP_CONV && op->gated &&
		    (shapes[op->mask_logits].h != out->h || shapes[op->mask_logits].w != out->w))
			return STP_ERR_INVALID_ARG;
		if (op->in2 >= 0 &&
		    (op->kind == STP_OP_ADD || op->kind == STP_OP_CONV || op->kind == STP_OP_CONCAT) &&
		    (shapes[op->in2].h != out->h || shapes[op->in2].w != out->w))
			return STP_ERR_INVALID_ARG;
	}
	return STP_OK;
}

struct placement {
	int value;
	size_t bytes;
	int first, last;  /* lifetime in op indices */
};

static int by_size_desc(const void *a, const void *b)
{
	const struct placement *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->value - y->value;
}

size_t stp_plan_layout(const struct stp_plan *plan, const struct stp_shape *shapes,
		       size_t *offsets)
{
	const int n = plan->nvalues;
	struct placement *p = stp_zalloc((size_t)n, sizeof(*p));
	int *placed = stp_zalloc((size_t)n, sizeof(int));
	size_t arena = 0;
	int nplaced = 0, ok = 1;

	if (!p || !placed) {
		arena = 0;
		goto out;
	}
	for (int v = 0; v < n; v++) {
		size_t px;
		p[v].value = v;
		p[v].first = p[v].last = -1;
		if (!stp_mul_size((size_t)shapes[v].h * shapes[v].w, (size_t)shapes[v].c, &px) ||
		    !stp_mul_size(px, sizeof(float), &p[v].bytes))
			ok = 0;
		/* Round to the alignment so every value starts aligned. */
		p[v].bytes = (p[v].bytes + STP_ALIGN - 1) / STP_ALIGN * STP_ALIGN;
	}
	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		p[op->out].first = i;
		p[op->out].last = i;
		for (int t = 0; t < op->ntemps; t++)
			p[op->temps[t]].first = p[op->temps[t]].last = i;
		if (p[op->in].last < i)
			p[op->in].last = i;
		if (op->in2 >= 0 && p[op->in2].last < i)
			p[op->in2].last = i;
	}
	for (int o = 0; o < plan->noutputs; o++)
		p[plan->outputs[o]].last = plan->nops;
	for (int k = 0; k < plan->nkept; k++)
		p[plan->kept[k]].last = plan->nops;
	for (int v = 1; v < n; v++) {
		struct placement *r = &p[plan->value_root[v]];
		if (plan->value_root[v] == v || p[v].first < 0)
			continue;
		if (r->first < 0 || p[v].first < r->first)
			r->first = p[v].first;
		if (p[v].last > r->last)
			r->last = p[v].last;
	}
	if (!ok)
		goto out;
	qsort(p, (size_t)n, sizeof(*p), by_size_desc);
	for (int i = 0; i < n; i++) {
		size_t offset = 0;
		if (p[i].value == 0 || p[i].first < 0 || plan->value_root[p[i].value] != p[i].value)
			continue;  /* the input is the caller's; unused values and views get none */
		/* Lowest offset clear of every placed value alive at the same time:
		 * scan until no conflict moves it (each move is past a conflict). */
		for (int moved = 1; moved;) {
			moved = 0;
			for (int j = 0; j < nplaced; j++) {
				const struct placement *q = &p[placed[j]];
				const size_t qo = offsets[q->value];
				if (q->last < p[i].first || p[i].last < q->first)
					continue;
				if (offset < qo + q->bytes && qo < offset + p[i].bytes) {
					offset = qo + q->bytes;
					moved = 1;
				}
			}
		}
		offsets[p[i].value] = offset;
		placed[nplaced++] = i;
		if (offset + p[i].bytes > arena)
			arena = offset + p[i].bytes;
	}
	for (int v = 1; v < n; v++)
		offsets[v] = offsets[plan->value_root[v]];
out:
	free(p);
	free(placed);
	return ok ? arena : 0;
}

/*
 * scratch.c - every byte a session's run needs, allocated before the run
 * (ggml's plan work size). At a new network input size, or a new thread
 * count, the session lays out the plan's values in one arena and sizes the
 * masks' stores, the sparse blocks' shared scratch, the convs' tile tables,
 * the interpolation buffer and the detection heads' states for the most a
 * run at that size can use; at a new image size, also the preprocessed
 * input and the segmentation head's state. A run then allocates nothing
 * (tests/unit/test-faults.c counts it), and stp_session_workspace_bytes is
 * the total. Buffers are sized anew only when their size changes.
 */
#include <string.h>

#include "../heads/heads.h"
#include "image-input.h"
#include "scratch.h"

/* Frees the sparse scratch sized by cells (not the interpolation buffer,
 * which size_interp_buffer sizes apart). */
static void free_sparse_scratch(struct stp_sparse_scratch *sc)
{
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++) {
		stp_free(sc->logits[m]);
		stp_free(sc->mask[m]);
		stp_free(sc->list[m]);
		sc->logits[m] = NULL;
		sc->mask[m] = NULL;
		sc->list[m] = NULL;
	}
	stp_free(sc->targets);
	stp_free(sc->need);
	stp_free(sc->rank);
	stp_free(sc->partials);
	sc->targets = NULL;
	sc->need = NULL;
	sc->rank = NULL;
	sc->partials = NULL;
	sc->partials_for = NULL;
}

void stp_scratch_free(struct stp_session *s)
{
	free_sparse_scratch(&s->sparse);
	stp_interp_buffer_free(&s->sparse.interp_rows);
	stp_free(s->arena);
	stp_free(s->conv.tables);
	stp_free(s->mask_store);
	stp_free(s->list_store);
	stp_free(s->mask_rank);
	stp_free(s->image_input);
	stp_detect_state_destroy(s->detect_state);
	stp_segment_state_destroy(s->segment_state);
	stp_gfl_state_destroy(s->gfl_state);
}

/* Bytes of the sparse scratch per cell of a block's input. */
#define SPARSE_BYTES_PER_CELL                                                             \
	(STP_BLOCK_MAX_MASKS * (STP_BLOCK_MAX_MASKS * sizeof(float) + 1 + sizeof(int32_t)) + \
	 sizeof(int32_t) + 1 + STP_BLOCK_MAX_MASKS * sizeof(float) +                         \
	 9 * STP_BLOCK_MAX_MASKS * sizeof(float))

/* Sizes the sparse scratch for blocks whose input has at most `cells` cells
 * (masks and every map inside a block are no larger than its input). */
static enum stp_status size_sparse_scratch(struct stp_session *s, size_t cells)
{
	struct stp_sparse_scratch *sc = &s->sparse;

	if (cells <= s->sparse_cells)
		return STP_OK;
	free_sparse_scratch(sc);
	s->sparse_cells = 0;
	for (int m = 0; m < STP_BLOCK_MAX_MASKS; m++) {
		sc->logits[m] = stp_malloc(cells * STP_BLOCK_MAX_MASKS * sizeof(float));
		sc->mask[m] = stp_malloc(cells);
		sc->list[m] = stp_malloc(cells * sizeof(int32_t));
		if (!sc->logits[m] || !sc->mask[m] || !sc->list[m])
			return STP_ERR_NOMEM;
	}
	sc->targets = stp_malloc(cells * sizeof(int32_t));
	sc->need = stp_malloc(cells);
	sc->rank = stp_malloc(cells * STP_BLOCK_MAX_MASKS * sizeof(float));
	sc->partials = stp_malloc(cells * 9 * STP_BLOCK_MAX_MASKS * sizeof(float));
	if (!sc->targets || !sc->need || !sc->rank || !sc->partials)
		return STP_ERR_NOMEM;
	s->sparse_cells = cells;
	return STP_OK;
}

/* Sizes the sparse scratch and the store of every mask for the current
 * shapes. */
static enum stp_status size_mask_store(struct stp_session *s)
{
	const struct stp_plan *plan = &s->model->plan;
	size_t total = 0, largest = 0;
	uint8_t *store;
	int32_t *lists;
	float *rank;

	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *in = &s->shapes[op->in];
		enum stp_status st;
		if (op->kind == STP_OP_MASK) {
			const struct stp_shape *o = &s->shapes[op->out];
			s->mask_h[op->mask] = o->h;
			s->mask_w[op->mask] = o->w;
			s->mask_offset[op->mask] = total;
			total += (size_t)o->h * o->w;
			if ((size_t)o->h * o->w > largest)
				largest = (size_t)o->h * o->w;
			continue;
		}
		if (op->kind != STP_OP_SPARSE_BLOCK)
			continue;
		st = size_sparse_scratch(s, (size_t)in->h * in->w);
		if (st != STP_OK)
			return st;
		for (int m = 0; m < op->sparse->nmasks; m++) {
			const int idx = (int)op->sparse->mask_index + m;
			stp_sparse_block_mask_size(op->sparse, m, in->h, in->w, &s->mask_h[idx],
						   &s->mask_w[idx]);
			s->mask_offset[idx] = total;
			total += (size_t)s->mask_h[idx] * s->mask_w[idx];
		}
	}
	store = stp_realloc(s->mask_store, total ? total : 1);
	if (!store)
		return STP_ERR_NOMEM;
	s->mask_store = store;
	lists = stp_realloc(s->list_store, (total ? total : 1) * sizeof(int32_t));
	if (!lists)
		return STP_ERR_NOMEM;
	s->list_store = lists;
	rank = stp_realloc(s->mask_rank, (largest ? largest : 1) * sizeof(float));
	if (!rank)
		return STP_ERR_NOMEM;
	s->mask_rank = rank;
	s->mask_store_bytes = (total ? total : 1) * (1 + sizeof(int32_t)) +
			      (largest ? largest : 1) * sizeof(float);
	return STP_OK;
}

/* The values' shapes, the arena and the masks' stores for an h x w input. */
static enum stp_status reshape(struct stp_session *s, int h, int w)
{
	const struct stp_plan *plan = &s->model->plan;
	enum stp_status st;
	size_t bytes;

	if (s->h == h && s->w == w)
		return STP_OK;
	s->h = s->w = 0;
	st = stp_plan_shapes(plan, h, w, s->shapes);
	if (st != STP_OK)
		return st;
	st = size_mask_store(s);
	if (st != STP_OK)
		return st;
	bytes = stp_plan_layout(plan, s->shapes, s->offsets);
	if (bytes == 0)
		return STP_ERR_NOMEM;
	if (bytes != s->arena_bytes) {
		stp_free(s->arena);
		s->arena_bytes = 0;
		s->arena = stp_alloc(bytes);
		if (!s->arena)
			return STP_ERR_NOMEM;
		s->arena_bytes = bytes;
	}
	s->h = h;
	s->w = w;
	return STP_OK;
}

/* Sizes the tile tables of every conv run for `threads` threads. */
static enum stp_status size_conv_tables(struct stp_session *s, int threads)
{
	const size_t bytes = (size_t)threads * s->model->plan.table_bytes + 64;

	if (bytes != s->conv.table_bytes) {
		stp_free(s->conv.tables);
		s->conv.table_bytes = 0;
		s->conv.tables = stp_alloc(bytes);
		if (!s->conv.tables)
			return STP_ERR_NOMEM;
		s->conv.table_bytes = bytes;
	}
	return STP_OK;
}

/* Sizes the interpolation buffer for every op that interpolates (sparse
 * blocks, gated convs with a fill) at the current shapes. */
static enum stp_status size_interp_buffer(struct stp_session *s, int threads)
{
	const struct stp_plan *plan = &s->model->plan;
	size_t most = 0;

	for (int i = 0; i < plan->nops; i++) {
		const struct stp_op *op = &plan->ops[i];
		const struct stp_shape *in = &s->shapes[op->in], *out = &s->shapes[op->out];
		size_t floats = 0;

		if (op->kind == STP_OP_SPARSE_BLOCK)
			floats = stp_sparse_block_interp_floats(op->sparse, in->h, in->w, threads);
		else if (op->kind == STP_OP_CONV && op->gated && op->fill)
			floats = stp_interp_buffer_floats(op->fill, out->w, out->c, threads);
		most = floats > most ? floats : most;
	}
	return stp_interp_buffer_reserve(&s->sparse.interp_rows, most);
}

/* Sizes the detection heads' states for the current shapes and pool. */
static enum stp_status size_detect_states(struct stp_session *s, size_t *bytes)
{
	const stp_model *m = s->model;

	*bytes = 0;
	if (m->detect)
		return stp_detect_state_reserve(m->detect, &s->values, &s->detect_state, bytes);
	if (m->gfl)
		return stp_gfl_state_reserve(m->gfl, &s->values, &s->gfl_state, bytes);
	return STP_OK;
}

enum stp_status stp_scratch_for_input(struct stp_session *s, int h, int w)
{
	const struct stp_plan *plan = &s->model->plan;
	struct stp_threadpool *pool = s->engine->pool;
	const int threads = stp_threadpool_threads(pool);
	size_t head_bytes;
	enum stp_status st;

	if (s->h == h && s->w == w && s->scratch_threads == threads)
		return STP_OK;
	s->ran = 0;
	s->ran_tasks = 0;
	s->scratch_threads = 0;
	st = reshape(s, h, w);
	if (st == STP_OK)
		st = size_conv_tables(s, threads);
	if (st == STP_OK)
		st = size_interp_buffer(s, threads);
	if (st != STP_OK)
		return st;
	s->values = (struct stp_run_values){plan, s->shapes, s->offsets, s->arena, NULL,
					    s->list_store, s->mask_offset, s->sampled, pool};
	st = size_detect_states(s, &head_bytes);
	if (st != STP_OK)
		return st;
	s->network_bytes = s->arena_bytes + (plan->zero_floats + 64) * sizeof(float) +
			   s->mask_store_bytes + s->sparse_cells * SPARSE_BYTES_PER_CELL +
			   s->conv.table_bytes + s->sparse.interp_rows.floats * sizeof(float) +
			   head_bytes;
	s->scratch_threads = threads;
	return STP_OK;
}

enum stp_status stp_scratch_for_image(struct stp_session *s, const struct stp_image_geometry *g)
{
	const size_t floats = stp_image_input_floats(g);
	size_t segment_bytes = 0;
	enum stp_status st;

	if (s->image_h != g->h || s->image_w != g->w) {
		s->ran_tasks = 0;
		s->image_h = s->image_w = 0;
		if (floats > s->image_input_floats) {
			stp_free(s->image_input);
			s->image_input_floats = 0;
			s->image_input = stp_malloc(floats * sizeof(float));
			if (!s->image_input)
				return STP_ERR_NOMEM;
			s->image_input_floats = floats;
		}
		if (s->model->segment) {
			st = stp_segment_state_reserve(s->model->segment, g, &s->segment_state,
						       &segment_bytes);
			if (st != STP_OK)
				return st;
		}
		s->image_bytes = s->image_input_floats * sizeof(float) + segment_bytes;
		s->image_h = g->h;
		s->image_w = g->w;
	}
	return stp_scratch_for_input(s, g->ph, g->pw);
}

enum stp_status stp_session_reserve(stp_session *s, int h, int w)
{
	struct stp_image_geometry g;
	enum stp_status st;

	if (!s || h < 1 || w < 1 || h > 65536 || w > 65536)
		return STP_ERR_INVALID_ARG;
	if (s->model->arch.in_channels != 3)
		return STP_ERR_UNSUPPORTED;
	st = stp_image_geometry_of(s->model, h, w, &g);
	return st == STP_OK ? stp_scratch_for_image(s, &g) : st;
}

size_t stp_session_workspace_bytes(const stp_session *s)
{
	if (!s)
		return 0;
	return (s->h ? s->network_bytes : 0) + (s->image_h ? s->image_bytes : 0);
}

/*
 * interp.c - the interpolation module at listed cells (see interp.h).
 *
 * Each target walks the kernel's taps that can matter (list_taps) on the
 * byte mask once and lists its sampled neighbours with weight
 * W/(sum W + epsilon) in a small array on the stack: the normaliser is per
 * target, shared by all channels, and a window with no sample gives an
 * empty list (the module's ~0 output, as in the reference). The GATHER
 * micro-kernel then runs over that list at once
 * (vectorised over channels for the engine's ISA) with the bias / residual
 * / ReLU epilogue fused. Tasks are chunks of targets; no per-target state
 * outlives its gather, so nothing is stored between the two steps. A whole
 * output larger than the caches is written with streaming stores.
 *
 * The separable form (kernels with W(dy, dx) = u(dy) v(dx), r = the kept
 * taps' reach) runs the same GATHER micro-kernel twice: along each row
 * over its sampled cells with weights v (a working row per map row, in a
 * ring of 2r + 1 rows per thread, with each cell's sum of v M), then at
 * each target down the column of working rows with weights u / normaliser
 * and the epilogue; the normaliser is the same sum of u times those sums,
 * plus the epsilon, so an empty window still gives ~0. Tasks are bands of
 * output rows; a band recomputes the r working rows above and below it.
 *
 * With dots (interp.h), the GATHER micro-kernel also copies each output
 * row into a tile of TILE_ROWS consecutive cells in the task's slice of
 * the buffer (ordinary stores, so they stay in cache: L1 up to 512
 * channels, L2 beyond, while the output may be streamed); a full tile goes
 * through the DOTCONV micro-kernel for the dots.
 *
 * Per channel the gather form spends (taps kept) x (sampled share) FMAs
 * per target, the separable one about (2r + 1) x (sampled share) per
 * working-row cell plus 2r + 1 per target. AUTO takes the separable form
 * where its count is clearly the smaller (choose_separable): wide windows
 * (average pooling, small a) on dense masks; for the trained RBF kernels
 * (a near 3, r = 2) never (bench/bench-interp.c measures both).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"

#define TARGETS_PER_TASK 64
#define TILE_ROWS 16         /* cells per tile of dots, a multiple of STP_DOTCONV_MR */
_Static_assert(TILE_ROWS % STP_DOTCONV_MR == 0, "a tile is whole DOTCONV tiles");
#define MIN_BAND_ROWS 8      /* output rows per task of the separable form, at least */

void stp_interp_kernel_rbf(struct stp_interp_kernel *kernel, int k, float a)
{
	const double c = (double)a * a / 2.0, pref = (double)a * a / (2.0 * M_PI);
	kernel->k = k;
	for (int dy = 0; dy < k; dy++)
		for (int dx = 0; dx < k; dx++) {
			const double y = dy - k / 2, x = dx - k / 2;
			kernel->w[dy * k + dx] = (float)(pref * exp(-c * (x * x + y * y)));
		}
}

/* The kernel's taps that can matter, row-major: a tap lighter than
 * NEGLIGIBLE_TAP can never be a source (its normalised weight stays under
 * STP_INTERP_MIN_WEIGHT, since the normaliser is at least the epsilon), and
 * all of them together move the normaliser by less than float32 resolves
 * next to the epsilon. With the trained RBF kernels (a near 3) 21 of the
 * 7x7 window's 49 taps remain. */
#define NEGLIGIBLE_TAP(k) (STP_INTERP_EPSILON * 0x1p-25f / (float)((k) * (k)))

struct interp_taps {
	int n, reach;               /* reach: the largest |dy| or |dx| kept */
	int32_t offset[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW]; /* dy*w + dx */
	int8_t dy[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	int8_t dx[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float w[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
};

struct interp_job {
	struct interp_taps taps;      /* the kernel's taps that can matter */
	const uint8_t *mask;
	const int32_t *targets;       /* NULL: every cell */
	size_t ntargets;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const float *bias;
	unsigned flags;               /* STP_GATHER_* */
	stp_gather_ukernel_fn gather;
	const struct stp_interp_dots *dots;  /* NULL, or the tiles' dots */
	float *tiles;                 /* with dots: per thread a tile of TILE_ROWS rows of cpad floats */
	size_t cpad;                  /* the channels rounded up to 16 */
};

/* With dots, a task's run of consecutive output cells, first .. first + n - 1,
 * waiting in its thread's tile. */
struct dot_tile {
	float *rows;
	size_t n;
	int32_t first;
};

static void list_taps(const struct stp_interp_kernel *kernel, int w, struct interp_taps *taps)
{
	const int k = kernel->k, r = k / 2;
	taps->n = taps->reach = 0;
	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			const float wt = kernel->w[(dy + r) * k + dx + r];
			const int reach = abs(dy) > abs(dx) ? abs(dy) : abs(dx);
			if (wt < NEGLIGIBLE_TAP(k))
				continue;
			taps->offset[taps->n] = dy * w + dx;
			taps->dy[taps->n] = (int8_t)dy;
			taps->dx[taps->n] = (int8_t)dx;
			taps->w[taps->n++] = wt;
			if (reach > taps->reach)
				taps->reach = reach;
		}
}

/* Target p's sources and normalised weights; returns how many. */
static size_t target_sources(const struct interp_job *job, int32_t p, const float **src,
			     float *wt)
{
	const struct interp_taps *taps = &job->taps;
	const struct stp_tensor *in = job->in;
	const int h = in->h, w = in->w, y = p / w, x = p % w, r = taps->reach;
	int32_t cell[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float sum0 = 0.0f, sum1 = 0.0f;
	size_t n = 0, kept = 0;

	if (job->mask[p]) {
		src[0] = in->data + (size_t)p * in->c_stride;
		wt[0] = 1.0f;
		return 1;
	}
	/* Branch-free: whether a tap is sampled is a coin flip the branch
	 * predictor loses; every tap is written and only sampled ones advance
	 * n. Two partial sums halve the chain of dependent adds. */
	if (y >= r && y < h - r && x >= r && x < w - r) {
		const uint8_t *centre = job->mask + p;
		int t = 0;
#define INTERIOR_TAP(acc)                                        \
	do {                                                     \
		const int on = centre[taps->offset[t]] != 0;     \
		cell[n] = p + taps->offset[t];                   \
		wt[n] = taps->w[t];                              \
		acc += on ? taps->w[t] : 0.0f;                   \
		n += (size_t)on;                                 \
		t++;                                             \
	} while (0)
		while (t + 1 < taps->n) {
			INTERIOR_TAP(sum0);
			INTERIOR_TAP(sum1);
		}
		if (t < taps->n)
			INTERIOR_TAP(sum0);
#undef INTERIOR_TAP
	} else {
		for (int t = 0; t < taps->n; t++) {
			const int yy = y + taps->dy[t], xx = x + taps->dx[t];
			int on;
			if (yy < 0 || yy >= h || xx < 0 || xx >= w)
				continue;
			on = job->mask[p + taps->offset[t]] != 0;
			cell[n] = p + taps->offset[t];
			wt[n] = taps->w[t];
			sum0 += on ? taps->w[t] : 0.0f;
			n += (size_t)on;
		}
	}
	/* Normalise, dropping sources too light to matter. */
	{
		const float inv = 1.0f / (sum0 + sum1 + STP_INTERP_EPSILON);
		for (size_t j = 0; j < n; j++) {
			const float wn = wt[j] * inv;
			src[kept] = in->data + (size_t)cell[j] * in->c_stride;
			wt[kept] = wn;
			kept += wn >= STP_INTERP_MIN_WEIGHT;
		}
	}
	return kept;
}

/* The dots of the tile's rows. */
static void flush_tile(const struct interp_job *job, struct dot_tile *tile)
{
	const struct stp_interp_dots *dots = job->dots;
	const size_t c = (size_t)job->in->c, mr = STP_DOTCONV_MR;
	const float *a[TILE_ROWS];
	float *dst[TILE_ROWS];

	if (tile->n == 0)
		return;
	for (size_t r = 0; r < TILE_ROWS; r++) {  /* rows past n repeat the last, as DOTCONV asks */
		const size_t row = r < tile->n ? r : tile->n - 1;
		a[r] = tile->rows + row * job->cpad;
		dst[r] = dots->out + ((size_t)tile->first + row) * dots->n;
	}
	for (size_t r0 = 0; r0 < tile->n; r0 += mr)
		dots->dotconv(tile->n - r0 < mr ? tile->n - r0 : mr, dots->n, c, 1, a + r0, dots->w,
			      dst + r0);
	tile->n = 0;
}

/* Where cell p's output is copied: NULL without dots, else the next row
 * of the tile (cells arrive in order), flushed first when full. */
static float *tile_row(const struct interp_job *job, struct dot_tile *tile, int32_t p)
{
	if (!job->dots)
		return NULL;
	if (tile->n == TILE_ROWS)
		flush_tile(job, tile);
	if (tile->n == 0)
		tile->first = p;
	return tile->rows + tile->n++ * job->cpad;
}

static struct dot_tile thread_tile(const struct interp_job *job, int thread)
{
	struct dot_tile tile = {NULL, 0, 0};
	if (job->dots)
		tile.rows = job->tiles + (size_t)thread * TILE_ROWS * job->cpad;
	return tile;
}

static void interp_task(void *ctx, size_t task, int thread)
{
	const struct interp_job *job = ctx;
	const struct stp_tensor *out = job->out, *res = job->residual;
	const size_t c = (size_t)job->in->c;
	size_t end = (task + 1) * TARGETS_PER_TASK;
	const float *src[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	float wt[STP_INTERP_MAX_WINDOW * STP_INTERP_MAX_WINDOW];
	struct dot_tile tile = thread_tile(job, thread);

	if (end > job->ntargets)
		end = job->ntargets;
	for (size_t i = task * TARGETS_PER_TASK; i < end; i++) {
		const int32_t p = job->targets ? job->targets[i] : (int32_t)i;
		const size_t n = target_sources(job, p, src, wt);
		float *copy = tile_row(job, &tile, p);

		job->gather(c, n, src, wt, job->bias,
			    res ? res->data + (size_t)p * res->c_stride : NULL, job->flags,
			    out->data + (size_t)p * out->c_stride, copy);
	}
	if (job->dots)
		flush_tile(job, &tile);
}

/* The separable form's state: the factors over the kept reach r, the rows
 * per task, and the working rows: per thread a ring of 2r + 1 slots, each
 * w cells of cpad floats, then each slot's w mask sums (thread_floats
 * floats per thread in all). */
struct sep_job {
	const struct interp_job *job;
	int r, band;
	float u[STP_INTERP_MAX_WINDOW], v[STP_INTERP_MAX_WINDOW];
	size_t cpad, thread_floats;
	float *rows;
};

/* Factors the kernel within the reach r about its centre c as
 * W(dy, dx) = u(dy) v(dx), u = W(., c) / sqrt(W(c, c)) and
 * v = W(c, .) / sqrt(W(c, c)); returns 0 when a tap differs from the
 * product by more than float32 rounding of the largest tap. */
static int factor_kernel(const struct stp_interp_kernel *kernel, int r, float *u, float *v)
{
	const int k = kernel->k, c = k / 2;
	const double centre = kernel->w[c * k + c];
	double largest = 0.0;

	if (!(centre > 0.0))
		return 0;
	for (int i = 0; i < k * k; i++)
		if (kernel->w[i] > largest)
			largest = kernel->w[i];
	for (int i = -r; i <= r; i++) {
		u[i + r] = (float)(kernel->w[(c + i) * k + c] / sqrt(centre));
		v[i + r] = (float)(kernel->w[c * k + c + i] / sqrt(centre));
	}
	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			const double tap = kernel->w[(c + dy) * k + c + dx];
			if (fabs(tap - (double)u[dy + r] * v[dx + r]) > 1e-6 * largest)
				return 0;
		}
	return 1;
}

/* Working row of map row y: at each x, the sum over dx of v(dx) M F at
 * (y, x + dx), and in msum[x] that of v(dx) M, the normaliser's share; a
 * cell with no sampled cell in reach has msum 0 and is not written. */
static void horizontal_row(const struct sep_job *sj, int y, float *row, float *msum)
{
	const struct interp_job *job = sj->job;
	const struct stp_tensor *in = job->in;
	const int w = in->w, r = sj->r;
	const uint8_t *m = job->mask + (size_t)y * w;
	const float *src[STP_INTERP_MAX_WINDOW];
	float wt[STP_INTERP_MAX_WINDOW];

	for (int x = 0; x < w; x++) {
		const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r < w ? x + r : w - 1;
		size_t n = 0;
		float sum = 0.0f;
		for (int xx = x0; xx <= x1; xx++) {
			const int on = m[xx] != 0;
			src[n] = in->data + ((size_t)y * w + xx) * in->c_stride;
			wt[n] = sj->v[xx - x + r];
			sum += on ? wt[n] : 0.0f;
			n += (size_t)on;
		}
		msum[x] = n ? sum : 0.0f;
		if (n)
			job->gather((size_t)in->c, n, src, wt, NULL, NULL, 0u,
				    row + (size_t)x * sj->cpad, NULL);
	}
}

/* Index of the first listed target at or after cell p (targets ascending). */
static size_t first_target_from(const int32_t *targets, size_t n, int32_t p)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		const size_t mid = lo + (hi - lo) / 2;
		if (targets[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void separable_task(void *ctx, size_t task, int thread)
{
	const struct sep_job *sj = ctx;
	const struct interp_job *job = sj->job;
	const struct stp_tensor *in = job->in, *out = job->out, *res = job->residual;
	const int h = in->h, w = in->w, r = sj->r, nslots = 2 * r + 1;
	struct dot_tile tile = thread_tile(job, thread);
	const int y0 = (int)task * sj->band, y1 = y0 + sj->band < h ? y0 + sj->band : h;
	float *ring = sj->rows + (size_t)thread * sj->thread_floats;
	float *msum = ring + (size_t)nslots * w * sj->cpad;
	int tag[2 * STP_INTERP_MAX_WINDOW + 1];
	const float *src[2 * STP_INTERP_MAX_WINDOW + 1];
	float wt[2 * STP_INTERP_MAX_WINDOW + 1];
	size_t i, end;

	for (int s = 0; s < nslots; s++)
		tag[s] = -1;
	if (job->targets) {
		i = first_target_from(job->targets, job->ntargets, (int32_t)y0 * w);
		end = first_target_from(job->targets, job->ntargets, (int32_t)y1 * w);
	} else {
		i = (size_t)y0 * w;
		end = (size_t)y1 * w < job->ntargets ? (size_t)y1 * w : job->ntargets;
	}
	for (; i < end; i++) {
		const int32_t p = job->targets ? job->targets[i] : (int32_t)i;
		const int y = p / w, x = p % w;
		size_t n = 0;

		if (job->mask[p]) {
			src[0] = in->data + (size_t)p * in->c_stride;
			wt[0] = 1.0f;
			n = 1;
		} else {
			float sum = 0.0f, inv;
			for (int yy = y - r; yy <= y + r; yy++) {
				int s;
				float ms;
				if (yy < 0 || yy >= h)
					continue;
				s = yy % nslots;
				if (tag[s] != yy) {
					horizontal_row(sj, yy, ring + (size_t)s * w * sj->cpad,
						       msum + (size_t)s * w);
					tag[s] = yy;
				}
				ms = msum[(size_t)s * w + x];
				src[n] = ring + ((size_t)s * w + x) * sj->cpad;
				wt[n] = sj->u[yy - y + r];
				sum += wt[n] * ms;
				n += ms > 0.0f;
			}
			inv = 1.0f / (sum + STP_INTERP_EPSILON);
			for (size_t j = 0; j < n; j++)
				wt[j] *= inv;
		}
		float *copy = tile_row(job, &tile, p);
		job->gather((size_t)in->c, n, src, wt, job->bias,
			    res ? res->data + (size_t)p * res->c_stride : NULL, job->flags,
			    out->data + (size_t)p * out->c_stride, copy);
	}
	if (job->dots)
		flush_tile(job, &tile);
}

/* Whether to run the separable form: asked for (or AUTO and cheaper by the
 * FMA counts of the header comment) and possible (a separable kernel,
 * ascending targets); fills sj's factors. */
static int choose_separable(const struct stp_interp_kernel *kernel, const struct interp_job *job,
			    enum stp_interp_form form, struct sep_job *sj)
{
	const int h = job->in->h, w = job->in->w, r = job->taps.reach;
	size_t sampled = 0, unsampled = 0, rows = 0;

	if (form == STP_INTERP_FORM_GATHER || r < 1 || !factor_kernel(kernel, r, sj->u, sj->v))
		return 0;
	if (job->targets) {
		int32_t row_end = 0;  /* the first cell past the current target's row */
		for (size_t i = 0; i < job->ntargets; i++) {
			const int32_t p = job->targets[i];
			if (i > 0 && p <= job->targets[i - 1])
				return 0;  /* the bands need ascending targets */
			unsampled += !job->mask[p];
			if (p >= row_end) {
				row_end = (p / w + 1) * w;
				rows++;
			}
		}
	} else {
		for (size_t p = 0; p < job->ntargets; p++)
			unsampled += !job->mask[p];
		rows = (job->ntargets + (size_t)w - 1) / (size_t)w;
	}
	if (form == STP_INTERP_FORM_SEPARABLE)
		return 1;
	for (size_t p = 0; p < (size_t)h * w; p++)
		sampled += job->mask[p] != 0;
	{
		const double d = (double)sampled / ((double)h * w);
		const double row_cells = (double)w * (double)(rows * (size_t)(2 * r + 1) < (size_t)h
								  ? rows * (size_t)(2 * r + 1) : (size_t)h);
		const double gather = (double)unsampled * job->taps.n * d;
		const double separable = row_cells * (2 * r + 1) * d + (double)unsampled * (2 * r + 1);
		/* Measured (bench/bench-interp, 1 and 2 threads): at unsampled
		 * cells it wins where its count is under 1/1.5 of the gather's; in
		 * a last pass, which also copies the sampled cells and streams
		 * every cell out, where it is under half. */
		const double margin = unsampled < job->ntargets ? 2.0 : 1.5;
		return margin * separable < gather;
	}
}

enum stp_status stp_interp_buffer_reserve(struct stp_interp_buffer *buffer, size_t floats)
{
	float *p;
	if (floats <= buffer->floats)
		return STP_OK;
	p = stp_alloc(floats * sizeof(float));
	if (!p)
		return STP_ERR_NOMEM;
	stp_free(buffer->data);
	buffer->data = p;
	buffer->floats = floats;
	return STP_OK;
}

/* Floats of one thread's ring of working rows (the separable form). */
static size_t ring_floats(int reach, int w, size_t cpad)
{
	const size_t floats = (size_t)(2 * reach + 1) * (size_t)w * (cpad + 1);
	return (floats + 15) / 16 * 16;   /* keep rows aligned */
}

size_t stp_interp_buffer_floats(const struct stp_interp_kernel *kernel, int w, int c, int threads)
{
	const size_t cpad = ((size_t)c + 15) / 16 * 16;
	struct interp_taps taps;

	list_taps(kernel, w, &taps);
	return (size_t)threads * (TILE_ROWS * cpad + ring_floats(taps.reach, w, cpad));
}

void stp_interp_buffer_free(struct stp_interp_buffer *buffer)
{
	stp_free(buffer->data);
	buffer->data = NULL;
	buffer->floats = 0;
}

enum stp_status stp_interp_apply(const struct stp_interp_kernel *kernel, const uint8_t *mask,
				 const int32_t *targets, size_t ntargets,
				 const struct stp_tensor *in, struct stp_tensor *out,
				 const float *bias, const struct stp_tensor *residual, int relu,
				 struct stp_interp_exec *exec, struct stp_threadpool *pool)
{
	struct interp_job job = {.mask = mask, .targets = targets, .ntargets = ntargets,
				 .in = in, .residual = residual, .out = out, .bias = bias,
				 .flags = relu ? STP_GATHER_RELU : 0u, .gather = exec->gather,
				 .dots = exec->dots, .cpad = ((size_t)in->c + 15) / 16 * 16};
	struct sep_job sj = {.job = &job};
	const int threads = stp_threadpool_threads(pool);
	const size_t tile_floats = exec->dots ? (size_t)threads * TILE_ROWS * job.cpad : 0;

	if (exec->dots && (targets || !exec->buffer))
		return STP_ERR_INVALID_ARG;
	list_taps(kernel, in->w, &job.taps);
	/* A whole large output (a block's last pass) goes around the caches. */
	if (!targets && ntargets * (size_t)out->c_stride * sizeof(float) > STP_STREAM_OUTPUT_BYTES)
		job.flags |= STP_GATHER_STREAM;
	/* The buffer: the tiles, then the separable form's rings. */
	if (exec->buffer && ntargets > 0 && choose_separable(kernel, &job, exec->form, &sj)) {
		enum stp_status st;
		sj.r = job.taps.reach;
		/* Two bands per thread: a band recomputes 2r working rows. */
		sj.band = (in->h + 2 * threads - 1) / (2 * threads);
		if (sj.band < MIN_BAND_ROWS)
			sj.band = MIN_BAND_ROWS;
		sj.cpad = job.cpad;
		sj.thread_floats = ring_floats(sj.r, in->w, sj.cpad);
		st = stp_interp_buffer_reserve(exec->buffer,
					       tile_floats + (size_t)threads * sj.thread_floats);
		if (st != STP_OK)
			return st;
		job.tiles = exec->buffer->data;
		sj.rows = exec->buffer->data + tile_floats;
		exec->used = STP_INTERP_FORM_SEPARABLE;
		stp_threadpool_parallel_for(pool, (size_t)((in->h + sj.band - 1) / sj.band),
					    separable_task, &sj);
		return STP_OK;
	}
	if (tile_floats) {
		enum stp_status st = stp_interp_buffer_reserve(exec->buffer, tile_floats);
		if (st != STP_OK)
			return st;
		job.tiles = exec->buffer->data;
	}
	exec->used = STP_INTERP_FORM_GATHER;
	stp_threadpool_parallel_for(pool, (ntargets + TARGETS_PER_TASK - 1) / TARGETS_PER_TASK,
				    interp_task, &job);
	return STP_OK;
}

/*
 * conv.c - 2-D convolution as indirect GEMM over a list of output pixels.
 *
 * Packing (once, at model load): weights become, per group and per block of
 * NR output channels, NR biases followed by [tap][input channel][NR].
 *
 * Running: output pixels are cut into tiles of MR; for each tile a small
 * pointer table (taps x MR) is built on the stack, pointing each tap at its
 * input pixel or at the shared zero row, and the micro-kernel computes MR x NR
 * outputs from it. Dense convolution is the case where the pixel list is
 * 0..oh*ow-1; a sparse one passes its list and the kernel stores straight to
 * the listed pixels. Work is split over (group, channel block, tile range),
 * block-major so that threads share a block's weights.
 *
 * Row patches: with few input channels (the stem's 7x7 conv over RGB has 3
 * per tap) the micro-kernel would run 49 taps of 3 channels each. When the
 * input's pixels are contiguous, a kernel row's kw taps are kw*cin
 * consecutive floats, and the packed [tap][channel] weights are already
 * [kernel row][kw*cin], so the conv runs as kh taps of kw*cin channels.
 * Tiles whose kernel rows cross the left or right border read a copy
 * padded with zeros.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "conv-impl.h"

#define MAX_MR STP_IGEMM_MAX_MR
#define MAX_TAPS 64  /* 7x7 = 49 is the largest kernel we build */
/* Row patches for convs with fewer input channels than this, whose kernel
 * rows span at most ROW_PATCH_MAX floats. */
#define ROW_PATCH_CIN 8
#define ROW_PATCH_MAX 64

static int is_depthwise(const struct stp_conv_desc *d)
{
	return d->groups > 1 && d->groups == d->cin && d->groups == d->cout;
}

static int is_few_channels(const struct stp_conv_desc *d)
{
	return d->groups == 1 && d->cout <= STP_DOTCONV_MAX_NC;
}

static int desc_valid(const struct stp_conv_desc *d)
{
	if (d->cin < 1 || d->cout < 1 || d->groups < 1 || d->cin % d->groups ||
	    d->cout % d->groups)
		return 0;
	if (d->kh < 1 || d->kw < 1 || d->kh * d->kw > MAX_TAPS)
		return 0;
	if (d->sh < 1 || d->sw < 1 || d->dh < 1 || d->dw < 1 || d->ph < 0 || d->pw < 0)
		return 0;
	if (!(d->slope >= 0.0f && d->slope <= 1.0f))
		return 0;
	return d->cin <= (1 << 20) && d->cout <= (1 << 20) && d->sh <= 64 &&
	       d->sw <= 64 && d->dh <= 64 && d->dw <= 64 && d->ph <= 1024 && d->pw <= 1024;
}

int stp_conv_output_size(const struct stp_conv_desc *d, int h, int w, int *oh, int *ow)
{
	long eh = (long)d->dh * (d->kh - 1) + 1, ew = (long)d->dw * (d->kw - 1) + 1;
	long ph = (long)h + 2L * d->ph - eh, pw = (long)w + 2L * d->pw - ew;
	if (h < 1 || w < 1 || ph < 0 || pw < 0)
		return 0;
	*oh = (int)(ph / d->sh + 1);
	*ow = (int)(pw / d->sw + 1);
	return 1;
}

static enum stp_status pack_igemm(struct stp_conv *conv, const float *weight,
				  const float *bias)
{
	const struct stp_conv_desc *d = &conv->desc;
	const size_t nr = conv->ukernel.nr, ks = conv->ks;
	size_t total;

	conv->nblocks = ((size_t)conv->cout_g + nr - 1) / nr;
	conv->block_floats = nr + ks * (size_t)conv->cin_g * nr;
	if (!stp_mul_size(conv->block_floats, conv->nblocks * (size_t)d->groups, &total))
		return STP_ERR_NOMEM;
	conv->packed = stp_calloc(total, sizeof(float));
	if (!conv->packed)
		return STP_ERR_NOMEM;
	for (int g = 0; g < d->groups; g++) {
		for (size_t b = 0; b < conv->nblocks; b++) {
			float *dst = conv->packed + ((size_t)g * conv->nblocks + b) * conv->block_floats;
			for (size_t n = 0; n < nr; n++) {
				size_t o = b * nr + n;
				if (o < (size_t)conv->cout_g && bias)
					dst[n] = bias[(size_t)g * conv->cout_g + o];
			}
			dst += nr;
			for (size_t t = 0; t < ks; t++) {
				for (int i = 0; i < conv->cin_g; i++, dst += nr) {
					for (size_t n = 0; n < nr; n++) {
						size_t o = b * nr + n;
						if (o >= (size_t)conv->cout_g)
							continue;
						o += (size_t)g * conv->cout_g;
						dst[n] = weight[(o * conv->cin_g + i) * ks + t];
					}
				}
			}
		}
	}
	return STP_OK;
}

static enum stp_status pack_depthwise(struct stp_conv *conv, const float *weight,
				      const float *bias)
{
	const size_t c = (size_t)conv->desc.cout, ks = conv->ks;
	conv->dw_weights = stp_calloc((ks + 1) * c, sizeof(float));
	if (!conv->dw_weights)
		return STP_ERR_NOMEM;
	for (size_t t = 0; t < ks; t++)
		for (size_t ch = 0; ch < c; ch++)
			conv->dw_weights[t * c + ch] = weight[ch * ks + t];
	if (bias)
		memcpy(conv->dw_weights + ks * c, bias, c * sizeof(float));
	return STP_OK;
}

static enum stp_status pack_dot(struct stp_conv *conv, const float *weight,
				const float *bias, const struct stp_kernels *kernels)
{
	const size_t wn = (size_t)conv->desc.cout * conv->ks * conv->cin_g;
	conv->dot_weights = stp_calloc(wn + (size_t)conv->desc.cout, sizeof(float));
	if (!conv->dot_weights)
		return STP_ERR_NOMEM;
	/* OIHW is already [cout][cin][tap]; the kernel wants [cout][tap][cin]. */
	for (int o = 0; o < conv->desc.cout; o++)
		for (int i = 0; i < conv->cin_g; i++)
			for (size_t t = 0; t < conv->ks; t++)
				conv->dot_weights[((size_t)o * conv->ks + t) * conv->cin_g + i] =
					weight[((size_t)o * conv->cin_g + i) * conv->ks + t];
	if (bias)
		memcpy(conv->dot_weights + wn, bias, (size_t)conv->desc.cout * sizeof(float));
	conv->dotconv = kernels->dotconv;
	return STP_OK;
}

enum stp_status stp_conv_create(const struct stp_conv_desc *desc,
				const float *weight, const float *bias,
				const struct stp_kernels *kernels,
				struct stp_conv **out)
{
	struct stp_conv *conv;
	enum stp_status st;

	*out = NULL;
	if (!desc_valid(desc) || !weight)
		return STP_ERR_INVALID_ARG;
	conv = stp_zalloc(1, sizeof(*conv));
	if (!conv)
		return STP_ERR_NOMEM;
	conv->desc = *desc;
	conv->cin_g = desc->cin / desc->groups;
	conv->cout_g = desc->cout / desc->groups;
	conv->ks = (size_t)desc->kh * desc->kw;
	conv->ukernel = stp_kernels_igemm_for(kernels, conv->cout_g);
	if (is_depthwise(desc))
		st = pack_depthwise(conv, weight, bias);
	else if (is_few_channels(desc))
		st = pack_dot(conv, weight, bias, kernels);
	else
		st = pack_igemm(conv, weight, bias);
	if (st != STP_OK) {
		stp_conv_destroy(conv);
		return st;
	}
	*out = conv;
	return STP_OK;
}

void stp_conv_destroy(struct stp_conv *conv)
{
	if (!conv)
		return;
	stp_free(conv->packed);
	stp_free(conv->dw_weights);
	stp_free(conv->dot_weights);
	free(conv);
}

const struct stp_conv_desc *stp_conv_get_desc(const struct stp_conv *conv)
{
	return &conv->desc;
}

/* Whether conv can run on row patches (see the top of this file). */
static int has_row_patches(const struct stp_conv *conv)
{
	const struct stp_conv_desc *d = &conv->desc;
	return conv->packed && d->groups == 1 && d->kw > 1 && d->dw == 1 &&
	       d->cin < ROW_PATCH_CIN && d->kw * d->cin <= ROW_PATCH_MAX;
}

size_t stp_conv_zero_floats(const struct stp_conv *conv)
{
	if (has_row_patches(conv))
		return (size_t)conv->desc.kw * conv->desc.cin;
	return (size_t)conv->cin_g;
}

/* Output pixels per task chunk: its partial sums (chunk x NR floats) and
 * the input it reads stay in L2 while the reduction slices go by. */
#define CHUNK_TILES 32

/* Pointer tables of a chunk of tiles, then (row patches) the patches. */
static size_t table_pointer_bytes(size_t threads, size_t tiles, size_t taps, size_t mr)
{
	return threads * tiles * (taps + 2) * mr * sizeof(float *);
}

static size_t table_patch_bytes(size_t threads, size_t tiles, size_t taps, size_t tap_floats,
				size_t mr)
{
	return threads * tiles * mr * taps * tap_floats * sizeof(float);
}

size_t stp_conv_table_bytes(const struct stp_conv *conv)
{
	const struct stp_conv_desc *d = &conv->desc;
	const size_t mr = conv->ukernel.mr;
	size_t bytes;

	if (conv->dw_weights || conv->dot_weights)
		return 0;
	bytes = table_pointer_bytes(1, CHUNK_TILES, conv->ks, mr);   /* ks >= kh */
	if (has_row_patches(conv))
		bytes += table_patch_bytes(1, CHUNK_TILES, (size_t)d->kh, (size_t)d->kw * d->cin, mr);
	return bytes;
}

/* Reduction rows (taps x input channels) per slice: a slice's weights,
 * SLICE_ROWS x NR floats (64 KiB at NR = 64), stay in L1/L2 while every
 * tile of the chunk uses them. */
#define SLICE_ROWS 256

struct igemm_job {
	const struct stp_conv *conv;
	const struct stp_tensor *in, *residual;
	struct stp_tensor *out;
	const int32_t *pixels;     /* NULL: all pixels */
	size_t npixels;
	size_t ntiles;             /* ceil(npixels / MR) */
	size_t tiles_per_chunk;
	size_t nchunks;
	size_t nblocks_total;      /* groups * blocks per group */
	int block_major;           /* task order: blocks outside (weights stay) or chunks outside */
	int stream;                /* output too big for the caches: bypass them */
	size_t taps, tap_floats;   /* the reduction as the kernel sees it: ks x cin_g,
				    * or kh x kw*cin on row patches */
	float *patches;            /* row patches: per thread, MR x kh x kw*cin per
				    * tile of a chunk; NULL: taps as they are */
	size_t patch_per_thread;   /* floats */
	size_t taps_per_slice;     /* slices: taps_per_slice whole taps, or (when
				    * 0) one tap cut into channel ranges of: */
	size_t chans_per_slice;
	const float *zero;
	ptrdiff_t tap_off[MAX_TAPS]; /* floats from a window's first tap to tap t, for
				      * windows wholly inside the input */
	const float **scratch;     /* per thread: the chunk's pointer tables */
	size_t scratch_per_thread; /* pointers */
};

/* Row-patch pointers of output pixel (oy, ox) in row i of a tile: each
 * kernel row's kw*cin floats in place, or copied with zeros where the row
 * crosses the border into patch (kh x kw*cin floats), or the zero row. */
static void row_patch_taps(const struct igemm_job *job, int oy, int ox, size_t i,
			   const float **a, float *patch)
{
	const struct stp_conv_desc *d = &job->conv->desc;
	const struct stp_tensor *in = job->in;
	const size_t mr_max = job->conv->ukernel.mr, span = job->tap_floats;
	const int iy0 = oy * d->sh - d->ph, ix0 = ox * d->sw - d->pw;
	const int inside = ix0 >= 0 && ix0 + d->kw <= in->w;

	for (int ky = 0; ky < d->kh; ky++) {
		const int iy = iy0 + ky * d->dh;
		if (iy < 0 || iy >= in->h) {
			a[(size_t)ky * mr_max + i] = job->zero;
		} else if (inside) {
			a[(size_t)ky * mr_max + i] = in->data + ((size_t)iy * in->w + ix0) * in->c_stride;
		} else {
			float *dst = patch + (size_t)ky * span;
			for (int kx = 0; kx < d->kw; kx++) {
				const int ix = ix0 + kx;
				for (int c = 0; c < d->cin; c++)
					dst[kx * d->cin + c] =
						ix >= 0 && ix < in->w
							? in->data[((size_t)iy * in->w + ix) * in->c_stride + c]
							: 0.0f;
			}
			a[(size_t)ky * mr_max + i] = dst;
		}
	}
}

/* Pointer tables of one tile: a (taps x MR), then c (MR), then r (MR);
 * patch: the tile's row-patch space (with job->patches). */
static void build_tile(const struct igemm_job *job, size_t tile, size_t g, size_t b,
		       const float **a, float **c, const float **r, float *patch)
{
	const struct stp_conv *conv = job->conv;
	const struct stp_conv_desc *d = &conv->desc;
	const struct stp_tensor *in = job->in, *out = job->out;
	const size_t mr_max = conv->ukernel.mr, nr = conv->ukernel.nr;
	const size_t in_off = g * (size_t)conv->cin_g;
	const size_t out_off = g * (size_t)conv->cout_g + b * nr;
	const size_t p0 = tile * mr_max;
	const size_t mr = job->npixels - p0 < mr_max ? job->npixels - p0 : mr_max;
	const int last_y = (d->kh - 1) * d->dh, last_x = (d->kw - 1) * d->dw;
	int oy = 0, ox = 0;

	if (!job->pixels) {  /* consecutive pixels: one division per tile */
		oy = (int)(p0 / (size_t)out->w);
		ox = (int)(p0 % (size_t)out->w);
	}
	for (size_t i = 0; i < mr_max; i++) {
		const size_t q = p0 + (i < mr ? i : mr - 1);
		const size_t p = job->pixels ? (size_t)job->pixels[q] : q;
		int iy0, ix0;
		size_t t = 0;

		if (job->pixels) {
			oy = (int)(p / (size_t)out->w);
			ox = (int)(p % (size_t)out->w);
		} else if (i > 0 && i < mr && ++ox == out->w) {
			ox = 0;
			oy++;
		}
		iy0 = oy * d->sh - d->ph;
		ix0 = ox * d->sw - d->pw;
		c[i] = out->data + p * out->c_stride + out_off;
		if (job->residual)
			r[i] = job->residual->data + p * job->residual->c_stride + out_off;
		if (job->patches) {
			row_patch_taps(job, oy, ox, i, a, patch + i * job->taps * job->tap_floats);
			continue;
		}
		if (iy0 >= 0 && ix0 >= 0 && iy0 + last_y < in->h && ix0 + last_x < in->w) {
			const float *base = in->data + ((size_t)iy0 * in->w + ix0) * in->c_stride + in_off;
			for (t = 0; t < conv->ks; t++)
				a[t * mr_max + i] = base + job->tap_off[t];
			continue;
		}
		for (int ky = 0; ky < d->kh; ky++) {
			const int iy = iy0 + ky * d->dh;
			for (int kx = 0; kx < d->kw; kx++, t++) {
				const int ix = ix0 + kx * d->dw;
				a[t * mr_max + i] = (iy >= 0 && iy < in->h && ix >= 0 && ix < in->w)
							    ? in->data + ((size_t)iy * in->w + ix) * in->c_stride + in_off
							    : job->zero;
			}
		}
	}
}

static void igemm_task(void *ctx, size_t task, int thread)
{
	const struct igemm_job *job = ctx;
	const struct stp_conv *conv = job->conv;
	const size_t mr_max = conv->ukernel.mr, nr = conv->ukernel.nr, ks = job->taps;
	const size_t kc = job->tap_floats;
	const size_t gb = job->block_major ? task / job->nchunks : task % job->nblocks_total;
	const size_t chunk = job->block_major ? task % job->nchunks : task / job->nblocks_total;
	const size_t g = gb / conv->nblocks, b = gb % conv->nblocks;
	const size_t tile_begin = chunk * job->tiles_per_chunk;
	const size_t tile_end = tile_begin + job->tiles_per_chunk < job->ntiles
					? tile_begin + job->tiles_per_chunk : job->ntiles;
	const float *block = conv->packed + gb * conv->block_floats;
	const size_t nc = (size_t)conv->cout_g - b * nr < nr ? (size_t)conv->cout_g - b * nr : nr;
	const size_t per_tile = (ks + 2) * mr_max;
	const float **table = job->scratch + (size_t)thread * job->scratch_per_thread;
	const size_t nslices = job->taps_per_slice ? (ks + job->taps_per_slice - 1) / job->taps_per_slice
						   : ks * ((kc + job->chans_per_slice - 1) / job->chans_per_slice);

	float *patches = job->patches ? job->patches + (size_t)thread * job->patch_per_thread : NULL;

	for (size_t tile = tile_begin; tile < tile_end; tile++) {
		const float **a = table + (tile - tile_begin) * per_tile;
		build_tile(job, tile, g, b, a, (float **)(a + ks * mr_max), a + (ks + 1) * mr_max,
			   patches ? patches + (tile - tile_begin) * mr_max * ks * kc : NULL);
	}
	for (size_t sl = 0; sl < nslices; sl++) {
		size_t t0, taps, k0, kn;
		unsigned flags = sl > 0 ? STP_IGEMM_ACCUMULATE : 0;
		const int last = sl == nslices - 1;
		if (job->taps_per_slice) {
			t0 = sl * job->taps_per_slice;
			taps = ks - t0 < job->taps_per_slice ? ks - t0 : job->taps_per_slice;
			k0 = 0;
			kn = kc;
		} else {
			const size_t per_tap = (kc + job->chans_per_slice - 1) / job->chans_per_slice;
			t0 = sl / per_tap;
			taps = 1;
			k0 = (sl % per_tap) * job->chans_per_slice;
			kn = kc - k0 < job->chans_per_slice ? kc - k0 : job->chans_per_slice;
		}
		if (last && conv->desc.relu)
			flags |= STP_IGEMM_RELU;
		if (last && job->stream)
			flags |= STP_IGEMM_STREAM;
		for (size_t tile = tile_begin; tile < tile_end; tile++) {
			const float **a = table + (tile - tile_begin) * per_tile;
			const size_t p0 = tile * mr_max;
			const size_t mr = job->npixels - p0 < mr_max ? job->npixels - p0 : mr_max;
			conv->ukernel.fn(mr, nc, kn, taps, a + t0 * mr_max, k0, block,
					 block + nr + (t0 * kc + k0) * nr,
					 (float *const *)(a + ks * mr_max),
					 last && job->residual ? a + (ks + 1) * mr_max : NULL, flags,
					 conv->desc.slope);
		}
	}
}

/* The reduction as the micro-kernel sees it (taps x tap_floats) and its
 * slicing. */
static void set_reduction(struct igemm_job *job, size_t taps, size_t tap_floats)
{
	job->taps = taps;
	job->tap_floats = tap_floats;
	job->taps_per_slice = tap_floats >= SLICE_ROWS ? 0 : SLICE_ROWS / tap_floats;
	job->chans_per_slice = SLICE_ROWS;
}

void stp_conv_run(const struct stp_conv *conv, const struct stp_tensor *in,
		  struct stp_tensor *out, const struct stp_tensor *residual,
		  const int32_t *pixels, size_t npixels, const struct stp_conv_scratch *scratch,
		  struct stp_threadpool *pool)
{
	const float *zero = scratch->zero;
	const struct stp_conv_desc *d = &conv->desc;
	const size_t mr = conv->ukernel.mr;
	struct igemm_job job;
	size_t threads, min_tasks, weight_bytes, input_bytes, pointer_bytes, patch_bytes;

	assert(in->c == d->cin && out->c == d->cout);
	assert(!residual || (residual->h == out->h && residual->w == out->w &&
			     residual->c == out->c));
	if (!pixels)
		npixels = (size_t)out->h * out->w;
	if (npixels == 0)
		return;
	if (conv->dw_weights) {
		stp_dwconv_run(conv, in, out, residual, pixels, npixels, zero, pool);
		return;
	}
	if (conv->dot_weights) {
		stp_dotconv_run(conv, in, out, residual, pixels, npixels, zero, pool);
		return;
	}
	job.conv = conv;
	job.in = in;
	job.out = out;
	for (int ky = 0, t = 0; ky < d->kh; ky++)
		for (int kx = 0; kx < d->kw; kx++, t++)
			job.tap_off[t] = ((ptrdiff_t)ky * d->dh * in->w + (ptrdiff_t)kx * d->dw) *
					 in->c_stride;
	job.residual = residual;
	job.pixels = pixels;
	job.npixels = npixels;
	job.zero = zero;
	job.ntiles = (npixels + mr - 1) / mr;
	job.nblocks_total = (size_t)d->groups * conv->nblocks;
	job.patches = NULL;
	job.patch_per_thread = 0;
	if (has_row_patches(conv) && in->c_stride == in->c)
		set_reduction(&job, (size_t)d->kh, (size_t)d->kw * d->cin);
	else
		set_reduction(&job, conv->ks, (size_t)conv->cin_g);

	/* Chunks of CHUNK_TILES tiles, fewer when that leaves threads idle. */
	threads = (size_t)stp_threadpool_threads(pool);
	min_tasks = threads > 1 ? threads * 6 : 1;
	job.tiles_per_chunk = CHUNK_TILES;
	while (job.tiles_per_chunk > 1 &&
	       ((job.ntiles + job.tiles_per_chunk - 1) / job.tiles_per_chunk) * job.nblocks_total < min_tasks)
		job.tiles_per_chunk /= 2;
	if (job.tiles_per_chunk > job.ntiles)
		job.tiles_per_chunk = job.ntiles;
	job.nchunks = (job.ntiles + job.tiles_per_chunk - 1) / job.tiles_per_chunk;

	/* Keep whichever operand is larger in place: weights when they outweigh
	 * the input, else the input chunk. */
	weight_bytes = job.nblocks_total * conv->block_floats * sizeof(float);
	input_bytes = npixels * (size_t)d->cin * sizeof(float);
	job.block_major = weight_bytes > input_bytes;
	/* Stream (non-temporal stores) when the output tensor outgrows the
	 * caches, judged by the whole tensor, not the listed pixels: a sparse
	 * conv's rows lie scattered over all of it, so they miss on write too,
	 * and streaming saves reading each line in first (64->256 1x1 at
	 * density 0.25: 0.37x -> 0.29x of dense, docs/benchmarks-sparse.md). */
	job.stream = (size_t)out->h * out->w * (size_t)d->cout * sizeof(float) > STP_STREAM_OUTPUT_BYTES;

	job.scratch_per_thread = job.tiles_per_chunk * (job.taps + 2) * mr;
	pointer_bytes = table_pointer_bytes(threads, job.tiles_per_chunk, job.taps, mr);
	patch_bytes = job.taps == conv->ks ? 0 : table_patch_bytes(threads, job.tiles_per_chunk,
								    job.taps, job.tap_floats, mr);
	pointer_bytes = (pointer_bytes + STP_ALIGN - 1) / STP_ALIGN * STP_ALIGN;
	if (!scratch->tables || pointer_bytes + patch_bytes > scratch->table_bytes) {
		/* Tables not sized for this run: one tile per task through a
		 * stack table, taps as they are. */
		const float *table[(MAX_TAPS + 2) * MAX_MR * 2];
		job.patches = NULL;
		set_reduction(&job, conv->ks, (size_t)conv->cin_g);
		job.scratch = table;
		job.tiles_per_chunk = 1;
		job.nchunks = job.ntiles;
		job.scratch_per_thread = (conv->ks + 2) * mr;
		for (size_t t = 0; t < job.nblocks_total * job.nchunks; t++)
			igemm_task(&job, t, 0);
		return;
	}
	job.scratch = scratch->tables;
	if (patch_bytes > 0) {
		job.patch_per_thread = job.tiles_per_chunk * mr * job.taps * job.tap_floats;
		job.patches = (float *)(void *)((char *)scratch->tables + pointer_bytes);
	}
	stp_threadpool_parallel_for(pool, job.nblocks_total * job.nchunks, igemm_task, &job);
}

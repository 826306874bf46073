/*
 * test-kernels.c - every micro-kernel of every ISA level, called directly
 * and compared with a naive reference written from the contracts in
 * kernels.h (in the spirit of XNNPACK's gemm-microkernel-tester).
 *
 * The kernel table is the source of truth: for each level the CPU has, the
 * test walks stp_kernels_for()'s table (the IGEMM kernel, every narrow
 * IGEMM variant, DOTCONV, GATHER), so a kernel added to a table is tested
 * without touching this file. $STIPPLE_ISA plays no part.
 *
 * Each case fills its inputs from a fixed pseudo-random sequence, runs the
 * kernel once and compares every output with a double-precision reference,
 * within 1e-5 of the sum of the magnitudes of the output's terms (float32
 * sums in another order, with or without FMA). Outputs live on canvases
 * filled with a NaN canary: every float that is not an output (the gaps
 * after nc, rows past mr, guards on both sides) must keep its bits.
 *
 * IGEMM sweeps: every partial tile (mr 1..MR x nc 1..NR) with the reduction
 * shape and epilogue rotating; every kc x ks on a full and a partial tile;
 * every epilogue (RELU with slope 0 or 0.1, ACCUMULATE, STREAM, residual)
 * on full and partial tiles. Inputs are read from a_offset on, after junk;
 * about one tap in five points at the shared zero row; rows past mr repeat
 * valid pointers. DOTCONV: every mr x nc 1..27 x kc x ks 1 and 9. GATHER:
 * n 0..9 (n 1 also with weight 1) x channel tails x every combination of
 * bias, residual, RELU, STREAM, copy and a misaligned dst.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "testutil.h"

#define ALIGN 64         /* the vector kernels load w and bias aligned */
#define GUARD 16         /* canary floats around and after outputs: one zmm */
#define TOL 1e-5         /* of the sum of |terms| of an output */
#define MAX_TAPS 9       /* IGEMM and DOTCONV ks */
#define MAX_SOURCES 9    /* GATHER's n */
#define MAX_REPORTS 5    /* failing cases printed per kernel */
#define CANARY_BITS 0x7fc0deadu  /* a quiet NaN that no kernel computes */

static unsigned long long rng = 0x2545F4914F6CDD1Dull;

static const size_t kcs[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33};
#define NKCS (sizeof(kcs) / sizeof(kcs[0]))
static const size_t kss[] = {1, 3, 9};
#define NKSS (sizeof(kss) / sizeof(kss[0]))

/* ---- harness ---------------------------------------------------------------- */

/* The kernel under test, for the messages. */
struct subject {
	const char *isa;
	char name[40];
	int cases, failures;
};

/* One case's result: passes, or is printed (the first MAX_REPORTS of a
 * kernel) with the kernel, ISA, the case's parameters and what differed. */
static void record(struct subject *s, const char *params, const char *why)
{
	s->cases++;
	if (!why[0]) {
		test_passed++;
		return;
	}
	test_failed++;
	if (++s->failures <= MAX_REPORTS)
		fprintf(stderr, "FAIL %s %s: %s: %s\n", s->isa, s->name, params, why);
}

static void report_subject(const struct subject *s)
{
	printf("%-7s %-24s %5d cases, %d failed\n", s->isa, s->name, s->cases, s->failures);
}

static float *alloc_floats(size_t n)
{
	const size_t bytes = (n * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
	float *p = aligned_alloc(ALIGN, bytes ? bytes : ALIGN);
	if (!p)
		HARNESS_ERROR("out of memory");
	return p;
}

static void fill_random(float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = test_randf(&rng);
}

static float canary(void)
{
	const uint32_t bits = CANARY_BITS;
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static int is_canary(float f)
{
	uint32_t bits;
	memcpy(&bits, &f, sizeof(bits));
	return bits == CANARY_BITS;
}

/* "0", or the names of the set flags (bits 1, 2, 4) joined by '|'. */
static void flag_names(unsigned flags, const char *const names[3], char *buf, size_t len)
{
	size_t used = 0;

	snprintf(buf, len, "0");
	for (unsigned b = 0; b < 3; b++)
		if (flags & 1u << b)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "|" : "",
						 names[b]);
}

/* Output rows of stride floats, the first shift floats past an aligned
 * guard, everything canary until the case writes its initial values. */
struct canvas {
	float *mem;
	size_t total, first, stride;
};

static struct canvas canvas_new(size_t rows, size_t stride, size_t shift)
{
	struct canvas cv = {NULL, GUARD + shift + rows * stride + GUARD, GUARD + shift, stride};
	cv.mem = alloc_floats(cv.total);
	for (size_t i = 0; i < cv.total; i++)
		cv.mem[i] = canary();
	return cv;
}

static float *canvas_row(const struct canvas *cv, size_t r)
{
	return cv->mem + cv->first + r * cv->stride;
}

/* Whether rows x cols outputs of cv are within tol of ref (row-major) and
 * every other float of cv is still the canary; if not, why says where. */
static int canvas_ok(const struct canvas *cv, size_t rows, size_t cols, const double *ref,
		     const double *tol, const char *label, char *why, size_t len)
{
	for (size_t i = 0; i < cv->total; i++) {
		const float got = cv->mem[i];
		const size_t off = i - cv->first, r = off / cv->stride, n = off % cv->stride;
		if (i >= cv->first && r < rows && n < cols) {
			const double want = ref[r * cols + n], err = (double)got - want;
			if (!(err <= tol[r * cols + n] && -err <= tol[r * cols + n])) {
				snprintf(why, len, "%s[%zu][%zu] = %.9g, want %.9g (tolerance %.3g)",
					 label, r, n, got, want, tol[r * cols + n]);
				return 0;
			}
		} else if (!is_canary(got)) {
			if (i < cv->first)
				snprintf(why, len, "%s: guard float %zu before %s[0][0] written (%.9g)",
					 label, cv->first - i, label, got);
			else
				snprintf(why, len, "%s[%zu][%zu] written (%.9g), not an output",
					 label, r, n, got);
			return 0;
		}
	}
	return 1;
}

/* ks x MR input pointers, tap-major, as the drivers build them: row r < mr
 * of tap t points at its own pixel in pool (rows of row_floats) or, about
 * one in five, at the shared zero row (a tap outside the image); rows
 * r >= mr repeat row r % mr. */
static void point_taps(const float **a, size_t ks, size_t MR, size_t mr, const float *pool,
		       size_t row_floats, const float *zero)
{
	for (size_t t = 0; t < ks; t++)
		for (size_t r = 0; r < MR; r++)
			a[t * MR + r] = r >= mr ? a[t * MR + r % mr]
				      : (t + 2 * r) % 5 == 4 ? zero
				      : pool + (t * MR + r) * row_floats;
}

static float *zero_row(size_t n)
{
	float *z = alloc_floats(n);
	memset(z, 0, n * sizeof(float));
	return z;
}

/* ---- IGEMM ------------------------------------------------------------------ */

struct igemm_case {
	size_t mr, nc, kc, ks, a_offset, c_shift;
	unsigned flags;
	float slope;
	int residual;
};

/* The i-th of 32 epilogues: every combination of RELU, ACCUMULATE and
 * STREAM, residual or not, slope 0 or 0.1 (which must not matter without
 * RELU). */
#define NEPILOGUES 32
static void set_epilogue(struct igemm_case *p, size_t i)
{
	const size_t f = i / 2 % 8;
	p->residual = (int)(i % 2);
	p->flags = (f & 1 ? STP_IGEMM_RELU : 0u) | (f & 2 ? STP_IGEMM_ACCUMULATE : 0u) |
		   (f & 4 ? STP_IGEMM_STREAM : 0u);
	p->slope = i / 16 % 2 ? 0.1f : 0.0f;
}

static void describe_igemm(const struct igemm_case *p, char *buf, size_t len)
{
	static const char *const names[] = {"RELU", "ACCUMULATE", "STREAM"};
	char flags[40];

	flag_names(p->flags, names, flags, sizeof(flags));
	snprintf(buf, len, "mr=%zu nc=%zu kc=%zu ks=%zu a_offset=%zu c_shift=%zu flags=%s "
		 "slope=%g residual=%s", p->mr, p->nc, p->kc, p->ks, p->a_offset, p->c_shift,
		 flags, p->slope, p->residual ? "yes" : "NULL");
}

/* The contract's sums, in double, with each output's tolerance; c holds
 * the initial values (ACCUMULATE). */
static void igemm_reference(const struct igemm_case *p, size_t MR, size_t NR,
			    const float *const *a, const float *bias, const float *w,
			    float *const *c, const float *const *res, double *ref, double *tol)
{
	for (size_t r = 0; r < p->mr; r++) {
		for (size_t n = 0; n < p->nc; n++) {
			double acc = p->flags & STP_IGEMM_ACCUMULATE ? c[r][n] : bias[n];
			double mag = fabs(acc);
			for (size_t t = 0; t < p->ks; t++)
				for (size_t k = 0; k < p->kc; k++) {
					const double x = (double)a[t * MR + r][p->a_offset + k] *
							 w[(t * p->kc + k) * NR + n];
					acc += x;
					mag += fabs(x);
				}
			if (p->residual) {
				acc += res[r][n];
				mag += fabs(res[r][n]);
			}
			if ((p->flags & STP_IGEMM_RELU) && acc < 0)
				acc = p->slope == 0.0f ? 0.0 : acc * p->slope;
			ref[r * p->nc + n] = acc;
			tol[r * p->nc + n] = TOL * mag + 1e-30;
		}
	}
}

static void run_igemm_case(struct subject *s, const struct stp_igemm_kernel *k,
			   const struct igemm_case *p)
{
	const size_t MR = k->mr, NR = k->nr, row = p->a_offset + p->kc, stride = NR + GUARD;
	const int accumulate = (p->flags & STP_IGEMM_ACCUMULATE) != 0;
	float *pool = alloc_floats(p->ks * MR * row), *zero = zero_row(row);
	float *w = alloc_floats(p->ks * p->kc * NR), *bias = alloc_floats(NR);
	float *res_mem = alloc_floats(MR * stride + 1);
	double *ref = malloc(p->mr * p->nc * sizeof(double));
	double *tol = malloc(p->mr * p->nc * sizeof(double));
	struct canvas out = canvas_new(MR, stride, p->c_shift);
	const float *a[MAX_TAPS * STP_IGEMM_MAX_MR], *res[STP_IGEMM_MAX_MR];
	float *c[STP_IGEMM_MAX_MR];
	char params[200], why[200] = "";

	if (!ref || !tol)
		HARNESS_ERROR("out of memory");
	fill_random(pool, p->ks * MR * row);  /* floats before a_offset: junk to skip */
	point_taps(a, p->ks, MR, p->mr, pool, row, zero);
	for (size_t i = 0; i < p->ks * p->kc * NR; i++)  /* zero beyond nc */
		w[i] = i % NR < p->nc ? test_randf(&rng) : 0.0f;
	for (size_t n = 0; n < NR; n++)  /* unused with ACCUMULATE: poison it */
		bias[n] = accumulate ? canary() : test_randf(&rng);
	fill_random(res_mem, MR * stride + 1);
	for (size_t r = 0; r < MR; r++) {
		c[r] = canvas_row(&out, r);
		res[r] = res_mem + 1 + r * stride;
		if (accumulate && r < p->mr)
			fill_random(c[r], p->nc);
	}
	igemm_reference(p, MR, NR, a, bias, w, c, res, ref, tol);

	k->fn(p->mr, p->nc, p->kc, p->ks, a, p->a_offset, bias, w, c,
	      p->residual ? res : NULL, p->flags, p->slope);

	canvas_ok(&out, p->mr, p->nc, ref, tol, "c", why, sizeof(why));
	describe_igemm(p, params, sizeof(params));
	record(s, params, why);
	free(out.mem);
	free(tol);
	free(ref);
	free(res_mem);
	free(bias);
	free(w);
	free(zero);
	free(pool);
}

/* Every partial tile, mr 1..MR x nc 1..NR; the reduction shape, a_offset,
 * c's alignment and the epilogue rotate through their lists. */
static void igemm_tiles(struct subject *s, const struct stp_igemm_kernel *k)
{
	size_t i = 0;

	for (size_t mr = 1; mr <= k->mr; mr++) {
		for (size_t nc = 1; nc <= k->nr; nc++, i++) {
			struct igemm_case p = {mr, nc, kcs[i % NKCS], kss[i / NKCS % NKSS],
					       i % 7 * 3, i % 5, 0, 0.0f, 0};
			set_epilogue(&p, i % NEPILOGUES);
			run_igemm_case(s, k, &p);
		}
	}
}

/* Every kc x ks, below, at and above the vector widths, on a full tile and
 * on a partial one (nc not a multiple of 8). */
static void igemm_reductions(struct subject *s, const struct stp_igemm_kernel *k)
{
	size_t i = 0;

	for (size_t ki = 0; ki < NKCS; ki++) {
		for (size_t si = 0; si < NKSS; si++) {
			for (int partial = 0; partial <= 1; partial++, i++) {
				struct igemm_case p = {partial ? (k->mr + 1) / 2 : k->mr,
						       partial ? k->nr / 2 + 1 : k->nr, kcs[ki], kss[si],
						       (ki + si) % 2 ? 13 : 0, 0, 0, 0.0f, 0};
				set_epilogue(&p, i % NEPILOGUES);
				run_igemm_case(s, k, &p);
			}
		}
	}
}

/* Every epilogue on full, one-short and single rows and columns, with c
 * aligned (where STREAM may use non-temporal stores) and not. */
static void igemm_epilogues(struct subject *s, const struct stp_igemm_kernel *k)
{
	const size_t mrs[] = {1, k->mr - 1 ? k->mr - 1 : 1, k->mr};
	const size_t ncs[] = {1, 9, k->nr - 1, k->nr};

	for (size_t e = 0; e < NEPILOGUES; e++)
		for (size_t mi = 0; mi < 3; mi++)
			for (size_t ni = 0; ni < 4; ni++)
				for (size_t shift = 0; shift <= 3; shift += 3) {
					struct igemm_case p = {mrs[mi], ncs[ni] < k->nr ? ncs[ni] : k->nr,
							       17, 3, 5, shift, 0, 0.0f, 0};
					set_epilogue(&p, e);
					run_igemm_case(s, k, &p);
				}
}

static void test_igemm(const char *isa, const char *slot, const struct stp_igemm_kernel *k)
{
	struct subject s = {isa, "", 0, 0};

	snprintf(s.name, sizeof(s.name), "%s %ux%u", slot, k->mr, k->nr);
	CHECK(k->fn && k->mr >= 1 && k->mr <= STP_IGEMM_MAX_MR && k->nr >= 1,
	      "%s %s: mr %u (at most %d), nr %u", isa, s.name, k->mr, STP_IGEMM_MAX_MR, k->nr);
	if (!k->fn || k->mr < 1 || k->mr > STP_IGEMM_MAX_MR || k->nr < 1)
		return;
	igemm_tiles(&s, k);
	igemm_reductions(&s, k);
	igemm_epilogues(&s, k);
	report_subject(&s);
}

/* ---- DOTCONV ---------------------------------------------------------------- */

struct dotconv_case {
	size_t mr, nc, kc, ks, c_shift;
};

static void run_dotconv_case(struct subject *s, stp_dotconv_ukernel_fn fn,
			     const struct dotconv_case *p)
{
	const size_t MR = STP_DOTCONV_MR, stride = p->nc + GUARD;
	float *pool = alloc_floats(p->ks * MR * p->kc), *zero = zero_row(p->kc);
	float *w = alloc_floats(p->nc * p->ks * p->kc);
	double *ref = malloc(p->mr * p->nc * sizeof(double));
	double *tol = malloc(p->mr * p->nc * sizeof(double));
	struct canvas out = canvas_new(MR, stride, p->c_shift);
	const float *a[MAX_TAPS * STP_DOTCONV_MR];
	float *c[STP_DOTCONV_MR];
	char params[120], why[200] = "";

	if (!ref || !tol)
		HARNESS_ERROR("out of memory");
	fill_random(pool, p->ks * MR * p->kc);
	fill_random(w, p->nc * p->ks * p->kc);
	point_taps(a, p->ks, MR, p->mr, pool, p->kc, zero);
	for (size_t r = 0; r < MR; r++)
		c[r] = canvas_row(&out, r);
	for (size_t r = 0; r < p->mr; r++) {
		for (size_t n = 0; n < p->nc; n++) {
			double acc = 0, mag = 0;
			for (size_t t = 0; t < p->ks; t++)
				for (size_t k = 0; k < p->kc; k++) {
					const double x = (double)a[t * MR + r][k] *
							 w[(n * p->ks + t) * p->kc + k];
					acc += x;
					mag += fabs(x);
				}
			ref[r * p->nc + n] = acc;
			tol[r * p->nc + n] = TOL * mag + 1e-30;
		}
	}

	fn(p->mr, p->nc, p->kc, p->ks, a, w, c);

	canvas_ok(&out, p->mr, p->nc, ref, tol, "c", why, sizeof(why));
	snprintf(params, sizeof(params), "mr=%zu nc=%zu kc=%zu ks=%zu c_shift=%zu", p->mr, p->nc,
		 p->kc, p->ks, p->c_shift);
	record(s, params, why);
	free(out.mem);
	free(tol);
	free(ref);
	free(w);
	free(zero);
	free(pool);
}

/* Every mr x nc 1..27 (the mask logits' 1..STP_DOTCONV_MAX_NC, the logit
 * partials' 9..27 and between) x kc x ks 1 and 9. */
static void test_dotconv(const char *isa, stp_dotconv_ukernel_fn fn)
{
	struct subject s = {isa, "dotconv 8xN", 0, 0};
	const size_t ks_list[] = {1, 9};
	size_t i = 0;

	CHECK(fn != NULL, "%s: no dotconv kernel", isa);
	if (!fn)
		return;
	for (size_t mr = 1; mr <= STP_DOTCONV_MR; mr++)
		for (size_t nc = 1; nc <= 27; nc++)
			for (size_t ki = 0; ki < NKCS; ki++)
				for (size_t si = 0; si < 2; si++, i++) {
					const struct dotconv_case p = {mr, nc, kcs[ki], ks_list[si], i % 5};
					run_dotconv_case(&s, fn, &p);
				}
	report_subject(&s);
}

/* ---- GATHER ----------------------------------------------------------------- */

struct gather_case {
	size_t c, n, dst_shift;
	int unit_weight, bias, residual, copy;
	unsigned flags;
};

static void describe_gather(const struct gather_case *p, char *buf, size_t len)
{
	static const char *const names[] = {"RELU", "STREAM", "?"};
	char flags[40];

	flag_names(p->flags, names, flags, sizeof(flags));
	snprintf(buf, len, "c=%zu n=%zu weights=%s bias=%s residual=%s flags=%s copy=%s "
		 "dst_shift=%zu", p->c, p->n, p->unit_weight ? "1" : "random",
		 p->bias ? "yes" : "NULL", p->residual ? "yes" : "NULL", flags,
		 p->copy ? "yes" : "NULL", p->dst_shift);
}

/* Whether copy holds dst's values bit for bit (its canaries are checked
 * with the values). */
static int same_bits(const float *dst, const float *copy, size_t c, char *why, size_t len)
{
	for (size_t ch = 0; ch < c; ch++) {
		if (memcmp(&dst[ch], &copy[ch], sizeof(float)) != 0) {
			snprintf(why, len, "copy[%zu] = %.9g differs from dst[%zu] = %.9g", ch,
				 copy[ch], ch, dst[ch]);
			return 0;
		}
	}
	return 1;
}

static void run_gather_case(struct subject *s, stp_gather_ukernel_fn fn,
			    const struct gather_case *p)
{
	float *rows = alloc_floats(p->n * p->c), *weight = alloc_floats(p->n);
	float *bias = alloc_floats(p->c), *res = alloc_floats(p->c);
	double *ref = malloc(p->c * sizeof(double)), *tol = malloc(p->c * sizeof(double));
	struct canvas dst = canvas_new(1, p->c, p->dst_shift), copy = canvas_new(1, p->c, 2);
	const float *src[MAX_SOURCES];
	char params[200], why[200] = "";

	if (!ref || !tol)
		HARNESS_ERROR("out of memory");
	fill_random(rows, p->n * p->c);
	fill_random(weight, p->n);
	fill_random(bias, p->c);
	fill_random(res, p->c);
	if (p->unit_weight)
		weight[0] = 1.0f;
	for (size_t j = 0; j < p->n; j++)
		src[j] = rows + j * p->c;
	for (size_t ch = 0; ch < p->c; ch++) {
		double acc = 0, mag = 0;
		for (size_t j = 0; j < p->n; j++) {
			const double x = (double)weight[j] * src[j][ch];
			acc += x;
			mag += fabs(x);
		}
		if (p->bias) {
			acc += bias[ch];
			mag += fabs(bias[ch]);
		}
		if (p->residual) {
			acc += res[ch];
			mag += fabs(res[ch]);
		}
		if ((p->flags & STP_GATHER_RELU) && !(acc > 0))
			acc = 0;
		ref[ch] = acc;
		tol[ch] = TOL * mag + 1e-30;
	}

	fn(p->c, p->n, src, weight, p->bias ? bias : NULL, p->residual ? res : NULL, p->flags,
	   canvas_row(&dst, 0), p->copy ? canvas_row(&copy, 0) : NULL);

	if (canvas_ok(&dst, 1, p->c, ref, tol, "dst", why, sizeof(why))) {
		if (!p->copy)  /* then the copy canvas stays all canary */
			canvas_ok(&copy, 0, 0, ref, tol, "copy", why, sizeof(why));
		else if (canvas_ok(&copy, 1, p->c, ref, tol, "copy", why, sizeof(why)))
			same_bits(canvas_row(&dst, 0), canvas_row(&copy, 0), p->c, why, sizeof(why));
	}
	describe_gather(p, params, sizeof(params));
	record(s, params, why);
	free(copy.mem);
	free(dst.mem);
	free(tol);
	free(ref);
	free(res);
	free(bias);
	free(weight);
	free(rows);
}

/* n 0..9 sources (n 1 also with weight 1, the copy-through path) x channel
 * counts around the 8/16 lanes and 32/64-channel blocks x every combination
 * of bias, residual, RELU, STREAM, copy and dst one float off alignment. */
static void test_gather(const char *isa, stp_gather_ukernel_fn fn)
{
	struct subject s = {isa, "gather", 0, 0};
	const size_t cs[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129};

	CHECK(fn != NULL, "%s: no gather kernel", isa);
	if (!fn)
		return;
	for (size_t n = 0; n <= MAX_SOURCES; n++)
		for (int unit = 0; unit <= (n == 1); unit++)
			for (size_t ci = 0; ci < sizeof(cs) / sizeof(cs[0]); ci++)
				for (unsigned v = 0; v < 64; v++) {
					const struct gather_case p = {
						cs[ci], n, v >> 5 & 1, unit, v & 1, v >> 1 & 1, v >> 4 & 1,
						(v & 4 ? STP_GATHER_RELU : 0u) | (v & 8 ? STP_GATHER_STREAM : 0u)};
					run_gather_case(&s, fn, &p);
				}
	report_subject(&s);
}

/* ---- the tables ------------------------------------------------------------- */

static void test_table(enum stp_isa isa)
{
	const char *name = stp_isa_name(isa);
	const struct stp_kernels *k = stp_kernels_for(isa);

	CHECK(k->isa == isa, "stp_kernels_for(%s) gave the %s table", name, stp_isa_name(k->isa));
	CHECK(k->nnarrow >= 0 && k->nnarrow <= STP_IGEMM_MAX_NARROW, "%s: %d narrow kernels",
	      name, k->nnarrow);
	test_igemm(name, "igemm", &k->igemm);
	for (int i = 0; i < k->nnarrow && i < STP_IGEMM_MAX_NARROW; i++) {
		char slot[32];
		const unsigned wider = i ? k->igemm_narrow[i - 1].nr : k->igemm.nr;
		CHECK(k->igemm_narrow[i].nr < wider, "%s: igemm_narrow[%d] (nr %u) not narrower "
		      "than the one before (%u)", name, i, k->igemm_narrow[i].nr, wider);
		snprintf(slot, sizeof(slot), "igemm_narrow[%d]", i);
		test_igemm(name, slot, &k->igemm_narrow[i]);
	}
	test_dotconv(name, k->dotconv);
	test_gather(name, k->gather);
}

int main(void)
{
	const enum stp_isa levels[] = {STP_ISA_SCALAR, STP_ISA_AVX2, STP_ISA_AVX512};
	const int supported[] = {1, stp_cpu_has_avx2_fma(), stp_cpu_has_avx512f()};

	for (int l = 0; l < 3; l++) {
		if (supported[l])
			test_table(levels[l]);
		else
			printf("%-7s skipped: the CPU lacks it\n", stp_isa_name(levels[l]));
	}
	return test_main_end();
}

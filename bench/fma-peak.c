/*
 * fma-peak.c - the machine's measured FP32 FMA peak, the ceiling for GFLOP/s.
 *
 * Each thread runs CHAINS independent chains of vector FMAs (acc = acc * a + b)
 * in registers, enough to cover FMA latency times the number of FMA pipes on
 * current x86 cores, so the loop is bound by FMA throughput alone. One FMA
 * counts as 2 FLOPs per lane. AVX-512 (16 lanes) and AVX2 (8 lanes) kernels
 * are compiled with target attributes and run only where the CPU has them.
 * For 1 and N threads (started together behind a barrier) the best of
 * --repeats timings of about 0.2 s each is reported, as text or, with --json,
 * one JSON object on one line:
 *   {"threads_max": N, "results": [{"isa": "avx512", "threads": 1, "gflops": ...}, ...]}
 *
 * usage: fma-peak [--threads N] [--repeats R] [--json]
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INNER 1000   /* FMA rounds per call */

/*
 * CHAINS independent accumulators, spelt out as separate variables so that
 * every compiler at every -O level keeps them in registers (an array of
 * vectors indexed in a loop ends up in memory at -O2).
 */
#define CHAINS 12
#define FOR_EACH_CHAIN(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

typedef float (*fma_loop_fn)(long calls);

/* The accumulators' sum is returned so the compiler must compute them. */
__attribute__((target("avx512f"))) static float loop_avx512(long calls)
{
	const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);
#define DECLARE(i) __m512 acc##i = _mm512_set1_ps((float)(i));
#define STEP(i) acc##i = _mm512_fmadd_ps(acc##i, a, b);
#define SUM(i) + _mm512_reduce_add_ps(acc##i)
	FOR_EACH_CHAIN(DECLARE)
	for (long i = 0; i < calls; i++) {
		for (int k = 0; k < INNER; k++) {
			FOR_EACH_CHAIN(STEP)
		}
	}
	return 0 FOR_EACH_CHAIN(SUM);
#undef DECLARE
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float sum_m256(__m256 v)
{
	float lanes[8], sum = 0;

	_mm256_storeu_ps(lanes, v);
	for (int l = 0; l < 8; l++)
		sum += lanes[l];
	return sum;
}

__attribute__((target("avx2,fma"))) static float loop_avx2(long calls)
{
	const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-4f);
#define DECLARE(i) __m256 acc##i = _mm256_set1_ps((float)(i));
#define STEP(i) acc##i = _mm256_fmadd_ps(acc##i, a, b);
#define SUM(i) + sum_m256(acc##i)
	FOR_EACH_CHAIN(DECLARE)
	for (long i = 0; i < calls; i++) {
		for (int k = 0; k < INNER; k++) {
			FOR_EACH_CHAIN(STEP)
		}
	}
	return 0 FOR_EACH_CHAIN(SUM);
#undef DECLARE
#undef STEP
#undef SUM
}

static int has_avx512(void)
{
	return __builtin_cpu_supports("avx512f");
}

static int has_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

struct isa {
	const char *name;
	int (*supported)(void);
	int lanes;
	fma_loop_fn loop;
};

static const struct isa isas[] = {
	{"avx512", has_avx512, 16, loop_avx512},
	{"avx2", has_avx2, 8, loop_avx2},
};

struct job {
	fma_loop_fn loop;
	long calls;
	pthread_barrier_t *start;
	volatile float sink;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *p)
{
	struct job *j = p;

	pthread_barrier_wait(j->start);
	j->sink = j->loop(j->calls);
	return NULL;
}

/* Seconds for `threads` threads to each run loop(calls); < 0 on failure. */
static double time_threads(fma_loop_fn loop, long calls, int threads)
{
	pthread_t tid[256];
	struct job jobs[256];
	pthread_barrier_t start;
	double t0 = 0, t = -1;
	int started = 0;

	if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0)
		return -1;
	for (; started < threads; started++) {
		jobs[started] = (struct job){loop, calls, &start, 0};
		if (pthread_create(&tid[started], NULL, worker, &jobs[started]) != 0)
			break;
	}
	if (started == threads) {
		t0 = now_s();
		pthread_barrier_wait(&start);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (started == threads)
		t = now_s() - t0;
	pthread_barrier_destroy(&start);
	return t;
}

/* Best GFLOP/s over repeats; calls calibrated to about 0.2 s per timing. */
static double measure(const struct isa *isa, int threads, int repeats)
{
	long calls = 16;
	double t, best = 0;

	while ((t = time_threads(isa->loop, calls, 1)) >= 0 && t < 0.05 && calls < (1L << 40))
		calls *= 2;
	if (t < 0)
		return -1;
	calls = (long)((double)calls * 0.2 / t) + 1;
	for (int r = 0; r < repeats; r++) {
		double flops = 2.0 * isa->lanes * CHAINS * (double)INNER * (double)calls * threads;
		t = time_threads(isa->loop, calls, threads);
		if (t <= 0)
			return -1;
		if (flops / t / 1e9 > best)
			best = flops / t / 1e9;
	}
	return best;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	int threads = 2, repeats = 5, json = 0, first = 1, counts[2];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc &&
			   parse_int(argv[i + 1], 1, 256, &threads) == 0) {
			i++;
		} else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc &&
			   parse_int(argv[i + 1], 1, 1000, &repeats) == 0) {
			i++;
		} else {
			fprintf(stderr, "usage: fma-peak [--threads N (1..256)] [--repeats R] [--json]\n");
			return 2;
		}
	}
	__builtin_cpu_init();
	if (json)
		printf("{\"threads_max\": %d, \"results\": [", threads);
	for (size_t i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
		const struct isa *isa = &isas[i];
		if (!isa->supported())
			continue;
		counts[0] = 1;
		counts[1] = threads;
		for (int k = 0; k < (threads > 1 ? 2 : 1); k++) {
			int n = counts[k];
			double g = measure(isa, n, repeats);
			if (g < 0) {
				fprintf(stderr, "fma-peak: cannot start %d threads\n", n);
				return 1;
			}
			if (json)
				printf("%s{\"isa\": \"%s\", \"threads\": %d, \"gflops\": %.1f}",
				       first ? "" : ", ", isa->name, n, g);
			else
				printf("%-7s %3d thread%s  %8.1f GFLOP/s FP32 FMA\n", isa->name, n,
				       n == 1 ? " " : "s", g);
			first = 0;
		}
	}
	if (json)
		printf("]}\n");
	return 0;
}

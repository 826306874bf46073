/*
 * test-threadpool.c - the pool runs every task exactly once, on thread ids
 * in range, for many task counts and pool sizes, with regions started from
 * several threads at once (they must serialise, not interleave).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/threadpool.h"
#include "testutil.h"

struct count_job {
	atomic_int *hits;
	int threads;
	atomic_int bad_thread;
};

static void count_task(void *ctx, size_t task, int thread)
{
	struct count_job *job = ctx;
	atomic_fetch_add(&job->hits[task], 1);
	if (thread < 0 || thread >= job->threads)
		atomic_store(&job->bad_thread, 1);
}

static int run_counts(struct stp_threadpool *pool, size_t n)
{
	struct count_job job = {calloc(n ? n : 1, sizeof(atomic_int)),
				stp_threadpool_threads(pool), 0};
	int ok = job.hits != NULL;
	stp_threadpool_parallel_for(pool, n, count_task, &job);
	for (size_t i = 0; ok && i < n; i++)
		ok = atomic_load(&job.hits[i]) == 1;
	ok = ok && !atomic_load(&job.bad_thread);
	free(job.hits);
	return ok;
}

static void *hammer(void *p)
{
	struct stp_threadpool *pool = p;
	intptr_t ok = 1;
	for (int i = 0; i < 200; i++)
		ok &= run_counts(pool, (size_t)(i % 37) + 1);
	return (void *)ok;
}

int main(void)
{
	const size_t counts[] = {0, 1, 2, 3, 7, 64, 1000, 100000};
	for (int threads = 1; threads <= 4; threads++) {
		struct stp_threadpool *pool = NULL;
		enum stp_status st = stp_threadpool_create(threads, &pool);
		CHECK(st == STP_OK && stp_threadpool_threads(pool) == threads, "create %d", threads);
		if (st != STP_OK)
			continue;
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			CHECK(run_counts(pool, counts[i]), "%d threads, %zu tasks", threads, counts[i]);
		pthread_t callers[3];
		for (int c = 0; c < 3; c++)
			pthread_create(&callers[c], NULL, hammer, pool);
		for (int c = 0; c < 3; c++) {
			void *ok;
			pthread_join(callers[c], &ok);
			CHECK(ok == (void *)1, "concurrent callers, %d threads", threads);
		}
		stp_threadpool_destroy(pool);
	}
	struct stp_threadpool *pool = (void *)1;
	CHECK(stp_threadpool_create(0, &pool) == STP_ERR_INVALID_ARG && pool == NULL, "0 threads rejected");
	stp_threadpool_destroy(NULL);
	return test_main_end();
}

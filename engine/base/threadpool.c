/*
 * threadpool.c - a fork-join pthread pool with dynamic task hand-out.
 *
 * Design: workers sleep on a condition variable until a generation counter
 * moves. parallel_for publishes (fn, ctx, ntasks), bumps the generation, then
 * takes tasks itself; every participant claims task indices from an atomic
 * counter. The caller waits until all workers have checked out of the
 * region (a count of active workers), so ctx may live on its stack.
 * A mutex serialises concurrent parallel_for calls on one pool.
 *
 * A network is a chain of short regions (NanoDet-g at 416x416: 53 ops in
 * 10 ms), and a condition variable's wake-up costs tens of microseconds on
 * a VM. So before sleeping, a worker watches the generation, and the caller
 * the active count, for about SPIN_ROUNDS pause instructions (some tens of
 * microseconds): a next region that comes that soon starts at once. Both
 * fields change only under the lock; the spins read them atomically and
 * then take the lock as before, so the spin only saves a sleep.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#include "threadpool.h"

struct stp_threadpool {
	int nthreads;
	pthread_t *workers;          /* nthreads - 1 */
	pthread_mutex_t region_lock; /* one parallel region at a time */

	pthread_mutex_t lock;        /* guards the fields below */
	pthread_cond_t wake;         /* workers wait for a new generation */
	pthread_cond_t done;         /* the caller waits for active == 0 */
	atomic_ulong generation;
	atomic_int active;           /* workers still inside the region */
	atomic_int shutdown;

	stp_task_fn fn;
	void *ctx;
	size_t ntasks;
	atomic_size_t next;          /* next unclaimed task */
};

#define SPIN_ROUNDS 4096

/* Spins until *v differs from seen or SPIN_ROUNDS pass. */
static void spin_while_ulong(atomic_ulong *v, unsigned long seen, atomic_int *shutdown)
{
	for (int i = 0; i < SPIN_ROUNDS; i++) {
		if (atomic_load_explicit(v, memory_order_acquire) != seen ||
		    atomic_load_explicit(shutdown, memory_order_relaxed))
			return;
		cpu_relax();
	}
}

struct worker_arg {
	struct stp_threadpool *pool;
	int index;
};

static void run_tasks(struct stp_threadpool *pool, int thread)
{
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
		if (i >= pool->ntasks)
			break;
		pool->fn(pool->ctx, i, thread);
	}
}

static void *worker_main(void *p)
{
	struct stp_threadpool *pool = ((struct worker_arg *)p)->pool;
	int thread = ((struct worker_arg *)p)->index;
	unsigned long seen = 0;
	free(p);

	for (;;) {
		spin_while_ulong(&pool->generation, seen, &pool->shutdown);
		pthread_mutex_lock(&pool->lock);
		while (!pool->shutdown && pool->generation == seen)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->shutdown)
			break;
		seen = pool->generation;
		pthread_mutex_unlock(&pool->lock);

		run_tasks(pool, thread);

		pthread_mutex_lock(&pool->lock);
		if (--pool->active == 0)
			pthread_cond_signal(&pool->done);
		pthread_mutex_unlock(&pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

enum stp_status stp_threadpool_create(int threads, struct stp_threadpool **out)
{
	struct stp_threadpool *pool;
	int started = 0;

	*out = NULL;
	if (threads < 1 || threads > 1024)
		return STP_ERR_INVALID_ARG;
	pool = stp_zalloc(1, sizeof(*pool));
	if (!pool)
		return STP_ERR_NOMEM;
	pool->nthreads = threads;
	pthread_mutex_init(&pool->region_lock, NULL);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_cond_init(&pool->done, NULL);
	atomic_init(&pool->next, 0);
	atomic_init(&pool->generation, 0);
	atomic_init(&pool->active, 0);
	atomic_init(&pool->shutdown, 0);
	if (threads > 1) {
		pool->workers = stp_zalloc((size_t)threads - 1, sizeof(pthread_t));
		if (!pool->workers)
			goto error;
	}
	for (; started < threads - 1; started++) {
		struct worker_arg *arg = stp_malloc(sizeof(*arg));
		if (!arg)
			goto error;
		arg->pool = pool;
		arg->index = started + 1;
		if (pthread_create(&pool->workers[started], NULL, worker_main, arg) != 0) {
			free(arg);
			goto error;
		}
	}
	*out = pool;
	return STP_OK;
error:
	pool->nthreads = started + 1;
	stp_threadpool_destroy(pool);
	return STP_ERR_NOMEM;
}

void stp_threadpool_destroy(struct stp_threadpool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->shutdown = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->nthreads - 1; i++)
		pthread_join(pool->workers[i], NULL);
	free(pool->workers);
	pthread_cond_destroy(&pool->done);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	pthread_mutex_destroy(&pool->region_lock);
	free(pool);
}

int stp_threadpool_threads(const struct stp_threadpool *pool)
{
	return pool->nthreads;
}

void stp_threadpool_parallel_for(struct stp_threadpool *pool, size_t ntasks,
				 stp_task_fn fn, void *ctx)
{
	if (ntasks == 0)
		return;
	if (pool->nthreads == 1 || ntasks == 1) {
		for (size_t i = 0; i < ntasks; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&pool->region_lock);
	pthread_mutex_lock(&pool->lock);
	pool->fn = fn;
	pool->ctx = ctx;
	pool->ntasks = ntasks;
	atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
	pool->active = pool->nthreads - 1;
	pool->generation++;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);

	run_tasks(pool, 0);

	for (int i = 0; i < SPIN_ROUNDS &&
			atomic_load_explicit(&pool->active, memory_order_acquire) > 0; i++)
		cpu_relax();
	pthread_mutex_lock(&pool->lock);
	while (pool->active > 0)
		pthread_cond_wait(&pool->done, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	pthread_mutex_unlock(&pool->region_lock);
}

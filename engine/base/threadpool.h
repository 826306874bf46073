/*
 * threadpool.h - the engine's one pthread pool.
 *
 * A pool of N threads counts the calling thread as one of them: it starts
 * N-1 workers, and parallel_for runs tasks on the workers and the caller.
 * Tasks are handed out dynamically from an atomic counter in index order,
 * so callers number tasks so that neighbouring indices share data.
 *
 * Concurrency: parallel_for may be called from several threads at once; the
 * calls are serialised by a mutex (one parallel region at a time per pool).
 * Tasks must not call parallel_for on the same pool.
 */
#ifndef STP_THREADPOOL_H
#define STP_THREADPOOL_H

#include <stddef.h>

#include "internal.h"

struct stp_threadpool;

/* fn(ctx, task, thread): thread is in [0, threads) and identifies the
 * executing thread (for per-thread scratch). */
typedef void (*stp_task_fn)(void *ctx, size_t task, int thread);

enum stp_status stp_threadpool_create(int threads, struct stp_threadpool **out);
void stp_threadpool_destroy(struct stp_threadpool *pool);
int stp_threadpool_threads(const struct stp_threadpool *pool);
void stp_threadpool_parallel_for(struct stp_threadpool *pool, size_t ntasks,
				 stp_task_fn fn, void *ctx);

#endif

/*
 * jobs.h - the bounded job queue and the inference workers behind it.
 *
 * HTTP threads push jobs; each worker owns one stp_engine (its own threads)
 * and runs one job at a time. jobs_push() never blocks: a full queue is
 * refused at once so the caller can answer 503. Shutdown stops intake,
 * cancels what still waits (cancel callback, on the shutting-down thread)
 * and waits for running jobs to finish. A job nobody waits for any more
 * (gone callback: its client hung up) never runs: a worker that takes it
 * drops it (drop callback, on the worker), and a push that finds the queue
 * full first drops every such job still waiting (on the pushing thread),
 * so hang-ups cannot keep live requests out.
 */
#ifndef STIPPLE_SERVER_JOBS_H
#define STIPPLE_SERVER_JOBS_H

#include "stipple.h"

struct job {
	void (*run)(struct job *job, stp_engine *engine);  /* on a worker */
	void (*cancel)(struct job *job);                   /* never ran: shutdown */
	int (*gone)(struct job *job);                      /* nobody waits (NULL: never) */
	void (*drop)(struct job *job);                     /* never ran: gone */
	struct job *next;                                  /* private */
};

struct job_pool;

/* workers x threads_per_worker engine threads; isa must match the models'. */
int jobs_start(int workers, int threads_per_worker, enum stp_isa isa, int queue_size,
	       struct job_pool **out);
/* 0, or -1 when the queue is full or the pool is stopping. */
int jobs_push(struct job_pool *pool, struct job *job);
/* Jobs waiting and jobs being run, read together. */
void jobs_counts(struct job_pool *pool, int *queued, int *running);
/* Stops intake, cancels queued jobs, waits for running ones and the workers
 * (once; again is a no-op). jobs_push() then refuses: the pool stays valid
 * for the HTTP threads until jobs_free(). */
void jobs_stop(struct job_pool *pool);
/* jobs_stop(), then frees the pool: only once nothing can push any more. */
void jobs_free(struct job_pool *pool);

#endif

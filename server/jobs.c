/*
 * jobs.c - see jobs.h. One mutex and two condition variables: `work` wakes
 * workers when a job arrives or the pool stops, `idle` wakes jobs_stop when
 * the last running job ends.
 */
#include <pthread.h>
#include <stdlib.h>

#include "jobs.h"
#include "log.h"

struct worker {
	struct job_pool *pool;
	stp_engine *engine;
	pthread_t thread;
	int started;
};

struct job_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, *tail;
	int queued, running, capacity, stopping, joined;
	int nworkers;
	struct worker *workers;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job_pool *pool = w->pool;

	for (;;) {
		struct job *job;

		pthread_mutex_lock(&pool->lock);
		while (!pool->head && !pool->stopping)
			pthread_cond_wait(&pool->work, &pool->lock);
		job = pool->head;
		if (!job) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		pool->head = job->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->queued--;
		pool->running++;
		pthread_mutex_unlock(&pool->lock);
		if (job->gone && job->gone(job))
			job->drop(job);
		else
			job->run(job, w->engine);
		pthread_mutex_lock(&pool->lock);
		pool->running--;
		pthread_mutex_unlock(&pool->lock);
	}
}

int jobs_start(int workers, int threads_per_worker, enum stp_isa isa, int queue_size,
	       struct job_pool **out)
{
	struct job_pool *pool = calloc(1, sizeof(*pool));

	*out = NULL;
	if (!pool || !(pool->workers = calloc((size_t)workers, sizeof(*pool->workers)))) {
		free(pool);
		return -1;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->capacity = queue_size;
	pool->nworkers = workers;
	for (int i = 0; i < workers; i++) {
		struct stp_engine_options eo = {threads_per_worker, isa};
		struct worker *w = &pool->workers[i];

		w->pool = pool;
		if (stp_engine_create(&eo, &w->engine) != STP_OK ||
		    pthread_create(&w->thread, NULL, worker_main, w)) {
			log_msg(LOG_ERROR, "cannot start inference worker %d", i);
			jobs_stop(pool);
			jobs_free(pool);
			return -1;
		}
		w->started = 1;
	}
	*out = pool;
	return 0;
}

/* Unlinks the waiting jobs whose client is gone; returns them as a list.
 * Under the lock. */
static struct job *take_gone(struct job_pool *pool)
{
	struct job *gone = NULL, **link = &pool->head;

	pool->tail = NULL;
	while (*link) {
		struct job *j = *link;

		if (j->gone && j->gone(j)) {
			*link = j->next;
			j->next = gone;
			gone = j;
			pool->queued--;
		} else {
			pool->tail = j;
			link = &j->next;
		}
	}
	return gone;
}

static int has_room(const struct job_pool *pool)
{
	/* Jobs beyond the idle workers wait; at most `capacity` of them. */
	return pool->queued + pool->running < pool->capacity + pool->nworkers;
}

int jobs_push(struct job_pool *pool, struct job *job)
{
	struct job *dropped = NULL;
	int ok;

	pthread_mutex_lock(&pool->lock);
	if (!pool->stopping && !has_room(pool))
		dropped = take_gone(pool);
	ok = !pool->stopping && has_room(pool);
	if (ok) {
		job->next = NULL;
		if (pool->tail)
			pool->tail->next = job;
		else
			pool->head = job;
		pool->tail = job;
		pool->queued++;
		pthread_cond_signal(&pool->work);
	}
	pthread_mutex_unlock(&pool->lock);
	while (dropped) {
		struct job *next = dropped->next;

		dropped->drop(dropped);
		dropped = next;
	}
	return ok ? 0 : -1;
}

void jobs_counts(struct job_pool *pool, int *queued, int *running)
{
	pthread_mutex_lock(&pool->lock);
	*queued = pool->queued;
	*running = pool->running;
	pthread_mutex_unlock(&pool->lock);
}

void jobs_stop(struct job_pool *pool)
{
	struct job *cancelled;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	cancelled = pool->head;
	pool->head = pool->tail = NULL;
	pool->queued = 0;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	while (cancelled) {
		struct job *next = cancelled->next;

		cancelled->cancel(cancelled);
		cancelled = next;
	}
	if (pool->joined)
		return;
	pool->joined = 1;
	for (int i = 0; i < pool->nworkers; i++) {
		if (pool->workers[i].started)
			pthread_join(pool->workers[i].thread, NULL);
		stp_engine_destroy(pool->workers[i].engine);
		pool->workers[i].engine = NULL;
	}
}

void jobs_free(struct job_pool *pool)
{
	if (!pool)
		return;
	jobs_stop(pool);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool->workers);
	free(pool);
}

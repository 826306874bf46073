/*
 * lifecycle.c - the daemon's life once its settings are read: start (the
 * metrics, the engine that packs weights, the model repository with every
 * model loaded before the port opens, the inference workers, then HTTP),
 * drain (SIGTERM) and stop. main.c runs it under its signal handling;
 * tests/unit/test-server-faults.c runs the same in-process.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "json-alloc.h"
#include "log.h"
#include "server.h"

/* CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU
 * quota (a container's limit, which sysconf does not see), rounded up. */
static long available_cpus(void)
{
	cpu_set_t set;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		cpus = CPU_COUNT(&set);
	f = fopen("/sys/fs/cgroup/cpu.max", "r");
	if (f) {
		long long quota, period;

		if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0 &&
		    (quota + period - 1) / period < cpus)
			cpus = (long)((quota + period - 1) / period);
		fclose(f);
	}
	return cpus < 1 ? 1 : cpus;
}

static void choose_workers(struct config *cfg)
{
	long cpus = available_cpus();

	/* One worker per 4 CPUs keeps each request fast (intra-op threads) while
	 * larger machines still run several requests at once. */
	if (cfg->workers == 0)
		cfg->workers = cpus >= 8 ? (int)(cpus / 4) : 1;
	if (cfg->threads_per_worker == 0)
		cfg->threads_per_worker = (int)(cpus / cfg->workers) > 0 ? (int)(cpus / cfg->workers) : 1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void log_engine_failure(void)
{
	const char *env_isa = getenv("STIPPLE_ISA"), *env_interp = getenv("STIPPLE_INTERP");
	const char *env_logits = getenv("STIPPLE_LOGITS");

	log_msg(LOG_ERROR, "cannot create the engine ($STIPPLE_ISA '%s', $STIPPLE_INTERP '%s', "
		"$STIPPLE_LOGITS '%s')", env_isa ? env_isa : "", env_interp ? env_interp : "",
		env_logits ? env_logits : "");
}

int server_start(struct server *srv)
{
	struct stp_engine_options eo = {1, STP_ISA_AUTO};
	char err[512];

	json_alloc_install();
	srv->answer_at_once = handle_sync;
	srv->run_on_worker = infer_run;
	log_set_level(srv->cfg.log_level);
	choose_workers(&srv->cfg);
	atomic_store(&srv->next_id, ((unsigned long long)time(NULL) << 20) ^ (unsigned long long)getpid());
	srv->metrics = metrics_create();
	if (!srv->metrics || stp_engine_create(&eo, &srv->load_engine) != STP_OK) {
		log_engine_failure();
		return -1;
	}
	if (repo_open(srv->cfg.models, srv->cfg.default_model, srv->load_engine, &srv->repo, err,
		      sizeof(err))) {
		log_msg(LOG_ERROR, "%s", err);
		return -1;
	}
	if (jobs_start(srv->cfg.workers, srv->cfg.threads_per_worker,
		       stp_engine_isa(srv->load_engine), srv->cfg.queue_size, &srv->jobs)) {
		log_msg(LOG_ERROR, "cannot start %d inference workers", srv->cfg.workers);
		return -1;
	}
	if (http_start(srv, err, sizeof(err))) {
		log_msg(LOG_ERROR, "%s", err);
		return -1;
	}
	log_msg(LOG_INFO, "listening on port %d: default model '%s' (%s), %d workers x %d threads, queue %d, kernels %s",
		http_port(srv), repo_default_name(srv->repo),
		repo_default_ready(srv->repo) ? "ready" : "NOT loaded", srv->cfg.workers,
		srv->cfg.threads_per_worker, srv->cfg.queue_size,
		stp_isa_name(stp_engine_isa(srv->load_engine)));
	return 0;
}

void server_drain(struct server *srv)
{
	int64_t deadline = now_ns() + (int64_t)srv->cfg.drain_timeout_s * 1000000000;
	int queued, running;

	atomic_store(&srv->draining, 1);
	jobs_counts(srv->jobs, &queued, &running);
	log_msg(LOG_INFO, "draining: %d queued, %d running", queued, running);
	while (atomic_load(&srv->suspended) > 0 && now_ns() < deadline)
		sleep_ms(20);
	if (atomic_load(&srv->suspended) > 0)
		log_msg(LOG_WARN, "drain timeout: abandoning %d requests", atomic_load(&srv->suspended));
	atomic_store(&srv->abort_all, 1);
	jobs_stop(srv->jobs);   /* freed after the HTTP threads stop (server_stop) */
	/* Let resumed connections send their replies; admin threads finish loads. */
	for (int i = 0; i < 500 && atomic_load(&srv->suspended) > 0; i++)
		sleep_ms(10);
	sleep_ms(50);
}

void server_stop(struct server *srv)
{
	jobs_stop(srv->jobs);
	http_stop(srv);
	jobs_free(srv->jobs);
	repo_close(srv->repo);
	stp_engine_destroy(srv->load_engine);
	metrics_destroy(srv->metrics);
	config_free(&srv->cfg);
}

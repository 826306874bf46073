/*
 * metrics.c - see metrics.h. Rendering writes into an open_memstream buffer
 * under the lock; histograms are cumulative at render time. Durations are
 * in seconds (Prometheus' base unit); the process metrics follow the
 * client libraries' names (process_resident_memory_bytes from
 * /proc/self/statm, process_open_fds from /proc/self/fd,
 * process_cpu_seconds_total from getrusage).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"
#include "stipple.h"

#define MAX_SERIES 512
#define NAME_LEN 64

static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					 0.5, 1, 2.5, 5, 10, 30};
#define NLAT (sizeof(latency_buckets) / sizeof(latency_buckets[0]))
static const double density_buckets[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1};
#define NDEN (sizeof(density_buckets) / sizeof(density_buckets[0]))
static const double gmacs_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500};
#define NGM (sizeof(gmacs_buckets) / sizeof(gmacs_buckets[0]))

struct histogram {
	unsigned long long counts[16];   /* per bucket, not cumulative; last = +Inf */
	unsigned long long n;
	double sum;
};

struct request_series {
	char model[NAME_LEN], endpoint[NAME_LEN];
	int status;
	unsigned long long count;
};

struct model_series {
	char model[NAME_LEN];
	struct histogram queue, infer, total, density, gmacs, network_gmacs;
};

struct metrics {
	pthread_mutex_t lock;
	struct request_series requests[MAX_SERIES];
	int nrequests;
	struct model_series models[MAX_SERIES / 8];
	int nmodels;
};

struct metrics *metrics_create(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_destroy(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void observe(struct histogram *h, const double *bounds, size_t nb, double v)
{
	size_t i = 0;

	while (i < nb && v > bounds[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum += v;
}

static struct model_series *model_series(struct metrics *m, const char *model)
{
	for (int i = 0; i < m->nmodels; i++)
		if (!strcmp(m->models[i].model, model))
			return &m->models[i];
	if (m->nmodels == (int)(sizeof(m->models) / sizeof(m->models[0])))
		return NULL;
	memset(&m->models[m->nmodels], 0, sizeof(m->models[0]));
	snprintf(m->models[m->nmodels].model, NAME_LEN, "%s", model);
	return &m->models[m->nmodels++];
}

void metrics_request(struct metrics *m, const char *model, const char *endpoint, int status,
		     double queue_ms, double infer_ms, double total_ms)
{
	struct model_series *ms;
	int i;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nrequests; i++) {
		struct request_series *r = &m->requests[i];

		if (r->status == status && !strcmp(r->model, model) && !strcmp(r->endpoint, endpoint))
			break;
	}
	if (i == m->nrequests && i < MAX_SERIES) {
		snprintf(m->requests[i].model, NAME_LEN, "%s", model);
		snprintf(m->requests[i].endpoint, NAME_LEN, "%s", endpoint);
		m->requests[i].status = status;
		m->requests[i].count = 0;
		m->nrequests++;
	}
	if (i < MAX_SERIES)
		m->requests[i].count++;
	ms = *model ? model_series(m, model) : NULL;
	if (ms) {
		if (queue_ms >= 0)
			observe(&ms->queue, latency_buckets, NLAT, queue_ms / 1e3);
		if (infer_ms >= 0)
			observe(&ms->infer, latency_buckets, NLAT, infer_ms / 1e3);
		if (total_ms >= 0)
			observe(&ms->total, latency_buckets, NLAT, total_ms / 1e3);
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_inference(struct metrics *m, const char *model, double density, double gmacs,
		       double network_gmacs)
{
	struct model_series *ms;

	pthread_mutex_lock(&m->lock);
	ms = model_series(m, model);
	if (ms) {
		observe(&ms->density, density_buckets, NDEN, density);
		observe(&ms->gmacs, gmacs_buckets, NGM, gmacs);
		observe(&ms->network_gmacs, gmacs_buckets, NGM, network_gmacs);
	}
	pthread_mutex_unlock(&m->lock);
}

static void render_histogram(FILE *f, const char *name, const char *model,
			     const struct histogram *h, const double *bounds, size_t nb)
{
	unsigned long long cum = 0;

	for (size_t i = 0; i < nb; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, model, bounds[i], cum);
	}
	fprintf(f, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, model, h->n);
	fprintf(f, "%s_sum{model=\"%s\"} %.6f\n", name, model, h->sum);
	fprintf(f, "%s_count{model=\"%s\"} %llu\n", name, model, h->n);
}

struct histogram_family {
	const char *name, *help;
	size_t offset;
	const double *bounds;
	size_t nb;
};

static const struct histogram_family families[] = {
	{"stipple_queue_duration_seconds", "Time requests waited for a worker.",
	 offsetof(struct model_series, queue), latency_buckets, NLAT},
	{"stipple_infer_duration_seconds", "Decode and inference time.",
	 offsetof(struct model_series, infer), latency_buckets, NLAT},
	{"stipple_request_duration_seconds", "Whole request time.",
	 offsetof(struct model_series, total), latency_buckets, NLAT},
	{"stipple_mask_density", "Mean sampled fraction of the masks per inference.",
	 offsetof(struct model_series, density), density_buckets, NDEN},
	{"stipple_backbone_gmacs", "Backbone cost per inference, in GMACs (the paper's rules).",
	 offsetof(struct model_series, gmacs), gmacs_buckets, NGM},
	{"stipple_network_gmacs", "Whole-network cost per inference (every conv), in GMACs.",
	 offsetof(struct model_series, network_gmacs), gmacs_buckets, NGM},
};

/* The process metrics of the Prometheus client libraries. */
static void render_process(FILE *f)
{
	struct rusage ru;
	long pages = 0, resident = 0;
	FILE *statm = fopen("/proc/self/statm", "r");
	DIR *fds = opendir("/proc/self/fd");
	int nfds = 0;

	if (statm) {
		if (fscanf(statm, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(statm);
	}
	if (fds) {
		for (struct dirent *e; (e = readdir(fds));)
			nfds += e->d_name[0] != '.';
		closedir(fds);
		nfds--;   /* the directory's own descriptor */
	}
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %.0f\n",
		(double)resident * (double)sysconf(_SC_PAGESIZE));
	fprintf(f, "# HELP process_open_fds Number of open file descriptors.\n"
		   "# TYPE process_open_fds gauge\nprocess_open_fds %d\n", nfds);
	fprintf(f, "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
		   "seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n",
		(double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
			ru.ru_stime.tv_usec / 1e6);
}

char *metrics_render(struct metrics *m, const struct metrics_gauges *g, size_t *len)
{
	static const char *const states[] = {"UNAVAILABLE", "LOADING", "READY", "FAILED"};
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&m->lock);
	fprintf(f, "# HELP stipple_build_info The running stippled's version.\n"
		   "# TYPE stipple_build_info gauge\nstipple_build_info{version=\"%s\"} 1\n",
		stp_version());
	fprintf(f, "# HELP stipple_requests_total Requests answered, by model, endpoint and status.\n"
		   "# TYPE stipple_requests_total counter\n");
	for (int i = 0; i < m->nrequests; i++)
		fprintf(f, "stipple_requests_total{model=\"%s\",endpoint=\"%s\",status=\"%d\"} %llu\n",
			m->requests[i].model, m->requests[i].endpoint, m->requests[i].status,
			m->requests[i].count);
	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", families[k].name, families[k].help,
			families[k].name);
		for (int i = 0; i < m->nmodels; i++)
			render_histogram(f, families[k].name, m->models[i].model,
					 (const struct histogram *)((const char *)&m->models[i] +
								    families[k].offset),
					 families[k].bounds, families[k].nb);
	}
	pthread_mutex_unlock(&m->lock);
	fprintf(f, "# HELP stipple_queue_depth Requests waiting for a worker.\n"
		   "# TYPE stipple_queue_depth gauge\nstipple_queue_depth %d\n", g->queue_depth);
	fprintf(f, "# HELP stipple_in_flight Requests being computed.\n"
		   "# TYPE stipple_in_flight gauge\nstipple_in_flight %d\n", g->in_flight);
	fprintf(f, "# HELP stipple_ready 1 when the default model can serve.\n"
		   "# TYPE stipple_ready gauge\nstipple_ready %d\n", g->ready);
	fprintf(f, "# HELP stipple_models Models in the repository, by state.\n"
		   "# TYPE stipple_models gauge\n");
	for (int i = 0; i < 4; i++)
		fprintf(f, "stipple_models{state=\"%s\"} %d\n", states[i], g->model_states[i]);
	render_process(f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

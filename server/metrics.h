/*
 * metrics.h - Prometheus counters and histograms, rendered as text format
 * 0.0.4 by GET /metrics.
 *
 * Request counts are kept per (model, endpoint, status code) in a small table
 * under one mutex (a few hundred distinct series at most: models and
 * endpoints are bounded, and unknown model names are recorded as "" so a
 * client cannot grow the table). Histograms use fixed buckets; durations
 * are in seconds. The exposition ends with the version (stipple_build_info)
 * and the process's resident memory, open files and CPU time.
 */
#ifndef STIPPLE_SERVER_METRICS_H
#define STIPPLE_SERVER_METRICS_H

#include <stddef.h>

struct metrics;

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

/* One finished request; times in milliseconds, < 0 when not measured. */
void metrics_request(struct metrics *m, const char *model, const char *endpoint, int status,
		     double queue_ms, double infer_ms, double total_ms);
/* One inference: mean mask density, backbone and whole-network GMACs used. */
void metrics_inference(struct metrics *m, const char *model, double density, double gmacs,
		       double network_gmacs);

struct metrics_gauges {
	int queue_depth, in_flight, ready;
	int model_states[4];   /* UNAVAILABLE, LOADING, READY, FAILED */
};

/* The whole exposition; the caller frees it with free(). */
char *metrics_render(struct metrics *m, const struct metrics_gauges *g, size_t *len);

#endif

/*
 * server.h - the daemon's shared state and the per-request record.
 *
 * One struct server lives for the whole process; handlers reach it through
 * each request. A struct request is created on the first call of
 * libmicrohttpd's access handler and freed in exactly one place, the
 * request-completed callback (http.c), whatever happened in between.
 *
 * Life of an inference request:
 *   HTTP thread: route, check headers (404/405/401/413/415/503 before any body
 *   is read), read the body (counting, 413 if it grows past the limit), push a
 *   job (503 + Retry-After if the queue is full) and suspend the connection.
 *   Worker: deadline check, parse and decode, run the engine, build the reply,
 *   resume the connection. HTTP thread: queue the reply.
 */
#ifndef STIPPLE_SERVER_SERVER_H
#define STIPPLE_SERVER_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "settings.h"
#include "jobs.h"
#include "metrics.h"
#include "params.h"
#include "repo.h"

struct MHD_Daemon;
struct MHD_Connection;
struct request;

struct server {
	struct config cfg;
	struct repo *repo;
	struct job_pool *jobs;
	struct metrics *metrics;
	struct MHD_Daemon *httpd;
	stp_engine *load_engine;        /* packs weights at load */
	atomic_int draining;            /* SIGTERM seen: not ready, no new work */
	atomic_int abort_all;           /* the drain timed out: abandon running work */
	atomic_int suspended;           /* connections waiting for a worker */
	atomic_ullong next_id;
	/* Where the HTTP layer hands requests on (server_start sets them, so
	 * that http.c calls up into no handler): the routes answered at once, and
	 * the job of the routes run on a worker. */
	int (*answer_at_once)(struct request *r);
	void (*run_on_worker)(struct job *job, stp_engine *engine);
};

enum route_kind {
	ROUTE_NONE = 0,
	ROUTE_V2_META, ROUTE_LIVE, ROUTE_READY, ROUTE_MODEL_META, ROUTE_MODEL_READY,
	ROUTE_INFER_V2, ROUTE_REPO_INDEX, ROUTE_REPO_LOAD, ROUTE_REPO_UNLOAD,
	ROUTE_DETECT, ROUTE_SEGMENT, ROUTE_MODELS, ROUTE_MODEL_RELOAD, ROUTE_METRICS,
	ROUTE_WEB_PAGE
};

struct route {
	enum route_kind kind;
	const char *method;         /* the one method it answers */
	const char *endpoint;       /* label for metrics and logs */
	int needs_body;             /* POST with a payload to read */
	int admin;                  /* needs the bearer token */
	int job;                    /* runs on a worker */
	char model[REPO_NAME_MAX];  /* "" = the default model */
	int version;                /* 0 = whatever is loaded */
};

enum body_kind { BODY_NONE = 0, BODY_IMAGE, BODY_JSON, BODY_V2_BINARY };

struct request {
	struct job job;                 /* first: a job is a request */
	struct server *srv;
	struct MHD_Connection *conn;
	char id[65];
	char method[8];
	char path[256];
	struct route route;
	struct served_model *model;     /* held from routing to completion */

	enum body_kind body_kind;
	uint8_t *body;
	size_t body_len, body_cap;
	size_t json_header_len;         /* BODY_V2_BINARY: Inference-Header-Content-Length */
	int early_reply;                /* a reply was queued before the body was read */
	int body_lost;                  /* out of memory growing body: the rest is discarded, 503 */
	int image_width, image_height;  /* the posted image, upright (once decoded) */
	struct infer_params params;

	int64_t t_arrival_ns, t_start_ns, deadline_ns;  /* CLOCK_MONOTONIC */
	double decode_ms, infer_ms;

	/* the reply, built by a handler or a worker */
	int status;
	char *reply;                    /* owned; freed after sending */
	size_t reply_len;
	const char *reply_type;
	char *binary_tail;              /* KServe binary outputs after the JSON header */
	size_t binary_tail_len;
	int retry_after;                /* seconds, 0 = no header */
	int worker_done;                /* the job finished; reply is ready */
	size_t bytes_out;
};

int64_t now_ns(void);

/* Sets the reply to a JSON document (stealing the reference). */
void request_reply_json(struct request *r, int status, json_t *doc);
/* Sets the reply to {"error": message}. */
void request_reply_error(struct request *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An allocation failed while `doing` (STP_ERR_NOMEM, IMAGE_ERR_NOMEM, a JSON
 * value): 503 + Retry-After, {"error": "out of memory <doing>; retry later"}.
 * The daemon is overloaded, not broken: the same request may succeed. */
void request_reply_nomem(struct request *r, const char *doing);

/* http.c: takes a reference to the route's model (the default one when the
 * route names none) into r->model, released when the request completes;
 * -1 with a 404/503 reply set when it is unknown, not loaded, or not at the
 * version the route names. */
int request_acquire_model(struct request *r);

/* routes.c: parses method + path; returns 0, 404 or 405 (out->method then
 * names the method the path answers, for the Allow header). */
int route_match(const char *method, const char *path, struct route *out);

/* handlers.c: the routes answered without a worker. */
/* Returns 1 when the handler suspended the connection (it resumes it later). */
int handle_sync(struct request *r);
/* infer.c: the job of an inference route, on a worker. */
void infer_run(struct job *job, stp_engine *engine);

/* lifecycle.c: starts the daemon on srv->cfg (settings read): the engine,
 * the repository with its models loaded, the workers, HTTP; 0, or -1 after
 * logging why (server_stop then frees what did start). */
int server_start(struct server *srv);
/* SIGTERM: not ready, no new work; waits up to drain_timeout_s for the
 * requests in flight, then abandons what still runs. */
void server_drain(struct server *srv);
/* Stops HTTP and the workers and frees all of srv, its settings included. */
void server_stop(struct server *srv);

/* http.c */
int http_start(struct server *srv, char *err, size_t errlen);
void http_resume(struct request *r);
/* Whether the client of a suspended request has closed its connection. */
int request_client_gone(struct request *r);
void http_stop(struct server *srv);
int http_port(struct server *srv);

#endif

/*
 * http.c - libmicrohttpd glue: the access handler's state machine, the
 * request-completed callback, replies and suspend/resume.
 *
 * The access handler runs several times per request:
 *   1. headers only: create the request, route it, check method, auth,
 *      Content-Type and Content-Length, readiness; refusals are answered
 *      here, before any body byte is read (MHD then closes the connection);
 *   2. once per body chunk: append to the body up to max_body_bytes; past
 *      it, count and discard (chunked bodies; the 413 goes out at the end),
 *      resetting the connection if a client keeps sending far beyond it;
 *      out of memory growing it, the same with a 503;
 *   3. the final call: answer sync routes at once; push inference jobs and
 *      suspend the connection (a full queue answers 503 + Retry-After);
 *   4. after a worker resumes the connection: queue the reply it built.
 * The request is freed only in on_completed, which libmicrohttpd calls for
 * every request however it ended (a disconnected client included). A
 * request whose record cannot be allocated gets a fixed 503 at once. While
 * suspended, libmicrohttpd does not watch the socket: request_client_gone
 * peeks at it, so that a hung-up request is dropped from the queue (jobs.h)
 * or abandoned between layers (infer.c) and answered 499 to the logs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "server.h"

/* A client sending this many times the body limit is cut off without a reply. */
#define DISCARD_FACTOR 4
/* Request line and headers larger than this get the API's JSON 431; well
 * under libmicrohttpd's per-connection memory (CONNECTION_MEMORY), past
 * which the library answers 431 itself with its own HTML page. */
#define MAX_HEADER_BYTES (64 * 1024)
#define CONNECTION_MEMORY (256 * 1024)

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void request_reply_json(struct request *r, int status, json_t *doc)
{
	free(r->reply);
	r->status = status;
	r->reply = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	r->reply_len = r->reply ? strlen(r->reply) : 0;
	r->reply_type = "application/json";
	json_decref(doc);
	if (!r->reply && status != 503)
		request_reply_nomem(r, "building the reply");
}

void request_reply_error(struct request *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(r->binary_tail);
	r->binary_tail = NULL;
	r->binary_tail_len = 0;
	request_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

void request_reply_nomem(struct request *r, const char *doing)
{
	r->retry_after = r->srv->cfg.retry_after_s;
	request_reply_error(r, 503, "out of memory %s; retry later", doing);
}

/* ---- request bookkeeping ---------------------------------------------- */

static int valid_request_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_.:", s[i])))
			return 0;
	return 1;
}

static struct request *request_new(struct server *srv, struct MHD_Connection *conn,
				   const char *method, const char *url)
{
	struct request *r = calloc(1, sizeof(*r));
	const char *id;

	if (!r)
		return NULL;
	r->srv = srv;
	r->conn = conn;
	r->t_arrival_ns = now_ns();
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->path, sizeof(r->path), "%s", url);
	params_defaults(&r->params);
	id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (id && valid_request_id(id))
		snprintf(r->id, sizeof(r->id), "%s", id);
	else
		snprintf(r->id, sizeof(r->id), "%016llx",
			 (unsigned long long)atomic_fetch_add(&srv->next_id, 0x9e3779b97f4a7c15ULL));
	return r;
}

/* Stands for every request that got no record (out of memory): answered a
 * fixed 503 from its headers, its body discarded, nothing to free. */
static struct request unrecorded;

static enum MHD_Result reply_unrecorded(struct server *srv, struct MHD_Connection *conn,
					void **con_cls)
{
	static const char body[] = "{\"error\":\"out of memory starting the request; retry later\"}";
	struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
								     MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;
	char retry[32];

	if (!resp)
		return MHD_NO;
	*con_cls = &unrecorded;
	snprintf(retry, sizeof(retry), "%d", srv->cfg.retry_after_s);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Retry-After", retry);
	ret = MHD_queue_response(conn, 503, resp);
	MHD_destroy_response(resp);
	return ret;
}

static double ms_between(int64_t a, int64_t b)
{
	return a && b ? (double)(b - a) / 1e6 : -1;
}

static void access_log(const struct request *r, double total_ms)
{
	json_t *line;
	char *text;
	time_t t = time(NULL);
	struct tm tm;
	char stamp[32];

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	line = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:f}", "time", stamp,
			 "request_id", r->id, "method", r->method, "path", r->path, "status",
			 r->status, "model", r->model ? r->model->name : r->route.model,
			 "bytes_in", (json_int_t)r->body_len, "bytes_out", (json_int_t)r->bytes_out,
			 "total_ms", total_ms);
	if (!line)
		return;
	if (r->t_start_ns) {
		json_object_set_new(line, "queue_ms", json_real(ms_between(r->t_arrival_ns, r->t_start_ns)));
		json_object_set_new(line, "infer_ms", json_real(r->infer_ms));
	}
	text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (text) {
		printf("%s\n", text);
		fflush(stdout);
	}
	free(text);
	json_decref(line);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	struct server *srv = cls;
	double total_ms;

	(void)conn;
	*con_cls = NULL;
	if (!r || r == &unrecorded)
		return;
	total_ms = ms_between(r->t_arrival_ns, now_ns());
	if (!r->status)
		r->status = 499;  /* the client went away before a reply (nginx's code) */
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_msg(LOG_DEBUG, "request %s ended early (code %d)", r->id, (int)toe);
	metrics_request(srv->metrics, r->model ? r->model->name : "", r->route.endpoint ?
			r->route.endpoint : "unknown", r->status,
			r->t_start_ns ? ms_between(r->t_arrival_ns, r->t_start_ns) : -1,
			r->t_start_ns ? r->infer_ms : -1, total_ms);
	if (srv->cfg.access_log)
		access_log(r, total_ms);
	served_model_release(srv->repo, r->model);
	free(r->body);
	free(r->reply);
	free(r->binary_tail);
	free(r);
}

/* ---- replies ------------------------------------------------------------ */

static enum MHD_Result send_reply(struct request *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->reply_len + r->binary_tail_len;
	char *buf = r->reply, num[32];

	if (!r->reply)
		request_reply_error(r, 500, "no reply was built");
	if (r->binary_tail) {
		buf = malloc(len ? len : 1);
		if (!buf) {   /* the error instead, without the tail */
			request_reply_nomem(r, "sending the reply");
			return send_reply(r);
		}
		memcpy(buf, r->reply, r->reply_len);
		memcpy(buf + r->reply_len, r->binary_tail, r->binary_tail_len);
		free(r->reply);
		free(r->binary_tail);
		r->binary_tail = NULL;
	} else {
		len = r->reply_len;
		buf = r->reply;
	}
	r->reply = NULL;
	resp = MHD_create_response_from_buffer_with_free_callback(len, buf, free);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	r->bytes_out = len;
	MHD_add_response_header(resp, "Content-Type", r->reply_type ? r->reply_type : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	if (r->binary_tail_len) {
		snprintf(num, sizeof(num), "%zu", r->reply_len);
		MHD_add_response_header(resp, "Inference-Header-Content-Length", num);
	}
	if (r->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, "Retry-After", num);
	}
	if (r->status == 405 && r->route.method)
		MHD_add_response_header(resp, "Allow", r->route.method);
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	ret = MHD_queue_response(r->conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- checks on the headers ---------------------------------------------- */

static int media_type_is(const char *value, const char *type)
{
	size_t n = strlen(type);

	return value && !strncasecmp(value, type, n) &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

static int check_content_type(struct request *r)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	const char *hl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     "Inference-Header-Content-Length");

	if (r->route.kind == ROUTE_INFER_V2) {
		if (hl) {
			char *end;
			unsigned long long v = strtoull(hl, &end, 10);

			if (*end || end == hl || hl[0] == '-' || v > (unsigned long long)r->srv->cfg.max_body_bytes) {
				request_reply_error(r, 400, "Inference-Header-Content-Length '%.32s' is not a valid length", hl);
				return -1;
			}
			r->json_header_len = (size_t)v;
			r->body_kind = BODY_V2_BINARY;
			return 0;
		}
		if (ct && !media_type_is(ct, "application/json")) {
			request_reply_error(r, 415, "Content-Type '%.64s' is not supported here: send application/json (or the binary extension with Inference-Header-Content-Length)", ct);
			return -1;
		}
		r->body_kind = BODY_JSON;
		return 0;
	}
	if (media_type_is(ct, "image/jpeg") || media_type_is(ct, "image/png")) {
		r->body_kind = BODY_IMAGE;
	} else if (media_type_is(ct, "application/json")) {
		r->body_kind = BODY_JSON;
	} else {
		request_reply_error(r, 415, "Content-Type '%.64s' is not supported: send image/jpeg, image/png or application/json",
				    ct ? ct : "(none)");
		return -1;
	}
	return 0;
}

static int check_admin(struct request *r)
{
	const char *token = r->srv->cfg.admin_token;
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	size_t n = strlen(token), m;
	unsigned char diff = 0;

	if (n == 0) {
		request_reply_error(r, 403, "the admin API is disabled: set admin_token in the config");
		return -1;
	}
	if (!auth || strncmp(auth, "Bearer ", 7)) {
		request_reply_error(r, 401, "this endpoint needs 'Authorization: Bearer <admin_token>'");
		return -1;
	}
	auth += 7;
	m = strlen(auth);
	for (size_t i = 0; i < n; i++)  /* constant time in the token's length */
		diff |= (unsigned char)(token[i] ^ (i < m ? auth[i] : 0));
	if (diff || m != n) {
		request_reply_error(r, 401, "wrong admin token");
		return -1;
	}
	return 0;
}

/* Query-string parameters of inference routes; the first bad one answers 400. */
struct query_state {
	struct request *r;
	int failed;
};

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct query_state *q = cls;
	char err[256];

	(void)kind;
	if (q->failed)
		return MHD_NO;
	if (params_set_text(&q->r->params, key, value ? value : "", err, sizeof(err))) {
		request_reply_error(q->r, 400, "%s", err);
		q->failed = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

int request_acquire_model(struct request *r)
{
	const unsigned tasks = r->route.kind == ROUTE_DETECT ? STP_TASK_DETECT :
			       r->route.kind == ROUTE_SEGMENT ? STP_TASK_SEGMENT : 0;
	enum repo_status st = repo_acquire_for(r->srv->repo,
					       r->route.model[0] ? r->route.model : NULL, tasks,
					       &r->model);
	const char *name = r->route.model[0] ? r->route.model
			   : r->model ? r->model->name : repo_default_name(r->srv->repo);

	if (st == REPO_NOT_FOUND) {
		request_reply_error(r, 404, "no model named '%s'", name);
		return -1;
	}
	if (st != REPO_OK) {
		r->retry_after = r->srv->cfg.retry_after_s;
		request_reply_error(r, 503, "model '%s' is not loaded", name);
		return -1;
	}
	if (r->route.version && r->route.version != r->model->version) {
		request_reply_error(r, 404, "model '%s' has no version %d loaded (serving version %d)",
				    name, r->route.version, r->model->version);
		return -1;
	}
	return 0;
}

/* The model of an inference route, and the head its task needs. */
static int check_model(struct request *r)
{
	const char *name;

	if (request_acquire_model(r))
		return -1;
	name = r->model->name;
	if (r->route.kind == ROUTE_DETECT && !r->model->can_detect) {
		request_reply_error(r, 400, "model '%s' has no detection head (it computes features only: use /v2/models/%s/infer)",
				    name, name);
		return -1;
	}
	if (r->route.kind == ROUTE_SEGMENT && !r->model->can_segment) {
		request_reply_error(r, 400, "model '%s' has no segmentation head (it computes features only: use /v2/models/%s/infer)",
				    name, name);
		return -1;
	}
	return 0;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;   /* ": ", CRLF */
	return MHD_YES;
}

/* Everything decided from the headers; -1 when a reply is already set. */
static int check_headers(struct request *r)
{
	struct server *srv = r->srv;
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	size_t header_bytes = strlen(r->method) + strlen(r->path) + 12;   /* the request line */
	int code;

	/* the query's arguments and the headers, about as sent */
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND | MHD_HEADER_KIND,
				  add_header_bytes, &header_bytes);
	if (header_bytes > MAX_HEADER_BYTES) {
		request_reply_error(r, 431, "the request line and headers are %zu bytes; the limit is %d",
				    header_bytes, MAX_HEADER_BYTES);
		return -1;
	}
	code = route_match(r->method, r->path, &r->route);
	if (code == 404) {
		request_reply_error(r, 404, "no route %s %.200s", r->method, r->path);
		return -1;
	}
	if (code == 405) {
		request_reply_error(r, 405, "%.200s answers %s only", r->path, r->route.method);
		return -1;
	}
	if (r->route.admin && check_admin(r))
		return -1;
	if (r->route.job) {
		struct query_state q = {r, 0};

		if (atomic_load(&srv->draining)) {
			r->retry_after = srv->cfg.retry_after_s;
			request_reply_error(r, 503, "the server is shutting down");
			return -1;
		}
		if (check_content_type(r))
			return -1;
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &q);
		if (q.failed || check_model(r))
			return -1;
	}
	if (cl) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);

		if (*end || end == cl || cl[0] == '-') {
			request_reply_error(r, 400, "Content-Length '%.32s' is not a number", cl);
			return -1;
		}
		if (n > (unsigned long long)srv->cfg.max_body_bytes) {
			request_reply_error(r, 413, "the body is %llu bytes; the limit is %lld", n,
					    srv->cfg.max_body_bytes);
			return -1;
		}
	}
	return 0;
}

/* ---- body -------------------------------------------------------------- */

static int append_body(struct request *r, const char *data, size_t n)
{
	size_t limit = (size_t)r->srv->cfg.max_body_bytes;

	if (r->body_len + n > limit) {
		r->body_len += n;  /* keep counting; the 413 goes out at the end */
		return r->body_len > limit * DISCARD_FACTOR ? -1 : 0;
	}
	if (!r->body_lost && r->body_len + n > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 65536;
		uint8_t *p;

		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		p = realloc(r->body, cap);
		r->body_lost = !p;   /* counted and discarded from here on */
		if (p) {
			r->body = p;
			r->body_cap = cap;
		}
	}
	if (r->body_lost) {
		r->body_len += n;
		return 0;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return 0;
}

/* ---- the access handler ---------------------------------------------------- */

int request_client_gone(struct request *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char c;
	ssize_t n;

	if (!ci)
		return 0;
	/* The connection is suspended: libmicrohttpd reads nothing from it, and
	 * a peek takes nothing away. 0 = the peer closed (or shut down its
	 * sending side, which HTTP/1.1 clients waiting for a reply do not). */
	n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int job_gone(struct job *job)
{
	return request_client_gone((struct request *)job);
}

static void drop_job(struct job *job)
{
	struct request *r = (struct request *)job;

	/* nobody reads it; the status is what logs and metrics show */
	request_reply_error(r, 499, "the client closed the connection before this request ran");
	r->worker_done = 1;
	http_resume(r);
}

static void cancel_job(struct job *job)
{
	struct request *r = (struct request *)job;

	r->retry_after = r->srv->cfg.retry_after_s;
	request_reply_error(r, 503, "the server shut down before this request ran");
	r->worker_done = 1;
	http_resume(r);
}

static enum MHD_Result start_job(struct request *r)
{
	struct server *srv = r->srv;
	int timeout = r->params.timeout_ms ? r->params.timeout_ms : srv->cfg.default_timeout_ms;

	if (r->body_len == 0) {
		request_reply_error(r, 400, "the request has no body: send an image");
		return send_reply(r);
	}
	if (timeout > 0)
		r->deadline_ns = r->t_arrival_ns + (int64_t)timeout * 1000000;
	r->job.run = srv->run_on_worker;
	r->job.cancel = cancel_job;
	r->job.gone = job_gone;
	r->job.drop = drop_job;
	MHD_suspend_connection(r->conn);
	atomic_fetch_add(&srv->suspended, 1);
	if (jobs_push(srv->jobs, &r->job)) {
		r->retry_after = srv->cfg.retry_after_s;
		if (atomic_load(&srv->draining))
			request_reply_error(r, 503, "the server is shutting down");
		else
			request_reply_error(r, 503, "the queue is full (%d waiting); retry later",
					    srv->cfg.queue_size);
		r->worker_done = 1;
		http_resume(r);
	}
	return MHD_YES;
}

void http_resume(struct request *r)
{
	struct server *srv = r->srv;

	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&srv->suspended, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct request *r = *con_cls;

	(void)version;
	if (r == &unrecorded) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!r) {
		r = request_new(srv, conn, method, url);
		if (!r)
			return reply_unrecorded(srv, conn, con_cls);
		*con_cls = r;
		if (check_headers(r)) {
			r->early_reply = 1;
			return send_reply(r);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		int rc = r->early_reply ? 0 : append_body(r, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return rc ? MHD_NO : MHD_YES;
	}
	if (r->early_reply)
		return MHD_YES;
	if (r->worker_done)
		return send_reply(r);
	if (r->body_len > (size_t)srv->cfg.max_body_bytes) {
		request_reply_error(r, 413, "the body is over the limit of %lld bytes",
				    srv->cfg.max_body_bytes);
		return send_reply(r);
	}
	if (r->body_lost) {
		request_reply_nomem(r, "reading the body");
		return send_reply(r);
	}
	if (r->route.job)
		return start_job(r);
	if (srv->answer_at_once(r))
		return MHD_YES;
	return send_reply(r);
}

/* ---- daemon ----------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *addr, int *ipv6)
{
	char host[256], *colon;
	struct addrinfo hints = {0}, *res = NULL;
	int rc;

	snprintf(host, sizeof(host), "%s", listen);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (host[0] == '[' && colon > host && colon[-1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
	if (rc || !res)
		return -1;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

int http_start(struct server *srv, char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	int ipv6 = 0;
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			     MHD_USE_ERROR_LOG;

	if (parse_listen(srv->cfg.listen, &addr, &ipv6)) {
		snprintf(err, errlen, "listen: '%s' is not HOST:PORT", srv->cfg.listen);
		return -1;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	srv->httpd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->cfg.http_threads,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->cfg.connection_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->cfg.connection_limit,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_END);
	if (!srv->httpd) {
		snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted)",
			 srv->cfg.listen);
		return -1;
	}
	return 0;
}

int http_port(struct server *srv)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->httpd, MHD_DAEMON_INFO_BIND_PORT);

	return info ? (int)info->port : -1;
}

void http_stop(struct server *srv)
{
	if (srv->httpd)
		MHD_stop_daemon(srv->httpd);
	srv->httpd = NULL;
}

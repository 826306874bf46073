/*
 * handlers.c - the routes answered without a worker: health, metadata, the
 * model repository and metrics. They run on an HTTP thread and only read
 * state, except the admin routes (load, unload, reload), which run on a
 * short-lived thread of their own with the connection suspended, so a model
 * being read from disk never blocks an HTTP thread.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "v2-tasks.h"
#include "web-page.h"

static void reply_v2_meta(struct request *r)
{
	request_reply_json(r, 200, json_pack("{s:s, s:s, s:[s,s,s]}", "name", "stippled", "version",
					     stp_version(), "extensions", "model_repository",
					     "binary_tensor_data", "sparsity_budget"));
}

static void reply_ready(struct request *r)
{
	if (atomic_load(&r->srv->draining)) {
		r->retry_after = r->srv->cfg.retry_after_s;
		request_reply_error(r, 503, "shutting down");
	} else if (!repo_default_ready(r->srv->repo)) {
		request_reply_error(r, 503, "the default model '%s' is not loaded",
				    repo_default_name(r->srv->repo));
	} else {
		request_reply_json(r, 200, json_pack("{s:b}", "ready", 1));
	}
}

static json_t *tasks_json(const struct served_model *m)
{
	json_t *t = json_array();

	if (m->can_detect)
		json_array_append_new(t, json_string("detect"));
	if (m->can_segment)
		json_array_append_new(t, json_string("segment"));
	json_array_append_new(t, json_string("features"));
	return t;
}

static void reply_model_meta(struct request *r)
{
	const struct served_model *m;
	json_t *outputs, *doc;

	if (request_acquire_model(r))
		return;
	m = r->model;
	outputs = v2_task_output_meta(m->model);   /* the task outputs first, */
	for (int k = 0; k < stp_model_output_count(m->model); k++)   /* then feature maps */
		json_array_append_new(outputs, json_pack("{s:s, s:s, s:[i,i,i,i]}", "name",
							 stp_model_output_name(m->model, k),
							 "datatype", "FP32", "shape", 1, -1, -1, -1));
	doc = json_pack("{s:s, s:[o], s:s, s:[{s:s, s:s, s:[i]}], s:o, s:{s:b, s:o, s:o}}",
			"name", m->name, "versions", json_sprintf("%d", m->version), "platform",
			"stipple", "inputs", "name", "image", "datatype", "BYTES", "shape", 1,
			"outputs", outputs, "parameters", "sparse", m->sparse, "tasks", tasks_json(m),
			"classes", json_incref(m->classes));
	request_reply_json(r, 200, doc);
}

static void reply_model_ready(struct request *r)
{
	if (request_acquire_model(r) == 0)
		request_reply_json(r, 200, json_pack("{s:s, s:b}", "name", r->model->name, "ready", 1));
}

/* POST /v2/repository/index, optional body {"ready": true}. */
static void reply_repo_index(struct request *r)
{
	json_t *index = repo_index(r->srv->repo), *filter = NULL, *out, *e;
	json_error_t jerr;
	size_t i;

	if (r->body_len) {
		filter = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(filter) ||
		    (json_object_get(filter, "ready") && !json_is_boolean(json_object_get(filter, "ready")))) {
			json_decref(filter);
			json_decref(index);
			request_reply_error(r, 400, "the body must be {\"ready\": true|false} or empty");
			return;
		}
	}
	if (!json_is_true(json_object_get(filter, "ready"))) {
		json_decref(filter);
		request_reply_json(r, 200, index);
		return;
	}
	out = json_array();
	json_array_foreach(index, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "state")), "READY"))
			json_array_append(out, e);
	json_decref(filter);
	json_decref(index);
	request_reply_json(r, 200, out);
}

static void reply_models(struct request *r)
{
	json_t *index = repo_index(r->srv->repo), *e;
	size_t i;

	json_array_foreach(index, i, e) {
		struct served_model *m = NULL;

		if (repo_acquire(r->srv->repo, json_string_value(json_object_get(e, "name")), &m) != REPO_OK)
			continue;
		json_object_set_new(e, "sparse", json_boolean(m->sparse));
		json_object_set_new(e, "tasks", tasks_json(m));
		json_object_set_new(e, "classes", json_incref(m->classes));
		served_model_release(r->srv->repo, m);
	}
	request_reply_json(r, 200, json_pack("{s:s, s:o}", "default",
					     repo_default_name(r->srv->repo), "models", index));
}

/* GET /: the page (server/web/index.html, embedded). */
static void reply_web_page(struct request *r)
{
	char *page = malloc(stipple_web_page_len);

	if (!page) {
		request_reply_nomem(r, "copying the page");
		return;
	}
	memcpy(page, stipple_web_page, stipple_web_page_len);
	free(r->reply);
	r->status = 200;
	r->reply = page;
	r->reply_len = stipple_web_page_len;
	r->reply_type = "text/html; charset=utf-8";
}

static void reply_metrics(struct request *r)
{
	struct metrics_gauges g = {0};
	size_t len = 0;
	char *text;

	jobs_counts(r->srv->jobs, &g.queue_depth, &g.in_flight);
	g.ready = !atomic_load(&r->srv->draining) && repo_default_ready(r->srv->repo);
	repo_count_states(r->srv->repo, g.model_states);
	text = metrics_render(r->srv->metrics, &g, &len);
	if (!text) {
		request_reply_nomem(r, "rendering metrics");
		return;
	}
	free(r->reply);
	r->status = 200;
	r->reply = text;
	r->reply_len = len;
	r->reply_type = "text/plain; version=0.0.4";
}

/* ---- admin: on a thread of its own ----------------------------------------- */

static void *admin_main(void *arg)
{
	struct request *r = arg;
	char err[512];
	enum repo_status st;

	if (r->route.kind == ROUTE_REPO_UNLOAD)
		st = repo_unload(r->srv->repo, r->route.model);
	else
		st = repo_load(r->srv->repo, r->route.model, r->route.version, err, sizeof(err));
	if (st == REPO_NOT_FOUND)
		request_reply_error(r, 404, "no model named '%s' in the repository", r->route.model);
	else if (st != REPO_OK)
		request_reply_error(r, 500, "loading '%s' failed: %s", r->route.model, err);
	else
		request_reply_json(r, 200, json_pack("{s:s, s:s}", "name", r->route.model, "state",
						     r->route.kind == ROUTE_REPO_UNLOAD ? "UNAVAILABLE" : "READY"));
	r->worker_done = 1;
	http_resume(r);
	return NULL;
}

static void start_admin(struct request *r)
{
	pthread_t t;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	MHD_suspend_connection(r->conn);
	atomic_fetch_add(&r->srv->suspended, 1);
	if (pthread_create(&t, &attr, admin_main, r)) {
		request_reply_error(r, 500, "cannot start a thread for the load");
		r->worker_done = 1;
		http_resume(r);
	}
	pthread_attr_destroy(&attr);
}

int handle_sync(struct request *r)
{
	switch (r->route.kind) {
	case ROUTE_V2_META: reply_v2_meta(r); break;
	case ROUTE_LIVE: request_reply_json(r, 200, json_pack("{s:b}", "live", 1)); break;
	case ROUTE_READY: reply_ready(r); break;
	case ROUTE_MODEL_META: reply_model_meta(r); break;
	case ROUTE_MODEL_READY: reply_model_ready(r); break;
	case ROUTE_REPO_INDEX: reply_repo_index(r); break;
	case ROUTE_MODELS: reply_models(r); break;
	case ROUTE_METRICS: reply_metrics(r); break;
	case ROUTE_WEB_PAGE: reply_web_page(r); break;
	case ROUTE_REPO_LOAD:
	case ROUTE_REPO_UNLOAD:
	case ROUTE_MODEL_RELOAD:
		start_admin(r);
		return 1;
	default:
		request_reply_error(r, 500, "route %d has no handler", (int)r->route.kind);
	}
	return 0;
}

/*
 * infer.c - the worker side of an inference request: find the image in the
 * body, decode it, run the engine on it (stp_session_run_image: the model's
 * own preprocessing, the network, the task's head) under the request's
 * deadline, and build the reply (the task's result, cost, timing, and the
 * sampled cells when asked). Runs on an inference worker, never on an HTTP
 * thread. /detect and /segment answer the TaskResponse of
 * proto/openapi.yaml (the routes refuse them before the body is read for
 * models without the head); /v2/.../infer answers KServe v2 with the
 * outputs of the model's tasks (v2-tasks.c: boxes, scores, labels, classes;
 * label_map, class_fractions), or of a model without heads its feature
 * maps; feature maps are also there when asked for by name.
 *
 * Body forms: raw image bytes; {"image": "<base64>", "parameters": {...}};
 * the KServe v2 JSON request with one BYTES input holding the encoded image
 * (a base64 string or {"b64": ...}); or the v2 binary extension (JSON header,
 * then the input as one BYTES element: 4-byte little-endian length + bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "image.h"
#include "json-alloc.h"
#include "server.h"
#include "v2-tasks.h"

/* JSON outputs hold at most this many numbers; more need binary_data_output. */
#define MAX_JSON_VALUES (1 << 22)

struct infer_ctx {
	struct request *r;
	const uint8_t *image;         /* points into the body or into decoded */
	size_t image_len;
	uint8_t *decoded;             /* base64-decoded image, owned */
	json_t *doc;                  /* parsed JSON body or header */
	json_t *requested_outputs;    /* v2: borrowed from doc */
	const char *v2_id;            /* v2: borrowed from doc */
	const char *input_name;
};

static double ms_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static int abort_check(void *user)
{
	struct request *r = user;

	return atomic_load(&r->srv->abort_all) || (r->deadline_ns && now_ns() > r->deadline_ns) ||
	       request_client_gone(r);
}

/* ---- finding the image ---------------------------------------------------- */

static int take_base64(struct infer_ctx *c, const char *text, const char *what)
{
	size_t bad;
	int rc = base64_decode_field(text, strlen(text), &c->decoded, &c->image_len, &bad);

	if (rc == -2) {
		request_reply_nomem(c->r, "decoding base64");
		return -1;
	}
	if (rc) {
		request_reply_error(c->r, 400, "%s is not valid base64 (at offset %zu)", what, bad);
		return -1;
	}
	c->image = c->decoded;
	return 0;
}

static json_t *parse_json(struct infer_ctx *c, const void *data, size_t len)
{
	json_error_t err;
	json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);

	if (!doc)
		request_reply_error(c->r, 400, "malformed JSON at line %d column %d: %s", err.line,
				    err.column, err.text);
	else if (!json_is_object(doc)) {
		request_reply_error(c->r, 400, "the JSON body must be an object");
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

/* {"image": "<base64>", "parameters": {...}} */
static int image_from_json(struct infer_ctx *c)
{
	struct request *r = c->r;
	const char *key;
	json_t *v;
	char err[256];

	c->doc = parse_json(c, r->body, r->body_len);
	if (!c->doc)
		return -1;
	json_object_foreach(c->doc, key, v) {
		if (strcmp(key, "image") && strcmp(key, "parameters")) {
			request_reply_error(r, 400, "unknown field '%.64s' (expected \"image\" and \"parameters\")", key);
			return -1;
		}
	}
	v = json_object_get(c->doc, "parameters");
	if (v && params_set_json(&r->params, v, err, sizeof(err))) {
		request_reply_error(r, 400, "%s", err);
		return -1;
	}
	v = json_object_get(c->doc, "image");
	if (!json_is_string(v)) {
		request_reply_error(r, 400, "field 'image' must be a base64 string");
		return -1;
	}
	return take_base64(c, json_string_value(v), "field 'image'");
}

/* The v2 request's single BYTES input; binary data starts at tail. */
static int image_from_v2(struct infer_ctx *c, const uint8_t *tail, size_t tail_len)
{
	struct request *r = c->r;
	json_t *inputs, *in, *data, *el, *params, *bds;
	char err[256];

	params = json_object_get(c->doc, "parameters");
	if (params && params_set_json(&r->params, params, err, sizeof(err))) {
		request_reply_error(r, 400, "%s", err);
		return -1;
	}
	c->v2_id = json_string_value(json_object_get(c->doc, "id"));
	c->requested_outputs = json_object_get(c->doc, "outputs");
	if (c->requested_outputs && !json_is_array(c->requested_outputs)) {
		request_reply_error(r, 400, "'outputs' must be an array");
		return -1;
	}
	inputs = json_object_get(c->doc, "inputs");
	if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
		request_reply_error(r, 400, "'inputs' must be an array of one BYTES input holding the encoded image");
		return -1;
	}
	in = json_array_get(inputs, 0);
	if (params_check_v2_input(in, err, sizeof(err))) {
		request_reply_error(r, 400, "%s", err);
		return -1;
	}
	c->input_name = json_string_value(json_object_get(in, "name"));
	bds = json_object_get(json_object_get(in, "parameters"), "binary_data_size");
	if (bds) {
		uint32_t n;

		if (!json_is_integer(bds) || json_integer_value(bds) < 4 ||
		    (size_t)json_integer_value(bds) != tail_len) {
			request_reply_error(r, 400, "binary_data_size must equal the %zu bytes after the JSON header", tail_len);
			return -1;
		}
		n = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
		    (uint32_t)tail[3] << 24;
		if ((size_t)n != tail_len - 4) {
			request_reply_error(r, 400, "the BYTES element says %u bytes but %zu follow", n, tail_len - 4);
			return -1;
		}
		c->image = tail + 4;
		c->image_len = n;
		return 0;
	}
	data = json_object_get(in, "data");
	if (!json_is_array(data) || json_array_size(data) != 1) {
		request_reply_error(r, 400, "input 'data' must hold exactly one encoded image");
		return -1;
	}
	el = json_array_get(data, 0);
	if (json_is_object(el))
		el = json_object_get(el, "b64");
	if (!json_is_string(el)) {
		request_reply_error(r, 400, "the image must be a base64 string (or {\"b64\": ...})");
		return -1;
	}
	return take_base64(c, json_string_value(el), "the input's data");
}

static int find_image(struct infer_ctx *c)
{
	struct request *r = c->r;

	switch (r->body_kind) {
	case BODY_IMAGE:
		c->image = r->body;
		c->image_len = r->body_len;
		return 0;
	case BODY_JSON:
		if (r->route.kind != ROUTE_INFER_V2)
			return image_from_json(c);
		c->doc = parse_json(c, r->body, r->body_len);
		return c->doc ? image_from_v2(c, NULL, 0) : -1;
	case BODY_V2_BINARY:
		if (r->json_header_len > r->body_len) {
			request_reply_error(r, 400, "Inference-Header-Content-Length %zu is beyond the %zu-byte body",
					    r->json_header_len, r->body_len);
			return -1;
		}
		c->doc = parse_json(c, r->body, r->json_header_len);
		return c->doc ? image_from_v2(c, r->body + r->json_header_len,
					      r->body_len - r->json_header_len) : -1;
	default:
		request_reply_error(r, 415, "no image in the request");
		return -1;
	}
}

/* ---- the reply ------------------------------------------------------------- */

/* The sampled cells of mask i as a base64 PNG (255 = sampled); NULL when
 * out of memory. The caller frees it. */
static char *mask_png_base64(stp_session *s, int i)
{
	const uint8_t *cells;
	uint8_t *scaled, *png = NULL;
	size_t png_len;
	char *b64 = NULL;
	int h, w;

	if (stp_session_mask(s, i, &cells, &h, &w) != STP_OK ||
	    !(scaled = malloc((size_t)h * w)))
		return NULL;
	for (size_t k = 0; k < (size_t)h * w; k++)
		scaled[k] = cells[k] ? 255 : 0;
	if (image_encode_png_gray8(scaled, w, h, &png, &png_len) == 0 &&
	    (b64 = malloc(base64_encoded_size(png_len) + 1)))
		base64_encode(png, png_len, b64);
	free(png);
	free(scaled);
	return b64;
}

/* return_masks: one BYTES output per mask, "mask0", "mask1", ... */
static int v2_mask_outputs(struct request *r, stp_session *s, const struct stp_run_report *rep,
			   json_t *outputs)
{
	for (int i = 0; i < rep->nmasks; i++) {
		char name[32], *b64;

		if (stp_session_mask_density(s, i) < 0)
			continue;   /* another task's mask: this run skipped it */
		b64 = mask_png_base64(s, i);
		if (!b64) {
			request_reply_nomem(r, "encoding a mask");
			return -1;
		}
		snprintf(name, sizeof(name), "mask%d", i);
		json_array_append_new(outputs, json_pack("{s:s, s:[i], s:s, s:[s], s:{s:f}}", "name",
							 name, "shape", 1, "datatype", "BYTES",
							 "data", b64, "parameters", "density",
							 stp_session_mask_density(s, i)));
		free(b64);
	}
	return 0;
}

static int output_wanted(const struct infer_ctx *c, const char *name, int *binary)
{
	size_t i;
	json_t *o;

	*binary = c->r->params.binary_output;
	if (!c->requested_outputs || json_array_size(c->requested_outputs) == 0)
		return 1;
	json_array_foreach(c->requested_outputs, i, o) {
		if (!strcmp(json_string_value(json_object_get(o, "name")) ?
			    json_string_value(json_object_get(o, "name")) : "", name)) {
			json_t *b = json_object_get(json_object_get(o, "parameters"), "binary_data");

			if (json_is_boolean(b))
				*binary = json_is_true(b);
			return 1;
		}
	}
	return 0;
}

/* The v2 outputs: each engine output as an FP32 tensor [1, h, w, c] (NHWC). */
static int v2_outputs(struct infer_ctx *c, stp_session *s, json_t *outputs)
{
	struct request *r = c->r;
	const stp_model *m = r->model->model;
	size_t json_values = 0, i;
	json_t *o;

	json_array_foreach(c->requested_outputs, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		int k, found = name && v2_is_task_output(m, name);

		for (k = 0; name && k < stp_model_output_count(m); k++)
			found |= !strcmp(name, stp_model_output_name(m, k));
		if (!found) {
			request_reply_error(r, 400, "unknown output '%.64s'", name ? name : "(no name)");
			return -1;
		}
	}
	/* A model with heads gives its task outputs unless feature maps are named. */
	if (stp_model_tasks(m) && json_array_size(c->requested_outputs) == 0)
		return 0;
	for (int k = 0; k < stp_model_output_count(m); k++) {
		const char *name = stp_model_output_name(m, k);
		struct stp_tensor_view v;
		size_t n;
		json_t *t;
		int binary;

		if (!output_wanted(c, name, &binary) || stp_session_output(s, k, &v) != STP_OK)
			continue;
		n = (size_t)v.h * v.w * v.c;
		t = json_pack("{s:s, s:[i,i,i,i], s:s}", "name", name, "shape", 1, v.h, v.w, v.c,
			      "datatype", "FP32");
		if (binary) {
			char *tail = realloc(r->binary_tail, r->binary_tail_len + n * sizeof(float));

			if (!tail) {
				json_decref(t);
				request_reply_nomem(r, "building the outputs");
				return -1;
			}
			r->binary_tail = tail;
			for (int p = 0; p < v.h * v.w; p++)
				memcpy(tail + r->binary_tail_len + (size_t)p * v.c * sizeof(float),
				       v.data + (size_t)p * v.c_stride, (size_t)v.c * sizeof(float));
			r->binary_tail_len += n * sizeof(float);
			json_object_set_new(t, "parameters",
					    json_pack("{s:I}", "binary_data_size", (json_int_t)(n * sizeof(float))));
		} else {
			json_t *data = json_array();

			json_values += n;
			if (json_values > MAX_JSON_VALUES) {
				json_decref(t);
				json_decref(data);
				request_reply_error(r, 400, "the outputs hold more than %d values: ask for binary_data_output or fewer outputs", MAX_JSON_VALUES);
				return -1;
			}
			for (int p = 0; p < v.h * v.w; p++)
				for (int ch = 0; ch < v.c; ch++)
					json_array_append_new(data, json_real(v.data[(size_t)p * v.c_stride + ch]));
			json_object_set_new(t, "data", data);
		}
		json_array_append_new(outputs, t);
	}
	return 0;
}

/* The KServe v2 reply: the outputs, and in its parameters what was applied,
 * what the run cost (docs/method.md section 6) and where the time went. */
static void reply_v2(struct infer_ctx *c, stp_session *s, const struct stp_run_report *rep,
		     unsigned tasks)
{
	struct request *r = c->r;
	json_t *outputs = json_array(), *params, *doc;
	struct v2_tail tail;
	int failed;

	if (v2_outputs(c, s, outputs)) {
		json_decref(outputs);
		return;
	}
	tail = (struct v2_tail){r->binary_tail, r->binary_tail_len};
	failed = v2_task_outputs(r->model->model, s, tasks, &r->params, c->requested_outputs,
				 outputs, &tail);
	r->binary_tail = tail.data;
	r->binary_tail_len = tail.len;
	if (failed) {
		request_reply_nomem(r, "building the outputs");
		json_decref(outputs);
		return;
	}
	if (r->params.return_masks && v2_mask_outputs(r, s, rep, outputs)) {
		json_decref(outputs);
		return;
	}
	params = params_to_json(&r->params);
	json_object_set(params, "sparsity_budget", json_object_get(params, "budget"));
	json_object_del(params, "budget");
	json_object_set_new(params, "density", json_real(rep->mean_density));
	json_object_set_new(params, "backbone_gmacs", json_real(rep->backbone_macs / 1e9));
	json_object_set_new(params, "dense_backbone_gmacs", json_real(rep->dense_backbone_macs / 1e9));
	json_object_set_new(params, "network_gmacs", json_real(rep->network_macs / 1e9));
	json_object_set_new(params, "dense_network_gmacs", json_real(rep->dense_network_macs / 1e9));
	json_object_set_new(params, "queue_ms", json_real((double)(r->t_start_ns - r->t_arrival_ns) / 1e6));
	json_object_set_new(params, "decode_ms", json_real(r->decode_ms));
	json_object_set_new(params, "infer_ms", json_real(r->infer_ms));
	json_object_set_new(params, "request_id", json_string(r->id));
	doc = json_pack("{s:s, s:o, s:o}", "model_name", r->model->name, "parameters", params,
			"outputs", outputs);
	json_object_set_new(doc, "model_version", json_sprintf("%d", r->model->version));
	if (c->v2_id)
		json_object_set_new(doc, "id", json_string(c->v2_id));
	request_reply_json(r, 200, doc);
}

/* ---- the job ----------------------------------------------------------------- */

/* The detections kept for the request: above its score_threshold, at most
 * max_detections (the model's own limits apply first). */
static json_t *detections_json(const struct request *r, stp_session *s)
{
	const struct stp_detection *d;
	const int n = v2_kept_detections(s, &r->params, &d);
	json_t *list = json_array();

	for (int i = 0; i < n && list; i++) {
		const char *name = stp_model_class_name(r->model->model, d[i].label);
		char fallback[16];

		snprintf(fallback, sizeof(fallback), "%d", d[i].label);
		json_array_append_new(list, json_pack("{s:[ffff], s:f, s:i, s:s}", "box",
						      (double)d[i].x1, (double)d[i].y1,
						      (double)d[i].x2, (double)d[i].y2, "score",
						      (double)d[i].score, "label", d[i].label,
						      "class", name ? name : fallback));
	}
	return list;
}

/* The label map as a base64 PNG with the share of pixels of each class
 * present (keyed by class name, "background" for 0); NULL when out of memory. */
static json_t *segmentation_json(const struct request *r, stp_session *s)
{
	const uint8_t *labels;
	uint8_t *png = NULL;
	size_t png_len, count[256] = {0};
	json_t *fractions = json_object(), *out = NULL;
	char *b64 = NULL;
	int h, w;

	if (stp_session_semantic(s, &labels, &h, &w) != STP_OK || !fractions)
		goto done;
	for (size_t i = 0; i < (size_t)h * w; i++)
		count[labels[i]]++;
	for (int l = 0; l < 256; l++) {
		const char *name = l ? stp_model_class_name(r->model->model, l) : "background";
		char fallback[16];

		if (!count[l])
			continue;
		snprintf(fallback, sizeof(fallback), "%d", l);
		json_object_set_new(fractions, name ? name : fallback,
				    json_real((double)count[l] / ((double)h * w)));
	}
	if (image_encode_png_gray8(labels, w, h, &png, &png_len) == 0 &&
	    (b64 = malloc(base64_encoded_size(png_len) + 1))) {
		base64_encode(png, png_len, b64);
		out = json_pack("{s:s, s:i, s:i, s:O}", "png", b64, "width", w, "height", h,
				"class_fractions", fractions);
	}
done:
	json_decref(fractions);
	free(png);
	free(b64);
	return out;
}

/* What the run cost, docs/method.md section 6. */
static json_t *cost_json(const struct request *r, stp_session *s, const struct stp_run_report *rep)
{
	json_t *densities = json_array();

	for (int i = 0; i < rep->nmasks; i++)
		json_array_append_new(densities, json_real(stp_session_mask_density(s, i)));
	return json_pack("{s:o, s:f, s:o, s:f, s:f, s:f, s:f, s:f}", "budget",
			 params_budget_json(&r->params.run),
			 "density", rep->mean_density, "mask_densities", densities, "backbone_gmacs",
			 rep->backbone_macs / 1e9, "dense_backbone_gmacs",
			 rep->dense_backbone_macs / 1e9, "cost_ratio",
			 rep->dense_backbone_macs > 0 ? rep->backbone_macs / rep->dense_backbone_macs : 1.0,
			 "network_gmacs", rep->network_macs / 1e9, "dense_network_gmacs",
			 rep->dense_network_macs / 1e9);
}

/* The network input the masks' cells cover: padded width x height, of
 * which the image, resized, takes the top-left resized_width x
 * resized_height (a cell of an h x w mask spans width/w x height/h input
 * pixels; an input pixel is image_width / resized_width image pixels). */
static json_t *input_json(const struct request *r)
{
	int rh = 0, rw = 0, ph = 0, pw = 0;

	stp_model_input_size(r->model->model, r->image_height, r->image_width, &rh, &rw, &ph, &pw);
	return json_pack("{s:i, s:i, s:i, s:i}", "width", pw, "height", ph, "resized_width", rw,
			 "resized_height", rh);
}

/* The /detect and /segment reply (TaskResponse). */
static void reply_task(struct request *r, stp_session *s, const struct stp_run_report *rep)
{
	const double queue_ms = (double)(r->t_start_ns - r->t_arrival_ns) / 1e6;
	json_t *doc, *result;

	result = r->route.kind == ROUTE_DETECT ? detections_json(r, s) : segmentation_json(r, s);
	doc = json_pack("{s:s, s:{s:s, s:i}, s:o, s:o, s:{s:f, s:f, s:f, s:f, s:f}}", "request_id",
			r->id, "model", "name", r->model->name, "version", r->model->version,
			"parameters", params_to_json(&r->params), "cost", cost_json(r, s, rep),
			"timing_ms", "queue", queue_ms, "decode", r->decode_ms, "infer", r->infer_ms,
			"backbone", rep->backbone_ms, "total", ms_since(r->t_arrival_ns));
	if (!doc || !result) {
		json_decref(doc);
		json_decref(result);
		request_reply_nomem(r, "building the reply");
		return;
	}
	json_object_set_new(doc, r->route.kind == ROUTE_DETECT ? "detections" : "segmentation",
			    result);
	if (r->params.return_masks) {
		json_t *masks = json_array();

		for (int i = 0; i < rep->nmasks && masks; i++) {
			const uint8_t *cells;
			char *b64;
			int h, w;

			if (stp_session_mask_density(s, i) < 0)
				continue;   /* another task's mask: this run skipped it */
			b64 = mask_png_base64(s, i);
			if (!b64 || stp_session_mask(s, i, &cells, &h, &w) != STP_OK) {
				free(b64);
				json_decref(masks);
				json_decref(doc);
				request_reply_nomem(r, "encoding a mask");
				return;
			}
			json_array_append_new(masks, json_pack("{s:i, s:i, s:i, s:f, s:s}", "index", i,
							       "height", h, "width", w, "density",
							       stp_session_mask_density(s, i), "png",
							       b64));
			free(b64);
		}
		json_object_set_new(doc, "masks", masks);
		json_object_set_new(doc, "input", input_json(r));
	}
	request_reply_json(r, 200, doc);
}

/* rgb (info's size) is the posted image (full's size) at its own or a
 * reduced scale. */
static void run_engine(struct infer_ctx *c, const uint8_t *rgb, const struct image_info *info,
		       const struct image_info *full, stp_engine *engine)
{
	struct request *r = c->r;
	const struct stp_run_options opts = r->params.run;
	const unsigned task = r->route.kind == ROUTE_DETECT ? STP_TASK_DETECT :
			      r->route.kind == ROUTE_SEGMENT ? STP_TASK_SEGMENT :
			      v2_tasks_needed(r->model->model, c->requested_outputs);
	struct stp_run_report rep;
	stp_session *s = NULL;
	enum stp_status st;
	int64_t t0 = now_ns();

	st = served_model_get_session(r->model, engine, &s);
	if (st == STP_OK) {
		stp_session_set_abort(s, abort_check, r);
		st = stp_session_run_image_reduced(s, rgb, info->height, info->width,
						   (size_t)info->width * 3, full->height,
						   full->width, &opts, task);
		stp_session_set_abort(s, NULL, NULL);
	}
	r->infer_ms = ms_since(t0);
	if (st == STP_OK)
		st = stp_session_report(s, &rep);
	if (st == STP_OK) {
		metrics_inference(r->srv->metrics, r->model->name, rep.mean_density,
				  rep.backbone_macs / 1e9, rep.network_macs / 1e9);
		if (r->route.kind == ROUTE_DETECT || r->route.kind == ROUTE_SEGMENT)
			reply_task(r, s, &rep);
		else
			reply_v2(c, s, &rep, task);
	} else if (st == STP_ERR_CANCELLED && atomic_load(&r->srv->abort_all)) {
		request_reply_error(r, 503, "the server shut down while this request ran");
	} else if (st == STP_ERR_CANCELLED && request_client_gone(r)) {
		request_reply_error(r, 499, "the client closed the connection; the work was abandoned");
	} else if (st == STP_ERR_CANCELLED) {
		request_reply_error(r, 504, "the deadline passed after %.0f ms; the work was abandoned",
				    ms_since(r->t_arrival_ns));
	} else if (st == STP_ERR_NOMEM) {
		request_reply_nomem(r, "running the model");
	} else if (st == STP_ERR_BUDGET) {
		request_reply_error(r, 400, "budget %g is below this model's cheapest run at this "
				    "image's size: %.3f (its grid prior and mask convs alone)",
				    r->params.run.budget, stp_session_min_budget(s));
	} else {
		request_reply_error(r, 500, "inference failed: %s", stp_status_str(st));
	}
	if (s)
		served_model_put_session(r->model, s);
}

static void process(struct request *r, stp_engine *engine)
{
	struct infer_ctx c = {r, NULL, 0, NULL, NULL, NULL, NULL, NULL};
	struct image_info info, full;
	uint8_t *rgb = NULL;
	char err[256];
	int64_t t0;
	enum image_status ist;
	int rh = 0, rw = 0;

	if (find_image(&c))
		goto done;
	if (r->params.timeout_ms > 0)  /* a JSON body may have set it */
		r->deadline_ns = r->t_arrival_ns + (int64_t)r->params.timeout_ms * 1000000;
	t0 = now_ns();
	/* the header first: a JPEG then decodes at the smallest DCT scale that
	 * still covers the size the model resizes it to */
	ist = image_probe(c.image, c.image_len, (uint64_t)r->srv->cfg.max_pixels, &full, err,
			  sizeof(err));
	if (ist == IMAGE_OK &&
	    stp_model_input_size(r->model->model, full.height, full.width, &rh, &rw, NULL,
				 NULL) != STP_OK) {
		r->decode_ms = ms_since(t0);
		request_reply_error(r, 422, "the image cannot be resized for this model (%dx%d)",
				    full.width, full.height);
		goto done;
	}
	r->image_width = full.width;
	r->image_height = full.height;
	if (ist == IMAGE_OK)
		ist = image_decode_reduced(c.image, c.image_len, (uint64_t)r->srv->cfg.max_pixels,
					   rw, rh, &rgb, &info, err, sizeof(err));
	r->decode_ms = ms_since(t0);
	if (ist == IMAGE_ERR_NOMEM) {
		request_reply_nomem(r, "decoding the image");
		goto done;
	}
	if (ist != IMAGE_OK) {
		request_reply_error(r, 422, "%s", err);
		goto done;
	}
	if (abort_check(r)) {
		if (atomic_load(&r->srv->abort_all))
			request_reply_error(r, 503, "the server is shutting down");
		else if (request_client_gone(r))
			request_reply_error(r, 499, "the client closed the connection before inference");
		else
			request_reply_error(r, 504, "the deadline passed before inference started");
		goto done;
	}
	run_engine(&c, rgb, &info, &full, engine);
done:
	free(rgb);
	free(c.decoded);
	json_decref(c.doc);
}

void infer_run(struct job *job, stp_engine *engine)
{
	struct request *r = (struct request *)job;
	const unsigned long json_failures = json_alloc_failures();

	r->t_start_ns = now_ns();
	if (atomic_load(&r->srv->abort_all))
		request_reply_error(r, 503, "the server is shutting down");
	else if (r->deadline_ns && r->t_start_ns > r->deadline_ns)
		request_reply_error(r, 504, "the deadline passed after %.0f ms in the queue",
				    ms_since(r->t_arrival_ns));
	else
		process(r, engine);
	/* A JSON allocation failed on the way: the body may have been read with a
	 * byte missing, the reply built without a member (json-alloc.h). */
	if (json_alloc_failures() != json_failures)
		request_reply_nomem(r, "handling JSON");
	r->worker_done = 1;
	http_resume(r);
}

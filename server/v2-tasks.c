/*
 * v2-tasks.c - the KServe v2 outputs of a model's tasks (v2-tasks.h):
 * detections as boxes FP32 [N, 4] (x1, y1, x2, y2 in the posted image's
 * pixels), scores FP32 [N], labels INT32 [N] and classes BYTES [N]; a
 * segmentation as label_map UINT8 [H, W] (0 = background) and
 * class_fractions FP32 [K + 1] (the share of pixels of each label). The
 * request's score_threshold and max_detections apply as on /detect.
 *
 * Each output is JSON data, or binary data appended to the reply's tail
 * (the KServe binary extension: raw little-endian elements; BYTES as a
 * 4-byte little-endian length before each element).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v2-tasks.h"

struct task_output {
	const char *name, *datatype;
	unsigned task;
};

static const struct task_output task_outputs[] = {
	{"boxes", "FP32", STP_TASK_DETECT},
	{"scores", "FP32", STP_TASK_DETECT},
	{"labels", "INT32", STP_TASK_DETECT},
	{"classes", "BYTES", STP_TASK_DETECT},
	{"label_map", "UINT8", STP_TASK_SEGMENT},
	{"class_fractions", "FP32", STP_TASK_SEGMENT},
};
#define NOUTPUTS (sizeof(task_outputs) / sizeof(task_outputs[0]))

int v2_kept_detections(stp_session *s, const struct infer_params *p,
		       const struct stp_detection **d)
{
	int n = stp_session_detections(s, d), kept = 0;

	while (kept < n && (*d)[kept].score >= p->score_threshold &&
	       (p->max_detections <= 0 || kept < p->max_detections))
		kept++;   /* detections come by descending score */
	return kept;
}

static const struct task_output *find(const char *name)
{
	for (size_t i = 0; name && i < NOUTPUTS; i++)
		if (!strcmp(task_outputs[i].name, name))
			return &task_outputs[i];
	return NULL;
}

int v2_is_task_output(const stp_model *m, const char *name)
{
	const struct task_output *o = find(name);

	return o && (stp_model_tasks(m) & o->task);
}

/* The entry of the requested outputs naming `name`, or NULL. */
static json_t *requested(json_t *req, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(req, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "name")) ?
			    json_string_value(json_object_get(o, "name")) : "", name))
			return o;
	return NULL;
}

unsigned v2_tasks_needed(const stp_model *m, json_t *req)
{
	unsigned tasks = 0;

	if (json_array_size(req) == 0)
		return stp_model_tasks(m);
	for (size_t i = 0; i < NOUTPUTS; i++)
		if (requested(req, task_outputs[i].name))
			tasks |= task_outputs[i].task;
	return tasks & stp_model_tasks(m);
}

json_t *v2_task_output_meta(const stp_model *m)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < NOUTPUTS; i++) {
		const int two = !strcmp(task_outputs[i].name, "boxes") || !strcmp(task_outputs[i].name,
									      "label_map");
		if (!(stp_model_tasks(m) & task_outputs[i].task))
			continue;
		json_array_append_new(list, two ? json_pack("{s:s, s:s, s:[i,i]}", "name",
							    task_outputs[i].name, "datatype",
							    task_outputs[i].datatype, "shape", -1,
							    !strcmp(task_outputs[i].name, "boxes") ? 4 : -1)
						: json_pack("{s:s, s:s, s:[i]}", "name", task_outputs[i].name,
							    "datatype", task_outputs[i].datatype, "shape",
							    -1));
	}
	return list;
}

/* Appends n bytes to the tail; -1 when out of memory. */
static int append(struct v2_tail *t, const void *data, size_t n)
{
	char *p = realloc(t->data, t->len + n + 1);

	if (!p)
		return -1;
	t->data = p;
	memcpy(p + t->len, data, n);
	t->len += n;
	return 0;
}

/* Output `name` of shape dims[0..ndims) from n numbers (elem bytes each,
 * or n strings when strings != NULL), as JSON or into the tail. */
static json_t *tensor(const char *name, const char *datatype, const int *dims, int ndims,
		      const void *data, size_t n, size_t elem, const char *const *strings,
		      int binary, struct v2_tail *tail)
{
	json_t *shape = json_array(), *t;
	const size_t before = tail->len;

	for (int i = 0; i < ndims; i++)
		json_array_append_new(shape, json_integer(dims[i]));
	t = json_pack("{s:s, s:o, s:s}", "name", name, "shape", shape, "datatype", datatype);
	if (!t)
		return NULL;
	if (binary) {
		int fail = 0;
		for (size_t i = 0; i < n && !fail; i++) {
			if (strings) {
				const uint32_t len = (uint32_t)strlen(strings[i]);
				const uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8),
						       (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
				fail = append(tail, le, 4) || append(tail, strings[i], len);
			}
		}
		if (!strings)
			fail = append(tail, data, n * elem);
		if (fail) {
			json_decref(t);
			return NULL;
		}
		json_object_set_new(t, "parameters", json_pack("{s:I}", "binary_data_size",
							       (json_int_t)(tail->len - before)));
		return t;
	}
	{
		json_t *values = json_array();
		for (size_t i = 0; i < n && values; i++) {
			json_t *v = strings ? json_string(strings[i])
				    : !strcmp(datatype, "FP32") ? json_real(((const float *)data)[i])
				    : !strcmp(datatype, "INT32") ? json_integer(((const int32_t *)data)[i])
				    : json_integer(((const uint8_t *)data)[i]);
			json_array_append_new(values, v);
		}
		json_object_set_new(t, "data", values);
	}
	return t;
}

static int wanted(json_t *req, const char *name, int binary_default, int *binary)
{
	json_t *o, *b;

	*binary = binary_default;
	if (json_array_size(req) == 0)
		return 1;
	if (!(o = requested(req, name)))
		return 0;
	b = json_object_get(json_object_get(o, "parameters"), "binary_data");
	if (json_is_boolean(b))
		*binary = json_is_true(b);
	return 1;
}

/* Adds t to outputs; -1 when t is NULL (out of memory). */
static int add(json_t *outputs, json_t *t)
{
	return t ? json_array_append_new(outputs, t) : -1;
}

static int detection_outputs(const stp_model *m, stp_session *s, const struct infer_params *p,
			     json_t *req, int binary_default, json_t *out, struct v2_tail *tail)
{
	const struct stp_detection *d;
	const int n = v2_kept_detections(s, p, &d);
	float *boxes = malloc(sizeof(float) * 4 * (size_t)(n + 1));
	float *scores = malloc(sizeof(float) * (size_t)(n + 1));
	int32_t *labels = malloc(sizeof(int32_t) * (size_t)(n + 1));
	const char **classes = malloc(sizeof(char *) * (size_t)(n + 1));
	char (*fallback)[16] = malloc(sizeof(*fallback) * (size_t)(n + 1));
	int rc = -1, binary;

	if (!boxes || !scores || !labels || !classes || !fallback)
		goto done;
	for (int i = 0; i < n; i++) {
		const char *name = stp_model_class_name(m, d[i].label);
		boxes[4 * i] = d[i].x1;
		boxes[4 * i + 1] = d[i].y1;
		boxes[4 * i + 2] = d[i].x2;
		boxes[4 * i + 3] = d[i].y2;
		scores[i] = d[i].score;
		labels[i] = d[i].label;
		snprintf(fallback[i], sizeof(fallback[i]), "%d", d[i].label);
		classes[i] = name ? name : fallback[i];
	}
	rc = 0;
	if (wanted(req, "boxes", binary_default, &binary))
		rc |= add(out, tensor("boxes", "FP32", (int[]){n, 4}, 2, boxes, 4 * (size_t)n,
				      sizeof(float), NULL, binary, tail));
	if (wanted(req, "scores", binary_default, &binary))
		rc |= add(out, tensor("scores", "FP32", (int[]){n}, 1, scores, (size_t)n,
				      sizeof(float), NULL, binary, tail));
	if (wanted(req, "labels", binary_default, &binary))
		rc |= add(out, tensor("labels", "INT32", (int[]){n}, 1, labels, (size_t)n,
				      sizeof(int32_t), NULL, binary, tail));
	if (wanted(req, "classes", binary_default, &binary))
		rc |= add(out, tensor("classes", "BYTES", (int[]){n}, 1, NULL, (size_t)n, 0, classes,
				      binary, tail));
done:
	free(boxes);
	free(scores);
	free(labels);
	free(classes);
	free(fallback);
	return rc;
}

static int segmentation_outputs(const stp_model *m, stp_session *s, json_t *req,
				int binary_default, json_t *out, struct v2_tail *tail)
{
	const int k = stp_model_class_count(m) + 1;
	const uint8_t *labels;
	float *shares;
	int h, w, binary, rc = 0;

	if (stp_session_semantic(s, &labels, &h, &w) != STP_OK)
		return -1;
	if (wanted(req, "label_map", binary_default, &binary))
		rc |= add(out, tensor("label_map", "UINT8", (int[]){h, w}, 2, labels,
				      (size_t)h * w, 1, NULL, binary, tail));
	if (!wanted(req, "class_fractions", binary_default, &binary))
		return rc;
	if (!(shares = calloc((size_t)k, sizeof(float))))
		return -1;
	for (size_t i = 0; i < (size_t)h * w; i++)
		if (labels[i] < k)
			shares[labels[i]] += 1.0f;
	for (int l = 0; l < k; l++)
		shares[l] /= (float)((double)h * w);
	rc |= add(out, tensor("class_fractions", "FP32", (int[]){k}, 1, shares, (size_t)k,
			      sizeof(float), NULL, binary, tail));
	free(shares);
	return rc;
}

int v2_task_outputs(const stp_model *m, stp_session *s, unsigned tasks,
		    const struct infer_params *p, json_t *req, json_t *out, struct v2_tail *tail)
{
	int rc = 0;

	if (tasks & STP_TASK_DETECT)
		rc |= detection_outputs(m, s, p, req, p->binary_output, out, tail);
	if (tasks & STP_TASK_SEGMENT)
		rc |= segmentation_outputs(m, s, req, p->binary_output, out, tail);
	return rc ? -1 : 0;
}

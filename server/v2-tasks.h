/*
 * v2-tasks.h - KServe v2 / Open Inference Protocol outputs of a model's
 * tasks (v2-tasks.c): what a v2 client gets instead of feature maps.
 */
#ifndef STIPPLE_SERVER_V2_TASKS_H
#define STIPPLE_SERVER_V2_TASKS_H

#include <jansson.h>

#include "params.h"
#include "stipple.h"

/* The binary data after the reply's JSON header (grows; caller frees data). */
struct v2_tail {
	char *data;
	size_t len;
};

/* The detections of the last run a request keeps: those from its
 * score_threshold, at most max_detections; returns their count. */
int v2_kept_detections(stp_session *s, const struct infer_params *p,
		       const struct stp_detection **d);

/* Whether `name` is one of m's task outputs (boxes, scores, labels,
 * classes with a detection head; label_map, class_fractions with a
 * segmentation head). */
int v2_is_task_output(const stp_model *m, const char *name);

/* The STP_TASK_* bits a request's "outputs" (NULL or empty: every task
 * output) needs from m. */
unsigned v2_tasks_needed(const stp_model *m, json_t *requested);

/* [{name, datatype, shape}] of m's task outputs (-1: a size that varies). */
json_t *v2_task_output_meta(const stp_model *m);

/* Appends to out the task outputs of the last run (tasks: what it ran)
 * that `requested` asks for (NULL or empty: all), as JSON data or binary
 * in tail (the request's binary_output, or an output's binary_data).
 * 0, or -1 when out of memory. */
int v2_task_outputs(const stp_model *m, stp_session *s, unsigned tasks,
		    const struct infer_params *p, json_t *requested, json_t *out,
		    struct v2_tail *tail);

#endif

/*
 * params.h - the per-request parameters of the inference endpoints, parsed
 * from a query string (values are strings) or from a JSON "parameters"
 * object (values are numbers, strings or booleans), with one table of names
 * for both. Every mistake gives a message naming the parameter; unknown
 * names are errors, so a misspelt "budjet" is not silently ignored.
 */
#ifndef STIPPLE_SERVER_PARAMS_H
#define STIPPLE_SERVER_PARAMS_H

#include <jansson.h>
#include <stdint.h>

#include "stipple.h"

/* Detections a request gets unless it sets score_threshold: those a served
 * detector shows (NanoDet's demo draws above 0.35; COCO evaluation wants all,
 * score_threshold=0). `stipple detect` has the same default. */
#define PARAMS_DEFAULT_SCORE_THRESHOLD 0.3

struct infer_params {
	struct stp_run_options run; /* budget "auto" (trained masks), "dense" or a number
				     * in (0, 1]; sampling; seed */
	double score_threshold;  /* detections below are dropped (default
				  * PARAMS_DEFAULT_SCORE_THRESHOLD; 0: all the model keeps) */
	int max_detections;      /* <= 0: the model's */
	int timeout_ms;          /* 0: the server's default */
	int return_masks;        /* add the sampled cells of each mask as PNGs */
	int binary_output;       /* KServe: outputs as binary data */
};

void params_defaults(struct infer_params *p);

/* Sets one parameter from its text (a query-string value). Returns 0, or -1
 * with a message in err. */
int params_set_text(struct infer_params *p, const char *name, const char *value, char *err,
		    size_t errlen);

/* Sets every member of a JSON object ("sparsity_budget", the KServe
 * spelling, is the same as "budget"). Returns 0 or -1 with err. */
int params_set_json(struct infer_params *p, const json_t *obj, char *err, size_t errlen);

/* The one input tensor of a KServe v2 request, `in` (inputs[0]): an object
 * with a string "name", datatype "BYTES" and a "shape" of positive integer
 * dimensions holding exactly one element (the encoded image: [1], [1, 1],
 * ...). Returns 0, or -1 with the problem named in err. */
int params_check_v2_input(const json_t *in, char *err, size_t errlen);

/* The parameters as applied, for echoing in responses (new reference). */
json_t *params_to_json(const struct infer_params *p);
/* A run's budget as the API spells it: "auto", "dense" or the number. */
json_t *params_budget_json(const struct stp_run_options *run);

#endif

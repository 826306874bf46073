/*
 * params.c - see params.h. JSON values are turned into the same text a query
 * string would carry and go through the one text parser, so both spellings
 * accept exactly the same values.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

void params_defaults(struct infer_params *p)
{
	memset(p, 0, sizeof(*p));
	p->score_threshold = PARAMS_DEFAULT_SCORE_THRESHOLD;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) ? -1 : 0;
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || end == s || *end || *out < min || *out > max ? -1 : 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int params_set_text(struct infer_params *p, const char *name, const char *value, char *err,
		    size_t errlen)
{
	long long v;
	double d;

	if (!strcmp(name, "budget") || !strcmp(name, "sparsity_budget")) {
		if (!strcmp(value, "auto") || !strcmp(value, "dense")) {
			p->run.mode = value[0] == 'a' ? STP_RUN_TRAINED : STP_RUN_DENSE;
			return 0;
		}
		if (parse_double(value, &d) || !(d > 0 && d <= 1))
			FAIL("parameter '%s': '%s' is not a number in (0, 1], \"auto\" or \"dense\"",
			     name, value);
		p->run.mode = STP_RUN_BUDGET;
		p->run.budget = d;
	} else if (!strcmp(name, "sampling")) {
		if (!strcmp(value, "deterministic"))
			p->run.sampling = STP_SAMPLING_DETERMINISTIC;
		else if (!strcmp(value, "stochastic"))
			p->run.sampling = STP_SAMPLING_STOCHASTIC;
		else
			FAIL("parameter 'sampling': '%s' is not \"deterministic\" or \"stochastic\"", value);
	} else if (!strcmp(name, "seed")) {
		char *end;

		errno = 0;
		if (value[0] == '-' || value[0] == '\0')
			FAIL("parameter 'seed': '%s' is not an unsigned 64-bit integer", value);
		p->run.seed = strtoull(value, &end, 10);
		if (errno || *end)
			FAIL("parameter 'seed': '%s' is not an unsigned 64-bit integer", value);
	} else if (!strcmp(name, "score_threshold")) {
		if (parse_double(value, &d) || d < 0 || d > 1)
			FAIL("parameter 'score_threshold': '%s' is not a number in [0, 1]", value);
		p->score_threshold = d;
	} else if (!strcmp(name, "max_detections")) {
		if (parse_int(value, 1, 10000, &v))
			FAIL("parameter 'max_detections': '%s' is not an integer in [1, 10000]", value);
		p->max_detections = (int)v;
	} else if (!strcmp(name, "timeout_ms")) {
		if (parse_int(value, 1, 86400000, &v))
			FAIL("parameter 'timeout_ms': '%s' is not an integer in [1, 86400000]", value);
		p->timeout_ms = (int)v;
	} else if (!strcmp(name, "return_masks")) {
		if (parse_bool(value, &p->return_masks))
			FAIL("parameter 'return_masks': '%s' is not true or false", value);
	} else if (!strcmp(name, "binary_data_output")) {
		if (parse_bool(value, &p->binary_output))
			FAIL("parameter 'binary_data_output': '%s' is not true or false", value);
	} else {
		FAIL("unknown parameter '%.64s'", name);
	}
	return 0;
}

int params_set_json(struct infer_params *p, const json_t *obj, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		FAIL("'parameters' must be a JSON object");
	json_object_foreach((json_t *)obj, key, v) {
		char text[64];

		if (json_is_string(v)) {
			if (params_set_text(p, key, json_string_value(v), err, errlen))
				return -1;
			continue;
		}
		if (json_is_integer(v))
			snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(text, sizeof(text), "%.17g", json_real_value(v));
		else if (json_is_boolean(v))
			snprintf(text, sizeof(text), "%s", json_is_true(v) ? "true" : "false");
		else
			FAIL("parameter '%.64s' must be a string, number or boolean", key);
		if (params_set_text(p, key, text, err, errlen))
			return -1;
	}
	return 0;
}

int params_check_v2_input(const json_t *in, char *err, size_t errlen)
{
	const json_t *shape = json_object_get(in, "shape"), *dim;
	const char *datatype = json_string_value(json_object_get(in, "datatype"));
	size_t i;

	if (!json_is_object(in) || !json_is_string(json_object_get(in, "name")))
		FAIL("the input must be an object with a 'name'");
	if (!datatype || strcmp(datatype, "BYTES"))
		FAIL("the input's datatype must be \"BYTES\" (the encoded image), not %s%.32s%s",
		     datatype ? "\"" : "", datatype ? datatype : "none", datatype ? "\"" : "");
	if (!json_is_array(shape) || json_array_size(shape) == 0 || json_array_size(shape) > 8)
		FAIL("the input's 'shape' must be an array of 1 to 8 dimensions, e.g. [1]");
	json_array_foreach(shape, i, dim) {
		if (!json_is_integer(dim))
			FAIL("the input's shape[%zu] is not an integer", i);
		if (json_integer_value(dim) < 0)
			FAIL("the input's shape[%zu] is negative (%lld)", i,
			     (long long)json_integer_value(dim));
		if (json_integer_value(dim) != 1)
			FAIL("the input's shape[%zu] is %lld: the input holds one encoded image, so "
			     "every dimension is 1", i, (long long)json_integer_value(dim));
	}
	return 0;
}

json_t *params_budget_json(const struct stp_run_options *run)
{
	if (run->mode == STP_RUN_BUDGET)
		return json_real(run->budget);
	return json_string(run->mode == STP_RUN_DENSE ? "dense" : "auto");
}

json_t *params_to_json(const struct infer_params *p)
{
	json_t *o = json_object();
	const int stochastic = p->run.sampling == STP_SAMPLING_STOCHASTIC;

	json_object_set_new(o, "budget", params_budget_json(&p->run));
	json_object_set_new(o, "sampling", json_string(stochastic ? "stochastic" : "deterministic"));
	if (stochastic)
		json_object_set_new(o, "seed", json_integer((json_int_t)p->run.seed));
	if (p->timeout_ms > 0)
		json_object_set_new(o, "timeout_ms", json_integer(p->timeout_ms));
	return o;
}

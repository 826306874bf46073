/*
 * arch-json.c - see arch-json.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch-json.h"

/* obj (named path, "" at the top) must be an object holding every one of
 * keys, and may hold those of optional (NULL: none), but nothing else. */
enum stp_status stp_json_object_opt(struct stp_json_ctx *c, json_t *obj, const char *path,
					const char *const *keys, const char *const *optional)
{
	const char *key;
	json_t *value;

	if (!json_is_object(obj))
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s must be an object", *path ? path : "the document");
	json_object_foreach(obj, key, value) {
		int known = 0;
		for (int i = 0; keys[i] && !known; i++)
			known = strcmp(keys[i], key) == 0;
		for (int i = 0; optional && optional[i] && !known; i++)
			known = strcmp(optional[i], key) == 0;
		if (!known)
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: unknown key '%s' in %s", key,
					     *path ? path : "the document");
	}
	for (int i = 0; keys[i]; i++)
		if (!json_object_get(obj, keys[i]))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %s%s%s is missing", path,
					     *path ? "." : "", keys[i]);
	return STP_OK;
}

/* obj must be an object holding exactly keys. */
enum stp_status stp_json_object(struct stp_json_ctx *c, json_t *obj, const char *path,
				    const char *const *keys)
{
	return stp_json_object_opt(c, obj, path, keys, NULL);
}

/* An integer in lo..hi; prefix is the path with its trailing dot. */
enum stp_status stp_json_int(struct stp_json_ctx *c, json_t *obj, const char *prefix, const char *key,
			       int lo, int hi, int *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!json_is_integer(v) || (x = json_integer_value(v)) < lo || x > hi)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s%s must be an integer in %d..%d", prefix, key,
				     lo, hi);
	*out = (int)x;
	return STP_OK;
}

/* A list of n integers in lo..hi. */
enum stp_status stp_json_ints(struct stp_json_ctx *c, json_t *obj, const char *prefix, const char *key,
				int n, int lo, int hi, int *out)
{
	json_t *v = json_object_get(obj, key);
	int ok = json_is_array(v) && json_array_size(v) == (size_t)n;

	for (int i = 0; ok && i < n; i++) {
		json_t *e = json_array_get(v, i);
		const json_int_t x = json_is_integer(e) ? json_integer_value(e) : (json_int_t)lo - 1;
		ok = x >= lo && x <= hi;
		if (ok)
			out[i] = (int)x;
	}
	if (!ok)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s%s must be %d integers in %d..%d", prefix, key,
				     n, lo, hi);
	return STP_OK;
}

/* A JSON number (integer or real) that is finite as a float. */
int stp_json_number(json_t *v, float *out)
{
	float f;
	if (!json_is_number(v))
		return 0;
	f = (float)json_number_value(v);
	if (!isfinite(f))
		return 0;
	*out = f;
	return 1;
}

/* One of the strings names[0..n); its index in *out. */
enum stp_status stp_json_choice(struct stp_json_ctx *c, json_t *obj, const char *prefix,
				  const char *key, const char *const *names, int n, int *out)
{
	const char *s = json_string_value(json_object_get(obj, key));
	char list[128] = "";
	for (int i = 0; s && i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return STP_OK;
		}
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(list);
		snprintf(list + len, sizeof(list) - len, "%s\"%s\"", i == 0 ? "" :
			 i == n - 1 ? " or " : ", ", names[i]);
	}
	return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT, "architecture: %s%s must be %s",
			     prefix, key, list);
}

enum stp_status stp_json_densities(struct stp_json_ctx *c, json_t *v, const char *path, int max,
				   float *out, int *n)
{
	const size_t count = json_array_size(v);

	*n = 0;
	if (!v || json_is_null(v))
		return STP_OK;
	if (!json_is_array(v) || count < 1 || count > (size_t)max)
		return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
				     "architecture: %s must be a list of 1..%d mask densities", path,
				     max);
	for (size_t i = 0; i < count; i++) {
		float d;

		if (!stp_json_number(json_array_get(v, i), &d) || !(d > 0 && d <= 1))
			return stp_set_error(c->err, c->errlen, STP_ERR_FORMAT,
					     "architecture: %s[%zu] must be a density in (0, 1]", path,
					     i);
		out[i] = d;
	}
	*n = (int)count;
	return STP_OK;
}

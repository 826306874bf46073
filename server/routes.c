/*
 * routes.c - the route table: every path the daemon answers, its method,
 * and what it needs (a body, the admin token, a worker). Paths are split
 * into segments and matched against patterns where "{m}" is a model name and
 * "{v}" a version; KServe's optional "/versions/{v}" is handled by removing
 * it before matching.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct route_pattern {
	const char *pattern;
	const char *method;
	enum route_kind kind;
	const char *endpoint;
	int needs_body, admin, job;
};

static const struct route_pattern patterns[] = {
	{"/", "GET", ROUTE_WEB_PAGE, "page", 0, 0, 0},
	{"/v2", "GET", ROUTE_V2_META, "v2_metadata", 0, 0, 0},
	{"/v2/health/live", "GET", ROUTE_LIVE, "live", 0, 0, 0},
	{"/v2/health/ready", "GET", ROUTE_READY, "ready", 0, 0, 0},
	{"/v2/models/{m}", "GET", ROUTE_MODEL_META, "model_metadata", 0, 0, 0},
	{"/v2/models/{m}/ready", "GET", ROUTE_MODEL_READY, "model_ready", 0, 0, 0},
	{"/v2/models/{m}/infer", "POST", ROUTE_INFER_V2, "infer", 1, 0, 1},
	{"/v2/repository/index", "POST", ROUTE_REPO_INDEX, "repository_index", 0, 0, 0},
	{"/v2/repository/models/{m}/load", "POST", ROUTE_REPO_LOAD, "load", 0, 1, 0},
	{"/v2/repository/models/{m}/unload", "POST", ROUTE_REPO_UNLOAD, "unload", 0, 1, 0},
	{"/detect", "POST", ROUTE_DETECT, "detect", 1, 0, 1},
	{"/segment", "POST", ROUTE_SEGMENT, "segment", 1, 0, 1},
	{"/v1/models", "GET", ROUTE_MODELS, "models", 0, 0, 0},
	{"/v1/models/{m}/detect", "POST", ROUTE_DETECT, "detect", 1, 0, 1},
	{"/v1/models/{m}/segment", "POST", ROUTE_SEGMENT, "segment", 1, 0, 1},
	{"/v1/models/{m}/load", "POST", ROUTE_REPO_LOAD, "load", 0, 1, 0},
	{"/v1/models/{m}/unload", "POST", ROUTE_REPO_UNLOAD, "unload", 0, 1, 0},
	{"/v1/models/{m}/reload", "POST", ROUTE_MODEL_RELOAD, "reload", 0, 1, 0},
	{"/metrics", "GET", ROUTE_METRICS, "metrics", 0, 0, 0},
};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

#define MAX_SEGMENTS 8

/* Splits path at '/' into at most MAX_SEGMENTS non-empty segments (pointers
 * into buf). Returns the count, or -1 when there are too many or one is
 * empty (a "//" or a trailing "/"). */
static int split(char *buf, char *seg[MAX_SEGMENTS])
{
	int n = 0;
	char *p = buf;

	if (*p != '/')
		return -1;
	if (p[1] == '\0')
		return 0;
	for (;;) {
		char *start = ++p;   /* p was at a '/' */

		while (*p && *p != '/')
			p++;
		if (p == start || n == MAX_SEGMENTS)
			return -1;
		seg[n++] = start;
		if (!*p)
			return n;
		*p = '\0';
	}
}

/* "/v2/models/m/versions/3/infer" -> "/v2/models/m/infer", version 3. */
static int strip_version(char *seg[], int *n, int *version)
{
	char *end;
	long v;

	if (*n < 5 || strcmp(seg[0], "v2") || strcmp(seg[1], "models") || strcmp(seg[3], "versions"))
		return 0;
	v = strtol(seg[4], &end, 10);
	if (*end || end == seg[4] || v <= 0 || v > 1000000000 || seg[4][0] == '+')
		return -1;
	*version = (int)v;
	memmove(&seg[3], &seg[5], (size_t)(*n - 5) * sizeof(seg[0]));
	*n -= 2;
	return 0;
}

static int match_pattern(const char *pattern, char *seg[], int n, char model[REPO_NAME_MAX])
{
	char buf[128], *pseg[MAX_SEGMENTS];
	int pn;

	snprintf(buf, sizeof(buf), "%s", pattern);
	pn = split(buf, pseg);
	if (pn != n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (!strcmp(pseg[i], "{m}")) {
			if (strlen(seg[i]) >= REPO_NAME_MAX)
				return 0;
			snprintf(model, REPO_NAME_MAX, "%s", seg[i]);
		} else if (strcmp(pseg[i], seg[i])) {
			return 0;
		}
	}
	return 1;
}

int route_match(const char *method, const char *path, struct route *out)
{
	const char *allow;
	char buf[256], *seg[MAX_SEGMENTS];
	int n, version = 0, path_known = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(path) >= sizeof(buf))
		return 404;
	snprintf(buf, sizeof(buf), "%s", path);
	n = split(buf, seg);
	if (n < 0 || strip_version(seg, &n, &version))
		return 404;
	for (size_t i = 0; i < NPATTERNS; i++) {
		char model[REPO_NAME_MAX] = "";

		if (!match_pattern(patterns[i].pattern, seg, n, model))
			continue;
		if (strcmp(method, patterns[i].method)) {
			out->method = patterns[i].method;  /* for the 405's Allow header */
			path_known = 1;
			continue;
		}
		out->kind = patterns[i].kind;
		out->method = patterns[i].method;
		out->endpoint = patterns[i].endpoint;
		out->needs_body = patterns[i].needs_body;
		out->admin = patterns[i].admin;
		out->job = patterns[i].job;
		out->version = version;
		snprintf(out->model, sizeof(out->model), "%s", model);
		return 0;
	}
	allow = out->method;
	memset(out, 0, sizeof(*out));
	out->method = allow;
	return path_known ? 405 : 404;
}

/*
 * test-server-parsers.c - stippled's pure parsers against hand-written
 * cases: the route table (paths, methods, KServe versions, malformed paths),
 * request parameters (query text and JSON, every bound), the config table
 * (flags, file, ranges, unknown names) and the metrics exposition.
 */
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "../server/settings.h"
#include "../server/metrics.h"
#include "../server/params.h"
#include "../server/server.h"

static void test_routes(void)
{
	struct route r;

	CHECK(route_match("POST", "/detect", &r) == 0 && r.kind == ROUTE_DETECT && r.job &&
	      r.model[0] == '\0', "/detect");
	CHECK(route_match("POST", "/v1/models/m-1.x/segment", &r) == 0 && r.kind == ROUTE_SEGMENT &&
	      !strcmp(r.model, "m-1.x"), "v1 segment");
	CHECK(route_match("POST", "/v2/models/abc/versions/12/infer", &r) == 0 &&
	      r.kind == ROUTE_INFER_V2 && r.version == 12 && !strcmp(r.model, "abc"), "versioned infer");
	CHECK(route_match("GET", "/v2/models/abc/versions/3", &r) == 0 && r.kind == ROUTE_MODEL_META &&
	      r.version == 3, "versioned metadata");
	CHECK(route_match("GET", "/v2/models/abc/versions/0/ready", &r) == 404, "version 0");
	CHECK(route_match("GET", "/v2/models/abc/versions/x/ready", &r) == 404, "version x");
	CHECK(route_match("GET", "/detect", &r) == 405 && !strcmp(r.method, "POST"), "405 + Allow");
	CHECK(route_match("POST", "/v2/health/ready", &r) == 405, "POST ready");
	CHECK(route_match("GET", "/v2/health//ready", &r) == 404, "empty segment");
	CHECK(route_match("GET", "/v2/health/ready/", &r) == 404, "trailing slash");
	CHECK(route_match("GET", "/", &r) == 0 && r.kind == ROUTE_WEB_PAGE && !r.job, "the page");
	CHECK(route_match("POST", "/", &r) == 405, "POST the page");
	CHECK(route_match("GET", "", &r) == 404, "empty");
	CHECK(route_match("GET", "/a/b/c/d/e/f/g/h/i/j", &r) == 404, "too deep");
	CHECK(route_match("POST", "/v1/models/m/reload", &r) == 0 && r.admin, "admin route");
	CHECK(route_match("POST", "/v2/repository/models/m/unload", &r) == 0 &&
	      r.kind == ROUTE_REPO_UNLOAD && r.admin, "repository unload");
}

static void test_params(void)
{
	struct infer_params p;
	char err[256];
	json_t *o;

	params_defaults(&p);
	CHECK(p.run.mode == STP_RUN_TRAINED && p.run.sampling == STP_SAMPLING_DETERMINISTIC,
	      "defaults: trained masks, deterministic");
	CHECK(params_set_text(&p, "budget", "0.25", err, sizeof(err)) == 0 &&
	      p.run.mode == STP_RUN_BUDGET && p.run.budget == 0.25, "budget");
	CHECK(params_set_text(&p, "budget", "auto", err, sizeof(err)) == 0 &&
	      p.run.mode == STP_RUN_TRAINED, "auto");
	CHECK(params_set_text(&p, "budget", "dense", err, sizeof(err)) == 0 &&
	      p.run.mode == STP_RUN_DENSE, "dense");
	CHECK(params_set_text(&p, "budget", "1", err, sizeof(err)) == 0 &&
	      p.run.mode == STP_RUN_BUDGET && p.run.budget == 1, "budget 1");
	CHECK(params_set_text(&p, "budget", "Dense", err, sizeof(err)) && strstr(err, "\"dense\""),
	      "budget spelling");
	CHECK(params_set_text(&p, "budget", "0", err, sizeof(err)) && strstr(err, "'budget'"), "budget 0");
	CHECK(params_set_text(&p, "budget", "1.0001", err, sizeof(err)), "budget > 1");
	CHECK(params_set_text(&p, "budget", "nan", err, sizeof(err)), "budget nan");
	CHECK(params_set_text(&p, "budget", "0.5x", err, sizeof(err)), "budget trailing junk");
	CHECK(params_set_text(&p, "sampling", "stochastic", err, sizeof(err)) == 0 &&
	      p.run.sampling == STP_SAMPLING_STOCHASTIC, "sampling");
	CHECK(params_set_text(&p, "sampling", "random", err, sizeof(err)) && strstr(err, "'sampling'"), "bad sampling");
	CHECK(params_set_text(&p, "seed", "18446744073709551615", err, sizeof(err)) == 0 &&
	      p.run.seed == 18446744073709551615ULL, "max seed");
	CHECK(params_set_text(&p, "seed", "18446744073709551616", err, sizeof(err)), "seed overflow");
	CHECK(params_set_text(&p, "seed", "-1", err, sizeof(err)), "negative seed");
	CHECK(params_set_text(&p, "max_detections", "0", err, sizeof(err)), "max_detections 0");
	CHECK(params_set_text(&p, "timeout_ms", "250", err, sizeof(err)) == 0 && p.timeout_ms == 250, "timeout");
	CHECK(params_set_text(&p, "return_masks", "yes", err, sizeof(err)), "bool spelling");
	CHECK(params_set_text(&p, "budjet", "0.5", err, sizeof(err)) && strstr(err, "'budjet'"), "unknown");

	params_defaults(&p);
	o = json_pack("{s:f, s:s, s:i, s:b}", "sparsity_budget", 0.5, "sampling", "stochastic",
		      "seed", 9, "return_masks", 1);
	CHECK(params_set_json(&p, o, err, sizeof(err)) == 0 && p.run.mode == STP_RUN_BUDGET &&
	      p.run.budget == 0.5 && p.run.sampling == STP_SAMPLING_STOCHASTIC && p.run.seed == 9 &&
	      p.return_masks, "JSON parameters");
	json_decref(o);
	o = json_pack("{s:[i]}", "budget", 1);
	CHECK(params_set_json(&p, o, err, sizeof(err)) && strstr(err, "'budget'"), "array value");
	json_decref(o);
	o = json_pack("{s:b}", "budget", 1);
	CHECK(params_set_json(&p, o, err, sizeof(err)), "boolean budget");
	json_decref(o);
}

static void test_config(void)
{
	struct config c;
	char path[] = "/tmp/stippled-test-XXXXXX";
	int fd = mkstemp(path);
	char *ok[] = {"stippled", "--queue_size", "3", "--listen=127.0.0.1:0", "--access_log", "false", NULL};
	char *bad_range[] = {"stippled", "--queue_size", "-1", NULL};
	char *unknown[] = {"stippled", "--queue", "3", NULL};
	char *missing[] = {"stippled", "--workers", NULL};
	char *file[] = {"stippled", "--config", path, "--workers", "2", NULL};
	FILE *f;

	CHECK(config_parse(&c, 6, ok) == 0 && c.queue_size == 3 && !strcmp(c.listen, "127.0.0.1:0") &&
	      !c.access_log && c.max_body_bytes == 33554432, "flags and defaults");
	config_free(&c);
	CHECK(config_parse(&c, 3, bad_range) == -1, "out of range");
	config_free(&c);
	CHECK(config_parse(&c, 3, unknown) == -1, "unknown flag");
	config_free(&c);
	CHECK(config_parse(&c, 2, missing) == -1, "missing value");
	config_free(&c);
	if (fd < 0)
		HARNESS_ERROR("mkstemp");
	f = fdopen(fd, "w");
	fprintf(f, "# comment\n\nworkers = 7\nlog_level = debug\nqueue_size=5\n");
	fclose(f);
	CHECK(config_parse(&c, 5, file) == 0 && c.workers == 2 && c.queue_size == 5 &&
	      !strcmp(c.log_level, "debug"), "file, then flags win");
	config_free(&c);
	f = fopen(path, "w");
	fprintf(f, "log_level = loud\n");
	fclose(f);
	CHECK(config_parse(&c, 5, file) == -1, "bad choice in file");
	config_free(&c);
	unlink(path);
}

static void test_metrics(void)
{
	struct metrics *m = metrics_create();
	struct metrics_gauges g = {2, 1, 1, {0, 0, 1, 0}};
	size_t len;
	char *text;

	metrics_request(m, "r18", "infer", 200, 1.5, 30, 32);
	metrics_request(m, "r18", "infer", 200, 1.5, 30, 32);
	metrics_request(m, "", "ready", 503, -1, -1, 0.1);
	metrics_inference(m, "r18", 0.4, 3.2, 4.5);
	text = metrics_render(m, &g, &len);
	CHECK(text && strlen(text) == len, "rendered");
	CHECK(strstr(text, "stipple_requests_total{model=\"r18\",endpoint=\"infer\",status=\"200\"} 2\n"),
	      "counter");
	CHECK(strstr(text, "stipple_infer_duration_seconds_bucket{model=\"r18\",le=\"0.025\"} 0\n") &&
	      strstr(text, "stipple_infer_duration_seconds_bucket{model=\"r18\",le=\"0.05\"} 2\n"),
	      "cumulative buckets, in seconds");
	CHECK(strstr(text, "stipple_infer_duration_seconds_sum{model=\"r18\"} 0.060000\n"),
	      "seconds summed");
	CHECK(strstr(text, "stipple_network_gmacs_sum{model=\"r18\"} 4.5"), "network GMACs");
	CHECK(strstr(text, "stipple_build_info{version=\"") &&
	      strstr(text, "\nprocess_resident_memory_bytes ") && strstr(text, "\nprocess_open_fds ") &&
	      strstr(text, "\nprocess_cpu_seconds_total "), "version and process metrics");
	CHECK(strstr(text, "stipple_mask_density_sum{model=\"r18\"} 0.4"), "density sum");
	CHECK(strstr(text, "stipple_queue_depth 2\n") && strstr(text, "stipple_models{state=\"READY\"} 1\n"),
	      "gauges");
	free(text);
	metrics_destroy(m);
}

/* inputs[0] of a KServe v2 request: each case's message names the problem */
static void test_v2_input(void)
{
	static const struct {
		const char *json, *needle;   /* needle NULL: accepted */
	} cases[] = {
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [1]}", NULL},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [1, 1]}", NULL},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [-1]}", "negative"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": []}", "1 to 8"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [0]}", "shape[0] is 0"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [1, 2]}", "shape[1] is 2"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [9007199254740993]}",
		 "one encoded image"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\", \"shape\": [1.5]}", "not an integer"},
		{"{\"name\": \"image\", \"datatype\": \"BYTES\"}", "'shape'"},
		{"{\"name\": \"image\", \"datatype\": \"FP32\", \"shape\": [1]}", "\"FP32\""},
		{"{\"datatype\": \"BYTES\", \"shape\": [1]}", "'name'"},
		{"[1]", "'name'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *in = json_loads(cases[i].json, 0, NULL);
		char err[256] = "";
		const int rc = params_check_v2_input(in, err, sizeof(err));

		if (cases[i].needle)
			CHECK(rc == -1 && strstr(err, cases[i].needle), "%s: refused naming '%s' (%s)",
			      cases[i].json, cases[i].needle, err);
		else
			CHECK(rc == 0, "%s: accepted (%s)", cases[i].json, err);
		json_decref(in);
	}
}

int main(void)
{
	test_routes();
	test_params();
	test_v2_input();
	test_config();
	test_metrics();
	return test_main_end();
}

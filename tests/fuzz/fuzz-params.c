/*
 * fuzz-params.c - a libFuzzer harness for the request-parameter parsers and
 * the route table: each input is parsed as a JSON "parameters" object (with
 * duplicate keys rejected, as the daemon does) and checked as a KServe v2
 * input tensor, as a query string split at
 * '&' and '=', and as a request path under both methods. Crashes, leaks and
 * undefined behaviour are what the sanitizers report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/params.h"
#include "../../server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_query(char *text)
{
	struct infer_params p;
	char err[256], *save = NULL;

	params_defaults(&p);
	for (char *pair = strtok_r(text, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');

		if (eq)
			*eq = '\0';
		if (params_set_text(&p, pair, eq ? eq + 1 : "", err, sizeof(err)))
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct infer_params p;
	struct route r;
	json_error_t jerr;
	char err[256], *text = malloc(size + 1);
	json_t *doc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	params_defaults(&p);
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (doc) {
		if (params_set_json(&p, doc, err, sizeof(err)) == 0)
			json_decref(params_to_json(&p));
		params_check_v2_input(doc, err, sizeof(err));
		json_decref(doc);
	}
	route_match("GET", text, &r);
	route_match("POST", text, &r);
	parse_query(text);
	free(text);
	return 0;
}

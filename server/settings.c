/*
 * settings.c - the settings table and its three readers (defaults, config
 * file, flags) and two writers (--help, --dump-config). Adding a setting is
 * adding one row to config_table and one field to struct config.
 *
 * Numbers are checked strictly (the whole string, no overflow, inside the
 * row's range); every mistake is one line naming the setting and where it
 * came from ("stippled.conf:12: queue_size: ...").
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "stipple.h"
#include "settings.h"

#ifndef STIPPLED_MODEL_DIR
#define STIPPLED_MODEL_DIR "models"
#endif
#ifndef STIPPLED_SOURCE_MODEL_DIR
#define STIPPLED_SOURCE_MODEL_DIR STIPPLED_MODEL_DIR
#endif

enum config_type { CFG_INT, CFG_LLONG, CFG_STRING, CFG_BOOL };

struct config_row {
	const char *name;
	enum config_type type;
	size_t offset;
	long long min, max;        /* numbers only */
	const char *def;
	const char *const *choices;  /* strings: the allowed values, NULL = any */
	const char *doc;
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

#define F(field) offsetof(struct config, field)
static const struct config_row config_table[] = {
	{"listen", CFG_STRING, F(listen), 0, 0, "0.0.0.0:8080", NULL,
	 "address and port to serve HTTP on (HOST:PORT; port 0 picks a free one)"},
	{"models", CFG_STRING, F(models), 0, 0, STIPPLED_MODEL_DIR, NULL,
	 "model repository: one folder per model, numbered version folders inside (an uninstalled "
	 "build tree falls back to the source tree's models/)"},
	{"default_model", CFG_STRING, F(default_model), 0, 0, "", NULL,
	 "model served by /detect and /segment when none is named (empty: the first, by name, "
	 "that loads, and a route whose task it lacks takes the first loaded model that has it)"},
	{"workers", CFG_INT, F(workers), 0, 256, "0", NULL,
	 "inference workers, each running one request at a time (0: fit the machine)"},
	{"threads_per_worker", CFG_INT, F(threads_per_worker), 0, 256, "0", NULL,
	 "engine threads per worker (0: the usable CPUs, affinity and cgroup quota, divided among the workers)"},
	{"queue_size", CFG_INT, F(queue_size), 0, 100000, "16", NULL,
	 "requests that may wait for a worker; more are refused with 503"},
	{"http_threads", CFG_INT, F(http_threads), 1, 64, "2", NULL,
	 "HTTP threads (they only parse and copy; never decode or infer)"},
	{"max_body_bytes", CFG_LLONG, F(max_body_bytes), 1024, 1LL << 32, "33554432", NULL,
	 "largest request body accepted; larger ones get 413"},
	{"max_pixels", CFG_LLONG, F(max_pixels), 1, 1LL << 31, "40000000", NULL,
	 "largest image (width x height) accepted; larger ones get 422"},
	{"connection_timeout_s", CFG_INT, F(connection_timeout_s), 1, 3600, "30", NULL,
	 "idle HTTP connections are closed after this long"},
	{"connection_limit", CFG_INT, F(connection_limit), 4, 100000, "512", NULL,
	 "open HTTP connections at most"},
	{"drain_timeout_s", CFG_INT, F(drain_timeout_s), 0, 3600, "30", NULL,
	 "on SIGTERM, in-flight requests get this long to finish"},
	{"retry_after_s", CFG_INT, F(retry_after_s), 0, 3600, "1", NULL,
	 "Retry-After sent with 503 when the queue is full"},
	{"default_timeout_ms", CFG_INT, F(default_timeout_ms), 0, 86400000, "0", NULL,
	 "deadline (queue + compute) of requests that set no timeout_ms; 0: none"},
	{"admin_token", CFG_STRING, F(admin_token), 0, 0, "", NULL,
	 "bearer token for model load/unload/reload (empty: those endpoints answer 403)"},
	{"log_level", CFG_STRING, F(log_level), 0, 0, "info", log_levels,
	 "error, warn, info or debug (to stderr)"},
	{"access_log", CFG_BOOL, F(access_log), 0, 1, "true", NULL,
	 "one JSON line per request on stdout"},
};
#undef F
#define CONFIG_ROWS (sizeof(config_table) / sizeof(config_table[0]))

static const struct config_row *find_row(const char *name, size_t len)
{
	for (size_t i = 0; i < CONFIG_ROWS; i++)
		if (strlen(config_table[i].name) == len && !strncmp(config_table[i].name, name, len))
			return &config_table[i];
	return NULL;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
		*out = 1;
	else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
		 !strcasecmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* Stores value into the row's field; on error prints "where: name: why". */
static int set_value(struct config *cfg, const struct config_row *row, const char *value,
		     const char *where)
{
	char *base = (char *)cfg + row->offset;

	if (row->type == CFG_STRING) {
		char *copy;

		if (row->choices) {
			const char *const *c = row->choices;

			while (*c && strcmp(*c, value))
				c++;
			if (!*c) {
				fprintf(stderr, "stippled: %s: %s: '%s' is not one of", where, row->name, value);
				for (c = row->choices; *c; c++)
					fprintf(stderr, " %s", *c);
				fputc('\n', stderr);
				return -1;
			}
		}
		copy = strdup(value);
		if (!copy) {
			fprintf(stderr, "stippled: out of memory\n");
			return -1;
		}
		free(*(char **)base);
		*(char **)base = copy;
		return 0;
	}
	if (row->type == CFG_BOOL) {
		if (parse_bool(value, (int *)base)) {
			fprintf(stderr, "stippled: %s: %s: '%s' is not true or false\n", where, row->name,
				value);
			return -1;
		}
		return 0;
	}
	{
		char *end;
		long long v;

		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < row->min || v > row->max) {
			fprintf(stderr, "stippled: %s: %s: '%s' is not an integer in [%lld, %lld]\n",
				where, row->name, value, row->min, row->max);
			return -1;
		}
		if (row->type == CFG_INT)
			*(int *)base = (int)v;
		else
			*(long long *)base = v;
	}
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int read_file(struct config *cfg, const char *path)
{
	char line[4096], where[4200];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (!f) {
		fprintf(stderr, "stippled: cannot open config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;
		const struct config_row *row;

		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "stippled: %s: expected 'name = value'\n", where);
			rc = -1;
			break;
		}
		*eq = '\0';
		s = trim(s);
		row = find_row(s, strlen(s));
		if (!row) {
			fprintf(stderr, "stippled: %s: unknown setting '%s' (see --help)\n", where, s);
			rc = -1;
			break;
		}
		rc = set_value(cfg, row, trim(eq + 1), where);
	}
	fclose(f);
	return rc;
}

static void print_help(void)
{
	printf("usage: stippled [--config FILE] [--name VALUE ...]\n"
	       "       stippled --help | --dump-config | --version\n\n"
	       "stippled serves Stipple models over HTTP (proto/openapi.yaml). Every setting\n"
	       "below can be given as a flag (--name VALUE or --name=VALUE) or as a line\n"
	       "'name = value' in the --config file; flags win over the file.\n\n");
	for (size_t i = 0; i < CONFIG_ROWS; i++) {
		const struct config_row *r = &config_table[i];
		const char *type = r->type == CFG_STRING ? "string" : r->type == CFG_BOOL ? "bool" : "int";

		printf("  --%-22s %-6s default %s\n", r->name, type, *r->def ? r->def : "\"\"");
		printf("      %s", r->doc);
		if (r->type == CFG_INT || r->type == CFG_LLONG)
			printf(" [%lld, %lld]", r->min, r->max);
		printf("\n");
	}
}

void config_dump(const struct config *cfg, FILE *out)
{
	fprintf(out, "# stippled configuration (stippled --dump-config)\n");
	for (size_t i = 0; i < CONFIG_ROWS; i++) {
		const struct config_row *r = &config_table[i];
		const char *base = (const char *)cfg + r->offset;

		fprintf(out, "\n# %s\n", r->doc);
		if (r->type == CFG_STRING)
			fprintf(out, "%s = %s\n", r->name, *(char *const *)base);
		else if (r->type == CFG_BOOL)
			fprintf(out, "%s = %s\n", r->name, *(const int *)base ? "true" : "false");
		else if (r->type == CFG_INT)
			fprintf(out, "%s = %d\n", r->name, *(const int *)base);
		else
			fprintf(out, "%s = %lld\n", r->name, *(const long long *)base);
	}
}

/* Splits "--name=value" or "--name value"; returns the row or NULL. */
static const struct config_row *flag_row(int argc, char **argv, int *i, const char **value)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	const struct config_row *row = find_row(arg, eq ? (size_t)(eq - arg) : strlen(arg));

	if (!row) {
		fprintf(stderr, "stippled: unknown option '%s' (see --help)\n", argv[*i]);
		return NULL;
	}
	if (eq) {
		*value = eq + 1;
	} else if (*i + 1 < argc) {
		*value = argv[++*i];
	} else {
		fprintf(stderr, "stippled: option --%s needs a value\n", row->name);
		return NULL;
	}
	return row;
}

static int is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A build tree that was never installed serves the source tree's models/
 * (as the CLI does) when --models was left at its installed default. */
static int fall_back_to_source_models(struct config *cfg)
{
	char *dir;

	if (strcmp(cfg->models, STIPPLED_MODEL_DIR) || is_directory(cfg->models) ||
	    !is_directory(STIPPLED_SOURCE_MODEL_DIR))
		return 0;
	if (!(dir = strdup(STIPPLED_SOURCE_MODEL_DIR)))
		return -1;
	free(cfg->models);
	cfg->models = dir;
	return 0;
}

int config_parse(struct config *cfg, int argc, char **argv)
{
	const char *config_path = NULL;
	int dump = 0;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_ROWS; i++)
		if (set_value(cfg, &config_table[i], config_table[i].def, "default"))
			return -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_help();
			return 1;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("stippled %s\n", stp_version());
			return 1;
		}
		if (!strcmp(argv[i], "--dump-config")) {
			dump = 1;
		} else if (!strncmp(argv[i], "--config", 8) && (argv[i][8] == '\0' || argv[i][8] == '=')) {
			config_path = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : NULL);
			if (!config_path) {
				fprintf(stderr, "stippled: option --config needs a value\n");
				return -1;
			}
		}
	}
	if (config_path && read_file(cfg, config_path))
		return -1;
	for (int i = 1; i < argc; i++) {
		const struct config_row *row;
		const char *value;

		if (!strcmp(argv[i], "--dump-config"))
			continue;
		if (!strncmp(argv[i], "--config", 8) && (argv[i][8] == '\0' || argv[i][8] == '=')) {
			i += argv[i][8] == '\0';
			continue;
		}
		if (strncmp(argv[i], "--", 2)) {
			fprintf(stderr, "stippled: unexpected argument '%s' (see --help)\n", argv[i]);
			return -1;
		}
		row = flag_row(argc, argv, &i, &value);
		if (!row || set_value(cfg, row, value, "command line"))
			return -1;
	}
	if (fall_back_to_source_models(cfg))
		return -1;
	if (dump) {
		config_dump(cfg, stdout);
		return 1;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_ROWS; i++)
		if (config_table[i].type == CFG_STRING) {
			char **p = (char **)((char *)cfg + config_table[i].offset);

			free(*p);
			*p = NULL;
		}
}

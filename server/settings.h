/*
 * settings.h - stippled's settings, from one declarative table.
 *
 * Every setting is a row of config_table (settings.c): name, type, range,
 * default and a one-line doc. The same table drives the config-file parser
 * ("name = value" lines, '#' comments), the command-line parser
 * ("--name value" or "--name=value"), `--help` and `--dump-config` (an
 * example config file). Later sources win: defaults, then the file named by
 * --config, then the other flags.
 */
#ifndef STIPPLE_SERVER_SETTINGS_H
#define STIPPLE_SERVER_SETTINGS_H

#include <stdio.h>

struct config {
	char *listen;               /* "HOST:PORT" */
	char *models;               /* repository directory */
	char *default_model;        /* "" = the only (or first) model */
	int workers;                /* inference workers; 0 = fit the machine */
	int threads_per_worker;     /* engine threads each; 0 = fit the machine */
	int queue_size;             /* jobs waiting beyond those running */
	int http_threads;           /* libmicrohttpd's pool */
	long long max_body_bytes;   /* request bodies larger are refused (413) */
	long long max_pixels;       /* images with more pixels are refused (422) */
	int connection_timeout_s;   /* idle HTTP connections are closed */
	int connection_limit;
	int drain_timeout_s;        /* SIGTERM: in-flight work gets this long */
	int retry_after_s;          /* Retry-After on 503 */
	int default_timeout_ms;     /* deadline for requests that set none; 0 = none */
	char *admin_token;          /* bearer token for load/unload; "" = admin API off */
	char *log_level;            /* error | warn | info | debug */
	int access_log;             /* one JSON line per request on stdout */
};

/* Fills *cfg from defaults, the --config file and the flags. Returns 0 to go
 * on, 1 when --help/--dump-config/--version printed and the process should exit
 * 0, -1 after printing a one-line error (exit 2). */
int config_parse(struct config *cfg, int argc, char **argv);
void config_free(struct config *cfg);

/* Writes the settings as a config file. */
void config_dump(const struct config *cfg, FILE *out);

#endif

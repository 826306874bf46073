/*
 * stipple.c - the stipple command-line tool: dispatch, option parsing, help.
 *
 *   stipple --version | --help | help CMD | CMD MODEL [--option VALUE ...]
 *
 * Commands live in cmd-*.c and describe themselves with a struct cli_command
 * (cli.h). This file owns the one parser that reads any command's option
 * table: it accepts "--name value" and "--name=value", checks every number
 * strictly (whole string, no overflow, inside the table's range) and turns
 * any mistake into a one-line message and CLI_EXIT_USAGE. The same table
 * prints `stipple help CMD`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

const char *const cli_isa_choices[] = {"auto", "scalar", "avx2", "avx512", NULL};

static const struct cli_command *const commands[] = {
	&cli_cmd_info,
	&cli_cmd_bench,
	&cli_cmd_detect,
	&cli_cmd_segment,
	&cli_cmd_eval,
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

enum parse_result {
	PARSE_OK,
	PARSE_HELP,    /* --help was given: help printed, exit 0 */
	PARSE_USAGE    /* a bad argument: message printed, exit 2 */
};

const char *cli_run_failure(const stp_session *s, enum stp_status st,
			    const struct stp_run_options *ro, char *buf, size_t n)
{
	if (st == STP_ERR_BUDGET)
		snprintf(buf, n, "budget %g is below this model's cheapest run at this size: %.3f "
			 "(its grid prior and mask convs alone)", ro->budget,
			 stp_session_min_budget(s));
	else
		snprintf(buf, n, "%s", stp_status_str(st));
	return buf;
}

struct stp_run_options cli_run_options(struct stp_run_options run, int sampling, int seed)
{
	run.sampling = sampling ? STP_SAMPLING_STOCHASTIC : STP_SAMPLING_DETERMINISTIC;
	run.seed = (uint64_t)seed;
	return run;
}

const char *cli_budget_text(const struct stp_run_options *ro, char *buf, size_t n)
{
	if (ro->mode == STP_RUN_BUDGET)
		snprintf(buf, n, "%g", ro->budget);
	else
		snprintf(buf, n, "%s", ro->mode == STP_RUN_DENSE ? "dense" : "auto");
	return buf;
}

json_t *cli_budget_json(const struct stp_run_options *ro)
{
	if (ro->mode == STP_RUN_BUDGET)
		return json_real(ro->budget);
	return json_string(ro->mode == STP_RUN_DENSE ? "dense" : "auto");
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	if (cmd != NULL)
		fprintf(stderr, "stipple %s: ", cmd);
	else
		fputs("stipple: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_load(const char *cmd, const char *path, int threads, enum stp_isa isa,
	     stp_engine **engine, stp_model **model)
{
	struct stp_engine_options eo = {threads, isa};
	char err[256] = "";
	enum stp_status st;

	*engine = NULL;
	*model = NULL;
	st = stp_engine_create(&eo, engine);
	if (st != STP_OK) {
		const char *env_isa = getenv("STIPPLE_ISA"), *env_interp = getenv("STIPPLE_INTERP");
		const char *env_logits = getenv("STIPPLE_LOGITS");
		cli_error(cmd, "cannot create an engine (threads %d, isa %s, $STIPPLE_ISA '%s', "
			  "$STIPPLE_INTERP '%s', $STIPPLE_LOGITS '%s'): %s", threads, stp_isa_name(isa),
			  env_isa ? env_isa : "", env_interp ? env_interp : "",
			  env_logits ? env_logits : "", stp_status_str(st));
		goto error;
	}
	st = stp_model_load(*engine, path, model, err, sizeof(err));
	if (st != STP_OK) {
		cli_error(cmd, "cannot load %s: %s", path,
			  err[0] ? err : stp_status_str(st));
		goto error;
	}
	return CLI_EXIT_OK;
error:
	stp_model_destroy(*model);
	stp_engine_destroy(*engine);
	*model = NULL;
	*engine = NULL;
	return CLI_EXIT_FAIL;
}

/* Reads a whole decimal integer in [min, max] from s[0..len), len > 0. */
static int parse_long(const char *s, size_t len, long min, long max, long *out)
{
	char buf[32], *end;
	long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] != '-' && buf[0] != '+' && (buf[0] < '0' || buf[0] > '9'))
		return -1;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const struct cli_option *find_option(const struct cli_command *cmd,
					    const char *name, size_t len)
{
	for (size_t i = 0; i < cmd->option_count; i++) {
		const struct cli_option *o = &cmd->options[i];
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return o;
	}
	return NULL;
}

/* The option whose short name is arg ("-o"), or NULL. */
static const struct cli_option *find_short_option(const struct cli_command *cmd, const char *arg)
{
	for (size_t i = 0; arg[1] && !arg[2] && i < cmd->option_count; i++)
		if (cmd->options[i].short_name == arg[1])
			return &cmd->options[i];
	return NULL;
}

/* Stores the value text of option o into opts. */
static enum parse_result set_option(const struct cli_command *cmd,
				    const struct cli_option *o,
				    const char *value, void *opts)
{
	char *field = (char *)opts + o->offset;
	long v, h, w;
	const char *x;

	switch (o->type) {
	case CLI_OPT_FLAG:
		*(int *)field = 1;
		return PARSE_OK;
	case CLI_OPT_INT:
		if (parse_long(value, strlen(value), o->min, o->max, &v) != 0) {
			cli_error(cmd->name, "--%s wants an integer in %ld..%ld, got '%s'",
				  o->name, o->min, o->max, value);
			return PARSE_USAGE;
		}
		*(int *)field = (int)v;
		return PARSE_OK;
	case CLI_OPT_SIZE:
		x = strpbrk(value, "xX");
		if (x == NULL ||
		    parse_long(value, (size_t)(x - value), o->min, o->max, &h) != 0 ||
		    parse_long(x + 1, strlen(x + 1), o->min, o->max, &w) != 0) {
			cli_error(cmd->name, "--%s wants HxW with each side in %ld..%ld, got '%s'",
				  o->name, o->min, o->max, value);
			return PARSE_USAGE;
		}
		((int *)field)[0] = (int)h;
		((int *)field)[1] = (int)w;
		return PARSE_OK;
	case CLI_OPT_CHOICE:
		for (int i = 0; o->choices[i] != NULL; i++) {
			if (strcmp(o->choices[i], value) == 0) {
				*(int *)field = i;
				return PARSE_OK;
			}
		}
		cli_error(cmd->name, "--%s wants one of %s, got '%s'", o->name,
			  o->metavar, value);
		return PARSE_USAGE;
	case CLI_OPT_BUDGET: {
		char *end;
		double rho;
		struct stp_run_options *run = (struct stp_run_options *)(void *)field;

		if (strcmp(value, "dense") == 0 || strcmp(value, "auto") == 0) {
			run->mode = value[0] == 'd' ? STP_RUN_DENSE : STP_RUN_TRAINED;
			return PARSE_OK;
		}
		rho = strtod(value, &end);
		if (end == value || *end != '\0' || !(rho > 0 && rho <= 1)) {
			cli_error(cmd->name, "--%s wants a number in (0, 1], dense or auto, got '%s'",
				  o->name, value);
			return PARSE_USAGE;
		}
		run->mode = STP_RUN_BUDGET;
		run->budget = rho;
		return PARSE_OK;
	}
	case CLI_OPT_FRACTION: {
		char *end;
		const double f = strtod(value, &end);
		if (end == value || *end != '\0' || !(f >= 0 && f <= 1)) {
			cli_error(cmd->name, "--%s wants a number in [0, 1], got '%s'", o->name,
				  value);
			return PARSE_USAGE;
		}
		*(double *)field = f;
		return PARSE_OK;
	}
	case CLI_OPT_STRING:
		if (!*value) {
			cli_error(cmd->name, "--%s wants a non-empty %s", o->name, o->metavar);
			return PARSE_USAGE;
		}
		*(const char **)field = value;
		return PARSE_OK;
	}
	cli_error(cmd->name, "--%s has an unknown option type", o->name);
	return PARSE_USAGE;
}

static void print_command_help(const struct cli_command *cmd)
{
	printf("usage: stipple %s %s [options]\n\n%s\n\noptions:\n",
		cmd->name, cmd->positional, cmd->summary);
	for (size_t i = 0; i < cmd->option_count; i++) {
		const struct cli_option *o = &cmd->options[i];
		char left[64], shortname[8] = "";
		if (o->short_name)
			snprintf(shortname, sizeof(shortname), "-%c, ", o->short_name);
		snprintf(left, sizeof(left), "%s--%s%s%s", shortname, o->name,
			 o->type == CLI_OPT_FLAG ? "" : " ",
			 o->type == CLI_OPT_FLAG ? "" : o->metavar);
		if (strlen(left) > 20)
			printf("  %s\n  %-20s %s\n", left, "", o->doc);
		else
			printf("  %-20s %s\n", left, o->doc);
	}
	printf("  %-20s %s\n", "--help", "show this help");
	printf("\nexit status: 0 success, 1 failure (e.g. the model does not load), "
		   "2 bad arguments\n");
}

static void print_help(void)
{
	printf( "usage: stipple --version | --help | help COMMAND | COMMAND ARGS...\n\n"
		   "Stipple runs ResNet/FPN CNNs on the CPU from Stipple model files.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		printf("  %-8s %s\n", commands[i]->name, commands[i]->summary);
	printf("\n'stipple help COMMAND' lists a command's options.\n");
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

/* Parses args (the words after the command name) into opts and the
 * command's positional arguments (pos[CLI_MAX_ARGS]). */
static enum parse_result parse_args(const struct cli_command *cmd, int argc,
				    char **argv, void *opts, const char **pos)
{
	int only_positional = 0, npos = 0;

	for (int i = 0; i < CLI_MAX_ARGS; i++)
		pos[i] = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!only_positional && strcmp(a, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (!only_positional && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			print_command_help(cmd);
			return PARSE_HELP;
		}
		if (!only_positional && a[0] == '-' && a[1] != '\0') {
			const char *name = a + (a[1] == '-' ? 2 : 1);
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct cli_option *o = a[1] == '-' ? find_option(cmd, name, len)
							    : find_short_option(cmd, a);
			const char *value = eq ? eq + 1 : NULL;
			enum parse_result r;

			if (o == NULL) {
				cli_error(cmd->name, "unknown option '%s' (see 'stipple help %s')",
					  a, cmd->name);
				return PARSE_USAGE;
			}
			if (o->type == CLI_OPT_FLAG && value != NULL) {
				cli_error(cmd->name, "--%s takes no value", o->name);
				return PARSE_USAGE;
			}
			if (o->type != CLI_OPT_FLAG && value == NULL) {
				if (i + 1 >= argc) {
					cli_error(cmd->name, "--%s needs a value %s",
						  o->name, o->metavar);
					return PARSE_USAGE;
				}
				value = argv[++i];
			}
			r = set_option(cmd, o, value, opts);
			if (r != PARSE_OK)
				return r;
			continue;
		}
		if (npos == cmd->nargs) {
			cli_error(cmd->name, "unexpected argument '%s' (see 'stipple help %s')",
				  a, cmd->name);
			return PARSE_USAGE;
		}
		pos[npos++] = a;
	}
	if (npos == cmd->nargs - 1 && cmd->model_optional && npos > 0) {
		pos[1] = pos[0];
		pos[0] = NULL;
	} else if (npos < cmd->nargs) {
		cli_error(cmd->name, "missing %s (see 'stipple help %s')",
			  cmd->positional, cmd->name);
		return PARSE_USAGE;
	}
	return PARSE_OK;
}

static int run_command(const struct cli_command *cmd, int argc, char **argv)
{
	const char *pos[CLI_MAX_ARGS];
	void *opts = calloc(1, cmd->opts_size);
	int rc;

	if (opts == NULL) {
		cli_error(cmd->name, "out of memory");
		return CLI_EXIT_FAIL;
	}
	cmd->defaults(opts);
	switch (parse_args(cmd, argc, argv, opts, pos)) {
	case PARSE_OK:
		rc = cmd->run(pos, opts);
		break;
	case PARSE_HELP:
		rc = CLI_EXIT_OK;
		break;
	default:
		rc = CLI_EXIT_USAGE;
		break;
	}
	free(opts);
	return rc;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2) {
		cli_error(NULL, "missing command (see 'stipple --help')");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("stipple %s (best kernels on this CPU: %s)\n", stp_version(),
		       stp_isa_name(stp_isa_best()));
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		print_help();
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc > 3) {
			cli_error("help", "takes one command name");
			return CLI_EXIT_USAGE;
		}
		cmd = find_command(argv[2]);
		if (cmd == NULL) {
			cli_error("help", "unknown command '%s' (see 'stipple --help')", argv[2]);
			return CLI_EXIT_USAGE;
		}
		print_command_help(cmd);
		return CLI_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		cli_error(NULL, "unknown command '%s' (see 'stipple --help')", argv[1]);
		return CLI_EXIT_USAGE;
	}
	return run_command(cmd, argc - 2, argv + 2);
}

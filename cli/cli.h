/*
 * cli.h - the stipple command-line tool: commands and their option tables.
 *
 * Every command is described by data: a name, a one-line summary, the
 * positional arguments it takes and a table of options (name, type, range or
 * choices, where to store the value, help text). One parser in stipple.c
 * walks that table, so it alone validates numbers, reports bad arguments and
 * prints `stipple help CMD`; a new option is one more table row and one more
 * field in the command's options struct.
 *
 * Exit codes: CLI_EXIT_OK, CLI_EXIT_FAIL (the work failed: a model that does
 * not load, a run that fails), CLI_EXIT_USAGE (a bad command line).
 */
#ifndef STP_CLI_H
#define STP_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "stipple.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2
};

/* Positional arguments a command may take. */
#define CLI_MAX_ARGS 2

/* Input sizes accepted by --size, per side. */
#define CLI_SIZE_MAX 16384
/* The size used when --size is absent. */
#define CLI_DEFAULT_H 800
#define CLI_DEFAULT_W 1216

enum cli_opt_type {
	CLI_OPT_FLAG,    /* no value; stores int 1 */
	CLI_OPT_INT,     /* stores int, within [min, max] */
	CLI_OPT_SIZE,    /* "HxW"; stores int[2], each side within [min, max] */
	CLI_OPT_CHOICE,  /* one of choices[]; stores the int index of the match */
	CLI_OPT_BUDGET,  /* "dense", "auto" or a number in (0, 1]; stores the mode and
			    budget of a struct stp_run_options */
	CLI_OPT_FRACTION, /* a number in [0, 1]; stores double */
	CLI_OPT_STRING   /* any non-empty text; stores const char * (into argv) */
};

struct cli_option {
	const char *name;             /* long name without dashes, e.g. "threads" */
	enum cli_opt_type type;
	const char *metavar;          /* value placeholder in help, e.g. "N" */
	long min, max;                /* CLI_OPT_INT and CLI_OPT_SIZE */
	const char *const *choices;   /* CLI_OPT_CHOICE, NULL-terminated */
	size_t offset;                /* of the value in the command's options struct */
	const char *doc;              /* one line, including the default */
	char short_name;              /* also accepted as -X (0: none) */
};

struct cli_command {
	const char *name;
	const char *summary;          /* one line for `stipple --help` */
	const char *positional;       /* e.g. "MODEL" or "[MODEL] IMAGE", for help */
	int nargs;                    /* positional arguments: 1 or 2 (CLI_MAX_ARGS) */
	int model_optional;           /* 2 args, the first (MODEL) may be left out */
	const struct cli_option *options;
	size_t option_count;
	size_t opts_size;             /* sizeof the command's options struct */
	/* Fills the options struct with its defaults before parsing. */
	void (*defaults)(void *opts);
	/* Runs the command on its nargs positional arguments (args[0] is NULL
	 * when an optional MODEL was left out); returns a CLI_EXIT_* code. */
	int (*run)(const char *const *args, const void *opts);
};

/* Names of enum stp_isa values, indexed by the enum (NULL-terminated). */
extern const char *const cli_isa_choices[];

extern const struct cli_command cli_cmd_info;
extern const struct cli_command cli_cmd_bench;
extern const struct cli_command cli_cmd_detect;
extern const struct cli_command cli_cmd_segment;
extern const struct cli_command cli_cmd_eval;

/* image-file.c: reads and decodes a JPEG or PNG into packed RGB (the
 * caller frees *rgb); 0, or -1 with a one-line reason in err. */
struct image_info;
int cli_read_image(const char *path, uint8_t **rgb, struct image_info *info, char *err,
		   size_t errlen);
/* The same, except that a JPEG may decode at a reduced scale that still
 * covers what `model` resizes it to (model NULL: full size): *info is the
 * decoded size, *full the image's (stp_session_run_image_reduced). */
int cli_read_image_for(const char *path, const stp_model *model, uint8_t **rgb,
		       struct image_info *info, struct image_info *full, char *err, size_t errlen);
/* timing.c: CLOCK_MONOTONIC in milliseconds; n times sorted ascending. */
double cli_now_ms(void);
void cli_sort_ms(double *ms, int n);

/* Detections `stipple detect` shows by default: scoring at least this, as
 * stippled's /detect (server/params.c) returns them. */
#define CLI_SCORE_THRESHOLD 0.3

/* The models commands whose MODEL is optional use, from a repository
 * (default-model.c): `detect` the COCO detector; `segment` and `eval` (of
 * the Stipple dataset) the synthetic ResNet-18 detector + segmenter. */
#define CLI_DETECT_MODEL "nanodet-g"
#define CLI_DATASET_MODEL "stipple-r18-detseg"
/* The file of the repository model `name` into buf (and returns buf), or
 * NULL if none is found. */
const char *cli_default_model(const char *name, char *buf, size_t n);

/* Why a run failed, into buf: the status, or for STP_ERR_BUDGET the budget
 * asked and the least the model accepts at that size. Returns buf. */
const char *cli_run_failure(const stp_session *s, enum stp_status st,
			    const struct stp_run_options *ro, char *buf, size_t n);

/* The run options of a command's --budget (mode and budget in `run`),
 * --mode (sampling: 0 deterministic, 1 stochastic) and --seed. */
struct stp_run_options cli_run_options(struct stp_run_options run, int sampling, int seed);

/* A run's budget as the user wrote it: "auto", "dense" or the number (%g
 * into buf for text; a JSON string or real). */
const char *cli_budget_text(const struct stp_run_options *ro, char *buf, size_t n);
struct json_t;
struct json_t *cli_budget_json(const struct stp_run_options *ro);

/* Prints "stipple CMD: MESSAGE" on one line to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Creates the engine and loads path into it. On failure prints the reason
 * (the loader's message) and returns CLI_EXIT_FAIL with nothing to free;
 * on success the caller destroys *model, then *engine.
 */
int cli_load(const char *cmd, const char *path, int threads, enum stp_isa isa,
	     stp_engine **engine, stp_model **model);

/* bench-profile.c: per-op times of `stipple bench --profile`. */
struct bench_profile {
	struct stp_op_profile *ops;   /* per op: the minimum over the profiled runs */
	int nops;
};
enum stp_status bench_profile_run(stp_session *session, const float *input, int h, int w,
				  const struct stp_run_options *ro, int runs,
				  struct bench_profile *out);
void bench_profile_print(const struct bench_profile *p);
struct json_t *bench_profile_json(const struct bench_profile *p);
void bench_profile_free(struct bench_profile *p);

#endif /* STP_CLI_H */

/*
 * bench-profile.c - `stipple bench --profile`: where a forward pass spends
 * its time, op by op, and inside sparse blocks phase by phase (mask logits
 * and sampling, convs, interpolation between convs, shortcut, the final
 * interpolate + shift + shortcut + ReLU pass).
 *
 * Runs the session `runs` more times with profiling on and keeps, per op and
 * per phase, the minimum over the runs (the least disturbed by a noisy
 * machine). Prints a table, or adds a "profile" array to the JSON report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char *const phase_names[STP_PHASE_COUNT] = {"mask", "conv", "interp", "shortcut",
							 "final"};

void bench_profile_free(struct bench_profile *p)
{
	free(p->ops);
	p->ops = NULL;
	p->nops = 0;
}

enum stp_status bench_profile_run(stp_session *session, const float *input, int h, int w,
				  const struct stp_run_options *ro, int runs,
				  struct bench_profile *out)
{
	const struct stp_op_profile *ops;
	enum stp_status st = STP_OK;

	memset(out, 0, sizeof(*out));
	stp_session_set_profiling(session, 1);
	for (int r = 0; r < runs && st == STP_OK; r++) {
		int n;

		st = stp_session_run_with(session, input, h, w, ro);
		n = st == STP_OK ? stp_session_profile(session, &ops) : 0;
		if (st != STP_OK || n == 0)
			break;
		if (!out->ops) {
			out->ops = malloc((size_t)n * sizeof(*out->ops));
			if (!out->ops) {
				st = STP_ERR_NOMEM;
				break;
			}
			memcpy(out->ops, ops, (size_t)n * sizeof(*ops));
			out->nops = n;
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct stp_op_profile *m = &out->ops[i];

			if (ops[i].ms < m->ms)
				m->ms = ops[i].ms;
			for (int k = 0; k < STP_PHASE_COUNT; k++)
				if (ops[i].phase_ms[k] < m->phase_ms[k])
					m->phase_ms[k] = ops[i].phase_ms[k];
		}
	}
	stp_session_set_profiling(session, 0);
	if (st != STP_OK)
		bench_profile_free(out);
	return st;
}

void bench_profile_print(const struct bench_profile *p)
{
	double total = 0, phases[STP_PHASE_COUNT] = {0}, block_total = 0;

	for (int i = 0; i < p->nops; i++)
		total += p->ops[i].ms;
	printf("\nprofile (min over runs, ms)\n  %3s  %-12s %-16s %9s %6s", "op", "kind", "output HxWxC",
	       "ms", "%");
	for (int k = 0; k < STP_PHASE_COUNT; k++)
		printf(" %8s", phase_names[k]);
	printf("\n");
	for (int i = 0; i < p->nops; i++) {
		const struct stp_op_profile *o = &p->ops[i];
		char shape[32];

		snprintf(shape, sizeof(shape), "%dx%dx%d", o->h, o->w, o->c);
		printf("  %3d  %-12s %-16s %9.2f %6.1f", i, o->kind, shape, o->ms,
		       total > 0 ? 100 * o->ms / total : 0);
		if (!strcmp(o->kind, "sparse_block")) {
			block_total += o->ms;
			for (int k = 0; k < STP_PHASE_COUNT; k++) {
				printf(" %8.2f", o->phase_ms[k]);
				phases[k] += o->phase_ms[k];
			}
		}
		printf("\n");
	}
	printf("  total %.2f ms; sparse blocks %.2f ms:", total, block_total);
	for (int k = 0; k < STP_PHASE_COUNT; k++)
		printf(" %s %.2f", phase_names[k], phases[k]);
	printf("\n");
}

json_t *bench_profile_json(const struct bench_profile *p)
{
	json_t *arr = json_array();

	for (int i = 0; arr && i < p->nops; i++) {
		const struct stp_op_profile *o = &p->ops[i];
		json_t *e = json_pack("{s:i, s:s, s:[iii], s:f}", "op", i, "kind", o->kind, "output",
				      o->h, o->w, o->c, "ms", o->ms);

		if (e && !strcmp(o->kind, "sparse_block")) {
			json_t *ph = json_object();

			for (int k = 0; k < STP_PHASE_COUNT; k++)
				json_object_set_new(ph, phase_names[k], json_real(o->phase_ms[k]));
			json_object_set_new(e, "phases_ms", ph);
		}
		json_array_append_new(arr, e);
	}
	return arr;
}

/*
 * engine.c - engine creation: resolves the kernel level (options, then
 * $STIPPLE_ISA, then the CPU's best) and starts the thread pool.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-impl.h"

static int isa_supported(enum stp_isa isa)
{
	switch (isa) {
	case STP_ISA_SCALAR: return 1;
	case STP_ISA_AVX2: return stp_cpu_has_avx2_fma();
	case STP_ISA_AVX512: return stp_cpu_has_avx512f();
	case STP_ISA_AUTO: return 1;
	}
	return 0;
}

/* The index of $name's value in names[] (unset or empty: 0), or -1. */
static int env_choice(const char *name, const char *const *names, int n)
{
	const char *env = getenv(name);
	if (!env || !*env)
		return 0;
	for (int i = 0; i < n; i++)
		if (strcmp(env, names[i]) == 0)
			return i;
	return -1;
}

/* $STIPPLE_ISA: auto (the CPU's best), scalar, avx2 or avx512, in the
 * order of enum stp_isa. */
static enum stp_status resolve_isa(enum stp_isa requested, enum stp_isa *out)
{
	if (requested == STP_ISA_AUTO) {
		static const char *const names[] = {"auto", "scalar", "avx2", "avx512"};
		const int i = env_choice("STIPPLE_ISA", names, 4);
		if (i < 0)
			return STP_ERR_INVALID_ARG;
		requested = i == 0 ? stp_isa_best() : (enum stp_isa)i;
	}
	if (requested < STP_ISA_SCALAR || requested > STP_ISA_AVX512)
		return STP_ERR_INVALID_ARG;
	if (!isa_supported(requested))
		return STP_ERR_UNSUPPORTED;
	*out = requested;
	return STP_OK;
}

/* $STIPPLE_INTERP: auto, gather or separable, in the order of enum
 * stp_interp_form. */
static enum stp_status resolve_interp_form(enum stp_interp_form *out)
{
	static const char *const names[] = {"auto", "gather", "separable"};
	const int i = env_choice("STIPPLE_INTERP", names, 3);
	*out = (enum stp_interp_form)i;
	return i < 0 ? STP_ERR_INVALID_ARG : STP_OK;
}

/* $STIPPLE_LOGITS: partials or conv (sparse/block.h). */
static enum stp_status resolve_logit_partials(int *out)
{
	static const char *const names[] = {"partials", "conv"};
	const int i = env_choice("STIPPLE_LOGITS", names, 2);
	*out = i == 0;
	return i < 0 ? STP_ERR_INVALID_ARG : STP_OK;
}

enum stp_status stp_engine_create(const struct stp_engine_options *opts,
				  stp_engine **out)
{
	struct stp_engine *engine;
	enum stp_isa isa;
	enum stp_status st;
	int threads = opts ? opts->threads : 0;

	if (!out)
		return STP_ERR_INVALID_ARG;
	*out = NULL;
	enum stp_interp_form interp_form;
	int logit_partials;
	st = resolve_isa(opts ? opts->isa : STP_ISA_AUTO, &isa);
	if (st == STP_OK)
		st = resolve_interp_form(&interp_form);
	if (st == STP_OK)
		st = resolve_logit_partials(&logit_partials);
	if (st != STP_OK)
		return st;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
	}
	if (threads > 1024)
		return STP_ERR_INVALID_ARG;
	engine = stp_zalloc(1, sizeof(*engine));
	if (!engine)
		return STP_ERR_NOMEM;
	engine->kernels = stp_kernels_for(isa);
	engine->interp_form = interp_form;
	engine->logit_partials = logit_partials;
	st = stp_threadpool_create(threads, &engine->pool);
	if (st != STP_OK) {
		free(engine);
		return st;
	}
	*out = engine;
	return STP_OK;
}

void stp_engine_destroy(stp_engine *engine)
{
	if (!engine)
		return;
	stp_threadpool_destroy(engine->pool);
	free(engine);
}

int stp_engine_threads(const stp_engine *engine)
{
	return stp_threadpool_threads(engine->pool);
}

enum stp_isa stp_engine_isa(const stp_engine *engine)
{
	return engine->kernels->isa;
}

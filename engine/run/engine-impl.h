/*
 * engine-impl.h - the stp_engine object: a thread pool, a kernel table and
 * the interpolation form ($STIPPLE_INTERP, for benchmarks; AUTO otherwise)
 * and whether sparse blocks leave the next one's logit partials
 * ($STIPPLE_LOGITS=conv turns them off, for benchmarks).
 */
#ifndef STP_ENGINE_IMPL_H
#define STP_ENGINE_IMPL_H

#include "../kernels/kernels.h"
#include "../sparse/interp.h"
#include "../base/threadpool.h"

struct stp_engine {
	struct stp_threadpool *pool;
	const struct stp_kernels *kernels;
	enum stp_interp_form interp_form;
	int logit_partials;
};

#endif

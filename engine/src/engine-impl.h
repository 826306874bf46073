/*
 * engine-impl.h - the stp_engine object: a thread pool and a kernel table.
 */
#ifndef STP_ENGINE_IMPL_H
#define STP_ENGINE_IMPL_H

#include "../kernels/kernels.h"
#include "threadpool.h"

struct stp_engine {
	struct stp_threadpool *pool;
	const struct stp_kernels *kernels;
};

#endif

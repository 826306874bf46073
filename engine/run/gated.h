/*
 * gated.h - running masks on any conv (plan.h, gated.c) inside a session.
 */
#ifndef STP_GATED_H
#define STP_GATED_H

#include "model-impl.h"

/* Samples mask op->mask for this run into the session's stores. */
enum stp_status stp_run_mask(struct stp_session *s, const struct stp_op *op,
			     const struct stp_sparse_options *opts);
/* Runs a gated conv at its mask's cells, then its fill, if any. */
enum stp_status stp_run_gated_conv(struct stp_session *s, const struct stp_op *op,
				   const struct stp_tensor *in, struct stp_tensor *out,
				   const struct stp_tensor *residual,
				   const struct stp_sparse_options *opts);

#endif

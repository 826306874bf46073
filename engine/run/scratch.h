/*
 * scratch.h - a session's scratch, sized before its runs (scratch.c).
 */
#ifndef STP_SCRATCH_H
#define STP_SCRATCH_H

#include "model-impl.h"

/* Everything a run of the network on an h x w input needs, on the engine's
 * threads (nothing when the session is already sized for both). A change
 * drops the last run's results. */
enum stp_status stp_scratch_for_input(struct stp_session *s, int h, int w);
/* The same for an image of geometry g (its preprocessed input and label
 * map too), then for its network input. */
enum stp_status stp_scratch_for_image(struct stp_session *s, const struct stp_image_geometry *g);
/* Frees all of it (the session's destroy). */
void stp_scratch_free(struct stp_session *s);

#endif

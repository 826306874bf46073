/*
 * image-input.h - preprocessing of stp_session_run_image (image-input.c).
 */
#ifndef STP_IMAGE_INPUT_H
#define STP_IMAGE_INPUT_H

#include "model-impl.h"

/* Fills s->image_input (ph x pw x 3, NHWC) from an RGB image (h x w, a copy
 * of a source_h x source_w original at its own or a reduced scale) and *g
 * with the sizes: the original's, and what the rules make of it.
 * STP_ERR_INVALID_ARG for an image the rules cannot size. */
enum stp_status stp_image_input(struct stp_session *s, const uint8_t *rgb, int h, int w,
				size_t stride, int source_h, int source_w,
				struct stp_image_geometry *g);

#endif

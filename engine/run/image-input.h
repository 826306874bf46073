/*
 * image-input.h - preprocessing of stp_session_run_image (image-input.c).
 */
#ifndef STP_IMAGE_INPUT_H
#define STP_IMAGE_INPUT_H

#include "model-impl.h"

/* *g for a source h x w image: its size, and what the model's rules make of
 * it. STP_ERR_INVALID_ARG for an image the rules cannot size. */
enum stp_status stp_image_geometry_of(const stp_model *model, int h, int w,
				      struct stp_image_geometry *g);
/* The floats s->image_input needs for an image of geometry g. */
size_t stp_image_input_floats(const struct stp_image_geometry *g);
/* Fills s->image_input (ph x pw x 3, NHWC, reserved for g) from an RGB
 * image (h x w, a copy of g's original at its own or a reduced scale). */
enum stp_status stp_image_input(struct stp_session *s, const uint8_t *rgb, int h, int w,
				size_t stride, const struct stp_image_geometry *g);

#endif

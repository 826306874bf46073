/*
 * heads.h - the task heads of proto/model-format.md ("Heads").
 *
 * Heads: Faster R-CNN (detect-*.c) and the semantic FPN (segment.c) on an
 * FPN, NanoDet's one-stage GFL head (gfl.c) on a PAN. A head has two
 * halves. At load, *_build appends its convolutions to the model's plan as
 * ordinary ops on the neck's outputs (so they run on the pool with the
 * packed kernels, inside stp_session_run_with) and keeps the values it will
 * read (stp_plan_keep). After the plan ran, *_run finishes the task from
 * those values, seen through struct stp_run_values (never the session):
 * proposals, RoIAlign and the box branch (detect-*.c), decoding and NMS
 * (gfl.c), or the label map at the image's size (segment.c). Per-session
 * scratch and results live in *_state, which the session owns and frees.
 *
 * Geometry of one run: the original image h x w, resized to rh x rw by the
 * model's input rules, zero-padded to ph x pw (the network's input).
 */
#ifndef STP_HEADS_H
#define STP_HEADS_H

#include <stdlib.h>

#include "../base/internal.h"
#include "../nets/nets.h"
#include "../plan/run-values.h"
#include "stipple.h"

struct stp_image_geometry {
	int h, w;     /* original image */
	int rh, rw;   /* resized */
	int ph, pw;   /* padded: the network's input */
};

/* The value ids of the neck's p2..p6 in the plan (-1 where absent), index
 * level - 2 (an FPN's, or a PAN's). */
struct stp_fpn_values {
	int p[5];
};

/* Grows *buf, of *cap elements, to at least n elements of size bytes (a
 * head state's buffers only grow); 0, or -1 when out of memory (*buf kept). */
static inline int stp_grow(void **buf, size_t *cap, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		n = 1;
	if (n <= *cap)
		return 0;
	if (n > SIZE_MAX / size || !(p = stp_realloc(*buf, n * size)))
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* ---- Faster R-CNN (detect-*.c) ------------------------------------------ */
struct stp_detect_head;
struct stp_detect_state;

/* Builds the RPN convs into b->plan and takes every "rpn.*" and "roi_heads.*"
 * tensor of b->file (packing the fully connected layers). */
enum stp_status stp_detect_head_build(struct stp_net_builder *b,
				      const struct stp_arch_faster_rcnn *cfg,
				      const struct stp_fpn_values *fpn,
				      struct stp_detect_head **out);
void stp_detect_head_destroy(struct stp_detect_head *head);
/* Runs after the plan: detections in original pixels into *state (created on
 * first use, owned by the session), on the run's pool. */
enum stp_status stp_detect_head_run(const struct stp_detect_head *head,
				    const struct stp_run_values *run,
				    const struct stp_image_geometry *g,
				    struct stp_detect_state **state);
int stp_detect_state_results(const struct stp_detect_state *state,
			     const struct stp_detection **out);
void stp_detect_state_destroy(struct stp_detect_state *state);

/* ---- GFL, the one-stage head (gfl.c) ------------------------------------ */
struct stp_gfl_head;
struct stp_gfl_state;

/* Builds the per-level convs into b->plan, taking every "head.*" tensor. */
enum stp_status stp_gfl_head_build(struct stp_net_builder *b, const struct stp_arch_gfl *cfg,
				   const struct stp_fpn_values *neck, struct stp_gfl_head **out);
void stp_gfl_head_destroy(struct stp_gfl_head *head);
/* Runs after the plan: detections in original pixels into *state. */
enum stp_status stp_gfl_head_run(const struct stp_gfl_head *head, const struct stp_run_values *run,
				 const struct stp_image_geometry *g, struct stp_gfl_state **state);
int stp_gfl_state_results(const struct stp_gfl_state *state, const struct stp_detection **out);
void stp_gfl_state_destroy(struct stp_gfl_state *state);

/* ---- Semantic FPN (segment.c) ------------------------------------------- */
struct stp_segment_head;
struct stp_segment_state;

/* Builds the per-level convs, the upsample-and-sum and the classifier into
 * b->plan, taking every "seg_head.*" tensor. */
enum stp_status stp_segment_head_build(struct stp_net_builder *b,
				       const struct stp_arch_semantic_fpn *cfg,
				       const struct stp_fpn_values *fpn,
				       struct stp_segment_head **out);
void stp_segment_head_destroy(struct stp_segment_head *head);
/* Runs after the plan: the h x w label map into *state. */
enum stp_status stp_segment_head_run(const struct stp_segment_head *head,
				     const struct stp_run_values *run,
				     const struct stp_image_geometry *g,
				     struct stp_segment_state **state);
const uint8_t *stp_segment_state_labels(const struct stp_segment_state *state);
void stp_segment_state_destroy(struct stp_segment_state *state);

#endif

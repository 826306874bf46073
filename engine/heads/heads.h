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
 * The session sizes each state when it reshapes (*_state_reserve: every
 * buffer for the largest use at that size), so a run allocates nothing.
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

/* One buffer of a head's state: *buf, of *cap elements of size bytes,
 * needs n of them at the size reserved for. */
struct stp_buffer_need {
	void **buf;
	size_t *cap;
	size_t n, size;
};

#define STP_NEED(state, slot, field, count) \
	{(void **)&(state)->field, &(state)->caps[slot], (count), sizeof(*(state)->field)}

/* Grows each buffer of need[0..count) to its n elements (they only grow);
 * *bytes gets their capacity in bytes. 0, or -1 when out of memory (the
 * buffers not grown are kept). */
static inline int stp_grow_all(const struct stp_buffer_need *need, int count, size_t *bytes)
{
	*bytes = 0;
	for (int i = 0; i < count; i++) {
		const size_t n = need[i].n ? need[i].n : 1;
		void *p;

		if (n > *need[i].cap) {
			if (n > SIZE_MAX / need[i].size || !(p = stp_realloc(*need[i].buf, n * need[i].size)))
				return -1;
			*need[i].buf = p;
			*need[i].cap = n;
		}
		*bytes += *need[i].cap * need[i].size;
	}
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
/* Sizes *state (created if NULL, owned by the session) for runs on run's
 * shapes and pool; *bytes: what it holds. */
enum stp_status stp_detect_state_reserve(const struct stp_detect_head *head,
					 const struct stp_run_values *run,
					 struct stp_detect_state **state, size_t *bytes);
/* Runs after the plan: detections in original pixels into state (reserved
 * for run's shapes and pool), on the run's pool, from at most
 * max_proposals proposals (and at most the model's post_nms_top_n). */
enum stp_status stp_detect_head_run(const struct stp_detect_head *head,
				    const struct stp_run_values *run,
				    const struct stp_image_geometry *g, int max_proposals,
				    struct stp_detect_state *state);
/* The proposals the last run's box head ran on. */
int stp_detect_state_proposals(const struct stp_detect_state *state);
/* Multiply-accumulates of the box head's fully connected layers (fc6, fc7,
 * the predictor) on n proposals. */
double stp_detect_head_macs(const struct stp_detect_head *head, int n);
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
/* Sizes *state (created if NULL) for runs on run's shapes; *bytes: what it
 * holds. */
enum stp_status stp_gfl_state_reserve(const struct stp_gfl_head *head,
				      const struct stp_run_values *run,
				      struct stp_gfl_state **state, size_t *bytes);
/* Runs after the plan: detections in original pixels into state (reserved
 * for run's shapes). */
enum stp_status stp_gfl_head_run(const struct stp_gfl_head *head, const struct stp_run_values *run,
				 const struct stp_image_geometry *g, struct stp_gfl_state *state);
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
/* Sizes *state (created if NULL) for images of geometry g; *bytes: what it
 * holds. */
enum stp_status stp_segment_state_reserve(const struct stp_segment_head *head,
					  const struct stp_image_geometry *g,
					  struct stp_segment_state **state, size_t *bytes);
/* Runs after the plan: the h x w label map into state (reserved for g). */
enum stp_status stp_segment_head_run(const struct stp_segment_head *head,
				     const struct stp_run_values *run,
				     const struct stp_image_geometry *g,
				     struct stp_segment_state *state);
const uint8_t *stp_segment_state_labels(const struct stp_segment_state *state);
void stp_segment_state_destroy(struct stp_segment_state *state);

#endif

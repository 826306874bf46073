/*
 * detect-impl.h - the Faster R-CNN head object, shared by its builder
 * (detect-build.c) and its run (detect.c).
 */
#ifndef STP_DETECT_IMPL_H
#define STP_DETECT_IMPL_H

#include "../ops/conv.h"
#include "detect-ops.h"
#include "heads.h"

#define STP_DETECT_MAX_ANCHORS 64   /* per location: 8 sizes x 8 ratios */

struct stp_detect_head {
	struct stp_arch_faster_rcnn cfg;
	int channels;                 /* C, the FPN's */
	int anchors;                  /* A per location */
	int classes;                  /* K = num_classes + 1 (0 = background) */
	struct stp_box cell[STP_ARCH_MAX_LEVELS][STP_DETECT_MAX_ANCHORS];
	int rpn_out[STP_ARCH_MAX_LEVELS];   /* plan values: A logits then 4A deltas per pixel */
	int roi_feature[STP_ARCH_MAX_LEVELS];  /* plan values of the RoI levels */
	/* Shared by every RPN level's plan ops (borrowed there, owned here). */
	struct stp_conv *rpn_conv;    /* 3x3 + ReLU */
	struct stp_conv *rpn_pred;    /* 1x1: cls_logits and bbox_pred as one conv */
	/* The box branch, as 1x1 convs over a 1 x R "image" of RoIs. */
	struct stp_conv *fc6;         /* C*P*P -> representation, ReLU; HWC column order */
	struct stp_conv *fc7;         /* ReLU */
	struct stp_conv *predictor;   /* cls_score (K) then bbox_pred (4K) */
	size_t zero_floats;           /* zero row the fc convs need */
	size_t table_bytes;           /* tile tables a thread of an fc conv needs */
};

#endif

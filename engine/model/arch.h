/*
 * arch.h - the architecture description stored in a model file.
 *
 * stp_arch_parse() reads the JSON of proto/model-format.md ("Architecture")
 * with jansson and checks every field's type, range and consistency; unknown
 * keys are errors. backbone.dcn is the one optional key: a backbone with
 * deformable convs loads for its cost only (sessions refuse it).
 *
 * Two families share the structure: ResNet backbones with an FPN neck and
 * two-stage heads, and one-stage detectors (backbone "cspnet", neck "pan",
 * head "gfl": NanoDet), parsed by arch-cspnet.c and arch-heads.c.
 */
#ifndef STP_ARCH_H
#define STP_ARCH_H

#include "../base/internal.h"

enum stp_backbone_kind { STP_BACKBONE_RESNET, STP_BACKBONE_CSPNET };
enum stp_block_kind { STP_BLOCK_BASIC, STP_BLOCK_BOTTLENECK };
enum stp_neck_kind { STP_NECK_NONE, STP_NECK_FPN, STP_NECK_PAN };
enum stp_interp_kind { STP_INTERP_RBF, STP_INTERP_LEARNED, STP_INTERP_AVGPOOL };

#define STP_ARCH_MAX_BLOCKS 64
#define STP_ARCH_MAX_MASKS (4 * STP_ARCH_MAX_BLOCKS * 3)

/* backbone.sparse (proto/model-format.md, "Sparse backbones"). */
struct stp_arch_sparse {
	int enabled;                 /* 0: dense backbone ("sparse": null) */
	enum stp_interp_kind kernel;
	int window;                  /* odd, 1..15 */
	int grid_stride;             /* 1..64 */
	char variant;                /* 'a', 'b' or 'c' */
	unsigned char blocks[4][STP_ARCH_MAX_BLOCKS]; /* 1 = sparse */
	float temperature;
	/* "calibration" (optional): each mask's mean density with its trained
	 * threshold on held-out images, in mask order; 0 masks: none. The
	 * budget policy shares the budget in these proportions (budget.c). */
	int ncalibration;
	float calibration[STP_ARCH_MAX_MASKS];
};

/* backbone.dcn (proto/model-format.md, "Deformable convolutions"): conv2
 * of every block of the marked stages is a deformable 3x3 conv whose
 * offsets come from a plain 3x3 conv on the block input (the offset conv,
 * cin = the block's input channels, the block's stride). The engine cannot
 * run deformable convs; it counts them (cost.c) and refuses sessions. */
struct stp_arch_dcn {
	int enabled;                 /* 0: no "dcn" key */
	unsigned char stages[4];     /* 1: stage i (c2..c5) has deformable conv2s */
	int deform_groups;           /* 1..64, divides the stage's width */
	int modulated;               /* 0: DCN (2 x 9 offsets), 1: DCNv2 (+ 9 masks) */
	int offset_channels;         /* deform_groups * (modulated ? 27 : 18) */
};

/* backbone "cspnet" (proto/model-format.md, "One-stage detectors"): a
 * stem conv (3x3, stride 2) and a 3x3/2 max-pool, then CSP stages; stage i
 * of C channels outputs 2C channels, as c{i+2}. Every conv ends in
 * LeakyReLU(slope). */
#define STP_ARCH_MAX_STAGES 4
#define STP_ARCH_MAX_CSP_BLOCKS 16

struct stp_arch_cspnet {
	int stem_width;
	int kernel_size;             /* odd, of every conv but the stem */
	int nstages;                 /* 1..4 */
	int channels[STP_ARCH_MAX_STAGES];  /* C; stage 0's is stem_width, then doubling */
	int blocks[STP_ARCH_MAX_STAGES];    /* tiny residual blocks, 1..16 */
	int strides[STP_ARCH_MAX_STAGES];   /* of the stage's in_conv, 1 or 2 */
	float slope;                 /* LeakyReLU negative slope, [0, 1] */
	/* backbone.sparse (arch->sparse holds its kernel, window, grid and
	 * calibration): stages and head levels with a mask. */
	unsigned char sparse_stages[STP_ARCH_MAX_STAGES];
	unsigned char sparse_head[5];
	int nsparse_head;            /* entries of sparse_head (the head's levels) */
};

/* heads[] (proto/model-format.md, "Heads"), parsed by arch-heads.c. Feature
 * levels are numbers: 2 for "p2" .. 6 for "p6". */
#define STP_ARCH_MAX_LEVELS 5

struct stp_arch_faster_rcnn {
	int enabled;                 /* 0: no "faster_rcnn" head */
	int num_classes;             /* N foreground classes; K = N + 1 */
	/* rpn */
	int rpn_levels[STP_ARCH_MAX_LEVELS], rpn_nlevels;
	float anchor_sizes[STP_ARCH_MAX_LEVELS][8];
	int nsizes;                  /* sizes per level (the same for every level) */
	float aspect_ratios[8];
	int nratios;                 /* A = nsizes * nratios anchors per location */
	int pre_nms_top_n, post_nms_top_n;
	float rpn_nms_thresh, rpn_score_thresh, rpn_min_size;
	float rpn_box_weights[4];
	/* roi */
	int roi_levels[STP_ARCH_MAX_LEVELS], roi_nlevels;  /* consecutive, finest first */
	int output_size, sampling_ratio, aligned;
	float canonical_scale;
	int canonical_level;
	float level_eps;
	/* box */
	int representation_size;
	float box_weights[4];
	float box_score_thresh, box_nms_thresh, box_min_size;
	int detections_per_img;
	float bbox_xform_clip;
};

/* A "gfl" one-stage head (NanoDet's): per level stacked 3x3 convs + the
 * backbone's activation, then a 1x1 conv to num_classes logits and 4 x
 * (reg_max + 1) distance bins (left, top, right, bottom). */
struct stp_arch_gfl {
	int enabled;                 /* 0: no "gfl" head */
	int num_classes;             /* N; labels 1..N, no background logit */
	int levels[STP_ARCH_MAX_LEVELS], nlevels;
	int strides[STP_ARCH_MAX_LEVELS];   /* of each level, in input pixels */
	int feat_channels, stacked_convs, reg_max;
	float center_offset;         /* cell centres at (x + offset) * stride */
	int nms_pre;                 /* locations kept per level before NMS */
	int multi_label;             /* 1: every class above score_thresh is a candidate
				      * at a location; 0: only its best class */
	float score_thresh, nms_thresh;
	int detections_per_img;
};

struct stp_arch_semantic_fpn {
	int enabled;                 /* 0: no "semantic_fpn" head */
	int num_classes;             /* N; K = N + 1 logits */
	int levels[STP_ARCH_MAX_LEVELS], nlevels;  /* consecutive, finest first */
	int channels;
};

struct stp_arch {
	enum stp_backbone_kind backbone;
	struct stp_arch_cspnet csp;   /* backbone "cspnet" */
	/* backbone (resnet) */
	int depth;
	enum stp_block_kind block;
	int expansion;        /* 1 basic, 4 bottleneck */
	int layers[4];
	int stem_width;
	int widths[4];
	float bn_eps;
	int num_classes;      /* 0: feature extractor */
	struct stp_arch_sparse sparse;
	struct stp_arch_dcn dcn;

	/* neck */
	enum stp_neck_kind neck;
	int fpn_in_channels[4];
	int fpn_out_channels;        /* the neck's width (FPN or PAN) */
	int fpn_extra_maxpool;
	int pan_levels[STP_ARCH_MAX_STAGES], pan_nlevels;  /* PAN: backbone levels read
							    * (3 for c3), finest first */
	unsigned neck_levels;        /* bit L: the neck outputs p{L} */

	/* heads */
	struct stp_arch_faster_rcnn detect;
	struct stp_arch_semantic_fpn segment;
	struct stp_arch_gfl gfl;

	/* input */
	int in_channels;
	int bgr;              /* input.channel_order "bgr": the network reads B, G, R */
	float mean[4], std[4];
	int resize_short_side, resize_max_long_side;
	int size_divisor;

	int nclasses;         /* entries of classes */
	char **classes;
	char *json;           /* the document as stored (owned) */
};

/* The caller frees out with stp_arch_clear() (also after a failure). */
enum stp_status stp_arch_parse(const char *json, struct stp_arch *out,
			       char *err, size_t errlen);
void stp_arch_clear(struct stp_arch *arch);

#endif

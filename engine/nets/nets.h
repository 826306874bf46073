/*
 * nets.h - builders that turn an architecture and a file's tensors into a
 * plan: ResNet backbones (resnet.c) and FPN necks (fpn.c); CSP backbones
 * and PAN necks (cspnet.c).
 *
 * Builders take each tensor by name with its expected shape (so missing or
 * misshapen tensors are reported by name), fold BatchNorm into the
 * preceding convolution, and pack weights for the engine's kernels.
 */
#ifndef STP_NETS_H
#define STP_NETS_H

#include "../model/arch.h"
#include "../model/safetensors.h"
#include "../plan/plan.h"

struct stp_net_builder {
	struct stp_plan *plan;
	struct stp_st_file *file;
	const struct stp_arch *arch;
	const struct stp_kernels *kernels;
	uint64_t parameters;   /* learned parameters taken so far */
	char *err;
	size_t errlen;
};

/* A square conv with "same" padding (k/2) and no groups. */
struct stp_conv_desc stp_net_conv_desc(int cin, int cout, int k, int stride, int relu);

/* Takes tensor `prefix`.`leaf` with exactly this shape; NULL (and *status,
 * b->err set) when missing or misshapen. */
const float *stp_net_take(struct stp_net_builder *b, const char *prefix, const char *leaf,
			  const int64_t *shape, int ndim, enum stp_status *status);

/* Reads conv `name`.weight and folds BatchNorm `bn`.* into it (bn NULL:
 * takes `name`.bias when has_bias, else zero bias). The caller frees
 * *weight (OIHW) and *bias ([cout]) with free(). */
enum stp_status stp_net_load_conv(struct stp_net_builder *b, const char *name, const char *bn,
				  int has_bias, const struct stp_conv_desc *desc,
				  float **weight, float **bias);

/* Appends conv `name`.weight (+ BatchNorm `bn`.* folded in when bn is not
 * NULL, else `name`.bias when has_bias) reading `in`, adding `residual`
 * (-1: none). Returns the new value id, or -1 with a message in b->err and
 * *status set. */
int stp_net_conv(struct stp_net_builder *b, const char *name, const char *bn,
		 int has_bias, int in, int residual, const struct stp_conv_desc *desc,
		 int backbone, int out_stride, enum stp_status *status);

/* Appends a conv from OIHW weight and bias arrays (read during the call). */
int stp_net_conv_arrays(struct stp_net_builder *b, const char *name,
			const struct stp_conv_desc *desc, const float *weight,
			const float *bias, int in, int residual, int backbone,
			int out_stride, enum stp_status *status);

/* Appends sparse block backbone.layer{stage}.{index} (stage 1-based) as one
 * op; its masks are numbered on from the plan's mask count. */
int stp_net_sparse_block(struct stp_net_builder *b, int stage, int index, int in, int cin,
			 int planes, int stride, int out_stride, enum stp_status *status);

/* Backbone: returns STP_OK and the values of c2..c5 (levels[0..3]) and,
 * with a classifier, the logits value in *logits. */
enum stp_status stp_net_build_resnet(struct stp_net_builder *b, int levels[4], int *logits);
/* Masks on any conv (gate.c): appends the sampling module `name` (3x3 conv
 * with bias, cin -> 1, stride, on value in) as an STP_OP_MASK op, numbers
 * its mask (*mask) and returns the logits' value, or -1 with *status. */
int stp_net_mask(struct stp_net_builder *b, const char *name, int in, int cin, int stride,
		 int *mask, enum stp_status *status);
/* Makes the conv that wrote value run only at mask's cells (logits: the
 * mask op's value); interp (or NULL) names the RBF module ("NAME.a") that
 * fills the other cells; near: only the cells next to sampled ones (every
 * reader is a 3x3 stride-1 conv gated by the same mask). */
enum stp_status stp_net_gate(struct stp_net_builder *b, int value, int mask, int logits,
			     const char *interp, int near);

/* CSP backbone (cspnet.c): the values of its stages' outputs c2.. in
 * levels[0..nstages). */
enum stp_status stp_net_build_cspnet(struct stp_net_builder *b, int levels[4]);
/* PAN over the backbone levels it reads (levels[L - 2] for cL); adds outputs
 * p{L} to the plan and returns their ids in p[L - 2] (-1 elsewhere). */
enum stp_status stp_net_build_pan(struct stp_net_builder *b, const int levels[4], int p[5]);
/* FPN over levels[0..3]; adds outputs p2..p5[,p6] to the plan and returns
 * their value ids in p[0..4] (p[4] = -1 without p6). */
enum stp_status stp_net_build_fpn(struct stp_net_builder *b, const int levels[4], int p[5]);

#endif

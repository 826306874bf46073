/*
 * layers.c - the builders every network uses: take a conv's tensors by name
 * and shape, fold its BatchNorm, pack it, and append it to the plan.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nets.h"

#define NAME_MAX_LEN 160

const float *stp_net_take(struct stp_net_builder *b, const char *prefix, const char *leaf,
			 const int64_t *shape, int ndim, enum stp_status *status)
{
	char name[NAME_MAX_LEN];
	const float *p;
	snprintf(name, sizeof(name), "%s%s%s", prefix, *leaf ? "." : "", leaf);
	p = stp_st_take(b->file, name, shape, ndim, b->err, b->errlen);
	if (!p)
		*status = STP_ERR_FORMAT;
	return p;
}

struct stp_conv_desc stp_net_conv_desc(int cin, int cout, int k, int stride, int relu)
{
	struct stp_conv_desc d = {cin, cout, 1, k, k, stride, stride, k / 2, k / 2, 1, 1, relu, 0.0f};
	return d;
}

int stp_net_conv_arrays(struct stp_net_builder *b, const char *name,
			const struct stp_conv_desc *desc, const float *weight,
			const float *bias, int in, int residual, int backbone,
			int out_stride, enum stp_status *status)
{
	struct stp_op op = {.kind = STP_OP_CONV, .in = in, .in2 = residual,
			    .backbone = backbone, .out_stride = out_stride};
	int value;

	*status = stp_conv_create(desc, weight, bias, b->kernels, &op.conv);
	if (*status != STP_OK) {
		stp_set_error(b->err, b->errlen, *status, "cannot build conv '%s': %s", name,
			      stp_status_str(*status));
		return -1;
	}
	value = stp_plan_add(b->plan, &op, desc->cout);
	if (value < 0)
		*status = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory");
	return value;
}

enum stp_status stp_net_load_conv(struct stp_net_builder *b, const char *name, const char *bn,
				  int has_bias, const struct stp_conv_desc *desc,
				  float **weight, float **bias)
{
	const int cout = desc->cout, cin_g = desc->cin / desc->groups;
	const int64_t wshape[4] = {cout, cin_g, desc->kh, desc->kw}, vshape[1] = {cout};
	const size_t wn = (size_t)cout * cin_g * desc->kh * desc->kw, per_out = wn / cout;
	enum stp_status st = STP_OK;
	const float *src_w, *src_b;
	float *w, *bs;

	*weight = *bias = NULL;
	src_w = stp_net_take(b, name, "weight", wshape, 4, &st);
	if (!src_w)
		return st;
	w = stp_malloc(wn * sizeof(float));
	bs = stp_zalloc((size_t)cout, sizeof(float));
	if (!w || !bs) {
		st = stp_set_error(b->err, b->errlen, STP_ERR_NOMEM, "out of memory packing '%s'", name);
		goto error;
	}
	for (size_t i = 0; i < wn; i++)
		w[i] = src_w[i];
	b->parameters += wn;
	if (bn) {
		const float *gamma = stp_net_take(b, bn, "weight", vshape, 1, &st);
		const float *beta = gamma ? stp_net_take(b, bn, "bias", vshape, 1, &st) : NULL;
		const float *mean = beta ? stp_net_take(b, bn, "running_mean", vshape, 1, &st) : NULL;
		const float *var = mean ? stp_net_take(b, bn, "running_var", vshape, 1, &st) : NULL;
		if (!var)
			goto error;
		for (int o = 0; o < cout; o++) {
			const double denom = (double)var[o] + b->arch->bn_eps;
			double scale;
			if (!(denom > 0)) {
				st = stp_set_error(b->err, b->errlen, STP_ERR_FORMAT,
						   "tensor '%s.running_var' has a negative variance", bn);
				goto error;
			}
			scale = gamma[o] / sqrt(denom);
			for (size_t i = 0; i < per_out; i++)
				w[o * per_out + i] = (float)(w[o * per_out + i] * scale);
			bs[o] = (float)(beta[o] - mean[o] * scale);
		}
		b->parameters += 2 * (uint64_t)cout;
	} else if (has_bias) {
		src_b = stp_net_take(b, name, "bias", vshape, 1, &st);
		if (!src_b)
			goto error;
		for (int o = 0; o < cout; o++)
			bs[o] = src_b[o];
		b->parameters += (uint64_t)cout;
	}
	*weight = w;
	*bias = bs;
	return STP_OK;
error:
	free(w);
	free(bs);
	return st;
}

int stp_net_conv(struct stp_net_builder *b, const char *name, const char *bn,
		 int has_bias, int in, int residual, const struct stp_conv_desc *desc,
		 int backbone, int out_stride, enum stp_status *status)
{
	float *w, *bias;
	int value;

	*status = stp_net_load_conv(b, name, bn, has_bias, desc, &w, &bias);
	if (*status != STP_OK)
		return -1;
	value = stp_net_conv_arrays(b, name, desc, w, bias, in, residual, backbone,
				    out_stride, status);
	free(w);
	free(bias);
	return value;
}

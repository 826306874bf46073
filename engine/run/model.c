/*
 * model.c - loading a model file: read, validate the container and the
 * architecture, build the plan (which takes and checks every tensor), and
 * reject any tensor left over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/safetensors.h"
#include "../nets/nets.h"
#include "model-impl.h"

#define MAX_MODEL_BYTES ((size_t)4 << 30)

/* Outputs c2.. of a backbone without a neck. */
static enum stp_status add_backbone_outputs(struct stp_plan *plan, const int *levels, int n)
{
	static const char *names[4] = {"c2", "c3", "c4", "c5"};
	enum stp_status st = STP_OK;

	for (int i = 0; i < n && st == STP_OK; i++)
		st = stp_plan_add_output(plan, levels[i], names[i]);
	return st;
}

static enum stp_status build(struct stp_model *m, struct stp_st_file *file,
			     char *err, size_t errlen)
{
	struct stp_net_builder b = {&m->plan, file, &m->arch, m->engine->kernels, 0, err, errlen};
	const char *format = stp_st_meta(file, "format");
	const char *version = stp_st_meta(file, "format_version");
	const char *json = stp_st_meta(file, "architecture");
	struct stp_fpn_values fpn;
	int levels[4], logits;
	enum stp_status st;

	if (!format || strcmp(format, "stipple") != 0)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "metadata 'format' must be \"stipple\"");
	if (!version || strcmp(version, "1") != 0)
		return stp_set_error(err, errlen, STP_ERR_UNSUPPORTED,
				     "unsupported format_version '%s' (this build reads 1)",
				     version ? version : "(missing)");
	if (!json)
		return stp_set_error(err, errlen, STP_ERR_FORMAT, "metadata 'architecture' is missing");
	st = stp_arch_parse(json, &m->arch, err, errlen);
	if (st != STP_OK)
		return st;
	stp_plan_init(&m->plan, m->arch.in_channels);
	if (m->arch.backbone == STP_BACKBONE_CSPNET) {
		st = stp_net_build_cspnet(&b, levels);
		if (st == STP_OK && m->arch.neck == STP_NECK_PAN)
			st = stp_net_build_pan(&b, levels, fpn.p);
		else if (st == STP_OK)
			st = add_backbone_outputs(&m->plan, levels, m->arch.csp.nstages);
		if (st == STP_OK && m->arch.gfl.enabled)
			st = stp_gfl_head_build(&b, &m->arch.gfl, &fpn, &m->gfl);
		goto built;
	}
	st = stp_net_build_resnet(&b, levels, &logits);
	if (st != STP_OK)
		return st;
	if (m->arch.sparse.ncalibration && m->arch.sparse.ncalibration != m->plan.nmasks)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "architecture: backbone.sparse.calibration holds %d densities; "
				     "the network has %d masks", m->arch.sparse.ncalibration,
				     m->plan.nmasks);
	if (logits >= 0) {
		st = stp_plan_add_output(&m->plan, logits, "logits");
	} else if (m->arch.neck == STP_NECK_FPN) {
		st = stp_net_build_fpn(&b, levels, fpn.p);
		if (st == STP_OK && m->arch.detect.enabled)
			st = stp_detect_head_build(&b, &m->arch.detect, &fpn, &m->detect);
		if (st == STP_OK && m->arch.segment.enabled)
			st = stp_segment_head_build(&b, &m->arch.segment, &fpn, &m->segment);
	} else {
		st = add_backbone_outputs(&m->plan, levels, 4);
	}
built:
	if (st == STP_OK)
		st = stp_plan_mark_users(&m->plan);
	if (st != STP_OK)
		return st == STP_ERR_NOMEM ? stp_set_error(err, errlen, st, "out of memory") : st;
	m->parameters = b.parameters;
	for (int i = 0; i < m->plan.nops; i++)
		m->gated |= m->plan.ops[i].kind == STP_OP_MASK;
	return stp_st_check_all_taken(file, err, errlen);
}

enum stp_status stp_model_load_buffer(stp_engine *engine, const void *data, size_t size,
				      stp_model **out, char *err, size_t errlen)
{
	struct stp_st_file *file = NULL;
	struct stp_model *m;
	enum stp_status st;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no output pointer");
	*out = NULL;
	if (!engine || (!data && size))
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no engine or data");
	m = stp_zalloc(1, sizeof(*m));
	if (!m)
		return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
	m->engine = engine;
	st = stp_st_parse(data, size, &file, err, errlen);
	if (st == STP_OK)
		st = build(m, file, err, errlen);
	stp_st_free(file);
	if (st != STP_OK) {
		stp_model_destroy(m);
		return st;
	}
	*out = m;
	return STP_OK;
}

enum stp_status stp_model_load(stp_engine *engine, const char *path, stp_model **out,
			       char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	long len;
	enum stp_status st;

	if (out)
		*out = NULL;
	if (!path)
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no model path");
	f = fopen(path, "rb");
	if (!f)
		return stp_set_error(err, errlen, STP_ERR_IO, "cannot open '%s': %s", path,
				     strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return stp_set_error(err, errlen, STP_ERR_IO, "cannot read '%s': %s", path,
				     strerror(errno));
	}
	if ((size_t)len > MAX_MODEL_BYTES) {
		fclose(f);
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "'%s' is %ld bytes, over the 4 GiB limit", path, len);
	}
	buf = stp_malloc(len ? (size_t)len : 1);
	if (!buf) {
		fclose(f);
		return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory reading '%s'", path);
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		st = stp_set_error(err, errlen, STP_ERR_IO, "cannot read '%s'", path);
	} else {
		st = stp_model_load_buffer(engine, buf, (size_t)len, out, err, errlen);
	}
	free(buf);
	fclose(f);
	return st;
}

void stp_model_destroy(stp_model *model)
{
	if (!model)
		return;
	stp_detect_head_destroy(model->detect);
	stp_gfl_head_destroy(model->gfl);
	stp_segment_head_destroy(model->segment);
	stp_plan_clear(&model->plan);
	stp_arch_clear(&model->arch);
	free(model);
}

const char *stp_model_architecture(const stp_model *model)
{
	return model->arch.json;
}

uint64_t stp_model_parameter_count(const stp_model *model)
{
	return model->parameters;
}

int stp_model_output_count(const stp_model *model)
{
	return model->plan.noutputs;
}

const char *stp_model_output_name(const stp_model *model, int index)
{
	if (index < 0 || index >= model->plan.noutputs)
		return NULL;
	return model->plan.output_names[index];
}

int stp_model_input_channels(const stp_model *model)
{
	return model->plan.in_channels;
}

/*
 * tasks.c - the task API of stipple.h: what a model's heads can do, and
 * stp_session_run_image = the scratch for the image's size (scratch.c) +
 * preprocessing (image-input.c) + the plan for the tasks asked
 * (stp_session_run_for: the outputs and those heads' convs; another head's
 * convs are skipped) + the heads' post-processing (engine/heads/). Results
 * stay in the session until the next run, which clears them first.
 */
#include "cost.h"
#include "image-input.h"
#include "scratch.h"

unsigned stp_model_tasks(const stp_model *model)
{
	if (!model)
		return 0;
	return (model->detect || model->gfl ? STP_TASK_DETECT : 0u) |
	       (model->segment ? STP_TASK_SEGMENT : 0u);
}

int stp_model_class_count(const stp_model *model)
{
	if (!model)
		return 0;
	if (model->arch.detect.enabled)
		return model->arch.detect.num_classes;
	if (model->arch.gfl.enabled)
		return model->arch.gfl.num_classes;
	return model->arch.segment.enabled ? model->arch.segment.num_classes : 0;
}

const char *stp_model_class_name(const stp_model *model, int label)
{
	if (!model || label < 1 || label > model->arch.nclasses)
		return NULL;
	return model->arch.classes[label - 1];
}

enum stp_status stp_session_run_image(stp_session *s, const uint8_t *rgb, int h, int w,
				      size_t stride, const struct stp_run_options *opts,
				      unsigned tasks)
{
	return stp_session_run_image_reduced(s, rgb, h, w, stride, h, w, opts, tasks);
}

enum stp_status stp_session_run_image_reduced(stp_session *s, const uint8_t *rgb, int h, int w,
					      size_t stride, int source_h, int source_w,
					      const struct stp_run_options *opts, unsigned tasks)
{
	struct stp_image_geometry g;
	enum stp_status st;

	if (!s || (tasks & ~stp_model_tasks(s->model)))
		return STP_ERR_INVALID_ARG;
	s->ran_tasks = 0;
	if (s->model->arch.in_channels != 3)
		return STP_ERR_UNSUPPORTED;
	if (!rgb || h <= 0 || w <= 0 || stride < (size_t)w * 3 || source_h <= 0 || source_w <= 0)
		return STP_ERR_INVALID_ARG;
	st = stp_image_geometry_of(s->model, source_h, source_w, &g);
	if (st == STP_OK)
		st = stp_scratch_for_image(s, &g);
	if (st == STP_OK)
		st = stp_image_input(s, rgb, h, w, stride, &g);
	if (st == STP_OK)
		st = stp_session_run_for(s, s->image_input, g.ph, g.pw, opts,
					 tasks | STP_PLAN_OUTPUT_USER);
	if (st != STP_OK)
		return st;
	s->geometry = g;
	if (tasks & STP_TASK_DETECT) {
		if (s->abort_fn && s->abort_fn(s->abort_user))
			return STP_ERR_CANCELLED;
		st = s->model->gfl ? stp_gfl_head_run(s->model->gfl, &s->values, &g, s->gfl_state)
				   : stp_detect_head_run(s->model->detect, &s->values, &g,
							 stp_budget_proposals(s->model, opts), s->detect_state);
		if (st != STP_OK)
			return st;
	}
	if (tasks & STP_TASK_SEGMENT) {
		if (s->abort_fn && s->abort_fn(s->abort_user))
			return STP_ERR_CANCELLED;
		st = stp_segment_head_run(s->model->segment, &s->values, &g, s->segment_state);
		if (st != STP_OK)
			return st;
	}
	s->ran_tasks = tasks;
	return STP_OK;
}

int stp_session_detections(const stp_session *s, const struct stp_detection **out)
{
	if (out)
		*out = NULL;
	if (!s || !out || !(s->ran_tasks & STP_TASK_DETECT))
		return 0;
	return s->model->gfl ? stp_gfl_state_results(s->gfl_state, out)
			     : stp_detect_state_results(s->detect_state, out);
}

enum stp_status stp_session_semantic(const stp_session *s, const uint8_t **labels, int *h,
				     int *w)
{
	if (!s || !labels || !h || !w || !(s->ran_tasks & STP_TASK_SEGMENT))
		return STP_ERR_INVALID_ARG;
	*labels = stp_segment_state_labels(s->segment_state);
	*h = s->geometry.h;
	*w = s->geometry.w;
	return STP_OK;
}

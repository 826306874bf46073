/*
 * test-task-runs.c - a run for some tasks runs only what they need
 * (plan.h, "Users"), on the shipped ResNet-18 detector + segmenter: a
 * detection-only run skips the segmentation head's convs and a
 * segmentation-only run the RPN's, yet each gives exactly the detections
 * or the label map of a run of both tasks; a run of no task computes only
 * the network's outputs. The ops that ran (profiled: a skipped op has no
 * time) and the reports' costs both partition: detect-only + segment-only
 * - outputs-only = both tasks. The same holds at a budget, whose masks are
 * the backbone's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "stipple.h"

#define IMAGE_H 96
#define IMAGE_W 128

struct task_run {
	int ops_run;
	double network_macs;
	int ndet;
	struct stp_detection det[100];
	uint8_t labels[IMAGE_H * IMAGE_W];
};

static void run_tasks(stp_session *s, const uint8_t *rgb, const struct stp_run_options *ro,
		      unsigned tasks, struct task_run *out)
{
	struct stp_run_report rep;
	const struct stp_op_profile *prof;
	const struct stp_detection *d;
	const uint8_t *labels;
	int h, w;

	memset(out, 0, sizeof(*out));
	if (stp_session_run_image(s, rgb, IMAGE_H, IMAGE_W, IMAGE_W * 3, ro, tasks) != STP_OK ||
	    stp_session_report(s, &rep) != STP_OK)
		HARNESS_ERROR("run for tasks %u", tasks);
	out->network_macs = rep.network_macs;
	for (int i = 0; i < stp_session_profile(s, &prof); i++)
		out->ops_run += prof[i].ms > 0;
	out->ndet = stp_session_detections(s, &d);
	if (out->ndet > 100)
		out->ndet = 100;
	if (out->ndet > 0)
		memcpy(out->det, d, (size_t)out->ndet * sizeof(*d));
	if ((tasks & STP_TASK_SEGMENT) && stp_session_semantic(s, &labels, &h, &w) == STP_OK &&
	    h == IMAGE_H && w == IMAGE_W)
		memcpy(out->labels, labels, sizeof(out->labels));
}

static void test_mode(stp_session *s, const uint8_t *rgb, const struct stp_run_options *ro,
		      const char *mode)
{
	static struct task_run both, detect, segment, none;

	run_tasks(s, rgb, ro, STP_TASK_DETECT | STP_TASK_SEGMENT, &both);
	run_tasks(s, rgb, ro, STP_TASK_DETECT, &detect);
	run_tasks(s, rgb, ro, STP_TASK_SEGMENT, &segment);
	run_tasks(s, rgb, ro, 0, &none);
	CHECK(both.ndet > 0 && detect.ndet == both.ndet &&
	      memcmp(detect.det, both.det, (size_t)both.ndet * sizeof(both.det[0])) == 0,
	      "%s: a detection-only run gives the detections of both (%d and %d)", mode,
	      detect.ndet, both.ndet);
	CHECK(memcmp(segment.labels, both.labels, sizeof(both.labels)) == 0,
	      "%s: a segmentation-only run gives the label map of both", mode);
	CHECK(none.ops_run < segment.ops_run && segment.ops_run < both.ops_run &&
	      none.ops_run < detect.ops_run && detect.ops_run < both.ops_run &&
	      detect.ops_run + segment.ops_run - none.ops_run == both.ops_run,
	      "%s: ops run partition: none %d, detect %d, segment %d, both %d", mode, none.ops_run,
	      detect.ops_run, segment.ops_run, both.ops_run);
	CHECK(none.network_macs < segment.network_macs &&
	      segment.network_macs < both.network_macs &&
	      none.network_macs < detect.network_macs && detect.network_macs < both.network_macs,
	      "%s: each run counts less than both tasks: none %.4g, detect %.4g, segment %.4g, "
	      "both %.4g GMACs", mode, none.network_macs / 1e9, detect.network_macs / 1e9,
	      segment.network_macs / 1e9, both.network_macs / 1e9);
	CHECK(fabs(detect.network_macs + segment.network_macs - none.network_macs -
		   both.network_macs) <= 1e-9 * both.network_macs,
	      "%s: the costs partition (detect + segment - none = both)", mode);
}

int main(void)
{
	const struct stp_engine_options eo = {2, STP_ISA_AUTO};
	const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : "..";
	const struct stp_run_options dense = {.mode = STP_RUN_DENSE},
				     half = {.mode = STP_RUN_BUDGET, .budget = 0.5};
	static uint8_t rgb[IMAGE_H * IMAGE_W * 3];
	unsigned long long rng = 11;
	char path[4096], err[256];
	unsigned char *file;
	stp_engine *e;
	stp_model *m;
	stp_session *s;
	size_t size;

	for (int y = 0; y < IMAGE_H; y++)   /* a few flat blocks on noise */
		for (int x = 0; x < IMAGE_W; x++)
			for (int c = 0; c < 3; c++)
				rgb[((size_t)y * IMAGE_W + x) * 3 + c] =
					(uint8_t)((y / 32 + x / 32 + c) % 3 * 100 +
						  test_randf(&rng) * 20.0f + 30.0f);
	snprintf(path, sizeof(path), "%s/models/stipple-r18-detseg/1/model.stp", srcdir);
	file = test_read_file(path, &size);
	if (stp_engine_create(&eo, &e) != STP_OK ||
	    stp_model_load_buffer(e, file, size, &m, err, sizeof(err)) != STP_OK ||
	    stp_session_create(m, &s) != STP_OK)
		HARNESS_ERROR("load: %s", err);
	stp_session_set_profiling(s, 1);
	test_mode(s, rgb, &dense, "dense");
	test_mode(s, rgb, &half, "budget 0.5");
	stp_session_destroy(s);
	stp_model_destroy(m);
	stp_engine_destroy(e);
	free(file);
	return test_main_end();
}

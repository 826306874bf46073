/*
 * test-image-input.c - stp_session_run_image's preprocessing and the task
 * API's edges, on a small dense ResNet built by model-builder.h:
 *   - stp_model_input_size: torchvision's float32 scale (375 x 500 with
 *     800 / 1333 gives 799 x 1066, padded to 800 x 1088), the long-side cap,
 *     images too small to size;
 *   - the network input against a naive reference in double (bilinear
 *     with align_corners=False from the ratio in / out and the
 *     normalisation, which commute in exact arithmetic; zero padding), for
 *     upscaling, downscaling, a row stride wider than the image, and a
 *     reduced copy of a larger image (stp_session_run_image_reduced: sized
 *     from the original, sampled from the copy);
 *   - refusals: a task the model lacks, a short stride, results asked of a
 *     run that did not produce them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "model-builder.h"
#include "run/model-impl.h"

static const struct mb_arch tiny = {0, {1, 1, 1, 1}, 8, {8, 8, 8, 8}, 3, 0, 0, 0};

/* The tiny model with input rules short / long / divisor. */
static stp_model *load_with_input(stp_engine *engine, int shorter, int longer, int divisor)
{
	struct mb_model m;
	char from[128], *arch, *at, err[256] = "";
	unsigned char *bytes;
	size_t size;
	stp_model *model = NULL;

	mb_build(&m, &tiny, 3);
	arch = malloc(strlen(m.architecture) + 64);
	at = strstr(m.architecture, "\"resize\"");
	snprintf(from, sizeof(from), "\"resize\": {\"short_side\": %d, \"max_long_side\": %d}, "
		 "\"size_divisor\": %d}}", shorter, longer, divisor);
	memcpy(arch, m.architecture, (size_t)(at - m.architecture));
	strcpy(arch + (at - m.architecture), from);
	mb_set(&m.architecture, arch);
	free(arch);
	bytes = mb_encode(&m, &size);
	CHECK(stp_model_load_buffer(engine, bytes, size, &model, err, sizeof(err)) == STP_OK,
	      "load: %s", err);
	free(bytes);
	mb_free(&m);
	return model;
}

static void test_sizes(stp_engine *engine)
{
	stp_model *m = load_with_input(engine, 800, 1333, 32);
	int rh, rw, ph, pw;

	CHECK(stp_model_input_size(m, 375, 500, &rh, &rw, &ph, &pw) == STP_OK && rh == 799 &&
	      rw == 1066 && ph == 800 && pw == 1088, "375x500 -> %dx%d (%dx%d)", rh, rw, ph, pw);
	/* 1333 * f32(1 / 3000) = 0.44433331: 1332 columns, as torchvision gives */
	CHECK(stp_model_input_size(m, 100, 3000, &rh, &rw, &ph, &pw) == STP_OK && rw == 1332 &&
	      rh == 44 && ph == 64 && pw == 1344, "long-side cap: %dx%d", rh, rw);
	CHECK(stp_model_input_size(m, 1, 20000, &rh, &rw, NULL, NULL) == STP_ERR_INVALID_ARG,
	      "an image that resizes to zero rows");
	CHECK(stp_model_input_size(m, 0, 10, &rh, &rw, NULL, NULL) == STP_ERR_INVALID_ARG,
	      "an empty image");
	stp_model_destroy(m);
}

/* Naive reference of the network input, in double, from the rules. */
static double reference(const uint8_t *rgb, int h, int w, size_t stride, int rh, int rw,
			const float *mean, const float *std, int y, int x, int c)
{
	const double sy = (double)(float)((float)h / (float)rh);
	const double sx = (double)(float)((float)w / (float)rw);
	double fy = fmax(sy * (y + 0.5) - 0.5, 0), fx = fmax(sx * (x + 0.5) - 0.5, 0);
	const int y0 = (int)fy, x0 = (int)fx;
	const int y1 = y0 < h - 1 ? y0 + 1 : y0, x1 = x0 < w - 1 ? x0 + 1 : x0;
	const double ly = fy - y0, lx = fx - x0;
#define N(yy, xx) (((double)rgb[(size_t)(yy) * stride + (size_t)(xx) * 3 + c] - mean[c]) / std[c])
	return (1 - ly) * ((1 - lx) * N(y0, x0) + lx * N(y0, x1)) +
	       ly * ((1 - lx) * N(y1, x0) + lx * N(y1, x1));
#undef N
}

/* An h x w image as the copy of a source_h x source_w one (0: itself). */
static void check_input(stp_engine *engine, int shorter, int longer, int h, int w, int pad,
			int source_h, int source_w)
{
	stp_model *m = load_with_input(engine, shorter, longer, 32);
	stp_session *s = NULL;
	const size_t stride = (size_t)w * 3 + (size_t)pad;
	uint8_t *rgb = malloc(stride * h);
	int rh, rw, ph, pw;
	double worst = 0;
	int bad_pad = 0;

	for (size_t i = 0; i < stride * h; i++)
		rgb[i] = (uint8_t)((i * 2654435761u) >> 13);
	CHECK(stp_session_create(m, &s) == STP_OK, "session");
	if (!source_h) {
		source_h = h;
		source_w = w;
		CHECK(stp_session_run_image(s, rgb, h, w, stride, NULL, 0) == STP_OK, "run %dx%d",
		      h, w);
	} else {
		CHECK(stp_session_run_image_reduced(s, rgb, h, w, stride, source_h, source_w, NULL,
						    0) == STP_OK,
		      "run %dx%d as a copy of %dx%d", h, w, source_h, source_w);
	}
	/* sized from the source, sampled from the copy */
	stp_model_input_size(m, source_h, source_w, &rh, &rw, &ph, &pw);
	for (int y = 0; y < ph; y++)
		for (int x = 0; x < pw; x++)
			for (int c = 0; c < 3; c++) {
				const float v = s->image_input[((size_t)y * pw + x) * 3 + c];

				if (y >= rh || x >= rw)
					bad_pad += v != 0.0f;
				else
					worst = fmax(worst, fabs(v - reference(rgb, h, w, stride, rh, rw,
								     m->arch.mean, m->arch.std,
								     y, x, c)));
			}
	CHECK(worst < 1e-5, "%dx%d -> %dx%d: worst difference from the reference %g", h, w, rh, rw,
	      worst);
	CHECK(bad_pad == 0, "%dx%d: %d padding values are not zero", h, w, bad_pad);
	stp_session_destroy(s);
	stp_model_destroy(m);
	free(rgb);
}

static void test_refusals(stp_engine *engine)
{
	stp_model *m = load_with_input(engine, 64, 96, 32);
	stp_session *s = NULL;
	uint8_t rgb[40 * 50 * 3] = {0};
	const struct stp_detection *d;
	const uint8_t *labels;
	int h, w;

	CHECK(stp_model_tasks(m) == 0 && stp_model_class_count(m) == 0 &&
	      stp_model_class_name(m, 1) == NULL, "a feature extractor has no tasks");
	CHECK(stp_session_create(m, &s) == STP_OK, "session");
	CHECK(stp_session_run_image(s, rgb, 40, 50, 50 * 3, NULL, STP_TASK_DETECT) ==
	      STP_ERR_INVALID_ARG, "a task the model lacks");
	CHECK(stp_session_run_image(s, rgb, 40, 50, 50 * 3 - 1, NULL, 0) == STP_ERR_INVALID_ARG,
	      "a stride shorter than a row");
	CHECK(stp_session_run_image(s, NULL, 40, 50, 50 * 3, NULL, 0) == STP_ERR_INVALID_ARG,
	      "no pixels");
	CHECK(stp_session_run_image_reduced(s, rgb, 40, 50, 50 * 3, 0, 100, NULL, 0) ==
	      STP_ERR_INVALID_ARG, "an empty source");
	CHECK(stp_session_run_image(s, rgb, 40, 50, 50 * 3, NULL, 0) == STP_OK, "features only");
	CHECK(stp_session_detections(s, &d) == 0 && d == NULL, "no detections after that run");
	CHECK(stp_session_semantic(s, &labels, &h, &w) == STP_ERR_INVALID_ARG,
	      "no label map after that run");
	stp_session_destroy(s);
	stp_model_destroy(m);
}

int main(void)
{
	struct stp_engine_options eo = {2, STP_ISA_AUTO};
	stp_engine *engine = NULL;

	if (stp_engine_create(&eo, &engine) != STP_OK)
		HARNESS_ERROR("no engine");
	test_sizes(engine);
	check_input(engine, 64, 96, 40, 50, 0, 0, 0);    /* up: 40x50 -> 64x80 */
	check_input(engine, 64, 96, 150, 97, 5, 0, 0);   /* down, odd sizes, a wider stride */
	check_input(engine, 64, 96, 30, 200, 0, 0, 0);   /* the long side caps the scale */
	/* a reduced copy: 75x49 of 300x196 (a JPEG at 1/4) -> 96x62 */
	check_input(engine, 64, 96, 75, 49, 0, 300, 196);
	test_refusals(engine);
	stp_engine_destroy(engine);
	return test_main_end();
}

/*
 * coco-eval-json.c - prints the COCO box AP of a detections file against an
 * annotations file as one JSON object, so that tests/cli/test-coco-xcheck.sh
 * can compare cli/coco-eval.c with train/stipple_train/coco_eval.py.
 *
 *     coco-eval-json ANNOTATIONS.json DETECTIONS.json
 *
 * DETECTIONS.json: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}].
 */
#include <stdio.h>

#include <jansson.h>

#include "../../cli/coco-eval.h"

int main(int argc, char **argv)
{
	struct coco_eval e;
	struct coco_ap ap;
	char err[512];
	json_error_t jerr;
	json_t *dets, *d;
	size_t i;

	if (argc != 3) {
		fprintf(stderr, "usage: coco-eval-json ANNOTATIONS.json DETECTIONS.json\n");
		return 2;
	}
	if (coco_eval_load(&e, argv[1], err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!(dets = json_load_file(argv[2], 0, &jerr))) {
		fprintf(stderr, "%s: %s\n", argv[2], jerr.text);
		return 1;
	}
	json_array_foreach(dets, i, d) {
		json_t *b = json_object_get(d, "bbox");
		const double x = json_number_value(json_array_get(b, 0));
		const double y = json_number_value(json_array_get(b, 1));
		const json_int_t id = json_integer_value(json_object_get(d, "image_id"));
		int img = -1;

		for (int k = 0; k < e.nimages && img < 0; k++)
			if (e.image_ids[k] == id)
				img = k;
		if (img < 0 || coco_eval_add(&e, img, coco_eval_category(&e, json_integer_value(
						  json_object_get(d, "category_id"))),
					     x, y, x + json_number_value(json_array_get(b, 2)),
					     y + json_number_value(json_array_get(b, 3)),
					     json_number_value(json_object_get(d, "score")))) {
			fprintf(stderr, "detection %zu: unknown image or out of memory\n", i);
			return 1;
		}
	}
	if (coco_eval_compute(&e, e.nimages, &ap))
		return 1;
	printf("{\"ap\": %.17g, \"ap50\": %.17g, \"ap75\": %.17g, \"ap_small\": %.17g, "
	       "\"ap_medium\": %.17g, \"ap_large\": %.17g}\n", ap.ap, ap.ap50, ap.ap75, ap.small,
	       ap.medium, ap.large);
	json_decref(dets);
	coco_eval_free(&e);
	return 0;
}

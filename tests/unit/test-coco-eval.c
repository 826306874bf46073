/*
 * test-coco-eval.c - the COCO box AP and mIoU of `stipple eval`
 * (cli/coco-eval.c) on hand-built cases whose answers are known, the same
 * cases as train/tests/test_coco_eval.py: perfect detections, a precision /
 * recall curve worked out by hand to its 101-point value, duplicates and IoU
 * thresholds, the 100-detection cut, a category without ground truth, area
 * ranges, crowds, score ties across images (by image id), degenerate boxes,
 * a known confusion matrix; then malformed annotation files, each of which
 * must give a one-line error and leave nothing allocated (run under ASan or
 * valgrind to see the latter). tests/cli/test-coco-xcheck.sh compares the
 * two implementations on random cases.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../cli/coco-eval.h"
#include "testutil.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

/* Writes text to a temporary file and loads it into e; returns the loader's
 * result with its message in err. */
static int load_text(const char *text, struct coco_eval *e, char *err, size_t errlen)
{
	char path[] = "/tmp/test-coco-eval.XXXXXX";
	const int fd = mkstemp(path);
	const size_t n = strlen(text);
	int rc;

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		HARNESS_ERROR("cannot write %s", path);
	close(fd);
	rc = coco_eval_load(e, path, err, errlen);
	unlink(path);
	return rc;
}

static void load(const char *text, struct coco_eval *e)
{
	char err[512];

	if (load_text(text, e, err, sizeof(err)))
		HARNESS_ERROR("%s", err);
}

/* A detection (x, y, w, h) of image index i and category index c. */
static void add(struct coco_eval *e, int i, int c, double x, double y, double w, double h,
		double score)
{
	if (coco_eval_add(e, i, c, x, y, x + w, y + h, score))
		HARNESS_ERROR("out of memory");
}

static struct coco_ap compute(struct coco_eval *e)
{
	struct coco_ap ap;

	if (coco_eval_compute(e, e->nimages, &ap))
		HARNESS_ERROR("out of memory");
	coco_eval_free(e);
	return ap;
}

#define CATS12 "\"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b\"}]"
#define CAT1 "\"categories\": [{\"id\": 1, \"name\": \"a\"}]"
#define IMAGE1 "\"images\": [{\"id\": 1, \"file_name\": \"1.jpg\"}]"
#define GT(id, img, cat, x, y, w, h, area, crowd)                                             \
	"{\"id\": " #id ", \"image_id\": " #img ", \"category_id\": " #cat ", \"bbox\": [" #x \
	", " #y ", " #w ", " #h "], \"area\": " #area ", \"iscrowd\": " #crowd "}"
/* One 10 x 10 ground truth of category 1 at the origin of image 1. */
#define ONE_GT "{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) "]}"

static void test_perfect(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	load("{" IMAGE1 ", " CATS12 ", \"annotations\": [" GT(1, 1, 1, 10, 10, 50, 50, 2500, 0)
	     ", " GT(2, 1, 2, 100, 100, 20, 20, 400, 0) "]}", &e);
	add(&e, 0, 0, 10, 10, 50, 50, 0.9);
	add(&e, 0, 1, 100, 100, 20, 20, 0.8);
	ap = compute(&e);
	CHECK(NEAR(ap.ap, 1) && NEAR(ap.ap50, 1) && NEAR(ap.ap75, 1), "perfect: AP %g", ap.ap);
	CHECK(NEAR(ap.small, 1) && NEAR(ap.medium, 1), "perfect: small %g medium %g", ap.small,
	      ap.medium);
	CHECK(ap.large == -1, "perfect: no large ground truth, large AP %g", ap.large);
}

/* Two ground truths; by score: hit, miss, hit. Precision 1, 1/2, 2/3 at recall
 * 1/2, 1/2, 1, made monotone 1, 2/3, 2/3: recall thresholds 0..0.50 (51) get 1,
 * 0.51..1 (50) get 2/3. */
static void test_known_curve(void)
{
	const double want = (51 + 50 * 2.0 / 3) / 101;
	struct coco_eval e;
	struct coco_ap ap;

	load("{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) ", "
	     GT(2, 1, 1, 50, 50, 10, 10, 100, 0) "]}", &e);
	add(&e, 0, 0, 0, 0, 10, 10, 0.9);
	add(&e, 0, 0, 200, 200, 10, 10, 0.8);
	add(&e, 0, 0, 50, 50, 10, 10, 0.7);
	ap = compute(&e);
	CHECK(NEAR(ap.ap50, want), "known curve: AP50 %.15g, want %.15g", ap.ap50, want);
	CHECK(NEAR(ap.ap, want), "known curve: exact boxes match at every threshold: %.15g", ap.ap);
}

static void test_duplicates_and_thresholds(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	/* the duplicate is a false positive after full recall: AP stays 1 */
	load(ONE_GT, &e);
	add(&e, 0, 0, 0, 0, 10, 10, 0.9);
	add(&e, 0, 0, 0, 0, 10, 10, 0.8);
	ap = compute(&e);
	CHECK(NEAR(ap.ap, 1), "duplicate: AP %g", ap.ap);
	/* a box inside the ground truth */
	load(ONE_GT, &e);
	add(&e, 0, 0, 0, 0, 10, 8, 0.9);   /* IoU 80 / 100 = 0.8 */
	ap = compute(&e);
	CHECK(NEAR(ap.ap50, 1) && NEAR(ap.ap75, 1), "IoU 0.8: AP50 %g AP75 %g", ap.ap50, ap.ap75);
	CHECK(NEAR(ap.ap, 0.7), "IoU 0.8 matches at 7 of 10 thresholds: AP %g", ap.ap);
}

static void test_max_dets(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	load(ONE_GT, &e);
	for (int k = 0; k < 100; k++)
		add(&e, 0, 0, 300 + 20 * k, 0, 10, 10, 0.9);
	add(&e, 0, 0, 0, 0, 10, 10, 0.1);   /* the hit ranks 101st: cut */
	ap = compute(&e);
	CHECK(ap.ap == 0, "101st detection: AP %g, want 0", ap.ap);
}

static void test_empty_category(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	load("{" IMAGE1 ", " CATS12 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) "]}",
	     &e);
	add(&e, 0, 0, 0, 0, 10, 10, 0.9);
	add(&e, 0, 1, 0, 0, 10, 10, 0.9);   /* category 2 has no ground truth: left out */
	ap = compute(&e);
	CHECK(NEAR(ap.ap, 1), "empty category: AP %g", ap.ap);
	load("{" IMAGE1 ", " CAT1 ", \"annotations\": []}", &e);
	ap = compute(&e);
	CHECK(ap.ap == -1 && ap.ap50 == -1 && ap.small == -1, "no ground truth: AP %g", ap.ap);
}

static void test_area_ranges(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	/* only the large one is found; the unmatched large detection is ignored
	 * in the small range rather than a false positive */
	load("{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) ", "
	     GT(2, 1, 1, 100, 100, 100, 100, 10000, 0) "]}", &e);
	add(&e, 0, 0, 100, 100, 100, 100, 0.9);
	ap = compute(&e);
	CHECK(ap.small == 0 && NEAR(ap.large, 1) && ap.medium == -1,
	      "area ranges: small %g medium %g large %g", ap.small, ap.medium, ap.large);
}

/* Two detections inside a crowd, above the hit: IoU with a crowd is over the
 * detection's area (1), both match it and are ignored. */
static void test_crowd(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	load("{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) ", "
	     GT(2, 1, 1, 50, 50, 40, 40, 1600, 1) "]}", &e);
	add(&e, 0, 0, 55, 55, 10, 10, 0.95);
	add(&e, 0, 0, 70, 70, 10, 10, 0.94);
	add(&e, 0, 0, 0, 0, 10, 10, 0.9);
	ap = compute(&e);
	CHECK(NEAR(ap.ap, 1), "crowd: AP %g", ap.ap);
}

/* Image 2 is listed first; at the tied score image 1's hit still ranks before
 * image 2's miss (pycocotools sorts image ids): hit, miss, hit. */
static void test_ties_by_image_id(void)
{
	const double want = (51 + 50 * 2.0 / 3) / 101;
	struct coco_eval e;
	struct coco_ap ap;

	load("{\"images\": [{\"id\": 2, \"file_name\": \"2.jpg\"}, {\"id\": 1, \"file_name\": "
	     "\"1.jpg\"}], " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 10, 10, 100, 0) ", "
	     GT(2, 2, 1, 0, 0, 10, 10, 100, 0) "]}", &e);
	add(&e, 0, 0, 100, 100, 10, 10, 0.5);   /* image id 2 */
	add(&e, 1, 0, 0, 0, 10, 10, 0.5);       /* image id 1 */
	add(&e, 0, 0, 0, 0, 10, 10, 0.4);
	ap = compute(&e);
	CHECK(NEAR(ap.ap50, want), "ties: AP50 %.15g, want %.15g", ap.ap50, want);
}

static void test_degenerate(void)
{
	struct coco_eval e;
	struct coco_ap ap;

	load("{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 5, 5, 0, 0, 100, 0) "]}", &e);
	add(&e, 0, 0, 5, 5, 0, 0, 0.9);   /* IoU 0, not 0 / 0 */
	ap = compute(&e);
	CHECK(ap.ap == 0, "degenerate boxes: AP %g", ap.ap);
}

static void test_confusion(void)
{
	/* class 0: tp 1, fp 1, fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2:
	 * tp 1, fn 1 -> 1/2; the two pixels labelled 255 do not count */
	const uint8_t gt[8] = {0, 0, 1, 1, 2, 2, 255, 255};
	const uint8_t pred[8] = {0, 1, 1, 1, 2, 0, 2, 1};
	const uint8_t bad = 3, zero = 0;
	struct confusion c;

	if (confusion_init(&c, 3))
		HARNESS_ERROR("out of memory");
	CHECK(confusion_miou(&c) == -1, "an empty matrix has no mIoU");
	CHECK(confusion_add(&c, pred, gt, 8) == 0, "confusion_add failed");
	CHECK(NEAR(confusion_miou(&c), (1.0 / 3 + 2.0 / 3 + 0.5) / 3), "mIoU %.15g",
	      confusion_miou(&c));
	CHECK(confusion_add(&c, &bad, &zero, 1) == -1, "a prediction of label 3 of 3 is an error");
	CHECK(confusion_add(&c, &zero, &bad, 1) == -1, "a ground truth of label 3 of 3 is an error");
	confusion_free(&c);
}

/* Each file must be refused with a message naming the file. */
static void test_malformed(void)
{
	static const char *const bad[] = {
		"",
		"{\"images\": [",
		"[]",
		"{\"images\": {}, \"categories\": [], \"annotations\": []}",
		"{" CAT1 ", \"annotations\": []}",
		"{\"images\": [{\"id\": 1}], " CAT1 ", \"annotations\": []}",
		"{\"images\": [{\"id\": \"1\", \"file_name\": \"a.jpg\"}], " CAT1 ", \"annotations\": []}",
		"{\"images\": [{\"id\": 1, \"file_name\": \"../a.jpg\"}], " CAT1 ", \"annotations\": []}",
		"{\"images\": [{\"id\": 1, \"file_name\": \"/a.jpg\"}], " CAT1 ", \"annotations\": []}",
		"{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}, {\"id\": 1, \"file_name\": "
		"\"b.jpg\"}], " CAT1 ", \"annotations\": []}",
		"{" IMAGE1 ", \"categories\": [{\"id\": 1}], \"annotations\": []}",
		"{" IMAGE1 ", \"categories\": [7], \"annotations\": []}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 2, 1, 0, 0, 1, 1, 1, 0) "]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 3, 0, 0, 1, 1, 1, 0) "]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 1, "1", 1, 0) "]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 1, 1, null, 0) "]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [" GT(1, 1, 1, 0, 0, 1, 1, 1, "no") "]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
		"\"bbox\": [0, 0, 1], \"area\": 1}]}",
		"{" IMAGE1 ", " CAT1 ", \"annotations\": [1]}",
		"{" IMAGE1 ", " IMAGE1 ", " CAT1 ", \"annotations\": []}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct coco_eval e;
		char err[512] = "";
		const int rc = load_text(bad[i], &e, err, sizeof(err));

		CHECK(rc == -1 && strstr(err, "/tmp/test-coco-eval.") && !strchr(err, '\n'),
		      "malformed file %zu: rc %d, message '%s'", i, rc, err);
		CHECK(e.nimages == 0 && e.cells == NULL, "malformed file %zu: left data behind", i);
		if (rc == 0)
			coco_eval_free(&e);
	}
}

int main(void)
{
	test_perfect();
	test_known_curve();
	test_duplicates_and_thresholds();
	test_max_dets();
	test_empty_category();
	test_area_ranges();
	test_crowd();
	test_ties_by_image_id();
	test_degenerate();
	test_confusion();
	test_malformed();
	return test_main_end();
}

/*
 * test-exif.c - EXIF orientation (imageio/exif.c) through image_probe and
 * image_decode (imageio/image.c).
 *
 * A 7 x 4 RGB JPEG (TurboJPEG, 4:4:4) is given an APP1 "Exif" segment with
 * each orientation 1..8, in little- and big-endian TIFF; the decoded pixels
 * must equal the plain file's, turned upright by a reference built from
 * elementary steps (mirror, flip, transpose, as TIFF and PIL's
 * exif_transpose define them), and both calls must report the upright
 * size. Malformed EXIF blocks (lengths past the segment, an IFD past the
 * block, a wrong type or count, an orientation of 9, a bad byte order) must
 * decode as orientation 1.
 */
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "exif.h"
#include "image.h"
#include "testutil.h"

#define W 7
#define H 4
#define BIG (1ULL << 40)

struct img {
	uint8_t *p;
	int w, h;
};

static struct img plain_pixels;
static uint8_t *plain_jpeg;
static unsigned long plain_size;

static void make_plain(void)
{
	uint8_t rgb[W * H * 3];
	tjhandle tj = tjInitCompress();

	for (int i = 0; i < W * H * 3; i++)
		rgb[i] = (uint8_t)(i * 37 % 251);
	if (!tj || tjCompress2(tj, rgb, W, 0, H, TJPF_RGB, &plain_jpeg, &plain_size, TJSAMP_444,
			       95, 0))
		HARNESS_ERROR("tjCompress2");
	tjDestroy(tj);
}

/* An APP1 Exif segment holding one IFD0 entry (tag 0x0112, type, count,
 * value), in byte order le, inserted after SOI; the caller frees *out. */
static size_t with_exif(unsigned type, uint32_t count, unsigned value, int le, uint8_t **out)
{
	uint8_t seg[2 + 2 + 6 + 8 + 2 + 12 + 4];
	uint8_t *t = seg + 10;
	size_t n = sizeof(seg);
#define P16(p, v) do { if (le) { (p)[0] = (uint8_t)(v); (p)[1] = (uint8_t)((v) >> 8); } \
		       else { (p)[0] = (uint8_t)((v) >> 8); (p)[1] = (uint8_t)(v); } } while (0)
#define P32(p, v) do { P16((p) + (le ? 0 : 2), (v) & 0xffff); P16((p) + (le ? 2 : 0), (v) >> 16); } while (0)
	memset(seg, 0, sizeof(seg));
	seg[0] = 0xff;
	seg[1] = 0xe1;
	seg[2] = (uint8_t)((n - 2) >> 8);
	seg[3] = (uint8_t)(n - 2);
	memcpy(seg + 4, "Exif\0\0", 6);
	t[0] = t[1] = le ? 'I' : 'M';
	P16(t + 2, 42u);
	P32(t + 4, 8u);
	P16(t + 8, 1u);
	P16(t + 10, 0x0112u);
	P16(t + 12, type);
	P32(t + 14, count);
	P16(t + 18, value);
#undef P16
#undef P32
	*out = malloc(plain_size + n);
	if (!*out)
		HARNESS_ERROR("out of memory");
	memcpy(*out, plain_jpeg, 2);
	memcpy(*out + 2, seg, n);
	memcpy(*out + 2 + n, plain_jpeg + 2, plain_size - 2);
	return plain_size + n;
}

static struct img decode(const uint8_t *data, size_t n, const char *what)
{
	struct image_info info, probe;
	struct img out = {NULL, 0, 0};
	char err[256];

	CHECK(image_probe(data, n, BIG, &probe, err, sizeof(err)) == IMAGE_OK, "%s: probe: %s",
	      what, err);
	if (image_decode(data, n, BIG, &out.p, &info, err, sizeof(err)) != IMAGE_OK)
		HARNESS_ERROR("%s: decode: %s", what, err);
	out.w = info.width;
	out.h = info.height;
	CHECK(probe.width == out.w && probe.height == out.h, "%s: probe %dx%d, decode %dx%d", what,
	      probe.width, probe.height, out.w, out.h);
	return out;
}

/* Elementary steps of the reference: each returns a new image. */
static struct img step(struct img a, char op)
{
	struct img b = {malloc((size_t)a.w * a.h * 3), op == 't' ? a.h : a.w, op == 't' ? a.w : a.h};

	if (!b.p)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < b.h; y++)
		for (int x = 0; x < b.w; x++) {
			const int sy = op == 'v' ? a.h - 1 - y : op == 't' ? x : y;
			const int sx = op == 'h' ? a.w - 1 - x : op == 't' ? y : x;
			memcpy(b.p + ((size_t)y * b.w + x) * 3, a.p + ((size_t)sy * a.w + sx) * 3, 3);
		}
	return b;
}

/* The upright image of orientation o, by PIL's exif_transpose: 2 mirror,
 * 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise (transpose, then
 * mirror), 7 transverse (transpose, then rotate 180), 8 rotate 90
 * counter-clockwise (transpose, then flip). */
static struct img reference(int o)
{
	static const char *const steps[9] = {"", "", "h", "hv", "v", "t", "th", "thv", "tv"};
	struct img cur = {malloc((size_t)W * H * 3), W, H};

	memcpy(cur.p, plain_pixels.p, (size_t)W * H * 3);
	for (const char *s = steps[o]; *s; s++) {
		struct img next = step(cur, *s);
		free(cur.p);
		cur = next;
	}
	return cur;
}

static void test_orientations(void)
{
	for (int o = 1; o <= 8; o++)
		for (int le = 0; le <= 1; le++) {
			uint8_t *jpeg;
			const size_t n = with_exif(3, 1, (unsigned)o, le, &jpeg);
			struct img got, want = reference(o);
			char what[64];

			snprintf(what, sizeof(what), "orientation %d, %s", o, le ? "II" : "MM");
			CHECK(exif_orientation(jpeg, n) == o, "%s: read %d", what,
			      exif_orientation(jpeg, n));
			got = decode(jpeg, n, what);
			CHECK(got.w == want.w && got.h == want.h, "%s: %dx%d, want %dx%d", what, got.w,
			      got.h, want.w, want.h);
			CHECK(got.w == want.w && !memcmp(got.p, want.p, (size_t)W * H * 3),
			      "%s: pixels differ from the reference", what);
			free(got.p);
			free(want.p);
			free(jpeg);
		}
}

/* A JPEG whose EXIF block is damaged decodes as the plain one. */
static void as_plain(uint8_t *jpeg, size_t n, const char *what)
{
	struct img got = decode(jpeg, n, what);

	CHECK(exif_orientation(jpeg, n) == 1, "%s: orientation %d", what, exif_orientation(jpeg, n));
	CHECK(got.w == W && got.h == H && !memcmp(got.p, plain_pixels.p, (size_t)W * H * 3),
	      "%s: not the plain pixels", what);
	free(got.p);
	free(jpeg);
}

static void test_malformed(void)
{
	uint8_t *j;
	size_t n;

	n = with_exif(3, 1, 9, 1, &j);
	as_plain(j, n, "orientation 9");
	n = with_exif(4, 1, 6, 1, &j);
	as_plain(j, n, "type LONG");
	n = with_exif(3, 2, 6, 0, &j);
	as_plain(j, n, "count 2");
	n = with_exif(3, 1, 6, 1, &j);
	j[2 + 10 + 4] = 0xf0;   /* IFD0 offset past the block */
	as_plain(j, n, "IFD past the block");
	n = with_exif(3, 1, 6, 1, &j);
	j[2 + 10 + 8] = 0xff;   /* 255 entries, and the first is not Orientation */
	j[2 + 10 + 10] = 0x13;
	as_plain(j, n, "entries past the block");
	n = with_exif(3, 1, 6, 1, &j);
	j[2 + 10] = 'X';        /* byte order */
	as_plain(j, n, "bad byte order");
	n = with_exif(3, 1, 6, 1, &j);
	memcpy(j + 2 + 4, "Exif\0X", 6);
	as_plain(j, n, "not an Exif header");
	/* an APP1 length past the file: the walk stops, libjpeg has its say */
	n = with_exif(3, 1, 6, 1, &j);
	CHECK(exif_orientation(j, 2 + 4) == 1 && exif_orientation(j, 30) == 1 &&
	      exif_orientation(j, 40) == 6, "a segment past the end");
	free(j);
	CHECK(exif_orientation(NULL, 0) == 1 && exif_orientation((const uint8_t *)"\xff\xd8", 2) == 1,
	      "empty input");
}

/* A reduced decode covers the size asked for in upright terms: the 7x4
 * photo turned a quarter (orientation 6) is 4x7 upright; covering 2x4 takes
 * the stored image's 1/2 scale (4x2 stored, 2x4 upright); taking 2x4 as
 * stored columns and rows would need the full size. */
static void test_reduced_upright(void)
{
	uint8_t *jpeg, *rgb = NULL;
	const size_t n = with_exif(3, 1, 6, 1, &jpeg);
	struct image_info info;
	char err[256];

	CHECK(image_decode_reduced(jpeg, n, BIG, 2, 4, &rgb, &info, err, sizeof(err)) == IMAGE_OK,
	      "orientation 6, reduced: %s", err);
	CHECK(info.width == 2 && info.height == 4, "orientation 6 reduced to cover 2x4: %dx%d",
	      info.width, info.height);
	free(rgb);
	free(jpeg);
}

int main(void)
{
	make_plain();
	plain_pixels = decode(plain_jpeg, plain_size, "plain");
	test_orientations();
	test_malformed();
	test_reduced_upright();
	free(plain_pixels.p);
	tjFree(plain_jpeg);
	return test_main_end();
}

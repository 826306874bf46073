/*
 * test-image.c - decoding request images and encoding gray8 PNGs
 * (imageio/image.c).
 *
 * Every test image is made here from a known pattern: JPEGs with
 * tjCompress2 (RGB 4:4:4 and 4:2:0, baseline and progressive, grayscale,
 * CMYK written as YCCK), PNGs with libpng's simplified writer (RGB, RGBA,
 * grey, grey+alpha, palette with and without tRNS, 16-bit linear) and with
 * its full writer for what the simplified one cannot write (Adam7
 * interlacing, 16-bit without gAMA, 1- and 4-bit grey, 4-bit palette). Each
 * must decode to the pattern: exactly for lossless PNGs, within a tolerance
 * for JPEGs and colour conversions; gAMA is ignored. Then: every prefix of
 * small JPEGs and PNGs must fail cleanly (run under ASan), max_pixels must be
 * enforced from the header alone (also for headers patched to huge sizes),
 * corrupt and arithmetic-coded JPEGs and PNGs with bad CRCs must be
 * IMAGE_ERR_CORRUPT, and anything without a known signature
 * IMAGE_ERR_FORMAT.
 *
 * With "--write-corpus DIR" it writes the fuzzing seeds of
 * tests/fuzz/corpus-image/ into DIR instead.
 */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "image.h"
#include "testutil.h"

#define BIG (1ULL << 40)   /* max_pixels that limits nothing */

struct blob {
	uint8_t *p;
	size_t n;
};

/* ---- patterns ----------------------------------------------------------------- */

/* A smooth RGB pattern (JPEG-friendly): red across, green down, blue mixed. */
static uint8_t *pattern_rgb(int w, int h)
{
	uint8_t *p = malloc((size_t)w * h * 3);

	if (!p)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = p + ((size_t)y * w + x) * 3;
			q[0] = (uint8_t)(w > 1 ? 255 * x / (w - 1) : 128);
			q[1] = (uint8_t)(h > 1 ? 255 * y / (h - 1) : 64);
			q[2] = (uint8_t)((q[0] + 2 * q[1]) / 3);
		}
	return p;
}

/* Arbitrary bytes (for lossless formats): a hash of the position. */
static uint8_t *pattern_bytes(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed * 40503u) >> 13);
	return p;
}

struct diff {
	double mean;
	int max;
};

static struct diff compare(const uint8_t *a, const uint8_t *b, size_t n)
{
	struct diff d = {0, 0};
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		const int e = abs((int)a[i] - (int)b[i]);
		sum += e;
		if (e > d.max)
			d.max = e;
	}
	d.mean = n ? sum / (double)n : 0;
	return d;
}

/* ---- making JPEGs --------------------------------------------------------------- */

static struct blob jpeg_make(const uint8_t *pix, int w, int h, int pf, int subsamp, int flags)
{
	tjhandle tj = tjInitCompress();
	unsigned char *jpeg = NULL;
	unsigned long size = 0;
	struct blob b;

	if (!tj || tjCompress2(tj, pix, w, 0, h, pf, &jpeg, &size, subsamp, 95, flags))
		HARNESS_ERROR("tjCompress2: %s", tjGetErrorStr2(tj));
	b.n = size;
	b.p = malloc(size);
	if (!b.p)
		HARNESS_ERROR("out of memory");
	memcpy(b.p, jpeg, size);
	tjFree(jpeg);
	tjDestroy(tj);
	return b;
}

static struct blob jpeg_rgb(int w, int h, int subsamp, int flags)
{
	uint8_t *rgb = pattern_rgb(w, h);
	struct blob b = jpeg_make(rgb, w, h, TJPF_RGB, subsamp, flags);

	free(rgb);
	return b;
}

/* libjpeg-turbo's rgb_to_cmyk() (cmyk.h): inverted, as Adobe writes it. */
static void rgb_to_cmyk(const uint8_t *rgb, uint8_t *cmyk)
{
	double c = 1 - rgb[0] / 255.0, m = 1 - rgb[1] / 255.0, y = 1 - rgb[2] / 255.0;
	double k = fmin(fmin(c, m), y);

	if (k == 1.0) {
		c = m = y = 0;
	} else {
		c = (c - k) / (1 - k);
		m = (m - k) / (1 - k);
		y = (y - k) / (1 - k);
	}
	cmyk[0] = (uint8_t)(255 - c * 255 + 0.5);
	cmyk[1] = (uint8_t)(255 - m * 255 + 0.5);
	cmyk[2] = (uint8_t)(255 - y * 255 + 0.5);
	cmyk[3] = (uint8_t)(255 - k * 255 + 0.5);
}

static struct blob jpeg_cmyk(int w, int h, int flags)
{
	uint8_t *rgb = pattern_rgb(w, h), *cmyk = malloc((size_t)w * h * 4);
	struct blob b;

	if (!cmyk)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < (size_t)w * h; i++)
		rgb_to_cmyk(rgb + 3 * i, cmyk + 4 * i);
	b = jpeg_make(cmyk, w, h, TJPF_CMYK, TJSAMP_444, flags);
	free(cmyk);
	free(rgb);
	return b;
}

/* ---- making PNGs ---------------------------------------------------------------- */

/* With the simplified writer; colormap may be NULL. */
static struct blob png_simple(const void *pix, int w, int h, png_uint_32 format,
			      const void *colormap, png_uint_32 entries)
{
	png_image img;
	png_alloc_size_t size = 0;
	struct blob b;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = format;
	img.colormap_entries = entries;
	if (!png_image_write_get_memory_size(img, size, 0, pix, 0, colormap))
		HARNESS_ERROR("png size: %s", img.message);
	b.n = size;
	if (!(b.p = malloc(size)))
		HARNESS_ERROR("out of memory");
	if (!png_image_write_to_memory(&img, b.p, &size, 0, pix, 0, colormap))
		HARNESS_ERROR("png write: %s", img.message);
	return b;
}

struct png_spec {
	int w, h, color_type, depth, interlace;
	const uint8_t *data;   /* rows as in the file, packed, big-endian */
	const png_color *palette;
	int palette_n;
	const uint8_t *trns;   /* palette alpha, palette_n entries */
	double gamma;          /* for a gAMA chunk; 0: none */
};

static void blob_write(png_structp png, png_bytep data, size_t len)
{
	struct blob *b = png_get_io_ptr(png);
	uint8_t *p = realloc(b->p, b->n + len);

	if (!p)
		HARNESS_ERROR("out of memory");
	memcpy(p + b->n, data, len);
	b->p = p;
	b->n += len;
}

static void blob_flush(png_structp png)
{
	(void)png;
}

static size_t png_row_bytes(const struct png_spec *s)
{
	static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};

	return ((size_t)s->w * channels[s->color_type] * s->depth + 7) / 8;
}

/* With the full writer (png_write_image does the interlacing). */
static struct blob png_full(const struct png_spec *s)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	png_bytep *rows = malloc(sizeof(*rows) * (size_t)s->h);
	struct blob b = {NULL, 0};

	if (!info || !rows)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < s->h; y++)
		rows[y] = (png_bytep)s->data + (size_t)y * png_row_bytes(s);
	if (setjmp(png_jmpbuf(png)))
		HARNESS_ERROR("libpng failed writing a test image");
	png_set_write_fn(png, &b, blob_write, blob_flush);
	png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color_type,
		     s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->palette)
		png_set_PLTE(png, info, s->palette, s->palette_n);
	if (s->trns)
		png_set_tRNS(png, info, s->trns, s->palette_n, NULL);
	if (s->gamma > 0)
		png_set_gAMA(png, info, s->gamma);
	png_write_info(png, info);
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(rows);
	return b;
}

static size_t find(const struct blob *b, const char *s)
{
	for (size_t i = 0; i + strlen(s) <= b->n; i++)
		if (!memcmp(b->p + i, s, strlen(s)))
			return i;
	HARNESS_ERROR("no %s", s);
}

/* ---- decoding helpers ----------------------------------------------------------- */

/* Decodes b expecting success with the format and size given; also probes.
 * Returns the pixels (the caller frees them) or NULL after a failed CHECK. */
static uint8_t *decode_ok(const struct blob *b, enum image_format format, int w, int h,
			  const char *what)
{
	struct image_info info, pinfo;
	uint8_t *rgb = NULL;
	char err[256];
	enum image_status st = image_probe(b->p, b->n, BIG, &pinfo, err, sizeof(err));

	CHECK(st == IMAGE_OK, "%s: probe: %d (%s)", what, st, err);
	CHECK(pinfo.format == format && pinfo.width == w && pinfo.height == h,
	      "%s: probe says %s %dx%d", what, image_format_name(pinfo.format), pinfo.width,
	      pinfo.height);
	st = image_decode(b->p, b->n, BIG, &rgb, &info, err, sizeof(err));
	CHECK(st == IMAGE_OK && rgb, "%s: decode: %d (%s)", what, st, err);
	CHECK(info.format == format && info.width == w && info.height == h,
	      "%s: decode says %s %dx%d", what, image_format_name(info.format), info.width,
	      info.height);
	if (st != IMAGE_OK || info.width != w || info.height != h) {
		free(rgb);
		return NULL;
	}
	return rgb;
}

/* Decodes expecting status want (not IMAGE_OK), no pixels and a message. */
static void decode_fails(const void *data, size_t n, uint64_t max_pixels,
			 enum image_status want, const char *what)
{
	struct image_info info;
	uint8_t *rgb = (uint8_t *)&info;
	char err[256];
	enum image_status st = image_decode(data, n, max_pixels, &rgb, &info, err, sizeof(err));

	CHECK(st == want, "%s: status %d, want %d (%s)", what, st, want, err);
	CHECK(rgb == NULL, "%s: pixels returned on failure", what);
	CHECK(err[0] && !strchr(err, '\n'), "%s: no one-line message", what);
	if (st == IMAGE_OK)
		free(rgb);
}

/* Checks decoded pixels against want (w * h * 3 bytes). */
static void check_pixels(const uint8_t *rgb, const uint8_t *want, int w, int h,
			 double mean_tol, int max_tol, const char *what)
{
	struct diff d;

	if (!rgb)
		return;
	d = compare(rgb, want, (size_t)w * h * 3);
	CHECK(d.mean <= mean_tol && d.max <= max_tol, "%s: mean error %.2f (<= %.2f), max %d (<= %d)",
	      what, d.mean, mean_tol, d.max, max_tol);
}

/* Expands one channel to RGB. */
static uint8_t *gray_to_rgb(const uint8_t *g, size_t n)
{
	uint8_t *p = malloc(n * 3 + 1);

	if (!p)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < n; i++)
		p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = g[i];
	return p;
}

/* ---- JPEG ------------------------------------------------------------------------- */

static void test_jpeg_rgb(void)
{
	static const struct {
		int w, h, subsamp, flags;
		double mean;
		int max;
	} cases[] = {
		{64, 48, TJSAMP_444, 0, 1.5, 12},
		{64, 48, TJSAMP_420, 0, 2.5, 24},
		{37, 23, TJSAMP_420, 0, 2.5, 24},
		{37, 23, TJSAMP_422, TJFLAG_PROGRESSIVE, 2.5, 24},
		{1, 1, TJSAMP_444, 0, 2, 4},
		{1, 200, TJSAMP_420, TJFLAG_PROGRESSIVE, 2.5, 24},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[64];
		struct blob b = jpeg_rgb(cases[i].w, cases[i].h, cases[i].subsamp, cases[i].flags);
		uint8_t *want = pattern_rgb(cases[i].w, cases[i].h);
		uint8_t *rgb;

		snprintf(what, sizeof(what), "jpeg %dx%d case %zu", cases[i].w, cases[i].h, i);
		rgb = decode_ok(&b, IMAGE_FORMAT_JPEG, cases[i].w, cases[i].h, what);
		check_pixels(rgb, want, cases[i].w, cases[i].h, cases[i].mean, cases[i].max, what);
		free(rgb);
		free(want);
		free(b.p);
	}
}

/* image_decode_reduced: the smallest DCT scale (1/8 steps) covering the
 * size asked for, close to the pattern at that size; never larger than
 * the image; PNGs at full size. */
static void test_jpeg_reduced(void)
{
	static const struct {
		int min_w, min_h, w, h;
	} cases[] = {
		{400, 300, 400, 300},     /* 1/4 */
		{401, 300, 600, 450},     /* 3/8: 1/4 is a pixel short */
		{200, 151, 400, 300},     /* the height decides: 1/8 is a row short */
		{100, 50, 200, 150},      /* 1/8, the smallest */
		{0, 0, 1600, 1200},       /* no size: full */
		{2000, 1500, 1600, 1200}, /* larger than the image: full, never up */
	};
	struct blob b = jpeg_rgb(1600, 1200, TJSAMP_420, 0);
	struct image_info info;
	uint8_t *px, *rgb = NULL;
	char err[256], what[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "reduced to cover %dx%d", cases[i].min_w, cases[i].min_h);
		CHECK(image_decode_reduced(b.p, b.n, BIG, cases[i].min_w, cases[i].min_h, &rgb, &info,
					   err, sizeof(err)) == IMAGE_OK,
		      "%s: %s", what, err);
		CHECK(info.width == cases[i].w && info.height == cases[i].h, "%s: %dx%d, want %dx%d",
		      what, info.width, info.height, cases[i].w, cases[i].h);
		if (info.width == cases[i].w && info.height == cases[i].h && cases[i].w < 1600) {
			uint8_t *want = pattern_rgb(cases[i].w, cases[i].h);

			check_pixels(rgb, want, cases[i].w, cases[i].h, 2.5, 24, what);
			free(want);
		}
		free(rgb);
		rgb = NULL;
	}
	/* the same file marked lossless (SOF3): never asked for a reduced size
	 * (libjpeg-turbo 3.0-3.1.3 would decode it whole into the smaller
	 * buffer); 2.x refuses it, 3.x decodes it whole */
	for (size_t i = 2; i + 1 < b.n; i++)
		if (b.p[i] == 0xff && b.p[i + 1] == 0xc0) {
			b.p[i + 1] = 0xc3;
			break;
		}
	rgb = NULL;
	if (image_decode_reduced(b.p, b.n, BIG, 400, 300, &rgb, &info, err, sizeof(err)) == IMAGE_OK)
		CHECK(info.width == 1600 && info.height == 1200, "a lossless JPEG decodes whole: %dx%d",
		      info.width, info.height);
	free(rgb);
	free(b.p);
	px = pattern_bytes(64 * 48 * 3, 1);
	b = png_simple(px, 64, 48, PNG_FORMAT_RGB, NULL, 0);
	CHECK(image_decode_reduced(b.p, b.n, BIG, 8, 6, &rgb, &info, err, sizeof(err)) == IMAGE_OK &&
	      info.width == 64 && info.height == 48 && !memcmp(rgb, px, 64 * 48 * 3),
	      "a PNG decodes whole: %dx%d", info.width, info.height);
	free(rgb);
	free(px);
	free(b.p);
}

static void test_jpeg_gray(void)
{
	const int w = 40, h = 30;
	uint8_t *rgb = pattern_rgb(w, h), *gray = malloc((size_t)w * h), *want, *got;
	struct blob b;
	int grey_ok = 1;

	if (!gray)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < (size_t)w * h; i++)
		gray[i] = rgb[3 * i + 2];
	b = jpeg_make(gray, w, h, TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE);
	want = gray_to_rgb(gray, (size_t)w * h);
	got = decode_ok(&b, IMAGE_FORMAT_JPEG, w, h, "grayscale jpeg");
	check_pixels(got, want, w, h, 1.5, 12, "grayscale jpeg");
	for (size_t i = 0; got && i < (size_t)w * h; i++)
		grey_ok &= got[3 * i] == got[3 * i + 1] && got[3 * i] == got[3 * i + 2];
	CHECK(grey_ok, "grayscale jpeg: R, G and B differ");
	free(got);
	free(want);
	free(b.p);
	free(gray);
	free(rgb);
}

static void test_jpeg_cmyk(void)
{
	const int w = 48, h = 40;
	struct blob b = jpeg_cmyk(w, h, 0);
	uint8_t *want = pattern_rgb(w, h);
	uint8_t *got = decode_ok(&b, IMAGE_FORMAT_JPEG, w, h, "cmyk jpeg");

	check_pixels(got, want, w, h, 3, 32, "cmyk jpeg");
	free(got);
	free(b.p);
	b = jpeg_cmyk(w, h, TJFLAG_PROGRESSIVE);
	got = decode_ok(&b, IMAGE_FORMAT_JPEG, w, h, "progressive cmyk jpeg");
	check_pixels(got, want, w, h, 3, 32, "progressive cmyk jpeg");
	free(got);
	free(b.p);
	free(want);
}

/* ---- PNG -------------------------------------------------------------------------- */

static void test_png_gray8_round_trip(void)
{
	static const int sizes[][2] = {{1, 1}, {33, 17}, {300, 200}, {1, 1000}, {1000, 1}};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const int w = sizes[i][0], h = sizes[i][1];
		uint8_t *gray = pattern_bytes((size_t)w * h, (unsigned)i), *want, *got;
		struct blob b = {NULL, 0};
		char what[64];

		snprintf(what, sizeof(what), "gray8 png %dx%d", w, h);
		CHECK(image_encode_png_gray8(gray, w, h, &b.p, &b.n) == 0, "%s: encode", what);
		want = gray_to_rgb(gray, (size_t)w * h);
		got = b.p ? decode_ok(&b, IMAGE_FORMAT_PNG, w, h, what) : NULL;
		check_pixels(got, want, w, h, 0, 0, what);
		free(got);
		free(want);
		free(b.p);
		free(gray);
	}
}

static void test_png_encode_bad_args(void)
{
	uint8_t px[4] = {0}, *png = NULL;
	size_t n = 0;

	CHECK(image_encode_png_gray8(px, 0, 1, &png, &n) == -1, "width 0");
	CHECK(image_encode_png_gray8(px, 1, 0, &png, &n) == -1, "height 0");
	CHECK(image_encode_png_gray8(px, -2, 2, &png, &n) == -1, "negative width");
	CHECK(image_encode_png_gray8(px, 2, -2, &png, &n) == -1, "negative height");
	CHECK(image_encode_png_gray8(NULL, 2, 2, &png, &n) == -1, "NULL pixels");
	CHECK(image_encode_png_gray8(px, 2000000, 1, &png, &n) == -1, "width over a million");
	CHECK(image_encode_png_gray8(px, 65536, 65536, &png, &n) == -1, "4G pixels");
	CHECK(png == NULL, "output on failure");
}

/* One simplified-writer format: pix in that format must decode to want. */
static void png_case(const char *what, const void *pix, int w, int h, png_uint_32 format,
		     const void *colormap, png_uint_32 entries, const uint8_t *want, int tol)
{
	struct blob b = png_simple(pix, w, h, format, colormap, entries);
	uint8_t *got = decode_ok(&b, IMAGE_FORMAT_PNG, w, h, what);

	check_pixels(got, want, w, h, tol, tol, what);
	free(got);
	free(b.p);
}

static void test_png_simple_formats(void)
{
	const int w = 29, h = 13;
	const size_t n = (size_t)w * h;
	uint8_t *rgba = pattern_bytes(n * 4, 1), *rgb = malloc(n * 3), *ga = pattern_bytes(n * 2, 2);
	uint8_t *gray = malloc(n), *want_ga, *want_gray, *idx = malloc(n), *cmap_rgb, *cmap_rgba;
	uint8_t *want_pal = malloc(n * 3), *want_pal_a = malloc(n * 3);

	if (!rgb || !gray || !idx || !want_pal || !want_pal_a)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < n; i++) {
		memcpy(rgb + 3 * i, rgba + 4 * i, 3);
		gray[i] = ga[2 * i];
		idx[i] = (uint8_t)(i * 7 % 200);
	}
	rgba[3] = 0;   /* a transparent pixel keeps its colour */
	cmap_rgb = pattern_bytes(200 * 3, 3);
	cmap_rgba = pattern_bytes(200 * 4, 4);
	for (size_t i = 0; i < n; i++) {
		memcpy(want_pal + 3 * i, cmap_rgb + 3 * idx[i], 3);
		memcpy(want_pal_a + 3 * i, cmap_rgba + 4 * idx[i], 3);
	}
	want_ga = gray_to_rgb(gray, n);
	want_gray = want_ga;
	png_case("rgb png", rgb, w, h, PNG_FORMAT_RGB, NULL, 0, rgb, 0);
	png_case("rgba png (alpha dropped)", rgba, w, h, PNG_FORMAT_RGBA, NULL, 0, rgb, 0);
	png_case("gray+alpha png", ga, w, h, PNG_FORMAT_GA, NULL, 0, want_ga, 0);
	png_case("gray png", gray, w, h, PNG_FORMAT_GRAY, NULL, 0, want_gray, 0);
	png_case("palette png", idx, w, h, PNG_FORMAT_RGB_COLORMAP, cmap_rgb, 200, want_pal, 0);
	png_case("palette png with tRNS", idx, w, h, PNG_FORMAT_RGBA_COLORMAP, cmap_rgba, 200,
		 want_pal_a, 0);
	free(want_ga);
	free(cmap_rgba);
	free(cmap_rgb);
	free(want_pal_a);
	free(want_pal);
	free(idx);
	free(gray);
	free(ga);
	free(rgb);
	free(rgba);
}

/* 16-bit linear data (the writer adds gAMA 1.0): the high bytes, as they are. */
static void test_png_16bit_linear(void)
{
	const int w = 256, h = 3;
	uint16_t *pix = malloc(sizeof(*pix) * w * h * 3);
	uint8_t *want = malloc((size_t)w * h * 3);

	if (!pix || !want)
		HARNESS_ERROR("out of memory");
	for (int i = 0; i < w * h * 3; i++) {
		pix[i] = (uint16_t)((i * 2617) % 65536);
		want[i] = (uint8_t)(pix[i] >> 8);
	}
	png_case("16-bit linear png (gAMA ignored)", pix, w, h, PNG_FORMAT_LINEAR_RGB, NULL, 0,
		 want, 0);
	free(want);
	free(pix);
}

static void full_case(const char *what, const struct png_spec *s, const uint8_t *want, int tol)
{
	struct blob b = png_full(s);
	uint8_t *got = decode_ok(&b, IMAGE_FORMAT_PNG, s->w, s->h, what);

	check_pixels(got, want, s->w, s->h, tol, tol, what);
	free(got);
	free(b.p);
}

static void test_png_interlaced_rgb8(void)
{
	const int w = 23, h = 19;
	uint8_t *rgb = pattern_bytes((size_t)w * h * 3, 5);
	struct png_spec s = {w, h, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, rgb, NULL, 0, NULL, 0};

	full_case("interlaced rgb png", &s, rgb, 0);
	s.interlace = PNG_INTERLACE_NONE;
	s.gamma = 1.0;
	full_case("rgb png with gAMA 1.0 (ignored)", &s, rgb, 0);
	s.gamma = 1 / 1.8;
	full_case("rgb png with gAMA 1/1.8 (ignored)", &s, rgb, 0);
	free(rgb);
}

/* 16-bit RGB: the high bytes. */
static void test_png_rgb16(void)
{
	const int w = 17, h = 9;
	const size_t n = (size_t)w * h * 3;
	uint8_t *be = pattern_bytes(n * 2, 6), *want = malloc(n);

	if (!want)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < n; i++) {
		const unsigned v = (unsigned)be[2 * i] << 8 | be[2 * i + 1];
		want[i] = (uint8_t)(v >> 8);
	}
	struct png_spec s = {w, h, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, be, NULL, 0, NULL, 0};
	full_case("16-bit rgb png", &s, want, 0);
	s.interlace = PNG_INTERLACE_ADAM7;
	full_case("16-bit interlaced rgb png", &s, want, 0);
	free(want);
	free(be);
}

/* Grey at 1 and 4 bits and a 4-bit palette (interlaced, with tRNS). */
static void test_png_low_depths(void)
{
	const int w = 13, h = 7;
	const size_t n = (size_t)w * h;
	uint8_t *packed = pattern_bytes(n, 7), *want = malloc(n * 3);
	png_color pal[16];
	uint8_t trns[16];

	if (!want)
		HARNESS_ERROR("out of memory");
	for (int depth = 1; depth <= 4; depth *= 4) {
		const size_t row = ((size_t)w * depth + 7) / 8;
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				const int shift = 8 - depth - (x * depth) % 8;
				const int v = packed[y * row + (size_t)x * depth / 8] >> shift &
					      ((1 << depth) - 1);
				const uint8_t g = (uint8_t)(v * 255 / ((1 << depth) - 1));
				memset(want + 3 * ((size_t)y * w + x), g, 3);
			}
		struct png_spec s = {w, h, PNG_COLOR_TYPE_GRAY, depth, PNG_INTERLACE_NONE, packed,
				     NULL, 0, NULL, 0};
		full_case(depth == 1 ? "1-bit gray png" : "4-bit gray png", &s, want, 0);
	}
	for (int i = 0; i < 16; i++) {
		pal[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 8), (png_byte)(i * i)};
		trns[i] = (uint8_t)(i * 17);
	}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const int v = packed[y * (((size_t)w * 4 + 7) / 8) + x / 2] >> (x % 2 ? 0 : 4) & 15;
			uint8_t *q = want + 3 * ((size_t)y * w + x);
			q[0] = pal[v].red;
			q[1] = pal[v].green;
			q[2] = pal[v].blue;
		}
	struct png_spec s = {w, h, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_ADAM7, packed, pal, 16,
			     trns, 0};
	full_case("4-bit interlaced palette png with tRNS", &s, want, 0);
	free(want);
	free(packed);
}

/* ---- failures --------------------------------------------------------------------- */

/* Every proper prefix of b fails (and never crashes); b itself decodes. */
static void check_prefixes(const struct blob *b, const char *what)
{
	int failures = 0;
	size_t first_ok = SIZE_MAX;

	for (size_t len = 0; len < b->n; len++) {
		uint8_t *copy = malloc(len ? len : 1), *rgb = NULL;
		struct image_info info;
		char err[256];
		enum image_status st;

		if (!copy)
			HARNESS_ERROR("out of memory");
		memcpy(copy, b->p, len);
		(void)image_probe(copy, len, BIG, &info, err, sizeof(err));
		st = image_decode(copy, len, BIG, &rgb, &info, err, sizeof(err));
		if (st == IMAGE_OK && first_ok == SIZE_MAX)
			first_ok = len;
		failures += st != IMAGE_OK && rgb == NULL && err[0];
		free(rgb);
		free(copy);
	}
	CHECK(failures == (int)b->n, "%s: %d of %zu prefixes fail (the first accepted: %zu)", what,
	      failures, b->n, first_ok);
	free(decode_ok(b, b->p[0] == 0xff ? IMAGE_FORMAT_JPEG : IMAGE_FORMAT_PNG, 16, 16, what));
}

static void test_truncation(void)
{
	struct blob b = jpeg_rgb(16, 16, TJSAMP_420, 0);
	uint8_t *gray = pattern_bytes(16 * 16, 8);
	struct png_spec s = {16, 16, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_ADAM7, gray, NULL, 0,
			     NULL, 0};

	check_prefixes(&b, "baseline jpeg prefixes");
	free(b.p);
	b = jpeg_rgb(16, 16, TJSAMP_444, TJFLAG_PROGRESSIVE);
	check_prefixes(&b, "progressive jpeg prefixes");
	free(b.p);
	b = jpeg_cmyk(16, 16, 0);
	check_prefixes(&b, "cmyk jpeg prefixes");
	free(b.p);
	if (image_encode_png_gray8(gray, 16, 16, &b.p, &b.n))
		HARNESS_ERROR("encoding a png");
	check_prefixes(&b, "png prefixes");
	free(b.p);
	b = png_full(&s);
	check_prefixes(&b, "interlaced png prefixes");
	free(b.p);
	free(gray);
}

static void check_limit(const struct blob *b, uint64_t pixels, const char *what)
{
	struct image_info info;
	char err[256];
	enum image_status st;

	st = image_probe(b->p, b->n, pixels, &info, err, sizeof(err));
	CHECK(st == IMAGE_OK, "%s: probe at the limit: %d (%s)", what, st, err);
	st = image_probe(b->p, b->n, pixels - 1, &info, err, sizeof(err));
	CHECK(st == IMAGE_ERR_TOO_LARGE && strstr(err, "limit"), "%s: probe over the limit: %d (%s)",
	      what, st, err);
	CHECK(info.width * info.height == (int)pixels, "%s: probe gives no size when refusing", what);
	decode_fails(b->p, b->n, pixels - 1, IMAGE_ERR_TOO_LARGE, what);
	decode_fails(b->p, b->n, 0, IMAGE_ERR_TOO_LARGE, what);
	free(decode_ok(b, info.format, info.width, info.height, what));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Sets the JPEG's SOF (the first FFC0..FFC2) to w x h. */
static void jpeg_patch_size(struct blob *b, int w, int h)
{
	for (size_t i = 2; i + 9 < b->n; i++)
		if (b->p[i] == 0xff && b->p[i + 1] >= 0xc0 && b->p[i + 1] <= 0xc2) {
			b->p[i + 5] = (uint8_t)(h >> 8);
			b->p[i + 6] = (uint8_t)h;
			b->p[i + 7] = (uint8_t)(w >> 8);
			b->p[i + 8] = (uint8_t)w;
			return;
		}
	HARNESS_ERROR("no SOF marker");
}

/* Sets the PNG's IHDR to w x h (with its CRC). */
static void png_patch_size(struct blob *b, uint32_t w, uint32_t h)
{
	put_be32(b->p + 16, w);
	put_be32(b->p + 20, h);
	put_be32(b->p + 29, crc32_png(b->p + 12, 17));
}

static void test_max_pixels(void)
{
	struct blob j = jpeg_rgb(20, 10, TJSAMP_420, 0), p;
	uint8_t gray[200] = {0};
	struct image_info info;
	char err[256];

	check_limit(&j, 200, "jpeg limit");
	if (image_encode_png_gray8(gray, 20, 10, &p.p, &p.n))
		HARNESS_ERROR("encoding a png");
	check_limit(&p, 200, "png limit");
	/* Huge sizes in the header: refused before anything is allocated. */
	jpeg_patch_size(&j, 65000, 65000);
	CHECK(image_probe(j.p, j.n, 4096 * 4096, &info, err, sizeof(err)) == IMAGE_ERR_TOO_LARGE &&
	      info.width == 65000 && info.height == 65000, "huge jpeg: probe (%s)", err);
	decode_fails(j.p, j.n, 4096 * 4096, IMAGE_ERR_TOO_LARGE, "huge jpeg");
	png_patch_size(&p, 1000000, 1000000);
	CHECK(image_probe(p.p, p.n, 4096 * 4096, &info, err, sizeof(err)) == IMAGE_ERR_TOO_LARGE &&
	      info.width == 1000000, "huge png: probe (%s)", err);
	decode_fails(p.p, p.n, 4096 * 4096, IMAGE_ERR_TOO_LARGE, "huge png");
	png_patch_size(&p, 0x7fffffff, 0x7fffffff);   /* the largest valid PNG */
	decode_fails(p.p, p.n, 4096 * 4096, IMAGE_ERR_TOO_LARGE, "png 2^31-1 square");
	CHECK(image_probe(p.p, p.n, UINT64_MAX, &info, err, sizeof(err)) == IMAGE_OK &&
	      info.width == 0x7fffffff, "png 2^31-1 square, no pixel limit: probe (%s)", err);
	png_patch_size(&p, 2000000, 1);   /* over libpng's default limit, not max_pixels' */
	CHECK(image_probe(p.p, p.n, 2000000, &info, err, sizeof(err)) == IMAGE_OK,
	      "png 2000000 wide: probe (%s)", err);
	decode_fails(p.p, p.n, 2000000, IMAGE_ERR_CORRUPT, "png 2000000 wide (too little data)");
	png_patch_size(&p, 0x80000000u, 1);   /* not a valid PNG size */
	decode_fails(p.p, p.n, BIG, IMAGE_ERR_CORRUPT, "png 2^31 wide");
	png_patch_size(&p, 0, 5);
	decode_fails(p.p, p.n, BIG, IMAGE_ERR_CORRUPT, "png 0 wide");
	png_patch_size(&p, 20, 10);
	p.p[find(&p, "IDAT") + 4] ^= 1;   /* a byte of the first IDAT: its CRC fails */
	decode_fails(p.p, p.n, BIG, IMAGE_ERR_CORRUPT, "png with a bad IDAT CRC");
	free(p.p);
	free(j.p);
}

static void test_garbage(void)
{
	static const uint8_t soi[2] = {0xff, 0xd8}, sig7[7] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a};
	static const uint8_t jpeg_junk[16] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0};
	static const uint8_t png_junk[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0,
					     13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1};
	uint8_t *noise = pattern_bytes(1000, 9);
	struct image_info info;
	char err[64];

	decode_fails(NULL, 0, BIG, IMAGE_ERR_FORMAT, "NULL");
	decode_fails("", 0, BIG, IMAGE_ERR_FORMAT, "empty");
	decode_fails(soi, sizeof(soi), BIG, IMAGE_ERR_FORMAT, "FF D8 alone");
	decode_fails(sig7, sizeof(sig7), BIG, IMAGE_ERR_FORMAT, "7 bytes of the PNG signature");
	decode_fails("GIF89a\1\0\1\0\0\0\0", 13, BIG, IMAGE_ERR_FORMAT, "GIF");
	decode_fails("BM\x3e\0\0\0\0\0\0\0\x3e\0\0\0", 14, BIG, IMAGE_ERR_FORMAT, "BMP");
	decode_fails("{\"image\": \"...\"}", 16, BIG, IMAGE_ERR_FORMAT, "JSON");
	noise[0] = 0x00;
	decode_fails(noise, 1000, BIG, IMAGE_ERR_FORMAT, "noise");
	decode_fails(jpeg_junk, sizeof(jpeg_junk), BIG, IMAGE_ERR_CORRUPT, "JPEG signature + junk");
	decode_fails(png_junk, sizeof(png_junk), BIG, IMAGE_ERR_CORRUPT, "PNG signature + junk");
	memcpy(noise, png_junk, 8);
	decode_fails(noise, 1000, BIG, IMAGE_ERR_CORRUPT, "PNG signature + noise");
	memcpy(noise, jpeg_junk, 3);
	decode_fails(noise, 1000, BIG, IMAGE_ERR_CORRUPT, "JPEG signature + noise");
	CHECK(image_probe("junk", 4, BIG, &info, err, sizeof(err)) == IMAGE_ERR_FORMAT &&
	      info.format == IMAGE_FORMAT_UNKNOWN, "probe of junk");
	CHECK(image_probe("junk", 4, BIG, &info, NULL, 0) == IMAGE_ERR_FORMAT, "no err buffer");
	CHECK(image_probe(png_junk, 24, BIG, &info, err, 8) == IMAGE_ERR_CORRUPT && strlen(err) == 7,
	      "short err buffer: \"%s\"", err);
	free(noise);
}

/* A corrupt scan stops the decoder (strict about libjpeg's warnings). */
static void test_jpeg_corrupt_data(void)
{
	struct blob b = jpeg_rgb(64, 64, TJSAMP_420, 0);

	/* Bytes 0xff 0xd0 in the middle of the scan: an out-of-place restart marker. */
	b.p[b.n - 200] = 0xff;
	b.p[b.n - 199] = 0xd3;
	decode_fails(b.p, b.n, BIG, IMAGE_ERR_CORRUPT, "jpeg with a marker inside its scan");
	free(b.p);
}

/* SOF9 (arithmetic coding) is refused from the segment walk; so is SOF3
 * (lossless), by libjpeg. Fill bytes before a marker are allowed. */
static void test_jpeg_sof_kinds(void)
{
	struct blob b = jpeg_rgb(16, 16, TJSAMP_444, 0), f;
	const size_t sof = find(&b, "\xff\xc0");
	struct image_info info;
	char err[256];

	b.p[sof + 1] = 0xc9;
	decode_fails(b.p, b.n, BIG, IMAGE_ERR_CORRUPT, "arithmetic jpeg");
	CHECK(image_probe(b.p, b.n, BIG, &info, err, sizeof(err)) == IMAGE_ERR_CORRUPT &&
	      strstr(err, "arithmetic"), "arithmetic jpeg: probe (%s)", err);
	b.p[sof + 1] = 0xc3;
	decode_fails(b.p, b.n, BIG, IMAGE_ERR_CORRUPT, "lossless jpeg");
	b.p[sof + 1] = 0xc0;
	f.n = b.n + 3;
	if (!(f.p = malloc(f.n)))
		HARNESS_ERROR("out of memory");
	memcpy(f.p, b.p, sof);
	memset(f.p + sof, 0xff, 3);
	memcpy(f.p + sof + 3, b.p + sof, b.n - sof);
	free(decode_ok(&f, IMAGE_FORMAT_JPEG, 16, 16, "jpeg with fill bytes before SOF"));
	free(f.p);
	free(b.p);
}

static void test_names(void)
{
	CHECK(!strcmp(image_format_name(IMAGE_FORMAT_JPEG), "jpeg"), "jpeg name");
	CHECK(!strcmp(image_format_name(IMAGE_FORMAT_PNG), "png"), "png name");
	CHECK(!strcmp(image_format_name(IMAGE_FORMAT_UNKNOWN), "unknown"), "unknown name");
	CHECK(!strcmp(image_format_name((enum image_format)42), "unknown"), "bad name");
}

/* ---- the fuzzing seeds ------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const struct blob *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f))
		HARNESS_ERROR("cannot write %s", path);
	printf("%s: %zu bytes\n", path, b->n);
}

static int write_corpus(const char *dir)
{
	uint8_t *rgba = pattern_bytes(8 * 8 * 4, 10), *pal = pattern_bytes(8 * 8 / 2, 11);
	png_color colors[16];
	uint8_t trns[16];
	struct png_spec s = {8, 8, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_ADAM7, pal, colors, 16,
			     trns, 0};
	struct blob b = jpeg_rgb(16, 16, TJSAMP_420, 0);

	write_file(dir, "rgb-420-baseline.jpg", &b);
	free(b.p);
	b = jpeg_cmyk(8, 8, TJFLAG_PROGRESSIVE);
	write_file(dir, "cmyk-progressive.jpg", &b);
	free(b.p);
	b = png_simple(rgba, 8, 8, PNG_FORMAT_RGBA, NULL, 0);
	write_file(dir, "rgba.png", &b);
	free(b.p);
	for (int i = 0; i < 16; i++) {
		colors[i] = (png_color){(png_byte)(i * 16), (png_byte)(i * 5), (png_byte)(255 - i)};
		trns[i] = (uint8_t)(255 - i * 3);
	}
	b = png_full(&s);
	write_file(dir, "palette4-adam7-trns.png", &b);
	free(b.p);
	free(pal);
	free(rgba);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);
	test_names();
	test_jpeg_rgb();
	test_jpeg_reduced();
	test_jpeg_gray();
	test_jpeg_cmyk();
	test_jpeg_corrupt_data();
	test_jpeg_sof_kinds();
	test_png_gray8_round_trip();
	test_png_encode_bad_args();
	test_png_simple_formats();
	test_png_16bit_linear();
	test_png_interlaced_rgb8();
	test_png_rgb16();
	test_png_low_depths();
	test_truncation();
	test_max_pixels();
	test_garbage();
	return test_main_end();
}

/*
 * image.c - see image.h.
 *
 * The format comes from the signature only (JPEG: FF D8 FF; PNG: the 8-byte
 * signature). Each decoder reads the header first, checks width * height
 * against max_pixels in 64 bits and only then allocates the output, whose
 * size is computed with overflow checks.
 *
 * JPEG goes through a TurboJPEG handle made per call (so any number of
 * threads may decode at once). Decoding is strict: any libjpeg warning
 * (truncated data, a corrupt Huffman code, extraneous bytes) stops it and is
 * reported as IMAGE_ERR_CORRUPT, since a partly grey image would silently
 * give a wrong answer; TJFLAG_LIMITSCANS refuses progressive files with an
 * absurd number of scans (a cheap way to burn CPU). Arithmetic-coded files
 * (rare; browsers refuse them too) are refused after a walk over the
 * segments up to the SOF marker: libjpeg's arithmetic decoder pads missing
 * data with zeros without a warning, so a truncated file would decode and
 * 200 bytes could make an image of max_pixels. CMYK and YCCK files are
 * decompressed to CMYK and converted here the way libjpeg-turbo's own tools
 * do: Adobe-style inverted values, R = C * K / 255 (no colour management).
 * An EXIF orientation (exif.h: phones store the sensor's rows and say how
 * to turn them) is applied after decoding, so that sizes and boxes are the
 * upright image's; image_probe reports the upright size.
 * image_decode_reduced lets libjpeg-turbo scale in the DCT domain (1/8
 * steps: it skips most of the inverse DCT and the colour conversion and
 * averages rather than drops pixels): a 4000x3000 photo for a 416-pixel
 * network decodes at 1/8 in a fraction of the time.
 *
 * PNG goes through libpng's sequential (low-level) reader, from memory,
 * asked for 8-bit RGB: palette, grey, 1/2/4-bit and 16-bit (high byte) data
 * are expanded and alpha (also from tRNS) is dropped. Sample values are
 * taken as they are, with no gAMA/cHRM/iCCP processing, as PIL, OpenCV and
 * TensorFlow do by default (what models are trained on); that is why
 * libpng's simplified API is not used (it converts tagged and 16-bit data
 * to sRGB, and composites alpha). libpng's own size limit (a million pixels
 * a side) is lifted so that max_pixels alone decides; the file must be whole
 * up to IEND (png_read_end), so a truncated file is an error even when its
 * image data happen to be complete. Errors longjmp out of one function,
 * png_guarded().
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "exif.h"
#include "image.h"

#ifndef TJFLAG_LIMITSCANS
#define TJFLAG_LIMITSCANS 0   /* before libjpeg-turbo 2.1 */
#endif

#define JPEG_FLAGS (TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)
#define PNG_MAX_SIDE 1000000u /* libpng's limit on writing */

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* a * b * c into *out; 0, or -1 on overflow. */
static int mul_size(size_t a, size_t b, size_t c, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return -1;
	if (c && a * b > SIZE_MAX / c)
		return -1;
	*out = a * b * c;
	return 0;
}

static enum image_format detect(const unsigned char *p, size_t size)
{
	if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return IMAGE_FORMAT_JPEG;
	if (size >= sizeof(png_signature) && !memcmp(p, png_signature, sizeof(png_signature)))
		return IMAGE_FORMAT_PNG;
	return IMAGE_FORMAT_UNKNOWN;
}

static enum image_status check_size(const struct image_info *info, uint64_t max_pixels,
				    char *err, size_t errlen)
{
	const char *name = image_format_name(info->format);
	uint64_t pixels = (uint64_t)info->width * (uint64_t)info->height;

	if (info->width <= 0 || info->height <= 0) {
		set_err(err, errlen, "%s image has an empty size (%dx%d)", name, info->width,
			info->height);
		return IMAGE_ERR_CORRUPT;
	}
	if (pixels > max_pixels) {
		set_err(err, errlen, "%s image is %dx%d, %llu pixels (the limit is %llu)", name,
			info->width, info->height, (unsigned long long)pixels,
			(unsigned long long)max_pixels);
		return IMAGE_ERR_TOO_LARGE;
	}
	return IMAGE_OK;
}

const char *image_format_name(enum image_format format)
{
	switch (format) {
	case IMAGE_FORMAT_JPEG:
		return "jpeg";
	case IMAGE_FORMAT_PNG:
		return "png";
	default:
		return "unknown";
	}
}

/* ---- JPEG ------------------------------------------------------------------ */

static enum image_status jpeg_fail(tjhandle tj, const char *what, char *err, size_t errlen)
{
	set_err(err, errlen, "corrupt jpeg (%s): %s", what, tjGetErrorStr2(tj));
	return IMAGE_ERR_CORRUPT;
}

/* colorspace: TJCS_*. */
static enum image_status jpeg_read_header(tjhandle tj, const unsigned char *p, size_t size,
					  uint64_t max_pixels, struct image_info *info,
					  int *colorspace, char *err, size_t errlen)
{
	int w = 0, h = 0, subsamp;

	if (size > ULONG_MAX) {
		set_err(err, errlen, "jpeg image is too large (%zu bytes)", size);
		return IMAGE_ERR_TOO_LARGE;
	}
	if (tjDecompressHeader3(tj, p, (unsigned long)size, &w, &h, &subsamp, colorspace))
		return jpeg_fail(tj, "header", err, errlen);
	if (w == 0 && h == 0) {   /* TurboJPEG 2.1 returns 0 leaving all unset */
		set_err(err, errlen, "corrupt jpeg: no image (truncated, or only tables)");
		return IMAGE_ERR_CORRUPT;
	}
	info->width = w;
	info->height = h;
	return check_size(info, max_pixels, err, errlen);
}

/* Inverted (Adobe) CMYK to RGB in place: 4 bytes a pixel become 3. */
static void cmyk_to_rgb(uint8_t *buf, size_t pixels)
{
	for (size_t i = 0; i < pixels; i++) {
		const uint8_t *s = buf + 4 * i;
		uint8_t *d = buf + 3 * i;
		const unsigned k = s[3];

		d[0] = (uint8_t)((s[0] * k + 127) / 255);
		d[1] = (uint8_t)((s[1] * k + 127) / 255);
		d[2] = (uint8_t)((s[2] * k + 127) / 255);
	}
}

/* Shrinks buf to size bytes; keeps the larger block when realloc fails. */
static uint8_t *shrink(uint8_t *buf, size_t size)
{
	uint8_t *p = realloc(buf, size);

	return p ? p : buf;
}

/* The DCT scaling (libjpeg-turbo: 1/8 steps) with the fewest pixels whose
 * w x h result still covers min_w x min_h; 1/1 when min_w or min_h is 0. */
static tjscalingfactor jpeg_reduction(int w, int h, int min_w, int min_h)
{
	tjscalingfactor best = {1, 1};
	tjscalingfactor *f;
	int n = 0;

	if (min_w <= 0 || min_h <= 0 || !(f = tjGetScalingFactors(&n)))
		return best;
	for (int i = 0; i < n; i++) {
		const int sw = TJSCALED(w, f[i]), sh = TJSCALED(h, f[i]);

		if (sw >= min_w && sh >= min_h &&
		    (int64_t)sw * sh < (int64_t)TJSCALED(w, best) * TJSCALED(h, best))
			best = f[i];
	}
	return best;
}

/* Decodes at info's size (the header's, or a DCT-scaled one). */
static enum image_status jpeg_pixels(tjhandle tj, const unsigned char *p, size_t size,
				     const struct image_info *info, int cmyk, uint8_t **rgb,
				     char *err, size_t errlen)
{
	const int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
	size_t bytes, pixels = (size_t)info->width * (size_t)info->height;
	uint8_t *buf;

	if (mul_size((size_t)info->width, (size_t)info->height, (size_t)tjPixelSize[pf], &bytes) ||
	    !(buf = malloc(bytes))) {
		set_err(err, errlen, "out of memory for a %dx%d jpeg image", info->width,
			info->height);
		return IMAGE_ERR_NOMEM;
	}
	if (tjDecompress2(tj, p, (unsigned long)size, buf, info->width, 0, info->height, pf,
			  JPEG_FLAGS)) {
		free(buf);
		return jpeg_fail(tj, "data", err, errlen);
	}
	if (cmyk) {
		cmyk_to_rgb(buf, pixels);
		buf = shrink(buf, pixels * 3);
	}
	*rgb = buf;
	return IMAGE_OK;
}

/* The SOFn marker (FFC0..FFCF less C4, C8 and CC) of the segments before the
 * first SOS, found by their lengths; 0 when there is none or the structure
 * is odd (libjpeg then has its say). */
static unsigned jpeg_sof_marker(const unsigned char *p, size_t size)
{
	size_t off = 2;

	while (size - off >= 4 && p[off] == 0xff) {
		const unsigned m = p[off + 1];

		if (m == 0xff) {   /* a fill byte */
			off++;
		} else if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
			return m;
		} else if (m == 0xda || m == 0xd9) {
			return 0;
		} else if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) {
			off += 2;
		} else {
			off += 2 + ((size_t)p[off + 2] << 8 | p[off + 3]);
			if (off > size)
				return 0;
		}
	}
	return 0;
}

/* Applies the EXIF orientation: the upright size into info, and with rgb
 * the upright pixels. */
static enum image_status jpeg_upright(const unsigned char *p, size_t size, uint8_t **rgb,
				      struct image_info *info, char *err, size_t errlen)
{
	const int o = exif_orientation(p, size);
	uint8_t *up;

	if (o == 1)
		return IMAGE_OK;
	if (!rgb) {
		if (exif_swaps_axes(o)) {
			const int w = info->width;
			info->width = info->height;
			info->height = w;
		}
		return IMAGE_OK;
	}
	up = exif_upright(*rgb, &info->width, &info->height, o);
	if (!up) {
		free(*rgb);
		*rgb = NULL;
		set_err(err, errlen, "out of memory turning a %dx%d jpeg upright", info->width,
			info->height);
		return IMAGE_ERR_NOMEM;
	}
	free(*rgb);
	*rgb = up;
	return IMAGE_OK;
}

/* rgb NULL: the header only. min_w x min_h > 0: the upright size the
 * pixels must cover at least (a reduced scale may do). */
static enum image_status jpeg_run(const unsigned char *p, size_t size, uint64_t max_pixels,
				  int min_w, int min_h, uint8_t **rgb, struct image_info *info,
				  char *err, size_t errlen)
{
	const unsigned sof = jpeg_sof_marker(p, size);
	enum image_status st;
	int cs = -1;
	tjhandle tj;

	if (sof >= 0xc9) {   /* C9..CB, CD..CF: arithmetic coding */
		set_err(err, errlen, "jpeg with arithmetic coding (SOF%u) is not supported", sof - 0xc0);
		return IMAGE_ERR_CORRUPT;
	}
	if (!(tj = tjInitDecompress())) {
		set_err(err, errlen, "out of memory starting the jpeg decoder");
		return IMAGE_ERR_NOMEM;
	}
	st = jpeg_read_header(tj, p, size, max_pixels, info, &cs, err, errlen);
	if (st == IMAGE_OK && rgb) {
		/* DCT scaling only for DCT files: libjpeg-turbo 3.0-3.1.3 decode a
		 * lossless one (SOF3, SOF7) whole whatever size is asked for, past
		 * the end of a buffer made for the scaled size */
		const int dct = sof == 0xc0 || sof == 0xc1 || sof == 0xc2;
		const int swap = exif_swaps_axes(exif_orientation(p, size));
		const tjscalingfactor f = jpeg_reduction(info->width, info->height,
							 dct ? (swap ? min_h : min_w) : 0,
							 dct ? (swap ? min_w : min_h) : 0);

		info->width = TJSCALED(info->width, f);
		info->height = TJSCALED(info->height, f);
		st = jpeg_pixels(tj, p, size, info, cs == TJCS_CMYK || cs == TJCS_YCCK, rgb, err,
				 errlen);
	}
	tjDestroy(tj);
	if (st == IMAGE_OK)
		st = jpeg_upright(p, size, rgb, info, err, errlen);
	return st;
}

/* ---- PNG ------------------------------------------------------------------- */

struct png_ctx {
	const unsigned char *p;
	size_t size, off;
	char msg[160];       /* libpng's error */
	uint8_t *buf;        /* the pixels, once allocated */
};

static void png_on_error(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);

	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);

	if (n > c->size - c->off)
		png_error(png, "truncated file");
	memcpy(out, c->p + c->off, n);
	c->off += n;
}

/* Asks libpng for 8-bit RGB: raw sample values, no gamma or colour
 * management, an alpha channel stripped (also the one that expanding a
 * palette makes from tRNS). */
static void png_to_rgb8(png_structp png, png_infop info)
{
	const int depth = png_get_bit_depth(png, info), color_type = png_get_color_type(png, info);

	if (depth == 16)
		png_set_strip_16(png);
	if (color_type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_strip_alpha(png);
	if (!(color_type & PNG_COLOR_MASK_COLOR))
		png_set_gray_to_rgb(png);
}

/* After png_read_info: the rows (every pass) and the rest of the file. */
static enum image_status png_rows(png_structp png, png_infop info, struct png_ctx *c,
				  const struct image_info *ii, char *err, size_t errlen)
{
	const size_t row = (size_t)ii->width * 3;
	size_t bytes;
	int passes;

	png_to_rgb8(png, info);
	passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != row)
		png_error(png, "unexpected row size after conversion");
	if (mul_size(row, (size_t)ii->height, 1, &bytes) || !(c->buf = malloc(bytes))) {
		set_err(err, errlen, "out of memory for a %dx%d png image", ii->width, ii->height);
		return IMAGE_ERR_NOMEM;
	}
	for (int pass = 0; pass < passes; pass++)
		for (int y = 0; y < ii->height; y++)
			png_read_row(png, c->buf + (size_t)y * row, NULL);
	png_read_end(png, NULL);
	return IMAGE_OK;
}

/* Everything that can longjmp; pixels 0: the header only. */
static enum image_status png_guarded(png_structp png, png_infop info, struct png_ctx *c,
				     uint64_t max_pixels, int pixels, struct image_info *ii,
				     char *err, size_t errlen)
{
	enum image_status st;

	if (setjmp(png_jmpbuf(png))) {
		set_err(err, errlen, "corrupt png: %s", c->msg);
		return IMAGE_ERR_CORRUPT;
	}
	png_set_read_fn(png, c, png_read_mem);
	png_set_user_limits(png, 0x7fffffff, 0x7fffffff);   /* max_pixels decides */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* Let mutated chunks through to the code behind the checksums. */
	png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
	png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
	png_read_info(png, info);
	ii->width = (int)png_get_image_width(png, info);
	ii->height = (int)png_get_image_height(png, info);
	st = check_size(ii, max_pixels, err, errlen);
	if (st != IMAGE_OK || !pixels)
		return st;
	return png_rows(png, info, c, ii, err, errlen);
}

/* rgb NULL: the header only. */
static enum image_status png_run(const unsigned char *p, size_t size, uint64_t max_pixels,
				 uint8_t **rgb, struct image_info *info, char *err,
				 size_t errlen)
{
	struct png_ctx c = {p, size, 0, "", NULL};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error,
						 png_on_warning);
	png_infop pi = png ? png_create_info_struct(png) : NULL;
	enum image_status st;

	if (!pi) {
		png_destroy_read_struct(&png, NULL, NULL);
		set_err(err, errlen, "out of memory starting the png decoder");
		return IMAGE_ERR_NOMEM;
	}
	st = png_guarded(png, pi, &c, max_pixels, rgb != NULL, info, err, errlen);
	png_destroy_read_struct(&png, &pi, NULL);
	if (st == IMAGE_OK && rgb)
		*rgb = c.buf;
	else
		free(c.buf);
	return st;
}

/* ---- the API --------------------------------------------------------------- */

static enum image_status run(const void *data, size_t size, uint64_t max_pixels, int min_w,
			     int min_h, uint8_t **rgb, struct image_info *info, char *err,
			     size_t errlen)
{
	const unsigned char *p = data;

	memset(info, 0, sizeof(*info));
	set_err(err, errlen, "%s", "");
	info->format = p ? detect(p, size) : IMAGE_FORMAT_UNKNOWN;
	switch (info->format) {
	case IMAGE_FORMAT_JPEG:
		return jpeg_run(p, size, max_pixels, min_w, min_h, rgb, info, err, errlen);
	case IMAGE_FORMAT_PNG:
		return png_run(p, size, max_pixels, rgb, info, err, errlen);
	default:
		set_err(err, errlen, "not a JPEG or PNG image (%zu bytes, unknown signature)", size);
		return IMAGE_ERR_FORMAT;
	}
}

enum image_status image_probe(const void *data, size_t size, uint64_t max_pixels,
			      struct image_info *info, char *err, size_t errlen)
{
	return run(data, size, max_pixels, 0, 0, NULL, info, err, errlen);
}

enum image_status image_decode(const void *data, size_t size, uint64_t max_pixels,
			       uint8_t **rgb, struct image_info *info,
			       char *err, size_t errlen)
{
	*rgb = NULL;
	return run(data, size, max_pixels, 0, 0, rgb, info, err, errlen);
}

enum image_status image_decode_reduced(const void *data, size_t size, uint64_t max_pixels,
				       int min_w, int min_h, uint8_t **rgb,
				       struct image_info *info, char *err, size_t errlen)
{
	*rgb = NULL;
	return run(data, size, max_pixels, min_w, min_h, rgb, info, err, errlen);
}

/* An upper bound on the PNG size of a gray8 image (after png.h's
 * PNG_IMAGE_PNG_SIZE_MAX, in size_t and with room to spare). */
static size_t png_bound(size_t width, size_t height, size_t channels)
{
	const size_t raw = (width * channels + 1) * height;   /* a filter byte a row */
	const size_t z = raw + (raw + 7) / 8 + (raw + 63) / 64 + 11;

	return z + 12 * (z / PNG_ZBUF_SIZE + 1) + 1024;
}

static int encode_png(const uint8_t *pixels, int width, int height, int channels,
		      uint8_t **png, size_t *png_size)
{
	png_image img;
	png_alloc_size_t size;
	uint8_t *buf;

	if (!pixels || !png || !png_size || width <= 0 || height <= 0 ||
	    (unsigned)width > PNG_MAX_SIDE || (unsigned)height > PNG_MAX_SIDE ||
	    (uint64_t)width * (uint64_t)height > INT32_MAX)
		return -1;
	size = png_bound((size_t)width, (size_t)height, (size_t)channels);
	if (!(buf = malloc(size)))
		return -1;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)width;
	img.height = (png_uint_32)height;
	img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
	if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) {
		png_image_free(&img);
		free(buf);
		return -1;
	}
	*png = shrink(buf, size);
	*png_size = size;
	return 0;
}

int image_encode_png_gray8(const uint8_t *pixels, int width, int height,
			   uint8_t **png, size_t *png_size)
{
	return encode_png(pixels, width, height, 1, png, png_size);
}

int image_encode_png_rgb8(const uint8_t *pixels, int width, int height,
			  uint8_t **png, size_t *png_size)
{
	return encode_png(pixels, width, height, 3, png, png_size);
}

/*
 * fuzz-image.c - a libFuzzer harness for request image decoding
 * (imageio/image.c).
 *
 * Each input is probed and then decoded as a request image with max_pixels
 * 4096 * 4096, as the daemon does. Beyond what the sanitizers report, it
 * checks that probe and decode agree (the same status when the header is
 * refused; the same format and size), that a failure leaves no pixels, and that a decoded image's
 * green channel (up to 256 x 256 of it) encodes as a gray8 PNG that decodes
 * back to exactly those values; a decodable image is decoded again reduced
 * to cover a third of its size, which must succeed with a size between
 * that and the full one; a broken invariant aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define MAX_PIXELS (4096ULL * 4096ULL)
#define CROP 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The top-left crop of channel 1 as gray8, through a PNG and back. */
static void check_png_round_trip(const uint8_t *rgb, const struct image_info *info)
{
	const int w = info->width < CROP ? info->width : CROP;
	const int h = info->height < CROP ? info->height : CROP;
	uint8_t gray[CROP * CROP], *png = NULL, *back = NULL;
	struct image_info binfo;
	size_t png_size = 0;
	char err[256];

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			gray[y * w + x] = rgb[((size_t)y * info->width + x) * 3 + 1];
	if (image_encode_png_gray8(gray, w, h, &png, &png_size))
		abort();   /* only out of memory, which a small crop is not */
	if (image_decode(png, png_size, MAX_PIXELS, &back, &binfo, err, sizeof(err)) != IMAGE_OK ||
	    binfo.format != IMAGE_FORMAT_PNG || binfo.width != w || binfo.height != h)
		abort();
	for (int i = 0; i < w * h; i++)
		if (back[3 * i] != gray[i] || back[3 * i + 1] != gray[i] || back[3 * i + 2] != gray[i])
			abort();
	free(back);
	free(png);
}

/* Decoding reduced to cover a third of the full size. */
static void check_reduced(const uint8_t *data, size_t size, const struct image_info *full)
{
	const int min_w = full->width / 3 + 1, min_h = full->height / 3 + 1;
	struct image_info info;
	uint8_t *rgb = NULL;
	char err[256];

	if (image_decode_reduced(data, size, MAX_PIXELS, min_w, min_h, &rgb, &info, err,
				 sizeof(err)) != IMAGE_OK || !rgb ||
	    info.width < (min_w < full->width ? min_w : full->width) || info.width > full->width ||
	    info.height < (min_h < full->height ? min_h : full->height) ||
	    info.height > full->height)
		abort();
	free(rgb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_info pinfo, info;
	uint8_t *rgb = NULL;
	char err[256];
	enum image_status pst = image_probe(data, size, MAX_PIXELS, &pinfo, err, sizeof(err));
	enum image_status st = image_decode(data, size, MAX_PIXELS, &rgb, &info, err, sizeof(err));

	if ((st == IMAGE_OK) != (rgb != NULL) || memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	/* Decoding reads the same header first: a refusal there is the same. */
	if ((st == IMAGE_OK && pst != IMAGE_OK) || (pst != IMAGE_OK && st != pst))
		abort();
	if (pinfo.format != info.format)
		abort();
	if (st == IMAGE_OK) {
		if (info.width != pinfo.width || info.height != pinfo.height || info.width <= 0 ||
		    info.height <= 0 || (uint64_t)info.width * (uint64_t)info.height > MAX_PIXELS)
			abort();
		check_png_round_trip(rgb, &info);
		check_reduced(data, size, &info);
	}
	free(rgb);
	return 0;
}

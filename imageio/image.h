/*
 * image.h - decoding request images (JPEG via the TurboJPEG API, PNG via
 * libpng) and encoding 8-bit PNGs for responses (label maps, sampled-cell
 * masks). Part of libimageio (this folder: images, EXIF, base64), which the
 * daemon and the CLI both link; it depends on neither.
 *
 * Decoding is two-step so the daemon can refuse an image from its header
 * alone: image_probe() reads only the header (format, width, height) and
 * image_decode() then decodes to packed 8-bit RGB. Both validate everything
 * and return a status with a one-line reason; no input crashes or hangs them
 * (a fuzz harness checks this). Formats are recognised by their signature,
 * not by the Content-Type the client sent.
 */
#ifndef STIPPLE_SERVER_IMAGE_H
#define STIPPLE_SERVER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

enum image_format { IMAGE_FORMAT_UNKNOWN = 0, IMAGE_FORMAT_JPEG, IMAGE_FORMAT_PNG };

enum image_status {
	IMAGE_OK = 0,
	IMAGE_ERR_FORMAT,      /* not a JPEG or PNG (by signature) */
	IMAGE_ERR_CORRUPT,     /* a JPEG/PNG that cannot be decoded */
	IMAGE_ERR_TOO_LARGE,   /* width x height over the caller's limit (from the header) */
	IMAGE_ERR_NOMEM
};

struct image_info {
	enum image_format format;
	int width, height;     /* pixels */
};

/* "jpeg", "png" or "unknown". */
const char *image_format_name(enum image_format format);

/* Reads only the header of data[0..size). Fails with IMAGE_ERR_TOO_LARGE when
 * width * height > max_pixels. err receives a one-line reason. */
enum image_status image_probe(const void *data, size_t size, uint64_t max_pixels,
			      struct image_info *info, char *err, size_t errlen);

/* Decodes to packed RGB, 8 bits per channel, row-major, no padding
 * (width * height * 3 bytes). Grayscale, palette, 16-bit, alpha (dropped,
 * no compositing), CMYK JPEG and interlaced PNG are all converted. The caller
 * owns *rgb and frees it with free(). Checks max_pixels like image_probe. */
enum image_status image_decode(const void *data, size_t size, uint64_t max_pixels,
			       uint8_t **rgb, struct image_info *info,
			       char *err, size_t errlen);

/* image_decode, except that a JPEG may be decoded at a reduced scale (the
 * DCT scaling of libjpeg-turbo, 1/8 steps): the smallest whose upright size
 * still covers min_w x min_h (the size the caller will resize it to);
 * *info then holds the decoded size, image_probe's the original's. PNGs
 * decode at full size; min_w or min_h 0 is image_decode. */
enum image_status image_decode_reduced(const void *data, size_t size, uint64_t max_pixels,
				       int min_w, int min_h, uint8_t **rgb,
				       struct image_info *info, char *err, size_t errlen);

/* Encodes an 8-bit single-channel image (width x height bytes, row-major) as
 * a PNG. The caller owns *png and frees it with free(). Returns 0, or -1 when
 * out of memory or the size is invalid. */
int image_encode_png_gray8(const uint8_t *pixels, int width, int height,
			   uint8_t **png, size_t *png_size);
/* The same for packed 8-bit RGB (width x height x 3 bytes). */
int image_encode_png_rgb8(const uint8_t *pixels, int width, int height,
			  uint8_t **png, size_t *png_size);

#endif

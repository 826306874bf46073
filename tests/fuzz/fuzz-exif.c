/*
 * fuzz-exif.c - a libFuzzer harness for the EXIF orientation reader and the
 * upright transform (imageio/exif.c).
 *
 * Each input is read as a JPEG's bytes: exif_orientation() must return
 * 1..8 whatever the bytes. The orientation found then turns a small image
 * of distinct pixels (its size taken from the input's first bytes) upright:
 * the result must have the swapped size exactly when exif_swaps_axes()
 * says so and hold every pixel of the original once. A broken invariant
 * aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int o = exif_orientation(data, size);
	const int w0 = size > 0 ? 1 + data[0] % 7 : 3, h0 = size > 1 ? 1 + data[1] % 5 : 2;
	uint8_t rgb[7 * 5 * 3], seen[7 * 5] = {0};
	int w = w0, h = h0;
	uint8_t *up;

	if (o < 1 || o > 8)
		abort();
	for (int i = 0; i < w0 * h0; i++)   /* pixel i is (i, i, i) */
		rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (uint8_t)i;
	up = exif_upright(rgb, &w, &h, o);
	if (!up)
		return 0;   /* out of memory only */
	if ((exif_swaps_axes(o) ? (w != h0 || h != w0) : (w != w0 || h != h0)))
		abort();
	for (int i = 0; i < w * h; i++) {
		const uint8_t v = up[3 * i];

		if (v >= w0 * h0 || seen[v]++ || up[3 * i + 1] != v || up[3 * i + 2] != v)
			abort();
	}
	free(up);
	return 0;
}

/*
 * exif.c - see exif.h.
 *
 * Layout read: JPEG segments FF xx LL LL ...; APP1 (FF E1) holding "Exif\0\0"
 * then a TIFF header ("II" little- or "MM" big-endian, 42, the offset of
 * IFD0), IFD0 = a 2-byte entry count and 12-byte entries (tag, type, count,
 * value). Orientation is type SHORT (3), count 1, its value in the entry's
 * first two value bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "exif.h"

static unsigned get16(const uint8_t *p, int le)
{
	return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p, int le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
		  : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The orientation in a TIFF block t[0..n); 1 when absent or invalid. */
static int tiff_orientation(const uint8_t *t, size_t n)
{
	uint32_t ifd;
	unsigned count;
	int le;

	if (n < 8 || !((t[0] == 'I' && t[1] == 'I') || (t[0] == 'M' && t[1] == 'M')))
		return 1;
	le = t[0] == 'I';
	if (get16(t + 2, le) != 42)
		return 1;
	ifd = get32(t + 4, le);
	if (ifd > n || n - ifd < 2)
		return 1;
	count = get16(t + ifd, le);
	for (unsigned i = 0; i < count; i++) {
		const size_t e = (size_t)ifd + 2 + (size_t)i * 12;
		unsigned v;
		if (e > n || n - e < 12)
			return 1;
		if (get16(t + e, le) != 0x0112)
			continue;
		if (get16(t + e + 2, le) != 3 || get32(t + e + 4, le) != 1)
			return 1;
		v = get16(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

int exif_orientation(const uint8_t *p, size_t size)
{
	size_t off = 2;

	if (size < 4 || p[0] != 0xff || p[1] != 0xd8)
		return 1;
	while (size - off >= 4 && p[off] == 0xff) {
		const unsigned m = p[off + 1];
		size_t len;

		if (m == 0xff) {   /* a fill byte */
			off++;
			continue;
		}
		if (m == 0xda || m == 0xd9)   /* SOS, EOI: no EXIF before the data */
			return 1;
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) {
			off += 2;
			continue;
		}
		len = (size_t)p[off + 2] << 8 | p[off + 3];
		if (len < 2 || len > size - off - 2)
			return 1;
		if (m == 0xe1 && len >= 8 && !memcmp(p + off + 4, "Exif\0\0", 6))
			return tiff_orientation(p + off + 10, len - 8);
		off += 2 + len;
	}
	return 1;
}

int exif_swaps_axes(int orientation)
{
	return orientation >= 5 && orientation <= 8;
}

uint8_t *exif_upright(const uint8_t *rgb, int *width, int *height, int orientation)
{
	const int w = *width, h = *height, swap = exif_swaps_axes(orientation);
	const int ow = swap ? h : w, oh = swap ? w : h;
	uint8_t *out = malloc((size_t)w * (size_t)h * 3);

	if (!out)
		return NULL;
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++) {
			int sy = y, sx = x;   /* the stored pixel shown at (y, x) */
			switch (orientation) {
			case 2: sx = w - 1 - x; break;
			case 3: sy = h - 1 - y; sx = w - 1 - x; break;
			case 4: sy = h - 1 - y; break;
			case 5: sy = x; sx = y; break;
			case 6: sy = h - 1 - x; sx = y; break;
			case 7: sy = h - 1 - x; sx = w - 1 - y; break;
			case 8: sy = x; sx = w - 1 - y; break;
			default: break;
			}
			memcpy(out + ((size_t)y * ow + x) * 3, rgb + ((size_t)sy * w + sx) * 3, 3);
		}
	*width = ow;
	*height = oh;
	return out;
}

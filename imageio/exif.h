/*
 * exif.h - the EXIF orientation of a JPEG (as phones write it) and the
 * pixel transform that makes an image upright.
 *
 * exif_orientation() walks the JPEG's segments up to the first SOS, finds
 * an APP1 "Exif" segment and reads tag 0x0112 (Orientation) of IFD0, in
 * either byte order, with every offset and count checked against the
 * segment: a malformed or absent EXIF block is orientation 1, never an
 * error (the pixels are still good).
 */
#ifndef STIPPLE_SERVER_EXIF_H
#define STIPPLE_SERVER_EXIF_H

#include <stddef.h>
#include <stdint.h>

/* 1..8 (TIFF's Orientation: 1 upright; 2 mirrored; 3 rotated 180; 4
 * flipped; 5 transposed; 6 rotated 90 clockwise to display; 7 transversed;
 * 8 rotated 90 counter-clockwise to display); 1 when absent or invalid. */
int exif_orientation(const uint8_t *jpeg, size_t size);

/* Whether an orientation swaps width and height (5..8). */
int exif_swaps_axes(int orientation);

/* Packed RGB rgb (width x height) made upright into a new buffer, which the
 * caller frees with free(); *width and *height become the upright size.
 * Returns NULL when out of memory (rgb is left as it was). */
uint8_t *exif_upright(const uint8_t *rgb, int *width, int *height, int orientation);

#endif

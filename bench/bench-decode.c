/*
 * bench-decode.c - what decoding a photo costs, whole and at the reduced
 * scale the daemon uses for a model's input (imageio/image.c,
 * image_decode_reduced): min and median of N decodes of each.
 *
 *   bench/bench-decode PHOTO.jpg MIN_WIDTH MIN_HEIGHT [N]
 *
 * MIN_WIDTH x MIN_HEIGHT: the size the model resizes the photo to (416 x
 * 234 for nanodet-g and a 16:9 photo; `stipple info MODEL --size HxW`).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"
#include "image.h"

int main(int argc, char **argv)
{
	FILE *f = argc >= 4 ? fopen(argv[1], "rb") : NULL;
	const int runs = argc >= 5 ? atoi(argv[4]) : 9;
	unsigned char *data;
	double *ms;
	long n;

	if (!f || runs < 1) {
		fprintf(stderr, "usage: bench-decode PHOTO MIN_WIDTH MIN_HEIGHT [N]\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n);
	ms = malloc(sizeof(*ms) * (size_t)runs);
	if (!data || !ms || fread(data, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bench-decode: cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);
	for (int reduced = 0; reduced < 2; reduced++) {
		struct image_info info = {0};
		char err[256];

		for (int i = 0; i < runs; i++) {
			uint8_t *rgb = NULL;
			const double t0 = bench_now_ms();
			const enum image_status st =
				reduced ? image_decode_reduced(data, (size_t)n, 1ULL << 40, atoi(argv[2]),
							       atoi(argv[3]), &rgb, &info, err, sizeof(err))
					: image_decode(data, (size_t)n, 1ULL << 40, &rgb, &info, err,
						       sizeof(err));

			ms[i] = bench_now_ms() - t0;
			free(rgb);
			if (st != IMAGE_OK) {
				fprintf(stderr, "bench-decode: %s\n", err);
				return 1;
			}
		}
		qsort(ms, (size_t)runs, sizeof(*ms), bench_cmp_double);
		printf("%-7s %5dx%-5d min %7.1f ms  median %7.1f ms\n", reduced ? "reduced" : "whole",
		       info.width, info.height, ms[0], ms[runs / 2]);
	}
	free(ms);
	free(data);
	return 0;
}

/*
 * image-file.c - reading and decoding a JPEG or PNG file for the task
 * commands (detect, segment, eval) with the daemon's decoder
 * (server/image.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../server/image.h"
#include "cli.h"

#define MAX_IMAGE_BYTES ((long)256 << 20)
#define MAX_IMAGE_PIXELS ((uint64_t)1 << 28)

int cli_read_image(const char *path, uint8_t **rgb, struct image_info *info, char *err,
		   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	void *data = NULL;
	long len = -1;
	int rc = -1;

	if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    len <= MAX_IMAGE_BYTES && (data = malloc(len ? (size_t)len : 1)) &&
	    fread(data, 1, (size_t)len, f) == (size_t)len) {
		char why[200] = "";

		rc = image_decode(data, (size_t)len, MAX_IMAGE_PIXELS, rgb, info, why, sizeof(why)) ==
		     IMAGE_OK ? 0 : -1;
		if (rc)
			snprintf(err, errlen, "cannot decode %.300s: %.150s", path, why);
	} else {
		snprintf(err, errlen, "cannot read %.300s%s", path,
			 len > MAX_IMAGE_BYTES ? " (over 256 MiB)" : "");
	}
	free(data);
	if (f)
		fclose(f);
	return rc;
}

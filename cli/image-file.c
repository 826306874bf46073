/*
 * image-file.c - reading and decoding a JPEG or PNG file for the task
 * commands (detect, segment, eval) with the daemon's decoder
 * (imageio/image.c); cli_read_image_for lets a JPEG decode at the reduced
 * scale a model needs, as the daemon does.
 */
#include <stdio.h>
#include <stdlib.h>

#include "image.h"
#include "cli.h"

#define MAX_IMAGE_BYTES ((long)256 << 20)
#define MAX_IMAGE_PIXELS ((uint64_t)1 << 28)

/* The file's bytes (malloc'ed, *len of them); NULL with err set. */
static void *read_file(const char *path, long *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	void *data = NULL;

	*len = -1;
	if (f && fseek(f, 0, SEEK_END) == 0 && (*len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && *len <= MAX_IMAGE_BYTES &&
	    (data = malloc(*len ? (size_t)*len : 1)) &&
	    fread(data, 1, (size_t)*len, f) == (size_t)*len) {
		fclose(f);
		return data;
	}
	snprintf(err, errlen, "cannot read %.300s%s", path,
		 *len > MAX_IMAGE_BYTES ? " (over 256 MiB)" : "");
	free(data);
	if (f)
		fclose(f);
	return NULL;
}

int cli_read_image_for(const char *path, const stp_model *model, uint8_t **rgb,
		       struct image_info *info, struct image_info *full, char *err, size_t errlen)
{
	char why[200] = "";
	long len;
	void *data = read_file(path, &len, err, errlen);
	enum image_status st;
	int rh = 0, rw = 0;

	*rgb = NULL;
	if (!data)
		return -1;
	st = image_probe(data, (size_t)len, MAX_IMAGE_PIXELS, full, why, sizeof(why));
	if (st == IMAGE_OK && model &&
	    stp_model_input_size(model, full->height, full->width, &rh, &rw, NULL, NULL) != STP_OK)
		rh = rw = 0;   /* the run will say why */
	if (st == IMAGE_OK)
		st = image_decode_reduced(data, (size_t)len, MAX_IMAGE_PIXELS, rw, rh, rgb, info, why,
					  sizeof(why));
	free(data);
	if (st != IMAGE_OK)
		snprintf(err, errlen, "cannot decode %.300s: %.150s", path, why);
	return st == IMAGE_OK ? 0 : -1;
}

int cli_read_image(const char *path, uint8_t **rgb, struct image_info *info, char *err,
		   size_t errlen)
{
	struct image_info full;

	return cli_read_image_for(path, NULL, rgb, info, &full, err, errlen);
}

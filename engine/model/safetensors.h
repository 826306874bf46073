/*
 * safetensors.h - a validating reader of safetensors files.
 *
 * stp_st_parse() checks the whole container (header length, header JSON,
 * dtypes, shapes, offsets inside the data and not overlapping, finite values)
 * and converts every tensor to F32 in memory the file object owns. The
 * network builders then take tensors by name with an expected shape; any
 * tensor never taken is reported by stp_st_check_all_taken().
 */
#ifndef STP_SAFETENSORS_H
#define STP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/internal.h"

#define STP_ST_MAX_DIMS 8

struct stp_st_tensor {
	char *name;
	int ndim;
	int64_t shape[STP_ST_MAX_DIMS];
	size_t count;      /* elements */
	float *data;       /* count floats, converted to F32 */
	int taken;         /* set by stp_st_take */
};

struct stp_st_file {
	struct stp_st_tensor *tensors;
	size_t ntensors;
	char **meta_keys;  /* __metadata__, string values only */
	char **meta_values;
	size_t nmeta;
};

/* Parses size bytes at data (not referenced after the call). The caller owns
 * *out and frees it with stp_st_free(). Errors: STP_ERR_FORMAT with a
 * one-line message in err. */
enum stp_status stp_st_parse(const void *data, size_t size, struct stp_st_file **out,
			     char *err, size_t errlen);
void stp_st_free(struct stp_st_file *file);

/* The metadata value for key, or NULL. */
const char *stp_st_meta(const struct stp_st_file *file, const char *key);

/* Finds a tensor without taking it; NULL if absent. */
const struct stp_st_tensor *stp_st_find(const struct stp_st_file *file, const char *name);

/* Takes the tensor named name, checking that its shape is exactly
 * shape[0..ndim). Returns its data, or NULL with a message in err:
 * "missing tensor 'X'" or "tensor 'X' has shape [a, b], expected [c, d]". */
const float *stp_st_take(struct stp_st_file *file, const char *name,
			 const int64_t *shape, int ndim, char *err, size_t errlen);

/* STP_OK if every tensor was taken, else STP_ERR_FORMAT with
 * "unexpected tensor 'X'". */
enum stp_status stp_st_check_all_taken(const struct stp_st_file *file,
				       char *err, size_t errlen);

#endif

/*
 * safetensors.c - the validating safetensors reader of safetensors.h.
 *
 * The file is untrusted input: every length and offset is checked before it
 * is used, in this order: the 8-byte little-endian header length, the header
 * JSON (jansson, duplicate keys rejected), each tensor entry (dtype, shape,
 * data_offsets, with overflow-checked sizes), then the entries sorted by
 * offset so that overlaps show as neighbours, and last the data itself, which
 * is converted to F32 in one pass that also rejects NaN and Inf.
 *
 * Values are decoded from bytes (never by casting the buffer), so the reader
 * works on any host byte order and alignment. Every error is one line that
 * names the problem and, where there is one, the tensor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "safetensors.h"

#define MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)
#define SHAPE_TEXT_LEN (STP_ST_MAX_DIMS * 22 + 4)

enum dtype { DT_F32, DT_F16, DT_BF16 };

static const struct {
	const char *name;
	size_t size;   /* bytes per element */
} dtypes[] = {
	[DT_F32] = {"F32", 4},
	[DT_F16] = {"F16", 2},
	[DT_BF16] = {"BF16", 2},
};

/* A tensor entry between validation and conversion. */
struct entry {
	size_t begin, end;   /* bytes into the data section */
	enum dtype dtype;
	size_t index;        /* its place in file->tensors */
};

/* "[a, b, c]" into buf (always terminated, cut short if len is too small). */
static void shape_text(const int64_t *shape, int ndim, char *buf, size_t len)
{
	size_t used = 0;
	for (int i = 0; i <= ndim && used < len; i++) {
		int n;
		if (i == ndim)
			n = snprintf(buf + used, len - used, ndim ? "]" : "[]");
		else
			n = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "[",
				     (long long)shape[i]);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

static uint32_t load_le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* F32 bits of a finite IEEE half; the caller has rejected Inf and NaN. */
static uint32_t f16_to_f32_bits(uint32_t h)
{
	const uint32_t sign = (h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;

	if (exp == 0) {
		if (mant == 0)
			return sign;
		/* Subnormal: m * 2^-24. Shift the leading one up to bit 10. */
		exp = 127 - 15 + 1;
		while (!(mant & 0x400u)) {
			mant <<= 1;
			exp--;
		}
		return sign | exp << 23 | (mant & 0x3ffu) << 13;
	}
	return sign | (exp + 127 - 15) << 23 | mant << 13;
}

/* Converts one tensor's bytes to F32. On a non-finite value returns 0 with
 * its element index in *bad and whether it is a NaN in *nan. One loop per
 * dtype keeps the common F32 case a plain load, test and store. */
static int convert(const unsigned char *src, size_t count, enum dtype dt, float *dst,
		   size_t *bad, int *nan)
{
	uint32_t bits = 0;
	size_t i = 0;

	switch (dt) {
	case DT_F32:
		for (i = 0; i < count; i++) {
			bits = load_le32(src + 4 * i);
			if ((bits & 0x7f800000u) == 0x7f800000u)
				goto nonfinite;
			memcpy(&dst[i], &bits, sizeof(bits));
		}
		break;
	case DT_F16:
		for (i = 0; i < count; i++) {
			const uint32_t h = load_le16(src + 2 * i);
			if ((h & 0x7c00u) == 0x7c00u) {
				bits = h << 13;   /* keeps "mantissa non-zero" for the NaN test */
				goto nonfinite;
			}
			bits = f16_to_f32_bits(h);
			memcpy(&dst[i], &bits, sizeof(bits));
		}
		break;
	case DT_BF16:
		for (i = 0; i < count; i++) {
			bits = load_le16(src + 2 * i) << 16;
			if ((bits & 0x7f800000u) == 0x7f800000u)
				goto nonfinite;
			memcpy(&dst[i], &bits, sizeof(bits));
		}
		break;
	}
	return 1;

nonfinite:
	*bad = i;
	*nan = (bits & 0x7fffffu) != 0;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static enum stp_status parse_metadata(json_t *meta, struct stp_st_file *f, char *err,
				      size_t errlen)
{
	const char *key;
	json_t *value;

	if (!json_is_object(meta))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "__metadata__ must be an object of string values");
	if (json_object_size(meta) == 0)
		return STP_OK;
	f->meta_keys = stp_zalloc(json_object_size(meta), sizeof(char *));
	f->meta_values = stp_zalloc(json_object_size(meta), sizeof(char *));
	if (!f->meta_keys || !f->meta_values)
		return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
	json_object_foreach(meta, key, value) {
		if (!json_is_string(value))
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "__metadata__ value of '%s' is not a string", key);
		f->meta_keys[f->nmeta] = stp_strdup(key);
		f->meta_values[f->nmeta] = stp_strdup(json_string_value(value));
		f->nmeta++;
		if (!f->meta_keys[f->nmeta - 1] || !f->meta_values[f->nmeta - 1])
			return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
	}
	return STP_OK;
}

/* A non-negative JSON integer that fits size_t, else 0. */
static int get_size(json_t *v, size_t *out)
{
	json_int_t x;
	if (!json_is_integer(v))
		return 0;
	x = json_integer_value(v);
	if (x < 0 || (unsigned long long)x > SIZE_MAX)
		return 0;
	*out = (size_t)x;
	return 1;
}

/* Validates the entry `name`: fills t (but its data) and e. */
static enum stp_status parse_entry(const char *name, json_t *info, size_t datalen,
				   struct stp_st_tensor *t, struct entry *e, char *err,
				   size_t errlen)
{
	json_t *dtype, *shape, *offsets;
	const char *key;
	json_t *value;
	size_t bytes, n;

	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20)
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "a tensor name contains a control character");
	if (!json_is_object(info))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': entry must be an object", name);
	json_object_foreach(info, key, value) {
		if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
		    strcmp(key, "data_offsets") != 0)
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "tensor '%s': unknown key '%s'", name, key);
	}
	dtype = json_object_get(info, "dtype");
	shape = json_object_get(info, "shape");
	offsets = json_object_get(info, "data_offsets");
	if (!dtype || !shape || !offsets)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': entry needs dtype, shape and data_offsets", name);

	if (!json_is_string(dtype))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': dtype must be a string", name);
	for (n = 0; n < sizeof(dtypes) / sizeof(dtypes[0]); n++)
		if (strcmp(json_string_value(dtype), dtypes[n].name) == 0)
			break;
	if (n == sizeof(dtypes) / sizeof(dtypes[0]))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': unsupported dtype '%s' (F32, F16 or BF16 only)",
				     name, json_string_value(dtype));
	e->dtype = (enum dtype)n;

	if (!json_is_array(shape) || json_array_size(shape) > STP_ST_MAX_DIMS)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': shape must be a list of 0 to %d integers",
				     name, STP_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	t->count = 1;
	for (int i = 0; i < t->ndim; i++) {
		size_t dim;
		if (!get_size(json_array_get(shape, i), &dim))
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "tensor '%s': shape must hold non-negative integers",
					     name);
		t->shape[i] = (int64_t)dim;
		if (!stp_mul_size(t->count, dim, &t->count))
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "tensor '%s': shape has too many elements", name);
	}

	if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
	    !get_size(json_array_get(offsets, 0), &e->begin) ||
	    !get_size(json_array_get(offsets, 1), &e->end))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': data_offsets must be 2 non-negative integers",
				     name);
	if (e->begin > e->end || e->end > datalen)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': data_offsets [%zu, %zu] out of range "
				     "(data section is %zu bytes)", name, e->begin, e->end, datalen);
	if (!stp_mul_size(t->count, dtypes[e->dtype].size, &bytes))
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': shape has too many elements", name);
	if (bytes != e->end - e->begin) {
		char text[SHAPE_TEXT_LEN];
		shape_text(t->shape, t->ndim, text, sizeof(text));
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, but "
				     "shape %s of %s needs %zu", name, e->begin, e->end,
				     e->end - e->begin, text, dtypes[e->dtype].name, bytes);
	}
	t->name = stp_strdup(name);
	if (!t->name)
		return stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
	return STP_OK;
}

/* Checks the sorted entries for overlaps, then converts every tensor. */
static enum stp_status load_data(struct stp_st_file *f, struct entry *entries,
				 const unsigned char *data, char *err, size_t errlen)
{
	size_t last = 0;   /* the non-empty entry that ends last so far */
	int seen = 0;

	if (f->ntensors > 1)
		qsort(entries, f->ntensors, sizeof(*entries), cmp_entry);
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct entry *e = &entries[i];
		if (e->begin == e->end)
			continue;
		if (seen && e->begin < entries[last].end)
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap",
					     f->tensors[entries[last].index].name,
					     entries[last].begin, entries[last].end,
					     f->tensors[e->index].name, e->begin, e->end);
		if (!seen || e->end > entries[last].end)
			last = i;
		seen = 1;
	}
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct entry *e = &entries[i];
		struct stp_st_tensor *t = &f->tensors[e->index];
		size_t bad = 0;
		int nan = 0;

		/* One float even when empty, so that data is never NULL. */
		t->data = stp_alloc(t->count ? t->count * sizeof(float) : sizeof(float));
		if (!t->data)
			return stp_set_error(err, errlen, STP_ERR_NOMEM,
					     "out of memory for tensor '%s'", t->name);
		if (!convert(data + e->begin, t->count, e->dtype, t->data, &bad, &nan))
			return stp_set_error(err, errlen, STP_ERR_FORMAT,
					     "tensor '%s': element %zu is not finite (%s)",
					     t->name, bad, nan ? "NaN" : "Inf");
	}
	return STP_OK;
}

enum stp_status stp_st_parse(const void *data, size_t size, struct stp_st_file **out,
			     char *err, size_t errlen)
{
	const unsigned char *bytes = data;
	struct stp_st_file *f = NULL;
	struct entry *entries = NULL;
	json_t *root = NULL, *value;
	json_error_t jerr;
	enum stp_status st;
	uint64_t hlen = 0;
	const char *key;
	size_t datalen, n;

	if (!out)
		return stp_set_error(err, errlen, STP_ERR_INVALID_ARG, "no output pointer");
	*out = NULL;
	if (!data || size < 8)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "truncated file: %zu bytes, a safetensors file has at least 8",
				     data ? size : 0);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | bytes[i];
	if (hlen == 0)
		return stp_set_error(err, errlen, STP_ERR_FORMAT, "header length is 0");
	if (hlen > MAX_HEADER_BYTES)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "header length %llu is over the limit of %llu bytes",
				     (unsigned long long)hlen, (unsigned long long)MAX_HEADER_BYTES);
	if (hlen > size - 8)
		return stp_set_error(err, errlen, STP_ERR_FORMAT,
				     "header length %llu runs past the end of the file (%zu bytes): "
				     "truncated file", (unsigned long long)hlen, size);
	datalen = size - 8 - (size_t)hlen;

	root = json_loadb((const char *)bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		st = stp_set_error(err, errlen, STP_ERR_FORMAT,
				   "header JSON does not parse: %s (line %d, column %d)",
				   jerr.text, jerr.line, jerr.column);
		goto error;
	}
	if (!json_is_object(root)) {
		st = stp_set_error(err, errlen, STP_ERR_FORMAT, "header JSON is not an object");
		goto error;
	}
	f = stp_zalloc(1, sizeof(*f));
	n = json_object_size(root);
	if (f && n)
		f->tensors = stp_zalloc(n, sizeof(*f->tensors));
	if (f && n)
		entries = stp_zalloc(n, sizeof(*entries));
	if (!f || (n && (!f->tensors || !entries))) {
		st = stp_set_error(err, errlen, STP_ERR_NOMEM, "out of memory");
		goto error;
	}
	json_object_foreach(root, key, value) {
		if (strcmp(key, "__metadata__") == 0) {
			st = parse_metadata(value, f, err, errlen);
		} else {
			entries[f->ntensors].index = f->ntensors;
			st = parse_entry(key, value, datalen, &f->tensors[f->ntensors],
					 &entries[f->ntensors], err, errlen);
			/* Counted even on failure: its name may be allocated. */
			f->ntensors++;
		}
		if (st != STP_OK)
			goto error;
	}
	st = load_data(f, entries, bytes + 8 + hlen, err, errlen);
	if (st != STP_OK)
		goto error;
	json_decref(root);
	free(entries);
	*out = f;
	return STP_OK;

error:
	json_decref(root);
	free(entries);
	stp_st_free(f);
	return st;
}

void stp_st_free(struct stp_st_file *file)
{
	if (!file)
		return;
	for (size_t i = 0; i < file->ntensors; i++) {
		free(file->tensors[i].name);
		stp_free(file->tensors[i].data);
	}
	free(file->tensors);
	for (size_t i = 0; i < file->nmeta; i++) {
		free(file->meta_keys[i]);
		free(file->meta_values[i]);
	}
	free(file->meta_keys);
	free(file->meta_values);
	free(file);
}

const char *stp_st_meta(const struct stp_st_file *file, const char *key)
{
	for (size_t i = 0; file && key && i < file->nmeta; i++)
		if (strcmp(file->meta_keys[i], key) == 0)
			return file->meta_values[i];
	return NULL;
}

/* The index of tensor name, or file->ntensors if absent. */
static size_t find_index(const struct stp_st_file *file, const char *name)
{
	size_t i = 0;
	while (i < file->ntensors && strcmp(file->tensors[i].name, name) != 0)
		i++;
	return i;
}

const struct stp_st_tensor *stp_st_find(const struct stp_st_file *file, const char *name)
{
	size_t i;
	if (!file || !name)
		return NULL;
	i = find_index(file, name);
	return i < file->ntensors ? &file->tensors[i] : NULL;
}

const float *stp_st_take(struct stp_st_file *file, const char *name,
			 const int64_t *shape, int ndim, char *err, size_t errlen)
{
	const size_t i = file && name ? find_index(file, name) : 0;
	char have[SHAPE_TEXT_LEN], want[SHAPE_TEXT_LEN];
	struct stp_st_tensor *t;
	int same;

	if (!file || !name || i == file->ntensors) {
		stp_set_error(err, errlen, STP_ERR_FORMAT, "missing tensor '%s'",
			      name ? name : "(null)");
		return NULL;
	}
	t = &file->tensors[i];
	same = ndim == t->ndim;
	for (int d = 0; same && d < ndim; d++)
		same = shape[d] == t->shape[d];
	if (!same) {
		shape_text(t->shape, t->ndim, have, sizeof(have));
		if (ndim < 0 || ndim > STP_ST_MAX_DIMS)
			snprintf(want, sizeof(want), "(%d dimensions)", ndim);
		else
			shape_text(shape, ndim, want, sizeof(want));
		stp_set_error(err, errlen, STP_ERR_FORMAT, "tensor '%s' has shape %s, expected %s",
			      name, have, want);
		return NULL;
	}
	t->taken = 1;
	return t->data;
}

enum stp_status stp_st_check_all_taken(const struct stp_st_file *file, char *err,
				       size_t errlen)
{
	for (size_t i = 0; file && i < file->ntensors; i++)
		if (!file->tensors[i].taken)
			return stp_set_error(err, errlen, STP_ERR_FORMAT, "unexpected tensor '%s'",
					     file->tensors[i].name);
	return STP_OK;
}

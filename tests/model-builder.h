/*
 * model-builder.h - Stipple model files built in memory, for tests.
 *
 * mb_build() lists every tensor a dense ResNet (+ FPN, + classifier) needs,
 * named and shaped as proto/model-format.md says, with deterministic random
 * weights (BatchNorm running_var in [0.5, 1.5), so always positive) and the
 * architecture JSON. Tests then break the model in one way (drop, add or
 * reshape a tensor, edit the metadata) and mb_encode() writes the
 * safetensors bytes: F32, tensors back to back in network order.
 * Include testutil.h first; allocation failures are harness errors.
 */
#ifndef STP_MODEL_BUILDER_H
#define STP_MODEL_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_NAME_LEN 96

struct mb_arch {
	int bottleneck;    /* 0: basic blocks */
	int layers[4];
	int stem;
	int widths[4];
	int channels;      /* input channels */
	int num_classes;   /* > 0: backbone.fc */
	int fpn_out;       /* > 0: an FPN neck with this many channels */
	int fpn_maxpool;   /* extra_block "maxpool" (else "none") */
};

struct mb_tensor {
	char name[MB_NAME_LEN];
	int ndim;
	int64_t shape[4];
	size_t count;
	float *data;
};

struct mb_model {
	struct mb_tensor *tensors;
	size_t ntensors, cap;
	/* Metadata; a NULL value leaves the key out. All owned (malloc). */
	char *format, *format_version, *architecture;
};

static inline char *mb_strdup(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (!d)
		HARNESS_ERROR("out of memory");
	return strcpy(d, s);
}

/* Appends tensor name with the given shape and random values. */
static inline struct mb_tensor *mb_add(struct mb_model *m, const char *name, int ndim,
				       const int64_t *shape, unsigned long long *rng)
{
	struct mb_tensor *t;

	if (m->ntensors == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct mb_tensor *n = realloc(m->tensors, cap * sizeof(*n));
		if (!n)
			HARNESS_ERROR("out of memory");
		m->tensors = n;
		m->cap = cap;
	}
	t = &m->tensors[m->ntensors++];
	memset(t, 0, sizeof(*t));
	if (strlen(name) >= sizeof(t->name))
		HARNESS_ERROR("tensor name '%s' too long", name);
	strcpy(t->name, name);
	t->ndim = ndim;
	t->count = 1;
	for (int i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		t->count *= (size_t)shape[i];
	}
	t->data = malloc((t->count ? t->count : 1) * sizeof(float));
	if (!t->data)
		HARNESS_ERROR("out of memory");
	for (size_t i = 0; i < t->count; i++)
		t->data[i] = 0.5f * test_randf(rng);
	return t;
}

static inline struct mb_tensor *mb_find(struct mb_model *m, const char *name)
{
	for (size_t i = 0; i < m->ntensors; i++)
		if (strcmp(m->tensors[i].name, name) == 0)
			return &m->tensors[i];
	return NULL;
}

/* Removes tensor name (a harness error if absent). */
static inline void mb_remove(struct mb_model *m, const char *name)
{
	struct mb_tensor *t = mb_find(m, name);
	if (!t)
		HARNESS_ERROR("no tensor '%s' to remove", name);
	free(t->data);
	memmove(t, t + 1, (size_t)(m->tensors + m->ntensors - (t + 1)) * sizeof(*t));
	m->ntensors--;
}

static inline void mb_conv(struct mb_model *m, const char *name, int cout, int cin, int k,
			   unsigned long long *rng)
{
	const int64_t shape[4] = {cout, cin, k, k};
	mb_add(m, name, 4, shape, rng);
}

/* prefix.{weight,bias,running_mean,running_var}: weight in [0.5, 1.5),
 * running_var in [0.5, 1.5). */
static inline void mb_bn(struct mb_model *m, const char *prefix, int c, unsigned long long *rng)
{
	static const char *const leaves[4] = {"weight", "bias", "running_mean", "running_var"};
	const int64_t shape[1] = {c};
	char name[2 * MB_NAME_LEN];

	for (int i = 0; i < 4; i++) {
		struct mb_tensor *t;
		snprintf(name, sizeof(name), "%s.%s", prefix, leaves[i]);
		t = mb_add(m, name, 1, shape, rng);
		if (i == 0 || i == 3)
			for (int j = 0; j < c; j++)
				t->data[j] = 1.0f + t->data[j];
	}
}

/* The architecture JSON of a (sparse: the text of backbone.sparse, or NULL
 * for null); the caller frees it. */
static inline char *mb_arch_json(const struct mb_arch *a, const char *sparse)
{
	const int e = a->bottleneck ? 4 : 1;
	const int sum = a->layers[0] + a->layers[1] + a->layers[2] + a->layers[3];
	char neck[256], mean[64] = "", std[64] = "", buf[2048];

	if (a->fpn_out > 0)
		snprintf(neck, sizeof(neck),
			 "{\"kind\": \"fpn\", \"in_channels\": [%d, %d, %d, %d], "
			 "\"out_channels\": %d, \"extra_block\": \"%s\"}",
			 a->widths[0] * e, a->widths[1] * e, a->widths[2] * e, a->widths[3] * e,
			 a->fpn_out, a->fpn_maxpool ? "maxpool" : "none");
	else
		snprintf(neck, sizeof(neck), "null");
	for (int i = 0; i < a->channels; i++) {
		snprintf(mean + strlen(mean), sizeof(mean) - strlen(mean), "%s%d", i ? ", " : "",
			 100 + 10 * i);
		snprintf(std + strlen(std), sizeof(std) - strlen(std), "%s%d", i ? ", " : "",
			 50 + i);
	}
	snprintf(buf, sizeof(buf),
		 "{\"backbone\": {\"kind\": \"resnet\", \"depth\": %d, \"block\": \"%s\", "
		 "\"layers\": [%d, %d, %d, %d], \"stem_width\": %d, "
		 "\"widths\": [%d, %d, %d, %d], \"bn_eps\": 1e-05, \"num_classes\": %d, "
		 "\"sparse\": %s}, \"neck\": %s, \"heads\": [], \"classes\": [], "
		 "\"input\": {\"channels\": %d, \"mean\": [%s], \"std\": [%s], "
		 "\"resize\": {\"short_side\": 64, \"max_long_side\": 96}, \"size_divisor\": 32}}",
		 2 + (a->bottleneck ? 3 : 2) * sum, a->bottleneck ? "bottleneck" : "basic",
		 a->layers[0], a->layers[1], a->layers[2], a->layers[3], a->stem,
		 a->widths[0], a->widths[1], a->widths[2], a->widths[3], a->num_classes,
		 sparse ? sparse : "null", neck, a->channels, mean, std);
	return mb_strdup(buf);
}

/* Every tensor of the dense network a, in network order. */
static inline void mb_build(struct mb_model *m, const struct mb_arch *a, unsigned long long seed)
{
	const int e = a->bottleneck ? 4 : 1;
	unsigned long long rng = seed | 1;
	char p[64], name[MB_NAME_LEN];
	int cin = a->stem;

	memset(m, 0, sizeof(*m));
	mb_conv(m, "backbone.conv1.weight", a->stem, a->channels, 7, &rng);
	mb_bn(m, "backbone.bn1", a->stem, &rng);
	for (int s = 0; s < 4; s++) {
		const int planes = a->widths[s], cout = planes * e;
		for (int b = 0; b < a->layers[s]; b++) {
			const int stride = s > 0 && b == 0 ? 2 : 1;
			/* conv i: cout, cin, k */
			const int convs[3][3] = {
				{planes, cin, a->bottleneck ? 1 : 3},
				{planes, planes, 3},
				{cout, planes, 1},
			};
			snprintf(p, sizeof(p), "backbone.layer%d.%d", s + 1, b);
			for (int i = 0; i < (a->bottleneck ? 3 : 2); i++) {
				snprintf(name, sizeof(name), "%s.conv%d.weight", p, i + 1);
				mb_conv(m, name, convs[i][0], convs[i][1], convs[i][2], &rng);
				snprintf(name, sizeof(name), "%s.bn%d", p, i + 1);
				mb_bn(m, name, convs[i][0], &rng);
			}
			if (stride != 1 || cin != cout) {
				snprintf(name, sizeof(name), "%s.downsample.0.weight", p);
				mb_conv(m, name, cout, cin, 1, &rng);
				snprintf(name, sizeof(name), "%s.downsample.1", p);
				mb_bn(m, name, cout, &rng);
			}
			cin = cout;
		}
	}
	if (a->num_classes > 0) {
		const int64_t w[2] = {a->num_classes, cin}, bias[1] = {a->num_classes};
		mb_add(m, "backbone.fc.weight", 2, w, &rng);
		mb_add(m, "backbone.fc.bias", 1, bias, &rng);
	}
	if (a->fpn_out > 0) {
		const int64_t bias[1] = {a->fpn_out};
		for (int i = 0; i < 4; i++) {
			snprintf(name, sizeof(name), "neck.inner_blocks.%d.0.weight", i);
			mb_conv(m, name, a->fpn_out, a->widths[i] * e, 1, &rng);
			snprintf(name, sizeof(name), "neck.inner_blocks.%d.0.bias", i);
			mb_add(m, name, 1, bias, &rng);
		}
		for (int i = 0; i < 4; i++) {
			snprintf(name, sizeof(name), "neck.layer_blocks.%d.0.weight", i);
			mb_conv(m, name, a->fpn_out, a->fpn_out, 3, &rng);
			snprintf(name, sizeof(name), "neck.layer_blocks.%d.0.bias", i);
			mb_add(m, name, 1, bias, &rng);
		}
	}
	m->format = mb_strdup("stipple");
	m->format_version = mb_strdup("1");
	m->architecture = mb_arch_json(a, NULL);
}

/* Learned parameters: every tensor but the BatchNorm statistics. */
static inline uint64_t mb_parameters(const struct mb_model *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->ntensors; i++)
		if (!strstr(m->tensors[i].name, "running_"))
			n += m->tensors[i].count;
	return n;
}

/* Appends s to the growing buffer *buf (length *len, capacity *cap). */
static inline void mb_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 1024;
		char *b;
		while (*len + n + 1 > c)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			HARNESS_ERROR("out of memory");
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Appends "key":"value" with value escaped as a JSON string. */
static inline void mb_append_meta(char **buf, size_t *len, size_t *cap, const char *key,
				  const char *value)
{
	char tmp[MB_NAME_LEN + 8];
	snprintf(tmp, sizeof(tmp), "\"%s\":\"", key);
	mb_append(buf, len, cap, tmp, strlen(tmp));
	for (const char *c = value; *c; c++) {
		if (*c == '"' || *c == '\\')
			mb_append(buf, len, cap, "\\", 1);
		mb_append(buf, len, cap, c, 1);
	}
	mb_append(buf, len, cap, "\",", 2);
}

/* The safetensors bytes of m; the caller frees them. */
static inline unsigned char *mb_encode(const struct mb_model *m, size_t *size)
{
	char *h = NULL, tmp[MB_NAME_LEN + 256];
	size_t hlen = 0, hcap = 0, offset = 0, pos;
	unsigned char *out;

	mb_append(&h, &hlen, &hcap, "{", 1);
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct mb_tensor *t = &m->tensors[i];
		int n = snprintf(tmp, sizeof(tmp), "\"%s\":{\"dtype\":\"F32\",\"shape\":[", t->name);
		for (int d = 0; d < t->ndim; d++)
			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, d ? ",%lld" : "%lld",
				      (long long)t->shape[d]);
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "],\"data_offsets\":[%zu,%zu]},",
			      offset, offset + 4 * t->count);
		mb_append(&h, &hlen, &hcap, tmp, (size_t)n);
		offset += 4 * t->count;
	}
	mb_append(&h, &hlen, &hcap, "\"__metadata__\":{", 16);
	if (m->format)
		mb_append_meta(&h, &hlen, &hcap, "format", m->format);
	if (m->format_version)
		mb_append_meta(&h, &hlen, &hcap, "format_version", m->format_version);
	if (m->architecture)
		mb_append_meta(&h, &hlen, &hcap, "architecture", m->architecture);
	if (h[hlen - 1] == ',')
		hlen--;
	mb_append(&h, &hlen, &hcap, "}}", 2);
	while (hlen % 8)
		mb_append(&h, &hlen, &hcap, " ", 1);

	*size = 8 + hlen + offset;
	out = malloc(*size);
	if (!out)
		HARNESS_ERROR("out of memory");
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	memcpy(out + 8, h, hlen);
	pos = 8 + hlen;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct mb_tensor *t = &m->tensors[i];
		for (size_t j = 0; j < t->count; j++, pos += 4) {
			uint32_t bits;
			memcpy(&bits, &t->data[j], sizeof(bits));
			for (int b = 0; b < 4; b++)
				out[pos + b] = (unsigned char)(bits >> (8 * b));
		}
	}
	free(h);
	return out;
}

static inline void mb_free(struct mb_model *m)
{
	for (size_t i = 0; i < m->ntensors; i++)
		free(m->tensors[i].data);
	free(m->tensors);
	free(m->format);
	free(m->format_version);
	free(m->architecture);
	memset(m, 0, sizeof(*m));
}

/* Replaces a metadata string (value NULL: removes the key). */
static inline void mb_set(char **field, const char *value)
{
	free(*field);
	*field = value ? mb_strdup(value) : NULL;
}

#endif

/*
 * arch-json.h - the typed getters the architecture parsers share (arch.c,
 * arch-cspnet.c, arch-heads.c). Each checks one field's type and range and, on failure,
 * writes one message naming the field by its path ("architecture:
 * heads[0].rpn.nms_thresh must be ...") and returns STP_ERR_FORMAT.
 */
#ifndef STP_ARCH_JSON_H
#define STP_ARCH_JSON_H

#include <jansson.h>

#include "../base/internal.h"

struct stp_json_ctx {
	char *err;
	size_t errlen;
};

/* obj (named path, "" at the top) must be an object holding every one of
 * keys, and may hold those of optional (NULL: none), but nothing else. */
enum stp_status stp_json_object_opt(struct stp_json_ctx *c, json_t *obj, const char *path,
				    const char *const *keys, const char *const *optional);
/* obj must be an object holding exactly keys. */
enum stp_status stp_json_object(struct stp_json_ctx *c, json_t *obj, const char *path,
				const char *const *keys);
/* An integer in lo..hi; prefix is the path with its trailing dot. */
enum stp_status stp_json_int(struct stp_json_ctx *c, json_t *obj, const char *prefix,
			     const char *key, int lo, int hi, int *out);
/* A list of n integers in lo..hi. */
enum stp_status stp_json_ints(struct stp_json_ctx *c, json_t *obj, const char *prefix,
			      const char *key, int n, int lo, int hi, int *out);
/* 1 when v is a JSON number (integer or real) finite as a float, in *out. */
int stp_json_number(json_t *v, float *out);
/* An optional list of 1..max densities in (0, 1] (v NULL or null: *n = 0),
 * named path in messages. */
enum stp_status stp_json_densities(struct stp_json_ctx *c, json_t *v, const char *path, int max,
				   float *out, int *n);
/* One of the strings names[0..n); its index in *out. */
enum stp_status stp_json_choice(struct stp_json_ctx *c, json_t *obj, const char *prefix,
				const char *key, const char *const *names, int n, int *out);

struct stp_arch;
/* The "cspnet" backbone and the "pan" neck (arch-cspnet.c). */
enum stp_status stp_arch_parse_cspnet(struct stp_json_ctx *c, json_t *bb, struct stp_arch *a);
enum stp_status stp_arch_parse_pan(struct stp_json_ctx *c, json_t *neck, struct stp_arch *a);
/* heads (arch-heads.c): after the backbone, neck, classes and input. */
enum stp_status stp_arch_parse_heads(json_t *heads, struct stp_arch *a, char *err,
				     size_t errlen);

#endif

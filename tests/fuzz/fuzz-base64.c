/*
 * fuzz-base64.c - a libFuzzer harness for the strict base64 codec
 * (imageio/base64.c).
 *
 * Each input is decoded as base64 text; when it is accepted, encoding the
 * result must give the input back byte for byte (the decoder accepts only
 * canonical text), and when it is refused the offset must lie within the
 * text. Each input is also encoded as data and decoded back, and decoded
 * by the lenient field decoder (data: URIs, URL-safe). A broken invariant
 * aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t out_len = 0, bad = SIZE_MAX;
	char *again;
	int rc = base64_decode((const char *)data, size, &out, &out_len, &bad);

	if (rc == -2)
		return;
	if (rc == -1) {
		if (bad > size || out)
			abort();
		return;
	}
	if (rc != 0 || !out || base64_encoded_size(out_len) != size)
		abort();
	again = malloc(size + 1);
	if (!again)
		abort();
	base64_encode(out, out_len, again);
	if (memcmp(again, data, size) || again[size])
		abort();
	free(again);
	free(out);
}

static void check_encode(const uint8_t *data, size_t size)
{
	const size_t n = base64_encoded_size(size);
	char *text = malloc(n + 1);
	uint8_t *back = NULL;
	size_t back_len = 0, bad;

	if (!text)
		abort();
	base64_encode(data, size, text);
	if (strlen(text) != n || base64_decode(text, n, &back, &back_len, &bad) != 0 ||
	    back_len != size || memcmp(back, data, size))
		abort();
	free(back);
	free(text);
}

/* The lenient field decoder: accepted or refused within the text, and
 * whatever strict base64 accepts it accepts with the same bytes. */
static void check_field(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL, *strict = NULL;
	size_t out_len = 0, strict_len = 0, bad = SIZE_MAX;
	int rc = base64_decode_field((const char *)data, size, &out, &out_len, &bad);

	if (rc == -1 && (bad > size || out))
		abort();
	if (base64_decode((const char *)data, size, &strict, &strict_len, &bad) == 0 &&
	    (rc != 0 || strict_len != out_len || memcmp(strict, out, out_len)))
		abort();
	free(strict);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_encode(data, size);
	check_field(data, size);
	return 0;
}

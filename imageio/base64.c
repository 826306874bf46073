/*
 * base64.c - see base64.h.
 *
 * The decoder checks the whole text before it allocates anything, so an
 * error costs no memory, and then decodes without further checks. The text
 * is split into data and padding, where padding is the run of '=' that ends
 * the text. The first error found, in this order, is reported:
 *   1. a byte of the data outside the alphabet (an '=' followed by data
 *      included): its offset;
 *   2. a length that is not a multiple of 4, or more than two '=': len;
 *   3. non-zero bits left over in the last data character: its offset.
 * Thus exactly the canonical encoding of each byte string is accepted, and
 * base64_encode(base64_decode(text)) == text for every valid text.
 * base64_decode_field() is the lenient entry for request fields: it strips
 * a data: URI prefix and maps the URL-safe alphabet and missing padding
 * onto a standard copy, then decodes that strictly.
 */
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of each byte, -1 outside the alphabet ('=' included). */
static const signed char value[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

size_t base64_encoded_size(size_t n)
{
	const size_t quads = n / 3 + (n % 3 != 0);

	return quads > SIZE_MAX / 4 ? SIZE_MAX : quads * 4;
}

void base64_encode(const uint8_t *data, size_t n, char *out)
{
	size_t i = 0;

	for (; n - i >= 3; i += 3) {
		const uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];

		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	if (n - i) {
		const uint32_t v = (uint32_t)data[i] << 16 |
				   (n - i == 2 ? (uint32_t)data[i + 1] << 8 : 0);

		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = n - i == 2 ? alphabet[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int val(const char *text, size_t i)
{
	return value[(unsigned char)text[i]];
}

/* The offset to report (see the top), or len + 1 when the text is valid;
 * *data: the length less the padding. (A valid len is a multiple of 4, so
 * len + 1 cannot wrap.) */
static size_t find_error(const char *text, size_t len, size_t *data)
{
	size_t n = len, pad;

	while (n > 0 && text[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++)
		if (val(text, i) < 0)
			return i;
	pad = len - n;
	if (len % 4 || pad > 2)
		return len;
	if (pad && (val(text, n - 1) & (pad == 2 ? 0x0f : 0x03)))
		return n - 1;
	*data = n;
	return len + 1;
}

/* Decodes n data characters (already checked) into out. */
static void decode(const char *text, size_t n, uint8_t *out)
{
	size_t i = 0;

	for (; n - i >= 4; i += 4) {
		const uint32_t v = (uint32_t)val(text, i) << 18 | (uint32_t)val(text, i + 1) << 12 |
				   (uint32_t)val(text, i + 2) << 6 | (uint32_t)val(text, i + 3);

		*out++ = (uint8_t)(v >> 16);
		*out++ = (uint8_t)(v >> 8);
		*out++ = (uint8_t)v;
	}
	if (n - i >= 2) {
		const uint32_t v = (uint32_t)val(text, i) << 18 | (uint32_t)val(text, i + 1) << 12 |
				   (n - i == 3 ? (uint32_t)val(text, i + 2) << 6 : 0);

		*out++ = (uint8_t)(v >> 16);
		if (n - i == 3)
			*out = (uint8_t)(v >> 8);
	}
}

int base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len,
		  size_t *bad_offset)
{
	size_t n = 0, bad = find_error(text, len, &n), bytes;

	*out = NULL;
	*out_len = 0;
	if (bad <= len) {
		if (bad_offset)
			*bad_offset = bad;
		return -1;
	}
	bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (!(*out = malloc(bytes ? bytes : 1)))
		return -2;
	decode(text, n, *out);
	*out_len = bytes;
	return 0;
}

int base64_decode_field(const char *text, size_t len, uint8_t **out, size_t *out_len,
			size_t *bad_offset)
{
	size_t start = 0, n, padded;
	char *copy;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (len >= 5 && !strncmp(text, "data:", 5)) {
		const char *comma = memchr(text, ',', len);
		if (!comma || comma - text < 12 || strncmp(comma - 7, ";base64", 7)) {
			if (bad_offset)
				*bad_offset = 0;
			return -1;
		}
		start = (size_t)(comma - text) + 1;
	}
	n = len - start;
	if (!memchr(text + start, '-', n) && !memchr(text + start, '_', n) && n % 4 == 0) {
		rc = base64_decode(text + start, n, out, out_len, bad_offset);
		if (rc == -1 && bad_offset)
			*bad_offset += start;
		return rc;
	}
	/* URL-safe or unpadded: translate into a padded standard copy */
	padded = n + (4 - n % 4) % 4;
	if (padded < n || !(copy = malloc(padded ? padded : 1)))
		return -2;
	for (size_t i = 0; i < n; i++)
		copy[i] = text[start + i] == '-' ? '+' : text[start + i] == '_' ? '/' : text[start + i];
	for (size_t i = n; i < padded; i++)
		copy[i] = '=';
	rc = base64_decode(copy, padded, out, out_len, bad_offset);
	free(copy);
	if (rc == -1 && bad_offset)
		*bad_offset = start + (*bad_offset < n ? *bad_offset : n);
	return rc;
}

/*
 * base64.h - RFC 4648 base64 (standard alphabet, '=' padding) for JSON
 * request bodies and response fields.
 *
 * The decoder is strict: it rejects characters outside the alphabet, wrong
 * padding and non-zero trailing bits, and reports the offset of the first bad
 * character; it accepts no whitespace. Sizes are overflow-checked.
 */
#ifndef STIPPLE_SERVER_BASE64_H
#define STIPPLE_SERVER_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, not counting a terminating NUL; SIZE_MAX
 * on overflow. */
size_t base64_encoded_size(size_t n);

/* Encodes data[0..n) into out (base64_encoded_size(n) + 1 bytes, NUL
 * terminated). */
void base64_encode(const uint8_t *data, size_t n, char *out);

/* Decodes text[0..len). The caller owns *out (freed with free(); never NULL
 * on success, even for empty input) and gets its length in *out_len.
 * Returns 0, or -1 with *bad_offset set to the offset of the first invalid
 * character (len when the length or padding is wrong), or -2 when out of
 * memory. */
int base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len,
		  size_t *bad_offset);

/* An image field of a JSON body as browsers and clients send it: plain
 * base64 (as base64_decode), or the URL-safe alphabet ('-' and '_' for '+'
 * and '/', RFC 4648 section 5) with or without its padding, optionally
 * behind a data: URI prefix ("data:image/jpeg;base64,"; a data: URI that
 * is not base64 is an error at offset 0). Offsets are into text. */
int base64_decode_field(const char *text, size_t len, uint8_t **out, size_t *out_len,
			size_t *bad_offset);

#endif

/*
 * test-base64.c - the strict RFC 4648 codec (imageio/base64.c).
 *
 * The RFC 4648 section 10 vectors both ways; round trips of pseudo-random
 * data of every length 0..300 (and re-encoding each decoded text gives it
 * back); every kind of bad input with the offset it must report (see the top
 * of base64.c for the order); and the size overflow guard. Run under ASan to
 * catch reads past the text (each bad text is copied to a block of its
 * exact size).
 */
#include <stdint.h>
#include <string.h>

#include "base64.h"
#include "testutil.h"

static const struct {
	const char *plain, *coded;
} rfc_vectors[] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

static char *encode(const uint8_t *data, size_t n)
{
	char *out = malloc(base64_encoded_size(n) + 1);

	if (!out)
		HARNESS_ERROR("out of memory");
	base64_encode(data, n, out);
	return out;
}

/* Decodes text from an exact-size copy (so ASan sees any overread). */
static int decode_exact(const char *text, size_t len, uint8_t **out, size_t *out_len,
			size_t *bad)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	if (!copy)
		HARNESS_ERROR("out of memory");
	memcpy(copy, text, len);
	rc = base64_decode(copy, len, out, out_len, bad);
	free(copy);
	return rc;
}

static void test_rfc_vectors(void)
{
	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		const char *plain = rfc_vectors[i].plain, *coded = rfc_vectors[i].coded;
		const size_t n = strlen(plain);
		char *enc = encode((const uint8_t *)plain, n);
		uint8_t *dec = NULL;
		size_t dec_len = 99, bad = 99;
		int rc;

		CHECK(base64_encoded_size(n) == strlen(coded), "size of \"%s\"", plain);
		CHECK(!strcmp(enc, coded), "encode \"%s\": got \"%s\", want \"%s\"", plain, enc, coded);
		rc = decode_exact(coded, strlen(coded), &dec, &dec_len, &bad);
		CHECK(rc == 0, "decode \"%s\": rc %d", coded, rc);
		CHECK(dec != NULL, "decode \"%s\": NULL output", coded);
		CHECK(dec_len == n && (!n || (dec && !memcmp(dec, plain, n))), "decode \"%s\"", coded);
		free(dec);
		free(enc);
	}
}

static void test_round_trips(void)
{
	unsigned long long state = 0x9e3779b97f4a7c15ULL;
	uint8_t data[300];

	for (size_t n = 0; n <= sizeof(data); n++) {
		char *enc;
		uint8_t *dec = NULL;
		size_t dec_len = 0, bad = 0;
		int rc;

		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)((test_randf(&state) + 1.0f) * 128.0f);
		enc = encode(data, n);
		CHECK(strlen(enc) == base64_encoded_size(n), "length %zu: encoded size", n);
		rc = decode_exact(enc, strlen(enc), &dec, &dec_len, &bad);
		CHECK(rc == 0 && dec_len == n && (!n || !memcmp(dec, data, n)),
		      "length %zu: round trip (rc %d, %zu bytes)", n, rc, dec_len);
		free(dec);
		free(enc);
	}
}

/* Every byte value as the only character of an otherwise valid text. */
static void test_every_byte(void)
{
	int valid = 0;

	for (int c = 0; c < 256; c++) {
		char text[8] = {'Q', 'U', 'J', 'D', 'R', 'A', '=', '='};   /* "ABCD" */
		uint8_t *dec = NULL;
		size_t dec_len = 0, bad = 99;
		int rc;

		text[1] = (char)c;
		rc = decode_exact(text, sizeof(text), &dec, &dec_len, &bad);
		if (rc == 0) {
			valid++;
		} else {
			CHECK(rc == -1 && bad == 1, "byte 0x%02x: rc %d, offset %zu", c, rc, bad);
			CHECK(dec == NULL, "byte 0x%02x: output on failure", c);
		}
		free(dec);
	}
	CHECK(valid == 64, "%d bytes accepted, want 64", valid);
}

static const struct {
	const char *text;
	size_t bad;   /* (size_t)-1: the length */
	const char *why;
} bad_inputs[] = {
	{"Zm9v YmFy", 4, "space"},
	{"Zm9vYmFy\n", 8, "newline at the end"},
	{"\nZm9vYmFy", 0, "newline at the start"},
	{"Zm9v\r\nYmFy", 4, "CRLF"},
	{"Zm9v\tYmFy", 4, "tab"},
	{"Zm9-YmFy", 3, "base64url '-'"},
	{"Zm9_YmFy", 3, "base64url '_'"},
	{"Zm9vYmF*", 7, "'*'"},
	{"Zm9vYm\x80y", 6, "high byte"},
	{"Zm9vYm\xc3\xa9", 6, "UTF-8"},
	{"=m9v", 0, "'=' first"},
	{"Zg==Zm8=", 2, "'=' then data"},
	{"Zm=v", 2, "'=' inside a quad"},
	{"Zg=x", 2, "'=' before the last character"},
	{"Zg", (size_t)-1, "no padding"},
	{"Zm8", (size_t)-1, "no padding (2 bytes)"},
	{"Zm9vY", (size_t)-1, "one data character over"},
	{"Zg=", (size_t)-1, "one '=' short"},
	{"Zm8==", (size_t)-1, "one '=' too many"},
	{"Zg===", (size_t)-1, "three '=' (length 5)"},
	{"Z===", (size_t)-1, "three '='"},
	{"====", (size_t)-1, "only '='"},
	{"Zm9v====", (size_t)-1, "a quad of '='"},
	{"=", (size_t)-1, "a single '='"},
	{"Z", (size_t)-1, "a single character"},
	{"Zh==", 1, "trailing bits (one byte)"},
	{"Zm9=", 2, "trailing bits (two bytes)"},
	{"Zm9vYh==", 5, "trailing bits after a quad"},
	{"//==", 1, "trailing bits of '/'"},
	{"Z h=", 1, "a space before bad trailing bits"},
	{"Zh=", (size_t)-1, "bad length before bad trailing bits"},
};

static void test_bad_inputs(void)
{
	for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const char *text = bad_inputs[i].text;
		const size_t len = strlen(text);
		const size_t want = bad_inputs[i].bad == (size_t)-1 ? len : bad_inputs[i].bad;
		static uint8_t sentinel;
		uint8_t *dec = &sentinel;
		size_t dec_len = 99, bad = 99;
		int rc = decode_exact(text, len, &dec, &dec_len, &bad);

		CHECK(rc == -1, "%s (\"%s\"): rc %d", bad_inputs[i].why, text, rc);
		CHECK(bad == want, "%s (\"%s\"): offset %zu, want %zu", bad_inputs[i].why, text, bad,
		      want);
		CHECK(dec == NULL && dec_len == 0, "%s: output on failure", bad_inputs[i].why);
		if (rc == 0)
			free(dec);
	}
}

/* An embedded NUL is a bad character like any other (len is what counts). */
static void test_nul_and_null(void)
{
	static const char text[] = "Zm9v\0mFy";
	uint8_t *dec = NULL;
	size_t dec_len = 0, bad = 99;

	CHECK(decode_exact(text, 8, &dec, &dec_len, &bad) == -1 && bad == 4, "NUL: offset %zu",
	      bad);
	CHECK(decode_exact("Zm9v", 4, &dec, &dec_len, NULL) == 0 && dec_len == 3,
	      "bad_offset may be NULL");
	free(dec);
	dec = NULL;
	CHECK(decode_exact("Zm9", 3, &dec, &dec_len, NULL) == -1, "bad_offset NULL, bad text");
	CHECK(base64_decode(NULL, 0, &dec, &dec_len, &bad) == 0 && dec && dec_len == 0,
	      "NULL text of length 0");
	free(dec);
}

static void test_sizes(void)
{
	CHECK(base64_encoded_size(0) == 0, "size 0");
	CHECK(base64_encoded_size(1) == 4, "size 1");
	CHECK(base64_encoded_size(3) == 4, "size 3");
	CHECK(base64_encoded_size(4) == 8, "size 4");
	CHECK(base64_encoded_size(SIZE_MAX) == SIZE_MAX, "size SIZE_MAX");
	CHECK(base64_encoded_size(SIZE_MAX / 4 * 3) == SIZE_MAX / 4 * 4, "largest exact");
	CHECK(base64_encoded_size(SIZE_MAX / 4 * 3 + 1) == SIZE_MAX, "one over");
}

/* base64_decode_field: data: URIs, the URL-safe alphabet, missing padding. */
static void field_is(const char *text, const char *want, const char *what)
{
	uint8_t *out = NULL;
	size_t n = 0, bad = 0;
	int rc = base64_decode_field(text, strlen(text), &out, &n, &bad);

	CHECK(rc == 0 && n == strlen(want) && !memcmp(out, want, n), "%s: rc %d, %zu bytes", what,
	      rc, n);
	free(out);
}

static void field_fails_at(const char *text, size_t at, const char *what)
{
	uint8_t *out = NULL;
	size_t n = 0, bad = 12345;
	int rc = base64_decode_field(text, strlen(text), &out, &n, &bad);

	CHECK(rc == -1 && bad == at && !out, "%s: rc %d, bad offset %zu (want %zu)", what, rc, bad,
	      at);
	free(out);
}

static void test_fields(void)
{
	/* "\xfb\xff\xbf?" is +/+/Pw== in the standard alphabet */
	field_is("+/+/Pw==", "\xfb\xff\xbf?", "standard");
	field_is("-_-_Pw==", "\xfb\xff\xbf?", "URL-safe");
	field_is("-_-_Pw", "\xfb\xff\xbf?", "URL-safe unpadded");
	field_is("Zm9vYg", "foob", "standard unpadded");
	field_is("data:image/jpeg;base64,Zm9vYmFy", "foobar", "data: URI");
	field_is("data:;base64,Zm8", "fo", "data: URI, no media type, unpadded");
	field_is("", "", "empty");
	field_fails_at("data:image/jpeg,Zm9v", 0, "data: URI without ;base64");
	field_fails_at("data:image/jpeg;base64", 0, "data: URI without a comma");
	field_fails_at("data:image/png;base64,Zm9v!mFy", 26, "bad character after a data: prefix");
	field_fails_at("Zm9v-m!y", 6, "bad character in URL-safe text");
	field_fails_at("Zm9vY", 5, "one character too many");
	field_fails_at("Zm9vYm==Fy", 6, "padding before data");
}

int main(void)
{
	test_fields();
	test_rfc_vectors();
	test_round_trips();
	test_every_byte();
	test_bad_inputs();
	test_nul_and_null();
	test_sizes();
	return test_main_end();
}

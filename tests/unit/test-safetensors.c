/*
 * test-safetensors.c - the safetensors reader (engine/model/safetensors.c).
 *
 * Files are built in memory from a header written out as JSON text plus the
 * raw data bytes, so that each malformed case is exactly the bytes it names.
 * Valid files must load with the right values (F16 and BF16 conversion is
 * checked on known bit patterns, and F16 on every finite pattern against
 * ldexp); every malformed one must fail with STP_ERR_FORMAT and a message
 * holding a telling word. Every prefix of a valid file must be rejected
 * without a crash (run under ASan to catch out-of-bounds reads).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "model/safetensors.h"
#include "testutil.h"

struct file {
	unsigned char *bytes;
	size_t size;
};

/* The file: 8-byte LE length of header, the header, then dlen bytes of data. */
static struct file file_make(const char *header, const void *data, size_t dlen)
{
	const size_t hlen = strlen(header);
	struct file f = {malloc(8 + hlen + dlen + 1), 8 + hlen + dlen};

	if (!f.bytes)
		HARNESS_ERROR("out of memory");
	for (int i = 0; i < 8; i++)
		f.bytes[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	memcpy(f.bytes + 8, header, hlen);
	if (dlen)
		memcpy(f.bytes + 8 + hlen, data, dlen);
	return f;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static uint32_t float_bits(float f)
{
	uint32_t b;
	memcpy(&b, &f, sizeof(b));
	return b;
}

/* Parses f expecting failure with STP_ERR_FORMAT and word in the message. */
static void expect_fail(struct file f, const char *word, const char *what)
{
	static struct stp_st_file sentinel;
	struct stp_st_file *st = &sentinel;   /* the parser must reset it to NULL */
	char err[256] = "";
	enum stp_status s = stp_st_parse(f.bytes, f.size, &st, err, sizeof(err));

	CHECK(s == STP_ERR_FORMAT, "%s: status %d, expected STP_ERR_FORMAT", what, (int)s);
	CHECK(st == NULL, "%s: *out not NULL after a failure", what);
	CHECK(strstr(err, word) != NULL, "%s: message '%s' lacks '%s'", what, err, word);
	CHECK(strchr(err, '\n') == NULL, "%s: message '%s' is not one line", what, err);
	if (st != &sentinel)
		stp_st_free(st);
	free(f.bytes);
}

/* The same for a header over data of dlen zero bytes. */
static void expect_fail_header(const char *header, size_t dlen, const char *word)
{
	unsigned char *zeros = calloc(dlen ? dlen : 1, 1);
	if (!zeros)
		HARNESS_ERROR("out of memory");
	expect_fail(file_make(header, zeros, dlen), word, header);
	free(zeros);
}

static void test_valid(void)
{
	static const char header[] =
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
		"\"b\":{\"shape\":[8],\"dtype\":\"F16\",\"data_offsets\":[24,40]},"
		"\"c\":{\"dtype\":\"BF16\",\"shape\":[2,1,2],\"data_offsets\":[40,48]},"
		"\"empty\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[48,48]},"
		"\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[52,56]},"
		"\"__metadata__\":{\"format\":\"stipple\",\"x\":\"\"}}   ";
	static const float a[6] = {1.5f, -2.0f, 0.0f, 3.25e-30f, -1e30f, 1.17549435e-38f};
	static const uint16_t f16[8] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x8000,
					0x0400, 0x3555};
	const float f16_want[8] = {1.0f, -2.0f, ldexpf(1, -24), ldexpf(1023, -24), 65504.0f,
				   -0.0f, ldexpf(1, -14), ldexpf(1365, -12)};
	static const uint16_t bf16[4] = {0x3f80, 0xc040, 0x0001, 0x7f7f};
	const float bf16_want[4] = {1.0f, -3.0f, ldexpf(1, -133), ldexpf(255, 120)};
	unsigned char data[56] = {0};
	struct stp_st_file *f = NULL;
	const struct stp_st_tensor *t;
	char err[256] = "";
	enum stp_status s;
	struct file file;

	for (int i = 0; i < 6; i++)
		put_le32(data + 4 * i, float_bits(a[i]));
	for (int i = 0; i < 8; i++)
		put_le16(data + 24 + 2 * i, f16[i]);
	for (int i = 0; i < 4; i++)
		put_le16(data + 40 + 2 * i, bf16[i]);
	put_le32(data + 52, float_bits(7.0f));   /* a gap of 4 bytes before it */
	file = file_make(header, data, sizeof(data));
	s = stp_st_parse(file.bytes, file.size, &f, err, sizeof(err));
	CHECK(s == STP_OK, "valid file: status %d (%s)", (int)s, err);
	free(file.bytes);
	if (s != STP_OK)
		return;
	CHECK(f->ntensors == 5, "%zu tensors", f->ntensors);
	CHECK(f->nmeta == 2, "%zu metadata", f->nmeta);
	CHECK(stp_st_meta(f, "format") && strcmp(stp_st_meta(f, "format"), "stipple") == 0,
	      "metadata 'format'");
	CHECK(stp_st_meta(f, "x") && stp_st_meta(f, "x")[0] == '\0', "empty metadata value");
	CHECK(stp_st_meta(f, "nope") == NULL, "absent metadata key");

	t = stp_st_find(f, "a");
	CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->count == 6,
	      "F32 tensor shape");
	for (int i = 0; t && i < 6; i++)
		CHECK(float_bits(t->data[i]) == float_bits(a[i]), "F32 [%d] %g != %g", i,
		      t->data[i], a[i]);
	CHECK(t && ((uintptr_t)t->data % STP_ALIGN) == 0, "tensor data aligned");

	t = stp_st_find(f, "b");
	CHECK(t && t->ndim == 1 && t->count == 8, "F16 tensor shape");
	for (int i = 0; t && i < 8; i++)
		CHECK(float_bits(t->data[i]) == float_bits(f16_want[i]),
		      "F16 0x%04x -> %g (0x%08x), expected %g", f16[i], t->data[i],
		      float_bits(t->data[i]), f16_want[i]);

	t = stp_st_find(f, "c");
	CHECK(t && t->ndim == 3 && t->count == 4, "BF16 tensor shape");
	for (int i = 0; t && i < 4; i++)
		CHECK(float_bits(t->data[i]) == float_bits(bf16_want[i]),
		      "BF16 0x%04x -> %g, expected %g", bf16[i], t->data[i], bf16_want[i]);

	t = stp_st_find(f, "empty");
	CHECK(t && t->count == 0 && t->data != NULL, "empty tensor has non-NULL data");
	t = stp_st_find(f, "scalar");
	CHECK(t && t->ndim == 0 && t->count == 1 && t->data[0] == 7.0f, "0-d tensor");
	CHECK(stp_st_find(f, "missing") == NULL, "find of an absent name");

	{
		const int64_t good[2] = {2, 3}, bad[2] = {3, 2}, one[1] = {6};
		const float *p;
		err[0] = '\0';
		p = stp_st_take(f, "a", bad, 2, err, sizeof(err));
		CHECK(p == NULL && strstr(err, "has shape [2, 3], expected [3, 2]"),
		      "take with the wrong shape: '%s'", err);
		p = stp_st_take(f, "a", one, 1, err, sizeof(err));
		CHECK(p == NULL && strstr(err, "expected [6]"), "take with the wrong rank: '%s'",
		      err);
		p = stp_st_take(f, "zz", good, 2, err, sizeof(err));
		CHECK(p == NULL && strstr(err, "missing tensor 'zz'"), "take of a missing name: '%s'",
		      err);
		p = stp_st_take(f, "a", good, 2, err, sizeof(err));
		CHECK(p == stp_st_find(f, "a")->data && p[0] == 1.5f, "take with the right shape");
		CHECK(stp_st_find(f, "a")->taken, "taken flag set");
	}
	{
		const int64_t bs[1] = {8}, cs[3] = {2, 1, 2}, es[2] = {3, 0};
		CHECK(stp_st_take(f, "b", bs, 1, err, sizeof(err)) != NULL, "take b");
		CHECK(stp_st_take(f, "c", cs, 3, err, sizeof(err)) != NULL, "take c");
		CHECK(stp_st_take(f, "empty", es, 2, err, sizeof(err)) != NULL, "take empty");
		s = stp_st_check_all_taken(f, err, sizeof(err));
		CHECK(s == STP_ERR_FORMAT && strstr(err, "unexpected tensor 'scalar'"),
		      "check_all_taken with one left: %d '%s'", (int)s, err);
		CHECK(stp_st_take(f, "scalar", NULL, 0, err, sizeof(err)) != NULL, "take scalar");
		CHECK(stp_st_check_all_taken(f, err, sizeof(err)) == STP_OK, "all taken");
	}
	stp_st_free(f);

	/* An empty header object is a valid file with no tensors. */
	file = file_make("{}", NULL, 0);
	f = NULL;
	s = stp_st_parse(file.bytes, file.size, &f, err, sizeof(err));
	CHECK(s == STP_OK && f && f->ntensors == 0 && f->nmeta == 0, "empty header: %d", (int)s);
	CHECK(stp_st_check_all_taken(f, err, sizeof(err)) == STP_OK, "empty file all taken");
	stp_st_free(f);
	free(file.bytes);
	stp_st_free(NULL);
}

/* F16 -> F32 on every finite half, against an ldexp reference. */
static void test_f16_sweep(void)
{
	const size_t n = 2 * 31 * 1024;
	unsigned char *data = malloc(2 * n);
	struct stp_st_file *f = NULL;
	char header[160], err[256] = "";
	size_t k = 0, bad = 0;
	struct file file;
	enum stp_status s;

	if (!data)
		HARNESS_ERROR("out of memory");
	for (uint32_t h = 0; h < 0x10000; h++)
		if ((h & 0x7c00) != 0x7c00)
			put_le16(data + 2 * k++, h);
	snprintf(header, sizeof(header),
		 "{\"h\":{\"dtype\":\"F16\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", n, 2 * n);
	file = file_make(header, data, 2 * n);
	s = stp_st_parse(file.bytes, file.size, &f, err, sizeof(err));
	CHECK(s == STP_OK, "F16 sweep: %s", err);
	for (size_t i = 0; s == STP_OK && i < n; i++) {
		const uint32_t h = (uint32_t)data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
		const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
		float want = e ? ldexpf((float)(m | 0x400), e - 25) : ldexpf((float)m, -24);
		if (h & 0x8000)
			want = -want;
		if (float_bits(f->tensors[0].data[i]) != float_bits(want) && bad++ < 5)
			CHECK(0, "F16 0x%04x -> %g, expected %g", h, f->tensors[0].data[i], want);
	}
	CHECK(bad == 0, "%zu F16 patterns converted wrongly", bad);
	stp_st_free(f);
	free(file.bytes);
	free(data);
}

/* A one-tensor file of the given dtype holding the element bits. */
static void expect_nonfinite(const char *dtype, uint32_t bits, int size, const char *word)
{
	unsigned char data[8] = {0};
	char header[160];

	if (size == 4)
		put_le32(data + 4, bits);
	else
		put_le16(data + 2, bits);
	snprintf(header, sizeof(header),
		 "{\"w\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]}}", dtype, 2 * size);
	expect_fail(file_make(header, data, 2 * (size_t)size), word, header);
}

static void test_nonfinite(void)
{
	expect_nonfinite("F32", 0x7fc00000u, 4, "NaN");
	expect_nonfinite("F32", 0xffc00001u, 4, "NaN");
	expect_nonfinite("F32", 0x7f800000u, 4, "Inf");
	expect_nonfinite("F32", 0xff800000u, 4, "Inf");
	expect_nonfinite("F16", 0x7c00, 2, "Inf");
	expect_nonfinite("F16", 0xfc00, 2, "Inf");
	expect_nonfinite("F16", 0x7e00, 2, "NaN");
	expect_nonfinite("F16", 0x7c01, 2, "NaN");
	expect_nonfinite("BF16", 0x7f80, 2, "Inf");
	expect_nonfinite("BF16", 0x7fc0, 2, "NaN");
	expect_nonfinite("F32", 0x7fc00000u, 4, "'w'");
}

static void test_container(void)
{
	unsigned char raw[16] = {0};
	struct file f;

	/* Shorter than the length field. */
	for (size_t n = 0; n < 8; n++) {
		f.bytes = malloc(8);
		if (!f.bytes)
			HARNESS_ERROR("out of memory");
		memset(f.bytes, 0, 8);
		f.size = n;
		expect_fail(f, "truncated", "a file under 8 bytes");
	}
	f = file_make("", NULL, 0);
	expect_fail(f, "header length is 0", "header length 0");
	/* Header length past the end, and huge. */
	f = file_make("{}", NULL, 0);
	f.bytes[0] = 3;
	expect_fail(f, "past the end", "header length past the end");
	f = file_make("{}", NULL, 0);
	memset(f.bytes, 0xff, 8);
	expect_fail(f, "limit", "header length 2^64-1");
	put_le32(raw, 200u * 1000 * 1000);
	f.bytes = malloc(sizeof(raw));
	if (!f.bytes)
		HARNESS_ERROR("out of memory");
	memcpy(f.bytes, raw, sizeof(raw));
	f.size = sizeof(raw);
	expect_fail(f, "limit", "header length 200 MB");

	/* Header JSON. */
	expect_fail_header("{\"a\":", 0, "JSON");
	expect_fail_header("{\"a\":{}} x", 0, "JSON");
	expect_fail_header("\xff\xfe", 0, "JSON");
	expect_fail_header("[1, 2]", 0, "not an object");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
			   "JSON");
	expect_fail_header("{\"a\":[]}", 0, "must be an object");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
			   "\"extra\":1}}", 4, "unknown key 'extra'");
	expect_fail_header("{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
			   4, "control character");

	/* dtype. */
	expect_fail_header("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
			   "dtype 'I64'");
	expect_fail_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
			   "dtype");
	expect_fail_header("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			   "dtype");
	expect_fail_header("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
			   "dtype");

	/* shape. */
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
			   "shape");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
			   "shape");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4,
			   "shape");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
			   "\"data_offsets\":[0,4]}}", 4, "shape");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
			   "\"data_offsets\":[0,4]}}", 4, "too many elements");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
			   "\"data_offsets\":[0,4]}}", 4, "too many elements");

	/* data_offsets. */
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 8,
			   "data_offsets [0, 12] out of range (data section is 8 bytes)");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
			   "out of range");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
			   "\"data_offsets\":[9223372036854775800,9223372036854775807]}}", 8,
			   "out of range");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
			   "data_offsets");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
			   "data_offsets");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 8,
			   "data_offsets");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
			   "needs 12");
	expect_fail_header("{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
			   16, "needs 8");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
			   "overlap");
	expect_fail_header("{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
			   "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
			   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 24,
			   "overlap");
	expect_fail_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
			   "overlap");

	/* __metadata__. */
	expect_fail_header("{\"__metadata__\":{\"format\":1}}", 0, "metadata");
	expect_fail_header("{\"__metadata__\":{\"a\":\"b\",\"c\":null}}", 0, "metadata");
	expect_fail_header("{\"__metadata__\":[\"a\"]}", 0, "metadata");
	expect_fail_header("{\"__metadata__\":\"a\"}", 0, "metadata");
}

/* Every prefix of a valid file fails cleanly; the whole file loads. */
static void test_truncation(void)
{
	static const char header[] =
		"{\"__metadata__\":{\"architecture\":\"{}\"},"
		"\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
		"\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
		"\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[22,24]}}  ";
	unsigned char data[24] = {0};
	struct file whole = file_make(header, data, sizeof(data));
	int failures = 0;

	for (size_t n = 0; n <= whole.size; n++) {
		/* Each prefix in its own allocation, so ASan sees any read past it. */
		unsigned char *copy = malloc(n ? n : 1);
		struct stp_st_file *f = NULL;
		char err[256] = "";
		enum stp_status s;

		if (!copy)
			HARNESS_ERROR("out of memory");
		memcpy(copy, whole.bytes, n);
		s = stp_st_parse(copy, n, &f, err, sizeof(err));
		if (n < whole.size && (s != STP_ERR_FORMAT || f != NULL || !err[0]))
			failures++;
		if (n == whole.size)
			CHECK(s == STP_OK && f && f->ntensors == 3, "the whole file: %s", err);
		stp_st_free(f);
		free(copy);
	}
	CHECK(failures == 0, "%d prefixes did not fail cleanly with STP_ERR_FORMAT", failures);
	free(whole.bytes);
}

int main(void)
{
	test_valid();
	test_f16_sweep();
	test_nonfinite();
	test_container();
	test_truncation();
	return test_main_end();
}

/*
 * test-server-faults.c - allocation-failure testing of stippled's request
 * path, after SQLite's fault simulation (test-faults.c does the engine's
 * own operations). The daemon runs in-process: server_start on its real
 * sources, built with every allocation through the engine's gate
 * (libstippled-gated.la, gated-alloc.h), jansson's included (the daemon's
 * allocator for it, json-alloc.c, is one of those sources). For every N,
 * the Nth allocation from the start of one real HTTP request fails. The
 * reply must come whole before a socket timeout (no crash, no hang) and be
 * either 200 with exactly the undisturbed reply (the failure was absorbed)
 * or 503 + Retry-After with the API's {"error": ...}; the next request,
 * with no failure, must give exactly the undisturbed reply again (the
 * daemon is still usable). ASan's leak check (CI) shows nothing leaked.
 *
 * Requests: POST /detect (a JPEG, nanodet-g), POST /segment (a PNG,
 * stipple-r18-detseg, as the default model lacks that head), both at
 * budget 0.5, and a KServe v2 infer (JSON, base64) on nanodet-g. /detect
 * and /segment each fail at a new input size (image B on a session that
 * last ran A: the engine reshapes, and its allocations are in the walk) and
 * at a repeated one (A after A: the engine allocates nothing); the v2 infer
 * at a repeated size. Replies are compared without their request ids and
 * timings, and parsed only once no failure is armed. Bodies stay under 64
 * KiB, so that reading one takes the same allocations however it arrives.
 *
 * N grows until a request completes without meeting the armed failure: by 1
 * up to 64, then by 7 (test_next_fault); STIPPLE_FAULTS_ALL=1 tries every N.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "testutil.h"
#include "base/internal.h"
#include "base64.h"
#include "image.h"
#include "server.h"

#define MAX_N 100000          /* far above any request's allocations */
#define REPLY_TIMEOUT_S 120   /* a reply slower than this is a hang */

/* ---- test images ------------------------------------------------------------ */

struct picture {
	uint8_t *rgb;
	int w, h;
};

/* The photo at srcdir/path, every step-th pixel of every step-th row. */
static struct picture load_photo(const char *srcdir, const char *path, int step)
{
	struct picture full, p;
	struct image_info info;
	char file[4096], err[256];
	unsigned char *bytes;
	size_t size;

	snprintf(file, sizeof(file), "%s/%s", srcdir, path);
	bytes = test_read_file(file, &size);
	if (image_decode(bytes, size, 1u << 30, &full.rgb, &info, err, sizeof(err)) != IMAGE_OK)
		HARNESS_ERROR("%s: %s", file, err);
	free(bytes);
	p.w = info.width / step;
	p.h = info.height / step;
	p.rgb = malloc((size_t)p.w * p.h * 3);
	if (!p.rgb)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < p.h; y++)
		for (int x = 0; x < p.w; x++)
			memcpy(p.rgb + ((size_t)y * p.w + x) * 3,
			       full.rgb + ((size_t)y * step * info.width + (size_t)x * step) * 3, 3);
	free(full.rgb);
	return p;
}

/* The left `width` columns of p as a JPEG (quality 90); free() it. */
static uint8_t *jpeg_of(const struct picture *p, int width, size_t *size)
{
	tjhandle tj = tjInitCompress();
	unsigned char *tj_buf = NULL;
	unsigned long tj_size = 0;
	uint8_t *out;

	if (!tj || tjCompress2(tj, p->rgb, width, p->w * 3, p->h, TJPF_RGB, &tj_buf, &tj_size,
			       TJSAMP_420, 90, 0))
		HARNESS_ERROR("cannot encode a JPEG");
	out = malloc(tj_size);
	if (!out)
		HARNESS_ERROR("out of memory");
	memcpy(out, tj_buf, tj_size);
	*size = tj_size;
	tjFree(tj_buf);
	tjDestroy(tj);
	return out;
}

/* The left `width` columns of p as a PNG; free() it. */
static uint8_t *png_of(const struct picture *p, int width, size_t *size)
{
	uint8_t *crop = malloc((size_t)width * p->h * 3), *png;

	if (!crop)
		HARNESS_ERROR("out of memory");
	for (int y = 0; y < p->h; y++)
		memcpy(crop + (size_t)y * width * 3, p->rgb + (size_t)y * p->w * 3, (size_t)width * 3);
	if (image_encode_png_rgb8(crop, width, p->h, &png, size))
		HARNESS_ERROR("cannot encode a PNG");
	free(crop);
	return png;
}

/* A KServe v2 request holding the encoded image, budget 0.5; free() it. */
static uint8_t *v2_request_of(const uint8_t *image, size_t n, size_t *size)
{
	static const char head[] = "{\"parameters\": {\"sparsity_budget\": 0.5}, \"inputs\": "
				   "[{\"name\": \"image\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"";
	static const char tail[] = "\"]}]}";
	const size_t b64 = base64_encoded_size(n);
	char *out = malloc(sizeof(head) + b64 + sizeof(tail));

	if (!out)
		HARNESS_ERROR("out of memory");
	memcpy(out, head, sizeof(head) - 1);
	base64_encode(image, n, out + sizeof(head) - 1);
	memcpy(out + sizeof(head) - 1 + b64, tail, sizeof(tail));
	*size = sizeof(head) - 1 + b64 + sizeof(tail) - 1;
	return (uint8_t *)out;
}

/* ---- HTTP ------------------------------------------------------------------ */

struct http_request {
	const char *path, *type;
	uint8_t *body;   /* owned */
	size_t len;
};

struct reply {
	int complete;      /* a status line, headers and the whole body came */
	int status;
	int retry_after;   /* the headers have Retry-After */
	json_t *doc;       /* the body, when it is JSON */
};

static int connect_daemon(int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval timeout = {REPLY_TIMEOUT_S, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		HARNESS_ERROR("cannot connect to the daemon: %s", strerror(errno));
	return fd;
}

static int send_all(int fd, const void *data, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = send(fd, (const char *)data + done, n - done, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

/* Everything the daemon sends until it closes; NUL-terminated; NULL on a
 * timeout or a reset. */
static char *receive_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	ssize_t k;

	if (!buf)
		HARNESS_ERROR("out of memory");
	while ((k = recv(fd, buf + n, cap - n - 1, 0)) > 0) {
		n += (size_t)k;
		if (n + 1 == cap && !(buf = realloc(buf, cap *= 2)))
			HARNESS_ERROR("out of memory");
	}
	if (k < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The value of header `name` in the head (status line and headers), or NULL. */
static const char *header(const char *head, const char *name)
{
	const size_t n = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n"))
		if (!strncasecmp(line + 2, name, n) && line[2 + n] == ':')
			return line + 3 + n;
	return NULL;
}

/* The reply in text (NULL: none came whole), which it frees. Parsed JSON:
 * never while a failure is armed (jansson allocates through the gate). */
static void parse_reply(char *text, size_t len, struct reply *out)
{
	char *end_of_head = text ? strstr(text, "\r\n\r\n") : NULL;
	const char *cl;
	size_t body_len;

	memset(out, 0, sizeof(*out));
	if (!end_of_head || sscanf(text, "HTTP/1.1 %d", &out->status) != 1) {
		free(text);
		return;
	}
	end_of_head[2] = '\0';   /* keeps the last header's CRLF for header() */
	cl = header(text, "Content-Length");
	body_len = len - (size_t)(end_of_head + 4 - text);
	out->complete = cl && strtoull(cl, NULL, 10) == body_len;
	out->retry_after = header(text, "Retry-After") != NULL;
	out->doc = json_loadb(end_of_head + 4, body_len, 0, NULL);
	free(text);
}

/* Sends q to the daemon on port; returns its whole reply for parse_reply. */
static char *exchange(int port, const struct http_request *q, size_t *len)
{
	char head[512];
	int fd = connect_daemon(port);
	char *text = NULL;

	snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", q->path, q->type, q->len);
	if (send_all(fd, head, strlen(head)) == 0 && send_all(fd, q->body, q->len) == 0)
		text = receive_all(fd, len);
	close(fd);
	return text;
}

/* q with no failure armed. */
static void undisturbed(int port, const struct http_request *q, struct reply *out)
{
	size_t len = 0;
	char *text = exchange(port, q, &len);

	parse_reply(text, len, out);
}

/* ---- replies ------------------------------------------------------------------ */

/* Nulls what differs between two runs of one request: the request id and
 * the timings (a TaskResponse's, or a v2 reply's parameters). */
static void blank_run_specific(json_t *doc)
{
	static const char *const v2_fields[] = {"request_id", "queue_ms", "decode_ms", "infer_ms"};
	json_t *timing = json_object_get(doc, "timing_ms"), *params = json_object_get(doc, "parameters");
	const char *key;
	json_t *v;

	if (json_object_get(doc, "request_id"))
		json_object_set_new(doc, "request_id", json_null());
	json_object_foreach(timing, key, v)
		json_object_set_new(timing, key, json_null());
	for (size_t i = 0; i < sizeof(v2_fields) / sizeof(v2_fields[0]); i++)
		if (json_object_get(params, v2_fields[i]))
			json_object_set_new(params, v2_fields[i], json_null());
}

/* The undisturbed reply to q, blanked. */
static json_t *reference(int port, const struct http_request *q)
{
	struct reply got;

	undisturbed(port, q, &got);
	if (!got.complete || got.status != 200 || !got.doc)
		HARNESS_ERROR("POST %s: the undisturbed request answers %d", q->path, got.status);
	blank_run_specific(got.doc);
	return got.doc;
}

static int is_reference(const struct reply *got, json_t *ref)
{
	if (!got->complete || got->status != 200 || !got->doc)
		return 0;
	blank_run_specific(got->doc);
	return json_equal(got->doc, ref);
}

/* 503 + Retry-After and {"error": "..."}, nothing else. */
static int is_nomem_error(const struct reply *got)
{
	return got->complete && got->status == 503 && got->retry_after &&
	       json_is_object(got->doc) && json_object_size(got->doc) == 1 &&
	       json_is_string(json_object_get(got->doc, "error"));
}

/* ---- the walk ------------------------------------------------------------------ */

/* A request whose allocations fail one by one: q, answered ref undisturbed;
 * after each, `then` (answered then_ref) runs undisturbed. */
struct fault_walk {
	const char *what;
	const struct http_request *q, *then;
	json_t *ref, *then_ref;
};

static void walk(int port, const struct fault_walk *w)
{
	long n, tried = 0;

	for (n = 1; n < MAX_N; n = test_next_fault(n), tried++) {
		struct reply got, after;
		size_t len = 0;
		long failures;
		char *text;

		stp_alloc_fail_nth(n);
		text = exchange(port, w->q, &len);
		stp_alloc_fail_nth(0);
		failures = stp_alloc_failures();
		parse_reply(text, len, &got);
		if (!got.complete) {
			CHECK(0, "%s: no whole reply with allocation %ld failing (a crash or hang)", w->what, n);
			exit(test_main_end());
		}
		if (failures == 0)
			CHECK(is_reference(&got, w->ref), "%s: without a failure: %d", w->what, got.status);
		else
			CHECK(is_reference(&got, w->ref) || is_nomem_error(&got),
			      "%s: allocation %ld failing: %d, neither the reference nor a 503 error",
			      w->what, n, got.status);
		undisturbed(port, w->then, &after);
		CHECK(is_reference(&after, w->then_ref), "%s: the request after failure %ld: %d", w->what,
		      n, after.status);
		json_decref(got.doc);
		json_decref(after.doc);
		if (failures == 0)
			break;
	}
	printf("%s: survives each of its allocations failing (%ld tried, fewer than %ld)\n", w->what,
	       tried, n);
}

/* A route over images a (the session's size) and b (another). */
static void walk_route(int port, const char *route, const struct http_request *a,
		       const struct http_request *b)
{
	json_t *ref_b = reference(port, b), *ref_a = reference(port, a);
	char new_size[128], same_size[128];

	snprintf(new_size, sizeof(new_size), "%s at a new size", route);
	snprintf(same_size, sizeof(same_size), "%s at the same size", route);
	walk(port, &(struct fault_walk){new_size, b, a, ref_b, ref_a});
	walk(port, &(struct fault_walk){same_size, a, a, ref_a, ref_a});
	json_decref(ref_a);
	json_decref(ref_b);
}

static void walk_v2(int port, const struct http_request *q)
{
	json_t *ref = reference(port, q);

	walk(port, &(struct fault_walk){"v2 infer at the same size", q, q, ref, ref});
	json_decref(ref);
}

/* ---- the daemon ------------------------------------------------------------------ */

/* stippled on 127.0.0.1 at a free port over the shipped models; one worker. */
static void start_daemon(struct server *srv, const char *srcdir)
{
	char models[4096];
	char *argv[] = {"stippled", "--listen=127.0.0.1:0", models, "--workers=1",
			"--threads_per_worker=2", "--access_log=false", "--log_level=warn", NULL};

	snprintf(models, sizeof(models), "--models=%s/models", srcdir);
	memset(srv, 0, sizeof(*srv));
	if (config_parse(&srv->cfg, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) ||
	    server_start(srv))
		HARNESS_ERROR("the daemon does not start");
}

static void check_body_size(const struct http_request *q)
{
	if (q->len >= 65536)
		HARNESS_ERROR("POST %s: a body of %zu bytes; keep it under 64 KiB", q->path, q->len);
}

int main(void)
{
	const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : "..";
	struct http_request detect_a = {.path = "/detect?budget=0.5", .type = "image/jpeg"},
			    detect_b = {.path = "/detect?budget=0.5", .type = "image/jpeg"},
			    segment_a = {.path = "/segment?budget=0.5", .type = "image/png"},
			    segment_b = {.path = "/segment?budget=0.5", .type = "image/png"},
			    v2_a = {.path = "/v2/models/nanodet-g/infer", .type = "application/json"};
	struct http_request *all[] = {&detect_a, &detect_b, &segment_a, &segment_b, &v2_a};
	struct picture street = load_photo(srcdir, "examples/street.jpg", 2);   /* 384 x 288 */
	struct picture scene = load_photo(srcdir, "examples/scene.jpg", 4);     /* 160 x 120 */
	struct server srv;
	int port;

	/* B: the left two thirds, another aspect ratio, so another input size */
	detect_a.body = jpeg_of(&street, street.w, &detect_a.len);
	detect_b.body = jpeg_of(&street, street.w * 2 / 3, &detect_b.len);
	segment_a.body = png_of(&scene, scene.w, &segment_a.len);
	segment_b.body = png_of(&scene, scene.w * 2 / 3, &segment_b.len);
	v2_a.body = v2_request_of(detect_a.body, detect_a.len, &v2_a.len);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		check_body_size(all[i]);
	start_daemon(&srv, srcdir);
	port = http_port(&srv);

	walk_route(port, "/detect", &detect_a, &detect_b);
	walk_v2(port, &v2_a);
	walk_route(port, "/segment", &segment_a, &segment_b);

	server_stop(&srv);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]->body);
	free(street.rgb);
	free(scene.rgb);
	return test_main_end();
}

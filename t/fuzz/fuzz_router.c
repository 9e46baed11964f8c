/* fuzz_router.c: libFuzzer target for route_match() and pct_decode() (fcgi/router.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi/pool.h"
#include "common.h"

static int
ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/*
 * RFC 3986 percent-decoding of s[0..len) into out (len bytes suffice).
 * Returns the length; for a malformed escape, -1 with the bytes decoded
 * before it in *before.
 */
static long
ref_decode(const unsigned char *s, size_t len, char *out, bool plus, size_t *before)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0) {
				*before = n;
				return -1;
			}
			out[n++] = (char)(ref_hex(s[i + 1]) << 4 | ref_hex(s[i + 2]));
			i += 2;
		} else
			out[n++] = plus && s[i] == '+' ? ' ' : (char)s[i];
	}
	return (long)n;
}

/* pct_decode() against the reference, into a buffer of exactly outsz bytes. */
static void
check_pct_decode(const unsigned char *s, size_t len, size_t outsz, bool plus)
{
	char	*out, *want;
	long	 got, n;
	size_t	 before = 0;

	if ((out = malloc(outsz)) == NULL || (want = malloc(len + 1)) == NULL)
		abort();
	got = pct_decode((const char *)s, len, out, outsz, plus);
	n = ref_decode(s, len, want, plus, &before);
	if (n == -1)
		CHECK("pct-decode", got == (before >= outsz ? -2 : -1),
		    "malformed after %zu bytes, room for %zu: %ld", before, outsz, got);
	else if ((size_t)n > outsz)
		CHECK("pct-decode", got == -2, "%ld bytes, room for %zu: %ld", n, outsz, got);
	else
		CHECK("pct-decode", got == n && memcmp(out, want, (size_t)n) == 0,
		    "decoded %ld bytes, the reference %ld", got, n);
	free(out);
	free(want);
}

static bool
decodes_to(const char *s, size_t len, const char *word)
{
	char	 buf[4096];
	size_t	 before;
	long	 n;

	if (len >= sizeof(buf))
		return false;
	n = ref_decode((const unsigned char *)s, len, buf, false, &before);
	return n >= 0 && (size_t)n == strlen(word) && memcmp(buf, word, (size_t)n) == 0;
}

/*
 * The route the API's table gives, written from docs/API.md: its id, or
 * ROUTE_NONE when the request is refused one way or another.
 */
static enum route_id
ref_route(const char *method, const char *uri, char *id, size_t *idlen)
{
	const char	*seg[4], *p, *end, *slash;
	size_t		 len[4], plen, nseg = 0, before;
	bool		 get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool		 post = strcmp(method, "POST") == 0;
	long		 n;

	plen = strcspn(uri, "?#");
	if (plen == strlen(ROUTE_PING_PATH) && memcmp(uri, ROUTE_PING_PATH, plen) == 0)
		return get ? ROUTE_PING : ROUTE_NONE;
	if (plen < strlen(ROUTE_PREFIX) || memcmp(uri, ROUTE_PREFIX, strlen(ROUTE_PREFIX)) != 0)
		return ROUTE_NONE;
	end = uri + plen;
	for (p = uri + strlen(ROUTE_PREFIX); ; p = slash + 1) {
		if (nseg == 4)
			return ROUTE_NONE;
		slash = memchr(p, '/', (size_t)(end - p));
		seg[nseg] = p;
		len[nseg++] = (size_t)((slash != NULL ? slash : end) - p);
		if (slash == NULL)
			break;
	}
	if (!decodes_to(seg[0], len[0], "jobs"))
		return ROUTE_NONE;
	if (nseg == 1)
		return get ? ROUTE_JOBS : post ? ROUTE_SUBMIT : ROUTE_NONE;
	if (nseg != 3 && nseg != 4)
		return ROUTE_NONE;
	n = ref_decode((const unsigned char *)seg[1], len[1], id, false, &before);
	if (n < 0 || !ref_job_id_ok(id, (size_t)n))
		return ROUTE_NONE;
	*idlen = (size_t)n;
	if (nseg == 4)
		return get && decodes_to(seg[2], len[2], "progress") &&
		    decodes_to(seg[3], len[3], "history") ? ROUTE_HISTORY : ROUTE_NONE;
	if (decodes_to(seg[2], len[2], "progress"))
		return get ? ROUTE_PROGRESS : post ? ROUTE_PUBLISH : ROUTE_NONE;
	if (decodes_to(seg[2], len[2], "cancel"))
		return post ? ROUTE_CANCEL : ROUTE_NONE;
	return ROUTE_NONE;
}

static void
check_route(const char *method, const char *uri)
{
	struct route		 rt;
	enum route_result	 r;
	enum route_id		 want;
	char			*id;
	size_t			 idlen = 0, len;
	char			*doc;

	if ((id = malloc(strlen(uri) + 1)) == NULL)
		abort();
	r = route_match(method, uri, &rt);
	want = *method != '\0' && *uri != '\0' ? ref_route(method, uri, id, &idlen) : ROUTE_NONE;
	if (*method != '\0')
		CHECK("route-head", rt.rt_head == (strcmp(method, "HEAD") == 0), "rt_head %d",
		    rt.rt_head);
	switch (r) {
	case ROUTE_OK:
		CHECK("route-ref", rt.rt_id == want, "route %d, the reference %d", (int)rt.rt_id,
		    (int)want);
		if (rt.rt_id != ROUTE_PROGRESS && rt.rt_id != ROUTE_PUBLISH &&
		    rt.rt_id != ROUTE_CANCEL && rt.rt_id != ROUTE_HISTORY)
			break;
		CHECK("route-job-id", rt.rt_job_id_len >= 1 && rt.rt_job_id_len <= TP_JOB_ID_MAX,
		    "job id of %zu bytes", rt.rt_job_id_len);
		if (rt.rt_job_id_len > TP_JOB_ID_MAX)
			break;
		CHECK("route-job-id", rt.rt_job_id[rt.rt_job_id_len] == '\0' &&
		    strlen(rt.rt_job_id) == rt.rt_job_id_len, "job id not NUL-terminated at %zu",
		    rt.rt_job_id_len);
		CHECK("route-job-id", tp_job_id_problem(rt.rt_job_id, rt.rt_job_id_len) == NULL,
		    "an accepted job id with a problem: %s",
		    tp_job_id_problem(rt.rt_job_id, rt.rt_job_id_len));
		CHECK("route-job-id", ref_job_id_ok(rt.rt_job_id, rt.rt_job_id_len),
		    "an accepted job id breaks the rules");
		CHECK("route-ref", want != ROUTE_NONE && rt.rt_job_id_len == idlen &&
		    memcmp(rt.rt_job_id, id, idlen) == 0, "job id differs from the reference's");
		break;
	case ROUTE_BAD_REQUEST:
		CHECK("route-ref", want == ROUTE_NONE, "400 for route %d", (int)want);
		CHECK("route-bad-request", rt.rt_error != NULL && rt.rt_problem != NULL,
		    "400 without a code or problem");
		if (rt.rt_error == NULL || rt.rt_problem == NULL)
			break;
		CHECK("route-bad-request", strcmp(rt.rt_error, "bad_request") == 0 ||
		    strcmp(rt.rt_error, "invalid_job_id") == 0, "code %s", rt.rt_error);
		doc = render_error(rt.rt_error, rt.rt_problem, &len);
		check_error_doc(doc, len, rt.rt_error, rt.rt_problem, NULL);
		break;
	case ROUTE_NOT_FOUND:
		CHECK("route-ref", want == ROUTE_NONE, "404 for route %d", (int)want);
		break;
	case ROUTE_METHOD_NOT_ALLOWED:
		CHECK("route-ref", want == ROUTE_NONE, "405 for route %d", (int)want);
		CHECK("route-405", rt.rt_allow != NULL, "405 without Allow");
		break;
	default:
		CHECK("route-result", false, "result %d", (int)r);
	}
	if (r != ROUTE_OK)
		CHECK("route-ref", want == ROUTE_NONE, "refused (%d) what the reference routes to %d",
		    (int)r, (int)want);
	free(id);
}

/*
 * Input: "METHOD\nURI" (no newline: GET, the whole input the URI).  The
 * same bytes also go to pct_decode(): the first byte picks the room and
 * whether '+' is a space, the rest is the text.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *nl;

	s = fuzz_strndup(data, size);
	if ((nl = strchr(s, '\n')) != NULL) {
		*nl = '\0';
		check_route(s, nl + 1);
	} else
		check_route("GET", s);
	free(s);
	if (size > 0)
		check_pct_decode(data + 1, size - 1, data[0] >> 1, data[0] & 1);
	return 0;
}

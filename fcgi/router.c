/* router.c: request method and raw URI to an endpoint, with the job id decoded. */
#include <string.h>

#include "pool.h"

/* Most segments any route has; one more tells "too many" apart. */
#define MAX_SEGMENTS	4

struct segment {
	const char	*sg_start;	/* raw, percent-encoded */
	size_t		 sg_len;
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
pct_decode(const char *s, size_t len, char *out, size_t outsz, bool plus_is_space)
{
	size_t	 i, n = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (n == outsz)
			return -2;
		if (s[i] == '+' && plus_is_space) {
			out[n++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			out[n++] = s[i];
			continue;
		}
		if (len - i < 3 ||
		    (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
			return -1;
		out[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)n;
}

/* Does raw segment sg decode to exactly `word`? */
static bool
segment_is(const struct segment *sg, const char *word)
{
	char	 buf[32];
	long	 n;

	n = pct_decode(sg->sg_start, sg->sg_len, buf, sizeof(buf), false);
	return n >= 0 && (size_t)n == strlen(word) && memcmp(buf, word, (size_t)n) == 0;
}

/* Every '%' in s[0..len) is followed by two hex digits. */
static bool
pct_wellformed(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (s[i] == '%') {
			if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return false;
			i += 2;
		}
	return true;
}

static enum route_result
bad_request(struct route *rt, const char *code, const char *why)
{
	rt->rt_error = code;
	rt->rt_problem = why;
	return ROUTE_BAD_REQUEST;
}

enum route_result
route_match(const char *method, const char *uri, struct route *rt)
{
	struct segment	 seg[MAX_SEGMENTS + 1];
	const char	*p, *end, *slash, *problem;
	size_t		 plen, nseg = 0;
	long		 n;

	memset(rt, 0, sizeof(*rt));
	if (method == NULL || *method == '\0')
		return bad_request(rt, "bad_request", "the request has no method");
	/* Known before the route: error replies to HEAD carry no body either. */
	rt->rt_head = strcmp(method, "HEAD") == 0;
	if (uri == NULL || *uri == '\0')
		return bad_request(rt, "bad_request", "the request has no URI");

	/* The path is what precedes the query; a fragment never reaches us. */
	plen = strcspn(uri, "?#");
	if (plen == sizeof(ROUTE_PING_PATH) - 1 &&
	    memcmp(uri, ROUTE_PING_PATH, plen) == 0) {
		rt->rt_id = ROUTE_PING;
		rt->rt_allow = "GET, HEAD";
		return rt->rt_head || strcmp(method, "GET") == 0 ? ROUTE_OK :
		    ROUTE_METHOD_NOT_ALLOWED;
	}
	if (plen < sizeof(ROUTE_PREFIX) - 1 ||
	    memcmp(uri, ROUTE_PREFIX, sizeof(ROUTE_PREFIX) - 1) != 0)
		return ROUTE_NOT_FOUND;

	/* Split first, decode after: an encoded slash stays in its segment. */
	p = uri + sizeof(ROUTE_PREFIX) - 1;
	end = uri + plen;
	for (;;) {
		if (nseg == MAX_SEGMENTS)
			return ROUTE_NOT_FOUND;
		slash = memchr(p, '/', (size_t)(end - p));
		seg[nseg].sg_start = p;
		seg[nseg].sg_len = (size_t)((slash != NULL ? slash : end) - p);
		nseg++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}

	if (!pct_wellformed(seg[0].sg_start, seg[0].sg_len) ||
	    (nseg >= 3 && !pct_wellformed(seg[2].sg_start, seg[2].sg_len)) ||
	    (nseg == 4 && !pct_wellformed(seg[3].sg_start, seg[3].sg_len)))
		return bad_request(rt, "bad_request", "malformed percent-encoding in the path");
	if (!segment_is(&seg[0], "jobs"))
		return ROUTE_NOT_FOUND;
	if (nseg == 1) {
		/* The list, and starting a job. */
		rt->rt_allow = "GET, HEAD, POST";
		if (rt->rt_head || strcmp(method, "GET") == 0)
			rt->rt_id = ROUTE_JOBS;
		else if (strcmp(method, "POST") == 0)
			rt->rt_id = ROUTE_SUBMIT;
		else
			return ROUTE_METHOD_NOT_ALLOWED;
		return ROUTE_OK;
	}
	if (nseg == 4) {
		if (!segment_is(&seg[2], "progress"))
			return ROUTE_NOT_FOUND;
		if (segment_is(&seg[3], "history")) {
			rt->rt_allow = "GET, HEAD";
			if (!rt->rt_head && strcmp(method, "GET") != 0)
				return ROUTE_METHOD_NOT_ALLOWED;
			rt->rt_id = ROUTE_HISTORY;
		} else if (segment_is(&seg[3], "stream")) {
			/* A stream has no HEAD: nchan would hold it open. */
			rt->rt_allow = "GET";
			if (strcmp(method, "GET") != 0)
				return ROUTE_METHOD_NOT_ALLOWED;
			rt->rt_id = ROUTE_STREAM;
		} else
			return ROUTE_NOT_FOUND;
	} else if (nseg != 3)
		return ROUTE_NOT_FOUND;
	else if (segment_is(&seg[2], "progress")) {
		rt->rt_allow = "GET, HEAD, POST";
		if (rt->rt_head || strcmp(method, "GET") == 0)
			rt->rt_id = ROUTE_PROGRESS;
		else if (strcmp(method, "POST") == 0)
			rt->rt_id = ROUTE_PUBLISH;
		else
			return ROUTE_METHOD_NOT_ALLOWED;
	} else if (segment_is(&seg[2], "cancel")) {
		rt->rt_allow = "POST";
		if (strcmp(method, "POST") != 0)
			return ROUTE_METHOD_NOT_ALLOWED;
		rt->rt_id = ROUTE_CANCEL;
	} else if (segment_is(&seg[2], "notifications")) {
		rt->rt_allow = "GET, HEAD";
		if (!rt->rt_head && strcmp(method, "GET") != 0)
			return ROUTE_METHOD_NOT_ALLOWED;
		rt->rt_id = ROUTE_NOTIFICATIONS;
	} else
		return ROUTE_NOT_FOUND;

	n = pct_decode(seg[1].sg_start, seg[1].sg_len, rt->rt_job_id, TP_JOB_ID_MAX, false);
	if (n == -2)
		return bad_request(rt, "invalid_job_id", "job_id is longer than 255 bytes");
	if (n < 0)
		return bad_request(rt, "invalid_job_id", "malformed percent-encoding in job_id");
	rt->rt_job_id[n] = '\0';
	rt->rt_job_id_len = (size_t)n;
	if ((problem = tp_job_id_problem(rt->rt_job_id, rt->rt_job_id_len)) != NULL)
		return bad_request(rt, "invalid_job_id", problem);
	return ROUTE_OK;
}

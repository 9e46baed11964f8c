/* fuzz_guard.c: libFuzzer target for guard_parse() (fcgi/guard.c), the FastCGI checker. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi/pool.h"
#include "common.h"

/* Record types and the header's length (the FastCGI specification, 8). */
#define T_BEGIN		1
#define T_PARAMS	4
#define T_STDIN		5
#define HDR		8

/* What a request is, written from the specification rather than from guard.c. */
struct ref {
	bool	 complete;
	size_t	 end;		/* where the empty STDIN record ends */
	unsigned rid;
	size_t	 params;
	size_t	 body;
};

/* Name-value pairs (spec 3.4): every name non-empty, no NUL anywhere. */
static bool
ref_pairs(const unsigned char *p, size_t len)
{
	size_t	 off = 0, l[2];
	int	 k;

	while (off < len) {
		for (k = 0; k < 2; k++) {
			if (off == len)
				return false;
			if (p[off] >> 7) {
				if (len - off < 4)
					return false;
				l[k] = (size_t)(p[off] & 0x7f) << 24 | (size_t)p[off + 1] << 16 |
				    (size_t)p[off + 2] << 8 | p[off + 3];
				off += 4;
			} else
				l[k] = p[off++];
		}
		if (l[0] == 0 || l[0] + l[1] > len - off)
			return false;
		for (k = 0; (size_t)k < l[0] + l[1]; k++)
			if (p[off + (size_t)k] == 0)
				return false;
		off += l[0] + l[1];
	}
	return true;
}

/*
 * Is buf[0..n) a whole responder request within the limits, followed by
 * anything: BEGIN_REQUEST (id != 0, role 1), PARAMS of that id until an empty
 * one, then STDIN of that id until an empty one, and nothing else?
 */
static struct ref
ref_request(const unsigned char *buf, size_t n, const struct guard_limits *lim,
    unsigned char *pairs)
{
	struct ref	 r = { 0 };
	size_t		 off = 0, clen;
	int		 want = T_BEGIN;

	for (;;) {
		if (n - off < HDR || buf[off] != 1)
			return r;
		clen = (size_t)buf[off + 4] << 8 | buf[off + 5];
		if (n - off - HDR < clen + buf[off + 6] || buf[off + 1] != want)
			return r;
		if (want == T_BEGIN) {
			r.rid = (unsigned)buf[off + 2] << 8 | buf[off + 3];
			if (r.rid == 0 || clen != 8 || buf[off + 8] != 0 || buf[off + 9] != 1)
				return r;
			want = T_PARAMS;
		} else if (((unsigned)buf[off + 2] << 8 | buf[off + 3]) != r.rid)
			return r;
		else if (want == T_PARAMS && clen == 0) {
			if (!ref_pairs(pairs, r.params))
				return r;
			want = T_STDIN;
		} else if (want == T_PARAMS) {
			if (r.params + clen > lim->gl_max_params)
				return r;
			memcpy(pairs + r.params, buf + off + HDR, clen);
			r.params += clen;
		} else if (clen == 0) {
			r.complete = true;
			r.end = off + HDR + buf[off + 6];
			return r;
		} else {
			if (r.body + clen > lim->gl_max_body)
				return r;
			r.body += clen;
		}
		off += HDR + clen + buf[off + 6];
	}
}

static enum guard_parse
parse(const unsigned char *buf, size_t n, const struct guard_limits *lim,
    unsigned char *scratch, struct guard_info *gi)
{
	enum guard_parse	 r = guard_parse(buf, n, lim, scratch, gi);

	CHECK("guard-result", r == GUARD_INCOMPLETE || r == GUARD_COMPLETE ||
	    r == GUARD_TOO_LARGE || r == GUARD_MALFORMED, "result %d", (int)r);
	switch (r) {
	case GUARD_COMPLETE:
		CHECK("guard-limits", gi->gi_params <= lim->gl_max_params,
		    "%zu bytes of parameters over the limit %zu", gi->gi_params, lim->gl_max_params);
		CHECK("guard-limits", gi->gi_body <= lim->gl_max_body,
		    "%zu bytes of body over the limit %zu", gi->gi_body, lim->gl_max_body);
		CHECK("guard-complete", gi->gi_request_id != 0, "a complete request with id 0");
		break;
	case GUARD_TOO_LARGE:
		CHECK("guard-too-large", gi->gi_status == 413 || gi->gi_status == 431,
		    "status %d", gi->gi_status);
		CHECK("guard-too-large", gi->gi_why != NULL, "no reason");
		break;
	case GUARD_MALFORMED:
		CHECK("guard-malformed", gi->gi_why != NULL, "no reason");
		break;
	case GUARD_INCOMPLETE:
		break;
	}
	return r;
}

/* Is the verdict on a prefix the one on the whole, as far as it goes? */
static bool
same_verdict(enum guard_parse a, const struct guard_info *ga, enum guard_parse b,
    const struct guard_info *gb)
{
	return a == b && ga->gi_request_id == gb->gi_request_id &&
	    ga->gi_params == gb->gi_params && ga->gi_body == gb->gi_body &&
	    ga->gi_status == gb->gi_status && ga->gi_why == gb->gi_why;
}

/*
 * A verdict is reached once, at one length d, and kept: every prefix
 * shorter than d is INCOMPLETE, and every longer one (the whole included)
 * gets the same verdict.  So a prefix of an accepted request is never
 * MALFORMED or TOO_LARGE, and a request is accepted before its last byte
 * only when something follows it.  Returns d (n + 1 when undecided).
 */
static size_t
check_prefixes(const unsigned char *buf, size_t n, const struct guard_limits *lim,
    unsigned char *scratch, enum guard_parse whole, const struct guard_info *gwhole)
{
	struct guard_info	 gi;
	enum guard_parse	 r;
	size_t			 lo = 0, hi = n, mid, k, d, i;
	uint32_t		 h = 2166136261u;

	/* The shortest decided prefix, by bisection (monotonicity is checked below). */
	if (whole == GUARD_INCOMPLETE)
		d = n + 1;
	else {
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (parse(buf, mid, lim, scratch, &gi) == GUARD_INCOMPLETE)
				lo = mid + 1;
			else
				hi = mid;
		}
		d = lo;
	}
	for (i = 0; i < n; i++)
		h = (h ^ buf[i]) * 16777619u;
	for (i = 0; i < 48; i++) {
		if (n <= 40)
			k = i;
		else if (i < 8)
			k = i;
		else if (i < 14)
			k = d + i - 11;		/* d - 3 .. d + 2 */
		else if (i < 16)
			k = n - (i - 13);
		else {
			h = h * 1103515245u + 12345u;
			k = (size_t)(h >> 8) % n;
		}
		if (k >= n)
			continue;
		r = parse(buf, k, lim, scratch, &gi);
		if (k < d)
			CHECK("guard-prefix", r == GUARD_INCOMPLETE, "the prefix of %zu bytes (of %zu) "
			    "gets %d before the verdict %d at %zu: %s", k, n, (int)r, (int)whole, d,
			    gi.gi_why != NULL ? gi.gi_why : "");
		else
			CHECK("guard-prefix", same_verdict(r, &gi, whole, gwhole), "the prefix of %zu "
			    "bytes (of %zu) gets %d (%s), the whole %d (%s); decided at %zu", k, n,
			    (int)r, gi.gi_why != NULL ? gi.gi_why : "", (int)whole,
			    gwhole->gi_why != NULL ? gwhole->gi_why : "", d);
	}
	return d;
}

static void
run(const unsigned char *buf, size_t n, const struct guard_limits *lim)
{
	struct guard_info	 gi;
	enum guard_parse	 r;
	struct ref		 ref;
	unsigned char		*scratch, *pairs;
	size_t			 d;

	/* Exactly what pool.h asks for (guard_init gives one more byte). */
	if ((scratch = malloc(lim->gl_max_params)) == NULL ||
	    (pairs = malloc(lim->gl_max_params + 1)) == NULL)
		abort();
	r = parse(buf, n, lim, scratch, &gi);
	d = check_prefixes(buf, n, lim, scratch, r, &gi);
	ref = ref_request(buf, n, lim, pairs);
	CHECK("guard-ref", (r == GUARD_COMPLETE) == ref.complete,
	    "guard_parse says %d (%s), the specification says %s", (int)r,
	    gi.gi_why != NULL ? gi.gi_why : "", ref.complete ? "complete" : "not complete");
	if (r == GUARD_COMPLETE && ref.complete) {
		CHECK("guard-ref", d == ref.end, "accepted after %zu bytes, the request ends at %zu",
		    d, ref.end);
		CHECK("guard-ref", gi.gi_request_id == ref.rid && gi.gi_params == ref.params &&
		    gi.gi_body == ref.body, "id %u, %zu + %zu bytes; the specification: %u, %zu + %zu",
		    gi.gi_request_id, gi.gi_params, gi.gi_body, ref.rid, ref.params, ref.body);
		CHECK("guard-ref", memcmp(scratch, pairs, ref.params) == 0,
		    "the parameters collected differ");
	}
	free(scratch);
	free(pairs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The defaults of max_params_size and max_body_size, then tight ones. */
	static const struct guard_limits real = { 32768, 65536 }, tight = { 64, 16 };
	unsigned char	*buf;

	/* A copy of exactly the peeked length, so that ASan sees any overread. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	run(buf, size, &real);
	run(buf, size, &tight);
	free(buf);
	return 0;
}

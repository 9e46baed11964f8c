/* fuzz_query.c: libFuzzer target for jobs_query_parse(), the cursors, etag_matches() and header_lists() (fcgi/query.c). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi/pool.h"
#include "common.h"

#define ALL_STATUSES	((1u << JOB_STATUS_COUNT) - 1)

/* A cursor made of (us, id) reads back as (us, id), alone and in a query. */
static void
check_cursor(int64_t us, const char *id)
{
	struct jobs_query	 q;
	char			*enc, *qs, back[TP_JOB_ID_MAX + 1];
	int64_t			 us2 = 0;
	int			 rc;

	/* Exactly the room the longest cursor needs, so that ASan sees more. */
	if ((enc = malloc(JOBS_CURSOR_MAX + 1)) == NULL ||
	    (qs = malloc(JOBS_CURSOR_MAX + 32)) == NULL)
		abort();
	rc = jobs_cursor_encode(us, id, enc, JOBS_CURSOR_MAX + 1);
	CHECK("cursor-encode", rc == 0, "cannot encode (%" PRId64 ", \"%s\")", us, id);
	if (rc == 0) {
		CHECK("cursor-encode", strlen(enc) <= JOBS_CURSOR_MAX, "a cursor of %zu bytes",
		    strlen(enc));
		rc = jobs_cursor_decode(enc, &us2, back, sizeof(back));
		CHECK("cursor-roundtrip", rc == 0 && us2 == us && strcmp(back, id) == 0,
		    "decode(encode(%" PRId64 ", \"%s\")) = %d, %" PRId64 ", \"%s\"", us, id, rc,
		    us2, rc == 0 ? back : "");
		snprintf(qs, JOBS_CURSOR_MAX + 32, "limit=7&cursor=%s", enc);
		rc = jobs_query_parse(qs, &q);
		CHECK("cursor-query", rc == 0 && q.jq_has_cursor && q.jq_cursor_us == us &&
		    strcmp(q.jq_cursor_id, id) == 0 && q.jq_limit == 7,
		    "the query \"%s\" gives %d (%s)", qs, rc, q.jq_problem);
	}
	free(enc);
	free(qs);
}

static void
check_query(const char *qs)
{
	struct jobs_query	 q;
	char			*doc;
	size_t			 len = 0;
	int			 rc;

	rc = jobs_query_parse(qs, &q);
	CHECK("query-result", rc == 0 || rc == -1, "result %d", rc);
	CHECK("query-problem", memchr(q.jq_problem, '\0', sizeof(q.jq_problem)) != NULL,
	    "jq_problem is not NUL-terminated");
	if (rc == -1) {
		CHECK("query-problem", q.jq_problem[0] != '\0', "refused without a problem");
		doc = render_error("invalid_query", q.jq_problem, &len);
		check_error_doc(doc, len, "invalid_query", q.jq_problem, NULL);
		return;
	}
	CHECK("query-ok", q.jq_problem[0] == '\0', "accepted with a problem: %s", q.jq_problem);
	/* A name or value decoded with a NUL is read up to it only. */
	CHECK("query-nul-escape", strstr(qs, "%00") == NULL, "accepted \"%s\", which holds %%00",
	    qs);
	CHECK("query-ok", q.jq_limit >= 1 && q.jq_limit <= JOBS_LIMIT_MAX, "limit %d",
	    q.jq_limit);
	CHECK("query-ok", (q.jq_statuses & ~ALL_STATUSES) == 0, "statuses %#x", q.jq_statuses);
	if (q.jq_has_cursor) {
		CHECK("query-cursor", ref_job_id_ok(q.jq_cursor_id, strlen(q.jq_cursor_id)),
		    "a cursor with a job id that breaks the rules");
		check_cursor(q.jq_cursor_us, q.jq_cursor_id);
	}
}

/* Any text as a cursor: what decodes is a real (activity, job id). */
static void
check_decode(const char *cursor)
{
	char	 id[TP_JOB_ID_MAX + 1], *enc;
	int64_t	 us;

	if (jobs_cursor_decode(cursor, &us, id, sizeof(id)) != 0)
		return;
	CHECK("cursor-decode", ref_job_id_ok(id, strlen(id)), "a decoded job id breaks the rules");
	check_cursor(us, id);
	/* Only what this API wrote: the cursor is the one encode() gives. */
	if ((enc = malloc(JOBS_CURSOR_MAX + 1)) == NULL)
		abort();
	if (jobs_cursor_encode(us, id, enc, JOBS_CURSOR_MAX + 1) == 0)
		CHECK("cursor-canonical", strcmp(enc, cursor) == 0, "\"%s\" decodes to (%" PRId64
		    ", \"%s\"), which encodes as \"%s\"", cursor, us, id, enc);
	free(enc);
}

/*
 * Input: a query string.  The same text is tried as a cursor, and when it
 * is long enough, its first 8 bytes and the rest (a job id) are encoded.
 */
/* The history's query: refusals render; what is accepted is in range and was written so. */
static void
check_history(const char *qs)
{
	struct history_query	 q;
	char			*doc, again[96];
	size_t			 len = 0;
	int			 rc;

	rc = history_query_parse(qs, &q);
	CHECK("history-result", rc == 0 || rc == -1, "result %d", rc);
	CHECK("history-problem", memchr(q.hq_problem, '\0', sizeof(q.hq_problem)) != NULL,
	    "hq_problem is not NUL-terminated");
	if (rc == -1) {
		CHECK("history-problem", q.hq_problem[0] != '\0', "refused without a problem");
		doc = render_error("invalid_query", q.hq_problem, &len);
		check_error_doc(doc, len, "invalid_query", q.hq_problem, NULL);
		return;
	}
	CHECK("history-ok", strstr(qs, "%00") == NULL, "accepted \"%s\", which holds %%00", qs);
	CHECK("history-ok", q.hq_since_seq >= 0 && q.hq_limit >= 1 &&
	    q.hq_limit <= HISTORY_LIMIT_MAX, "since_seq %lld, limit %d",
	    (long long)q.hq_since_seq, q.hq_limit);
	/* What it read, written back plainly, reads the same. */
	snprintf(again, sizeof(again), "since_seq=%lld&limit=%d", (long long)q.hq_since_seq,
	    q.hq_limit);
	rc = history_query_parse(again, &q);
	CHECK("history-roundtrip", rc == 0, "\"%s\" refused: %s", again, q.hq_problem);
}

/*
 * RFC 9110's If-None-Match, written apart: split at commas outside quotes,
 * trim OWS, each non-empty element [W/]"etagc*"; "*" alone.  Does it name tag?
 */
static int
ref_etag_matches(const char *h, const char *tag)
{
	const char	*p = h, *start, *end, *q;
	int		 in_quote, any = 0, found = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end - p == 1 && *p == '*')
		return 1;
	for (start = p; start <= end; start = q + 1) {
		for (q = start, in_quote = 0; q < end && (in_quote || *q != ','); q++)
			if (*q == '"')
				in_quote = !in_quote;
		{
			const char	*a = start, *b = q;

			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			if (a == b)
				goto next;
			if (b - a >= 2 && a[0] == 'W' && a[1] == '/')
				a += 2;
			if (b - a < 2 || *a != '"' || b[-1] != '"')
				return 0;
			for (const char *c = a + 1; c < b - 1; c++)
				if (!(*c == 0x21 || (*c >= 0x23 && *c <= 0x7e) ||
				    (unsigned char)*c >= 0x80))
					return 0;
			any = 1;
			if ((size_t)(b - a) == strlen(tag) && memcmp(a, tag, strlen(tag)) == 0)
				found = 1;
		}
next:
		if (q >= end)
			break;
	}
	(void)any;
	return found;
}

static void
check_etag(const char *h)
{
	static const char *const tags[] = { "\"5d41402abc4b2a76b9719d911017c592\"", "\"a\"" };
	size_t	 i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		CHECK("etag-ref", (int)etag_matches(h, tags[i]) == ref_etag_matches(h, tags[i]),
		    "If-None-Match \"%s\" for %s: %d, the reference %d", h, tags[i],
		    (int)etag_matches(h, tags[i]), ref_etag_matches(h, tags[i]));
}

/*
 * The reference for header_lists(): split at every comma, trim spaces and
 * tabs, cut at ";", compare whole, ignoring ASCII case.
 */
static int
ref_header_lists(const char *h, const char *token)
{
	const char	*p = h, *e, *end;
	size_t		 n;

	for (;;) {
		end = strchr(p, ',');
		e = end != NULL ? end : p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		for (n = 0; p + n < e && p[n] != ';' && p[n] != ' ' && p[n] != '\t'; n++)
			;
		if (n == strlen(token) && strncasecmp(p, token, n) == 0)
			return 1;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

static void
check_header(const char *h)
{
	static const char *const tokens[] = { "text/event-stream", "websocket" };
	size_t	 i;

	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		CHECK("header-ref", (int)header_lists(h, tokens[i]) == ref_header_lists(h, tokens[i]),
		    "\"%s\" lists %s: %d, the reference %d", h, tokens[i],
		    (int)header_lists(h, tokens[i]), ref_header_lists(h, tokens[i]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *id;
	int64_t	 us;

	s = fuzz_strndup(data, size);
	check_query(s);
	check_decode(s);
	check_etag(s);
	check_header(s);
	check_history(s);
	if (size >= 9) {
		memcpy(&us, data, sizeof(us));
		id = fuzz_strndup(data + 8, size - 8 > TP_JOB_ID_MAX ? TP_JOB_ID_MAX : size - 8);
		if (ref_job_id_ok(id, strlen(id)))
			check_cursor(us, id);
		free(id);
	}
	free(s);
	return 0;
}

/* fuzz_query.c: libFuzzer target for jobs_query_parse() and the cursors (fcgi/query.c). */
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
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *id;
	int64_t	 us;

	s = fuzz_strndup(data, size);
	check_query(s);
	check_decode(s);
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

/*
 * query.c: the dashboard list's query string (status, active, limit,
 * cursor) and its cursors.  Pure: no I/O, no allocation.
 *
 * A cursor is base64url("<activity in Unix microseconds>:<job id>"): the
 * sort key of the last job of a page, so that the next page starts right
 * after it whatever was inserted meanwhile.  Clients treat it as opaque.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Statuses by group, as bits over job_status_names. */
#define BIT(i)		(1u << (i))
#define ALL_STATUSES	(BIT(JOB_STATUS_COUNT) - 1)
/* queued, running, stalled, cancelling */
#define ACTIVE_STATUSES	(BIT(0) | BIT(1) | BIT(2) | BIT(3))

/*
 * Decodes a query component s[0..len) ('+' is a space) into out, NUL
 * added.  The length, -1 for a malformed escape, -2 when it does not fit.
 */
static long
query_decode(const char *s, size_t len, char *out, size_t size)
{
	long	 n = pct_decode(s, len, out, size - 1, true);

	/* A %00 would end the text early: "limit%00junk" would read as "limit". */
	if (n >= 0 && memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	if (n >= 0)
		out[n] = '\0';
	return n;
}

static int problem(struct jobs_query *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
problem(struct jobs_query *q, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(q->jq_problem, sizeof(q->jq_problem), fmt, ap);
	va_end(ap);
	return -1;
}

int
jobs_parse_statuses(const char *s, const char **bad)
{
	static char	 word[32];
	const char	*p = s, *end;
	size_t		 n;
	int		 i, bits = 0;

	*bad = NULL;
	for (;;) {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < JOB_STATUS_COUNT; i++)
			if (strlen(job_status_names[i]) == n &&
			    memcmp(job_status_names[i], p, n) == 0)
				break;
		if (i == JOB_STATUS_COUNT) {
			/* At most 24 bytes of it, never half a character. */
			snprintf(word, sizeof(word), "%.*s", (int)utf8_prefix(p, n < 24 ? n : 24), p);
			*bad = word;
			return -1;
		}
		bits |= (int)BIT(i);
		if (end == NULL)
			return bits;
		p = end + 1;
	}
}

int
jobs_query_parse(const char *qs, struct jobs_query *q)
{
	char		 name[32], value[JOBS_CURSOR_MAX + 1];
	const char	*p, *amp, *eq, *bad;
	unsigned	 seen = 0, active = ALL_STATUSES;
	size_t		 len;
	long		 n, limit;
	char		*end;
	int		 bits;

	memset(q, 0, sizeof(*q));
	q->jq_statuses = ALL_STATUSES;
	q->jq_limit = JOBS_LIMIT_DEFAULT;
	for (p = qs != NULL ? qs : ""; *p != '\0'; p = amp != NULL ? amp + 1 : p + len) {
		amp = strchr(p, '&');
		len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (len == 0)
			continue;
		eq = memchr(p, '=', len);
		if (query_decode(p, eq != NULL ? (size_t)(eq - p) : len, name, sizeof(name)) < 0)
			return problem(q, "a query parameter's name is malformed or too long");
		n = eq == NULL ? 0 : query_decode(eq + 1, len - (size_t)(eq + 1 - p), value,
		    sizeof(value));
		if (eq == NULL)
			value[0] = '\0';
		if (n == -1)
			return problem(q, "malformed percent-encoding in the value of \"%s\"", name);
		if (n == -2)
			return problem(q, "the value of \"%s\" is too long", name);

#define ONCE(bit) do {							\
		if (seen & (bit))					\
			return problem(q, "\"%s\" is given twice", name); \
		seen |= (bit);						\
	} while (0)
		if (strcmp(name, "status") == 0) {
			ONCE(1);
			if ((bits = jobs_parse_statuses(value, &bad)) == -1)
				return problem(q, "status: \"%s\" is not a status; use queued, "
				    "running, stalled, cancelling, cancelled, completed or failed "
				    "(comma-separated)", bad);
			q->jq_statuses = (unsigned)bits;
		} else if (strcmp(name, "active") == 0) {
			ONCE(2);
			if (strcmp(value, "true") == 0)
				active = ACTIVE_STATUSES;
			else if (strcmp(value, "false") == 0)
				active = ALL_STATUSES & ~ACTIVE_STATUSES;
			else
				return problem(q, "active must be true or false");
		} else if (strcmp(name, "limit") == 0) {
			ONCE(4);
			errno = 0;
			limit = strtol(value, &end, 10);
			if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
			    limit < 1 || limit > JOBS_LIMIT_MAX)
				return problem(q, "limit must be a whole number from 1 to "
				    JOBS_LIMIT_MAX_TEXT);
			q->jq_limit = (int)limit;
		} else if (strcmp(name, "cursor") == 0) {
			ONCE(8);
			if (jobs_cursor_decode(value, &q->jq_cursor_us, q->jq_cursor_id,
			    sizeof(q->jq_cursor_id)) == -1)
				return problem(q, "cursor is not one this API gave out: pass "
				    "next_cursor from the previous page as it is");
			q->jq_has_cursor = true;
		} else
			return problem(q, "unknown query parameter \"%s\": the list takes "
			    "status, active, limit and cursor", name);
#undef ONCE
	}
	q->jq_statuses &= active;
	return 0;
}

int
jobs_cursor_encode(int64_t activity_us, const char *job_id, char *out, size_t size)
{
	char	 raw[24 + TP_JOB_ID_MAX + 1];
	int	 n;

	n = snprintf(raw, sizeof(raw), "%" PRId64 ":%s", activity_us, job_id);
	if (n < 0 || (size_t)n >= sizeof(raw))
		return -1;
	return b64url_encode(raw, (size_t)n, out, size) < 0 ? -1 : 0;
}

int
jobs_cursor_decode(const char *cursor, int64_t *activity_us, char *job_id, size_t size)
{
	unsigned char	 raw[24 + TP_JOB_ID_MAX + 1];
	char		*colon, *end, again[24];
	size_t		 idlen;
	long		 n;
	long long	 us;

	n = b64url_decode(cursor, strlen(cursor), raw, sizeof(raw) - 1);
	if (n <= 0)
		return -1;
	raw[n] = '\0';
	if (memchr(raw, '\0', (size_t)n) != NULL ||
	    (colon = strchr((char *)raw, ':')) == NULL || colon == (char *)raw)
		return -1;
	*colon = '\0';
	errno = 0;
	us = strtoll((char *)raw, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	/* Only what jobs_cursor_encode() writes: no "+5", " 5" or "0005". */
	snprintf(again, sizeof(again), "%lld", us);
	if (strcmp(again, (char *)raw) != 0)
		return -1;
	idlen = strlen(colon + 1);
	if (tp_job_id_problem(colon + 1, idlen) != NULL || idlen >= size)
		return -1;
	memcpy(job_id, colon + 1, idlen + 1);
	*activity_us = (int64_t)us;
	return 0;
}

/*
 * query.c: what a request asks beyond its path: the dashboard list's query
 * string (status, active, limit, cursor) and its cursors, the history's
 * (since_seq, limit), and If-None-Match.  Pure: no I/O, no allocation.
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
#include <strings.h>

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

static int say(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes why a query is refused into buf; returns -1. */
static int
say(char *buf, size_t size, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return -1;
}

#define problem(q, ...)	say((q)->jq_problem, sizeof((q)->jq_problem), __VA_ARGS__)

/* One decoded parameter of a query string. */
struct param {
	char	 pa_name[32];
	char	 pa_value[JOBS_CURSOR_MAX + 1];
	int	 pa_index;		/* in the query's names */
};

/* What a query takes: its parameters' names (NULL-terminated), and that in words. */
struct query_names {
	const char *const	*qn_names;
	const char		*qn_takes;	/* "the list takes status, ..." */
};

/*
 * The next parameter of the query string at *p (empty ones skipped), moving
 * *p past it: one of qn's names (its index in pa_index), not seen before
 * (bits in *seen).  1, 0 at the end, or -1 with why in why[0..size).
 */
static int
next_param(const char **p, const struct query_names *qn, unsigned *seen, struct param *pa,
    char *why, size_t size)
{
	const char	*amp, *eq;
	size_t		 len;
	long		 n;

	for (;;) {
		if (**p == '\0')
			return 0;
		amp = strchr(*p, '&');
		len = amp != NULL ? (size_t)(amp - *p) : strlen(*p);
		if (len > 0)
			break;
		*p += 1;
	}
	eq = memchr(*p, '=', len);
	if (query_decode(*p, eq != NULL ? (size_t)(eq - *p) : len, pa->pa_name,
	    sizeof(pa->pa_name)) < 0)
		return say(why, size, "a query parameter's name is malformed or too long");
	n = eq == NULL ? 0 : query_decode(eq + 1, len - (size_t)(eq + 1 - *p), pa->pa_value,
	    sizeof(pa->pa_value));
	if (eq == NULL)
		pa->pa_value[0] = '\0';
	*p = amp != NULL ? amp + 1 : *p + len;
	if (n == -1)
		return say(why, size, "malformed percent-encoding in the value of \"%s\"",
		    pa->pa_name);
	if (n == -2)
		return say(why, size, "the value of \"%s\" is too long", pa->pa_name);
	for (pa->pa_index = 0; qn->qn_names[pa->pa_index] != NULL; pa->pa_index++)
		if (strcmp(pa->pa_name, qn->qn_names[pa->pa_index]) == 0)
			break;
	if (qn->qn_names[pa->pa_index] == NULL)
		return say(why, size, "unknown query parameter \"%s\": %s", pa->pa_name,
		    qn->qn_takes);
	if (*seen & (1u << pa->pa_index))
		return say(why, size, "\"%s\" is given twice", pa->pa_name);
	*seen |= 1u << pa->pa_index;
	return 1;
}

/* A whole number written in decimal digits only, within lo..hi.  0 or -1. */
static int
whole_number(const char *s, long long lo, long long hi, long long *out)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
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
	static const char *const names[] = { "status", "active", "limit", "cursor", NULL };
	static const struct query_names qn = { names,
	    "the list takes status, active, limit and cursor" };
	struct param	 pa;
	const char	*p = qs != NULL ? qs : "", *bad;
	unsigned	 seen = 0, active = ALL_STATUSES;
	long long	 limit;
	int		 bits, rc;

	memset(q, 0, sizeof(*q));
	q->jq_statuses = ALL_STATUSES;
	q->jq_limit = JOBS_LIMIT_DEFAULT;
	while ((rc = next_param(&p, &qn, &seen, &pa, q->jq_problem,
	    sizeof(q->jq_problem))) == 1) {
		switch (pa.pa_index) {
		case 0:		/* status */
			if ((bits = jobs_parse_statuses(pa.pa_value, &bad)) == -1)
				return problem(q, "status: \"%s\" is not a status; use queued, "
				    "running, stalled, cancelling, cancelled, completed or failed "
				    "(comma-separated)", bad);
			q->jq_statuses = (unsigned)bits;
			break;
		case 1:		/* active */
			if (strcmp(pa.pa_value, "true") == 0)
				active = ACTIVE_STATUSES;
			else if (strcmp(pa.pa_value, "false") == 0)
				active = ALL_STATUSES & ~ACTIVE_STATUSES;
			else
				return problem(q, "active must be true or false");
			break;
		case 2:		/* limit */
			if (whole_number(pa.pa_value, 1, JOBS_LIMIT_MAX, &limit) == -1)
				return problem(q, "limit must be a whole number from 1 to "
				    JOBS_LIMIT_MAX_TEXT);
			q->jq_limit = (int)limit;
			break;
		default:	/* cursor */
			if (jobs_cursor_decode(pa.pa_value, &q->jq_cursor_us, q->jq_cursor_id,
			    sizeof(q->jq_cursor_id)) == -1)
				return problem(q, "cursor is not one this API gave out: pass "
				    "next_cursor from the previous page as it is");
			q->jq_has_cursor = true;
			break;
		}
	}
	if (rc == -1)
		return -1;
	q->jq_statuses &= active;
	return 0;
}

int
history_query_parse(const char *qs, struct history_query *q)
{
	static const char *const names[] = { "since_seq", "limit", NULL };
	static const struct query_names qn = { names, "the history takes since_seq and limit" };
	struct param	 pa;
	const char	*p = qs != NULL ? qs : "";
	unsigned	 seen = 0;
	long long	 v;
	int		 rc;

	memset(q, 0, sizeof(*q));
	q->hq_limit = HISTORY_LIMIT_DEFAULT;
	while ((rc = next_param(&p, &qn, &seen, &pa, q->hq_problem,
	    sizeof(q->hq_problem))) == 1) {
		if (pa.pa_index == 0) {		/* since_seq */
			if (whole_number(pa.pa_value, 0, INT64_MAX, &v) == -1)
				return say(q->hq_problem, sizeof(q->hq_problem), "since_seq must "
				    "be a whole number from 0 (the seq of the last snapshot seen)");
			q->hq_since_seq = (int64_t)v;
		} else {			/* limit */
			if (whole_number(pa.pa_value, 1, HISTORY_LIMIT_MAX, &v) == -1)
				return say(q->hq_problem, sizeof(q->hq_problem), "limit must be "
				    "a whole number from 1 to %d", HISTORY_LIMIT_MAX);
			q->hq_limit = (int)v;
		}
	}
	return rc;
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

bool
etag_matches(const char *header, const char *etag)
{
	const char	*p = header, *tag;
	size_t		 elen = strlen(etag);
	bool		 match = false;

	if (header == NULL)
		return false;
	p += strspn(p, " \t");
	if (*p == '*') {
		p++;
		return p[strspn(p, " \t")] == '\0';
	}
	/* 1#entity-tag, empty elements allowed: [ tag ] *( OWS "," OWS [ tag ] ) */
	for (;;) {
		p += strspn(p, " \t");
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			return match;
		/* Weak comparison: W/ does not count. */
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return false;
		tag = p++;
		/* etagc: %x21 / %x23-7E / obs-text */
		while (*p == 0x21 || (*p >= 0x23 && *p <= 0x7e) || (unsigned char)*p >= 0x80)
			p++;
		if (*p++ != '"')
			return false;
		if ((size_t)(p - tag) == elen && memcmp(tag, etag, elen) == 0)
			match = true;
		p += strspn(p, " \t");
		if (*p != ',' && *p != '\0')
			return false;
	}
}

bool
header_lists(const char *value, const char *token)
{
	size_t		 n = strlen(token);
	const char	*p = value;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' ||
		    p[n] == ';' || p[n] == ' ' || p[n] == '\t'))
			return true;
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
	return false;
}


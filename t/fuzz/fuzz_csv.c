/* fuzz_csv.c: libFuzzer target for candles_parse_csv() (tools/train/candles.c): CSV candles from untrusted bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/train/train.h"
#include "common.h"

/*
 * Lines of buf that are not blank, counted as the parser is documented to
 * read them: a UTF-8 BOM at the start skipped, lines ending at LF, a CR
 * before the LF dropped, blank meaning only spaces and tabs.  *lines gets
 * the number of lines in all.
 */
static size_t
nonblank_lines(const char *buf, size_t len, size_t *lines)
{
	size_t	 pos = 0, end, n = 0, i, stop;
	bool	 blank;

	*lines = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		(*lines)++;
		for (end = pos; end < len && buf[end] != '\n'; end++)
			;
		stop = end > pos && buf[end - 1] == '\r' ? end - 1 : end;
		blank = true;
		for (i = pos; i < stop; i++)
			if (buf[i] != ' ' && buf[i] != '\t')
				blank = false;
		if (!blank)
			n++;
		pos = end < len ? end + 1 : len;
	}
	return n;
}

/*
 * Is err "line N: <something>" with 1 <= N <= max_line?  The parser's
 * promise: every error names the line it is about.
 */
static bool
error_names_line(const char *err, size_t max_line)
{
	unsigned long long	 v = 0;
	size_t			 i = 5;

	if (strncmp(err, "line ", 5) != 0 || !(err[i] >= '1' && err[i] <= '9'))
		return false;
	for (; err[i] >= '0' && err[i] <= '9' && i < 30; i++)
		v = v * 10 + (unsigned)(err[i] - '0');
	return err[i] == ':' && err[i + 1] == ' ' && err[i + 2] != '\0' && v <= max_line;
}

/* Checks one outcome of the parse of buf[0..len) into s (which held n0 candles). */
static void
check_outcome(const char *buf, size_t len, int rc, const struct series *s, size_t n0,
    const char *err)
{
	size_t	 i, lines, rows = nonblank_lines(buf, len, &lines);
	const char *why;

	CHECK("csv-result", rc == 0 || rc == -1, "returned %d", rc);
	if (rc == -1) {
		CHECK("csv-error-line", error_names_line(err, lines + 1),
		    "the error does not name a line of the input (%zu lines): %s", lines, err);
		CHECK("csv-error-restores", s->s_n == n0, "a refused input left %zu candles, "
		    "not %zu", s->s_n, n0);
		return;
	}
	CHECK("csv-rows", rows >= 1 && s->s_n - n0 == rows - 1, "accepted %zu candles from "
	    "%zu non-blank lines (one the header)", s->s_n - n0, rows);
	for (i = n0; i < s->s_n; i++) {
		why = candle_problem(&s->s_c[i]);
		CHECK("csv-sane", why == NULL, "candle %zu accepted: %s", i - n0, why);
		if (i > 0)
			CHECK("csv-order", s->s_c[i].c_ts > s->s_c[i - 1].c_ts,
			    "candle %zu at %lld, not after %lld", i - n0,
			    (long long)s->s_c[i].c_ts, (long long)s->s_c[i - 1].c_ts);
		CHECK("csv-ts", s->s_c[i].c_ts >= 0 && s->s_c[i].c_ts <= INT64_C(253402300799),
		    "timestamp %lld out of 1970..9999", (long long)s->s_c[i].c_ts);
	}
}

/*
 * Input: any bytes, parsed three ways: from an exact-size copy (no NUL
 * after it, so that reading past the end is caught), again (the same
 * answer: deterministic), and appended to a series that already holds a
 * candle before 1970 (the same candles after it, or it alone on error).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct series	 a = { 0 }, b = { 0 }, c = { 0 };
	struct candle	 first = { -1, 1, 1, 1, 1, 0 };
	char		*buf, err[256], err2[256], err3[256];
	int		 rc, rc2, rc3;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	memset(err, 'x', sizeof(err));
	rc = candles_parse_csv(buf, size, &a, err, sizeof(err));
	CHECK("csv-error-terminated", memchr(err, '\0', sizeof(err)) != NULL,
	    "err is not a string");
	check_outcome(buf, size, rc, &a, 0, err);

	rc2 = candles_parse_csv(buf, size, &b, err2, sizeof(err2));
	CHECK("csv-deterministic", rc2 == rc && b.s_n == a.s_n &&
	    (a.s_n == 0 || memcmp(a.s_c, b.s_c, a.s_n * sizeof(*a.s_c)) == 0) &&
	    (rc == 0 || strcmp(err, err2) == 0), "a second parse differs: %d/%d %s / %s",
	    rc, rc2, rc == -1 ? err : "", rc2 == -1 ? err2 : "");

	if (series_push(&c, &first) == 0) {
		rc3 = candles_parse_csv(buf, size, &c, err3, sizeof(err3));
		check_outcome(buf, size, rc3, &c, 1, err3);
		CHECK("csv-append", rc3 == rc && c.s_n == a.s_n + 1 && c.s_c[0].c_ts == -1 &&
		    (a.s_n == 0 || memcmp(a.s_c, c.s_c + 1, a.s_n * sizeof(*a.s_c)) == 0) &&
		    (rc == 0 || strcmp(err, err3) == 0), "appending differs: %d/%d", rc, rc3);
	}
	/* A tiny error buffer is cut, and still terminated. */
	if (rc == -1) {
		memset(err3, 'x', sizeof(err3));
		candles_parse_csv(buf, size, &b, err3, 6);
		CHECK("csv-error-terminated", err3[5] == '\0' && strncmp(err3, "line ", 5) == 0,
		    "a 6-byte err is not \"line \"");
	}
	series_free(&a);
	series_free(&b);
	series_free(&c);
	free(buf);
	return 0;
}

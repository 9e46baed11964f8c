/* test_sse.c: tools/sse.c, tp-watch's text/event-stream parser, rule by rule. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../tools/sse.h"

/*
 * What the parser reported, as text: "E(type)(id)(data)" per event and
 * "R(ms)" per retry, each part as <length>:<bytes> so that NULs and
 * parentheses in them cannot make two logs alike.
 */
struct log {
	char	 b[65536];
	size_t	 n;
	int	 stop_at;	/* the callback returns 42 at this event (1-based); 0: never */
	int	 events;
};

static void
log_put(struct log *l, const char *s, size_t n)
{
	cr_assert_lt(l->n + n, sizeof(l->b), "the log is full");
	memcpy(l->b + l->n, s, n);
	l->n += n;
}

static void
log_part(struct log *l, const char *s, size_t n)
{
	char	 len[32];

	snprintf(len, sizeof(len), "%zu:", n);
	log_put(l, len, strlen(len));
	log_put(l, s, n);
}

static int
on_event(const struct sse_event *ev, void *arg)
{
	struct log	*l = arg;

	cr_assert_eq(ev->se_data[ev->se_len], '\0', "the data is NUL-terminated");
	log_put(l, "E", 1);
	log_part(l, ev->se_type, ev->se_typelen);
	log_part(l, ev->se_id, strlen(ev->se_id));
	log_part(l, ev->se_data, ev->se_len);
	l->events++;
	return l->events == l->stop_at ? 42 : 0;
}

static void
on_retry(long ms, void *arg)
{
	struct log	*l = arg;
	char		 s[32];

	snprintf(s, sizeof(s), "R%ld", ms);
	log_put(l, s, strlen(s));
}

static struct sse_parser	 p;
static struct log		 got;

static void
setup(void)
{
	memset(&got, 0, sizeof(got));
	sse_init(&p, 0, on_event, on_retry, &got);
}

static void
teardown(void)
{
	sse_free(&p);
}

TestSuite(sse, .init = setup, .fini = teardown);

/* Feeds n bytes (a literal may hold NULs) and expects 0. */
static void
feed(const char *s, size_t n)
{
	cr_assert_eq(sse_feed(&p, s, n), 0, "sse_feed(\"%.*s\")", (int)n, s);
}
#define FEED(lit)	feed((lit), sizeof(lit) - 1)

/* The log of one event, as on_event() writes it. */
static size_t
event_log(char *out, size_t size, const char *type, const char *id, const char *data,
    size_t datalen)
{
	int	 n;

	n = snprintf(out, size, "E%zu:%s%zu:%s%zu:", strlen(type), type, strlen(id), id, datalen);
	cr_assert(n > 0 && (size_t)n + datalen < size);
	memcpy(out + n, data, datalen);
	return (size_t)n + datalen;
}

/* The log holds exactly these events (type "message" unless said), in order. */
static void
expect_one(const char *type, const char *id, const char *data, size_t datalen)
{
	char	 want[4096];
	size_t	 n = event_log(want, sizeof(want), type, id, data, datalen);

	cr_assert_eq(got.n, n, "log \"%.*s\", want \"%.*s\"", (int)got.n, got.b, (int)n, want);
	cr_assert(memcmp(got.b, want, n) == 0, "log \"%.*s\", want \"%.*s\"", (int)got.n,
	    got.b, (int)n, want);
}

static void
expect_log(const char *want)
{
	cr_assert_eq(got.n, strlen(want), "log \"%.*s\", want \"%s\"", (int)got.n, got.b, want);
	cr_assert(memcmp(got.b, want, got.n) == 0, "log \"%.*s\", want \"%s\"", (int)got.n,
	    got.b, want);
}

Test(sse, one_event)
{
	FEED("data: hello\n\n");
	expect_one("message", "", "hello", 5);
	cr_assert_str_eq(sse_last_id(&p), "");
	cr_assert_eq(sse_retry(&p), -1);
}

Test(sse, data_lines_joined_with_lf)
{
	FEED("data: a\ndata: b\ndata\ndata: c\n\n");
	expect_one("message", "", "a\nb\n\nc", 6);
}

Test(sse, cr_lf_and_crlf_end_lines)
{
	FEED("data: a\rdata: b\r\ndata: c\n\r\n");
	expect_one("message", "", "a\nb\nc", 5);
	got.n = 0;
	FEED("data: x\r\r");
	expect_one("message", "", "x", 1);
}

Test(sse, cr_at_chunk_end_then_lf_is_one_line_end)
{
	/* Were the LF a line end of its own, "a" would be dispatched alone. */
	FEED("data: a\r");
	FEED("\ndata: b\r");
	FEED("\n\r");
	FEED("\n");
	expect_one("message", "", "a\nb", 3);
	got.n = 0;
	/* A CR then something else: the next line starts with it. */
	FEED("data: c\r");
	FEED("data: d\r\r");
	expect_one("message", "", "c\nd", 3);
}

Test(sse, lf_lf_after_cr_are_two_line_ends)
{
	FEED("data: a\r\n\n");
	expect_one("message", "", "a", 1);
}

Test(sse, leading_bom_skipped)
{
	FEED("\xef\xbb\xbf" "data: x\n\n");
	expect_one("message", "", "x", 1);
}

Test(sse, bom_cut_across_chunks)
{
	FEED("\xef");
	FEED("\xbb");
	FEED("\xbf" "da");
	FEED("ta: x\n\n");
	expect_one("message", "", "x", 1);
}

Test(sse, only_one_bom_skipped)
{
	/* The second one is part of the first field's name: an unknown field. */
	FEED("\xef\xbb\xbf\xef\xbb\xbf" "data: x\n\ndata: y\n\n");
	expect_one("message", "", "y", 1);
}

Test(sse, half_a_bom_is_data)
{
	FEED("\xef\xbb" "data: x\n\ndata: y\n\n");
	expect_one("message", "", "y", 1);
	got.n = 0;
	FEED("data: \xef\xbb\xbf" "z\n\n");
	expect_one("message", "", "\xef\xbb\xbf" "z", 4);
}

Test(sse, bom_after_reconnect)
{
	FEED("data: a\n\n");
	sse_reconnect(&p);
	got.n = 0;
	FEED("\xef\xbb\xbf" "data: b\n\n");
	expect_one("message", "", "b", 1);
}

Test(sse, comments_ignored)
{
	FEED(": hello\n:\ndata: a\n: between\ndata: b\n:data: c\n\n");
	expect_one("message", "", "a\nb", 3);
	got.n = 0;
	FEED(": only a comment\n\n");
	expect_log("");
}

Test(sse, one_leading_space_stripped)
{
	FEED("data:x\n\n");
	expect_one("message", "", "x", 1);
	got.n = 0;
	FEED("data:  x \n\n");
	expect_one("message", "", " x ", 3);
	got.n = 0;
	FEED("data:\tx\n\n");
	expect_one("message", "", "\tx", 2);
	got.n = 0;
	FEED("data: a: b\n\n");
	expect_one("message", "", "a: b", 4);
}

Test(sse, field_without_colon_has_empty_value)
{
	FEED("data\n\n");
	expect_one("message", "", "", 0);
}

Test(sse, blank_line_without_data_dispatches_nothing)
{
	FEED("\n\n\r\n");
	expect_log("");
	FEED("event: x\n\ndata: y\n\n");
	expect_one("message", "", "y", 1);
}

Test(sse, event_type)
{
	FEED("event: update\ndata: x\n\ndata: y\n\n");
	char	 want[256];
	size_t	 n = event_log(want, sizeof(want), "update", "", "x", 1);

	n += event_log(want + n, sizeof(want) - n, "message", "", "y", 1);
	cr_assert_eq(got.n, n);
	cr_assert(memcmp(got.b, want, n) == 0, "log \"%.*s\"", (int)got.n, got.b);
}

Test(sse, empty_event_type_is_message)
{
	FEED("event\ndata: x\n\n");
	expect_one("message", "", "x", 1);
}

Test(sse, field_names_exact)
{
	FEED("Data: x\n data: y\ndata : z\nfoo: bar\n\n");
	expect_log("");
	FEED("foo: bar\ndata: w\n\n");
	expect_one("message", "", "w", 1);
}

Test(sse, id_persists_across_events)
{
	FEED("id: 7\ndata: a\n\ndata: b\n\n");
	char	 want[256];
	size_t	 n = event_log(want, sizeof(want), "message", "7", "a", 1);

	n += event_log(want + n, sizeof(want) - n, "message", "7", "b", 1);
	cr_assert_eq(got.n, n);
	cr_assert(memcmp(got.b, want, n) == 0, "log \"%.*s\"", (int)got.n, got.b);
	cr_assert_str_eq(sse_last_id(&p), "7");
}

Test(sse, id_set_at_blank_line_even_without_data)
{
	FEED("id: 9\n");
	cr_assert_str_eq(sse_last_id(&p), "", "not before the blank line");
	FEED("\n");
	cr_assert_str_eq(sse_last_id(&p), "9");
	expect_log("");
	FEED("data: x\n\n");
	expect_one("message", "9", "x", 1);
}

Test(sse, empty_id_resets)
{
	FEED("id: 3\ndata: a\n\nid\ndata: b\n\n");
	cr_assert_str_eq(sse_last_id(&p), "");
}

Test(sse, id_with_nul_ignored)
{
	FEED("id: 5\ndata: a\n\nid: 6\0x\ndata: b\n\n");
	char	 want[256];
	size_t	 n = event_log(want, sizeof(want), "message", "5", "a", 1);

	n += event_log(want + n, sizeof(want) - n, "message", "5", "b", 1);
	cr_assert_eq(got.n, n, "log \"%.*s\"", (int)got.n, got.b);
	cr_assert(memcmp(got.b, want, n) == 0, "log \"%.*s\"", (int)got.n, got.b);
}

Test(sse, data_may_hold_nul)
{
	FEED("data: a\0b\n\n");
	expect_one("message", "", "a\0b", 3);
}

Test(sse, retry_only_digits)
{
	FEED("retry: 1000\n");
	expect_log("R1000");
	cr_assert_eq(sse_retry(&p), 1000);
	FEED("retry: 10a\nretry:\nretry: -5\nretry: 1.5\nretry:  7\nretry: +7\n");
	expect_log("R1000");
	cr_assert_eq(sse_retry(&p), 1000, "invalid values leave it");
	FEED("retry:0\n");
	expect_log("R1000R0");
	FEED("retry: 99999999999999999999999999\n");
	cr_assert_eq(sse_retry(&p), LONG_MAX, "capped, not wrapped");
}

Test(sse, retry_alone_dispatches_nothing)
{
	FEED("retry: 1000\n\n");
	expect_log("R1000");
}

Test(sse, incomplete_event_never_dispatched)
{
	FEED("id: 4\ndata: x\n");
	sse_end(&p);
	expect_log("");
	cr_assert_str_eq(sse_last_id(&p), "");
	sse_reconnect(&p);
	FEED("data: y\n\n");
	expect_one("message", "", "y", 1);
}

Test(sse, half_a_line_at_the_end_is_dropped)
{
	FEED("data: a\n\ndata: b");
	sse_reconnect(&p);
	FEED("\n\n");
	expect_one("message", "", "a", 1);
}

Test(sse, reconnect_keeps_last_id_and_retry)
{
	FEED("retry: 250\nid: end:6\ndata: x\n\n");
	sse_reconnect(&p);
	cr_assert_str_eq(sse_last_id(&p), "end:6");
	cr_assert_eq(sse_retry(&p), 250);
}

Test(sse, callback_stops_the_parser)
{
	got.stop_at = 1;
	cr_assert_eq(sse_feed(&p, "data: a\n\ndata: b\n\n", 18), 42);
	expect_one("message", "", "a", 1);
}

Test(sse, line_over_the_limit_is_an_error)
{
	char	 line[40];

	sse_free(&p);
	sse_init(&p, 16, on_event, on_retry, &got);
	/* 16 bytes: the limit, allowed. */
	FEED("data: 0123456789\n\n");
	expect_one("message", "", "0123456789", 10);
	/* 17 bytes, even cut in two: refused, and from then on. */
	cr_assert_eq(sse_feed(&p, "data: 0123", 10), 0);
	cr_assert_eq(sse_feed(&p, "4567890", 7), SSE_ETOOBIG);
	cr_assert_eq(sse_feed(&p, "\n\n", 2), SSE_ETOOBIG);
	sse_reconnect(&p);
	got.n = 0;
	FEED("data: ok\n\n");
	expect_one("message", "", "ok", 2);
	/* A comment too: nothing is held beyond the limit. */
	memset(line, 'x', sizeof(line));
	line[0] = ':';
	cr_assert_eq(sse_feed(&p, line, sizeof(line)), SSE_ETOOBIG);
}

Test(sse, event_over_the_limit_is_an_error)
{
	int	 i;

	sse_free(&p);
	sse_init(&p, 16, on_event, on_retry, &got);
	/* Data "abcdefg\nabcdefg\n": 16 bytes with its last LF, allowed. */
	FEED("data: abcdefg\ndata: abcdefg\n\n");
	expect_one("message", "", "abcdefg\nabcdefg", 15);
	for (i = 0; i < 5; i++)
		cr_assert_eq(sse_feed(&p, "data: abc\n", 10), i < 4 ? 0 : SSE_ETOOBIG,
		    "line %d", i);
}

/*
 * A stream with every rule in it: a BOM, each line end, comments, ids
 * (one with a NUL), event types, retries, a multi-line event, an empty
 * data line, a blank line without data, and an unfinished event at the end.
 */
static const char	 sample[] =
    "\xef\xbb\xbf" ": hello\r\n"
    "retry: 1000\n"
    "id: 1\r"
    "data: {\"seq\": 1}\r\n"
    "\r\n"
    "event: update\n"
    "data: first\r"
    "data\n"
    "data:  third\n"
    "\n"
    "id: 2\0z\r\n"
    "retry: 5x\n"
    "data: after a bad id\r\r"
    "id: end:6\n"
    "\n"
    ":\n"
    "data: {\"seq\": 6}\n"
    "\r\n"
    "retry:250\r"
    "data: never dispatched\n";

/* Feeds the sample cut at the given points; returns the log. */
static void
feed_cut(const size_t *cuts, int ncuts, struct log *l)
{
	struct sse_parser	 q;
	size_t			 at = 0, len = sizeof(sample) - 1;
	int			 i;

	memset(l, 0, sizeof(*l));
	sse_init(&q, 0, on_event, on_retry, l);
	for (i = 0; i <= ncuts; i++) {
		size_t	 to = i < ncuts ? cuts[i] : len;

		cr_assert_eq(sse_feed(&q, sample + at, to - at), 0);
		at = to;
	}
	sse_end(&q);
	cr_assert_str_eq(sse_last_id(&q), "end:6");
	cr_assert_eq(sse_retry(&q), 250);
	sse_free(&q);
}

Test(sse, sample_whole)
{
	struct log	 whole;
	char		 want[1024];
	size_t		 n = 0;

	feed_cut(NULL, 0, &whole);
	n += (size_t)snprintf(want + n, sizeof(want) - n, "R1000");
	n += event_log(want + n, sizeof(want) - n, "message", "1", "{\"seq\": 1}", 10);
	n += event_log(want + n, sizeof(want) - n, "update", "1", "first\n\n third", 13);
	/* "id: 2\0z" is ignored; "retry: 5x" too. */
	n += event_log(want + n, sizeof(want) - n, "message", "1", "after a bad id", 14);
	n += event_log(want + n, sizeof(want) - n, "message", "end:6", "{\"seq\": 6}", 10);
	n += (size_t)snprintf(want + n, sizeof(want) - n, "R250");
	cr_assert_eq(whole.n, n, "log \"%.*s\"", (int)whole.n, whole.b);
	cr_assert(memcmp(whole.b, want, n) == 0, "log \"%.*s\"\nwant \"%.*s\"", (int)whole.n,
	    whole.b, (int)n, want);
}

Test(sse, every_split_in_two_gives_the_same_events)
{
	struct log	 whole, cut;
	size_t		 i;

	feed_cut(NULL, 0, &whole);
	for (i = 0; i <= sizeof(sample) - 1; i++) {
		feed_cut(&i, 1, &cut);
		cr_assert_eq(cut.n, whole.n, "cut at %zu", i);
		cr_assert(memcmp(cut.b, whole.b, whole.n) == 0, "cut at %zu: \"%.*s\"", i,
		    (int)cut.n, cut.b);
	}
}

Test(sse, every_split_in_three_gives_the_same_events)
{
	struct log	 whole, cut;
	size_t		 c[2], len = sizeof(sample) - 1;

	feed_cut(NULL, 0, &whole);
	for (c[0] = 0; c[0] <= len; c[0]++)
		for (c[1] = c[0]; c[1] <= len; c[1]++) {
			feed_cut(c, 2, &cut);
			cr_assert(cut.n == whole.n && memcmp(cut.b, whole.b, whole.n) == 0,
			    "cut at %zu and %zu", c[0], c[1]);
		}
}

Test(sse, byte_by_byte_gives_the_same_events)
{
	struct log	 whole, cut;
	size_t		 cuts[sizeof(sample)], i;

	feed_cut(NULL, 0, &whole);
	for (i = 1; i < sizeof(sample) - 1; i++)
		cuts[i - 1] = i;
	feed_cut(cuts, (int)(sizeof(sample) - 2), &cut);
	cr_assert(cut.n == whole.n && memcmp(cut.b, whole.b, whole.n) == 0);
}

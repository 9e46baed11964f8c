/* test_query.c: fcgi/query.c: the jobs list's query string, status lists and cursors. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static struct jobs_query	 q;

Test(query, defaults)
{
	cr_assert_eq(jobs_query_parse(NULL, &q), 0);
	cr_assert_eq(q.jq_statuses, 0x7f);
	cr_assert_eq(q.jq_limit, 50);
	cr_assert_not(q.jq_has_cursor);
	cr_assert_eq(jobs_query_parse("", &q), 0);
	cr_assert_eq(jobs_query_parse("&&", &q), 0);
}

Test(query, filters_combine)
{
	cr_assert_eq(jobs_query_parse("status=running,stalled&limit=200", &q), 0, "%s", q.jq_problem);
	cr_assert_eq(q.jq_statuses, (1u << 1) | (1u << 2));
	cr_assert_eq(q.jq_limit, 200);
	cr_assert_eq(jobs_query_parse("active=true", &q), 0);
	cr_assert_eq(q.jq_statuses, 0x0f, "queued, running, stalled, cancelling");
	cr_assert_eq(jobs_query_parse("active=false", &q), 0);
	cr_assert_eq(q.jq_statuses, 0x70, "cancelled, completed, failed");
	cr_assert_eq(jobs_query_parse("active=true&status=completed,queued", &q), 0);
	cr_assert_eq(q.jq_statuses, 1u, "the intersection");
	cr_assert_eq(jobs_query_parse("status=failed%2Ccancelled", &q), 0, "encoded comma");
	cr_assert_eq(q.jq_statuses, (1u << 4) | (1u << 6));
}

Test(query, refusals_say_why)
{
	static const struct { const char *qs; const char *words; } bad[] = {
		{ "limit=0", "1 to 200" }, { "limit=201", "1 to 200" }, { "limit=-1", "1 to 200" },
		{ "limit=1x", "1 to 200" }, { "limit=", "1 to 200" }, { "limit=+5", "1 to 200" },
		{ "status=", "is not a status" }, { "status=running,", "is not a status" },
		{ "status=Running", "is not a status" }, { "active=1", "true or false" },
		{ "cursor=", "cursor" }, { "cursor=%zz", "percent-encoding" },
		{ "sort=asc", "unknown query parameter \"sort\"" },
		{ "limit=1&limit=2", "twice" }, { "status=queued&status=failed", "twice" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(jobs_query_parse(bad[i].qs, &q), -1, "accepted %s", bad[i].qs);
		cr_assert_not_null(strstr(q.jq_problem, bad[i].words), "%s: %s", bad[i].qs,
		    q.jq_problem);
	}
}

Test(query, cursors_round_trip_and_refuse_forgeries)
{
	char		 c[JOBS_CURSOR_MAX + 1], qs[JOBS_CURSOR_MAX + 16], id[TP_JOB_ID_MAX + 1];
	char		 longid[TP_JOB_ID_MAX + 1];
	int64_t		 at;

	cr_assert_eq(jobs_cursor_encode(INT64_C(1761199825123456), "job:with/odd&chars", c, sizeof(c)), 0);
	cr_assert_null(strpbrk(c, "+/=&"), "safe in a query string: %s", c);
	snprintf(qs, sizeof(qs), "cursor=%s&limit=3", c);
	cr_assert_eq(jobs_query_parse(qs, &q), 0, "%s", q.jq_problem);
	cr_assert(q.jq_has_cursor);
	cr_assert_eq(q.jq_cursor_us, INT64_C(1761199825123456));
	cr_assert_str_eq(q.jq_cursor_id, "job:with/odd&chars");

	memset(longid, 'x', TP_JOB_ID_MAX);
	longid[TP_JOB_ID_MAX] = '\0';
	cr_assert_eq(jobs_cursor_encode(-5, longid, c, sizeof(c)), 0, "the longest id fits");
	cr_assert_eq(jobs_cursor_decode(c, &at, id, sizeof(id)), 0);
	cr_assert_eq(at, -5);
	cr_assert_str_eq(id, longid);

	/* base64url of "abc", "12:", ":x", "1x:y" and "1:\x01". */
	cr_assert_eq(jobs_cursor_decode("YWJj", &at, id, sizeof(id)), -1);
	cr_assert_eq(jobs_cursor_decode("MTI6", &at, id, sizeof(id)), -1, "no job id");
	cr_assert_eq(jobs_cursor_decode("Ong", &at, id, sizeof(id)), -1, "no time");
	cr_assert_eq(jobs_cursor_decode("MXg6eQ", &at, id, sizeof(id)), -1, "not a number");
	cr_assert_eq(jobs_cursor_decode("MToB", &at, id, sizeof(id)), -1, "a control character");
}

/* Found by fuzz_query: a %00 ended a name or value early. */
Test(query, a_nul_escape_is_refused)
{
	cr_assert_eq(jobs_query_parse("limit%00junk=5", &q), -1);
	cr_assert_eq(jobs_query_parse("status=running&limit=5%00abc", &q), -1);
	cr_assert_eq(jobs_query_parse("active=true%00x", &q), -1);
}

/* Found by fuzz_query: only cursors this API wrote are taken. */
Test(query, a_cursor_not_written_by_the_api_is_refused)
{
	static const char *const raw[] = { "0000:a", "+5:a", " 5:a", "\f2:i", "-0:a", "05:a" };
	char		 cursor[128], id[TP_JOB_ID_MAX + 1];
	int64_t		 us;
	size_t		 i;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		cr_assert_geq(b64url_encode(raw[i], strlen(raw[i]), cursor, sizeof(cursor)), 0);
		cr_assert_eq(jobs_cursor_decode(cursor, &us, id, sizeof(id)), -1, "%s", raw[i]);
	}
	cr_assert_eq(jobs_cursor_encode(-5, "a", cursor, sizeof(cursor)), 0);
	cr_assert_eq(jobs_cursor_decode(cursor, &us, id, sizeof(id)), 0);
	cr_assert_eq(us, -5);
	cr_assert_str_eq(id, "a");
}

/* --- more of the query string -------------------------------------------- */

/* Statuses as bits over job_status_names. */
#define QUEUED		0x01u
#define RUNNING		0x02u
#define STALLED		0x04u
#define CANCELLING	0x08u
#define CANCELLED	0x10u
#define COMPLETED	0x20u
#define FAILED		0x40u

#define LIMIT_PROBLEM	"limit must be a whole number from 1 to 200"
#define STATUS_PROBLEM(w) "status: \"" w "\" is not a status; use queued, running, " \
			"stalled, cancelling, cancelled, completed or failed (comma-separated)"
#define UNKNOWN_PROBLEM(n) "unknown query parameter \"" n "\": the list takes status, " \
			"active, limit and cursor"
#define NAME_PROBLEM	"a query parameter's name is malformed or too long"
#define ESCAPE_PROBLEM(n) "malformed percent-encoding in the value of \"" n "\""

/* qs is taken, with exactly these statuses and this limit, and no cursor. */
static void
accepted(const char *qs, unsigned statuses, int limit)
{
	cr_assert_eq(jobs_query_parse(qs, &q), 0, "refused %s: %s", qs, q.jq_problem);
	cr_assert_eq(q.jq_statuses, statuses, "%s: statuses %#x, want %#x", qs,
	    q.jq_statuses, statuses);
	cr_assert_eq(q.jq_limit, limit, "%s: limit %d, want %d", qs, q.jq_limit, limit);
	cr_assert_not(q.jq_has_cursor, "%s", qs);
	cr_assert_str_eq(q.jq_problem, "", "%s", qs);
}

/* qs is refused, saying exactly `problem`. */
static void
refused(const char *qs, const char *problem)
{
	cr_assert_eq(jobs_query_parse(qs, &q), -1, "accepted %s", qs);
	cr_assert_str_eq(q.jq_problem, problem, "%s", qs);
}

Test(query, limits_at_the_edges)
{
	accepted("limit=1", 0x7f, 1);
	accepted("limit=200", 0x7f, 200);
	accepted("limit=50", 0x7f, 50);
	accepted("limit=007", 0x7f, 7);
	accepted("limit=%32%30%30", 0x7f, 200);
	refused("limit=0", LIMIT_PROBLEM);
	refused("limit=201", LIMIT_PROBLEM);
	refused("limit=00", LIMIT_PROBLEM);
	refused("limit=2147483648", LIMIT_PROBLEM);
	refused("limit=99999999999999999999", LIMIT_PROBLEM);
	refused("limit=-0", LIMIT_PROBLEM);
	refused("limit=%2B5", LIMIT_PROBLEM);
	refused("limit=+5", LIMIT_PROBLEM);
	refused("limit=5+", LIMIT_PROBLEM);
	refused("limit=1.0", LIMIT_PROBLEM);
	refused("limit=1e2", LIMIT_PROBLEM);
	refused("limit=0x10", LIMIT_PROBLEM);
}

Test(query, empty_values_and_bare_names)
{
	accepted("&&limit=3&&", 0x7f, 3);
	accepted("&", 0x7f, 50);
	refused("status", STATUS_PROBLEM(""));
	refused("status=", STATUS_PROBLEM(""));
	refused("active", "active must be true or false");
	refused("active=", "active must be true or false");
	refused("limit", LIMIT_PROBLEM);
	refused("limit=", LIMIT_PROBLEM);
	cr_assert_eq(jobs_query_parse("cursor", &q), -1);
	cr_assert_str_eq(q.jq_problem, "cursor is not one this API gave out: pass next_cursor "
	    "from the previous page as it is");
	refused("=5", UNKNOWN_PROBLEM(""));
	refused("=", UNKNOWN_PROBLEM(""));
}

Test(query, every_parameter_at_most_once)
{
	char	 c[JOBS_CURSOR_MAX + 1], qs[2 * JOBS_CURSOR_MAX + 32];

	refused("limit=5&limit=5", "\"limit\" is given twice");
	refused("limit=5&limit=x", "\"limit\" is given twice");
	refused("limit=5&l%69mit=6", "\"limit\" is given twice");
	refused("active=true&active=true", "\"active\" is given twice");
	refused("active=true&active=false", "\"active\" is given twice");
	refused("status=queued&status=queued", "\"status\" is given twice");
	cr_assert_eq(jobs_cursor_encode(5, "j", c, sizeof(c)), 0);
	snprintf(qs, sizeof(qs), "cursor=%s&cursor=%s", c, c);
	refused(qs, "\"cursor\" is given twice");
	/* Each once, in any order: fine. */
	snprintf(qs, sizeof(qs), "limit=2&cursor=%s&active=false&status=failed", c);
	cr_assert_eq(jobs_query_parse(qs, &q), 0, "%s", q.jq_problem);
	cr_assert_eq(q.jq_statuses, FAILED);
	cr_assert_eq(q.jq_limit, 2);
	cr_assert(q.jq_has_cursor);
	cr_assert_eq(q.jq_cursor_us, 5);
	cr_assert_str_eq(q.jq_cursor_id, "j");
}

Test(query, unknown_parameters_are_named)
{
	char	 qs[64];

	refused("sort=asc", UNKNOWN_PROBLEM("sort"));
	refused("Status=running", UNKNOWN_PROBLEM("Status"));
	refused("limit=5&x=1", UNKNOWN_PROBLEM("x"));
	refused("page", UNKNOWN_PROBLEM("page"));
	refused("li+mit=5", UNKNOWN_PROBLEM("li mit"));
	refused("limit%20=5", UNKNOWN_PROBLEM("limit "));
	refused("st%61tus%3D=running", UNKNOWN_PROBLEM("status="));
	/* A name of 31 bytes is read (and named); 32 are too long. */
	snprintf(qs, sizeof(qs), "%s=1", "abcdefghijklmnopqrstuvwxyz01234");
	refused(qs, UNKNOWN_PROBLEM("abcdefghijklmnopqrstuvwxyz01234"));
	snprintf(qs, sizeof(qs), "%s=1", "abcdefghijklmnopqrstuvwxyz012345");
	refused(qs, NAME_PROBLEM);
}

Test(query, percent_escapes)
{
	accepted("st%61tus=running", RUNNING, 50);
	accepted("status=%72unning", RUNNING, 50);
	accepted("status=failed%2ccancelled", FAILED | CANCELLED, 50);
	accepted("status=failed%2Ccancelled", FAILED | CANCELLED, 50);
	refused("status=%52unning", STATUS_PROBLEM("Running"));
	refused("status=%", ESCAPE_PROBLEM("status"));
	refused("status=%2", ESCAPE_PROBLEM("status"));
	refused("status=running%2", ESCAPE_PROBLEM("status"));
	refused("status=%g1", ESCAPE_PROBLEM("status"));
	refused("status=%1g", ESCAPE_PROBLEM("status"));
	refused("limit=%zz", ESCAPE_PROBLEM("limit"));
	refused("limit=5%00abc", ESCAPE_PROBLEM("limit"));
	refused("sort=%", ESCAPE_PROBLEM("sort"));
	refused("%zz=1", NAME_PROBLEM);
	refused("%=1", NAME_PROBLEM);
	refused("st%2=1", NAME_PROBLEM);
	refused("limit%00=1", NAME_PROBLEM);
}

Test(query, values_have_a_length_limit)
{
	char	 qs[JOBS_CURSOR_MAX + 16];

	snprintf(qs, sizeof(qs), "sort=");
	memset(qs + 5, 'a', JOBS_CURSOR_MAX);
	qs[5 + JOBS_CURSOR_MAX] = '\0';
	refused(qs, UNKNOWN_PROBLEM("sort"));
	qs[5 + JOBS_CURSOR_MAX] = 'a';
	qs[6 + JOBS_CURSOR_MAX] = '\0';
	refused(qs, "the value of \"sort\" is too long");
	/* Decoded length counts: "%61" is one byte. */
	snprintf(qs, sizeof(qs), "sort=%%61");
	memset(qs + 8, 'a', JOBS_CURSOR_MAX - 1);
	qs[8 + JOBS_CURSOR_MAX - 1] = '\0';
	refused(qs, UNKNOWN_PROBLEM("sort"));
}

Test(query, status_lists)
{
	accepted("status=queued,running,stalled,cancelling,cancelled,completed,failed", 0x7f, 50);
	accepted("status=queued", QUEUED, 50);
	accepted("status=running,running", RUNNING, 50);
	accepted("status=failed,queued,failed", FAILED | QUEUED, 50);
	refused("status=running,+failed", STATUS_PROBLEM(" failed"));
	refused("status=running%20", STATUS_PROBLEM("running "));
	refused("status=running,%20failed", STATUS_PROBLEM(" failed"));
	refused("status=running,,failed", STATUS_PROBLEM(""));
	refused("status=,running", STATUS_PROBLEM(""));
	refused("status=running,", STATUS_PROBLEM(""));
	refused("status=running;failed", STATUS_PROBLEM("running;failed"));
	refused("status=running=x", STATUS_PROBLEM("running=x"));
	refused("status=queued,bogus,worse", STATUS_PROBLEM("bogus"));
}

Test(query, active_and_status_combine)
{
	accepted("active=true", QUEUED | RUNNING | STALLED | CANCELLING, 50);
	accepted("active=false", CANCELLED | COMPLETED | FAILED, 50);
	accepted("active=t%72ue", QUEUED | RUNNING | STALLED | CANCELLING, 50);
	accepted("active=true&status=running,completed", RUNNING, 50);
	accepted("status=running,completed&active=false", COMPLETED, 50);
	accepted("active=false&status=cancelled,completed,failed", CANCELLED | COMPLETED | FAILED, 50);
	accepted("active=true&status=queued,running,stalled,cancelling",
	    QUEUED | RUNNING | STALLED | CANCELLING, 50);
	/* Nothing can match: taken all the same, an empty list. */
	accepted("active=true&status=completed", 0, 50);
	accepted("status=stalled&active=false&limit=9", 0, 9);
	refused("active=TRUE", "active must be true or false");
	refused("active=yes", "active must be true or false");
	refused("active=0", "active must be true or false");
	refused("active=true%20", "active must be true or false");
	refused("active=true+", "active must be true or false");
}

Test(query, a_refusal_leaves_nothing_behind)
{
	refused("limit=0", LIMIT_PROBLEM);
	accepted("limit=1", 0x7f, 1);
	refused("status=nope", STATUS_PROBLEM("nope"));
	accepted("", 0x7f, 50);
}

/* --- status lists ---------------------------------------------------------- */

Test(statuses, each_name_is_its_bit)
{
	const char	*bad = "unset";
	int		 i;

	for (i = 0; i < JOB_STATUS_COUNT; i++) {
		cr_assert_eq(jobs_parse_statuses(job_status_names[i], &bad), 1 << i, "%s",
		    job_status_names[i]);
		cr_assert_null(bad);
	}
	cr_assert_eq(JOB_STATUS_COUNT, 7);
	cr_assert_str_eq(job_status_names[0], "queued");
	cr_assert_str_eq(job_status_names[6], "failed");
	cr_assert_eq(jobs_parse_statuses("queued,failed", &bad), 0x41);
	cr_assert_eq(jobs_parse_statuses("failed,queued,failed", &bad), 0x41);
	cr_assert_eq(jobs_parse_statuses("cancelling,cancelled", &bad), 0x18);
	cr_assert_null(bad);
}

Test(statuses, the_first_unknown_word_is_named)
{
	static const struct { const char *list; const char *bad; } cases[] = {
		{ "", "" }, { ",", "" }, { "running,", "" }, { ",running", "" },
		{ "running,,failed", "" }, { "running ,failed", "running " },
		{ " running", " running" }, { "RUNNING", "RUNNING" },
		{ "queued,bogus,worse", "bogus" }, { "cancel", "cancel" },
		{ "runnings", "runnings" }, { "running\tx", "running\tx" },
	};
	const char	*bad;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = NULL;
		cr_assert_eq(jobs_parse_statuses(cases[i].list, &bad), -1, "\"%s\"", cases[i].list);
		cr_assert_not_null(bad, "\"%s\"", cases[i].list);
		cr_assert_str_eq(bad, cases[i].bad, "\"%s\"", cases[i].list);
	}
}

Test(statuses, a_long_word_is_cut_whole_characters)
{
	const char	*bad;

	cr_assert_eq(jobs_parse_statuses("abcdefghijklmnopqrstuvwxyz0123,queued", &bad), -1);
	cr_assert_str_eq(bad, "abcdefghijklmnopqrstuvwx", "24 bytes of it");
	/* X22 + "x": 23 bytes, then "é" (two bytes) across the 24th: not half of it. */
#define X22	"xxxxxxxxxxxxxxxxxxxxxx"
	cr_assert_eq(strlen(X22), 22);
	cr_assert_eq(jobs_parse_statuses(X22 "x" "\xc3\xa9" "yy", &bad), -1);
	cr_assert_str_eq(bad, X22 "x", "cut before the character");
	/* 22 bytes, then "é" ends exactly at the 24th: kept whole. */
	cr_assert_eq(jobs_parse_statuses(X22 "\xc3\xa9" "yy", &bad), -1);
	cr_assert_str_eq(bad, X22 "\xc3\xa9", "the character kept");
#undef X22
}

/* --- If-None-Match ------------------------------------------------------------ */

#define OURS	"\"5d41402abc4b2a76b9719d911017c592\""

Test(etag, the_forms_rfc_9110_allows)
{
	cr_assert(etag_matches(OURS, OURS));
	cr_assert(etag_matches("W/" OURS, OURS), "weak comparison");
	cr_assert(etag_matches("\"a\", " OURS, OURS), "in a list");
	cr_assert(etag_matches(" ,\t" OURS " , ,\"b\" ", OURS), "empty elements and OWS");
	cr_assert(etag_matches("*", OURS));
	cr_assert(etag_matches(" * ", OURS));
}

Test(etag, what_does_not_match)
{
	cr_assert_not(etag_matches(NULL, OURS), "no header");
	cr_assert_not(etag_matches("", OURS));
	cr_assert_not(etag_matches("\"a\", \"b\"", OURS));
	cr_assert_not(etag_matches("5d41402abc4b2a76b9719d911017c592", OURS), "unquoted");
	cr_assert_not(etag_matches("\"5d41402abc4b2a76b9719d911017c59\"", OURS), "a prefix");
	cr_assert_not(etag_matches("w/" OURS, OURS), "W/ is case-sensitive");
}

Test(etag, a_malformed_value_matches_nothing)
{
	cr_assert_not(etag_matches(OURS " junk", OURS));
	cr_assert_not(etag_matches(OURS ", \"unterminated", OURS));
	cr_assert_not(etag_matches(OURS ", *", OURS), "* only alone");
	cr_assert_not(etag_matches("*, " OURS, OURS));
	cr_assert_not(etag_matches("\"a b\", " OURS, OURS), "a space is not etagc");
	cr_assert_not(etag_matches("\"a\"\"b\"", OURS));
}

/* --- the history's query ------------------------------------------------------- */

static struct history_query	 hq;

Test(history_query, defaults_and_values)
{
	cr_assert_eq(history_query_parse(NULL, &hq), 0);
	cr_assert_eq(hq.hq_since_seq, 0);
	cr_assert_eq(hq.hq_limit, HISTORY_LIMIT_DEFAULT);
	cr_assert_eq(history_query_parse("since_seq=1764600000000000&limit=1000", &hq), 0);
	cr_assert_eq(hq.hq_since_seq, INT64_C(1764600000000000));
	cr_assert_eq(hq.hq_limit, 1000);
	cr_assert_eq(history_query_parse("&limit=1&&", &hq), 0, "%s", hq.hq_problem);
	cr_assert_eq(hq.hq_limit, 1);
	cr_assert_eq(history_query_parse("since_seq=9223372036854775807", &hq), 0);
	cr_assert_eq(hq.hq_since_seq, INT64_MAX);
}

static void
history_refused(const char *qs, const char *words)
{
	cr_assert_eq(history_query_parse(qs, &hq), -1, "accepted: %s", qs);
	cr_assert_not_null(strstr(hq.hq_problem, words), "%s: \"%s\" lacks \"%s\"", qs,
	    hq.hq_problem, words);
}

Test(history_query, refusals_say_why)
{
	history_refused("since_seq=-1", "since_seq must be a whole number from 0");
	history_refused("since_seq=9223372036854775808", "since_seq");
	history_refused("since_seq=1.5", "since_seq");
	history_refused("since_seq=", "since_seq");
	history_refused("since_seq=+1", "since_seq");
	history_refused("limit=0", "limit must be a whole number from 1 to 1000");
	history_refused("limit=1001", "1 to 1000");
	history_refused("limit=1&limit=2", "\"limit\" is given twice");
	history_refused("since_seq=1&since_seq=1", "\"since_seq\" is given twice");
	history_refused("cursor=x", "unknown query parameter \"cursor\"");
	history_refused("limit=1%00", "malformed percent-encoding");
	history_refused("lim%zzit=1", "name is malformed");
}

Test(query, a_header_lists_a_token)
{
	cr_assert(header_lists("text/event-stream", "text/event-stream"));
	cr_assert(header_lists("text/html, Text/Event-Stream;q=0.9", "text/event-stream"));
	cr_assert(header_lists(" websocket", "websocket"));
	cr_assert(header_lists("h2c,WebSocket", "websocket"), "any case");
	cr_assert(header_lists("a,,\twebsocket\t,b", "websocket"));
	cr_assert_not(header_lists(NULL, "websocket"), "absent");
	cr_assert_not(header_lists("", "websocket"));
	cr_assert_not(header_lists("text/event-streams", "text/event-stream"), "a longer token");
	cr_assert_not(header_lists("xwebsocket", "websocket"));
	cr_assert_not(header_lists("text/html;x=text/event-stream", "text/event-stream"),
	    "inside another element's parameters");
	cr_assert_not(header_lists("*/*", "text/event-stream"), "no wildcard: streams are asked for");
}


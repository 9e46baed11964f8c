/*
 * test_http.c: fcgi/http.c: a request's parameters, body and deadline, and
 * the bytes of every response, through libfcgi streams kept in memory.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"
#include "fake_pg.h"

/*
 * libfcgi's streams are plain structs read and written through rdNext,
 * wrNext and stop; their procedures are called only when a buffer runs
 * out.  In memory, a reader that runs out is at its end, and a writer that
 * runs out is full.
 */
static FCGX_Request	 fcgi;
static FCGX_Stream	 in, out;
static unsigned char	 inbuf[4096], outbuf[65536];
static char		*envp[16];
static struct config	 cf;
static struct request	 rq;

static void
mem_fill(FCGX_Stream *s)
{
	s->isClosed = 1;
}

static void
mem_empty(FCGX_Stream *s, int doClose)
{
	(void)doClose;
	s->isClosed = 1;
	s->FCGI_errno = ENOSPC;
}

static void
setup(void)
{
	memset(&in, 0, sizeof(in));
	in.rdNext = in.wrNext = in.stop = in.stopUnget = inbuf;
	in.isReader = 1;
	in.fillBuffProc = mem_fill;
	memset(&out, 0, sizeof(out));
	out.wrNext = out.rdNext = outbuf;
	out.stop = outbuf + sizeof(outbuf);
	out.emptyBuffProc = mem_empty;
	memset(&fcgi, 0, sizeof(fcgi));
	fcgi.in = &in;
	fcgi.out = &out;
	fcgi.envp = envp;
	fcgi.ipcFd = -1;
	memset(envp, 0, sizeof(envp));
	memset(&cf, 0, sizeof(cf));
	cf.cf_db_timeout_ms = 2500;
	cf.cf_db_retry_ms = 2500;
	request_reset(&rq, &fcgi);
	rq.rq_cf = &cf;
	/* Some tests go through error paths that log: not in the test's output. */
	log_set_level(LOG_ERROR + 1);
}

TestSuite(http, .init = setup);

/* The request's parameters ("NAME=value"), NULL-terminated. */
static void
params(const char *const *p)
{
	size_t	 i;

	for (i = 0; p[i] != NULL; i++) {
		cr_assert_lt(i, sizeof(envp) / sizeof(envp[0]) - 1);
		envp[i] = (char *)p[i];
	}
	envp[i] = NULL;
}

/* What the client sends after the parameters. */
static void
stdin_is(const char *s)
{
	size_t	 n = strlen(s);

	cr_assert_lt(n, sizeof(inbuf));
	memcpy(inbuf, s, n);
	in.rdNext = in.stopUnget = inbuf;
	in.stop = inbuf + n;
	in.isClosed = 0;
}

/* What was written, as text (the stream holds no NUL). */
static const char *
written(size_t *len)
{
	static char	 text[sizeof(outbuf) + 1];
	size_t		 n = (size_t)(out.wrNext - outbuf);

	memcpy(text, outbuf, n);
	text[n] = '\0';
	if (len != NULL)
		*len = n;
	return text;
}

/* The head http_reply_json() writes for a body of `len` bytes. */
static const char *
head(char *buf, size_t size, const char *status, size_t len, const char *extra)
{
	int	 n;

	n = snprintf(buf, size, "Status: %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: %zu\r\n"
	    "%s\r\n", status, len, extra);
	cr_assert(n > 0 && (size_t)n < size);
	return buf;
}

/* The whole response: that head, then the body. */
static void
response_is(const char *status, const char *body, const char *extra)
{
	char	 want[4096];
	size_t	 n;

	head(want, sizeof(want), status, strlen(body), extra);
	n = strlen(want);
	snprintf(want + n, sizeof(want) - n, "%s", body);
	cr_assert_str_eq(written(NULL), want);
}

/* --- reason phrases, parameters, deadline ------------------------------------ */

Test(http, a_reason_for_every_status_sent)
{
	static const struct { int status; const char *reason; } r[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 304, "Not Modified" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 409, "Conflict" },
		{ 413, "Payload Too Large" }, { 415, "Unsupported Media Type" },
		{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
		{ 503, "Service Unavailable" },
		{ 0, "Unknown" }, { -1, "Unknown" }, { 203, "Unknown" }, { 418, "Unknown" },
		{ 502, "Unknown" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		cr_assert_str_eq(http_reason(r[i].status), r[i].reason, "%d", r[i].status);
}

Test(http, request_reset_clears_and_starts_the_clock)
{
	struct request	 r;
	int64_t		 before, after;

	memset(&r, 0xa5, sizeof(r));
	before = mono_ms();
	request_reset(&r, &fcgi);
	after = mono_ms();
	cr_assert_eq(r.rq_fcgi, &fcgi);
	cr_assert(r.rq_started >= before && r.rq_started <= after, "%lld not in [%lld, %lld]",
	    (long long)r.rq_started, (long long)before, (long long)after);
	cr_assert_null(r.rq_body);
	cr_assert_eq(r.rq_body_len, 0);
	cr_assert_null(r.rq_cf);
	cr_assert_null(r.rq_reader);
	cr_assert_null(r.rq_writer);
	cr_assert_null(r.rq_cache);
	cr_assert_eq(r.rq_status, 0);
	cr_assert_eq(r.rq_route.rt_id, ROUTE_NONE);
	cr_assert_not(r.rq_route.rt_head);
	cr_assert_eq(r.rq_route.rt_job_id_len, 0);
}

Test(http, the_database_deadline_is_the_start_plus_db_timeout)
{
	rq.rq_started = 1000;
	cr_assert_eq(http_db_deadline(&rq), 3500);
	cf.cf_db_timeout_ms = 0;
	cr_assert_eq(http_db_deadline(&rq), 1000);
	rq.rq_started = INT64_C(90000000000);
	cf.cf_db_timeout_ms = 60000;
	cr_assert_eq(http_db_deadline(&rq), INT64_C(90000060000));
}

Test(http, parameters_by_exact_name)
{
	params((const char *const[]){ "REQUEST_METHOD=GET", "CONTENT_LENGTH_X=9",
	    "CONTENT_LENGTH=5", "EMPTY=", "QUERY_STRING=a=b&c", NULL });
	cr_assert_str_eq(http_param(&rq, "REQUEST_METHOD"), "GET");
	cr_assert_str_eq(http_param(&rq, "CONTENT_LENGTH"), "5");
	cr_assert_str_eq(http_param(&rq, "CONTENT_LENGTH_X"), "9");
	cr_assert_str_eq(http_param(&rq, "EMPTY"), "");
	cr_assert_str_eq(http_param(&rq, "QUERY_STRING"), "a=b&c");
	cr_assert_null(http_param(&rq, "REQUEST_URI"));
	cr_assert_null(http_param(&rq, "REQUEST"));
	cr_assert_null(http_param(&rq, "request_method"));
}

/* --- the body ---------------------------------------------------------------- */

/* http_read_body() with CONTENT_LENGTH `cl` (NULL: none) and `max`. */
static long
read_body(const char *cl, size_t max, char **body)
{
	static char	 p[64];

	if (cl != NULL) {
		snprintf(p, sizeof(p), "CONTENT_LENGTH=%s", cl);
		params((const char *const[]){ "REQUEST_METHOD=POST", p, NULL });
	} else
		params((const char *const[]){ "REQUEST_METHOD=POST", NULL });
	*body = (char *)"untouched";
	return http_read_body(&rq, max, body);
}

Test(http, a_body_of_exactly_content_length)
{
	char	*b;

	stdin_is("hello");
	cr_assert_eq(read_body("5", 100, &b), 5);
	cr_assert_str_eq(b, "hello");
	free(b);
	cr_assert_eq(in.rdNext, inbuf + 5);

	/* More sent than announced: only what was announced is read. */
	stdin_is("hello");
	cr_assert_eq(read_body("3", 100, &b), 3);
	cr_assert_str_eq(b, "hel");
	free(b);
	cr_assert_eq(in.rdNext, inbuf + 3);

	/* max itself is allowed. */
	stdin_is("0123456789");
	cr_assert_eq(read_body("10", 10, &b), 10);
	cr_assert_str_eq(b, "0123456789");
	free(b);
}

Test(http, no_body)
{
	char	*b;

	stdin_is("ignored");
	cr_assert_eq(read_body(NULL, 100, &b), 0, "no CONTENT_LENGTH");
	cr_assert_str_eq(b, "");
	free(b);
	cr_assert_eq(read_body("", 100, &b), 0, "an empty CONTENT_LENGTH");
	cr_assert_str_eq(b, "");
	free(b);
	cr_assert_eq(read_body("0", 0, &b), 0, "0 of at most 0");
	cr_assert_str_eq(b, "");
	free(b);
	cr_assert_eq(in.rdNext, inbuf, "nothing read");
}

Test(http, a_short_body_is_refused)
{
	char	*b;

	stdin_is("hello");
	cr_assert_eq(read_body("6", 100, &b), -1);
	cr_assert_null(b);
	stdin_is("");
	cr_assert_eq(read_body("1", 100, &b), -1);
	cr_assert_null(b);
}

Test(http, a_body_longer_than_max_is_not_read)
{
	char	*b;

	stdin_is("0123456789x");
	cr_assert_eq(read_body("11", 10, &b), -1);
	cr_assert_null(b);
	cr_assert_eq(in.rdNext, inbuf, "not a byte read");
	cr_assert_eq(read_body("99999999999999999999", 10, &b), -1, "past LONG_MAX");
	cr_assert_null(b);
	cr_assert_eq(read_body("1", 0, &b), -1, "1 of at most 0");
	cr_assert_null(b);
}

Test(http, a_content_length_that_is_not_a_number)
{
	static const char *const bad[] = { "abc", "5x", "-1", "5 ", "0x5", "1.5" };
	char	*b;
	size_t	 i;

	stdin_is("hello");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(read_body(bad[i], 100, &b), -1, "\"%s\"", bad[i]);
		cr_assert_null(b, "\"%s\"", bad[i]);
	}
	cr_assert_eq(in.rdNext, inbuf, "nothing read");
}

Test(http, a_body_the_guard_took_in)
{
	char	*b;

	/* The connection has nothing: the guard's copy is the body. */
	stdin_is("WRONG");
	rq.rq_body = "hello";
	rq.rq_body_len = 5;
	cr_assert_eq(read_body("5", 100, &b), 5);
	cr_assert_str_eq(b, "hello");
	free(b);
	cr_assert_eq(in.rdNext, inbuf, "the stream is not read");

	/* Its length must be the announced one. */
	rq.rq_body_len = 4;
	cr_assert_eq(read_body("5", 100, &b), -1);
	cr_assert_null(b);
	rq.rq_body_len = 5;
	cr_assert_eq(read_body("4", 100, &b), -1);
	cr_assert_null(b);
	cr_assert_eq(read_body("5", 4, &b), -1, "and within max");
	cr_assert_null(b);

	rq.rq_body_len = 0;
	cr_assert_eq(read_body("0", 100, &b), 0);
	cr_assert_str_eq(b, "");
	free(b);
	cr_assert_eq(in.rdNext, inbuf);
}

/* --- responses ----------------------------------------------------------------- */

Test(http, a_json_response)
{
	http_reply_json(&rq, 200, "{\"a\":1}", 7, NULL);
	cr_assert_str_eq(written(NULL), "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: 7\r\n"
	    "\r\n"
	    "{\"a\":1}");
	cr_assert_eq(rq.rq_status, 200);
}

Test(http, only_len_bytes_of_the_body)
{
	http_reply_json(&rq, 202, "{\"a\":1}trailing", 7, NULL);
	response_is("202 Accepted", "{\"a\":1}", "");
	cr_assert_eq(rq.rq_status, 202);
}

Test(http, extra_headers_come_last)
{
	http_reply_json(&rq, 405, "{}", 2, "Allow: GET, HEAD\r\n");
	cr_assert_str_eq(written(NULL), "Status: 405 Method Not Allowed\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: 2\r\n"
	    "Allow: GET, HEAD\r\n"
	    "\r\n"
	    "{}");
}

Test(http, head_sends_no_body_but_its_length)
{
	rq.rq_route.rt_head = true;
	http_reply_json(&rq, 200, "{\"a\":1}", 7, NULL);
	cr_assert_str_eq(written(NULL), "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: 7\r\n"
	    "\r\n");
	cr_assert_eq(rq.rq_status, 200);
}

Test(http, an_empty_body)
{
	http_reply_json(&rq, 200, "", 0, NULL);
	response_is("200 OK", "", "");
}

Test(http, a_head_too_long_sends_nothing)
{
	/* Beyond what a Location of a 255-byte job id, percent-encoded, needs. */
	char	 extra[1600];

	memset(extra, 'x', sizeof(extra) - 1);
	extra[sizeof(extra) - 1] = '\0';
	http_reply_json(&rq, 200, "{}", 2, extra);
	cr_assert_eq(out.wrNext, outbuf, "%s", written(NULL));
	cr_assert_eq(rq.rq_status, 0);
}

Test(http, an_error_document)
{
	const char	*body = "{\"error\":\"not_found\",\"message\":\"no such \\\"job\\\"\"}";

	http_reply_error(&rq, 404, "not_found", "no such \"job\"", NULL);
	response_is("404 Not Found", body, "");
	cr_assert_eq(rq.rq_status, 404);
}

Test(http, an_error_document_with_the_field_at_fault)
{
	http_reply_field_error(&rq, 409, "stale_seq", "seq 3 is not after 7", "seq", NULL);
	response_is("409 Conflict",
	    "{\"error\":\"stale_seq\",\"message\":\"seq 3 is not after 7\",\"field\":\"seq\"}", "");
	cr_assert_eq(rq.rq_status, 409);
}

Test(http, an_error_without_a_field_has_none)
{
	http_reply_field_error(&rq, 400, "invalid_body", "not JSON", NULL, "X-A: b\r\n");
	response_is("400 Bad Request", "{\"error\":\"invalid_body\",\"message\":\"not JSON\"}",
	    "X-A: b\r\n");
}

Test(http, an_error_to_a_head_request)
{
	char	 want[512];

	rq.rq_route.rt_head = true;
	http_reply_error(&rq, 401, "unauthorized", "a bearer token is required", NULL);
	head(want, sizeof(want), "401 Unauthorized",
	    strlen("{\"error\":\"unauthorized\",\"message\":\"a bearer token is required\"}"), "");
	cr_assert_str_eq(written(NULL), want);
	cr_assert_eq(rq.rq_status, 401);
}

Test(http, database_unavailable_says_when_to_retry)
{
	struct db	 db;

	db_init(&db, &cf, DB_READER);
	http_reply_unavailable(&rq, &db);
	response_is("503 Service Unavailable", "{\"error\":\"database_unavailable\",\"message\":"
	    "\"the progress database cannot be reached; try again shortly\"}", "Retry-After: 3\r\n");
	cr_assert_eq(rq.rq_status, 503);
}

Test(http, db_ok_answers_only_failures)
{
	struct db	 db;

	db_init(&db, &cf, DB_READER);
	cr_assert(http_db_ok(&rq, &db, DB_OK, "unused"));
	cr_assert_eq(out.wrNext, outbuf, "nothing sent");
	cr_assert_eq(rq.rq_status, 0);

	cr_assert_not(http_db_ok(&rq, &db, DB_FAILED, "the read failed"));
	response_is("500 Internal Server Error",
	    "{\"error\":\"internal_error\",\"message\":\"the read failed\"}", "");

	setup();
	cf.cf_db_retry_ms = 0;
	db_init(&db, &cf, DB_READER);
	cr_assert_not(http_db_ok(&rq, &db, DB_UNAVAILABLE, "unused"));
	response_is("503 Service Unavailable", "{\"error\":\"database_unavailable\",\"message\":"
	    "\"the progress database cannot be reached; try again shortly\"}", "Retry-After: 1\r\n");
}

/* --- a job's progress document -------------------------------------------------- */

/* A running job, with its optional columns NULL. */
static PGresult *
job_result(void)
{
	PGresult	*res = fake_progress_result(FAKE_PROGRESS_COLS, NULL);
	int		 i;

	fake_set_text(res, 0, "job-1");
	fake_set_f8(res, 1, 37.5);
	fake_set_text(res, 2, "Optimization");
	fake_set_i4(res, 3, 2);
	fake_set_i4(res, 4, 4);
	fake_set_f8(res, 5, 50.0);
	fake_set_jsonb(res, 6, "{\"n\": 1}");
	fake_set_ts(res, 7, INT64_C(1761199200000000));
	fake_set_ts(res, 8, INT64_C(1761199825000000));
	for (i = 9; i <= 14; i++)
		fake_set_null(res, i);
	fake_set_bool(res, 15, 0);
	fake_set_null(res, 16);
	fake_set_i8(res, 17, 42);
	fake_set_text(res, 18, "running");
	fake_set_null(res, 19);
	return res;
}

/* The document lib/ renders for that row. */
static char *
job_document(PGresult *res, size_t *len)
{
	struct progress_row	 row;
	char			*doc;

	cr_assert_eq(store_decode_progress(res, 0, &row), 0);
	cr_assert_not_null(doc = render_progress(&row, len));
	cr_assert_not_null(strstr(doc, "\"job_id\":\"job-1\""), "%s", doc);
	return doc;
}

Test(http, render_progress_sends_nothing_when_it_works)
{
	PGresult	*res = job_result();
	char		*body, *want;
	size_t		 len = 0, wlen = 0;

	want = job_document(res, &wlen);
	cr_assert_eq(http_render_progress(&rq, res, NULL, &body, &len), 0);
	cr_assert_eq(len, wlen);
	cr_assert_str_eq(body, want);
	cr_assert_eq(out.wrNext, outbuf, "nothing sent");
	cr_assert_eq(rq.rq_status, 0);
	free(body);
	free(want);
	PQclear(res);
}

Test(http, reply_progress_sends_the_document_with_the_status)
{
	PGresult	*res = job_result();
	char		*want;
	size_t		 wlen = 0;

	char		 etag[RENDER_ETAG_MAX], extra[64];

	want = job_document(res, &wlen);
	render_etag(want, wlen, etag);
	snprintf(extra, sizeof(extra), "ETag: %s\r\n", etag);
	http_reply_progress(&rq, res, 202);
	response_is("202 Accepted", want, extra);
	cr_assert_eq(rq.rq_status, 202);
	free(want);
	PQclear(res);
}

Test(http, no_such_job_is_a_404)
{
	PGresult	*res = fake_progress_result(FAKE_PROGRESS_COLS, NULL);
	char		*body = (char *)"untouched";
	size_t		 len = 0;

	memcpy(rq.rq_route.rt_job_id, "j\"1", 4);
	rq.rq_route.rt_job_id_len = 3;
	cr_assert_eq(http_render_progress(&rq, res, NULL, &body, &len), -1);
	cr_assert_null(body);
	response_is("404 Not Found",
	    "{\"error\":\"not_found\",\"message\":\"no training job has the id \\\"j\\\"1\\\"\"}", "");
	cr_assert_eq(rq.rq_status, 404);

	/* http_reply_progress() sends the same, whatever status it was given. */
	setup();
	memcpy(rq.rq_route.rt_job_id, "j\"1", 4);
	http_reply_progress(&rq, res, 202);
	response_is("404 Not Found",
	    "{\"error\":\"not_found\",\"message\":\"no training job has the id \\\"j\\\"1\\\"\"}", "");
	PQclear(res);
}

Test(http, a_row_of_another_schema_is_a_500)
{
	PGresult	*res = fake_progress_result(3, NULL);
	char		*body = (char *)"untouched";
	size_t		 len = 0;

	fake_set_text(res, 0, "job-1");
	fake_set_f8(res, 1, 1.0);
	fake_set_text(res, 2, "Optimization");
	cr_assert_eq(http_render_progress(&rq, res, NULL, &body, &len), -1);
	cr_assert_null(body);
	response_is("500 Internal Server Error",
	    "{\"error\":\"internal_error\",\"message\":\"the stored progress could not be read\"}",
	    "");
	cr_assert_eq(rq.rq_status, 500);
	PQclear(res);
}

/* --- entity tags and conditional GETs --------------------------------------- */

#define TAG	"\"0123456789abcdef0123456789abcdef\""

Test(http, a_tagged_document_carries_its_etag)
{
	rq.rq_route.rt_id = ROUTE_PROGRESS;
	http_reply_tagged(&rq, 200, "{\"a\":1}", 7, TAG);
	response_is("200 OK", "{\"a\":1}", "ETag: " TAG "\r\n");
}

Test(http, if_none_match_naming_the_tag_is_a_304_without_a_body)
{
	params((const char *const[]){ "HTTP_IF_NONE_MATCH=W/\"x\", " TAG, NULL });
	rq.rq_route.rt_id = ROUTE_PROGRESS;
	http_reply_tagged(&rq, 200, "{\"a\":1}", 7, TAG);
	cr_assert_str_eq(written(NULL), "Status: 304 Not Modified\r\n"
	    "ETag: " TAG "\r\n"
	    "Cache-Control: no-cache\r\n"
	    "\r\n");
	cr_assert_eq(rq.rq_status, 304);
}

Test(http, another_tag_gets_the_document)
{
	params((const char *const[]){ "HTTP_IF_NONE_MATCH=\"0123\"", NULL });
	rq.rq_route.rt_id = ROUTE_PROGRESS;
	http_reply_tagged(&rq, 200, "{}", 2, TAG);
	response_is("200 OK", "{}", "ETag: " TAG "\r\n");
}

Test(http, only_a_read_is_conditional)
{
	params((const char *const[]){ "HTTP_IF_NONE_MATCH=*", NULL });
	rq.rq_route.rt_id = ROUTE_PUBLISH;
	http_reply_tagged(&rq, 200, "{}", 2, TAG);
	response_is("200 OK", "{}", "ETag: " TAG "\r\n");
	out.wrNext = outbuf;
	rq.rq_route.rt_id = ROUTE_CANCEL;
	http_reply_tagged(&rq, 202, "{}", 2, TAG);
	response_is("202 Accepted", "{}", "ETag: " TAG "\r\n");
}

/* test_api.c: fcgi/event.c, fcgi/query.c and the list's rendering: the parts of the write and list endpoints that need no database. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "../../fcgi/pool.h"

static struct event	 ev;
static char		 body[70000];

/* Parses text (copied: the parser writes into its buffer). */
static int
parse(const char *text)
{
	event_free(&ev);
	snprintf(body, sizeof(body), "%s", text);
	return event_parse(body, strlen(body), &ev);
}

static void
refused(const char *text, const char *field, const char *words)
{
	cr_assert_eq(parse(text), -1, "accepted: %s", text);
	if (field == NULL)
		cr_assert_null(ev.ev_field, "%s: field %s", text, ev.ev_field);
	else
		cr_assert(ev.ev_field != NULL && strcmp(ev.ev_field, field) == 0,
		    "%s: field %s, want %s", text, ev.ev_field ? ev.ev_field : "(none)", field);
	cr_assert_not_null(strstr(ev.ev_problem, words), "%s: \"%s\" lacks \"%s\"", text,
	    ev.ev_problem, words);
}

static void
teardown(void)
{
	event_free(&ev);
}

TestSuite(event, .fini = teardown);

Test(event, the_issue_examples)
{
	cr_assert_eq(parse("{\"seq\": 1, \"event\": \"start\", \"step\": \"optimization\", "
	    "\"step_details\": {\"optimizer\": \"bayesian\"}}"), 0, "%s", ev.ev_problem);
	cr_assert_eq(ev.ev_kind, EV_START);
	cr_assert_eq(ev.ev_seq, 1);
	cr_assert_str_eq(ev.ev_step, "optimization");
	cr_assert_str_eq(ev.ev_details, "{\"optimizer\": \"bayesian\"}");

	cr_assert_eq(parse("{\"seq\": 2, \"event\": \"update\", \"step_percentage\": 60, "
	    "\"current_iteration\": 30, \"total_iterations\": 50, \"best_score\": 1.85, "
	    "\"current_score\": 1.42, \"best_params\": {\"pierce_depth\": 0.15}}"), 0, "%s",
	    ev.ev_problem);
	cr_assert_eq(ev.ev_kind, EV_UPDATE);
	cr_assert_eq(ev.ev_update.fields, TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION |
	    TP_UPD_TOTAL_ITERATIONS | TP_UPD_BEST_SCORE | TP_UPD_CURRENT_SCORE | TP_UPD_BEST_PARAMS);
	cr_assert_eq(ev.ev_update.step_percentage, 60.0);
	cr_assert_eq(ev.ev_update.iteration, 30);
	cr_assert_eq(ev.ev_update.total_iterations, 50);
	cr_assert_eq(ev.ev_update.best_score, 1.85);
	cr_assert_eq(ev.ev_update.current_score, 1.42);
	cr_assert_str_eq(ev.ev_update.best_params, "{\"pierce_depth\": 0.15}");

	cr_assert_eq(parse("{\"seq\": 3, \"event\": \"complete\"}"), 0);
	cr_assert_eq(ev.ev_kind, EV_COMPLETE);
	cr_assert_eq(parse("{\"seq\": 3, \"event\": \"error\", \"error_message\": \"it \\\"broke\\\"\"}"), 0);
	cr_assert_eq(ev.ev_kind, EV_ERROR);
	cr_assert_str_eq(ev.ev_error_message, "it \"broke\"");
	cr_assert_eq(parse("{\"event\": \"queue\", \"seq\": 9007199254740991}"), 0, "order is free");
	cr_assert_eq(ev.ev_seq, UINT64_C(9007199254740991));
}

Test(event, object_fields_keep_their_exact_text)
{
	/* No trip through a double: big integers and odd spacing survive. */
	cr_assert_eq(parse("{\"seq\":7,\"event\":\"update\",\"best_params\":{\"seed\": 123456789012345678901234567890,"
	    "\"s\":\"}\\\"{\"} ,\"step_details\":{\"a\":[1,{\"b\":[]}]}}"), 0, "%s", ev.ev_problem);
	cr_assert_str_eq(ev.ev_update.best_params,
	    "{\"seed\": 123456789012345678901234567890,\"s\":\"}\\\"{\"}");
	cr_assert_str_eq(ev.ev_update.details, "{\"a\":[1,{\"b\":[]}]}");
}

Test(event, null_is_not_given)
{
	cr_assert_eq(parse("{\"seq\": 4, \"event\": \"update\", \"best_score\": null, "
	    "\"best_params\": null}"), 0);
	cr_assert_eq(ev.ev_update.fields, 0);
	refused("{\"seq\": null, \"event\": \"update\"}", "seq", "required");
}

Test(event, every_field_is_checked_and_named)
{
	refused("{\"event\": \"update\"}", "seq", "required");
	refused("{\"seq\": 0, \"event\": \"update\"}", "seq", "within 1..");
	refused("{\"seq\": 9007199254740992, \"event\": \"update\"}", "seq", "within");
	refused("{\"seq\": 99999999999999999999999, \"event\": \"update\"}", "seq", "within");
	refused("{\"seq\": 1.0, \"event\": \"update\"}", "seq", "whole number");
	refused("{\"seq\": 1e2, \"event\": \"update\"}", "seq", "whole number");
	refused("{\"seq\": \"1\", \"event\": \"update\"}", "seq", "a number");
	refused("{\"seq\": 1}", "event", "required");
	refused("{\"seq\": 1, \"event\": \"stop\"}", "event", "queue, start");
	refused("{\"seq\": 1, \"event\": \"start\"}", "step", "required");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": \"Optimization\"}", "step", "must be");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": 2}", "step", "string");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": \"validation\", \"step_details\": []}",
	    "step_details", "object");
	refused("{\"seq\": 1, \"event\": \"update\", \"step_percentage\": 101}", "step_percentage", "0..100");
	refused("{\"seq\": 1, \"event\": \"update\", \"step_percentage\": -0.5}", "step_percentage", "0..100");
	refused("{\"seq\": 1, \"event\": \"update\", \"current_iteration\": -1}", "current_iteration", "within");
	refused("{\"seq\": 1, \"event\": \"update\", \"total_iterations\": 2147483648}", "total_iterations",
	    "within");
	refused("{\"seq\": 1, \"event\": \"update\", \"best_score\": 1e999}", "best_score", "range");
	refused("{\"seq\": 1, \"event\": \"update\", \"current_score\": \"1\"}", "current_score", "number");
	refused("{\"seq\": 1, \"event\": \"update\", \"best_params\": {\"a\": \"\\u0000\"}}", "best_params",
	    "\\u0000");
	refused("{\"seq\": 1, \"event\": \"error\"}", "error_message", "required");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"\"}", "error_message", "empty");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"a\\u0000\"}", "error_message",
	    "\\u0000");
	refused("{\"seq\": 1, \"event\": \"complete\", \"step\": \"validation\"}", "step",
	    "does not belong");
	refused("{\"seq\": 1, \"event\": \"update\", \"percentage\": 5}", "percentage", "unknown field");
	refused("{\"seq\": 1, \"event\": \"update\", \"event\": \"update\"}", "event", "twice");
}

Test(event, bodies_that_are_not_one_object)
{
	refused("", NULL, "well-formed");
	refused("{", NULL, "well-formed");
	refused("[]", NULL, "object");
	refused("{\"seq\": 1, \"event\": \"queue\"} {}", NULL, "well-formed");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"\xc3\"}", NULL, "UTF-8");
	cr_assert_eq(event_parse(memcpy(body, "{}\0{}", 5), 5, &ev), -1);
	cr_assert_not_null(strstr(ev.ev_problem, "NUL"));
}

/* --- the list's query ------------------------------------------------------ */

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

/* --- the list's document ----------------------------------------------------- */

Test(render, the_jobs_page)
{
	struct job_item	 it[2];
	int64_t		 counts[JOB_STATUS_COUNT] = { 1, 2, 3, 4, 5, 6, 7 };
	cJSON		*doc, *j;
	char		*out;
	size_t		 len;

	memset(it, 0, sizeof(it));
	it[0].ji_job_id = "a";
	it[0].ji_status = "stalled";
	it[0].ji_percentage = 37.5;
	it[0].ji_current_step = "Optimization";
	it[0].ji_step_number = 2;
	it[0].ji_has_best_score = true;
	it[0].ji_best_score = 1.85;
	it[0].ji_updated_at = INT64_C(1761199825000000);
	it[0].ji_has_eta = true;
	it[0].ji_eta = INT64_C(1761200130000000);
	it[1] = it[0];
	it[1].ji_job_id = "b\"q";
	it[1].ji_has_best_score = it[1].ji_has_eta = false;
	cr_assert_not_null(out = render_jobs(it, 2, "CUR", counts, &len));
	cr_assert_eq(len, strlen(out));
	cr_assert_not_null(doc = cJSON_Parse(out));
	j = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "jobs"), 0);
	cr_assert_str_eq(cJSON_PrintUnformatted(j),
	    "{\"job_id\":\"a\",\"status\":\"stalled\",\"percentage\":37.5,\"current_step\":"
	    "\"Optimization\",\"step_number\":2,\"best_score\":1.85,\"updated_at\":"
	    "\"2025-10-23T06:10:25Z\",\"estimated_completion\":\"2025-10-23T06:15:30Z\"}");
	j = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "jobs"), 1);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "job_id")->valuestring, "b\"q");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "best_score")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "estimated_completion")));
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "next_cursor")->valuestring, "CUR");
	cr_assert_str_eq(cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "counts")),
	    "{\"queued\":1,\"running\":2,\"stalled\":3,\"cancelling\":4,\"cancelled\":5,"
	    "\"completed\":6,\"failed\":7,\"total\":28}");
	cJSON_Delete(doc);
	free(out);

	cr_assert_not_null(out = render_jobs(NULL, 0, NULL, counts, NULL));
	cr_assert_not_null(strstr(out, "\"jobs\":[],\"next_cursor\":null"), "%s", out);
	free(out);
}

/* --- the read cache ---------------------------------------------------------- */

static struct cache	 cc;

static void
cache_teardown(void)
{
	cache_free(&cc);
}

TestSuite(cache, .fini = cache_teardown);

static const char *
get_doc(const char *job, uint64_t shared, int64_t now)
{
	static char	 buf[64];
	const char	*d;
	size_t		 len;

	if ((d = cache_get(&cc, job, strlen(job), shared, now, &len)) == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, d);
	return buf;
}

static void
put_doc(const char *job, const char *doc, uint64_t shared, int64_t now)
{
	cache_put(&cc, job, strlen(job), doc, strlen(doc), shared, now);
}

Test(cache, off_when_told)
{
	cr_assert_eq(cache_init(&cc, 0, 1000), 0);
	cr_assert_not(cache_enabled(&cc));
	put_doc("j", "{}", 0, 0);
	cr_assert_null(get_doc("j", 0, 0));
	cache_free(&cc);
	cr_assert_eq(cache_init(&cc, 8, 0), 0);
	cr_assert_not(cache_enabled(&cc), "a TTL of 0 is no cache");
}

Test(cache, keeps_until_the_ttl)
{
	cr_assert_eq(cache_init(&cc, 8, 1000), 0);
	cr_assert(cache_enabled(&cc));
	cr_assert_null(get_doc("j1", 0, 100));
	put_doc("j1", "{\"a\":1}", 0, 100);
	cr_assert_str_eq(get_doc("j1", 0, 100), "{\"a\":1}");
	cr_assert_str_eq(get_doc("j1", 0, 1099), "{\"a\":1}");
	cr_assert_null(get_doc("j1", 0, 1100), "expired");
	cr_assert_null(get_doc("j2", 0, 200), "another job");
}

Test(cache, news_of_writes_forgets_everything)
{
	cr_assert_eq(cache_init(&cc, 8, 60000), 0);
	put_doc("a", "A", 7, 0);
	put_doc("b", "B", 7, 0);
	cr_assert_str_eq(get_doc("a", 7, 1), "A");
	cr_assert_null(get_doc("a", 8, 1), "the pool's own write (shared generation)");
	cr_assert_str_eq(get_doc("b", 7, 1), "B");
	cache_invalidate(&cc);
	cr_assert_null(get_doc("b", 7, 1), "a notification");
	put_doc("b", "B2", 7, 2);
	cr_assert_str_eq(get_doc("b", 7, 3), "B2", "kept again after");
	cache_epoch(&cc, cc.c_epoch);
	cr_assert_str_eq(get_doc("b", 7, 3), "B2", "the same connection");
	cache_epoch(&cc, cc.c_epoch + 1);
	cr_assert_null(get_doc("b", 7, 3), "a new connection: its news started late");
}

Test(cache, slots_hold_one_job_each)
{
	char	 job[16], doc[16];
	int	 i, kept = 0;

	cr_assert_eq(cache_init(&cc, 4, 60000), 0);
	for (i = 0; i < 100; i++) {
		snprintf(job, sizeof(job), "job-%d", i);
		snprintf(doc, sizeof(doc), "D%d", i);
		put_doc(job, doc, 0, 0);
	}
	for (i = 0; i < 100; i++) {
		const char	*d;

		snprintf(job, sizeof(job), "job-%d", i);
		snprintf(doc, sizeof(doc), "D%d", i);
		if ((d = get_doc(job, 0, 1)) != NULL) {
			cr_assert_str_eq(d, doc, "a job never gets another's document");
			kept++;
		}
	}
	cr_assert(kept >= 1 && kept <= 4, "%d kept in 4 slots", kept);
}

Test(cache, large_documents_are_not_kept)
{
	static char	 big[CACHE_DOC_MAX + 2];

	cr_assert_eq(cache_init(&cc, 4, 60000), 0);
	memset(big, 'x', sizeof(big) - 1);
	put_doc("big", big, 0, 0);
	cr_assert_null(get_doc("big", 0, 1));
	big[CACHE_DOC_MAX] = '\0';
	put_doc("big", big, 0, 0);
	cr_assert_not_null(cache_get(&cc, "big", 3, 0, 1, &(size_t){ 0 }), "the limit itself fits");
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

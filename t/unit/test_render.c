/* test_render.c: lib/render.c: the progress document, the jobs page and error bodies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <cjson/cJSON.h>

#include "../../lib/internal.h"

static const char *const spec_fields[] = {
	"job_id", "percentage", "current_step", "step_number", "total_steps",
	"step_percentage", "step_details", "started_at", "updated_at",
	"estimated_completion", "current_iteration", "total_iterations",
	"best_score", "current_score", "best_params", "is_complete",
	"error_message",
};
#define NFIELDS	(sizeof(spec_fields) / sizeof(spec_fields[0]))

/* 2025-10-23T06:00:00Z and friends, as Unix microseconds. */
#define T_0600	INT64_C(1761199200000000)
#define T_061025 (T_0600 + INT64_C(625) * 1000000)
#define T_061530 (T_0600 + INT64_C(930) * 1000000)

/* The spec's example response, as a row. */
static struct progress_row
spec_row(void)
{
	struct progress_row	 r;

	memset(&r, 0, sizeof(r));
	r.pr_job_id = "abc123-def456";
	r.pr_percentage = 62.5;
	r.pr_current_step = "Optimization";
	r.pr_step_number = 2;
	r.pr_total_steps = 4;
	r.pr_step_percentage = 75.0;
	r.pr_step_details = "{\"n_calls\": 50, \"optimizer\": \"bayesian\"}";
	r.pr_started_at = T_0600;
	r.pr_updated_at = T_061025;
	r.pr_has_estimated_completion = true;
	r.pr_estimated_completion = T_061530;
	r.pr_has_current_iteration = true;
	r.pr_current_iteration = 38;
	r.pr_has_total_iterations = true;
	r.pr_total_iterations = 50;
	r.pr_has_best_score = true;
	r.pr_best_score = 1.85;
	r.pr_has_current_score = true;
	r.pr_current_score = 1.42;
	r.pr_best_params = "{\"pierce_depth\": 0.15, \"reversal_candles\": 3, "
	    "\"volume_spike_threshold\": 2.5}";
	r.pr_is_complete = false;
	r.pr_error_message = NULL;
	r.pr_seq = 7;
	return r;
}

static cJSON *
render_parsed(const struct progress_row *r)
{
	char	*s;
	size_t	 len = 0;
	cJSON	*doc;

	s = render_progress(r, &len);
	cr_assert_not_null(s);
	cr_assert_eq(len, strlen(s));
	doc = cJSON_Parse(s);
	cr_assert_not_null(doc, "not JSON: %s", s);
	free(s);
	return doc;
}

Test(render, all_17_fields_in_spec_order)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc = render_parsed(&r), *item;
	size_t			 i = 0;

	cJSON_ArrayForEach(item, doc) {
		cr_assert_lt(i, NFIELDS, "extra field %s", item->string);
		cr_assert_str_eq(item->string, spec_fields[i], "field %zu", i);
		i++;
	}
	cr_assert_eq(i, NFIELDS);
	cJSON_Delete(doc);
}

Test(render, spec_example_values)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc = render_parsed(&r), *o;

	cr_assert_str_eq(cJSON_GetObjectItem(doc, "job_id")->valuestring, "abc123-def456");
	cr_assert_eq(cJSON_GetObjectItem(doc, "percentage")->valuedouble, 62.5);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "current_step")->valuestring, "Optimization");
	cr_assert_eq(cJSON_GetObjectItem(doc, "step_number")->valueint, 2);
	cr_assert_eq(cJSON_GetObjectItem(doc, "total_steps")->valueint, 4);
	cr_assert_eq(cJSON_GetObjectItem(doc, "step_percentage")->valuedouble, 75.0);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "started_at")->valuestring, "2025-10-23T06:00:00Z");
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "updated_at")->valuestring, "2025-10-23T06:10:25Z");
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "estimated_completion")->valuestring,
	    "2025-10-23T06:15:30Z");
	cr_assert_eq(cJSON_GetObjectItem(doc, "current_iteration")->valueint, 38);
	cr_assert_eq(cJSON_GetObjectItem(doc, "total_iterations")->valueint, 50);
	cr_assert_eq(cJSON_GetObjectItem(doc, "best_score")->valuedouble, 1.85);
	cr_assert_eq(cJSON_GetObjectItem(doc, "current_score")->valuedouble, 1.42);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "error_message")));

	o = cJSON_GetObjectItem(doc, "step_details");
	cr_assert(cJSON_IsObject(o), "step_details must be an object, not a string");
	cr_assert_str_eq(cJSON_GetObjectItem(o, "optimizer")->valuestring, "bayesian");
	cr_assert_eq(cJSON_GetObjectItem(o, "n_calls")->valueint, 50);
	o = cJSON_GetObjectItem(doc, "best_params");
	cr_assert(cJSON_IsObject(o));
	cr_assert_eq(cJSON_GetObjectItem(o, "pierce_depth")->valuedouble, 0.15);
	cr_assert_eq(cJSON_GetObjectItem(o, "reversal_candles")->valueint, 3);
	cJSON_Delete(doc);
}

Test(render, numbers_are_numbers_and_unknowns_are_null)
{
	struct progress_row	 r;
	cJSON			*doc, *item;
	size_t			 i;
	static const char *const nullable[] = {
		"step_details", "estimated_completion", "current_iteration",
		"total_iterations", "best_score", "current_score", "best_params",
		"error_message",
	};

	memset(&r, 0, sizeof(r));
	r.pr_job_id = "j";
	r.pr_current_step = "Data Collection";
	r.pr_step_number = 1;
	r.pr_total_steps = 4;
	r.pr_started_at = r.pr_updated_at = T_0600;
	doc = render_parsed(&r);
	for (i = 0; i < sizeof(nullable) / sizeof(nullable[0]); i++) {
		item = cJSON_GetObjectItem(doc, nullable[i]);
		cr_assert_not_null(item, "%s is missing: it must be present as null", nullable[i]);
		cr_assert(cJSON_IsNull(item), "%s must be null", nullable[i]);
	}
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(doc, "percentage")));
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(doc, "step_number")));
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(doc, "step_percentage")));
	cr_assert(cJSON_IsBool(cJSON_GetObjectItem(doc, "is_complete")));
	cJSON_Delete(doc);
}

Test(render, failed_job_keeps_its_message)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc;

	r.pr_is_complete = true;
	r.pr_error_message = "Optimization failed: \"division by zero\"\n\tat step 2";
	doc = render_parsed(&r);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "is_complete")));
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "error_message")->valuestring,
	    "Optimization failed: \"division by zero\"\n\tat step 2");
	cJSON_Delete(doc);
}

Test(render, nested_json_is_embedded_verbatim)
{
	struct progress_row	 r = spec_row();
	char			*s;

	/* A big integer survives exactly, which a double round trip would not. */
	r.pr_best_params = "{\"seed\": 12345678901234567890, \"nested\": {\"a\": [1, 2, {\"b\": null}]}}";
	s = render_progress(&r, NULL);
	cr_assert_not_null(s);
	cr_assert_not_null(strstr(s, "\"best_params\":{\"seed\": 12345678901234567890, "
	    "\"nested\": {\"a\": [1, 2, {\"b\": null}]}}"), "got %s", s);
	free(s);
}

Test(render, non_object_json_columns_are_refused)
{
	struct progress_row	 r = spec_row();

	r.pr_step_details = "[1, 2]";
	cr_assert_null(render_progress(&r, NULL));
	r.pr_step_details = "\"a string\"";
	cr_assert_null(render_progress(&r, NULL));
	r.pr_step_details = "  {\"ok\": true}";
	char *s = render_progress(&r, NULL);
	cr_assert_not_null(s);
	free(s);
}

Test(render, strings_are_escaped)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc;

	r.pr_job_id = "a\"b\\c</script>\x01";
	doc = render_parsed(&r);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "job_id")->valuestring, "a\"b\\c</script>\x01");
	cJSON_Delete(doc);
}

Test(render, non_finite_scores_render_as_null)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc;

	r.pr_best_score = NAN;
	r.pr_current_score = INFINITY;
	doc = render_parsed(&r);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "best_score")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "current_score")));
	cJSON_Delete(doc);
}

static const char *
ts(int64_t us)
{
	static char	 buf[RENDER_TIMESTAMP_MAX];

	if (render_timestamp(us, buf, sizeof(buf)) < 0)
		return NULL;
	return buf;
}

Test(timestamp, rfc3339_utc_with_z)
{
	cr_assert_str_eq(ts(0), "1970-01-01T00:00:00Z");
	cr_assert_str_eq(ts(T_0600), "2025-10-23T06:00:00Z");
	cr_assert_str_eq(ts(T_0600 + 123456), "2025-10-23T06:00:00.123456Z");
	cr_assert_str_eq(ts(T_0600 + 500000), "2025-10-23T06:00:00.500000Z");
	cr_assert_str_eq(ts(T_0600 + 1), "2025-10-23T06:00:00.000001Z");
	cr_assert_str_eq(ts(-1), "1969-12-31T23:59:59.999999Z");
	cr_assert_str_eq(ts(INT64_C(951782400) * 1000000), "2000-02-29T00:00:00Z");
	cr_assert_str_eq(ts(INT64_C(253402300799) * 1000000), "9999-12-31T23:59:59Z");
}

Test(timestamp, out_of_range_is_refused_and_renders_null)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc;

	cr_assert_null(ts(INT64_C(253402300800) * 1000000));	/* year 10000 */
	cr_assert_null(ts(INT64_MAX));
	cr_assert_null(ts(INT64_MIN));
	r.pr_estimated_completion = INT64_MAX;	/* 'infinity' */
	doc = render_parsed(&r);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "estimated_completion")));
	cJSON_Delete(doc);
}

Test(render_error, two_fields)
{
	size_t	 len = 0;
	char	*s = render_error("not_found", "no training job has the id \"x\"", &len);

	cr_assert_str_eq(s, "{\"error\":\"not_found\",\"message\":\"no training job has the id \\\"x\\\"\"}");
	cr_assert_eq(len, strlen(s));
	free(s);
}

Test(render, status_and_seq_follow_the_spec_fields)
{
	struct progress_row	 r = spec_row();
	cJSON			*doc, *item;
	char			*s;
	size_t			 i = 0;

	r.pr_status = "stalled";
	r.pr_seq = INT64_C(1795863540237646);
	doc = render_parsed(&r);
	cJSON_ArrayForEach(item, doc) {
		if (i < NFIELDS)
			cr_assert_str_eq(item->string, spec_fields[i], "field %zu", i);
		i++;
	}
	cr_assert_eq(i, NFIELDS + 2);
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "status")->valuestring, "stalled");
	cJSON_Delete(doc);
	/* Digits, exactly: no exponent, no rounding. */
	s = render_progress(&r, NULL);
	cr_assert_not_null(strstr(s, ",\"status\":\"stalled\",\"seq\":1795863540237646}"), "%s", s);
	free(s);
}

/* Messages may quote what a client sent; the document stays valid UTF-8. */
Test(render_error, bytes_that_are_not_utf8_are_replaced)
{
	size_t	 len;
	char	*s = render_error_field("invalid_query", "unknown query parameter \"\xff\xfe\"",
	    "st\xc3", &len);

	cr_assert_not_null(s);
	cr_assert(utf8_valid(s, len), "%s", s);
	cr_assert_str_eq(s, "{\"error\":\"invalid_query\",\"message\":\"unknown query parameter "
	    "\\\"\xef\xbf\xbd\xef\xbf\xbd\\\"\",\"field\":\"st\xef\xbf\xbd\"}");
	free(s);
}

/* --- the list's document ----------------------------------------------------- */

Test(render, the_jobs_page)
{
	struct job_item	 it[2];
	int64_t		 counts[JOB_STATUS_COUNT] = { 1, 2, 3, 4, 5, 6, 7 };
	cJSON		*doc, *j;
	char		*out, *printed;
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
	printed = cJSON_PrintUnformatted(j);
	cr_assert_str_eq(printed,
	    "{\"job_id\":\"a\",\"status\":\"stalled\",\"percentage\":37.5,\"current_step\":"
	    "\"Optimization\",\"step_number\":2,\"best_score\":1.85,\"updated_at\":"
	    "\"2025-10-23T06:10:25Z\",\"estimated_completion\":\"2025-10-23T06:15:30Z\"}");
	free(printed);
	j = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "jobs"), 1);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "job_id")->valuestring, "b\"q");
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "best_score")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "estimated_completion")));
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "next_cursor")->valuestring, "CUR");
	printed = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "counts"));
	cr_assert_str_eq(printed,
	    "{\"queued\":1,\"running\":2,\"stalled\":3,\"cancelling\":4,\"cancelled\":5,"
	    "\"completed\":6,\"failed\":7,\"total\":28}");
	free(printed);
	cJSON_Delete(doc);
	free(out);

	cr_assert_not_null(out = render_jobs(NULL, 0, NULL, counts, NULL));
	cr_assert_not_null(strstr(out, "\"jobs\":[],\"next_cursor\":null"), "%s", out);
	free(out);
}

Test(render, an_etag_is_the_documents_sha256_quoted)
{
	char	 a[RENDER_ETAG_MAX], b[RENDER_ETAG_MAX];

	/* SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a3... */
	render_etag("abc", 3, a);
	cr_assert_str_eq(a, "\"ba7816bf8f01cfea414140de5dae2223\"");
	cr_assert_eq(strlen(a) + 1, RENDER_ETAG_MAX);
	render_etag("abd", 3, b);
	cr_assert_str_neq(a, b, "another document, another tag");
	render_etag("abc", 2, b);
	cr_assert_str_neq(a, b, "the length counts");
}

Test(render, a_history_page)
{
	struct snapshot	 sn[2];
	cJSON		*doc, *list;
	char		*out;
	size_t		 len;

	memset(sn, 0, sizeof(sn));
	sn[0].sn_seq = INT64_C(9007199254740993);	/* 2^53 + 1: printed exactly */
	sn[0].sn_at = INT64_C(1761199825000000);
	sn[0].sn_status = "running";
	sn[0].sn_percentage = 37.5;
	sn[0].sn_step_number = 2;
	sn[0].sn_current_step = "Optimization";
	sn[0].sn_step_percentage = 25;
	sn[0].sn_has_iteration = true;
	sn[0].sn_iteration = 12;
	sn[0].sn_has_best_score = true;
	sn[0].sn_best_score = 1.25;
	sn[1] = sn[0];
	sn[1].sn_seq++;
	sn[1].sn_status = "completed";
	sn[1].sn_has_iteration = sn[1].sn_has_best_score = false;
	cr_assert_not_null(out = render_history("j/1", sn, 2, sn[1].sn_seq, true, &len));
	cr_assert_eq(strlen(out), len);
	cr_assert_not_null(strstr(out, "\"seq\":9007199254740993,"), "%s", out);
	cr_assert_not_null(strstr(out, "\"next_since_seq\":9007199254740994,\"has_more\":true}"),
	    "%s", out);
	cr_assert_not_null(doc = cJSON_Parse(out));
	cr_assert_str_eq(cJSON_GetObjectItem(doc, "job_id")->valuestring, "j/1");
	list = cJSON_GetObjectItem(doc, "snapshots");
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "at")->valuestring,
	    "2025-10-23T06:10:25Z");
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "current_iteration")->valuedouble,
	    12);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "best_score")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "current_score")));
	cJSON_Delete(doc);
	free(out);
	cr_assert_not_null(out = render_history("j", NULL, 0, 7, false, &len));
	cr_assert_str_eq(out, "{\"job_id\":\"j\",\"snapshots\":[],\"next_since_seq\":7,"
	    "\"has_more\":false}");
	free(out);
}

Test(render, a_channel_is_the_job_ids_sha256)
{
	char	 c[RENDER_CHANNEL_MAX];

	/* The pool redirects here, tp-notify publishes here: one rule. */
	render_channel_id("abc123-def456", c);
	cr_assert_str_eq(c, "ef65bd7806ca176102d05919b90e9db6");
	render_channel_id("a/b?c%", c);
	cr_assert_str_eq(c, "93a6ed8b4588798dbeee69299781b215", "no escaping needed");
	cr_assert_eq(strlen(c) + 1, RENDER_CHANNEL_MAX);
}

Test(render, notifications)
{
	struct job_notification	 jn[2];
	char			*out;
	size_t			 len;

	memset(jn, 0, sizeof(jn));
	jn[0].jn_kind = "email";
	jn[0].jn_target = "o...@example.com";
	jn[0].jn_state = "waiting";
	jn[1].jn_kind = "webhook";
	jn[1].jn_target = "https://h.example";
	jn[1].jn_every_job = true;
	jn[1].jn_event = "job.failed";
	jn[1].jn_state = "retrying";
	jn[1].jn_attempts = 3;
	jn[1].jn_has_next_attempt_at = true;
	jn[1].jn_next_attempt_at = INT64_C(1796180000000000);
	jn[1].jn_last_error = "h.example:443 answered 503";
	cr_assert_not_null(out = render_notifications("j\"1", jn, 2, &len));
	cr_assert_eq(len, strlen(out));
	cr_assert_str_eq(out, "{\"job_id\":\"j\\\"1\",\"notifications\":["
	    "{\"kind\":\"email\",\"target\":\"o...@example.com\",\"every_job\":false,\"event\":null,"
	    "\"state\":\"waiting\",\"attempts\":0,\"delivered_at\":null,\"next_attempt_at\":null,"
	    "\"last_error\":null},"
	    "{\"kind\":\"webhook\",\"target\":\"https://h.example\",\"every_job\":true,"
	    "\"event\":\"job.failed\",\"state\":\"retrying\",\"attempts\":3,\"delivered_at\":null,"
	    "\"next_attempt_at\":\"2026-12-02T02:53:20Z\",\"last_error\":\"h.example:443 answered 503\"}]}");
	free(out);
	cr_assert_not_null(out = render_notifications("j", NULL, 0, NULL));
	cr_assert_str_eq(out, "{\"job_id\":\"j\",\"notifications\":[]}");
	free(out);
}

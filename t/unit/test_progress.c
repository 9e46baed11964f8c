/* test_progress.c: lib/progress.c: the step model, the formula, job id rules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <tp/progress.h>

Test(step_model, keys_names_and_weights_match_the_spec)
{
	cr_assert_str_eq(tp_step_key(TP_STEP_DATA_COLLECTION), "data_collection");
	cr_assert_str_eq(tp_step_name(TP_STEP_DATA_COLLECTION), "Data Collection");
	cr_assert_str_eq(tp_step_key(TP_STEP_OPTIMIZATION), "optimization");
	cr_assert_str_eq(tp_step_name(TP_STEP_OPTIMIZATION), "Optimization");
	cr_assert_str_eq(tp_step_key(TP_STEP_VALIDATION), "validation");
	cr_assert_str_eq(tp_step_name(TP_STEP_VALIDATION), "Validation");
	cr_assert_str_eq(tp_step_key(TP_STEP_SAVE_CONFIGURATION), "save_configuration");
	cr_assert_str_eq(tp_step_name(TP_STEP_SAVE_CONFIGURATION), "Save Configuration");
	cr_assert_float_eq(tp_step_weight(TP_STEP_DATA_COLLECTION), 0.25, 1e-12);
	cr_assert_float_eq(tp_step_weight(TP_STEP_OPTIMIZATION), 0.50, 1e-12);
	cr_assert_float_eq(tp_step_weight(TP_STEP_VALIDATION), 0.20, 1e-12);
	cr_assert_float_eq(tp_step_weight(TP_STEP_SAVE_CONFIGURATION), 0.05, 1e-12);
}

Test(step_model, weights_sum_to_one)
{
	double	 sum = 0;
	int	 s;

	for (s = TP_STEP_DATA_COLLECTION; s <= TP_STEP_SAVE_CONFIGURATION; s++)
		sum += tp_step_weight((enum tp_step)s);
	cr_assert_float_eq(sum, 1.0, 1e-12);
}

Test(step_model, lookups_round_trip_and_reject_unknowns)
{
	int	 s;

	for (s = TP_STEP_DATA_COLLECTION; s <= TP_STEP_SAVE_CONFIGURATION; s++) {
		cr_assert_eq(tp_step_from_key(tp_step_key((enum tp_step)s)), s);
		cr_assert_eq(tp_step_from_name(tp_step_name((enum tp_step)s)), s);
	}
	cr_assert_eq(tp_step_from_key("Optimization"), TP_STEP_NONE);
	cr_assert_eq(tp_step_from_key("training"), TP_STEP_NONE);
	cr_assert_eq(tp_step_from_key(""), TP_STEP_NONE);
	cr_assert_eq(tp_step_from_key(NULL), TP_STEP_NONE);
	cr_assert_null(tp_step_key(TP_STEP_NONE));
	cr_assert_null(tp_step_name((enum tp_step)5));
	cr_assert_eq(tp_step_weight((enum tp_step)0), 0.0);
}

/* The spec's worked examples, exactly (no rounding noise). */
Test(formula, spec_examples)
{
	cr_assert_eq(tp_progress_percentage(TP_STEP_DATA_COLLECTION, 50.0), 12.5);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, 60.0), 55.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, 75.0), 62.5);
	cr_assert_eq(tp_progress_percentage(TP_STEP_VALIDATION, 50.0), 85.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_SAVE_CONFIGURATION, 100.0), 100.0);
}

Test(formula, step_boundaries_are_exact)
{
	cr_assert_eq(tp_progress_percentage(TP_STEP_DATA_COLLECTION, 0.0), 0.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_DATA_COLLECTION, 100.0), 25.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, 0.0), 25.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, 100.0), 75.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_VALIDATION, 0.0), 75.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_VALIDATION, 100.0), 95.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_SAVE_CONFIGURATION, 0.0), 95.0);
}

/*
 * Validation is optional: a job that goes from Optimization straight to Save
 * Configuration counts Validation as done, and ends at 100.
 */
Test(formula, skipped_validation_counts_as_done)
{
	double	 end_of_opt = tp_progress_percentage(TP_STEP_OPTIMIZATION, 100.0);
	double	 save_start = tp_progress_percentage(TP_STEP_SAVE_CONFIGURATION, 0.0);
	double	 save_mid = tp_progress_percentage(TP_STEP_SAVE_CONFIGURATION, 50.0);
	double	 save_end = tp_progress_percentage(TP_STEP_SAVE_CONFIGURATION, 100.0);

	cr_assert_eq(end_of_opt, 75.0);
	cr_assert_eq(save_start, 95.0);
	cr_assert_eq(save_mid, 97.5);
	cr_assert_eq(save_end, 100.0);
	cr_assert_gt(save_start, end_of_opt, "skipping Validation must not go backwards");
}

Test(formula, monotonic_across_the_whole_job)
{
	double	 prev = -1, p;
	int	 s, pct;

	for (s = TP_STEP_DATA_COLLECTION; s <= TP_STEP_SAVE_CONFIGURATION; s++)
		for (pct = 0; pct <= 100; pct++) {
			p = tp_progress_percentage((enum tp_step)s, pct);
			cr_assert_geq(p, prev, "step %d at %d%% went back to %f from %f",
			    s, pct, p, prev);
			cr_assert(p >= 0.0 && p <= 100.0);
			prev = p;
		}
}

Test(formula, clamps_out_of_range_step_percentages)
{
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, -10.0), 25.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, 150.0), 75.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, NAN), 25.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_OPTIMIZATION, INFINITY), 75.0);
	cr_assert_eq(tp_progress_percentage(TP_STEP_NONE, 50.0), -1.0);
	cr_assert_eq(tp_progress_percentage((enum tp_step)9, 50.0), -1.0);
}

static const char *
problem(const char *s)
{
	return tp_job_id_problem(s, strlen(s));
}

Test(job_id, accepts_ordinary_ids)
{
	char	 max[TP_JOB_ID_MAX + 1];

	cr_assert_null(problem("abc123-def456"));
	cr_assert_null(problem("a"));
	cr_assert_null(problem("job with spaces & 'quotes' \"and\" ; DROP TABLE x; --"));
	cr_assert_null(problem("a/b"));
	cr_assert_null(problem("..."));
	cr_assert_null(problem(".hidden"));
	cr_assert_null(problem("caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x9a\x80"));
	memset(max, 'x', TP_JOB_ID_MAX);
	max[TP_JOB_ID_MAX] = '\0';
	cr_assert_null(problem(max));
}

Test(job_id, rejects_empty_and_long)
{
	char	 big[TP_JOB_ID_MAX + 2];

	cr_assert_str_eq(problem(""), "job_id is empty");
	cr_assert_not_null(tp_job_id_problem(NULL, 0));
	memset(big, 'x', TP_JOB_ID_MAX + 1);
	big[TP_JOB_ID_MAX + 1] = '\0';
	cr_assert_str_eq(problem(big), "job_id is longer than 255 bytes");
}

Test(job_id, rejects_control_characters)
{
	cr_assert_str_eq(problem("a\tb"), "job_id contains a control character");
	cr_assert_str_eq(problem("a\nb"), "job_id contains a control character");
	cr_assert_str_eq(problem("\x01"), "job_id contains a control character");
	cr_assert_str_eq(problem("a\x7f"), "job_id contains a control character");
	cr_assert_str_eq(problem("a\xc2\x85"), "job_id contains a control character");
	cr_assert_str_eq(tp_job_id_problem("a\0b", 3), "job_id contains a control character");
}

Test(job_id, rejects_invalid_utf8)
{
	cr_assert_str_eq(problem("\xff"), "job_id is not valid UTF-8");
	cr_assert_str_eq(problem("\xe2\x82"), "job_id is not valid UTF-8");	/* truncated */
	cr_assert_str_eq(problem("\xc0\xaf"), "job_id is not valid UTF-8");	/* overlong */
	cr_assert_str_eq(problem("\xed\xa0\x80"), "job_id is not valid UTF-8");	/* surrogate */
	cr_assert_str_eq(problem("\xf4\x90\x80\x80"), "job_id is not valid UTF-8"); /* > U+10FFFF */
	cr_assert_str_eq(problem("\x80"), "job_id is not valid UTF-8");
}

Test(job_id, rejects_dot_segments)
{
	cr_assert_not_null(problem("."));
	cr_assert_not_null(problem(".."));
}

/* --- a job's state (the transitions the tracker applies) ------------------ */

#include "../../lib/lib.h"

static struct job_state	 js;
static const char	*why;

static void
job_setup(void)
{
	job_init(&js);
}

static void
job_teardown(void)
{
	job_free(&js);
}

TestSuite(job, .init = job_setup, .fini = job_teardown);

static struct tp_update
upd(unsigned fields)
{
	struct tp_update	 u;

	memset(&u, 0, sizeof(u));
	u.fields = fields;
	return u;
}

Test(job, steps_only_go_forward)
{
	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	cr_assert_eq(js.js_step, TP_STEP_OPTIMIZATION);
	cr_assert_eq(js.js_pct, 25.0, "starting Optimization means Data Collection is done");
	cr_assert_eq(job_start(&js, "data_collection", NULL, 0, &why), TP_ESTATE);
	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_ESTATE);
	cr_assert_not_null(why);
	cr_assert_eq(js.js_step, TP_STEP_OPTIMIZATION, "a refused start changes nothing");
	cr_assert_eq(job_start(&js, "Optimization", NULL, 0, &why), TP_EINVAL, "keys, not names");
	cr_assert_eq(job_start(&js, NULL, NULL, 0, &why), TP_EINVAL);
}

Test(job, the_spec_lifecycle_percentages)
{
	struct tp_update	 u = upd(TP_UPD_STEP_PERCENTAGE);

	cr_assert_eq(job_start(&js, "data_collection", "{\"symbol\": \"BTC/USDT\"}", 0, &why), TP_OK);
	u.step_percentage = 50;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_pct, 12.5);
	cr_assert_str_eq(job_step_name(&js), "Data Collection");
	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	cr_assert_null(js.js_details.tb_set ? js.js_details.tb_data : NULL,
	    "a new step without details has none");
	u.step_percentage = 60;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_pct, 55.0);
	cr_assert_eq(job_start(&js, "validation", NULL, 0, &why), TP_OK);
	u.step_percentage = 50;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_pct, 85.0);
	cr_assert_eq(job_start(&js, "save_configuration", NULL, 0, &why), TP_OK);
	cr_assert_eq(job_complete(&js, &why), TP_OK);
	cr_assert_eq(js.js_pct, 100.0);
	cr_assert_eq(js.js_step_pct, 100.0);
	cr_assert_eq(js.js_step, TP_STEP_SAVE_CONFIGURATION);
	cr_assert_str_eq(job_step_name(&js), "Complete");
	cr_assert_eq(js.js_phase, JOB_COMPLETE);
}

Test(job, validation_may_be_skipped)
{
	struct tp_update	 u = upd(TP_UPD_STEP_PERCENTAGE);

	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	u.step_percentage = 100;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_pct, 75.0);
	cr_assert_eq(job_start(&js, "save_configuration", NULL, 0, &why), TP_OK);
	cr_assert_eq(js.js_pct, 95.0);
	cr_assert_eq(js.js_step, TP_STEP_SAVE_CONFIGURATION);
}

Test(job, overall_percentage_never_goes_back)
{
	struct tp_update	 u = upd(TP_UPD_STEP_PERCENTAGE);

	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	u.step_percentage = 80;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_pct, 65.0);
	/* An optimizer may report a lower figure after a restart of its loop. */
	u.step_percentage = 20;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(js.js_step_pct, 20.0);
	cr_assert_eq(js.js_pct, 65.0, "the overall percentage stays at its high mark");
}

Test(job, update_needs_a_started_step)
{
	struct tp_update	 u = upd(TP_UPD_STEP_PERCENTAGE);

	u.step_percentage = 10;
	cr_assert_eq(job_update(&js, &u, &why), TP_ESTATE);
}

Test(job, invalid_updates_change_nothing)
{
	struct tp_update	 u;
	struct {
		unsigned	 fields;
		double		 pct, best, current;
		int32_t		 iter, total;
		const char	*params, *details;
	} bad[] = {
		{ TP_UPD_STEP_PERCENTAGE, -1, 0, 0, 0, 0, NULL, NULL },
		{ TP_UPD_STEP_PERCENTAGE, 100.5, 0, 0, 0, 0, NULL, NULL },
		{ TP_UPD_STEP_PERCENTAGE, NAN, 0, 0, 0, 0, NULL, NULL },
		{ TP_UPD_ITERATION, 0, 0, 0, -1, 0, NULL, NULL },
		{ TP_UPD_TOTAL_ITERATIONS, 0, 0, 0, 0, -5, NULL, NULL },
		{ TP_UPD_BEST_SCORE, 0, INFINITY, 0, 0, 0, NULL, NULL },
		{ TP_UPD_CURRENT_SCORE, 0, 0, NAN, 0, 0, NULL, NULL },
		{ TP_UPD_BEST_PARAMS, 0, 0, 0, 0, 0, "[1, 2]", NULL },
		{ TP_UPD_BEST_PARAMS, 0, 0, 0, 0, 0, "{\"a\": }", NULL },
		{ TP_UPD_BEST_PARAMS, 0, 0, 0, 0, 0, NULL, NULL },
		{ TP_UPD_DETAILS, 0, 0, 0, 0, 0, NULL, "{\"a\": \"\\u0000\"}" },
		{ TP_UPD_DETAILS, 0, 0, 0, 0, 0, NULL, "{\"a\": \"\xff\"}" },
		{ 1u << 20, 0, 0, 0, 0, 0, NULL, NULL },
		/* a good field with a bad one: neither is applied */
		{ TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION, 50, 0, 0, -1, 0, NULL, NULL },
	};
	size_t	 i;

	cr_assert_eq(job_start(&js, "optimization", "{\"n\": 1}", 0, &why), TP_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		u = upd(bad[i].fields);
		u.step_percentage = bad[i].pct;
		u.best_score = bad[i].best;
		u.current_score = bad[i].current;
		u.iteration = bad[i].iter;
		u.total_iterations = bad[i].total;
		u.best_params = bad[i].params;
		u.details = bad[i].details;
		cr_assert_eq(job_update(&js, &u, &why), TP_EINVAL, "case %zu", i);
		cr_assert_not_null(why, "case %zu says why", i);
		cr_assert_eq(js.js_step_pct, 0.0, "case %zu changed the state", i);
		cr_assert_not(js.js_has_iter, "case %zu changed the state", i);
		cr_assert_str_eq(js.js_details.tb_data, "{\"n\": 1}", "case %zu", i);
	}
}

Test(job, a_new_step_clears_the_loop_and_keeps_the_results)
{
	struct tp_update	 u = upd(TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS |
	    TP_UPD_BEST_SCORE | TP_UPD_CURRENT_SCORE | TP_UPD_BEST_PARAMS);

	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	u.iteration = 30;
	u.total_iterations = 50;
	u.best_score = 1.85;
	u.current_score = 1.42;
	u.best_params = "{\"pierce_depth\": 0.15}";
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(job_start(&js, "validation", "{\"gap_days\": 7}", 0, &why), TP_OK);
	cr_assert_not(js.js_has_iter);
	cr_assert_not(js.js_has_total);
	cr_assert_not(js.js_has_current);
	cr_assert(js.js_has_best && js.js_best == 1.85);
	cr_assert_str_eq(js.js_best_params.tb_data, "{\"pierce_depth\": 0.15}");
	cr_assert_str_eq(js.js_details.tb_data, "{\"gap_days\": 7}");
}

Test(job, failure_keeps_the_step_and_its_message)
{
	struct tp_update	 u = upd(TP_UPD_STEP_PERCENTAGE);
	char			 long_msg[TP_ERROR_MESSAGE_MAX + 10];

	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_OK);
	u.step_percentage = 30;
	cr_assert_eq(job_update(&js, &u, &why), TP_OK);
	cr_assert_eq(job_fail(&js, "", &why), TP_EINVAL);
	cr_assert_eq(job_fail(&js, NULL, &why), TP_EINVAL);
	cr_assert_eq(job_fail(&js, "bad \xff", &why), TP_EINVAL);
	/* A message cut at the limit ends on a whole character (é is 2 bytes). */
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	long_msg[TP_ERROR_MESSAGE_MAX - 1] = '\xc3';
	long_msg[TP_ERROR_MESSAGE_MAX] = '\xa9';
	cr_assert_eq(job_fail(&js, long_msg, &why), TP_OK);
	cr_assert_eq(js.js_error.tb_len, TP_ERROR_MESSAGE_MAX - 1);
	cr_assert(utf8_valid(js.js_error.tb_data, js.js_error.tb_len));
	cr_assert_eq(js.js_phase, JOB_FAILED);
	cr_assert_eq(js.js_step, TP_STEP_OPTIMIZATION);
	cr_assert_eq(js.js_pct, 40.0);
	cr_assert_str_eq(job_step_name(&js), "Optimization");
	cr_assert_eq(job_complete(&js, &why), TP_EFINISHED);
	cr_assert_eq(job_start(&js, "validation", NULL, 0, &why), TP_EFINISHED);
	u.step_percentage = 90;
	cr_assert_eq(job_update(&js, &u, &why), TP_EFINISHED);
}

Test(job, a_job_may_fail_before_any_step)
{
	cr_assert_eq(job_fail(&js, "could not load data", &why), TP_OK);
	cr_assert_eq(js.js_step, TP_STEP_DATA_COLLECTION);
	cr_assert_str_eq(job_step_name(&js), "Data Collection");
}

Test(job, json_rules)
{
	cr_assert_null(json_object_problem("{}"));
	cr_assert_null(json_object_problem("{\"a\": [1, {\"b\": null}], \"c\": \"\\\\u0000\"}"),
	    "an escaped backslash before u0000 is text, not an escape");
	cr_assert_not_null(json_object_problem("{\"c\": \"\\u0000\"}"));
	cr_assert_not_null(json_object_problem("{\"c\": \"\\\\\\u0000\"}"));
	cr_assert_not_null(json_object_problem("null"));
	cr_assert_not_null(json_object_problem("\"s\""));
	cr_assert_not_null(json_object_problem("{} {}"), "trailing garbage");
	cr_assert_not_null(json_object_problem(""));
}

Test(job, from_a_stored_row)
{
	struct progress_row	 r;

	memset(&r, 0, sizeof(r));
	r.pr_current_step = "Validation";
	r.pr_step_percentage = 50;
	r.pr_percentage = 85;
	r.pr_seq = 77;
	r.pr_best_params = "{\"a\": 1}";
	cr_assert_eq(job_from_row(&js, &r, &why), TP_OK);
	cr_assert_eq(js.js_step, TP_STEP_VALIDATION);
	cr_assert_eq(js.js_pct, 85.0);
	cr_assert_eq(js.js_seq, 77);
	cr_assert_eq(js.js_phase, JOB_RUNNING);
	cr_assert_eq(job_start(&js, "optimization", NULL, 0, &why), TP_ESTATE);
	cr_assert_eq(job_start(&js, "save_configuration", NULL, 0, &why), TP_OK);

	job_free(&js);
	job_init(&js);
	r.pr_current_step = "Complete";
	r.pr_is_complete = true;
	cr_assert_eq(job_from_row(&js, &r, &why), TP_OK);
	cr_assert_eq(js.js_phase, JOB_COMPLETE);
	r.pr_error_message = "boom";
	cr_assert_eq(job_from_row(&js, &r, &why), TP_OK);
	cr_assert_eq(js.js_phase, JOB_FAILED);
	r.pr_current_step = "Training";
	cr_assert_eq(job_from_row(&js, &r, &why), TP_EINVAL);
}

Test(job, json_escapes_postgres_refuses)
{
	cr_assert_null(json_object_problem("{\"e\": \"\\ud83d\\ude00\"}"), "a surrogate pair is fine");
	cr_assert_not_null(json_object_problem("{\"e\": \"\\ud83d\"}"), "a high half alone");
	cr_assert_not_null(json_object_problem("{\"e\": \"\\ude00x\"}"), "a low half alone");
	cr_assert_not_null(json_object_problem("{\"e\": \"\\ud83d\\u0041\"}"), "a high half, then no low");
	cr_assert_null(json_escape_problem("\"\\\\ud83d\""), "an escaped backslash, then text");
}

/* What cJSON lets through but PostgreSQL's json parser refuses: a 500 once. */
Test(job, json_as_postgresql_reads_it)
{
	static const char *const refused[] = {
		"\xEF\xBB\xBF{}", "{\"a\":\x0b" "1}", "{\x01}", "{\"a\": \"x\x1fy\"}",
		"{\"a\": 01}", "{\"a\": 00}", "{\"a\": -01}", "{\"a\": 1.}", "{\"a\": 1.e5}",
		"{\"a\": 1e1000000}", "{\"a\": 1e131072}", "{\"a\": 1e-16384}",
		"{\"a\": 0.0e-99999}", "{\"a\": 0e2000000000}",
	};
	static const char *const fine[] = {
		"{\"a\": 0}", "{\"a\": -0}", "{\"a\": 0.0e-0}", "{\"a\": 1E+5}",
		"{\"a\": 1e60000}", "{\"a\": 1e-16383}", "{\"a\": 0e1000000}",
		"{\"a\": 12345678901234567890.5}", "{ \"a\" :\t[1,\r\n2] }",
		"{\"a\": \"x\\u0001\\n\x7f\"}",
	};
	size_t	 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert_not_null(json_object_problem(refused[i]), "%zu: %s", i, refused[i]);
	for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		cr_assert_null(json_object_problem(fine[i]), "%zu: %s", i, fine[i]);
}

/* {"a": [1e300,1e300,...]} with n of them, in buf. */
static const char *
big_numbers(char *buf, int n)
{
	size_t	 off;
	int	 i;

	off = (size_t)sprintf(buf, "{\"a\": [");
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(buf + off, "%s1e300", i ? "," : "");
	sprintf(buf + off, "]}");
	return buf;
}

/* 1e300 is 5 bytes sent, 301 digits stored and served: the cap counts those. */
Test(job, numbers_count_as_printed)
{
	char	*text;

	cr_assert_not_null(text = malloc(TP_JSON_MAX));
	cr_assert_not_null(strstr(json_object_problem(big_numbers(text, 300)),
	    "written out in full"), "300 numbers of 301 digits: over 64 KiB as stored");
	cr_assert_null(json_object_problem(big_numbers(text, 100)), "100 of them fit");
	cr_assert_not_null(strstr(json_object_problem("{\"a\": 1e131071}"), "written out in full"),
	    "PostgreSQL keeps 1e131071, but it would be served as 131072 digits");
	free(text);
}

Test(utf8, prefix_never_ends_inside_a_character)
{
	cr_assert_eq(utf8_prefix("abc", 2), 2);
	cr_assert_eq(utf8_prefix("abc", 10), 3);
	cr_assert_eq(utf8_prefix("a\xc3\xa9", 2), 1, "not half of the e-acute");
	cr_assert_eq(utf8_prefix("a\xc3\xa9", 3), 3);
	cr_assert_eq(utf8_prefix("\xf0\x9f\x98\x80z", 3), 0);
	cr_assert_eq(utf8_prefix("\xff\xfe", 1), 1, "a byte that is not UTF-8 is a unit");
}

Test(utf8, scrub_replaces_what_is_not_utf8)
{
	char	*s;

	cr_assert_str_eq(s = utf8_scrub("caf\xc3\xa9"), "caf\xc3\xa9");
	free(s);
	cr_assert_str_eq(s = utf8_scrub("a\xff" "b\xc3"), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	free(s);
	cr_assert_str_eq(s = utf8_scrub("\xc0\xae"), "\xef\xbf\xbd\xef\xbf\xbd",
	    "an overlong form is two bad bytes");
	free(s);
}

Test(job, queued_then_started)
{
	cr_assert_eq(job_queue(&js, &why), TP_OK);
	cr_assert_str_eq(job_status(&js), "queued");
	cr_assert_eq(job_queue(&js, &why), TP_OK, "queue twice: nothing changes");
	cr_assert_eq(job_start(&js, "data_collection", NULL, 1000, &why), TP_OK);
	cr_assert_str_eq(job_status(&js), "running");
	cr_assert_eq(js.js_step_started_us, 1000);
	cr_assert_eq(job_queue(&js, &why), TP_ESTATE, "a started job is not queued again");
	cr_assert_eq(job_complete(&js, &why), TP_OK);
	cr_assert_str_eq(job_status(&js), "completed");
	cr_assert_eq(job_queue(&js, &why), TP_EFINISHED);
}

Test(job, stored_statuses_load_as_phases)
{
	static const struct { const char *status; bool complete; enum job_phase phase; } v[] = {
		{ "queued", false, JOB_QUEUED }, { "running", false, JOB_RUNNING },
		{ "stalled", false, JOB_RUNNING }, { "cancelling", false, JOB_RUNNING },
		{ "cancelled", true, JOB_CANCELLED }, { "completed", true, JOB_COMPLETE },
		{ "failed", true, JOB_FAILED },
	};
	struct progress_row	 r;
	size_t			 i;

	memset(&r, 0, sizeof(r));
	r.pr_current_step = "Optimization";
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		r.pr_status = v[i].status;
		r.pr_is_complete = v[i].complete;
		r.pr_error_message = v[i].phase == JOB_FAILED || v[i].phase == JOB_CANCELLED ?
		    "x" : NULL;
		cr_assert_eq(job_from_row(&js, &r, &why), TP_OK, "%s", v[i].status);
		cr_assert_eq(js.js_phase, v[i].phase, "%s", v[i].status);
		cr_assert_eq(job_finished(&js), v[i].complete, "%s", v[i].status);
		cr_assert_str_eq(job_status(&js), v[i].phase == JOB_RUNNING ? "running" : v[i].status);
	}
	r.pr_status = "paused";
	cr_assert_eq(job_from_row(&js, &r, &why), TP_EINVAL);
	r.pr_status = "queued";
	r.pr_is_complete = false;
	cr_assert_eq(job_from_row(&js, &r, &why), TP_OK);
	cr_assert_eq(js.js_step, TP_STEP_NONE, "a queued job has no step yet");
}

/* Found by fuzz_json: a backslash at the very end was read past. */
Test(job, an_escape_cut_off_at_the_end_is_malformed)
{
	cr_assert_not_null(json_escape_problem("\"abc\\"));
	cr_assert_not_null(json_escape_problem("\"\\"));
}

/* --- job_apply(): the one rule every publisher calls ------------------------ */

#define SEC	INT64_C(1000000)

static enum tp_err
apply_event(struct job_event ev, int64_t now, struct eta *history)
{
	return job_apply(&js, &ev, now, history, &why);
}

Test(job, apply_runs_each_event_through_its_transition)
{
	struct job_event	 u = { .je_kind = JOB_EV_UPDATE };

	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_QUEUE }, 0, NULL), TP_OK);
	cr_assert_str_eq(job_status(&js), "queued");
	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_START,
	    .je_step = "optimization", .je_details = "{\"trials\": 50}" }, 10 * SEC, NULL), TP_OK);
	cr_assert_eq(js.js_step, TP_STEP_OPTIMIZATION);
	cr_assert_eq(js.js_step_started_us, 10 * SEC);
	cr_assert_str_eq(js.js_details.tb_data, "{\"trials\": 50}");
	u.je_update = upd(TP_UPD_STEP_PERCENTAGE);
	u.je_update.step_percentage = 50;
	cr_assert_eq(apply_event(u, 20 * SEC, NULL), TP_OK);
	cr_assert_float_eq(js.js_pct, 50.0, 1e-9);
	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_ERROR, .je_message = "oom" },
	    21 * SEC, NULL), TP_OK);
	cr_assert_str_eq(job_status(&js), "failed");
	cr_assert_not(js.js_has_eta, "a finished job has no ETA");
	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_COMPLETE }, 22 * SEC, NULL),
	    TP_EFINISHED);
	cr_assert_eq(apply_event((struct job_event){ .je_kind = (enum job_event_kind)9 }, 0, NULL),
	    TP_EINVAL);
}

Test(job, apply_without_history_estimates_from_the_step_pace)
{
	struct job_event	 u = { .je_kind = JOB_EV_UPDATE };

	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_START,
	    .je_step = "optimization" }, 100 * SEC, NULL), TP_OK);
	cr_assert_not(js.js_has_eta, "nothing to go on at the start");
	u.je_update = upd(TP_UPD_STEP_PERCENTAGE);
	u.je_update.step_percentage = 20;
	/* 10 s for a fifth of the step: 40 s for the rest, then 5 % + 20 % of the job. */
	cr_assert_eq(apply_event(u, 110 * SEC, NULL), TP_OK);
	cr_assert(js.js_has_eta);
	cr_assert_gt(js.js_eta_us, 110 * SEC + 40 * SEC);
}

Test(job, apply_with_history_waits_for_samples_unless_told_to_fall_back)
{
	struct job_event	 u = { .je_kind = JOB_EV_UPDATE };
	struct eta		 e;

	eta_reset(&e);
	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_START,
	    .je_step = "optimization" }, 100 * SEC, &e), TP_OK);
	u.je_update = upd(TP_UPD_STEP_PERCENTAGE);
	u.je_update.step_percentage = 20;
	cr_assert_eq(apply_event(u, 110 * SEC, &e), TP_OK);
	cr_assert_not(js.js_has_eta, "two observations are not enough samples");

	/* A resumed tracker: the pace since the step started, until its samples suffice. */
	e.e_pace_fallback = true;
	u.je_update.step_percentage = 30;
	cr_assert_eq(apply_event(u, 115 * SEC, &e), TP_OK);
	cr_assert(js.js_has_eta);
}

Test(job, a_refused_event_changes_nothing)
{
	struct job_event	 u = { .je_kind = JOB_EV_UPDATE };

	cr_assert_eq(apply_event((struct job_event){ .je_kind = JOB_EV_START,
	    .je_step = "optimization" }, SEC, NULL), TP_OK);
	u.je_update = upd(TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION);
	u.je_update.step_percentage = 30;
	u.je_update.iteration = -1;
	cr_assert_eq(apply_event(u, 2 * SEC, NULL), TP_EINVAL);
	cr_assert_str_eq(why, "current_iteration must be within 0..2147483647");
	cr_assert_float_eq(js.js_step_pct, 0.0, 1e-9, "not half-applied");
	cr_assert_not(js.js_has_iter);
}

Test(job, event_names_round_trip)
{
	int	 k;

	for (k = 0; k < JOB_EVENT_COUNT; k++)
		cr_assert_eq(job_event_kind(job_event_name((enum job_event_kind)k)), k);
	cr_assert_eq(job_event_kind("stop"), -1);
	cr_assert_eq(job_event_kind(NULL), -1);
	cr_assert_null(job_event_name((enum job_event_kind)JOB_EVENT_COUNT));
}

/* --- the exported checks: one per field, for every publisher ---------------- */

static void
refuses(const struct tp_update *u, const char *field, const char *words)
{
	const char	*f, *problem = tp_update_problem(u, &f);

	cr_assert_not_null(problem, "accepted, want %s refused", field);
	cr_assert_str_eq(f, field);
	cr_assert_not_null(strstr(problem, words), "\"%s\" lacks \"%s\"", problem, words);
}

Test(checks, each_field_of_an_update)
{
	struct tp_update	 u;
	const char		*f;

	u = upd(TP_UPD_STEP_PERCENTAGE);
	u.step_percentage = 100;
	cr_assert_null(tp_update_problem(&u, &f), "100 is the end of the range");
	u.step_percentage = 100.0001;
	refuses(&u, "step_percentage", "0..100");
	u.step_percentage = NAN;
	refuses(&u, "step_percentage", "0..100");
	u = upd(TP_UPD_TOTAL_ITERATIONS);
	u.total_iterations = -5;
	refuses(&u, "total_iterations", "0..2147483647");
	u = upd(TP_UPD_CURRENT_SCORE);
	u.current_score = INFINITY;
	refuses(&u, "current_score", "finite");
	u = upd(TP_UPD_BEST_PARAMS);
	u.best_params = "[1]";
	refuses(&u, "best_params", "object");
	u = upd(TP_UPD_DETAILS);
	u.details = "{\"a\": \"\\u0000\"}";
	refuses(&u, "step_details", "\\u0000");
	u = upd(1u << 20);
	cr_assert_not_null(tp_update_problem(&u, &f));
	cr_assert_null(f, "no one field");
	cr_assert_not_null(tp_update_problem(NULL, &f));
}

Test(checks, start_and_error)
{
	const char	*f;

	cr_assert_null(tp_start_problem("validation", "{\"folds\": 5}", &f));
	cr_assert_null(f);
	cr_assert_not_null(tp_start_problem("Validation", NULL, &f), "keys, not names");
	cr_assert_str_eq(f, "step");
	cr_assert_not_null(tp_start_problem(NULL, NULL, &f));
	cr_assert_not_null(tp_start_problem("validation", "{", &f));
	cr_assert_str_eq(f, "step_details");
	cr_assert_null(tp_error_problem("out of memory", &f));
	cr_assert_not_null(tp_error_problem("", &f));
	cr_assert_str_eq(f, "error_message");
	cr_assert_not_null(tp_error_problem(NULL, &f));
	cr_assert_not_null(tp_error_problem("\xff", &f), "not UTF-8");
}

/* test_progress.c: lib/progress.c: the step model, the formula, job id rules. */
#include <math.h>
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

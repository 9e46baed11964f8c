/* test_store.c: lib/store.c: decoding binary training_progress rows. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/lib.h"
#include "fake_pg.h"

/* The spec's example row, with the optional columns filled in. */
static PGresult *
spec_result(void)
{
	PGresult	*res = fake_progress_result(FAKE_PROGRESS_COLS, NULL);
	char		 b = 0;

	fake_set_text(res, 0, "abc123-def456");
	fake_set_f8(res, 1, 62.5);
	fake_set_text(res, 2, "Optimization");
	fake_set_i4(res, 3, 2);
	fake_set_i4(res, 4, 4);
	fake_set_f8(res, 5, 75.0);
	fake_set_jsonb(res, 6, "{\"n_calls\": 50, \"optimizer\": \"bayesian\"}");
	fake_set_ts(res, 7, INT64_C(1761199200000000));
	fake_set_ts(res, 8, INT64_C(1761199825000000));
	fake_set_ts(res, 9, INT64_C(1761200130000000));
	fake_set_i4(res, 10, 38);
	fake_set_i4(res, 11, 50);
	fake_set_f8(res, 12, 1.85);
	fake_set_f8(res, 13, 1.42);
	fake_set_jsonb(res, 14, "{\"pierce_depth\": 0.15}");
	cr_assert(PQsetvalue(res, 0, 15, &b, 1));
	fake_set_null(res, 16);
	fake_set_i8(res, 17, 42);
	fake_set_text(res, 18, "running");
	fake_set_ts(res, 19, INT64_C(1761199500000000));
	return res;
}

Test(store, decodes_every_column)
{
	PGresult		*res = spec_result();
	struct progress_row	 r;

	cr_assert_eq(store_decode_progress(res, 0, &r), 0);
	cr_assert_str_eq(r.pr_job_id, "abc123-def456");
	cr_assert_eq(r.pr_percentage, 62.5);
	cr_assert_str_eq(r.pr_current_step, "Optimization");
	cr_assert_eq(r.pr_step_number, 2);
	cr_assert_eq(r.pr_total_steps, 4);
	cr_assert_eq(r.pr_step_percentage, 75.0);
	cr_assert_str_eq(r.pr_step_details, "{\"n_calls\": 50, \"optimizer\": \"bayesian\"}");
	cr_assert_eq(r.pr_started_at, INT64_C(1761199200000000));
	cr_assert_eq(r.pr_updated_at, INT64_C(1761199825000000));
	cr_assert(r.pr_has_estimated_completion);
	cr_assert_eq(r.pr_estimated_completion, INT64_C(1761200130000000));
	cr_assert(r.pr_has_current_iteration && r.pr_current_iteration == 38);
	cr_assert(r.pr_has_total_iterations && r.pr_total_iterations == 50);
	cr_assert(r.pr_has_best_score && r.pr_best_score == 1.85);
	cr_assert(r.pr_has_current_score && r.pr_current_score == 1.42);
	cr_assert_str_eq(r.pr_best_params, "{\"pierce_depth\": 0.15}");
	cr_assert_not(r.pr_is_complete);
	cr_assert_null(r.pr_error_message);
	cr_assert_eq(r.pr_seq, 42);
	cr_assert_str_eq(r.pr_status, "running");
	cr_assert(r.pr_has_step_started);
	cr_assert_eq(r.pr_step_started_at, INT64_C(1761199500000000));
	PQclear(res);
}

Test(store, status_is_required_and_step_start_optional)
{
	PGresult		*res = spec_result();
	struct progress_row	 r;

	fake_set_null(res, 19);
	cr_assert_eq(store_decode_progress(res, 0, &r), 0);
	cr_assert_not(r.pr_has_step_started);
	fake_set_null(res, 18);
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);
}

Test(store, nullable_columns_decode_as_absent)
{
	PGresult		*res = spec_result();
	struct progress_row	 r;
	int			 col;

	for (col = 9; col <= 14; col++)
		fake_set_null(res, col);
	fake_set_null(res, 6);
	cr_assert_eq(store_decode_progress(res, 0, &r), 0);
	cr_assert_null(r.pr_step_details);
	cr_assert_not(r.pr_has_estimated_completion);
	cr_assert_not(r.pr_has_current_iteration);
	cr_assert_not(r.pr_has_total_iterations);
	cr_assert_not(r.pr_has_best_score);
	cr_assert_not(r.pr_has_current_score);
	cr_assert_null(r.pr_best_params);
	PQclear(res);
}

Test(store, infinity_timestamps_saturate)
{
	PGresult		*res = spec_result();
	struct progress_row	 r;

	fake_set_i8(res, 9, INT64_MAX);
	cr_assert_eq(store_decode_progress(res, 0, &r), 0);
	cr_assert_eq(r.pr_estimated_completion, INT64_MAX);
	PQclear(res);
}

Test(store, refuses_a_schema_it_does_not_know)
{
	PGresult		*res;
	struct progress_row	 r;
	Oid			 types[FAKE_PROGRESS_COLS];
	int			 i;

	/* percentage as numeric (1700) instead of float8 */
	for (i = 0; i < FAKE_PROGRESS_COLS; i++)
		types[i] = fake_progress_type(i);
	types[1] = 1700;
	res = fake_progress_result(FAKE_PROGRESS_COLS, types);
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);
}

Test(store, refuses_wrong_sizes_nulls_and_rows)
{
	PGresult		*res = spec_result();
	struct progress_row	 r;
	char			 two[2] = { 0, 1 };

	cr_assert_eq(store_decode_progress(res, 1, &r), -1, "row out of range");
	cr_assert_eq(store_decode_progress(res, -1, &r), -1);
	cr_assert(PQsetvalue(res, 0, 3, two, 2));		/* int4 of 2 bytes */
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);

	res = spec_result();
	fake_set_null(res, 0);					/* NOT NULL job_id */
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);

	res = spec_result();
	fake_set_text(res, 6, "{}");				/* jsonb without version byte */
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);
}

Test(store, text_results_are_refused)
{
	PGresult		*res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc		 attrs[FAKE_PROGRESS_COLS];
	struct progress_row	 r;
	int			 i;

	memset(attrs, 0, sizeof(attrs));
	for (i = 0; i < FAKE_PROGRESS_COLS; i++) {
		attrs[i].name = (char *)fake_progress_name(i);
		attrs[i].typid = fake_progress_type(i);
		attrs[i].format = 0;
	}
	cr_assert(PQsetResultAttrs(res, FAKE_PROGRESS_COLS, attrs));
	for (i = 0; i < FAKE_PROGRESS_COLS; i++)
		cr_assert(PQsetvalue(res, 0, i, "1", 1));
	cr_assert_eq(store_decode_progress(res, 0, &r), -1);
	PQclear(res);
}

/* --- the dashboard's list -------------------------------------------------- */

static PGresult *
jobs_result(int rows)
{
	static const struct { const char *name; Oid type; } jc[9] = {
		{ "job_id", 1043 }, { "status", 25 }, { "percentage", 701 },
		{ "current_step", 1043 }, { "step_number", 23 }, { "best_score", 701 },
		{ "updated_at", 1184 }, { "estimated_completion", 1184 }, { "heartbeat_at", 1184 },
	};
	PGresAttDesc	 attrs[9];
	PGresult	*res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int		 i, r;

	memset(attrs, 0, sizeof(attrs));
	for (i = 0; i < 9; i++) {
		attrs[i].name = (char *)jc[i].name;
		attrs[i].typid = jc[i].type;
		attrs[i].format = 1;
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	cr_assert(PQsetResultAttrs(res, 9, attrs));
	for (r = 0; r < rows; r++) {
		uint64_t	 v;
		uint32_t	 w = htobe32(2);
		double		 d = 37.5;

		cr_assert(PQsetvalue(res, r, 0, "job-1", 5));
		cr_assert(PQsetvalue(res, r, 1, "stalled", 7));
		memcpy(&v, &d, 8);
		v = htobe64(v);
		cr_assert(PQsetvalue(res, r, 2, (char *)&v, 8));
		cr_assert(PQsetvalue(res, r, 3, "Optimization", 12));
		cr_assert(PQsetvalue(res, r, 4, (char *)&w, 4));
		cr_assert(PQsetvalue(res, r, 5, NULL, -1));
		v = htobe64((uint64_t)(INT64_C(1761199825000000) - FAKE_PG_EPOCH_US));
		cr_assert(PQsetvalue(res, r, 6, (char *)&v, 8));
		cr_assert(PQsetvalue(res, r, 7, NULL, -1));
		v = htobe64((uint64_t)(INT64_C(1761199826000000) - FAKE_PG_EPOCH_US));
		cr_assert(PQsetvalue(res, r, 8, (char *)&v, 8));
	}
	return res;
}

Test(jobs, decodes_an_item)
{
	PGresult	*res = jobs_result(1);
	struct job_item	 ji;

	cr_assert_eq(store_decode_job_item(res, 0, &ji), 0);
	cr_assert_str_eq(ji.ji_job_id, "job-1");
	cr_assert_str_eq(ji.ji_status, "stalled");
	cr_assert_eq(ji.ji_percentage, 37.5);
	cr_assert_str_eq(ji.ji_current_step, "Optimization");
	cr_assert_eq(ji.ji_step_number, 2);
	cr_assert_not(ji.ji_has_best_score);
	cr_assert_not(ji.ji_has_eta);
	cr_assert_eq(ji.ji_updated_at, INT64_C(1761199825000000));
	cr_assert_eq(ji.ji_activity, INT64_C(1761199826000000));
	cr_assert_eq(store_decode_job_item(res, 1, &ji), -1, "row out of range");
	/* Only best_score and estimated_completion may be NULL. */
	cr_assert(PQsetvalue(res, 0, 6, NULL, -1));
	cr_assert_eq(store_decode_job_item(res, 0, &ji), -1);
	PQclear(res);
}

/* --- batches of states for the guarded UPSERT ----------------------------- */

Test(batch, array_literals_quote_and_escape)
{
	struct put_batch	 pb;
	struct job_state	 js;
	const char		*why;

	memset(&pb, 0, sizeof(pb));
	job_init(&js);
	cr_assert_eq(job_start(&js, "optimization", "{\"q\": \"a\\\"b\", \"s\": \"c\\\\d\"}", 0, &why), TP_OK);
	js.js_seq = 42;
	store_batch_reset(&pb);
	cr_assert_eq(store_batch_add(&pb, "job \"one\"", &js), 0);
	cr_assert_eq(job_fail(&js, "it's \\ broken", &why), TP_OK);
	cr_assert_eq(store_batch_add(&pb, "job,two", &js), 0);
	cr_assert_eq(store_batch_finish(&pb), 0);
	cr_assert_eq(pb.pb_count, 2);
	cr_assert_str_eq(pb.pb_values[0], "{\"job \\\"one\\\"\",\"job,two\"}");
	cr_assert_str_eq(pb.pb_values[1], "{\"25\",\"25\"}");
	cr_assert_str_eq(pb.pb_values[2], "{\"Optimization\",\"Optimization\"}");
	cr_assert_str_eq(pb.pb_values[3], "{\"2\",\"2\"}");
	cr_assert_str_eq(pb.pb_values[5],
	    "{\"{\\\"q\\\": \\\"a\\\\\\\"b\\\", \\\"s\\\": \\\"c\\\\\\\\d\\\"}\","
	    "\"{\\\"q\\\": \\\"a\\\\\\\"b\\\", \\\"s\\\": \\\"c\\\\\\\\d\\\"}\"}");
	cr_assert_str_eq(pb.pb_values[6], "{NULL,NULL}", "no ETA: NULL");
	cr_assert_str_eq(pb.pb_values[7], "{NULL,NULL}", "no iteration: NULL");
	cr_assert_str_eq(pb.pb_values[12], "{\"f\",\"t\"}");
	cr_assert_str_eq(pb.pb_values[13], "{NULL,\"it's \\\\ broken\"}");
	cr_assert_str_eq(pb.pb_values[14], "{\"42\",\"42\"}");

	/* Reset keeps the memory and starts over. */
	store_batch_reset(&pb);
	cr_assert_eq(store_batch_finish(&pb), 0);
	cr_assert_str_eq(pb.pb_values[0], "{}");
	store_batch_free(&pb);
	job_free(&js);
}

Test(batch, text_arrays)
{
	struct tbuf	 tb = { 0 };
	const char	*v[] = { "a", "b\"c", "d\\e", "" };

	cr_assert_eq(store_text_array(&tb, v, 4), 0);
	cr_assert_str_eq(tb.tb_data, "{\"a\",\"b\\\"c\",\"d\\\\e\",\"\"}");
	tbuf_free(&tb);
}

/* --- the history's rows ---------------------------------------------------- */

/* An empty STMT_HISTORY result, its seq column of type seq_type. */
static PGresult *
history_result(Oid seq_type)
{
	static const char *const names[10] = {
		"seq", "at", "status", "percentage", "step_number", "current_step",
		"step_percentage", "current_iteration", "best_score", "current_score",
	};
	Oid	 types[10] = { 20, 1184, 25, 701, 23, 1043, 701, 23, 701, 701 };

	types[0] = seq_type;
	return fake_result(10, names, types);
}

Test(history, decodes_a_snapshot)
{
	PGresult	*res = history_result(20);
	struct snapshot	 sn;

	fake_set_i8(res, 0, 42);
	fake_set_ts(res, 1, INT64_C(1761199825000000));
	fake_set_text(res, 2, "running");
	fake_set_f8(res, 3, 37.5);
	fake_set_i4(res, 4, 2);
	fake_set_text(res, 5, "Optimization");
	fake_set_f8(res, 6, 25);
	fake_set_i4(res, 7, 12);
	fake_set_null(res, 8);
	fake_set_f8(res, 9, -0.5);
	cr_assert_eq(store_decode_snapshot(res, 0, &sn), 0);
	cr_assert_eq(sn.sn_seq, 42);
	cr_assert_eq(sn.sn_at, INT64_C(1761199825000000));
	cr_assert_str_eq(sn.sn_status, "running");
	cr_assert_float_eq(sn.sn_percentage, 37.5, 1e-12);
	cr_assert_eq(sn.sn_step_number, 2);
	cr_assert_str_eq(sn.sn_current_step, "Optimization");
	cr_assert(sn.sn_has_iteration && sn.sn_iteration == 12);
	cr_assert_not(sn.sn_has_best_score);
	cr_assert(sn.sn_has_current_score && sn.sn_current_score == -0.5);
	cr_assert_eq(store_decode_snapshot(res, 1, &sn), -1, "no such row");
	PQclear(res);
}

Test(history, the_outer_joins_nulls_are_a_job_without_snapshots)
{
	PGresult	*res = history_result(20);
	struct snapshot	 sn;
	int		 i;

	for (i = 0; i < 10; i++)
		fake_set_null(res, i);
	cr_assert_eq(store_decode_snapshot(res, 0, &sn), 1);
	PQclear(res);
}

Test(history, a_schema_that_disagrees_is_refused)
{
	PGresult	*res = history_result(23);	/* seq as int4 */
	struct snapshot	 sn;

	fake_set_i4(res, 0, 42);
	cr_assert_eq(store_decode_snapshot(res, 0, &sn), -1);
	PQclear(res);
	res = history_result(20);
	fake_set_i8(res, 0, 42);
	fake_set_null(res, 2);	/* status may not be NULL in a snapshot */
	cr_assert_eq(store_decode_snapshot(res, 0, &sn), -1);
	PQclear(res);
}

/*
 * A row as logical decoding delivers it (tp-notify): the table's columns in
 * the table's order, more of them than GET reads, binary values.
 */
Test(feed, a_decoded_change_reads_as_a_get)
{
	PGresult		*get = spec_result(), *res;
	const char		*names[FAKE_PROGRESS_COLS + 2], *values[FAKE_PROGRESS_COLS + 2];
	Oid			 types[FAKE_PROGRESS_COLS + 2];
	int			 lens[FAKE_PROGRESS_COLS + 2], i, j;
	bool			 unknown[FAKE_PROGRESS_COLS + 2] = { false };
	int			 map[STORE_PROGRESS_COLS];
	struct progress_row	 a, b;
	char			*da, *db;

	/* Reversed, with an id column first and a heartbeat last. */
	names[0] = "id";
	types[0] = 20;
	values[0] = "\0\0\0\0\0\0\0\7";
	lens[0] = 8;
	for (i = 0; i < FAKE_PROGRESS_COLS; i++) {
		j = FAKE_PROGRESS_COLS - i;
		names[j] = fake_progress_name(i);
		types[j] = fake_progress_type(i);
		values[j] = PQgetisnull(get, 0, i) ? NULL : PQgetvalue(get, 0, i);
		lens[j] = PQgetlength(get, 0, i);
	}
	names[FAKE_PROGRESS_COLS + 1] = "heartbeat_at";
	types[FAKE_PROGRESS_COLS + 1] = 1184;
	values[FAKE_PROGRESS_COLS + 1] = NULL;
	lens[FAKE_PROGRESS_COLS + 1] = 0;

	cr_assert_eq(store_progress_map(FAKE_PROGRESS_COLS + 2, names, map), 0);
	res = store_progress_result(map, types, values, lens, unknown);
	cr_assert_not_null(res);
	cr_assert_eq(store_decode_progress(res, 0, &a), 0);
	cr_assert_eq(store_decode_progress(get, 0, &b), 0);
	da = render_progress(&a, NULL);
	db = render_progress(&b, NULL);
	cr_assert_str_eq(da, db, "the same document as GET's");
	free(da);
	free(db);
	PQclear(res);

	/* A value the change left out (TOASTed, unchanged): read the row instead. */
	unknown[FAKE_PROGRESS_COLS - 3] = true;
	cr_assert_null(store_progress_result(map, types, values, lens, unknown));
	unknown[FAKE_PROGRESS_COLS - 3] = false;
	/* A column missing: no map. */
	cr_assert_eq(store_progress_map(FAKE_PROGRESS_COLS, names, map), -1);
	cr_assert_eq(store_progress_map(FAKE_PROGRESS_COLS + 2, names, map), 0);
	/* A column of another type: the decoder refuses it, as it refuses GET's. */
	types[FAKE_PROGRESS_COLS] = 25;
	res = store_progress_result(map, types, values, lens, unknown);
	cr_assert_not_null(res);
	cr_assert_eq(store_decode_progress(res, 0, &a), -1);
	PQclear(res);
	PQclear(get);
}

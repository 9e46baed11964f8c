/* store.c: the SQL of training_progress, and decoding its rows from libpq. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Type OIDs from pg_type.h: stable since they were assigned. */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT4	23
#define OID_TEXT	25
#define OID_FLOAT8	701
#define OID_VARCHAR	1043
#define OID_TIMESTAMPTZ	1184
#define OID_JSONB	3802

/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch. */
#define PG_EPOCH_OFFSET_US	(INT64_C(946684800) * 1000000)

/* Column order of store_progress_get_sql; decode relies on it. */
enum {
	COL_JOB_ID, COL_PERCENTAGE, COL_CURRENT_STEP, COL_STEP_NUMBER,
	COL_TOTAL_STEPS, COL_STEP_PERCENTAGE, COL_STEP_DETAILS, COL_STARTED_AT,
	COL_UPDATED_AT, COL_ESTIMATED_COMPLETION, COL_CURRENT_ITERATION,
	COL_TOTAL_ITERATIONS, COL_BEST_SCORE, COL_CURRENT_SCORE, COL_BEST_PARAMS,
	COL_IS_COMPLETE, COL_ERROR_MESSAGE, COL_SEQ, COL_COUNT
};

const char store_progress_get_sql[] =
    "SELECT job_id, percentage, current_step, step_number, total_steps,"
    " step_percentage, step_details, started_at, updated_at,"
    " estimated_completion, current_iteration, total_iterations,"
    " best_score, current_score, best_params, is_complete, error_message, seq"
    " FROM training_progress WHERE job_id = $1";

static const Oid col_types[COL_COUNT] = {
	[COL_JOB_ID] = OID_VARCHAR,
	[COL_PERCENTAGE] = OID_FLOAT8,
	[COL_CURRENT_STEP] = OID_VARCHAR,
	[COL_STEP_NUMBER] = OID_INT4,
	[COL_TOTAL_STEPS] = OID_INT4,
	[COL_STEP_PERCENTAGE] = OID_FLOAT8,
	[COL_STEP_DETAILS] = OID_JSONB,
	[COL_STARTED_AT] = OID_TIMESTAMPTZ,
	[COL_UPDATED_AT] = OID_TIMESTAMPTZ,
	[COL_ESTIMATED_COMPLETION] = OID_TIMESTAMPTZ,
	[COL_CURRENT_ITERATION] = OID_INT4,
	[COL_TOTAL_ITERATIONS] = OID_INT4,
	[COL_BEST_SCORE] = OID_FLOAT8,
	[COL_CURRENT_SCORE] = OID_FLOAT8,
	[COL_BEST_PARAMS] = OID_JSONB,
	[COL_IS_COMPLETE] = OID_BOOL,
	[COL_ERROR_MESSAGE] = OID_TEXT,
	[COL_SEQ] = OID_INT8,
};

/* Columns declared NOT NULL in the schema. */
static const bool col_not_null[COL_COUNT] = {
	[COL_JOB_ID] = true, [COL_PERCENTAGE] = true, [COL_CURRENT_STEP] = true,
	[COL_STEP_NUMBER] = true, [COL_TOTAL_STEPS] = true,
	[COL_STEP_PERCENTAGE] = true, [COL_STARTED_AT] = true,
	[COL_UPDATED_AT] = true, [COL_IS_COMPLETE] = true, [COL_SEQ] = true,
};

/* Binary wire sizes of the fixed-width types (0: variable). */
static int
type_size(Oid type)
{
	switch (type) {
	case OID_BOOL:
		return 1;
	case OID_INT4:
		return 4;
	case OID_INT8:
	case OID_FLOAT8:
	case OID_TIMESTAMPTZ:
		return 8;
	default:
		return 0;
	}
}

static int64_t
get_int64(const char *p)
{
	uint64_t	 v;

	memcpy(&v, p, sizeof(v));
	return (int64_t)be64toh(v);
}

static int32_t
get_int32(const char *p)
{
	uint32_t	 v;

	memcpy(&v, p, sizeof(v));
	return (int32_t)be32toh(v);
}

static double
get_float8(const char *p)
{
	uint64_t	 v;
	double		 d;

	memcpy(&v, p, sizeof(v));
	v = be64toh(v);
	memcpy(&d, &v, sizeof(d));
	return d;
}

/*
 * PostgreSQL microseconds since 2000 to Unix microseconds.  'infinity' and
 * '-infinity' (INT64_MAX / INT64_MIN) saturate, and render as null.
 */
static int64_t
get_timestamp(const char *p)
{
	int64_t	 pg = get_int64(p);

	if (pg > INT64_MAX - PG_EPOCH_OFFSET_US)
		return INT64_MAX;
	if (pg < INT64_MIN + PG_EPOCH_OFFSET_US)
		return INT64_MIN;
	return pg + PG_EPOCH_OFFSET_US;
}

/* Binary jsonb is a version byte (1) followed by the JSON text. */
static const char *
get_jsonb(const char *p, int len)
{
	if (len < 1 || p[0] != 1)
		return NULL;
	return p + 1;
}

int
store_decode_progress(const PGresult *res, int row, struct progress_row *out)
{
	const char	*v[COL_COUNT];
	bool		 null[COL_COUNT];
	int		 i, len;

	if (PQnfields(res) != COL_COUNT || row < 0 || row >= PQntuples(res))
		return -1;
	for (i = 0; i < COL_COUNT; i++) {
		if (PQfformat(res, i) != 1 || PQftype(res, i) != col_types[i])
			return -1;
		null[i] = PQgetisnull(res, row, i);
		if (null[i] && col_not_null[i])
			return -1;
		v[i] = null[i] ? NULL : PQgetvalue(res, row, i);
		len = PQgetlength(res, row, i);
		if (!null[i] && type_size(col_types[i]) != 0 &&
		    len != type_size(col_types[i]))
			return -1;
		if (!null[i] && col_types[i] == OID_JSONB &&
		    get_jsonb(v[i], len) == NULL)
			return -1;
	}

	memset(out, 0, sizeof(*out));
	out->pr_job_id = v[COL_JOB_ID];
	out->pr_percentage = get_float8(v[COL_PERCENTAGE]);
	out->pr_current_step = v[COL_CURRENT_STEP];
	out->pr_step_number = get_int32(v[COL_STEP_NUMBER]);
	out->pr_total_steps = get_int32(v[COL_TOTAL_STEPS]);
	out->pr_step_percentage = get_float8(v[COL_STEP_PERCENTAGE]);
	if (v[COL_STEP_DETAILS] != NULL)
		out->pr_step_details = v[COL_STEP_DETAILS] + 1;
	out->pr_started_at = get_timestamp(v[COL_STARTED_AT]);
	out->pr_updated_at = get_timestamp(v[COL_UPDATED_AT]);
	if ((out->pr_has_estimated_completion = v[COL_ESTIMATED_COMPLETION] != NULL))
		out->pr_estimated_completion = get_timestamp(v[COL_ESTIMATED_COMPLETION]);
	if ((out->pr_has_current_iteration = v[COL_CURRENT_ITERATION] != NULL))
		out->pr_current_iteration = get_int32(v[COL_CURRENT_ITERATION]);
	if ((out->pr_has_total_iterations = v[COL_TOTAL_ITERATIONS] != NULL))
		out->pr_total_iterations = get_int32(v[COL_TOTAL_ITERATIONS]);
	if ((out->pr_has_best_score = v[COL_BEST_SCORE] != NULL))
		out->pr_best_score = get_float8(v[COL_BEST_SCORE]);
	if ((out->pr_has_current_score = v[COL_CURRENT_SCORE] != NULL))
		out->pr_current_score = get_float8(v[COL_CURRENT_SCORE]);
	if (v[COL_BEST_PARAMS] != NULL)
		out->pr_best_params = v[COL_BEST_PARAMS] + 1;
	out->pr_is_complete = v[COL_IS_COMPLETE][0] != 0;
	out->pr_error_message = v[COL_ERROR_MESSAGE];
	out->pr_seq = get_int64(v[COL_SEQ]);
	return 0;
}

/*
 * The guarded UPSERT of a batch of job states, one array element per job
 * (job ids unique within a batch).  "Ahead" below: the write does not lower
 * the overall percentage.  Writes that are not ahead, not newer (seq), or
 * for a finished job are refused by the WHERE clause, except a failure,
 * which is applied while the stored progress is kept.  Returns the
 * (job_id, seq) of the rows applied.
 */
const char store_progress_put_sql[] =
    "INSERT INTO training_progress AS tp (job_id, percentage, current_step,"
    " step_number, step_percentage, step_details, estimated_completion,"
    " current_iteration, total_iterations, best_score, current_score,"
    " best_params, is_complete, error_message, seq)"
    " SELECT j, p, cs, sn, sp, sd, CASE WHEN eta > now() THEN eta END,"
    " ci, ti, bs, cur, bp, ic, em, sq"
    " FROM unnest($1::text[], $2::float8[], $3::text[], $4::int4[], $5::float8[],"
    " $6::jsonb[], $7::timestamptz[], $8::int4[], $9::int4[], $10::float8[],"
    " $11::float8[], $12::jsonb[], $13::bool[], $14::text[], $15::int8[])"
    " AS u(j, p, cs, sn, sp, sd, eta, ci, ti, bs, cur, bp, ic, em, sq)"
    " ON CONFLICT (job_id) DO UPDATE SET"
    " percentage = GREATEST(tp.percentage, EXCLUDED.percentage),"
    " current_step = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.current_step ELSE tp.current_step END,"
    " step_number = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.step_number ELSE tp.step_number END,"
    " step_percentage = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.step_percentage ELSE tp.step_percentage END,"
    " step_details = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.step_details ELSE tp.step_details END,"
    " estimated_completion = EXCLUDED.estimated_completion,"
    " current_iteration = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.current_iteration ELSE tp.current_iteration END,"
    " total_iterations = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.total_iterations ELSE tp.total_iterations END,"
    " best_score = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.best_score ELSE tp.best_score END,"
    " current_score = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.current_score ELSE tp.current_score END,"
    " best_params = CASE WHEN EXCLUDED.percentage >= tp.percentage"
    "   THEN EXCLUDED.best_params ELSE tp.best_params END,"
    " is_complete = EXCLUDED.is_complete,"
    " error_message = EXCLUDED.error_message,"
    " updated_at = now(),"
    " seq = EXCLUDED.seq"
    " WHERE tp.seq < EXCLUDED.seq AND NOT tp.is_complete"
    " AND (EXCLUDED.percentage >= tp.percentage OR EXCLUDED.error_message IS NOT NULL)"
    " RETURNING job_id, seq";

const char store_progress_finished_sql[] =
    "SELECT job_id FROM training_progress WHERE job_id = ANY($1::text[]) AND is_complete";

/* Appends s[0..len) to tb.  0, or -1 out of memory. */
static int
tbuf_append(struct tbuf *tb, const char *s, size_t len)
{
	char	*p;
	size_t	 cap;

	if (tb->tb_len + len + 1 > tb->tb_cap) {
		cap = tb->tb_cap ? tb->tb_cap : 256;
		while (cap < tb->tb_len + len + 1)
			cap *= 2;
		if ((p = realloc(tb->tb_data, cap)) == NULL)
			return -1;
		tb->tb_data = p;
		tb->tb_cap = cap;
	}
	memcpy(tb->tb_data + tb->tb_len, s, len);
	tb->tb_len += len;
	tb->tb_data[tb->tb_len] = '\0';
	tb->tb_set = true;
	return 0;
}

/*
 * Appends one element to an array literal under construction: a comma if
 * needed, then NULL, or the value double-quoted with " and \ escaped.
 */
static int
array_add(struct tbuf *tb, const char *value)
{
	const char	*p, *run;

	if (tbuf_append(tb, tb->tb_len > 1 ? "," : "", tb->tb_len > 1) == -1)
		return -1;
	if (value == NULL)
		return tbuf_append(tb, "NULL", 4);
	if (tbuf_append(tb, "\"", 1) == -1)
		return -1;
	for (run = p = value; *p != '\0'; p++)
		if (*p == '"' || *p == '\\') {
			if (tbuf_append(tb, run, (size_t)(p - run)) == -1 ||
			    tbuf_append(tb, "\\", 1) == -1)
				return -1;
			run = p;
		}
	if (tbuf_append(tb, run, (size_t)(p - run)) == -1)
		return -1;
	return tbuf_append(tb, "\"", 1);
}

void
store_batch_reset(struct put_batch *pb)
{
	int	 i;

	for (i = 0; i < STORE_PROGRESS_PUT_NPARAMS; i++) {
		pb->pb_arrays[i].tb_len = 0;
		(void)tbuf_append(&pb->pb_arrays[i], "{", 1);
		pb->pb_values[i] = NULL;
	}
	pb->pb_count = 0;
}

void
store_batch_free(struct put_batch *pb)
{
	int	 i;

	for (i = 0; i < STORE_PROGRESS_PUT_NPARAMS; i++)
		tbuf_free(&pb->pb_arrays[i]);
}

/* Doubles as text that reads back as the same double. */
static void
put_double(char *buf, size_t size, double v)
{
	snprintf(buf, size, "%.17g", v);
}

int
store_batch_add(struct put_batch *pb, const char *job_id, const struct job_state *js)
{
	char		 pct[32], step_number[16], step_pct[32], eta[RENDER_TIMESTAMP_MAX];
	char		 iter[16], total[16], best[32], current[32], seq[24];
	const char	*v[STORE_PROGRESS_PUT_NPARAMS];
	int		 i;

	put_double(pct, sizeof(pct), js->js_pct);
	snprintf(step_number, sizeof(step_number), "%d",
	    js->js_step != TP_STEP_NONE ? (int)js->js_step : 1);
	put_double(step_pct, sizeof(step_pct), js->js_step_pct);
	snprintf(iter, sizeof(iter), "%d", (int)js->js_iter);
	snprintf(total, sizeof(total), "%d", (int)js->js_total);
	put_double(best, sizeof(best), js->js_best);
	put_double(current, sizeof(current), js->js_current);
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)js->js_seq);

	v[0] = job_id;
	v[1] = pct;
	v[2] = job_step_name(js);
	v[3] = step_number;
	v[4] = step_pct;
	v[5] = js->js_details.tb_set ? js->js_details.tb_data : NULL;
	v[6] = js->js_has_eta && render_timestamp(js->js_eta_us, eta, sizeof(eta)) > 0 ?
	    eta : NULL;
	v[7] = js->js_has_iter ? iter : NULL;
	v[8] = js->js_has_total ? total : NULL;
	v[9] = js->js_has_best ? best : NULL;
	v[10] = js->js_has_current ? current : NULL;
	v[11] = js->js_best_params.tb_set ? js->js_best_params.tb_data : NULL;
	v[12] = js->js_phase != JOB_RUNNING ? "t" : "f";
	v[13] = js->js_phase == JOB_FAILED && js->js_error.tb_set ? js->js_error.tb_data : NULL;
	v[14] = seq;
	for (i = 0; i < STORE_PROGRESS_PUT_NPARAMS; i++)
		if (array_add(&pb->pb_arrays[i], v[i]) == -1)
			return -1;
	pb->pb_count++;
	return 0;
}

int
store_batch_finish(struct put_batch *pb)
{
	int	 i;

	for (i = 0; i < STORE_PROGRESS_PUT_NPARAMS; i++) {
		if (tbuf_append(&pb->pb_arrays[i], "}", 1) == -1)
			return -1;
		pb->pb_values[i] = pb->pb_arrays[i].tb_data;
	}
	return 0;
}

int
store_text_array(struct tbuf *tb, const char *const *values, int n)
{
	int	 i;

	tb->tb_len = 0;
	if (tbuf_append(tb, "{", 1) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (array_add(tb, values[i]) == -1)
			return -1;
	return tbuf_append(tb, "}", 1);
}

/* store.c: the SQL of training_progress, and decoding its rows from libpq. */
#include <endian.h>
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

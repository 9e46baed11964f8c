/*
 * store.c: the statements of trainprog, one table of them
 * (store_statements), and what runs them for libtrainprog: the round trips
 * of progress (the guarded UPSERT of a batch, heartbeats, the finished
 * check, loading a job for resume) and decoding what comes back.
 *
 * The pool (fcgi/db.c) runs the same statements by id through its own
 * connections; a publisher (publisher.c) reaches PostgreSQL only through
 * store_pg, the struct store_ops at the end of this file.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "lib.h"

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

/*
 * How a job's status reads: a running job not heard from (write or
 * heartbeat) for the given number of seconds is "stalled".  A NULL number
 * of seconds: nothing is stalled.
 */
#define STATUS_EXPR(secs) \
	"CASE WHEN " secs " IS NOT NULL AND status = 'running' AND heartbeat_at < " \
	"now() - make_interval(secs => " secs ") THEN 'stalled' ELSE status END"

/* Column order of progress_get_sql; decode relies on it. */
enum {
	COL_JOB_ID, COL_PERCENTAGE, COL_CURRENT_STEP, COL_STEP_NUMBER,
	COL_TOTAL_STEPS, COL_STEP_PERCENTAGE, COL_STEP_DETAILS, COL_STARTED_AT,
	COL_UPDATED_AT, COL_ESTIMATED_COMPLETION, COL_CURRENT_ITERATION,
	COL_TOTAL_ITERATIONS, COL_BEST_SCORE, COL_CURRENT_SCORE, COL_BEST_PARAMS,
	COL_IS_COMPLETE, COL_ERROR_MESSAGE, COL_SEQ, COL_STATUS, COL_STEP_STARTED_AT,
	COL_COUNT
};

#define PROGRESS_COLUMNS \
	"job_id, percentage, current_step, step_number, total_steps," \
	" step_percentage, step_details, started_at, updated_at," \
	" estimated_completion, current_iteration, total_iterations," \
	" best_score, current_score, best_params, is_complete, error_message, seq, " \
	STATUS_EXPR("$2::float8") " AS status, step_started_at"

/*
 * A job's row: $1 the job id, $2 the stall time in seconds (NULL: nothing
 * reads as stalled).  Binary results, decoded by store_decode_progress().
 * The lock is the same row FOR UPDATE, for a writer inside a transaction.
 */
static const char progress_get_sql[] =
    "SELECT " PROGRESS_COLUMNS " FROM training_progress WHERE job_id = $1";

/*
 * What tp-notify publishes again when nginx has lost its streams: the jobs
 * not ended, a page at a time: $1 the last job id of the page before ("":
 * the first), $2 the stall time as in progress_get_sql.
 */
static const char running_sql[] =
    "SELECT " PROGRESS_COLUMNS " FROM training_progress WHERE NOT is_complete"
    " AND job_id > $1 ORDER BY job_id LIMIT 500";

static const char progress_lock_sql[] =
    "SELECT " PROGRESS_COLUMNS " FROM training_progress WHERE job_id = $1 FOR UPDATE";

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
	[COL_STATUS] = OID_TEXT,
	[COL_STEP_STARTED_AT] = OID_TIMESTAMPTZ,
};

/* A column's bit, in a set of columns. */
#define BIT(col)	(UINT32_C(1) << (col))

/* The columns that may be NULL (the others are NOT NULL in the schema). */
#define COL_NULLABLE \
	(BIT(COL_STEP_DETAILS) | BIT(COL_ESTIMATED_COMPLETION) | BIT(COL_CURRENT_ITERATION) | \
	BIT(COL_TOTAL_ITERATIONS) | BIT(COL_BEST_SCORE) | BIT(COL_CURRENT_SCORE) | \
	BIT(COL_BEST_PARAMS) | BIT(COL_ERROR_MESSAGE) | BIT(COL_STEP_STARTED_AT))

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

/*
 * Checks row `row` of a binary result against the layout its decoder
 * expects: n columns of these types, NULL only in the columns of
 * `nullable`, fixed-width values of their width, jsonb with its version
 * byte.  Points v[i] at each value (NULL for SQL NULL).  0, or -1 when the
 * schema and the code disagree.
 */
static int
decode_row(const PGresult *res, int row, const Oid *types, int n, uint32_t nullable,
    const char **v)
{
	int	 i, len;

	if (PQnfields(res) != n || row < 0 || row >= PQntuples(res))
		return -1;
	for (i = 0; i < n; i++) {
		if (PQfformat(res, i) != 1 || PQftype(res, i) != types[i])
			return -1;
		if (PQgetisnull(res, row, i)) {
			if (!(nullable & BIT(i)))
				return -1;
			v[i] = NULL;
			continue;
		}
		v[i] = PQgetvalue(res, row, i);
		len = PQgetlength(res, row, i);
		if (type_size(types[i]) != 0 && len != type_size(types[i]))
			return -1;
		if (types[i] == OID_JSONB && get_jsonb(v[i], len) == NULL)
			return -1;
	}
	return 0;
}

int
store_decode_progress(const PGresult *res, int row, struct progress_row *out)
{
	const char	*v[COL_COUNT];

	if (decode_row(res, row, col_types, COL_COUNT, COL_NULLABLE, v) == -1)
		return -1;

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
	out->pr_status = v[COL_STATUS];
	if ((out->pr_has_step_started = v[COL_STEP_STARTED_AT] != NULL))
		out->pr_step_started_at = get_timestamp(v[COL_STEP_STARTED_AT]);
	return 0;
}

/* The table's name of each column of progress_get_sql ("status" is computed from its own). */
static const char *const col_names[COL_COUNT] = {
	[COL_JOB_ID] = "job_id", [COL_PERCENTAGE] = "percentage",
	[COL_CURRENT_STEP] = "current_step", [COL_STEP_NUMBER] = "step_number",
	[COL_TOTAL_STEPS] = "total_steps", [COL_STEP_PERCENTAGE] = "step_percentage",
	[COL_STEP_DETAILS] = "step_details", [COL_STARTED_AT] = "started_at",
	[COL_UPDATED_AT] = "updated_at", [COL_ESTIMATED_COMPLETION] = "estimated_completion",
	[COL_CURRENT_ITERATION] = "current_iteration",
	[COL_TOTAL_ITERATIONS] = "total_iterations", [COL_BEST_SCORE] = "best_score",
	[COL_CURRENT_SCORE] = "current_score", [COL_BEST_PARAMS] = "best_params",
	[COL_IS_COMPLETE] = "is_complete", [COL_ERROR_MESSAGE] = "error_message",
	[COL_SEQ] = "seq", [COL_STATUS] = "status", [COL_STEP_STARTED_AT] = "step_started_at",
};

_Static_assert(STORE_PROGRESS_COLS == COL_COUNT, "STORE_PROGRESS_COLS is STMT_GET's width");

int
store_progress_map(int n, const char *const *names, int map[STORE_PROGRESS_COLS])
{
	int	 col, i;

	for (col = 0; col < COL_COUNT; col++) {
		for (map[col] = -1, i = 0; i < n; i++)
			if (strcmp(names[i], col_names[col]) == 0) {
				map[col] = i;
				break;
			}
		if (map[col] == -1)
			return -1;
	}
	return 0;
}

PGresult *
store_progress_result(const int map[STORE_PROGRESS_COLS], const Oid *types,
    const char *const *values, const int *lens, const bool *unknown)
{
	PGresAttDesc	 attrs[COL_COUNT];
	PGresult	*res;
	int		 col, i;
	const int	*from = map;

	for (col = 0; col < COL_COUNT; col++) {
		if (unknown[from[col]])
			return NULL;
		attrs[col] = (PGresAttDesc){ .name = (char *)col_names[col],
		    .format = 1, .typid = types[from[col]], .typlen = -1, .atttypmod = -1 };
	}
	if ((res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK)) == NULL)
		return NULL;
	if (!PQsetResultAttrs(res, COL_COUNT, attrs))
		goto fail;
	for (col = 0; col < COL_COUNT; col++) {
		i = from[col];
		if (!PQsetvalue(res, 0, col, (char *)values[i], values[i] == NULL ? -1 : lens[i]))
			goto fail;
	}
	return res;
fail:
	PQclear(res);
	return NULL;
}

const char *const job_status_names[JOB_STATUS_COUNT] = {
	"queued", "running", "stalled", "cancelling", "cancelled", "completed", "failed"
};

/* Column order of jobs_list_sql. */
enum {
	JCOL_JOB_ID, JCOL_STATUS, JCOL_PERCENTAGE, JCOL_CURRENT_STEP, JCOL_STEP_NUMBER,
	JCOL_BEST_SCORE, JCOL_UPDATED_AT, JCOL_ESTIMATED_COMPLETION, JCOL_ACTIVITY,
	JCOL_COUNT
};

static const Oid jcol_types[JCOL_COUNT] = {
	[JCOL_JOB_ID] = OID_VARCHAR, [JCOL_STATUS] = OID_TEXT,
	[JCOL_PERCENTAGE] = OID_FLOAT8, [JCOL_CURRENT_STEP] = OID_VARCHAR,
	[JCOL_STEP_NUMBER] = OID_INT4, [JCOL_BEST_SCORE] = OID_FLOAT8,
	[JCOL_UPDATED_AT] = OID_TIMESTAMPTZ, [JCOL_ESTIMATED_COMPLETION] = OID_TIMESTAMPTZ,
	[JCOL_ACTIVITY] = OID_TIMESTAMPTZ,
};

int
store_decode_job_item(const PGresult *res, int row, struct job_item *out)
{
	const char	*v[JCOL_COUNT];

	if (decode_row(res, row, jcol_types, JCOL_COUNT,
	    BIT(JCOL_BEST_SCORE) | BIT(JCOL_ESTIMATED_COMPLETION), v) == -1)
		return -1;
	memset(out, 0, sizeof(*out));
	out->ji_job_id = v[JCOL_JOB_ID];
	out->ji_status = v[JCOL_STATUS];
	out->ji_percentage = get_float8(v[JCOL_PERCENTAGE]);
	out->ji_current_step = v[JCOL_CURRENT_STEP];
	out->ji_step_number = get_int32(v[JCOL_STEP_NUMBER]);
	if ((out->ji_has_best_score = v[JCOL_BEST_SCORE] != NULL))
		out->ji_best_score = get_float8(v[JCOL_BEST_SCORE]);
	out->ji_updated_at = get_timestamp(v[JCOL_UPDATED_AT]);
	if ((out->ji_has_eta = v[JCOL_ESTIMATED_COMPLETION] != NULL))
		out->ji_eta = get_timestamp(v[JCOL_ESTIMATED_COMPLETION]);
	out->ji_activity = get_timestamp(v[JCOL_ACTIVITY]);
	return 0;
}

/* Column order of history_sql. */
enum {
	HCOL_SEQ, HCOL_AT, HCOL_STATUS, HCOL_PERCENTAGE, HCOL_STEP_NUMBER, HCOL_CURRENT_STEP,
	HCOL_STEP_PERCENTAGE, HCOL_CURRENT_ITERATION, HCOL_BEST_SCORE, HCOL_CURRENT_SCORE,
	HCOL_COUNT
};

static const Oid hcol_types[HCOL_COUNT] = {
	[HCOL_SEQ] = OID_INT8, [HCOL_AT] = OID_TIMESTAMPTZ, [HCOL_STATUS] = OID_TEXT,
	[HCOL_PERCENTAGE] = OID_FLOAT8, [HCOL_STEP_NUMBER] = OID_INT4,
	[HCOL_CURRENT_STEP] = OID_VARCHAR, [HCOL_STEP_PERCENTAGE] = OID_FLOAT8,
	[HCOL_CURRENT_ITERATION] = OID_INT4, [HCOL_BEST_SCORE] = OID_FLOAT8,
	[HCOL_CURRENT_SCORE] = OID_FLOAT8,
};

int
store_decode_snapshot(const PGresult *res, int row, struct snapshot *out)
{
	const char	*v[HCOL_COUNT];
	uint32_t	 nullable = BIT(HCOL_CURRENT_ITERATION) | BIT(HCOL_BEST_SCORE) |
			    BIT(HCOL_CURRENT_SCORE);
	bool		 none;

	/* The job, without a snapshot after the seq asked for: the outer join's NULLs. */
	none = PQnfields(res) == HCOL_COUNT && row >= 0 && row < PQntuples(res) &&
	    PQgetisnull(res, row, HCOL_SEQ);
	if (decode_row(res, row, hcol_types, HCOL_COUNT, none ? UINT32_MAX : nullable, v) == -1)
		return -1;
	if (none)
		return 1;
	memset(out, 0, sizeof(*out));
	out->sn_seq = get_int64(v[HCOL_SEQ]);
	out->sn_at = get_timestamp(v[HCOL_AT]);
	out->sn_status = v[HCOL_STATUS];
	out->sn_percentage = get_float8(v[HCOL_PERCENTAGE]);
	out->sn_step_number = get_int32(v[HCOL_STEP_NUMBER]);
	out->sn_current_step = v[HCOL_CURRENT_STEP];
	out->sn_step_percentage = get_float8(v[HCOL_STEP_PERCENTAGE]);
	if ((out->sn_has_iteration = v[HCOL_CURRENT_ITERATION] != NULL))
		out->sn_iteration = get_int32(v[HCOL_CURRENT_ITERATION]);
	if ((out->sn_has_best_score = v[HCOL_BEST_SCORE] != NULL))
		out->sn_best_score = get_float8(v[HCOL_BEST_SCORE]);
	if ((out->sn_has_current_score = v[HCOL_CURRENT_SCORE] != NULL))
		out->sn_current_score = get_float8(v[HCOL_CURRENT_SCORE]);
	return 0;
}

/* The columns of STMT_NOTIFICATIONS, in its order. */
enum {
	NCOL_KIND, NCOL_TARGET, NCOL_EVERY_JOB, NCOL_EVENT, NCOL_STATE, NCOL_ATTEMPTS,
	NCOL_DELIVERED_AT, NCOL_NEXT_ATTEMPT_AT, NCOL_LAST_ERROR, NCOL_COUNT
};
static const Oid ncol_types[NCOL_COUNT] = {
	[NCOL_KIND] = OID_TEXT, [NCOL_TARGET] = OID_TEXT, [NCOL_EVERY_JOB] = OID_BOOL,
	[NCOL_EVENT] = OID_TEXT, [NCOL_STATE] = OID_TEXT, [NCOL_ATTEMPTS] = OID_INT4,
	[NCOL_DELIVERED_AT] = OID_TIMESTAMPTZ, [NCOL_NEXT_ATTEMPT_AT] = OID_TIMESTAMPTZ,
	[NCOL_LAST_ERROR] = OID_TEXT,
};

int
store_decode_notification(const PGresult *res, int row, struct job_notification *out)
{
	const char	*v[NCOL_COUNT];
	uint32_t	 nullable = BIT(NCOL_EVENT) | BIT(NCOL_DELIVERED_AT) |
			    BIT(NCOL_NEXT_ATTEMPT_AT) | BIT(NCOL_LAST_ERROR);
	bool		 none;

	/* The job, without a target: the outer join's NULLs. */
	none = PQnfields(res) == NCOL_COUNT && row >= 0 && row < PQntuples(res) &&
	    PQgetisnull(res, row, NCOL_KIND);
	if (decode_row(res, row, ncol_types, NCOL_COUNT, none ? UINT32_MAX : nullable, v) == -1)
		return -1;
	if (none)
		return 1;
	memset(out, 0, sizeof(*out));
	out->jn_kind = v[NCOL_KIND];
	out->jn_target = v[NCOL_TARGET];
	out->jn_every_job = v[NCOL_EVERY_JOB][0] != 0;
	out->jn_event = v[NCOL_EVENT];
	out->jn_state = v[NCOL_STATE];
	out->jn_attempts = get_int32(v[NCOL_ATTEMPTS]);
	if ((out->jn_has_delivered_at = v[NCOL_DELIVERED_AT] != NULL))
		out->jn_delivered_at = get_timestamp(v[NCOL_DELIVERED_AT]);
	if ((out->jn_has_next_attempt_at = v[NCOL_NEXT_ATTEMPT_AT] != NULL))
		out->jn_next_attempt_at = get_timestamp(v[NCOL_NEXT_ATTEMPT_AT]);
	out->jn_last_error = v[NCOL_LAST_ERROR];
	return 0;
}

/*
 * heartbeat_at is indexed (the dashboard's order, stall detection), and an
 * update that changes an indexed column cannot be HOT.  So writes move it
 * only when it is a second old: most progress writes leave every indexed
 * column alone and stay HOT (about 1.5 times the upserts per second on
 * this schema).  Activity is therefore known to the second.
 */
#define STORE_ACTIVITY(col) \
	"CASE WHEN " col " < now() - interval '1 second' THEN now() ELSE " col " END"

/* Is a write due a throttled history snapshot? */
#define HISTORY_DUE	"(tp.history_next IS NULL OR tp.history_next <= now())"

/* The stored row's values when the write is behind (a failure), else the write's. */
#define AHEAD(col) \
	" " col " = CASE WHEN EXCLUDED.percentage >= tp.percentage" \
	" THEN EXCLUDED." col " ELSE tp." col " END,"

/*
 * The guarded UPSERT of a batch of job states, one array element per job
 * (job ids unique within a batch).  A state is applied when its seq is newer
 * than the stored one, the stored job is not finished, and it is ahead (the
 * overall percentage does not go down); a failure is applied even when
 * behind, keeping the stored progress.  A job being cancelled is finished
 * by any write: it becomes "cancelled".  Returns (job_id, seq, status) of
 * each row written.
 */
static const char progress_put_sql[] =
    "INSERT INTO training_progress AS tp (job_id, percentage, current_step,"
    " step_number, step_percentage, step_details, estimated_completion,"
    " current_iteration, total_iterations, best_score, current_score,"
    " best_params, is_complete, error_message, seq, status, step_started_at,"
    " finished_at, history_seq, history_next)"
    " SELECT j, p, cs, sn, sp, sd, CASE WHEN eta > now() THEN eta END,"
    " ci, ti, bs, cur, bp, ic, em, sq, st, ss, CASE WHEN ic THEN now() END,"
    /* A new job's first snapshot is taken now (schema/005): the next is due after the throttle. */
    " sq, now() + (SELECT min_interval FROM progress_history_settings)"
    " FROM unnest($1::text[], $2::float8[], $3::text[], $4::int4[], $5::float8[],"
    " $6::jsonb[], $7::timestamptz[], $8::int4[], $9::int4[], $10::float8[],"
    " $11::float8[], $12::jsonb[], $13::bool[], $14::text[], $15::int8[],"
    " $16::text[], $17::timestamptz[])"
    " AS u(j, p, cs, sn, sp, sd, eta, ci, ti, bs, cur, bp, ic, em, sq, st, ss)"
    " ON CONFLICT (job_id) DO UPDATE SET"
    " percentage = GREATEST(tp.percentage, EXCLUDED.percentage),"
    AHEAD("current_step") AHEAD("step_number") AHEAD("step_percentage")
    AHEAD("step_details") AHEAD("current_iteration") AHEAD("total_iterations")
    AHEAD("best_score") AHEAD("current_score") AHEAD("best_params")
    AHEAD("step_started_at")
    " estimated_completion = CASE WHEN tp.status = 'cancelling' THEN NULL"
    "   ELSE EXCLUDED.estimated_completion END,"
    " status = CASE WHEN tp.status = 'cancelling' THEN 'cancelled' ELSE EXCLUDED.status END,"
    " is_complete = tp.status = 'cancelling' OR EXCLUDED.is_complete,"
    " error_message = CASE WHEN tp.status = 'cancelling' THEN '" JOB_CANCELLED_MESSAGE "'"
    "   ELSE EXCLUDED.error_message END,"
    " finished_at = CASE WHEN tp.status = 'cancelling' OR EXCLUDED.is_complete THEN now() END,"
    " updated_at = now(),"
    " heartbeat_at = " STORE_ACTIVITY("tp.heartbeat_at") ","
    " seq = EXCLUDED.seq,"
    /*
     * The history's throttle (schema/005, 006): a write past history_next
     * is due a snapshot, which the AFTER trigger takes.  One InitPlan per
     * statement reads min_interval; no row trigger runs before the write.
     */
    " history_seq = CASE WHEN " HISTORY_DUE " THEN EXCLUDED.seq ELSE tp.history_seq END,"
    " history_next = CASE WHEN " HISTORY_DUE " THEN now() +"
    "   (SELECT min_interval FROM progress_history_settings) ELSE tp.history_next END"
    " WHERE tp.seq < EXCLUDED.seq AND NOT tp.is_complete"
    " AND (EXCLUDED.percentage >= tp.percentage OR EXCLUDED.error_message IS NOT NULL"
    "      OR tp.status = 'cancelling')"
    " RETURNING job_id, seq, status";

/*
 * A heartbeat: the jobs in $1 (a text[]) are alive.  A job being cancelled
 * learns it here too, and is finished as cancelled.  Returns (job_id,
 * status) of the unfinished jobs it touched.
 */
static const char heartbeat_sql[] =
    "UPDATE training_progress SET heartbeat_at = now(),"
    " status = CASE WHEN status = 'cancelling' THEN 'cancelled' ELSE status END,"
    " is_complete = status = 'cancelling',"
    " error_message = CASE WHEN status = 'cancelling' THEN '" JOB_CANCELLED_MESSAGE "'"
    "   ELSE error_message END,"
    " estimated_completion = CASE WHEN status = 'cancelling' THEN NULL"
    "   ELSE estimated_completion END,"
    " finished_at = CASE WHEN status = 'cancelling' THEN now() END,"
    " updated_at = CASE WHEN status = 'cancelling' THEN now() ELSE updated_at END"
    " WHERE job_id = ANY($1::text[]) AND NOT is_complete"
    " RETURNING job_id, status";

/*
 * A cancel request ($1 job id, $2 stall seconds): a running job becomes
 * "cancelling" (its trainer finishes it at its next write or heartbeat); a
 * queued one, or one whose trainer has been silent for the stall time (a
 * stalled job, or one still cancelling), becomes "cancelled" at once.  No row: the job is missing or
 * finished.
 */
static const char cancel_sql[] =
    "UPDATE training_progress AS tp SET"
    " status = v.st,"
    " is_complete = v.st = 'cancelled',"
    " finished_at = CASE WHEN v.st = 'cancelled' THEN now() END,"
    " error_message = CASE WHEN v.st = 'cancelled' THEN '" JOB_CANCELLED_MESSAGE "'"
    "   ELSE tp.error_message END,"
    " estimated_completion = CASE WHEN v.st = 'cancelled' THEN NULL"
    "   ELSE tp.estimated_completion END,"
    " updated_at = CASE WHEN v.st = 'cancelled' THEN now() ELSE tp.updated_at END,"
    " cancel_requested_at = coalesce(tp.cancel_requested_at, now())"
    " FROM (SELECT job_id, CASE WHEN status = 'queued' THEN 'cancelled'"
    "   WHEN heartbeat_at < now() - make_interval(secs => $2::float8)"
    "   THEN 'cancelled' ELSE 'cancelling' END AS st"
    "   FROM training_progress WHERE job_id = $1"
    "   AND status IN ('queued', 'running', 'cancelling') FOR UPDATE) AS v"
    " WHERE tp.job_id = v.job_id"
    " RETURNING tp.job_id";

/*
 * The dashboard's page: the jobs reading as one of the statuses in $1
 * (text[]; "stalled" included), $2 the stall seconds (NULL: none stalls),
 * after the cursor ($3 activity, $4 job id; pass 'infinity' and '' for the
 * first page), newest activity first, $5 at most.  One branch per status,
 * each a range of the (status, heartbeat_at, job_id) index cut at $5 rows,
 * merged: a page costs the same however the jobs are spread over statuses
 * and however deep the cursor is.
 */
#define JOBS_COLUMNS(status) \
	"job_id, " status " AS status, percentage, current_step, step_number, best_score," \
	" updated_at, estimated_completion, heartbeat_at"
#define STALL_CUTOFF \
	"coalesce(now() - make_interval(secs => $2::float8), '-infinity'::timestamptz)"
#define JOBS_BRANCH(name, stored, status, range) \
	"(SELECT " JOBS_COLUMNS(status) " FROM training_progress AS tp" \
	" WHERE '" name "' = ANY($1::text[]) AND tp.status = '" stored "'" range \
	" AND (heartbeat_at, job_id) < ($3::timestamptz, $4::text)" \
	" ORDER BY tp.status, heartbeat_at DESC, job_id DESC LIMIT $5::int4)"

static const char jobs_list_sql[] =
    "SELECT * FROM ("
    JOBS_BRANCH("queued", "queued", "tp.status", "") " UNION ALL "
    JOBS_BRANCH("running", "running", "tp.status", " AND heartbeat_at >= " STALL_CUTOFF)
    " UNION ALL "
    JOBS_BRANCH("stalled", "running", "'stalled'::text", " AND heartbeat_at < " STALL_CUTOFF)
    " UNION ALL "
    JOBS_BRANCH("cancelling", "cancelling", "tp.status", "") " UNION ALL "
    JOBS_BRANCH("cancelled", "cancelled", "tp.status", "") " UNION ALL "
    JOBS_BRANCH("completed", "completed", "tp.status", "") " UNION ALL "
    JOBS_BRANCH("failed", "failed", "tp.status", "")
    ") AS page ORDER BY heartbeat_at DESC, job_id DESC LIMIT $5::int4";

/*
 * How many jobs read as each status ($1: stall seconds, NULL: none stall).
 * The stored statuses come from job_status_counts (kept by a trigger,
 * schema/002).  Of the running jobs, the live ones (heard from within the
 * stall time) are counted from the (status, heartbeat_at) index, and the
 * stalled are the rest: the count costs as much as there are live jobs,
 * however many have stalled over time.
 */
static const char jobs_counts_sql[] =
    "WITH c AS (SELECT status, sum(n) AS n FROM job_status_counts GROUP BY status),"
    " live AS (SELECT count(*) AS n FROM training_progress WHERE status = 'running'"
    "   AND heartbeat_at >= now() - make_interval(secs => $1::float8)),"
    " r AS (SELECT coalesce((SELECT n FROM c WHERE status = 'running'), 0) AS n)"
    " SELECT status, n::int8 FROM c WHERE status <> 'running'"
    " UNION ALL SELECT 'running', CASE WHEN $1::float8 IS NULL THEN r.n ELSE live.n END::int8"
    "   FROM r, live"
    " UNION ALL SELECT 'stalled', CASE WHEN $1::float8 IS NULL THEN 0 ELSE r.n - live.n END::int8"
    "   FROM r, live";

/*
 * Jobs silent for too long ($1 seconds, stall_fail_after) are given up: a
 * running one fails with the message $3, one being cancelled ends
 * cancelled; updated_at and heartbeat_at stay the job's own (finished_at
 * says when).  At most $2 of them per call (any $2: the (status,
 * heartbeat_at) index finds them without sorting), skipping rows another
 * writer holds.  Returns the job ids.
 */
static const char expire_stalled_sql[] =
    "UPDATE training_progress AS tp SET"
    " status = CASE WHEN tp.status = 'cancelling' THEN 'cancelled' ELSE 'failed' END,"
    " is_complete = true, finished_at = now(), estimated_completion = NULL,"
    " error_message = CASE WHEN tp.status = 'cancelling' THEN '" JOB_CANCELLED_MESSAGE "'"
    "   ELSE $3::text END"
    " FROM (SELECT job_id FROM training_progress"
    "   WHERE status IN ('running', 'cancelling')"
    "   AND heartbeat_at < now() - make_interval(secs => $1::float8)"
    "   LIMIT $2::int4 FOR UPDATE SKIP LOCKED) AS v"
    " WHERE tp.job_id = v.job_id"
    " RETURNING tp.job_id";

/* A token's stored hash, scopes (comma-separated) and whether it is revoked. */
static const char token_sql[] =
    "SELECT secret_sha256, array_to_string(scopes, ','), revoked_at IS NOT NULL"
    " FROM api_tokens WHERE token_id = $1";

/* Which of the jobs in $1 (a text[]) are finished: (job_id, status). */
static const char progress_finished_sql[] =
    "SELECT job_id, status FROM training_progress"
    " WHERE job_id = ANY($1::text[]) AND is_complete";

/*
 * A job's snapshots after $2 (seq order, $3 at most), joined to the job so
 * that one round trip tells an unknown job (no row) from one with no
 * snapshot there (one row of NULLs).
 */
static const char history_sql[] =
    "SELECT h.seq, h.at, h.status, h.percentage, h.step_number, h.current_step,"
    " h.step_percentage, h.current_iteration, h.best_score, h.current_score"
    " FROM training_progress AS t LEFT JOIN LATERAL"
    " (SELECT * FROM progress_history AS ph WHERE ph.job_id = t.job_id"
    "  AND ph.seq > $2::int8 ORDER BY ph.seq LIMIT $3::int4) AS h ON true"
    " WHERE t.job_id = $1";

/* Snapshots older than max_age, $1 at most a call (the (at) index finds them). */
static const char prune_history_sql[] =
    "DELETE FROM progress_history WHERE ctid = ANY (ARRAY("
    " SELECT ctid FROM progress_history WHERE at < now() -"
    " (SELECT max_age FROM progress_history_settings) LIMIT $1::int4))"
    " RETURNING job_id";

/*
 * A job started over the API (POST /jobs): its request, with every default
 * filled in ($2, jsonb), the SHA-256 of that text ($3, bytea as "\\x..."
 * text) and the token that asked ($4).  A job id already taken inserts
 * nothing and returns no row; the caller then compares STMT_JOB_HASH.
 * Its queued progress row is the same transaction's STMT_PUT.
 */
static const char job_insert_sql[] =
    "INSERT INTO training_jobs (job_id, request, request_sha256, token_id)"
    " VALUES ($1, $2::jsonb, $3::bytea, $4) ON CONFLICT (job_id) DO NOTHING"
    " RETURNING job_id";

/* The SHA-256 of the request stored under a job id (no row: none). */
static const char job_hash_sql[] =
    "SELECT request_sha256 FROM training_jobs WHERE job_id = $1";

/*
 * Whom the job's end is told, through schema/015's function (the reader
 * may not read the targets themselves).  No row: no such job; one row of
 * NULLs: a job without targets.
 */
static const char notifications_sql[] =
    "SELECT n.kind, n.target, n.every_job, n.event, n.state, n.attempts, n.delivered_at,"
    " n.next_attempt_at, n.last_error"
    " FROM training_progress AS t"
    " LEFT JOIN LATERAL job_notifications(t.job_id) WITH ORDINALITY AS n ON true"
    " WHERE t.job_id = $1 ORDER BY n.ordinality";

/* $1 kinds, $2 addresses, $3 secrets ('' for none): text[]; $4 the job.  Its targets. */
static const char notify_add_sql[] =
    "INSERT INTO notify_targets (kind, address, secret, job_id)"
    " SELECT t.kind, t.address, NULLIF(t.secret, ''), $4"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS t (kind, address, secret)";

const struct store_statement store_statements[STMT_COUNT] = {
	[STMT_GET] = { "tp_progress_get", progress_get_sql, 2,
	    ROLE_READER | ROLE_WRITER | ROLE_NOTIFY, false },
	[STMT_LOCK] = { "tp_progress_lock", progress_lock_sql, 2, ROLE_WRITER, false },
	[STMT_PUT] = { "tp_progress_put", progress_put_sql, PUT_NPARAMS,
	    ROLE_WRITER | ROLE_TRACKER, true },
	[STMT_HEARTBEAT] = { "tp_heartbeat", heartbeat_sql, 1, ROLE_TRACKER, true },
	[STMT_FINISHED] = { "tp_progress_finished", progress_finished_sql, 1, ROLE_TRACKER,
	    false },
	[STMT_CANCEL] = { "tp_cancel", cancel_sql, 2, ROLE_WRITER, true },
	[STMT_EXPIRE] = { "tp_expire_stalled", expire_stalled_sql, 3, ROLE_WRITER, true },
	[STMT_JOBS_LIST] = { "tp_jobs_list", jobs_list_sql, 5, ROLE_READER, false },
	[STMT_JOBS_COUNTS] = { "tp_jobs_counts", jobs_counts_sql, 1, ROLE_READER,
	    false },
	[STMT_TOKEN] = { "tp_token", token_sql, 1, ROLE_READER | ROLE_WRITER, false },
	[STMT_HISTORY] = { "tp_history", history_sql, 3, ROLE_READER, false },
	[STMT_NOTIFICATIONS] = { "tp_notifications", notifications_sql, 1, ROLE_READER, false },
	/* It writes the history, not a progress document: no read cache forgets. */
	[STMT_PRUNE_HISTORY] = { "tp_prune_history", prune_history_sql, 1, ROLE_WRITER, false },
	[STMT_RUNNING] = { "tp_running", running_sql, 2, ROLE_NOTIFY, false },
	/* They write training_jobs, not a progress document: the PUT beside them does. */
	[STMT_JOB_INSERT] = { "tp_job_insert", job_insert_sql, 4, ROLE_WRITER, false },
	[STMT_JOB_HASH] = { "tp_job_hash", job_hash_sql, 1, ROLE_WRITER, false },
	[STMT_NOTIFY_ADD] = { "tp_notify_add", notify_add_sql, 4, ROLE_WRITER, false },
};

/* Column order of the UPSERT's RETURNING. */
enum { PCOL_JOB_ID, PCOL_SEQ, PCOL_STATUS, PCOL_COUNT };

int
store_put_applied(const PGresult *res, int row, struct store_applied *out)
{
	const char	*seq;
	int		 i;

	if (PQnfields(res) != PCOL_COUNT || row < 0 || row >= PQntuples(res))
		return -1;
	for (i = 0; i < PCOL_COUNT; i++)
		if (PQgetisnull(res, row, i))
			return -1;
	memset(out, 0, sizeof(*out));
	/* Text, or binary text: libpq ends every value with a NUL. */
	out->sa_job_id = PQgetvalue(res, row, PCOL_JOB_ID);
	out->sa_status = PQgetvalue(res, row, PCOL_STATUS);
	seq = PQgetvalue(res, row, PCOL_SEQ);
	if (PQfformat(res, PCOL_SEQ) == 0)
		out->sa_seq = strtoull(seq, NULL, 10);
	else if (PQftype(res, PCOL_SEQ) == OID_INT8 && PQgetlength(res, row, PCOL_SEQ) == 8)
		out->sa_seq = (uint64_t)get_int64(seq);
	else
		return -1;
	out->sa_cancelled = strcmp(out->sa_status, "cancelled") == 0;
	return 0;
}

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

	for (i = 0; i < PUT_NPARAMS; i++) {
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

	for (i = 0; i < PUT_NPARAMS; i++)
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
	char		 started[RENDER_TIMESTAMP_MAX];
	const char	*v[PUT_NPARAMS];
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
	v[12] = job_finished(js) ? "t" : "f";
	v[13] = (js->js_phase == JOB_FAILED || js->js_phase == JOB_CANCELLED) &&
	    js->js_error.tb_set ? js->js_error.tb_data : NULL;
	v[14] = seq;
	v[15] = job_status(js);
	v[16] = js->js_step_started_us > 0 &&
	    render_timestamp(js->js_step_started_us, started, sizeof(started)) > 0 ? started : NULL;
	for (i = 0; i < PUT_NPARAMS; i++)
		if (array_add(&pb->pb_arrays[i], v[i]) == -1)
			return -1;
	pb->pb_count++;
	return 0;
}

int
store_batch_finish(struct put_batch *pb)
{
	int	 i;

	for (i = 0; i < PUT_NPARAMS; i++) {
		if (tbuf_append(&pb->pb_arrays[i], "}", 1) == -1)
			return -1;
		pb->pb_values[i] = pb->pb_arrays[i].tb_data;
	}
	return 0;
}

int
store_batch_one(struct put_batch *pb, const char *job_id, const struct job_state *js)
{
	store_batch_reset(pb);
	if (store_batch_add(pb, job_id, js) == -1)
		return -1;
	return store_batch_finish(pb);
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

/* --- store_pg: a publisher's sessions on PostgreSQL ------------------------ */

#define APP_NAME	"trainprog"

/* A sender's connection, and the memory of its round trips. */
struct pg_session {
	PGconn			*ps_conn;
	struct put_batch	 ps_batch;
	struct tbuf		 ps_ids;		/* a text[] of job ids */
	int			 ps_io_timeout_ms;
};

/*
 * A sender's connection: statement_timeout of io_timeout (the server gives
 * up about when the sender does), asynchronous commit (terminal batches
 * turn it back on), the tracker's statements.
 */
static void *
pg_connect(void *arg, int64_t deadline, char *problem, size_t size)
{
	const struct store_conf	*sc = arg;
	struct conn_setup	 cs;
	struct pg_session	*ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		snprintf(problem, size, "out of memory");
		return NULL;
	}
	memset(&cs, 0, sizeof(cs));
	cs.cs_app_name = APP_NAME;
	cs.cs_conninfo = sc->sc_conninfo;
	cs.cs_statement_timeout_ms = sc->sc_io_timeout_ms;
	cs.cs_async_commit = true;
	cs.cs_roles = ROLE_TRACKER;
	if ((ps->ps_conn = conn_connect(&cs, deadline, problem, size)) == NULL) {
		free(ps);
		return NULL;
	}
	ps->ps_io_timeout_ms = sc->sc_io_timeout_ms;
	return ps;
}

static void
pg_drop(void *session)
{
	struct pg_session	*ps = session;

	if (ps == NULL)
		return;
	PQfinish(ps->ps_conn);
	store_batch_free(&ps->ps_batch);
	tbuf_free(&ps->ps_ids);
	free(ps);
}

/*
 * Says why a round trip failed (in problem), whether to try again later
 * (*retry) rather than give up on the state, and whether the session is
 * still of use: a fresh one is the simple way out of a half-done
 * transaction, a statement that vanished, or a connection in doubt.
 * Clears res.
 */
static enum store_trip
pg_failed(struct pg_session *ps, enum conn_trip trip, PGresult *res, bool in_txn,
    bool *retry, char *problem, size_t size)
{
	const char	*state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	bool		 drop;

	if (trip == CONN_TIMEOUT) {
		snprintf(problem, size, "the database did not answer within %dms",
		    ps->ps_io_timeout_ms);
		*retry = true;
	} else if (trip == CONN_LOST) {
		snprintf(problem, size, "connection lost: %s", PQerrorMessage(ps->ps_conn));
		*retry = true;
	} else {
		snprintf(problem, size, "%s (SQLSTATE %s)",
		    res ? PQresultErrorMessage(res) : PQerrorMessage(ps->ps_conn),
		    state ? state : "none");
		*retry = conn_sqlstate_unavailable(state) || conn_sqlstate_reprepare(state);
	}
	drop = trip != CONN_ERROR || in_txn || conn_sqlstate_reprepare(state) ||
	    PQstatus(ps->ps_conn) == CONNECTION_BAD;
	PQclear(res);
	return drop ? TRIP_DROP : TRIP_FAILED;
}

static enum store_trip
pg_put(void *session, struct store_item *items, int n, bool durable, int64_t deadline,
    char *problem, size_t size)
{
	struct pg_session	*ps = session;
	struct put_batch	*pb = &ps->ps_batch;
	struct store_applied	 a;
	PGresult		*res = NULL;
	enum conn_trip		 trip;
	enum store_trip		 st;
	bool			 retry;
	int			 i, r;

	for (i = 0; i < n; i++) {
		items[i].it_result = PUT_RETRY;
		items[i].it_status[0] = '\0';
	}
	store_batch_reset(pb);
	for (i = 0; i < n; i++)
		if (store_batch_add(pb, items[i].it_job_id, items[i].it_state) == -1)
			break;
	if (i < n || store_batch_finish(pb) == -1) {
		snprintf(problem, size, "out of memory");
		return TRIP_FAILED;
	}
	if (durable) {
		/* Durable before complete() returns: this batch commits synchronously. */
		if ((trip = conn_exec_params(ps->ps_conn, "BEGIN", 0, NULL, 0, deadline,
		    &res)) != CONN_OK)
			goto failed;
		PQclear(res);
		if ((trip = conn_exec_params(ps->ps_conn,
		    "SELECT set_config('synchronous_commit', 'on', true)", 0, NULL, 0,
		    deadline, &res)) != CONN_OK)
			goto failed;
		PQclear(res);
	}
	if ((trip = conn_exec_stmt(ps->ps_conn, STMT_PUT, pb->pb_values, 0, deadline,
	    &res)) != CONN_OK)
		goto failed;
	for (i = 0; i < n; i++)
		items[i].it_result = PUT_REFUSED;
	for (r = 0; r < PQntuples(res); r++)
		if (store_put_applied(res, r, &a) == 0)
			for (i = 0; i < n; i++)
				if (strcmp(a.sa_job_id, items[i].it_job_id) == 0 &&
				    a.sa_seq == items[i].it_state->js_seq) {
					items[i].it_result = PUT_APPLIED;
					snprintf(items[i].it_status, sizeof(items[i].it_status),
					    "%s", a.sa_status);
				}
	PQclear(res);
	res = NULL;
	if (durable && (trip = conn_exec_params(ps->ps_conn, "COMMIT", 0, NULL, 0,
	    deadline, &res)) != CONN_OK)
		goto failed;
	PQclear(res);
	return TRIP_OK;
failed:
	st = pg_failed(ps, trip, res, durable, &retry, problem, size);
	for (i = 0; i < n; i++)
		items[i].it_result = retry ? PUT_RETRY : PUT_DBERR;
	return st;
}

/*
 * Runs a statement whose only parameter is a text[] of the items' job ids
 * (only those PUT_REFUSED, if `refused`), and copies the status of each
 * (job_id, status) row it returns into the item of that job.
 */
static enum store_trip
pg_statuses(struct pg_session *ps, enum store_stmt stmt, struct store_item *items, int n,
    bool refused, int64_t deadline)
{
	const char	*params[1];
	char		 why[256];
	PGresult	*res = NULL;
	enum conn_trip	 trip;
	bool		 retry;
	int		 i, r, m = 0;

	ps->ps_ids.tb_len = 0;
	if (tbuf_append(&ps->ps_ids, "{", 1) == -1)
		return TRIP_FAILED;
	for (i = 0; i < n; i++)
		if (!refused || items[i].it_result == PUT_REFUSED) {
			if (array_add(&ps->ps_ids, items[i].it_job_id) == -1)
				return TRIP_FAILED;
			m++;
		}
	if (m == 0)
		return TRIP_OK;
	if (tbuf_append(&ps->ps_ids, "}", 1) == -1)
		return TRIP_FAILED;
	params[0] = ps->ps_ids.tb_data;
	if ((trip = conn_exec_stmt(ps->ps_conn, stmt, params, 0, deadline, &res)) != CONN_OK)
		return pg_failed(ps, trip, res, false, &retry, why, sizeof(why));
	for (r = 0; r < PQntuples(res); r++)
		for (i = 0; i < n; i++)
			if (strcmp(PQgetvalue(res, r, 0), items[i].it_job_id) == 0)
				snprintf(items[i].it_status, sizeof(items[i].it_status), "%s",
				    PQgetvalue(res, r, 1));
	PQclear(res);
	return TRIP_OK;
}

static enum store_trip
pg_finished(void *session, struct store_item *items, int n, int64_t deadline)
{
	return pg_statuses(session, STMT_FINISHED, items, n, true, deadline);
}

static enum store_trip
pg_heartbeat(void *session, struct store_item *items, int n, int64_t deadline)
{
	int	 i;

	for (i = 0; i < n; i++)
		items[i].it_status[0] = '\0';
	return pg_statuses(session, STMT_HEARTBEAT, items, n, false, deadline);
}

/* Loads the stored job on a connection of its own, closed afterwards. */
static enum tp_err
pg_load(void *arg, const char *job_id, struct job_state *js, int64_t deadline,
    char *problem, size_t size)
{
	const struct store_conf	*sc = arg;
	const char		*params[2] = { job_id, NULL }, *why;
	struct progress_row	 row;
	struct conn_setup	 cs;
	PGconn			*conn;
	PGresult		*res = NULL;
	enum tp_err		 err;

	memset(&cs, 0, sizeof(cs));
	cs.cs_app_name = APP_NAME;
	cs.cs_conninfo = sc->sc_conninfo;
	if ((conn = conn_connect(&cs, deadline, problem, size)) == NULL)
		return TP_ETIMEDOUT;
	switch (conn_exec_params(conn, progress_get_sql,
	    store_statements[STMT_GET].ss_nparams, params, 1, deadline, &res)) {
	case CONN_OK:
		break;
	case CONN_ERROR:
		snprintf(problem, size, "reading the stored progress failed: %s",
		    PQresultErrorMessage(res));
		err = TP_EDB;
		goto done;
	default:
		snprintf(problem, size, "reading the stored progress failed: %s",
		    PQerrorMessage(conn));
		err = TP_ETIMEDOUT;
		goto done;
	}
	if (PQntuples(res) == 0) {
		snprintf(problem, size, "job %s has no stored progress", job_id);
		err = TP_ENOTFOUND;
	} else if (store_decode_progress(res, 0, &row) == -1) {
		snprintf(problem, size, "%s",
		    "the stored row does not have the columns this library expects");
		err = TP_EDB;
	} else if ((err = job_from_row(js, &row, &why)) != TP_OK)
		snprintf(problem, size, "%s", why);
done:
	PQclear(res);
	PQfinish(conn);
	return err;
}

const struct store_ops store_pg = {
	.so_connect = pg_connect,
	.so_put = pg_put,
	.so_finished = pg_finished,
	.so_heartbeat = pg_heartbeat,
	.so_drop = pg_drop,
	.so_load = pg_load,
};

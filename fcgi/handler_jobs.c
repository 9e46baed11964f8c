/*
 * handler_jobs.c: GET/HEAD /api/v2/training/jobs, the dashboard's list.
 *
 * Newest activity (write or heartbeat) first, keyset-paginated on
 * (activity, job_id): a page costs an index range scan however deep it is,
 * and jobs created while a client pages do not shift the pages after.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Counts per status, from a STMT_JOBS_COUNTS result.  0 or -1. */
static int
decode_counts(const PGresult *res, int64_t counts[JOB_STATUS_COUNT])
{
	uint64_t	 v;
	const char	*s;
	int		 r, i;

	memset(counts, 0, sizeof(int64_t) * JOB_STATUS_COUNT);
	if (PQnfields(res) != 2)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		if (PQgetisnull(res, r, 0) || PQgetlength(res, r, 1) != 8)
			return -1;
		s = PQgetvalue(res, r, 0);
		for (i = 0; i < JOB_STATUS_COUNT; i++)
			if (strcmp(s, job_status_names[i]) == 0)
				break;
		if (i == JOB_STATUS_COUNT)
			return -1;
		memcpy(&v, PQgetvalue(res, r, 1), 8);
		counts[i] = (int64_t)be64toh(v);
	}
	return 0;
}

/* Runs a statement on the reader; false when the error was sent. */
static bool
run(struct request *rq, enum store_stmt stmt, const char *const *params, PGresult **res)
{
	switch (db_exec(rq->rq_reader, stmt, params, http_db_deadline(rq), res)) {
	case DB_OK:
		return true;
	case DB_UNAVAILABLE:
		http_reply_unavailable(rq, rq->rq_reader);
		return false;
	case DB_FAILED:
		break;
	}
	http_reply_error(rq, 500, "internal_error",
	    "the progress database answered with an error", NULL);
	return false;
}

void
handle_jobs(struct request *rq)
{
	struct jobs_query	 q;
	struct job_item		 items[JOBS_LIMIT_MAX];
	struct tbuf		 statuses = { 0 };
	const char		*want[JOB_STATUS_COUNT], *params[5];
	char			 stall[32], cursor_at[RENDER_TIMESTAMP_MAX], limit[16];
	char			 next[JOBS_CURSOR_MAX + 1], *body = NULL;
	int64_t			 counts[JOB_STATUS_COUNT];
	PGresult		*list = NULL, *cnt = NULL;
	size_t			 len;
	int			 i, n = 0, rows;
	bool			 more;

	if (jobs_query_parse(http_param(rq, "QUERY_STRING"), &q) == -1) {
		http_reply_error(rq, 400, "invalid_query", q.jq_problem, NULL);
		return;
	}
	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;

	for (i = 0; i < JOB_STATUS_COUNT; i++)
		if (q.jq_statuses & (1u << i))
			want[n++] = job_status_names[i];
	if (store_text_array(&statuses, want, n) == -1 ||
	    (q.jq_has_cursor && render_timestamp(q.jq_cursor_us, cursor_at,
	    sizeof(cursor_at)) < 0)) {
		tbuf_free(&statuses);
		if (q.jq_has_cursor)
			http_reply_error(rq, 400, "invalid_query", "cursor is not one this API "
			    "gave out: pass next_cursor from the previous page as it is", NULL);
		else
			http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		return;
	}
	snprintf(limit, sizeof(limit), "%d", q.jq_limit + 1);
	params[0] = statuses.tb_data;
	params[1] = db_stall_param(rq->rq_cf, stall, sizeof(stall));
	/* The first page: after everything. */
	params[2] = q.jq_has_cursor ? cursor_at : "infinity";
	params[3] = q.jq_has_cursor ? q.jq_cursor_id : "";
	params[4] = limit;

	if (!run(rq, STMT_JOBS_LIST, params, &list) ||
	    !run(rq, STMT_JOBS_COUNTS, params + 1, &cnt))
		goto done;
	rows = PQntuples(list);
	more = rows > q.jq_limit;
	n = more ? q.jq_limit : rows;
	for (i = 0; i < n; i++)
		if (store_decode_job_item(list, i, &items[i]) == -1)
			break;
	if (i < n || decode_counts(cnt, counts) == -1) {
		log_error("decode_failed", "the jobs list does not have the columns and types "
		    "this build expects: run deploy/migrate");
		http_reply_error(rq, 500, "internal_error", "the jobs could not be read", NULL);
		goto done;
	}
	if (more && jobs_cursor_encode(items[n - 1].ji_activity, items[n - 1].ji_job_id,
	    next, sizeof(next)) == -1)
		more = false;
	if ((body = render_jobs(items, n, more ? next : NULL, counts, &len)) == NULL) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		goto done;
	}
	http_reply_json(rq, 200, body, len, NULL);
done:
	free(body);
	PQclear(list);
	PQclear(cnt);
	tbuf_free(&statuses);
}

/*
 * handler_history.c: GET/HEAD /api/v2/training/jobs/{job_id}/progress/history,
 * a job's snapshots in seq order, for replay (schema/005 keeps them).
 *
 * Paged by seq: since_seq is the last seq a client has, next_since_seq the
 * one to ask with next; has_more says whether more were there already.
 * A job still running gains snapshots: asking again with next_since_seq
 * later gives what came since, with no gap and no repeat.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

void
handle_history(struct request *rq)
{
	struct history_query	 q;
	struct snapshot		 snaps[HISTORY_LIMIT_MAX];
	char			 since[24], limit[16], *body;
	const char		*params[3] = { rq->rq_route.rt_job_id, since, limit };
	PGresult		*res = NULL;
	size_t			 len;
	int64_t			 next;
	int			 rows, i, n = 0, rc;
	bool			 more;

	if (history_query_parse(http_param(rq, "QUERY_STRING"), &q) == -1) {
		http_reply_error(rq, 400, "invalid_query", q.hq_problem, NULL);
		return;
	}
	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	snprintf(since, sizeof(since), "%lld", (long long)q.hq_since_seq);
	/* One more than asked: whether there is more. */
	snprintf(limit, sizeof(limit), "%d", q.hq_limit + 1);
	if (!http_db_ok(rq, rq->rq_reader, db_exec(rq->rq_reader, STMT_HISTORY, params,
	    http_db_deadline(rq), &res), "the progress database answered with an error"))
		return;
	if ((rows = PQntuples(res)) == 0) {
		http_reply_no_job(rq);
		goto done;
	}
	more = rows > q.hq_limit;
	for (i = 0; i < rows && n < q.hq_limit; i++) {
		if ((rc = store_decode_snapshot(res, i, &snaps[n])) == -1) {
			log_error("decode_failed", "the history does not have the columns and "
			    "types this build expects: run deploy/migrate");
			http_reply_error(rq, 500, "internal_error",
			    "the history could not be read", NULL);
			goto done;
		}
		if (rc == 0)
			n++;
	}
	next = n > 0 ? snaps[n - 1].sn_seq : q.hq_since_seq;
	if ((body = render_history(rq->rq_route.rt_job_id, snaps, n, next, more, &len)) == NULL) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		goto done;
	}
	http_reply_json(rq, 200, body, len, NULL);
	free(body);
done:
	PQclear(res);
}

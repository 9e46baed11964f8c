/*
 * handler_cancel.c: POST /api/v2/training/jobs/{job_id}/cancel.
 *
 * The job becomes "cancelling" (202) and its trainer finishes it as
 * "cancelled" at its next write or heartbeat; a queued job, or one whose
 * trainer has been silent for stall_after (stalled, or still cancelling),
 * is cancelled at once.  One row lock orders this against a completion: exactly one wins.
 */
#include <stdio.h>

#include "pool.h"

void
handle_cancel(struct request *rq)
{
	struct progress_row	 row;
	struct db		*db = rq->rq_writer;
	char			 stall[32], message[320];
	const char		*params[2] = { rq->rq_route.rt_job_id, NULL };
	PGresult		*res = NULL;
	int			 cancelled;

	if (!auth_require_writer(rq, db, "cancel"))
		return;
	/* A cancelling job whose trainer is gone is finished after this long. */
	params[1] = db_stall_param(rq->rq_cf, stall, sizeof(stall));
	if (params[1] == NULL)
		params[1] = "31536000";
	if (!http_db_ok(rq, db, db_exec(db, STMT_CANCEL, params, http_db_deadline(rq), &res),
	    "the cancellation failed"))
		return;
	cancelled = PQntuples(res);
	PQclear(res);

	/* Either way, the job as it now stands. */
	params[1] = db_stall_param(rq->rq_cf, stall, sizeof(stall));
	if (db_exec(db, STMT_GET, params, http_db_deadline(rq), &res) != DB_OK) {
		http_reply_unavailable(rq, db);
		return;
	}
	if (cancelled) {
		http_reply_progress(rq, res, 202);
	} else if (PQntuples(res) == 0 || store_decode_progress(res, 0, &row) == -1) {
		http_reply_progress(rq, res, 404);
	} else {
		snprintf(message, sizeof(message), "the job has already finished (%s): "
		    "there is nothing to cancel", row.pr_status);
		http_reply_error(rq, 409, "job_finished", message, NULL);
	}
	PQclear(res);
}

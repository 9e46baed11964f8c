/* handler_progress.c: GET/HEAD /api/v2/training/jobs/{job_id}/progress. */
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

void
reply_progress(struct request *rq, PGresult *res, int status)
{
	struct progress_row	 row;
	char			*body = NULL, message[TP_JOB_ID_MAX + 64];
	size_t			 len = 0;

	if (PQntuples(res) == 0) {
		snprintf(message, sizeof(message), "no training job has the id \"%s\"",
		    rq->rq_route.rt_job_id);
		http_reply_error(rq, 404, "not_found", message, NULL);
		return;
	}
	if (store_decode_progress(res, 0, &row) == -1) {
		log_error("decode_failed", "training_progress row does not have the "
		    "columns and types this build expects: run deploy/migrate");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be read", NULL);
		return;
	}
	if ((body = render_progress(&row, &len)) == NULL) {
		log_error("render_failed", "could not render the progress of a job "
		    "(out of memory, or a JSON column that is not an object)");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be rendered", NULL);
		return;
	}
	http_reply_json(rq, status, body, len, NULL);
	free(body);
}

void
handle_progress(struct request *rq)
{
	char		 stall[32];
	const char	*params[2] = { rq->rq_route.rt_job_id, db_stall_param(rq->rq_cf, stall,
			    sizeof(stall)) };
	PGresult	*res = NULL;

	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	switch (db_exec(rq->rq_reader, STMT_GET, 2, params, http_db_deadline(rq), &res)) {
	case DB_OK:
		reply_progress(rq, res, 200);
		PQclear(res);
		break;
	case DB_UNAVAILABLE:
		http_reply_unavailable(rq, rq->rq_reader);
		break;
	case DB_FAILED:
		http_reply_error(rq, 500, "internal_error",
		    "the progress database answered with an error", NULL);
		break;
	}
}

/* handler_progress.c: GET/HEAD /api/v2/training/jobs/{job_id}/progress. */
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

void
handle_progress(struct request *rq, struct db *db)
{
	const char		*params[1] = { rq->rq_route.rt_job_id };
	struct progress_row	 row;
	PGresult		*res = NULL;
	char			*body = NULL;
	char			 extra[64], message[TP_JOB_ID_MAX + 64];
	size_t			 len = 0;
	int64_t			 deadline;

	deadline = rq->rq_started + db->db_cf->cf_db_timeout_ms;
	switch (db_exec(db, STORE_PROGRESS_GET, 1, params, deadline, &res)) {
	case DB_OK:
		break;
	case DB_UNAVAILABLE:
		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", db_retry_after(db));
		http_reply_error(rq, 503, "database_unavailable",
		    "the progress database cannot be reached; try again shortly", extra);
		return;
	case DB_FAILED:
		http_reply_error(rq, 500, "internal_error",
		    "the progress database answered with an error", NULL);
		return;
	}

	if (PQntuples(res) == 0) {
		snprintf(message, sizeof(message), "no training job has the id \"%s\"",
		    rq->rq_route.rt_job_id);
		http_reply_error(rq, 404, "not_found", message, NULL);
		goto done;
	}
	if (store_decode_progress(res, 0, &row) == -1) {
		log_error("decode_failed", "training_progress row does not have the "
		    "columns and types this build expects: run deploy/migrate");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be read", NULL);
		goto done;
	}
	if ((body = render_progress(&row, &len)) == NULL) {
		log_error("render_failed", "could not render the progress of a job "
		    "(out of memory, or a JSON column that is not an object)");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be rendered", NULL);
		goto done;
	}
	http_reply_json(rq, 200, body, len, NULL);
done:
	free(body);
	PQclear(res);
}

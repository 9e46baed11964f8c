/*
 * handler_notifications.c: GET/HEAD
 * /api/v2/training/jobs/{job_id}/notifications, whom the job's end is told
 * (its own targets, and those for every job) and how that went: waiting,
 * pending, retrying, delivered, dead or none (schema/015 says each).
 * Targets are cut short by the database (no credential, no secret); what
 * there is to know of a delivery is for anyone who may read the job.
 */
#include <stdlib.h>

#include "pool.h"

void
handle_notifications(struct request *rq)
{
	struct job_notification	*items = NULL;
	const char		*params[1] = { rq->rq_route.rt_job_id };
	PGresult		*res = NULL;
	char			*body;
	size_t			 len;
	int			 rows, i, n = 0, rc;

	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	if (!http_db_ok(rq, rq->rq_reader, db_exec(rq->rq_reader, STMT_NOTIFICATIONS, params,
	    http_db_deadline(rq), &res), "the progress database answered with an error"))
		return;
	if ((rows = PQntuples(res)) == 0) {
		http_reply_no_job(rq);
		goto done;
	}
	/* As many as there are targets: an operator may add any number. */
	if ((items = calloc((size_t)rows, sizeof(*items))) == NULL) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		goto done;
	}
	for (i = 0; i < rows; i++) {
		if ((rc = store_decode_notification(res, i, &items[n])) == -1) {
			log_error("decode_failed", "the notifications do not have the columns and "
			    "types this build expects: run deploy/migrate");
			http_reply_error(rq, 500, "internal_error",
			    "the notifications could not be read", NULL);
			goto done;
		}
		if (rc == 0)
			n++;
	}
	if ((body = render_notifications(rq->rq_route.rt_job_id, items, n, &len)) == NULL) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		goto done;
	}
	http_reply_json(rq, 200, body, len, NULL);
	free(body);
done:
	free(items);
	PQclear(res);
}

/*
 * handler_publish.c: POST /api/v2/training/jobs/{job_id}/progress, an event
 * from a publisher that does not link libtrainprog.
 *
 * The event goes through the tracker's own transitions (lib/progress.c) on
 * the stored state, under the row's lock, and is written with the tracker's
 * guarded UPSERT: the same rules whoever publishes.  A write returns when
 * it is committed (synchronous_commit stays on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pool.h"

#define CANCELLED_MESSAGE \
	"the job was cancelled (POST .../cancel): stop training; its final state is stored"

/* Is the request's body JSON (application/json, or a +json type)? */
static bool
json_content_type(const char *ct)
{
	size_t	 n;

	if (ct == NULL)
		return false;
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	/* application/vnd.something+json */
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	    strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Replies for a job_* refusal. */
static void
reply_refused(struct request *rq, enum tp_err err, const char *why, const char *status)
{
	char	 message[320];

	switch (err) {
	case TP_EFINISHED:
		if (status != NULL && strcmp(status, "cancelled") == 0) {
			http_reply_error(rq, 409, "job_cancelled", CANCELLED_MESSAGE, NULL);
			return;
		}
		snprintf(message, sizeof(message), "the job has finished (%s): nothing more "
		    "is written", status != NULL ? status : "finished");
		http_reply_error(rq, 409, "job_finished", message, NULL);
		return;
	case TP_ESTATE:
		http_reply_error(rq, 409, "invalid_state", why, NULL);
		return;
	case TP_EINVAL:
		http_reply_error(rq, 400, "invalid_event", why, NULL);
		return;
	default:
		http_reply_error(rq, 500, "internal_error", why != NULL ? why : "out of memory",
		    NULL);
		return;
	}
}

/* Applies the event to js.  TP_OK, or the refusal with *why. */
static enum tp_err
apply(struct job_state *js, const struct event *ev, int64_t now_us, const char **why)
{
	enum tp_err	 err;

	*why = NULL;
	switch (ev->ev_kind) {
	case EV_QUEUE:
		return job_queue(js, why);
	case EV_START:
		return job_start(js, ev->ev_step, ev->ev_details, now_us, why);
	case EV_UPDATE:
		if ((err = job_update(js, &ev->ev_update, why)) != TP_OK)
			return err;
		/* No history here: the step's average pace since it started. */
		js->js_has_eta = eta_from_step_start(js->js_step, js->js_pct,
		    js->js_step_started_us, now_us, &js->js_eta_us);
		return TP_OK;
	case EV_COMPLETE:
		return job_complete(js, why);
	case EV_ERROR:
		return job_fail(js, ev->ev_error_message, why);
	}
	return TP_EINVAL;
}

/*
 * The transaction: lock the row, check the seq, apply, write.  Returns the
 * HTTP status to answer with the stored document (200), or 0 when the
 * reply has been sent.  The transaction is over either way.
 */
static int
publish(struct request *rq, struct db *db, const struct event *ev)
{
	struct progress_row	 row;
	struct job_state	 js;
	struct put_batch	 pb;
	char			 stall[32], message[200];
	const char		*params[2] = { rq->rq_route.rt_job_id,
				    db_stall_param(rq->rq_cf, stall, sizeof(stall)) };
	const char		*why, *status = NULL;
	int64_t			 deadline = http_db_deadline(rq);
	PGresult		*res = NULL, *put = NULL;
	enum tp_err		 err;
	int			 answer = 0;

	job_init(&js);
	memset(&pb, 0, sizeof(pb));
	if (!http_db_ok(rq, db, db_begin(db, deadline), "the write could not start"))
		goto out;
	if (db_step(db, STMT_LOCK, NULL, 2, params, deadline, &res) != DB_OK)
		goto db_failed;
	if (PQntuples(res) == 1) {
		if (store_decode_progress(res, 0, &row) == -1 ||
		    job_from_row(&js, &row, &why) != TP_OK) {
			log_error("decode_failed", "a stored job could not be loaded: "
			    "run deploy/migrate");
			http_reply_error(rq, 500, "internal_error",
			    "the stored progress could not be read", NULL);
			goto rollback;
		}
		status = row.pr_status;
		/* A retry of the last event (its answer was lost): the job as it is. */
		if (ev->ev_seq == js.js_seq) {
			answer = 200;
			goto rollback;
		}
		if (ev->ev_seq < js.js_seq && !job_finished(&js)) {
			snprintf(message, sizeof(message), "seq %llu is not newer than the "
			    "stored %llu: events of a job need growing seq numbers",
			    (unsigned long long)ev->ev_seq, (unsigned long long)js.js_seq);
			http_reply_field_error(rq, 409, "stale_seq", message, "seq", NULL);
			goto rollback;
		}
	}
	if ((err = apply(&js, ev, wall_us(), &why)) != TP_OK) {
		reply_refused(rq, err, why, status);
		goto rollback;
	}
	js.js_seq = ev->ev_seq;
	store_batch_reset(&pb);
	if (store_batch_add(&pb, rq->rq_route.rt_job_id, &js) == -1 ||
	    store_batch_finish(&pb) == -1) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		goto rollback;
	}
	if (db_step(db, STMT_PUT, NULL, STORE_PROGRESS_PUT_NPARAMS, pb.pb_values, deadline,
	    &put) != DB_OK) {
		res = put;
		put = NULL;
		goto db_failed;
	}
	if (PQntuples(put) != 1) {
		/* Under the lock, the UPSERT's guards agree with the checks above. */
		log_error("publish_refused", "the guarded write refused a checked event");
		http_reply_error(rq, 409, "conflict", "another writer changed the job", NULL);
		goto rollback;
	}
	PQclear(res);
	res = NULL;
	switch (db_step(db, NULL, "COMMIT", 0, NULL, deadline, &res)) {
	case DB_OK:
		/* Before anyone hears of this write. */
		cache_note_write();
		break;
	case DB_UNAVAILABLE:
		/* Committed or not: a retry with the same seq tells. */
		http_reply_unavailable(rq, db);
		goto out;
	case DB_FAILED:
		http_reply_error(rq, 500, "internal_error", "the write could not be committed",
		    NULL);
		goto rollback;
	}
	/* A job being cancelled is finished by any write: as cancelled. */
	if (PQgetisnull(put, 0, 2) == 0 && strcmp(PQgetvalue(put, 0, 2), "cancelled") == 0 &&
	    !(js.js_phase == JOB_CANCELLED)) {
		http_reply_error(rq, 409, "job_cancelled", CANCELLED_MESSAGE, NULL);
		goto out;
	}
	answer = 200;
	goto out;

db_failed:
	if (db->db_conn == NULL)
		http_reply_unavailable(rq, db);
	else {
		log_error("query_failed", "publish: %s", res != NULL ?
		    PQresultErrorMessage(res) : PQerrorMessage(db->db_conn));
		http_reply_error(rq, 500, "internal_error", "the write failed", NULL);
	}
rollback:
	db_rollback(db, mono_ms() + 1000);
out:
	PQclear(res);
	PQclear(put);
	store_batch_free(&pb);
	job_free(&js);
	return answer;
}

void
handle_publish(struct request *rq)
{
	struct db	*db = rq->rq_writer;
	struct event	 ev;
	char		 stall[32], *body = NULL;
	const char	*params[2];
	PGresult	*res = NULL;
	long		 len;
	int		 status;

	if (!db_configured(db)) {
		http_reply_error(rq, 403, "writes_disabled",
		    "this server does not take writes (database_write_url is not set)", NULL);
		return;
	}
	if (!auth_require(rq, db, "publish"))
		return;
	if (!json_content_type(http_param(rq, "CONTENT_TYPE"))) {
		http_reply_error(rq, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type: application/json", NULL);
		return;
	}
	if ((len = http_read_body(rq, (size_t)rq->rq_cf->cf_max_body_size, &body)) < 0) {
		/* The guard refuses longer bodies before this; a short one is left. */
		http_reply_error(rq, 400, "invalid_body",
		    "the body does not match its Content-Length", NULL);
		return;
	}
	if (event_parse(body, (size_t)len, &ev) == -1) {
		http_reply_field_error(rq, 400, ev.ev_field != NULL ? "invalid_field" :
		    "invalid_body", ev.ev_problem, ev.ev_field, NULL);
		goto done;
	}
	if ((status = publish(rq, db, &ev)) == 0)
		goto done;
	params[0] = rq->rq_route.rt_job_id;
	params[1] = db_stall_param(rq->rq_cf, stall, sizeof(stall));
	if (http_db_ok(rq, db, db_exec(db, STMT_GET, 2, params, http_db_deadline(rq), &res),
	    "the job could not be read back"))
		reply_progress(rq, res, status);
	PQclear(res);
done:
	event_free(&ev);
	free(body);
}

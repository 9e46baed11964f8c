/*
 * handler_publish.c: POST /api/v2/training/jobs/{job_id}/progress, an event
 * from a publisher that does not link libtrainprog.
 *
 * The library decides what the event does (job_apply(), the tracker's own
 * rule) to the stored state, loaded under the row's lock, and the write is
 * the tracker's guarded UPSERT: the same rules whoever publishes.  A write
 * returns when it is committed (synchronous_commit stays on); committing
 * through the writer connection tells the read caches by itself (db.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define CANCELLED_MESSAGE \
	"the job was cancelled (POST .../cancel): stop training; its final state is stored"

/* One publish request as it goes through its steps. */
struct publish {
	struct request		*p_rq;
	struct db		*p_db;
	struct posted_event	 p_event;
	char			*p_body;
	struct job_state	 p_job;		/* stored, then as the event leaves it */
	char			 p_status[16];	/* the stored status; "" for a new job */
	bool			 p_in_txn;
	int			 p_answer;	/* 200: reply with the stored job */
};

/* May this request write?  Otherwise the refusal is sent. */
static bool
authorise(struct publish *p)
{
	return auth_require_writer(p->p_rq, p->p_db, "publish");
}

/* The body, as an event.  Otherwise 415 or 400 is sent. */
static bool
parse(struct publish *p)
{
	struct request	*rq = p->p_rq;
	long		 len;

	if ((len = http_read_json_body(rq, &p->p_body)) < 0)
		return false;
	if (body_parse(p->p_body, (size_t)len, &p->p_event) == -1) {
		http_reply_field_error(rq, 400, p->p_event.pe_field != NULL ? "invalid_field" :
		    "invalid_body", p->p_event.pe_problem, p->p_event.pe_field, NULL);
		return false;
	}
	return true;
}

/* Opens the transaction and loads the stored job under its row lock, if any. */
static bool
load(struct publish *p)
{
	struct progress_row	 row;
	char			 stall[32];
	const char		*params[2] = { p->p_rq->rq_route.rt_job_id,
				    db_stall_param(p->p_rq->rq_cf, stall, sizeof(stall)) };
	const char		*why;
	PGresult		*res = NULL;
	enum db_status		 st;
	bool			 ok = true;

	if ((st = db_begin(p->p_db, http_db_deadline(p->p_rq))) != DB_OK)
		return http_db_ok(p->p_rq, p->p_db, st, "the write could not start");
	p->p_in_txn = true;
	if ((st = db_step(p->p_db, STMT_LOCK, params, http_db_deadline(p->p_rq), &res)) != DB_OK)
		ok = http_db_ok(p->p_rq, p->p_db, st, "the write failed");
	else if (PQntuples(res) == 1) {
		if (store_decode_progress(res, 0, &row) == -1 ||
		    job_from_row(&p->p_job, &row, &why) != TP_OK) {
			log_error("decode_failed", "a stored job could not be loaded: "
			    "run deploy/migrate");
			http_reply_error(p->p_rq, 500, "internal_error",
			    "the stored progress could not be read", NULL);
			ok = false;
		} else
			snprintf(p->p_status, sizeof(p->p_status), "%s", row.pr_status);
	}
	PQclear(res);
	return ok;
}

/*
 * Events of a job carry growing seq numbers.  The seq of the stored state
 * again is a retry whose answer was lost: it is answered with the job as
 * it stands, and nothing is written.
 */
static bool
check_seq(struct publish *p)
{
	char		 message[200];
	uint64_t	 seq = p->p_event.pe_seq, stored = p->p_job.js_seq;

	if (p->p_status[0] == '\0')
		return true;
	if (seq == stored) {
		p->p_answer = 200;
		return false;
	}
	if (seq < stored && !job_finished(&p->p_job)) {
		snprintf(message, sizeof(message), "seq %llu is not newer than the stored %llu: "
		    "events of a job need growing seq numbers", (unsigned long long)seq,
		    (unsigned long long)stored);
		http_reply_field_error(p->p_rq, 409, "stale_seq", message, "seq", NULL);
		return false;
	}
	return true;
}

/* The job refused the event: why, as the API says it. */
static void
reply_refused(struct publish *p, enum tp_err err, const char *why)
{
	const char	*status = p->p_status[0] != '\0' ? p->p_status : "finished";
	char		 message[320];

	switch (err) {
	case TP_EFINISHED:
		if (strcmp(status, "cancelled") == 0) {
			http_reply_error(p->p_rq, 409, "job_cancelled", CANCELLED_MESSAGE, NULL);
			return;
		}
		snprintf(message, sizeof(message), "the job has finished (%s): nothing more "
		    "is written", status);
		http_reply_error(p->p_rq, 409, "job_finished", message, NULL);
		return;
	case TP_ESTATE:
		http_reply_error(p->p_rq, 409, "invalid_state", why, NULL);
		return;
	case TP_EINVAL:
		http_reply_error(p->p_rq, 400, "invalid_event", why, NULL);
		return;
	default:
		http_reply_error(p->p_rq, 500, "internal_error", why != NULL ? why :
		    "out of memory", NULL);
		return;
	}
}

/* The library's rule: what the event does to the job.  No history: no ETA samples. */
static bool
apply(struct publish *p)
{
	const char	*why;
	enum tp_err	 err;

	if ((err = job_apply(&p->p_job, &p->p_event.pe_event, wall_us(), NULL, &why)) != TP_OK) {
		reply_refused(p, err, why);
		return false;
	}
	p->p_job.js_seq = p->p_event.pe_seq;
	return true;
}

/*
 * Writes the job with the guarded UPSERT and commits.  Under the row lock
 * the UPSERT's guards agree with the checks above; a job being cancelled
 * is finished by any write, as cancelled, which the publisher must hear.
 */
static bool
store(struct publish *p)
{
	struct put_batch	 pb;
	struct store_applied	 applied;
	PGresult		*res = NULL;
	enum db_status		 st;
	bool			 ok = false;

	memset(&pb, 0, sizeof(pb));
	if (store_batch_one(&pb, p->p_rq->rq_route.rt_job_id, &p->p_job) == -1) {
		http_reply_error(p->p_rq, 500, "internal_error", "out of memory", NULL);
		goto out;
	}
	if ((st = db_step(p->p_db, STMT_PUT, pb.pb_values, http_db_deadline(p->p_rq),
	    &res)) != DB_OK) {
		(void)http_db_ok(p->p_rq, p->p_db, st, "the write failed");
		goto out;
	}
	if (store_put_applied(res, 0, &applied) == -1) {
		log_error("publish_refused", "the guarded write refused a checked event");
		http_reply_error(p->p_rq, 409, "conflict", "another writer changed the job", NULL);
		goto out;
	}
	p->p_in_txn = false;
	if ((st = db_commit(p->p_db, http_db_deadline(p->p_rq))) != DB_OK) {
		/* Unavailable: committed or not, a retry with the same seq tells. */
		(void)http_db_ok(p->p_rq, p->p_db, st, "the write could not be committed");
		goto out;
	}
	if (applied.sa_cancelled && p->p_job.js_phase != JOB_CANCELLED) {
		http_reply_error(p->p_rq, 409, "job_cancelled", CANCELLED_MESSAGE, NULL);
		goto out;
	}
	ok = true;
out:
	PQclear(res);
	store_batch_free(&pb);
	return ok;
}

/* Ends what is left of the transaction, and answers with the stored job if asked. */
static void
reply(struct publish *p)
{
	char		 stall[32];
	const char	*params[2] = { p->p_rq->rq_route.rt_job_id,
			    db_stall_param(p->p_rq->rq_cf, stall, sizeof(stall)) };
	PGresult	*res = NULL;

	if (p->p_in_txn)
		db_rollback(p->p_db, mono_ms() + 1000);
	if (p->p_answer == 0)
		return;
	if (http_db_ok(p->p_rq, p->p_db, db_exec(p->p_db, STMT_GET, params,
	    http_db_deadline(p->p_rq), &res), "the job could not be read back"))
		http_reply_progress(p->p_rq, res, p->p_answer);
	PQclear(res);
}

void
handle_publish(struct request *rq)
{
	struct publish	 p;

	memset(&p, 0, sizeof(p));
	p.p_rq = rq;
	p.p_db = rq->rq_writer;
	job_init(&p.p_job);
	if (authorise(&p) && parse(&p) && load(&p) && check_seq(&p) && apply(&p) &&
	    store(&p))
		p.p_answer = 200;
	reply(&p);
	job_free(&p.p_job);
	body_free(&p.p_event);
	free(p.p_body);
}

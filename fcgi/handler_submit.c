/*
 * handler_submit.c: POST /api/v2/training/jobs, starting a training job.
 *
 * The request (tools/train/jobreq.c: every field checked, every absent one
 * at its default) is stored in training_jobs in its canonical form, with
 * the SHA-256 of that text, next to the job's progress row, written in the
 * same transaction as a publish of {"event": "queue"} writes it: the
 * library's job_apply() and the guarded UPSERT (STMT_PUT).  A trainer then
 * claims the job (docs/TRAINER.md).  The same request again under the same
 * client-chosen job_id is the same job (200); another request under it, or
 * an id whose progress a trainer published without this API, is a
 * conflict (409).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "pool.h"
#include "../tools/train/train.h"

/*
 * The seq of the queued state: the job's first write.  Trainers number
 * their writes from the clock (microseconds), so any write of theirs is
 * newer.
 */
#define QUEUE_SEQ		1
/* Server-made ids: "job-" and 24 hex digits of getrandom(). */
#define MADE_ID_BYTES		12
/* Tries for a server-made id that happens to be taken. */
#define MADE_ID_TRIES		4

/* One submission as it goes through its steps. */
struct submit {
	struct request	*s_rq;
	struct db	*s_db;
	struct jobreq	 s_req;
	char		*s_body;
	char		*s_canonical;
	unsigned char	 s_sha[32];
	char		 s_sha_param[2 + 64 + 1];	/* bytea as text: \x and hex */
	char		 s_job_id[TP_JOB_ID_MAX + 1];
	bool		 s_chosen;			/* the client named the job */
	bool		 s_in_txn;
};

/* What one attempt at storing came to. */
enum attempt { ATTEMPT_DONE, ATTEMPT_AGAIN };

/* May this request start jobs?  Otherwise the refusal is sent. */
static bool
authorise(struct submit *s)
{
	return auth_require_writer(s->s_rq, s->s_db, "train");
}

/* The body, as a checked request in its canonical form.  Otherwise 415, 400 or 500 is sent. */
static bool
parse(struct submit *s)
{
	char	 field[160], problem[256];
	long	 len;
	int	 i;

	if ((len = http_read_json_body(s->s_rq, &s->s_body)) < 0)
		return false;
	if (jobreq_parse(s->s_body, (size_t)len, &s->s_req, field, sizeof(field), problem,
	    sizeof(problem)) == -1) {
		if (field[0] == '\0')
			http_reply_error(s->s_rq, 400, "invalid_body", problem, NULL);
		else
			http_reply_field_error(s->s_rq, 400, "invalid_field", problem, field,
			    NULL);
		return false;
	}
	if ((s->s_canonical = jobreq_canonical(&s->s_req)) == NULL) {
		http_reply_error(s->s_rq, 500, "internal_error", "out of memory", NULL);
		return false;
	}
	sha256(s->s_canonical, strlen(s->s_canonical), s->s_sha);
	memcpy(s->s_sha_param, "\\x", 2);
	for (i = 0; i < 32; i++)
		snprintf(s->s_sha_param + 2 + 2 * i, 3, "%02x", s->s_sha[i]);
	s->s_chosen = s->s_req.jr_job_id[0] != '\0';
	if (s->s_chosen)
		snprintf(s->s_job_id, sizeof(s->s_job_id), "%s", s->s_req.jr_job_id);
	return true;
}

/* A new job id: "job-" and 24 lowercase hex digits from getrandom().  0 or -1. */
static int
make_job_id(struct submit *s)
{
	unsigned char	 r[MADE_ID_BYTES];
	size_t		 got = 0;
	ssize_t		 n;
	int		 i;

	while (got < sizeof(r)) {
		if ((n = getrandom(r + got, sizeof(r) - got, 0)) < 0)
			return -1;
		got += (size_t)n;
	}
	memcpy(s->s_job_id, "job-", 4);
	for (i = 0; i < MADE_ID_BYTES; i++)
		snprintf(s->s_job_id + 4 + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* A database step that did not answer DB_OK: 503, or 500 saying `what` failed. */
static enum attempt
db_failed(struct submit *s, enum db_status st, const char *what)
{
	(void)http_db_ok(s->s_rq, s->s_db, st, what);
	return ATTEMPT_DONE;
}

/* Ends the transaction if one is open, changing nothing. */
static void
rollback(struct submit *s)
{
	if (s->s_in_txn)
		db_rollback(s->s_db, mono_ms() + 1000);
	s->s_in_txn = false;
}

/* Appends id percent-encoded (all but RFC 3986's unreserved characters) to out. */
static void
pct_encode(const char *id, char *out, size_t size)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	size_t			 n = strlen(out);

	for (p = (const unsigned char *)id; *p != '\0' && n + 4 <= size; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			out[n++] = (char)*p;
		else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
}

/*
 * The answer: {"job_id", "progress_url", "stream_url"} with `status`, and
 * the progress URL in Location.
 */
static void
reply_job(struct submit *s, int status)
{
	/* The prefix, 255 bytes as %XX each, a suffix. */
	char		 progress[sizeof(ROUTE_PREFIX) + 5 + 3 * TP_JOB_ID_MAX + 32];
	char		 stream[sizeof(progress) + 8], location[sizeof(progress) + 16];
	char		*body = NULL;
	cJSON		*doc;

	snprintf(progress, sizeof(progress), "%sjobs/", ROUTE_PREFIX);
	pct_encode(s->s_job_id, progress, sizeof(progress));
	snprintf(stream, sizeof(stream), "%s/progress/stream", progress);
	strncat(progress, "/progress", sizeof(progress) - strlen(progress) - 1);
	snprintf(location, sizeof(location), "Location: %s\r\n", progress);
	if ((doc = cJSON_CreateObject()) != NULL &&
	    cJSON_AddStringToObject(doc, "job_id", s->s_job_id) != NULL &&
	    cJSON_AddStringToObject(doc, "progress_url", progress) != NULL &&
	    cJSON_AddStringToObject(doc, "stream_url", stream) != NULL)
		body = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (body == NULL) {
		http_reply_error(s->s_rq, 500, "internal_error", "out of memory", NULL);
		return;
	}
	http_reply_json(s->s_rq, status, body, strlen(body), location);
	cJSON_free(body);
}

/*
 * The id is taken in training_jobs: the same request again is the same
 * job (200); another request is a conflict.
 */
static enum attempt
replay(struct submit *s)
{
	const char	*params[1] = { s->s_job_id };
	PGresult	*res = NULL;
	enum db_status	 st;
	bool		 same;

	if ((st = db_step(s->s_db, STMT_JOB_HASH, params, http_db_deadline(s->s_rq),
	    &res)) != DB_OK) {
		PQclear(res);
		return db_failed(s, st, "the stored job could not be read");
	}
	same = PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 32 &&
	    memcmp(PQgetvalue(res, 0, 0), s->s_sha, 32) == 0;
	PQclear(res);
	rollback(s);
	if (same)
		reply_job(s, 200);
	else
		http_reply_error(s->s_rq, 409, "job_conflict", "a job with this job_id was "
		    "started with another request: choose another job_id, or send the same "
		    "request again", NULL);
	return ATTEMPT_DONE;
}

/*
 * The job's own notification targets ("notify"), in the job's transaction.
 * True when they are stored; otherwise the transaction is rolled back, the
 * failure sent, and *a says what to do next.
 */
static bool
add_targets(struct submit *s, enum attempt *a)
{
	const char	*kinds[JOBREQ_NOTIFY_MAX], *addrs[JOBREQ_NOTIFY_MAX],
			*secrets[JOBREQ_NOTIFY_MAX], *values[4];
	struct tbuf	 k, ad, sc;
	PGresult	*res = NULL;
	enum db_status	 st;
	bool		 ok = false;
	int		 i, n = s->s_req.jr_nnotify;

	memset(&k, 0, sizeof(k));
	memset(&ad, 0, sizeof(ad));
	memset(&sc, 0, sizeof(sc));
	for (i = 0; i < n; i++) {
		kinds[i] = s->s_req.jr_notify[i].jn_kind;
		addrs[i] = s->s_req.jr_notify[i].jn_address;
		secrets[i] = s->s_req.jr_notify[i].jn_secret;
	}
	*a = ATTEMPT_DONE;
	if (store_text_array(&k, kinds, n) == -1 || store_text_array(&ad, addrs, n) == -1 ||
	    store_text_array(&sc, secrets, n) == -1) {
		rollback(s);
		http_reply_error(s->s_rq, 500, "internal_error", "out of memory", NULL);
		goto out;
	}
	values[0] = k.tb_data;
	values[1] = ad.tb_data;
	values[2] = sc.tb_data;
	values[3] = s->s_job_id;
	if ((st = db_step(s->s_db, STMT_NOTIFY_ADD, values, http_db_deadline(s->s_rq),
	    &res)) != DB_OK) {
		rollback(s);
		*a = db_failed(s, st, "the job's notification targets could not be stored");
		goto out;
	}
	ok = true;
out:
	PQclear(res);
	tbuf_free(&k);
	tbuf_free(&ad);
	tbuf_free(&sc);
	return ok;
}

/* The job's progress row, queued: a publish of {"event": "queue"}, committed. */
static enum attempt
queue(struct submit *s)
{
	struct job_state	 js;
	struct job_event	 ev;
	struct put_batch	 pb;
	struct store_applied	 applied;
	PGresult		*res = NULL;
	const char		*why;
	enum db_status		 st;
	enum attempt		 a = ATTEMPT_DONE;

	job_init(&js);
	memset(&pb, 0, sizeof(pb));
	memset(&ev, 0, sizeof(ev));
	ev.je_kind = JOB_EV_QUEUE;
	if (job_apply(&js, &ev, wall_us(), NULL, &why) != TP_OK) {
		rollback(s);
		http_reply_error(s->s_rq, 500, "internal_error", why != NULL ? why :
		    "the job could not be queued", NULL);
		goto out;
	}
	js.js_seq = QUEUE_SEQ;
	if (store_batch_one(&pb, s->s_job_id, &js) == -1) {
		rollback(s);
		http_reply_error(s->s_rq, 500, "internal_error", "out of memory", NULL);
		goto out;
	}
	if ((st = db_step(s->s_db, STMT_PUT, pb.pb_values, http_db_deadline(s->s_rq),
	    &res)) != DB_OK) {
		rollback(s);
		a = db_failed(s, st, "the job could not be queued");
		goto out;
	}
	if (store_put_applied(res, 0, &applied) == -1) {
		/* A publisher wrote this job's progress meanwhile: it is theirs. */
		rollback(s);
		if (!s->s_chosen) {
			a = ATTEMPT_AGAIN;
			goto out;
		}
		http_reply_error(s->s_rq, 409, "job_exists", "a job with this job_id already "
		    "has progress, published by its trainer without this API: choose another "
		    "job_id", NULL);
		goto out;
	}
	s->s_in_txn = false;
	if ((st = db_commit(s->s_db, http_db_deadline(s->s_rq))) != DB_OK) {
		/* Unavailable: committed or not, the same request again tells. */
		a = db_failed(s, st, "the job could not be committed");
		goto out;
	}
	reply_job(s, 201);
out:
	PQclear(res);
	store_batch_free(&pb);
	job_free(&js);
	return a;
}

/*
 * One attempt: in a transaction, the progress row locked (if there is
 * one), the request inserted under the id, its notification targets, then
 * the queued progress.
 * ATTEMPT_AGAIN only for a server-made id that turned out to be taken.
 */
static enum attempt
store(struct submit *s)
{
	char		 stall[32];
	const char	*lock[2] = { s->s_job_id, db_stall_param(s->s_rq->rq_cf, stall,
			    sizeof(stall)) };
	const char	*insert[4] = { s->s_job_id, s->s_canonical, s->s_sha_param,
			    s->s_rq->rq_token_id[0] != '\0' ? s->s_rq->rq_token_id : NULL };
	PGresult	*res = NULL;
	enum db_status	 st;
	enum attempt	 a;
	bool		 had_progress, inserted;

	if ((st = db_begin(s->s_db, http_db_deadline(s->s_rq))) != DB_OK)
		return db_failed(s, st, "the job could not be stored");
	s->s_in_txn = true;
	/* Orders this against a publisher writing the same job. */
	if ((st = db_step(s->s_db, STMT_LOCK, lock, http_db_deadline(s->s_rq),
	    &res)) != DB_OK) {
		PQclear(res);
		rollback(s);
		return db_failed(s, st, "the job could not be stored");
	}
	had_progress = PQntuples(res) > 0;
	PQclear(res);
	if (had_progress && !s->s_chosen) {
		rollback(s);
		return ATTEMPT_AGAIN;
	}
	/* A concurrent submission of the same id waits here for the first to end. */
	if ((st = db_step(s->s_db, STMT_JOB_INSERT, insert, http_db_deadline(s->s_rq),
	    &res)) != DB_OK) {
		PQclear(res);
		rollback(s);
		return db_failed(s, st, "the job could not be stored");
	}
	inserted = PQntuples(res) == 1;
	PQclear(res);
	if (!inserted) {
		if (!s->s_chosen) {
			rollback(s);
			return ATTEMPT_AGAIN;
		}
		return replay(s);
	}
	if (had_progress) {
		rollback(s);
		http_reply_error(s->s_rq, 409, "job_exists", "a job with this job_id already "
		    "has progress, published by its trainer without this API: choose another "
		    "job_id", NULL);
		return ATTEMPT_DONE;
	}
	/* Before its progress row: the database lets the writer add targets only
	   to a job its transaction created and that has no progress (schema/013). */
	if (s->s_req.jr_nnotify > 0 && !add_targets(s, &a))
		return a;
	return queue(s);
}

void
handle_submit(struct request *rq)
{
	struct submit	 s;
	int		 tries;

	memset(&s, 0, sizeof(s));
	s.s_rq = rq;
	s.s_db = rq->rq_writer;
	if (authorise(&s) && parse(&s)) {
		for (tries = 0; ; tries++) {
			if (!s.s_chosen && make_job_id(&s) == -1) {
				http_reply_error(rq, 500, "internal_error",
				    "no random job id could be made (getrandom failed)", NULL);
				break;
			}
			if (store(&s) == ATTEMPT_DONE)
				break;
			if (tries + 1 == MADE_ID_TRIES) {
				http_reply_error(rq, 500, "internal_error",
				    "every job id made was taken", NULL);
				break;
			}
		}
	}
	rollback(&s);
	free(s.s_body);
	free(s.s_canonical);
}

/*
 * tracker.c: the ProgressTracker and its publisher.
 *
 * A tracker records states for its callers: start, update, ... change
 * t_state under the tracker's mutex, give it a sequence number and an ETA,
 * and copy it into t_pending.  That is a single slot, so a newer state
 * replaces one not yet sent (coalescing) and memory stays bounded.  The
 * tracker is then queued on its publisher.
 *
 * A publisher's sender threads take queued trackers, up to BATCH_MAX at a
 * time with distinct job ids, move each one's pending state into
 * t_sending, and write them all in one statement on the thread's own
 * connection, within io_timeout.  What became of each write is reported
 * back under the tracker's mutex and signalled on t_done.  A write that
 * fails (the database is away) goes back into the slot unless a newer
 * state is already there, and the publisher pauses before trying again.
 * A batch holding a terminal state commits synchronously.
 *
 * Locks: a tracker's mutex may be held while taking its publisher's, never
 * the other way round.  The publisher's mutex guards the queue and the
 * t_queued / t_claimed / t_requeue flags; a claimed tracker is being
 * written by a sender and is not freed until the sender lets go.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BATCH_MAX	64
#define SENDERS_MAX	16
#define RETRY_MIN_MS	100
#define RETRY_MAX_MS	2000
#define APP_NAME	"trainprog"

struct sender {
	struct tp_publisher	*s_pub;
	pthread_t		 s_thread;
	PGconn			*s_conn;
	struct put_batch	 s_batch;
};

struct tp_publisher {
	pthread_mutex_t	 p_mu;
	pthread_cond_t	 p_wake;		/* to senders: work, or stop */
	pthread_cond_t	 p_released;		/* to close(): a sender let go */
	struct tp_tracker *p_head;		/* trackers with a state to write */
	struct tp_tracker *p_tail;
	struct tp_tracker *p_all;		/* every attached tracker */
	int		 p_refs;		/* the opener's hold + attached trackers */
	bool		 p_stop;
	int64_t		 p_retry_at;		/* mono_ms(): no writes before this */
	int64_t		 p_retry_ms;		/* the pause after the next failure */
	uint64_t	 p_connects;
	unsigned	 p_generation;		/* fork_generation at open */
	char		*p_conninfo;		/* NULL: libpq's defaults */
	int		 p_io_timeout_ms;
	int		 p_nsenders;
	int		 p_started;		/* threads running */
	struct sender	 p_senders[SENDERS_MAX];
};

struct tp_tracker {
	pthread_mutex_t	 t_mu;
	pthread_cond_t	 t_done;		/* to callers: a write has settled */
	unsigned	 t_generation;		/* fork_generation at open */
	struct tp_publisher *t_pub;

	char		 t_job_id[TP_JOB_ID_MAX + 1];
	struct tp_options t_opts;

	/* The tracker's mutex guards these. */
	struct job_state t_state;		/* the newest state */
	struct job_state t_pending;		/* the next state to write */
	struct job_state t_sending;		/* the state being written */
	bool		 t_has_pending;
	bool		 t_in_flight;
	struct eta	 t_eta;
	bool		 t_terminal_settled;	/* the terminal write's fate is known */
	enum tp_err	 t_terminal_err;	/* ... and it is this */
	bool		 t_remote_finished;	/* the stored job is finished */
	bool		 t_cancelled;		/* ... as cancelled */
	bool		 t_written;		/* a write was applied: the row exists */
	bool		 t_resumed;		/* continues a stored job */
	int64_t		 t_hb_next;		/* the heartbeat due after a write */
	struct tp_tracker_stats t_stats;
	char		 t_problem[512];

	/* The publisher's mutex guards these. */
	bool		 t_queued;
	bool		 t_claimed;		/* a sender holds it */
	bool		 t_requeue;		/* queue it when the sender lets go */
	bool		 t_closing;		/* never queue it again */
	int64_t		 t_hb_due;		/* mono_ms() of the next heartbeat; 0: none */
	struct tp_tracker *t_next;		/* in the queue */
	struct tp_tracker *t_all_next;		/* among all attached trackers */
};

/* What became of one write. */
enum outcome {
	OUT_APPLIED,
	OUT_REFUSED,	/* the guard said no: stale, behind, or finished */
	OUT_RETRY,	/* the database is away: try again later */
	OUT_DBERR	/* the database said no for another reason */
};

/*
 * Fork detection without a system call on every update() (getpid() is
 * one, and a system call is where a busy machine preempts the caller): a
 * counter every child bumps, compared with the one seen at open.
 */
static atomic_uint	 fork_generation;
static pthread_once_t	 atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
atfork_register(void)
{
	(void)pthread_atfork(NULL, NULL, on_fork_child);
}

static unsigned
generation(void)
{
	pthread_once(&atfork_once, atfork_register);
	return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

static const char *const errors[] = {
	[TP_OK] = "success",
	[TP_EINVAL] = "invalid argument",
	[TP_ESTATE] = "not allowed in the job's current state",
	[TP_EFINISHED] = "the job has already finished",
	[TP_ETIMEDOUT] = "the database did not confirm in time",
	[TP_ECONFLICT] = "the database refused: another writer finished the job or is ahead",
	[TP_EDB] = "the database reported an error",
	[TP_ENOTFOUND] = "the job has no stored progress",
	[TP_ENOMEM] = "out of memory",
	[TP_EFORK] = "the tracker belongs to another process",
	[TP_ESYS] = "a system call failed",
	[TP_ECANCELLED] = "the job was cancelled: stop training",
};

TP_API const char *
tp_strerror(enum tp_err err)
{
	if ((unsigned)err >= sizeof(errors) / sizeof(errors[0]) || errors[err] == NULL)
		return "unknown error";
	return errors[err];
}

TP_API void
tp_options_init(struct tp_options *o)
{
	memset(o, 0, sizeof(*o));
	o->terminal_timeout_ms = 10000;
	o->close_timeout_ms = 2000;
	o->io_timeout_ms = 5000;
	o->heartbeat_ms = 15000;
}

static int64_t
clock_us(const struct tp_tracker *t)
{
	if (t->t_opts.clock != NULL)
		return t->t_opts.clock(t->t_opts.clock_arg);
	return wall_us();
}

static void set_problem(struct tp_tracker *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the last problem; called with the tracker's mutex held. */
static void
set_problem(struct tp_tracker *t, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	vsnprintf(t->t_problem, sizeof(t->t_problem), fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline. */
	n = strlen(t->t_problem);
	while (n > 0 && (t->t_problem[n - 1] == '\n' || t->t_problem[n - 1] == ' '))
		t->t_problem[--n] = '\0';
}

/*
 * The locks are held for a few instructions at a time, by a caller and by
 * a sender thread that competes for the CPU with the database: spinning
 * briefly before sleeping keeps a caller from waiting out a preempted
 * sender's time slice.
 */
static int
mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t	 attr;
	int			 rc;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	rc = pthread_mutex_init(mu, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

/* A condition whose timed waits run on CLOCK_MONOTONIC (mono_after_ms()). */
static int
cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t	 attr;
	int			 rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

/* Opens a connection the way the library does: keywords, then the conninfo. */
static PGconn *
open_conn(const char *conninfo, int64_t deadline, char *problem, size_t size)
{
	static const char *const keywords[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", NULL
	};
	const char	*values[] = {
		APP_NAME, "10", "UTF8", "1", "30", "10", "3", conninfo, NULL
	};

	return conn_open(keywords, values, deadline, problem, size);
}

/* --- the queue (publisher's mutex held) ----------------------------------- */

static void
queue_append(struct tp_publisher *p, struct tp_tracker *t)
{
	t->t_next = NULL;
	if (p->p_tail != NULL)
		p->p_tail->t_next = t;
	else
		p->p_head = t;
	p->p_tail = t;
	t->t_queued = true;
	pthread_cond_signal(&p->p_wake);
}

static void
queue_remove(struct tp_publisher *p, struct tp_tracker *t)
{
	struct tp_tracker	**pp, *prev = NULL;

	for (pp = &p->p_head; *pp != NULL; prev = *pp, pp = &(*pp)->t_next)
		if (*pp == t) {
			*pp = t->t_next;
			if (p->p_tail == t)
				p->p_tail = prev;
			break;
		}
	t->t_queued = false;
	t->t_next = NULL;
}

/* Asks for t to be written; called with the tracker's mutex held. */
static void
enqueue(struct tp_tracker *t)
{
	struct tp_publisher	*p = t->t_pub;

	pthread_mutex_lock(&p->p_mu);
	if (t->t_closing)
		;
	else if (t->t_claimed)
		t->t_requeue = true;
	else if (!t->t_queued)
		queue_append(p, t);
	pthread_mutex_unlock(&p->p_mu);
}

/*
 * Takes up to BATCH_MAX queued trackers with distinct job ids (two trackers
 * of one job go in different batches), claimed.  Returns how many.
 */
static int
queue_take(struct tp_publisher *p, struct tp_tracker **items)
{
	struct tp_tracker	*t, *next;
	int			 n = 0, i;
	bool			 dup;

	for (t = p->p_head; t != NULL && n < BATCH_MAX; t = next) {
		next = t->t_next;
		for (dup = false, i = 0; i < n && !dup; i++)
			dup = strcmp(items[i]->t_job_id, t->t_job_id) == 0;
		if (dup)
			continue;
		queue_remove(p, t);
		t->t_claimed = true;
		items[n++] = t;
	}
	return n;
}

/* --- the senders --------------------------------------------------------- */

/*
 * Opens the sender's connection: asynchronous commit by default (terminal
 * batches turn it back on), statement_timeout of io_timeout, the statements.
 * 0, or -1 with the problem written.
 */
static int
sender_connect(struct sender *s, int64_t deadline, char *problem, size_t size)
{
	struct tp_publisher	*p = s->s_pub;
	char			 timeout[24];
	const char		*params[1] = { timeout };
	PGconn			*conn;
	PGresult		*res = NULL;

	if ((conn = open_conn(p->p_conninfo, deadline, problem, size)) == NULL)
		return -1;
	snprintf(timeout, sizeof(timeout), "%d", p->p_io_timeout_ms);
	if (conn_exec_params(conn, "SELECT set_config('statement_timeout', $1, false),"
	    " set_config('synchronous_commit', 'off', false)", 1, params, 0, deadline,
	    &res) != CONN_OK ||
	    conn_prepare(conn, STORE_PROGRESS_PUT, store_progress_put_sql,
	    STORE_PROGRESS_PUT_NPARAMS, deadline) != CONN_OK ||
	    conn_prepare(conn, STORE_HEARTBEAT, store_heartbeat_sql, 1, deadline) != CONN_OK) {
		snprintf(problem, size, "preparing the connection failed: %s",
		    PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return -1;
	}
	PQclear(res);
	s->s_conn = conn;
	pthread_mutex_lock(&p->p_mu);
	p->p_connects++;
	pthread_mutex_unlock(&p->p_mu);
	return 0;
}

static void
sender_drop(struct sender *s)
{
	PQfinish(s->s_conn);
	s->s_conn = NULL;
}

/* Classifies a failed round trip; drops the connection when it is of no more use. */
static enum outcome
failure(struct sender *s, enum conn_trip trip, PGresult *res, bool in_txn,
    char *problem, size_t size)
{
	const char	*state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	enum outcome	 out;

	if (trip == CONN_TIMEOUT) {
		snprintf(problem, size, "the database did not answer within %dms",
		    s->s_pub->p_io_timeout_ms);
		out = OUT_RETRY;
	} else if (trip == CONN_LOST) {
		snprintf(problem, size, "connection lost: %s", PQerrorMessage(s->s_conn));
		out = OUT_RETRY;
	} else {
		snprintf(problem, size, "%s (SQLSTATE %s)",
		    res ? PQresultErrorMessage(res) : PQerrorMessage(s->s_conn),
		    state ? state : "none");
		out = conn_sqlstate_unavailable(state) || conn_sqlstate_reprepare(state) ?
		    OUT_RETRY : OUT_DBERR;
	}
	/* A fresh session is the simple way out of a half-done transaction too. */
	if (trip != CONN_ERROR || in_txn || conn_sqlstate_reprepare(state) ||
	    PQstatus(s->s_conn) == CONNECTION_BAD)
		sender_drop(s);
	PQclear(res);
	return out;
}

static int
cmp_job_id(const void *a, const void *b)
{
	const struct tp_tracker *const *x = a, *const *y = b;

	return strcmp((*x)->t_job_id, (*y)->t_job_id);
}

/* A stored status, kept with each item of a batch. */
typedef char	 status_buf[16];

/* For the refused items whose stored job is finished: how it finished. */
static void
learn_finished(struct sender *s, struct tp_tracker **items, const enum outcome *out,
    status_buf *status, int n, int64_t deadline)
{
	const char	*ids[BATCH_MAX], *params[1];
	struct tbuf	 array = { 0 };
	PGresult	*res = NULL;
	int		 i, r, m = 0;

	for (i = 0; i < n; i++)
		if (out[i] == OUT_REFUSED)
			ids[m++] = items[i]->t_job_id;
	if (m == 0 || store_text_array(&array, ids, m) == -1)
		goto done;
	params[0] = array.tb_data;
	if (conn_exec_params(s->s_conn, store_progress_finished_sql, 1, params, 0,
	    deadline, &res) == CONN_OK)
		for (r = 0; r < PQntuples(res); r++)
			for (i = 0; i < n; i++)
				if (strcmp(PQgetvalue(res, r, 0), items[i]->t_job_id) == 0)
					snprintf(status[i], sizeof(status[i]), "%s",
					    PQgetvalue(res, r, 1));
	PQclear(res);
done:
	tbuf_free(&array);
}

/*
 * Writes the sending states of items[0..n) (sorted by job id, so that two
 * connections lock rows in the same order) in one statement.  Fills out[]
 * and status[] (what the stored job became, or "" if not known); a
 * problem, if any, in problem.  Runs without any mutex: t_sending of a
 * claimed tracker belongs to its sender.
 */
static void
deliver(struct sender *s, struct tp_tracker **items, int n, enum outcome *out,
    status_buf *status, char *problem, size_t size)
{
	struct put_batch	*pb = &s->s_batch;
	PGresult		*res = NULL;
	enum conn_trip		 trip;
	enum outcome		 fail;
	int64_t			 deadline = mono_ms() + s->s_pub->p_io_timeout_ms;
	bool			 terminal = false;
	int			 i, r;

	for (i = 0; i < n; i++) {
		out[i] = OUT_RETRY;
		status[i][0] = '\0';
		terminal |= job_finished(&items[i]->t_sending);
	}
	if (s->s_conn == NULL && sender_connect(s, deadline, problem, size) == -1)
		return;
	store_batch_reset(pb);
	for (i = 0; i < n; i++)
		if (store_batch_add(pb, items[i]->t_job_id, &items[i]->t_sending) == -1) {
			snprintf(problem, size, "out of memory");
			return;
		}
	if (store_batch_finish(pb) == -1) {
		snprintf(problem, size, "out of memory");
		return;
	}
	if (terminal) {
		/* Durable before complete() returns: this batch commits synchronously. */
		if ((trip = conn_exec_params(s->s_conn, "BEGIN", 0, NULL, 0, deadline,
		    &res)) != CONN_OK)
			goto failed;
		PQclear(res);
		if ((trip = conn_exec_params(s->s_conn,
		    "SELECT set_config('synchronous_commit', 'on', true)", 0, NULL, 0,
		    deadline, &res)) != CONN_OK)
			goto failed;
		PQclear(res);
	}
	trip = conn_exec_prepared(s->s_conn, STORE_PROGRESS_PUT,
	    STORE_PROGRESS_PUT_NPARAMS, pb->pb_values, 0, deadline, &res);
	if (trip != CONN_OK)
		goto failed;
	for (i = 0; i < n; i++)
		out[i] = OUT_REFUSED;
	for (r = 0; r < PQntuples(res); r++)
		for (i = 0; i < n; i++)
			if (strcmp(PQgetvalue(res, r, 0), items[i]->t_job_id) == 0 &&
			    strtoull(PQgetvalue(res, r, 1), NULL, 10) == items[i]->t_sending.js_seq) {
				out[i] = OUT_APPLIED;
				snprintf(status[i], sizeof(status[i]), "%s", PQgetvalue(res, r, 2));
			}
	PQclear(res);
	res = NULL;
	if (terminal && (trip = conn_exec_params(s->s_conn, "COMMIT", 0, NULL, 0, deadline,
	    &res)) != CONN_OK)
		goto failed;
	PQclear(res);
	for (i = 0; i < n && out[i] != OUT_REFUSED; i++)
		continue;
	if (i < n) {
		learn_finished(s, items, out, status, n, deadline);
		snprintf(problem, size, "the database refused a write: the job has finished, "
		    "or another writer is ahead (a newer sequence number or a higher percentage)");
	}
	return;
failed:
	fail = failure(s, trip, res, terminal, problem, size);
	for (i = 0; i < n; i++)
		out[i] = fail;
	/* One bad state must not hold the others back: write them one by one. */
	if (fail == OUT_DBERR && n > 1)
		for (i = 0; i < n; i++)
			deliver(s, &items[i], 1, &out[i], &status[i], problem, size);
}

static void
swap_states(struct job_state *a, struct job_state *b)
{
	struct job_state	 tmp = *a;

	*a = *b;
	*b = tmp;
}

/*
 * What the stored job became tells the tracker whether it was cancelled or
 * finished by someone else.  Called with the tracker's mutex held.
 */
static void
learn_status(struct tp_tracker *t, const char *status)
{
	if (strcmp(status, "cancelled") == 0) {
		t->t_cancelled = true;
		t->t_remote_finished = true;
	} else if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)
		t->t_remote_finished = true;
}

/* Reports the fate of a tracker's write; called with its mutex held. */
static void
settle(struct tp_tracker *t, enum outcome out, const char *status, const char *problem)
{
	bool	 terminal = job_finished(&t->t_sending);

	t->t_in_flight = false;
	if (problem[0] != '\0' && out != OUT_APPLIED)
		set_problem(t, "%s", problem);
	switch (out) {
	case OUT_APPLIED:
		t->t_stats.ts_writes++;
		t->t_stats.ts_committed_seq = t->t_sending.js_seq;
		t->t_written = true;
		learn_status(t, status);
		if (t->t_cancelled)
			set_problem(t, "%s", "the job was cancelled: stop training");
		if (terminal) {
			t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_OK;
			t->t_terminal_settled = true;
		}
		break;
	case OUT_REFUSED:
		t->t_stats.ts_refused++;
		learn_status(t, status);
		if (terminal) {
			t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_ECONFLICT;
			t->t_terminal_settled = true;
		}
		break;
	case OUT_DBERR:
		if (terminal) {
			/* Reported now; still retried, in case someone fixes it. */
			t->t_terminal_err = TP_EDB;
			t->t_terminal_settled = true;
		}
		/* FALLTHROUGH */
	case OUT_RETRY:
		t->t_stats.ts_failures++;
		if (!t->t_has_pending) {
			swap_states(&t->t_sending, &t->t_pending);
			t->t_has_pending = true;
		} else
			t->t_stats.ts_coalesced++;
		break;
	}
	if (t->t_has_pending)
		enqueue(t);
	pthread_cond_broadcast(&t->t_done);
}

/* Should t send heartbeats from now on?  Tracker's mutex held. */
static bool
wants_heartbeat(const struct tp_tracker *t)
{
	return t->t_opts.heartbeat_ms > 0 && t->t_written && !t->t_remote_finished &&
	    !job_finished(&t->t_state);
}

/*
 * Heartbeats: for up to BATCH_MAX attached trackers whose heartbeat is due
 * and that have nothing else to write, says the jobs are alive.  A job
 * being cancelled is finished as cancelled by this, and its tracker learns
 * it.  Called with the publisher's mutex held; releases it meanwhile.
 */
static void
send_heartbeats(struct sender *s, int64_t now)
{
	struct tp_publisher	*p = s->s_pub;
	struct tp_tracker	*items[BATCH_MAX], *t;
	const char		*ids[BATCH_MAX], *params[1];
	status_buf		 status[BATCH_MAX];
	struct tbuf		 array = { 0 };
	PGresult		*res = NULL;
	char			 problem[256];
	int64_t			 deadline;
	int			 i, n = 0, r;
	bool			 ok = false;

	for (t = p->p_all; t != NULL && n < BATCH_MAX; t = t->t_all_next)
		if (t->t_hb_due != 0 && t->t_hb_due <= now && !t->t_queued && !t->t_claimed &&
		    !t->t_closing) {
			t->t_claimed = true;
			t->t_hb_due = 0;
			items[n] = t;
			ids[n++] = t->t_job_id;
		}
	if (n == 0)
		return;
	pthread_mutex_unlock(&p->p_mu);

	deadline = mono_ms() + p->p_io_timeout_ms;
	for (i = 0; i < n; i++)
		status[i][0] = '\0';
	if ((s->s_conn != NULL || sender_connect(s, deadline, problem, sizeof(problem)) == 0) &&
	    store_text_array(&array, ids, n) == 0) {
		params[0] = array.tb_data;
		switch (conn_exec_prepared(s->s_conn, STORE_HEARTBEAT, 1, params, 0, deadline, &res)) {
		case CONN_OK:
			ok = true;
			for (r = 0; r < PQntuples(res); r++)
				for (i = 0; i < n; i++)
					if (strcmp(PQgetvalue(res, r, 0), ids[i]) == 0)
						snprintf(status[i], sizeof(status[i]), "%s",
						    PQgetvalue(res, r, 1));
			break;
		case CONN_ERROR:
			break;
		default:
			sender_drop(s);
			break;
		}
		PQclear(res);
	}
	tbuf_free(&array);

	for (i = 0; i < n; i++) {
		t = items[i];
		pthread_mutex_lock(&t->t_mu);
		if (ok) {
			t->t_stats.ts_heartbeats++;
			learn_status(t, status[i]);
			if (t->t_cancelled)
				set_problem(t, "%s", "the job was cancelled: stop training");
		}
		/* A missed heartbeat is tried again at the next one. */
		t->t_hb_next = wants_heartbeat(t) ? mono_ms() + t->t_opts.heartbeat_ms : 0;
		pthread_cond_broadcast(&t->t_done);
		pthread_mutex_unlock(&t->t_mu);
	}
	pthread_mutex_lock(&p->p_mu);
	for (i = 0; i < n; i++) {
		t = items[i];
		t->t_claimed = false;
		t->t_hb_due = t->t_hb_next;
		if (t->t_requeue) {
			t->t_requeue = false;
			if (!t->t_queued && !t->t_closing)
				queue_append(p, t);
		}
	}
	pthread_cond_broadcast(&p->p_released);
}

/* The earliest heartbeat due among the attached trackers, or -1.  p_mu held. */
static int64_t
next_heartbeat(struct tp_publisher *p)
{
	struct tp_tracker	*t;
	int64_t			 next = -1;

	for (t = p->p_all; t != NULL; t = t->t_all_next)
		if (t->t_hb_due != 0 && !t->t_closing && (next == -1 || t->t_hb_due < next))
			next = t->t_hb_due;
	return next;
}

static void *
sender_main(void *arg)
{
	struct sender		*s = arg;
	struct tp_publisher	*p = s->s_pub;
	struct tp_tracker	*claimed[BATCH_MAX], *items[BATCH_MAX], *t;
	enum outcome		 out[BATCH_MAX];
	status_buf		 status[BATCH_MAX];
	bool			 failed, succeeded;
	char			 problem[512];
	struct timespec		 until;
	int64_t			 now, hb, wake;
	int			 n, i, k;
	struct sched_param	 sp = { 0 };

	/*
	 * Progress must never slow the training loop.  A batch-scheduled thread
	 * does not preempt the loop's thread when it wakes up to write; it runs
	 * when the loop's time slice ends, or on a free core.
	 */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);

	pthread_mutex_lock(&p->p_mu);
	for (;;) {
		/* Wait for states to write, a heartbeat due, or the end of a pause. */
		while (!p->p_stop) {
			now = mono_ms();
			hb = next_heartbeat(p);
			if (now >= p->p_retry_at) {
				if (p->p_head != NULL)
					break;
				if (hb != -1 && hb <= now) {
					send_heartbeats(s, now);
					continue;
				}
			}
			wake = p->p_head != NULL ? p->p_retry_at : -1;
			if (hb != -1) {
				hb = hb > p->p_retry_at ? hb : p->p_retry_at;
				wake = wake == -1 || hb < wake ? hb : wake;
			}
			if (wake == -1)
				pthread_cond_wait(&p->p_wake, &p->p_mu);
			else {
				until = mono_after_ms(wake - now);
				(void)pthread_cond_timedwait(&p->p_wake, &p->p_mu, &until);
			}
		}
		if (p->p_stop)
			break;
		n = queue_take(p, claimed);
		pthread_mutex_unlock(&p->p_mu);

		/* Take each one's pending state (a tracker may have none left). */
		for (i = k = 0; i < n; i++) {
			t = claimed[i];
			pthread_mutex_lock(&t->t_mu);
			if (t->t_has_pending) {
				swap_states(&t->t_sending, &t->t_pending);
				t->t_has_pending = false;
				t->t_in_flight = true;
				items[k++] = t;
			}
			pthread_mutex_unlock(&t->t_mu);
		}
		qsort(items, (size_t)k, sizeof(items[0]), cmp_job_id);
		problem[0] = '\0';
		if (k > 0)
			deliver(s, items, k, out, status, problem, sizeof(problem));

		failed = succeeded = false;
		for (i = 0; i < k; i++) {
			t = items[i];
			pthread_mutex_lock(&t->t_mu);
			settle(t, out[i], status[i], problem);
			t->t_hb_next = wants_heartbeat(t) ? mono_ms() + t->t_opts.heartbeat_ms : 0;
			pthread_mutex_unlock(&t->t_mu);
			failed |= out[i] == OUT_RETRY || out[i] == OUT_DBERR;
			succeeded |= out[i] == OUT_APPLIED || out[i] == OUT_REFUSED;
		}

		/* Let go of every tracker taken, and queue again those that asked. */
		pthread_mutex_lock(&p->p_mu);
		for (i = 0; i < k; i++)
			items[i]->t_hb_due = items[i]->t_hb_next;
		for (i = 0; i < n; i++) {
			t = claimed[i];
			t->t_claimed = false;
			if (t->t_requeue) {
				t->t_requeue = false;
				if (!t->t_queued && !t->t_closing)
					queue_append(p, t);
			}
		}
		pthread_cond_broadcast(&p->p_released);
		if (failed) {
			p->p_retry_at = mono_ms() + p->p_retry_ms;
			p->p_retry_ms = p->p_retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
			    p->p_retry_ms * 2;
		} else if (succeeded)
			p->p_retry_ms = RETRY_MIN_MS;
	}
	pthread_mutex_unlock(&p->p_mu);
	return NULL;
}

/* --- publishers ------------------------------------------------------------ */

/* Stops the threads and frees everything; the last hold is gone. */
static void
publisher_destroy(struct tp_publisher *p)
{
	int	 i;

	pthread_mutex_lock(&p->p_mu);
	p->p_stop = true;
	pthread_cond_broadcast(&p->p_wake);
	pthread_mutex_unlock(&p->p_mu);
	for (i = 0; i < p->p_started; i++)
		pthread_join(p->p_senders[i].s_thread, NULL);
	for (i = 0; i < p->p_nsenders; i++) {
		if (p->p_senders[i].s_conn != NULL)
			PQfinish(p->p_senders[i].s_conn);
		store_batch_free(&p->p_senders[i].s_batch);
	}
	pthread_cond_destroy(&p->p_released);
	pthread_cond_destroy(&p->p_wake);
	pthread_mutex_destroy(&p->p_mu);
	free(p->p_conninfo);
	free(p);
}

static void
publisher_release(struct tp_publisher *p)
{
	bool	 last;

	pthread_mutex_lock(&p->p_mu);
	last = --p->p_refs == 0;
	pthread_mutex_unlock(&p->p_mu);
	if (last)
		publisher_destroy(p);
}

TP_API enum tp_err
tp_publisher_open(struct tp_publisher **out, const struct tp_options *opts, int connections)
{
	struct tp_options	 defaults;
	struct tp_publisher	*p;
	const char		*url;
	sigset_t		 all, old;
	int			 i, rc = 0;

	if (out == NULL)
		return TP_EINVAL;
	*out = NULL;
	if (opts == NULL) {
		tp_options_init(&defaults);
		opts = &defaults;
	}
	if (connections < 1 || connections > SENDERS_MAX || opts->io_timeout_ms <= 0)
		return TP_EINVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return TP_ENOMEM;
	url = opts->conninfo != NULL ? opts->conninfo : getenv("DATABASE_URL");
	if (url != NULL && *url != '\0' && (p->p_conninfo = strdup(url)) == NULL) {
		free(p);
		return TP_ENOMEM;
	}
	p->p_io_timeout_ms = opts->io_timeout_ms;
	p->p_retry_ms = RETRY_MIN_MS;
	p->p_refs = 1;
	p->p_generation = generation();
	p->p_nsenders = connections;
	if (mutex_init(&p->p_mu) != 0) {
		free(p->p_conninfo);
		free(p);
		return TP_ESYS;
	}
	cond_init(&p->p_wake);
	cond_init(&p->p_released);
	/* Senders take no signals: the program's handlers run on its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < connections; i++) {
		p->p_senders[i].s_pub = p;
		if ((rc = pthread_create(&p->p_senders[i].s_thread, NULL, sender_main,
		    &p->p_senders[i])) != 0)
			break;
		p->p_started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		publisher_destroy(p);
		errno = rc;
		return TP_ESYS;
	}
	*out = p;
	return TP_OK;
}

TP_API void
tp_publisher_close(struct tp_publisher *p)
{
	if (p == NULL)
		return;
	if (generation() != p->p_generation)
		return;		/* a child after fork: the parent's, not ours */
	publisher_release(p);
}

/* --- trackers: the callers' side ------------------------------------------ */

/*
 * Gives the state just changed a sequence number and an ETA, and hands a
 * copy to the publisher.  Called with the tracker's mutex held.
 */
static enum tp_err
record(struct tp_tracker *t)
{
	struct job_state	*js = &t->t_state;
	int64_t			 now = clock_us(t);
	uint64_t		 seq = now > 0 ? (uint64_t)now : 0;

	js->js_seq = seq > js->js_seq ? seq : js->js_seq + 1;
	if (js->js_phase == JOB_RUNNING && js->js_step != TP_STEP_NONE) {
		js->js_has_eta = eta_observe(&t->t_eta, js->js_step, js->js_pct, now,
		    &js->js_eta_us);
		/* A tracker that continues a stored job has no history of its own yet. */
		if (!js->js_has_eta && t->t_resumed)
			js->js_has_eta = eta_from_step_start(js->js_step, js->js_pct,
			    js->js_step_started_us, now, &js->js_eta_us);
	} else
		js->js_has_eta = false;
	if (job_copy(&t->t_pending, js) == -1) {
		t->t_has_pending = false;
		return TP_ENOMEM;
	}
	if (t->t_has_pending)
		t->t_stats.ts_coalesced++;
	t->t_stats.ts_states++;
	t->t_stats.ts_seq = js->js_seq;
	t->t_has_pending = true;
	/* Being written now: the sender queues it again when it is done. */
	if (!t->t_in_flight)
		enqueue(t);
	return TP_OK;
}

/* Locks t for a caller, or says why not. */
static enum tp_err
enter(struct tp_tracker *t)
{
	if (t == NULL)
		return TP_EINVAL;
	if (generation() != t->t_generation)
		return TP_EFORK;
	pthread_mutex_lock(&t->t_mu);
	return TP_OK;
}

static enum tp_err
leave(struct tp_tracker *t, enum tp_err err, const char *why)
{
	if (why != NULL)
		set_problem(t, "%s", why);
	pthread_mutex_unlock(&t->t_mu);
	return err;
}

static void
tracker_free(struct tp_tracker *t)
{
	job_free(&t->t_state);
	job_free(&t->t_pending);
	job_free(&t->t_sending);
	free(t);
}

TP_API enum tp_err
tp_tracker_open(struct tp_tracker **out, const char *job_id, const struct tp_options *opts)
{
	struct tp_tracker	*t;
	enum tp_err		 err;
	size_t			 len;

	if (out == NULL)
		return TP_EINVAL;
	*out = NULL;
	if (job_id == NULL)
		return TP_EINVAL;
	len = strlen(job_id);
	if (tp_job_id_problem(job_id, len) != NULL)
		return TP_EINVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return TP_ENOMEM;
	memcpy(t->t_job_id, job_id, len + 1);
	if (opts != NULL)
		t->t_opts = *opts;
	else
		tp_options_init(&t->t_opts);
	if (t->t_opts.io_timeout_ms <= 0 || t->t_opts.terminal_timeout_ms < 0 ||
	    t->t_opts.close_timeout_ms < 0) {
		free(t);
		return TP_EINVAL;
	}
	t->t_opts.conninfo = NULL;	/* the publisher keeps its own copy */
	t->t_generation = generation();
	job_init(&t->t_state);
	job_init(&t->t_pending);
	job_init(&t->t_sending);
	eta_reset(&t->t_eta);
	if (mutex_init(&t->t_mu) != 0) {
		tracker_free(t);
		return TP_ESYS;
	}
	cond_init(&t->t_done);

	if (opts != NULL && opts->publisher != NULL) {
		t->t_pub = opts->publisher;
		pthread_mutex_lock(&t->t_pub->p_mu);
		t->t_pub->p_refs++;
		pthread_mutex_unlock(&t->t_pub->p_mu);
	} else if ((err = tp_publisher_open(&t->t_pub, opts, 1)) != TP_OK) {
		/* The private publisher's only hold is the tracker's. */
		pthread_cond_destroy(&t->t_done);
		pthread_mutex_destroy(&t->t_mu);
		tracker_free(t);
		return err;
	}
	pthread_mutex_lock(&t->t_pub->p_mu);
	t->t_all_next = t->t_pub->p_all;
	t->t_pub->p_all = t;
	pthread_mutex_unlock(&t->t_pub->p_mu);
	*out = t;
	return TP_OK;
}

/* Loads the stored state on a connection of its own, closed afterwards. */
static enum tp_err
resume(struct tp_tracker *t)
{
	const char		*params[2] = { t->t_job_id, NULL }, *why;
	struct progress_row	 row;
	char			 problem[256];
	PGconn			*conn;
	PGresult		*res = NULL;
	enum tp_err		 err;
	int64_t			 deadline = mono_ms() + t->t_pub->p_io_timeout_ms;

	if ((conn = open_conn(t->t_pub->p_conninfo, deadline, problem, sizeof(problem))) == NULL) {
		set_problem(t, "%s", problem);
		return TP_ETIMEDOUT;
	}
	switch (conn_exec_params(conn, store_progress_get_sql, 2, params, 1, deadline, &res)) {
	case CONN_OK:
		break;
	case CONN_ERROR:
		set_problem(t, "reading the stored progress failed: %s", PQresultErrorMessage(res));
		err = TP_EDB;
		goto done;
	default:
		set_problem(t, "reading the stored progress failed: %s", PQerrorMessage(conn));
		err = TP_ETIMEDOUT;
		goto done;
	}
	if (PQntuples(res) == 0) {
		set_problem(t, "job %s has no stored progress", t->t_job_id);
		err = TP_ENOTFOUND;
		goto done;
	}
	if (store_decode_progress(res, 0, &row) == -1) {
		set_problem(t, "%s", "the stored row does not have the columns this library expects");
		err = TP_EDB;
		goto done;
	}
	if ((err = job_from_row(&t->t_state, &row, &why)) != TP_OK)
		set_problem(t, "%s", why);
	else {
		t->t_resumed = true;
		t->t_written = true;
		if (job_finished(&t->t_state)) {
			/* Finished before we came: every later call says so. */
			t->t_remote_finished = true;
			t->t_cancelled = t->t_state.js_phase == JOB_CANCELLED;
			t->t_terminal_settled = true;
			t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_EFINISHED;
		}
	}
done:
	PQclear(res);
	PQfinish(conn);
	return err;
}

TP_API enum tp_err
tp_tracker_resume(struct tp_tracker *t)
{
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if (t->t_stats.ts_states != 0)
		return leave(t, TP_ESTATE, "resume must come before anything else");
	return leave(t, resume(t), NULL);
}

/* Calls that change the job: not once it was cancelled or finished elsewhere. */
static enum tp_err
closed_for_writes(struct tp_tracker *t)
{
	if (t->t_cancelled)
		return TP_ECANCELLED;
	if (t->t_remote_finished && !job_finished(&t->t_state))
		return TP_EFINISHED;
	return TP_OK;
}

TP_API enum tp_err
tp_tracker_queue(struct tp_tracker *t)
{
	const char	*why = NULL;
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if ((err = closed_for_writes(t)) != TP_OK)
		return leave(t, err, NULL);
	if ((err = job_queue(&t->t_state, &why)) != TP_OK)
		return leave(t, err, why);
	return leave(t, record(t), NULL);
}

TP_API enum tp_err
tp_tracker_start(struct tp_tracker *t, const char *step_key, const char *details_json)
{
	const char	*why = NULL;
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if ((err = closed_for_writes(t)) != TP_OK)
		return leave(t, err, NULL);
	if ((err = job_start(&t->t_state, step_key, details_json, clock_us(t), &why)) != TP_OK)
		return leave(t, err, why);
	return leave(t, record(t), NULL);
}

TP_API enum tp_err
tp_tracker_update(struct tp_tracker *t, const struct tp_update *u)
{
	const char	*why = NULL;
	enum tp_err	 err;

	if (u == NULL)
		return TP_EINVAL;
	if ((err = enter(t)) != TP_OK)
		return err;
	if ((err = closed_for_writes(t)) != TP_OK)
		return leave(t, err, NULL);
	if ((err = job_update(&t->t_state, u, &why)) != TP_OK)
		return leave(t, err, why);
	return leave(t, record(t), NULL);
}

/* Waits for the terminal write to settle; the tracker's mutex is held. */
static enum tp_err
wait_terminal(struct tp_tracker *t)
{
	struct timespec	 until = mono_after_ms(t->t_opts.terminal_timeout_ms);
	int64_t		 deadline = mono_ms() + t->t_opts.terminal_timeout_ms;

	while (!t->t_terminal_settled && mono_ms() < deadline)
		if (pthread_cond_timedwait(&t->t_done, &t->t_mu, &until) == ETIMEDOUT)
			break;
	return t->t_terminal_settled ? t->t_terminal_err : TP_ETIMEDOUT;
}

/*
 * complete() and error(): record the terminal state once, then wait; asked
 * again (after TP_ETIMEDOUT), they only wait again.
 */
static enum tp_err
finish(struct tp_tracker *t, enum job_phase phase, const char *message)
{
	const char	*why = NULL;
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if (t->t_state.js_phase == phase)
		return leave(t, wait_terminal(t), NULL);
	if (t->t_cancelled)
		return leave(t, TP_ECANCELLED, "the job was cancelled");
	if (t->t_state.js_phase != JOB_RUNNING || t->t_remote_finished)
		return leave(t, TP_EFINISHED, "the job has already finished");
	err = phase == JOB_COMPLETE ? job_complete(&t->t_state, &why) :
	    job_fail(&t->t_state, message, &why);
	if (err != TP_OK)
		return leave(t, err, why);
	t->t_terminal_settled = false;
	if ((err = record(t)) != TP_OK)
		return leave(t, err, "out of memory");
	return leave(t, wait_terminal(t), NULL);
}

TP_API enum tp_err
tp_tracker_complete(struct tp_tracker *t)
{
	return finish(t, JOB_COMPLETE, NULL);
}

TP_API enum tp_err
tp_tracker_error(struct tp_tracker *t, const char *message)
{
	return finish(t, JOB_FAILED, message);
}

/* Waits until nothing is pending or in flight; the tracker's mutex is held. */
static bool
wait_idle(struct tp_tracker *t, int timeout_ms)
{
	struct timespec	 until = mono_after_ms(timeout_ms);
	int64_t		 deadline = mono_ms() + timeout_ms;

	while ((t->t_has_pending || t->t_in_flight) && mono_ms() < deadline)
		if (pthread_cond_timedwait(&t->t_done, &t->t_mu, &until) == ETIMEDOUT)
			break;
	return !t->t_has_pending && !t->t_in_flight;
}

TP_API enum tp_err
tp_tracker_flush(struct tp_tracker *t, int timeout_ms)
{
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if (!wait_idle(t, timeout_ms))
		return leave(t, TP_ETIMEDOUT, NULL);
	return leave(t, t->t_cancelled ? TP_ECANCELLED : TP_OK, NULL);
}

TP_API void
tp_tracker_stats(struct tp_tracker *t, struct tp_tracker_stats *st)
{
	if (enter(t) != TP_OK) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = t->t_stats;
	pthread_mutex_lock(&t->t_pub->p_mu);
	st->ts_reconnects = t->t_pub->p_connects;
	pthread_mutex_unlock(&t->t_pub->p_mu);
	(void)leave(t, TP_OK, NULL);
}

TP_API size_t
tp_tracker_problem(struct tp_tracker *t, char *buf, size_t size)
{
	size_t	 len;

	if (enter(t) != TP_OK) {
		if (size > 0)
			buf[0] = '\0';
		return 0;
	}
	len = strlen(t->t_problem);
	if (size > 0)
		snprintf(buf, size, "%s", t->t_problem);
	(void)leave(t, TP_OK, NULL);
	return len;
}

TP_API void
tp_tracker_close(struct tp_tracker *t)
{
	struct tp_publisher	*p;
	struct tp_tracker	**pp;

	if (t == NULL)
		return;
	if (generation() != t->t_generation) {
		/*
		 * A child after fork: the threads and connections are the
		 * parent's.  Free the memory only; the mutexes, which may have
		 * been copied locked, are not touched either.
		 */
		tracker_free(t);
		return;
	}
	p = t->t_pub;
	pthread_mutex_lock(&t->t_mu);
	(void)wait_idle(t, t->t_opts.close_timeout_ms);
	pthread_mutex_unlock(&t->t_mu);

	/* Out of the queue for good, and wait for a sender that holds it. */
	pthread_mutex_lock(&p->p_mu);
	t->t_closing = true;
	if (t->t_queued)
		queue_remove(p, t);
	while (t->t_claimed)
		pthread_cond_wait(&p->p_released, &p->p_mu);
	for (pp = &p->p_all; *pp != NULL; pp = &(*pp)->t_all_next)
		if (*pp == t) {
			*pp = t->t_all_next;
			break;
		}
	pthread_mutex_unlock(&p->p_mu);

	pthread_cond_destroy(&t->t_done);
	pthread_mutex_destroy(&t->t_mu);
	tracker_free(t);
	publisher_release(p);
}

/*
 * publisher.c: a publisher's sender threads, which write what its trackers
 * (tracker.c) record.
 *
 * A sender takes queued trackers, up to BATCH_MAX at a time with distinct
 * job ids, moves each one's pending state into t_sending, and writes them
 * all in one round trip on its own session of the store, within
 * io_timeout.  What became of each write is settled back into its tracker
 * under the tracker's mutex and signalled on t_done.  A write that fails
 * (the database is away) goes back into the slot unless a newer state is
 * already there, and the publisher pauses before trying again: 100 ms,
 * doubling up to 2 s, 100 ms again after an answer.  A batch holding a
 * terminal state commits synchronously.  A job with nothing new to say is
 * said to be alive every heartbeat_ms, and learns what became of it too.
 * A tracker's updates within a step wait until min_write_interval_ms has
 * passed since its last write (coalescing meanwhile); a new step or status,
 * a flush or a close do not wait.
 *
 * The database is reached only through a struct store_ops (store.c's
 * store_pg, or a test's fake), and time read only through a struct
 * pub_clock: all of this runs in a unit test without PostgreSQL or
 * waiting.  Locks: publisher.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publisher.h"

#define BATCH_MAX	64
#define SENDERS_MAX	16
#define RETRY_MIN_MS	100
#define RETRY_MAX_MS	2000

struct sender {
	struct tp_publisher	*s_pub;
	pthread_t		 s_thread;
	void			*s_session;		/* the store's; NULL: none yet */
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
	int64_t		 p_retry_at;		/* clock instant: no writes before this */
	int64_t		 p_retry_ms;		/* the pause after the next failure */
	uint64_t	 p_connects;

	/* Set at open, then only read. */
	unsigned	 p_generation;		/* fork_generation() at open */
	const struct store_ops *p_store;
	void		*p_store_arg;
	struct store_conf p_conf;		/* store_pg's arg */
	struct pub_clock p_clock;
	char		*p_conninfo;		/* NULL: libpq's defaults */
	int		 p_io_timeout_ms;
	int		 p_nsenders;
	int		 p_started;		/* threads running */
	struct sender	 p_senders[SENDERS_MAX];
};

/* What time it is on the publisher's clock. */
static int64_t
now(struct tp_publisher *p)
{
	return p->p_clock.pc_now(p->p_clock.pc_arg);
}

/* --- the queue (publisher's mutex held) ------------------------------------ */

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

void
publisher_enqueue(struct tp_tracker *t)
{
	struct tp_publisher	*p = t->t_pub;

	pthread_mutex_lock(&p->p_mu);
	if (t->t_closing)
		;
	else {
		t->t_q_rush |= t->t_rush;
		if (t->t_claimed)
			t->t_requeue = true;
		else if (!t->t_queued)
			queue_append(p, t);
		else if (t->t_rush)
			pthread_cond_signal(&p->p_wake);
	}
	pthread_mutex_unlock(&p->p_mu);
}

/* The clock instant from which queued t may be written.  p_mu held. */
static int64_t
write_due(const struct tp_tracker *t)
{
	return t->t_q_rush ? 0 : t->t_write_after;
}

/* The earliest instant a queued tracker may be written, or -1: none queued.  p_mu held. */
static int64_t
queue_due(struct tp_publisher *p)
{
	struct tp_tracker	*t;
	int64_t			 due = -1;

	for (t = p->p_head; t != NULL; t = t->t_next)
		if (due == -1 || write_due(t) < due)
			due = write_due(t);
	return due;
}

/*
 * Takes up to BATCH_MAX queued trackers with distinct job ids (two trackers
 * of one job go in different batches), claimed.  Returns how many.
 */
static int
queue_take(struct tp_publisher *p, struct tp_tracker **items)
{
	struct tp_tracker	*t, *next;
	int64_t			 t_now = now(p);
	int			 n = 0, i;
	bool			 dup;

	for (t = p->p_head; t != NULL && n < BATCH_MAX; t = next) {
		next = t->t_next;
		if (write_due(t) > t_now)
			continue;
		for (dup = false, i = 0; i < n && !dup; i++)
			dup = strcmp(items[i]->t_job_id, t->t_job_id) == 0;
		if (dup)
			continue;
		queue_remove(p, t);
		t->t_claimed = true;
		t->t_q_rush = false;
		/* The interval runs from the start of a write, not its end: a
		   caller updating exactly that often is never held back. */
		t->t_write_after = t_now + t->t_opts.min_write_interval_ms;
		items[n++] = t;
	}
	return n;
}

/* Lets go of claimed trackers, queueing again those that asked.  p_mu held. */
static void
let_go(struct tp_publisher *p, struct tp_tracker **claimed, int n)
{
	struct tp_tracker	*t;
	int			 i;

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
}

/* --- the senders' sessions (no lock held) ----------------------------------- */

/* Makes sure the sender has a session; false with the problem written. */
static bool
sender_ready(struct sender *s, int64_t deadline, char *problem, size_t size)
{
	struct tp_publisher	*p = s->s_pub;

	if (s->s_session != NULL)
		return true;
	if ((s->s_session = p->p_store->so_connect(p->p_store_arg, deadline, problem,
	    size)) == NULL)
		return false;
	pthread_mutex_lock(&p->p_mu);
	p->p_connects++;
	pthread_mutex_unlock(&p->p_mu);
	return true;
}

/* Drops the session when a round trip says it is of no more use. */
static void
sender_after(struct sender *s, enum store_trip trip)
{
	if (trip == TRIP_DROP) {
		s->s_pub->p_store->so_drop(s->s_session);
		s->s_session = NULL;
	}
}

/*
 * Writes items[0..n) (sorted by job id) in one round trip, and for those
 * refused learns whether their job is finished.  Fills each item's result
 * and status (what the stored job became, or "" if not known); a problem,
 * if any, in problem.  Runs without any lock: the items' states are the
 * t_sending of trackers this sender has claimed.
 */
static void
deliver(struct sender *s, struct store_item *items, int n, char *problem, size_t size)
{
	struct tp_publisher	*p = s->s_pub;
	int64_t			 deadline = now(p) + p->p_io_timeout_ms;
	enum store_trip		 trip;
	bool			 durable = false, refused = false;
	int			 i;

	for (i = 0; i < n; i++) {
		items[i].it_result = PUT_RETRY;
		items[i].it_status[0] = '\0';
		durable |= job_finished(items[i].it_state);
	}
	if (!sender_ready(s, deadline, problem, size))
		return;
	trip = p->p_store->so_put(s->s_session, items, n, durable, deadline, problem, size);
	sender_after(s, trip);
	if (trip == TRIP_OK) {
		for (i = 0; i < n; i++)
			refused |= items[i].it_result == PUT_REFUSED;
		if (!refused)
			return;
		sender_after(s, p->p_store->so_finished(s->s_session, items, n, deadline));
		snprintf(problem, size, "the database refused a write: the job has finished, "
		    "or another writer is ahead (a newer sequence number or a higher percentage)");
		return;
	}
	/* One bad state must not hold the others back: write them one by one. */
	if (items[0].it_result == PUT_DBERR && n > 1)
		for (i = 0; i < n; i++)
			deliver(s, &items[i], 1, problem, size);
}

/* --- settling outcomes (the tracker's mutex held) ---------------------------- */

/* What the stored job became says whether it was cancelled or finished by someone else. */
static void
learn_status(struct tp_tracker *t, const char *status)
{
	if (strcmp(status, "cancelled") == 0) {
		t->t_cancelled = true;
		t->t_remote_finished = true;
	} else if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)
		t->t_remote_finished = true;
}

/* Should t send heartbeats from now on? */
static bool
wants_heartbeat(const struct tp_tracker *t)
{
	return t->t_opts.heartbeat_ms > 0 && t->t_written && !t->t_remote_finished &&
	    !job_finished(&t->t_state);
}

/* Reports the fate of a tracker's write. */
static void
settle(struct tp_tracker *t, const struct store_item *it, const char *problem)
{
	bool	 terminal = job_finished(&t->t_sending);

	t->t_in_flight = false;
	if (problem[0] != '\0' && it->it_result != PUT_APPLIED)
		tracker_problem(t, "%s", problem);
	switch (it->it_result) {
	case PUT_APPLIED:
		t->t_stats.ts_writes++;
		t->t_stats.ts_committed_seq = t->t_sending.js_seq;
		t->t_written = true;
		learn_status(t, it->it_status);
		if (t->t_cancelled)
			tracker_problem(t, "%s", "the job was cancelled: stop training");
		if (terminal) {
			t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_OK;
			t->t_terminal_settled = true;
		}
		break;
	case PUT_REFUSED:
		t->t_stats.ts_refused++;
		learn_status(t, it->it_status);
		if (terminal) {
			t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_ECONFLICT;
			t->t_terminal_settled = true;
		}
		break;
	case PUT_DBERR:
		if (terminal) {
			/* Reported now; still retried, in case someone fixes it. */
			t->t_terminal_err = TP_EDB;
			t->t_terminal_settled = true;
		}
		/* FALLTHROUGH */
	case PUT_RETRY:
		t->t_stats.ts_failures++;
		if (t->t_sending_end && !t->t_has_step_end) {
			swap_states(&t->t_sending, &t->t_step_end);
			t->t_has_step_end = true;
		} else if (!t->t_sending_end && !t->t_has_pending) {
			swap_states(&t->t_sending, &t->t_pending);
			t->t_has_pending = true;
			t->t_rush = true;	/* the pause after a failure is wait enough */
		} else
			t->t_stats.ts_coalesced++;
		break;
	}
	t->t_sending_end = false;
	if (t->t_has_pending || t->t_has_step_end)
		publisher_enqueue(t);
	pthread_cond_broadcast(&t->t_done);
}

/* --- heartbeats -------------------------------------------------------------- */

/*
 * For up to BATCH_MAX attached trackers whose heartbeat is due and that
 * have nothing else to write, says the jobs are alive.  A job being
 * cancelled is finished as cancelled by this, and its tracker learns it.
 * Called with the publisher's mutex held; lets go of it meanwhile.
 */
static void
send_heartbeats(struct sender *s, int64_t t_now)
{
	struct tp_publisher	*p = s->s_pub;
	struct tp_tracker	*claimed[BATCH_MAX], *t;
	struct store_item	 items[BATCH_MAX];
	enum store_trip		 trip = TRIP_FAILED;
	char			 problem[256];
	int64_t			 deadline;
	int			 i, n = 0;

	for (t = p->p_all; t != NULL && n < BATCH_MAX; t = t->t_all_next)
		if (t->t_hb_due != 0 && t->t_hb_due <= t_now && !t->t_queued && !t->t_claimed &&
		    !t->t_closing) {
			t->t_claimed = true;
			t->t_hb_due = 0;
			claimed[n] = t;
			memset(&items[n], 0, sizeof(items[n]));
			items[n++].it_job_id = t->t_job_id;
		}
	if (n == 0)
		return;
	pthread_mutex_unlock(&p->p_mu);

	deadline = now(p) + p->p_io_timeout_ms;
	if (sender_ready(s, deadline, problem, sizeof(problem))) {
		trip = p->p_store->so_heartbeat(s->s_session, items, n, deadline);
		sender_after(s, trip);
	}
	for (i = 0; i < n; i++) {
		t = claimed[i];
		pthread_mutex_lock(&t->t_mu);
		if (trip == TRIP_OK) {
			t->t_stats.ts_heartbeats++;
			learn_status(t, items[i].it_status);
			if (t->t_cancelled)
				tracker_problem(t, "%s", "the job was cancelled: stop training");
		}
		/* A missed heartbeat is tried again at the next one. */
		t->t_hb_next = wants_heartbeat(t) ? now(p) + t->t_opts.heartbeat_ms : 0;
		pthread_cond_broadcast(&t->t_done);
		pthread_mutex_unlock(&t->t_mu);
	}
	pthread_mutex_lock(&p->p_mu);
	for (i = 0; i < n; i++)
		claimed[i]->t_hb_due = claimed[i]->t_hb_next;
	let_go(p, claimed, n);
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

int64_t
publisher_next_heartbeat(struct tp_publisher *p)
{
	int64_t	 next;

	pthread_mutex_lock(&p->p_mu);
	next = next_heartbeat(p);
	pthread_mutex_unlock(&p->p_mu);
	return next;
}

/* --- the sender thread ------------------------------------------------------- */

static int
cmp_job_id(const void *a, const void *b)
{
	const struct tp_tracker *const *x = a, *const *y = b;

	return strcmp((*x)->t_job_id, (*y)->t_job_id);
}

/*
 * Waits for states due to be written, a heartbeat due, or the end of a
 * pause, and sends the heartbeats that are due meanwhile.  False when told
 * to stop.  p_mu held.
 */
static bool
sender_wait(struct sender *s)
{
	struct tp_publisher	*p = s->s_pub;
	int64_t			 t_now, hb, due, wake;

	while (!p->p_stop) {
		t_now = now(p);
		hb = next_heartbeat(p);
		due = queue_due(p);
		if (t_now >= p->p_retry_at) {
			if (due != -1 && due <= t_now)
				return true;
			if (hb != -1 && hb <= t_now) {
				send_heartbeats(s, t_now);
				continue;
			}
		}
		wake = due == -1 ? -1 : due > p->p_retry_at ? due : p->p_retry_at;
		if (hb != -1) {
			hb = hb > p->p_retry_at ? hb : p->p_retry_at;
			wake = wake == -1 || hb < wake ? hb : wake;
		}
		p->p_clock.pc_wait(p->p_clock.pc_arg, &p->p_wake, &p->p_mu, wake);
	}
	return false;
}

static void *
sender_main(void *arg)
{
	struct sender		*s = arg;
	struct tp_publisher	*p = s->s_pub;
	struct tp_tracker	*claimed[BATCH_MAX], *batch[BATCH_MAX], *t;
	struct store_item	 items[BATCH_MAX];
	bool			 failed, succeeded;
	char			 problem[512];
	int			 n, i, k;
	struct sched_param	 sp = { 0 };

	/*
	 * Progress must never slow the training loop.  A batch-scheduled thread
	 * does not preempt the loop's thread when it wakes up to write; it runs
	 * when the loop's time slice ends, or on a free core.
	 */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);

	pthread_mutex_lock(&p->p_mu);
	while (sender_wait(s)) {
		n = queue_take(p, claimed);
		pthread_mutex_unlock(&p->p_mu);

		/*
		 * Take each one's pending state (a tracker may have none left),
		 * or before it the last state of the step before.
		 */
		for (i = k = 0; i < n; i++) {
			t = claimed[i];
			pthread_mutex_lock(&t->t_mu);
			if (t->t_has_step_end) {
				swap_states(&t->t_sending, &t->t_step_end);
				t->t_has_step_end = false;
				t->t_sending_end = true;
			} else if (t->t_has_pending) {
				swap_states(&t->t_sending, &t->t_pending);
				t->t_has_pending = false;
				t->t_rush = false;
			} else {
				pthread_mutex_unlock(&t->t_mu);
				continue;
			}
			t->t_in_flight = true;
			batch[k++] = t;
			pthread_mutex_unlock(&t->t_mu);
		}
		/* Sorted, so that two sessions lock rows in the same order. */
		qsort(batch, (size_t)k, sizeof(batch[0]), cmp_job_id);
		for (i = 0; i < k; i++) {
			items[i].it_job_id = batch[i]->t_job_id;
			items[i].it_state = &batch[i]->t_sending;
		}
		problem[0] = '\0';
		if (k > 0)
			deliver(s, items, k, problem, sizeof(problem));

		failed = succeeded = false;
		for (i = 0; i < k; i++) {
			t = batch[i];
			pthread_mutex_lock(&t->t_mu);
			settle(t, &items[i], problem);
			t->t_hb_next = wants_heartbeat(t) ? now(p) + t->t_opts.heartbeat_ms : 0;
			pthread_mutex_unlock(&t->t_mu);
			failed |= items[i].it_result == PUT_RETRY || items[i].it_result == PUT_DBERR;
			succeeded |= items[i].it_result == PUT_APPLIED ||
			    items[i].it_result == PUT_REFUSED;
		}

		/* Let go of every tracker taken, and queue again those that asked. */
		pthread_mutex_lock(&p->p_mu);
		for (i = 0; i < k; i++)
			batch[i]->t_hb_due = batch[i]->t_hb_next;
		let_go(p, claimed, n);
		if (failed) {
			p->p_retry_at = now(p) + p->p_retry_ms;
			p->p_retry_ms = p->p_retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
			    p->p_retry_ms * 2;
		} else if (succeeded)
			p->p_retry_ms = RETRY_MIN_MS;
	}
	pthread_mutex_unlock(&p->p_mu);
	return NULL;
}

/* --- publishers ---------------------------------------------------------------- */

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
	for (i = 0; i < p->p_nsenders; i++)
		if (p->p_senders[i].s_session != NULL)
			p->p_store->so_drop(p->p_senders[i].s_session);
	pthread_cond_destroy(&p->p_released);
	pthread_cond_destroy(&p->p_wake);
	pthread_mutex_destroy(&p->p_mu);
	free(p->p_conninfo);
	free(p);
}

void
publisher_hold(struct tp_publisher *p)
{
	pthread_mutex_lock(&p->p_mu);
	p->p_refs++;
	pthread_mutex_unlock(&p->p_mu);
}

void
publisher_release(struct tp_publisher *p)
{
	bool	 last;

	pthread_mutex_lock(&p->p_mu);
	last = --p->p_refs == 0;
	pthread_mutex_unlock(&p->p_mu);
	if (last)
		publisher_destroy(p);
}

enum tp_err
publisher_open(struct tp_publisher **out, const struct tp_options *opts, int connections,
    const struct store_ops *store, void *store_arg, const struct pub_clock *clock)
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
	p->p_conf.sc_conninfo = p->p_conninfo;
	p->p_conf.sc_io_timeout_ms = p->p_io_timeout_ms;
	p->p_store = store != NULL ? store : &store_pg;
	p->p_store_arg = store != NULL ? store_arg : &p->p_conf;
	p->p_clock = clock != NULL ? *clock : thread_clock;
	p->p_retry_ms = RETRY_MIN_MS;
	p->p_refs = 1;
	p->p_generation = fork_generation();
	p->p_nsenders = connections;
	if (thread_mutex_init(&p->p_mu) != 0) {
		free(p->p_conninfo);
		free(p);
		return TP_ESYS;
	}
	thread_cond_init(&p->p_wake);
	thread_cond_init(&p->p_released);
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

TP_API enum tp_err
tp_publisher_open(struct tp_publisher **out, const struct tp_options *opts, int connections)
{
	return publisher_open(out, opts, connections, NULL, NULL, NULL);
}

TP_API void
tp_publisher_close(struct tp_publisher *p)
{
	if (p == NULL)
		return;
	if (fork_generation() != p->p_generation)
		return;		/* a child after fork: the parent's, not ours */
	publisher_release(p);
}

void
publisher_attach(struct tp_publisher *p, struct tp_tracker *t)
{
	pthread_mutex_lock(&p->p_mu);
	t->t_all_next = p->p_all;
	p->p_all = t;
	pthread_mutex_unlock(&p->p_mu);
}

void
publisher_detach(struct tp_tracker *t)
{
	struct tp_publisher	*p = t->t_pub;
	struct tp_tracker	**pp;

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
}

uint64_t
publisher_connects(struct tp_publisher *p)
{
	uint64_t	 n;

	pthread_mutex_lock(&p->p_mu);
	n = p->p_connects;
	pthread_mutex_unlock(&p->p_mu);
	return n;
}

enum tp_err
publisher_load(struct tp_publisher *p, const char *job_id, struct job_state *js,
    char *problem, size_t size)
{
	return p->p_store->so_load(p->p_store_arg, job_id, js, now(p) + p->p_io_timeout_ms,
	    problem, size);
}

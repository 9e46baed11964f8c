/*
 * test_publisher.c: lib/publisher.c, and the tracker calls that wait on it,
 * without PostgreSQL: a fake store that logs every call and answers as each
 * test says, and a virtual clock that jumps to whatever instant a sender
 * waits for.  Backoff and heartbeats are asserted on that clock's instants;
 * the only real waits are for a condition, bounded by seconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/publisher.h"

#define CALLS_MAX	512
#define ITEMS_MAX	8
#define T0		1000000		/* where the virtual clock starts */

enum call_kind { CALL_PUT, CALL_FINISHED, CALL_HEARTBEAT };

/* One call of the store, as it came. */
struct call {
	enum call_kind	 c_kind;
	int64_t		 c_at;			/* the virtual clock then */
	bool		 c_durable;
	int		 c_n;
	char		 c_ids[ITEMS_MAX][32];
	uint64_t	 c_seq[ITEMS_MAX];	/* put */
	double		 c_pct[ITEMS_MAX];	/* put */
};

static struct fake {
	pthread_mutex_t	 f_mu;
	pthread_cond_t	 f_cv;			/* any call made, the gate moved */
	_Atomic int64_t	 f_now;			/* the virtual clock */
	_Atomic bool	 f_frozen;		/* ... and waits do not move it */
	struct call	 f_calls[CALLS_MAX];	/* the first ones */
	int		 f_ncalls;
	int		 f_nput, f_nfinished, f_nheartbeat, f_nconnect;
	/* What the store does; changed under f_mu. */
	int		 f_fail_puts;		/* so many puts fail: the database is away */
	bool		 f_gate_closed;		/* puts wait (10 s at most) until it opens */
	int		 f_waiting;		/* puts waiting at the gate */
	bool		 f_refuse;		/* puts are refused */
	const char	*f_finished;		/* the status the finished check gives, or NULL */
	const char	*f_heartbeat;		/* the status heartbeats give */
} fake;

/* Waits (10 s at most) for cond, evaluated under the fake's mutex. */
#define AWAIT(cond) do {							\
	int64_t		 until_ = mono_ms() + 10000;				\
	struct timespec	 ts_;							\
	bool		 ok_;							\
										\
	pthread_mutex_lock(&fake.f_mu);						\
	while (!(cond) && mono_ms() < until_) {					\
		ts_ = mono_after_ms(5);						\
		(void)pthread_cond_timedwait(&fake.f_cv, &fake.f_mu, &ts_);	\
	}									\
	ok_ = (cond);								\
	pthread_mutex_unlock(&fake.f_mu);					\
	cr_assert(ok_, "timed out waiting for %s", #cond);			\
} while (0)

/* Logs a call; f_mu held. */
static void
log_call(enum call_kind kind, const struct store_item *items, int n, bool durable)
{
	struct call	*c;
	int		 i;

	if (fake.f_ncalls >= CALLS_MAX) {
		fake.f_ncalls++;
		return;
	}
	c = &fake.f_calls[fake.f_ncalls++];
	c->c_kind = kind;
	c->c_at = atomic_load(&fake.f_now);
	c->c_durable = durable;
	c->c_n = n;
	for (i = 0; i < n && i < ITEMS_MAX; i++) {
		snprintf(c->c_ids[i], sizeof(c->c_ids[i]), "%s", items[i].it_job_id);
		if (kind == CALL_PUT) {
			c->c_seq[i] = items[i].it_state->js_seq;
			c->c_pct[i] = items[i].it_state->js_pct;
		}
	}
	pthread_cond_broadcast(&fake.f_cv);
}

static void *
fake_connect(void *arg, int64_t deadline, char *problem, size_t size)
{
	(void)arg;
	(void)deadline;
	(void)problem;
	(void)size;
	pthread_mutex_lock(&fake.f_mu);
	fake.f_nconnect++;
	pthread_mutex_unlock(&fake.f_mu);
	return &fake;
}

static enum store_trip
fake_put(void *session, struct store_item *items, int n, bool durable, int64_t deadline,
    char *problem, size_t size)
{
	struct timespec	 until = mono_after_ms(10000);
	enum store_trip	 trip = TRIP_OK;
	int		 i;

	(void)session;
	(void)deadline;
	pthread_mutex_lock(&fake.f_mu);
	fake.f_waiting++;
	pthread_cond_broadcast(&fake.f_cv);
	while (fake.f_gate_closed &&
	    pthread_cond_timedwait(&fake.f_cv, &fake.f_mu, &until) != ETIMEDOUT)
		continue;
	fake.f_waiting--;
	fake.f_nput++;
	log_call(CALL_PUT, items, n, durable);
	for (i = 0; i < n; i++) {
		items[i].it_status[0] = '\0';
		if (fake.f_fail_puts > 0)
			items[i].it_result = PUT_RETRY;
		else if (fake.f_refuse)
			items[i].it_result = PUT_REFUSED;
		else {
			items[i].it_result = PUT_APPLIED;
			snprintf(items[i].it_status, sizeof(items[i].it_status), "%s",
			    job_status(items[i].it_state));
		}
	}
	if (fake.f_fail_puts > 0) {
		fake.f_fail_puts--;
		snprintf(problem, size, "fake: the database is away");
		trip = TRIP_FAILED;
	}
	pthread_mutex_unlock(&fake.f_mu);
	return trip;
}

static enum store_trip
fake_finished(void *session, struct store_item *items, int n, int64_t deadline)
{
	int	 i;

	(void)session;
	(void)deadline;
	pthread_mutex_lock(&fake.f_mu);
	fake.f_nfinished++;
	log_call(CALL_FINISHED, items, n, false);
	for (i = 0; i < n; i++)
		if (items[i].it_result == PUT_REFUSED && fake.f_finished != NULL)
			snprintf(items[i].it_status, sizeof(items[i].it_status), "%s",
			    fake.f_finished);
	pthread_mutex_unlock(&fake.f_mu);
	return TRIP_OK;
}

static enum store_trip
fake_heartbeat(void *session, struct store_item *items, int n, int64_t deadline)
{
	int	 i;

	(void)session;
	(void)deadline;
	pthread_mutex_lock(&fake.f_mu);
	fake.f_nheartbeat++;
	log_call(CALL_HEARTBEAT, items, n, false);
	for (i = 0; i < n; i++)
		snprintf(items[i].it_status, sizeof(items[i].it_status), "%s", fake.f_heartbeat);
	pthread_mutex_unlock(&fake.f_mu);
	return TRIP_OK;
}

static void
fake_drop(void *session)
{
	(void)session;
}

static enum tp_err
fake_load(void *arg, const char *job_id, struct job_state *js, int64_t deadline,
    char *problem, size_t size)
{
	(void)arg;
	(void)js;
	(void)deadline;
	snprintf(problem, size, "fake: job %s has no stored progress", job_id);
	return TP_ENOTFOUND;
}

static const struct store_ops fake_ops = {
	.so_connect = fake_connect,
	.so_put = fake_put,
	.so_finished = fake_finished,
	.so_heartbeat = fake_heartbeat,
	.so_drop = fake_drop,
	.so_load = fake_load,
};

/* The virtual clock: it stands still, except that a sender's wait takes no time. */
static int64_t
virtual_now(void *arg)
{
	(void)arg;
	return atomic_load(&fake.f_now);
}

static void
virtual_wait(void *arg, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until)
{
	struct timespec	 ts;

	(void)arg;
	if (until < 0) {
		pthread_cond_wait(cv, mu);
		return;
	}
	if (until > atomic_load(&fake.f_now) && !atomic_load(&fake.f_frozen))
		atomic_store(&fake.f_now, until);
	/* A real pause of a millisecond keeps a sender from spinning. */
	ts = mono_after_ms(1);
	(void)pthread_cond_timedwait(cv, mu, &ts);
}

static const struct pub_clock virtual_clock = { virtual_now, virtual_wait, NULL };

static void
setup(void)
{
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.f_mu, NULL);
	thread_cond_init(&fake.f_cv);
	atomic_store(&fake.f_now, T0);
	fake.f_heartbeat = "running";
}

TestSuite(publisher, .init = setup, .timeout = 60);

static struct tp_publisher *
open_publisher(int connections)
{
	struct tp_publisher	*p;
	struct tp_options	 o;

	tp_options_init(&o);
	cr_assert_eq(publisher_open(&p, &o, connections, &fake_ops, NULL, &virtual_clock),
	    TP_OK);
	return p;
}

/* A tracker on p writing at most every interval_ms; heartbeat_ms 0: none. */
static struct tp_tracker *
open_tracker_every(struct tp_publisher *p, const char *job_id, int heartbeat_ms,
    int terminal_timeout_ms, int interval_ms)
{
	struct tp_tracker	*t;
	struct tp_options	 o;

	tp_options_init(&o);
	o.publisher = p;
	o.heartbeat_ms = heartbeat_ms;
	o.terminal_timeout_ms = terminal_timeout_ms;
	o.min_write_interval_ms = interval_ms;
	cr_assert_eq(tp_tracker_open(&t, job_id, &o), TP_OK);
	return t;
}

/* The same with the default min_write_interval_ms. */
static struct tp_tracker *
open_tracker(struct tp_publisher *p, const char *job_id, int heartbeat_ms,
    int terminal_timeout_ms)
{
	struct tp_options	 o;

	tp_options_init(&o);
	return open_tracker_every(p, job_id, heartbeat_ms, terminal_timeout_ms,
	    o.min_write_interval_ms);
}

static enum tp_err
step_pct(struct tp_tracker *t, double pct)
{
	struct tp_update	 u = { 0 };

	u.fields = TP_UPD_STEP_PERCENTAGE;
	u.step_percentage = pct;
	return tp_tracker_update(t, &u);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&fake.f_mu);
	fake.f_gate_closed = false;
	pthread_cond_broadcast(&fake.f_cv);
	pthread_mutex_unlock(&fake.f_mu);
}

/* Sets what puts do from now on. */
static void
answer(int fail_puts, bool refuse, const char *finished)
{
	pthread_mutex_lock(&fake.f_mu);
	fake.f_fail_puts = fail_puts;
	fake.f_refuse = refuse;
	fake.f_finished = finished;
	pthread_mutex_unlock(&fake.f_mu);
}

static struct tp_tracker_stats
stats(struct tp_tracker *t)
{
	struct tp_tracker_stats	 st;

	tp_tracker_stats(t, &st);
	return st;
}

Test(publisher, backoff_doubles_from_100ms_to_2s_and_resets_after_a_success)
{
	static const int64_t at[] = { 0, 100, 300, 700, 1500, 3100, 5100, 7100, 7100, 7200 };
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "backoff", 0, 10000);
	int			 i;

	answer(7, false, NULL);
	cr_assert_eq(tp_tracker_start(t, "data_collection", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	cr_assert_eq(fake.f_nput, 8, "seven failures, then the write");
	cr_assert_eq(stats(t).ts_failures, 7);
	cr_assert_eq(stats(t).ts_writes, 1);

	/* After the success, the next failure pauses 100 ms again. */
	answer(1, false, NULL);
	cr_assert_eq(step_pct(t, 50), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	cr_assert_eq(fake.f_nput, 10);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(fake.f_calls[i].c_kind, CALL_PUT);
		cr_assert_eq(fake.f_calls[i].c_at - fake.f_calls[0].c_at, at[i],
		    "put %d at +%lld ms, want +%lld", i,
		    (long long)(fake.f_calls[i].c_at - fake.f_calls[0].c_at), (long long)at[i]);
	}
	cr_assert_eq(stats(t).ts_reconnects, 1, "a failed write keeps its session");
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_newer_state_replaces_one_not_yet_sent)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "coalesce", 0, 10000);
	struct tp_tracker_stats	 st;
	int			 i;

	fake.f_gate_closed = true;
	cr_assert_eq(tp_tracker_start(t, "data_collection", NULL), TP_OK);
	AWAIT(fake.f_waiting == 1);
	/* The start is being written: these wait in the slot, each replacing the last. */
	cr_assert_eq(step_pct(t, 10), TP_OK);
	cr_assert_eq(step_pct(t, 20), TP_OK);
	cr_assert_eq(step_pct(t, 40), TP_OK);
	open_gate();
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	st = stats(t);
	cr_assert_eq(fake.f_nput, 2, "the start, then only the newest");
	cr_assert_eq(fake.f_calls[1].c_n, 1);
	cr_assert_eq(fake.f_calls[1].c_seq[0], st.ts_seq);
	cr_assert_float_eq(fake.f_calls[1].c_pct[0], 10.0, 1e-9, "25 %% of 40 %%");
	for (i = 0; i < 2; i++)
		cr_assert(fake.f_calls[i].c_pct[0] != 2.5 && fake.f_calls[i].c_pct[0] != 5.0,
		    "a replaced state was written");
	cr_assert_eq(st.ts_states, 4);
	cr_assert_eq(st.ts_coalesced, 2);
	cr_assert_eq(st.ts_writes, 2);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

/*
 * On a clock that stands still, an update that comes within
 * min_write_interval_ms of the last write is never due: what gets it
 * written is the clock moving on, a flush, a new step or the end.
 */
Test(publisher, updates_within_a_step_wait_for_min_write_interval_and_coalesce)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker_every(p, "interval", 0, 10000, 100);
	struct tp_tracker_stats	 st;

	atomic_store(&fake.f_frozen, true);
	cr_assert_eq(tp_tracker_start(t, "data_collection", NULL), TP_OK);
	AWAIT(fake.f_nput == 1);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	cr_assert_eq(step_pct(t, 10), TP_OK);
	cr_assert_eq(step_pct(t, 20), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK, "a flush does not wait for the interval");
	st = stats(t);
	cr_assert_eq(fake.f_nput, 2, "the start, then only the newest update");
	cr_assert_eq(fake.f_calls[1].c_seq[0], st.ts_seq);
	cr_assert_eq(fake.f_calls[1].c_at, T0, "written at once, on a clock standing still");
	cr_assert_eq(st.ts_coalesced, 1);

	/* The clock reaching the interval's end writes a waiting update. */
	cr_assert_eq(step_pct(t, 30), TP_OK);
	atomic_store(&fake.f_now, T0 + 100);
	AWAIT(fake.f_nput == 3);
	cr_assert_eq(fake.f_calls[2].c_seq[0], stats(t).ts_seq);
	cr_assert_eq(fake.f_calls[2].c_at, T0 + 100);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_new_step_writes_the_last_state_of_the_one_before_then_its_own)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker_every(p, "step-end", 0, 10000, 100);
	uint64_t		 last, first;

	atomic_store(&fake.f_frozen, true);
	cr_assert_eq(tp_tracker_start(t, "data_collection", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	cr_assert_eq(step_pct(t, 50), TP_OK);
	cr_assert_eq(step_pct(t, 100), TP_OK);
	last = stats(t).ts_seq;
	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	first = stats(t).ts_seq;
	AWAIT(fake.f_nput == 3);
	cr_assert_eq(fake.f_calls[1].c_seq[0], last, "data collection at 100 %%, first");
	cr_assert_float_eq(fake.f_calls[1].c_pct[0], 25.0, 1e-9);
	cr_assert_eq(fake.f_calls[2].c_seq[0], first, "then the optimization's start");
	cr_assert_eq(fake.f_calls[2].c_at, T0, "neither waited for the interval");

	/* The end does not wait either, and replaces an update waiting. */
	cr_assert_eq(step_pct(t, 40), TP_OK);
	cr_assert_eq(tp_tracker_error(t, "out of candles"), TP_OK);
	pthread_mutex_lock(&fake.f_mu);
	cr_assert_eq(fake.f_nput, 4);
	cr_assert(fake.f_calls[3].c_durable);
	cr_assert_eq(fake.f_calls[3].c_at, T0);
	pthread_mutex_unlock(&fake.f_mu);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, min_write_interval_0_writes_every_update_at_once)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker_every(p, "eager", 0, 10000, 0);

	atomic_store(&fake.f_frozen, true);
	cr_assert_eq(tp_tracker_start(t, "data_collection", NULL), TP_OK);
	AWAIT(fake.f_nput == 1);
	cr_assert_eq(step_pct(t, 10), TP_OK);
	AWAIT(fake.f_nput == 2);
	cr_assert_eq(fake.f_calls[1].c_seq[0], stats(t).ts_seq);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_negative_min_write_interval_is_refused)
{
	struct tp_tracker	*t;
	struct tp_options	 o;

	tp_options_init(&o);
	cr_assert_eq(o.min_write_interval_ms, 100);
	o.min_write_interval_ms = -1;
	cr_assert_eq(tp_tracker_open(&t, "negative", &o), TP_EINVAL);
	cr_assert_null(t);
}

Test(publisher, a_batch_holds_distinct_job_ids)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*z = open_tracker(p, "z", 0, 10000);
	struct tp_tracker	*a1 = open_tracker(p, "a", 0, 10000);
	struct tp_tracker	*a2 = open_tracker(p, "a", 0, 10000);
	struct tp_tracker	*b = open_tracker(p, "b", 0, 10000);
	int			 i, j, k;

	/* Hold the only sender with z's write while the others queue. */
	fake.f_gate_closed = true;
	cr_assert_eq(tp_tracker_start(z, "data_collection", NULL), TP_OK);
	AWAIT(fake.f_waiting == 1);
	cr_assert_eq(tp_tracker_start(a1, "data_collection", NULL), TP_OK);
	cr_assert_eq(tp_tracker_start(a2, "data_collection", NULL), TP_OK);
	cr_assert_eq(tp_tracker_start(b, "data_collection", NULL), TP_OK);
	open_gate();
	AWAIT(fake.f_nput == 3);
	cr_assert_eq(fake.f_calls[1].c_n, 2, "a and b in one batch");
	cr_assert_str_eq(fake.f_calls[1].c_ids[0], "a", "sorted by job id");
	cr_assert_str_eq(fake.f_calls[1].c_ids[1], "b");
	cr_assert_eq(fake.f_calls[2].c_n, 1, "the other a in a batch of its own");
	cr_assert_str_eq(fake.f_calls[2].c_ids[0], "a");
	for (i = 0; i < fake.f_ncalls && i < CALLS_MAX; i++)
		for (j = 0; j < fake.f_calls[i].c_n; j++)
			for (k = j + 1; k < fake.f_calls[i].c_n; k++)
				cr_assert_str_neq(fake.f_calls[i].c_ids[j], fake.f_calls[i].c_ids[k]);
	cr_assert_eq(tp_tracker_flush(a1, 10000), TP_OK);
	cr_assert_eq(tp_tracker_flush(a2, 10000), TP_OK);
	tp_tracker_close(z);
	tp_tracker_close(a1);
	tp_tracker_close(a2);
	tp_tracker_close(b);
	tp_publisher_close(p);
}

Test(publisher, complete_returns_once_the_store_applied_it_durably)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "complete", 0, 10000);

	cr_assert_eq(tp_tracker_start(t, "save_configuration", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	cr_assert_eq(tp_tracker_complete(t), TP_OK);
	pthread_mutex_lock(&fake.f_mu);
	cr_assert_eq(fake.f_nput, 2);
	cr_assert_not(fake.f_calls[0].c_durable, "intermediate states commit asynchronously");
	cr_assert(fake.f_calls[1].c_durable, "the terminal state commits synchronously");
	cr_assert_float_eq(fake.f_calls[1].c_pct[0], 100.0, 1e-9);
	pthread_mutex_unlock(&fake.f_mu);
	cr_assert_eq(tp_tracker_complete(t), TP_OK, "asked again: the same answer");
	cr_assert_eq(step_pct(t, 10), TP_EFINISHED);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, complete_times_out_while_the_store_never_answers)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "hung", 0, 200);

	fake.f_gate_closed = true;
	cr_assert_eq(tp_tracker_start(t, "save_configuration", NULL), TP_OK);
	AWAIT(fake.f_waiting == 1);
	cr_assert_eq(tp_tracker_complete(t), TP_ETIMEDOUT);
	cr_assert_eq(tp_tracker_complete(t), TP_ETIMEDOUT, "asked again: it waits again");
	/* The store answers at last: asked again, complete() waits again. */
	open_gate();
	cr_assert_eq(tp_tracker_complete(t), TP_OK);
	cr_assert_eq(fake.f_nput, 2);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_refused_write_of_a_completed_job_gives_TP_EFINISHED)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "done-elsewhere", 0, 10000);

	answer(0, true, "completed");
	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	pthread_mutex_lock(&fake.f_mu);
	cr_assert_eq(fake.f_nfinished, 1, "the finished check runs after a refusal");
	cr_assert_eq(fake.f_calls[1].c_kind, CALL_FINISHED);
	cr_assert_str_eq(fake.f_calls[1].c_ids[0], "done-elsewhere");
	pthread_mutex_unlock(&fake.f_mu);
	cr_assert_eq(stats(t).ts_refused, 1);
	cr_assert_eq(step_pct(t, 50), TP_EFINISHED);
	cr_assert_eq(tp_tracker_complete(t), TP_EFINISHED);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_refused_completion_of_a_cancelled_job_gives_TP_ECANCELLED)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "cancelled-elsewhere", 0, 10000);

	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	answer(0, true, "cancelled");
	cr_assert_eq(tp_tracker_complete(t), TP_ECANCELLED);
	cr_assert_eq(step_pct(t, 50), TP_ECANCELLED);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_ECANCELLED);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_refused_completion_of_a_job_another_writer_is_ahead_on_gives_TP_ECONFLICT)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "ahead", 0, 10000);

	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	cr_assert_eq(tp_tracker_flush(t, 10000), TP_OK);
	answer(0, true, NULL);
	cr_assert_eq(tp_tracker_complete(t), TP_ECONFLICT);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, heartbeats_for_an_idle_running_job_stop_once_it_finished)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "idle", 1000, 10000);
	int64_t			 put_at = -1;
	int			 i, hb = 0, last_put = -1;

	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	AWAIT(fake.f_nheartbeat >= 3);
	cr_assert_eq(tp_tracker_complete(t), TP_OK);
	/* Nothing is due any more, and nothing was sent after the end. */
	AWAIT(publisher_next_heartbeat(p) == -1);
	pthread_mutex_lock(&fake.f_mu);
	for (i = 0; i < fake.f_ncalls && i < CALLS_MAX; i++) {
		if (fake.f_calls[i].c_kind == CALL_PUT) {
			last_put = i;
			if (put_at == -1)
				put_at = fake.f_calls[i].c_at;
			continue;
		}
		cr_assert_eq(fake.f_calls[i].c_kind, CALL_HEARTBEAT);
		cr_assert_str_eq(fake.f_calls[i].c_ids[0], "idle");
		hb++;
		cr_assert_eq(fake.f_calls[i].c_at - put_at, 1000 * hb,
		    "heartbeat %d at +%lld ms", hb, (long long)(fake.f_calls[i].c_at - put_at));
	}
	cr_assert(hb >= 3);
	cr_assert(fake.f_calls[last_put].c_durable);
	cr_assert_eq(last_put, fake.f_ncalls - 1, "a heartbeat after the job finished");
	pthread_mutex_unlock(&fake.f_mu);
	cr_assert_eq(stats(t).ts_heartbeats, (uint64_t)hb);
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, a_heartbeat_that_finds_the_job_cancelled_stops_the_trainer)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "cancel-me", 1000, 10000);
	char			 problem[256];

	fake.f_heartbeat = "cancelled";
	cr_assert_eq(tp_tracker_start(t, "optimization", NULL), TP_OK);
	AWAIT(stats(t).ts_heartbeats >= 1);
	cr_assert_eq(step_pct(t, 50), TP_ECANCELLED);
	cr_assert_eq(tp_tracker_complete(t), TP_ECANCELLED);
	tp_tracker_problem(t, problem, sizeof(problem));
	cr_assert_not_null(strstr(problem, "cancelled"), "%s", problem);
	AWAIT(publisher_next_heartbeat(p) == -1);
	cr_assert_eq(fake.f_nput, 1, "nothing written after the cancel");
	tp_tracker_close(t);
	tp_publisher_close(p);
}

Test(publisher, resume_loads_through_the_store)
{
	struct tp_publisher	*p = open_publisher(1);
	struct tp_tracker	*t = open_tracker(p, "unknown", 0, 10000);
	char			 problem[256];

	cr_assert_eq(tp_tracker_resume(t), TP_ENOTFOUND);
	tp_tracker_problem(t, problem, sizeof(problem));
	cr_assert_str_eq(problem, "fake: job unknown has no stored progress");
	tp_tracker_close(t);
	tp_publisher_close(p);
}

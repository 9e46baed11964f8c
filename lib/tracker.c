/*
 * tracker.c: the ProgressTracker, as its callers see it.
 *
 * A tracker records states for its callers: start, update, ... change
 * t_state under the tracker's mutex, give it a sequence number and an ETA,
 * and copy it into t_pending.  That is a single slot, so a newer state
 * replaces one not yet sent (coalescing) and memory stays bounded.  The
 * tracker is then queued on its publisher (publisher.c), whose sender
 * threads write it and report what became of it under the tracker's
 * mutex, signalling t_done: complete(), error(), flush() and close() wait
 * on that, within their timeouts.
 *
 * Locks (publisher.h): a tracker's mutex may be held while taking its
 * publisher's, never the other way round.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "publisher.h"

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
	o->min_write_interval_ms = 100;
}

static int64_t
clock_us(const struct tp_tracker *t)
{
	if (t->t_opts.clock != NULL)
		return t->t_opts.clock(t->t_opts.clock_arg);
	return wall_us();
}

void
tracker_problem(struct tp_tracker *t, const char *fmt, ...)
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
 * Applies the event (the library's one rule, job_apply(), which also
 * estimates the ETA from this tracker's samples), gives the new state a
 * sequence number, and hands a copy to the publisher.  A new step or
 * status is written without waiting for min_write_interval_ms; when a step
 * starts before the last state of the one before was taken for writing,
 * that state is kept in t_step_end and written first.  Nothing changes
 * when the event is refused.  Called with the tracker's mutex held.
 */
static enum tp_err
record(struct tp_tracker *t, const struct job_event *ev)
{
	struct job_state	*js = &t->t_state;
	const char		*why;
	enum tp_err		 err;
	enum tp_step		 step = js->js_step;
	enum job_phase		 phase = js->js_phase;
	int64_t			 now = clock_us(t);
	uint64_t		 seq = now > 0 ? (uint64_t)now : 0;
	bool			 news;

	if ((err = job_apply(js, ev, now, &t->t_eta, &why)) != TP_OK) {
		tracker_problem(t, "%s", why);
		return err;
	}
	js->js_seq = seq > js->js_seq ? seq : js->js_seq + 1;
	news = js->js_step != step || js->js_phase != phase;
	if (news && t->t_has_pending && t->t_pending.js_step != js->js_step &&
	    t->t_pending.js_step != TP_STEP_NONE && !job_finished(js)) {
		if (t->t_has_step_end)
			t->t_stats.ts_coalesced++;
		swap_states(&t->t_step_end, &t->t_pending);
		t->t_has_step_end = true;
		t->t_has_pending = false;
	}
	if (job_copy(&t->t_pending, js) == -1) {
		t->t_has_pending = false;
		tracker_problem(t, "out of memory");
		return TP_ENOMEM;
	}
	if (t->t_has_pending)
		t->t_stats.ts_coalesced++;
	t->t_stats.ts_states++;
	t->t_stats.ts_seq = js->js_seq;
	t->t_has_pending = true;
	t->t_rush |= news;
	/* Being written now: the sender queues it again when it is done. */
	if (!t->t_in_flight)
		publisher_enqueue(t);
	return TP_OK;
}

/* Locks t for a caller, or says why not. */
static enum tp_err
enter(struct tp_tracker *t)
{
	if (t == NULL)
		return TP_EINVAL;
	if (fork_generation() != t->t_generation)
		return TP_EFORK;
	pthread_mutex_lock(&t->t_mu);
	return TP_OK;
}

static enum tp_err
leave(struct tp_tracker *t, enum tp_err err, const char *why)
{
	if (why != NULL)
		tracker_problem(t, "%s", why);
	pthread_mutex_unlock(&t->t_mu);
	return err;
}

static void
tracker_free(struct tp_tracker *t)
{
	job_free(&t->t_state);
	job_free(&t->t_pending);
	job_free(&t->t_sending);
	job_free(&t->t_step_end);
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
	    t->t_opts.close_timeout_ms < 0 || t->t_opts.min_write_interval_ms < 0) {
		free(t);
		return TP_EINVAL;
	}
	t->t_opts.conninfo = NULL;	/* the publisher keeps its own copy */
	t->t_generation = fork_generation();
	job_init(&t->t_state);
	job_init(&t->t_pending);
	job_init(&t->t_sending);
	job_init(&t->t_step_end);
	eta_reset(&t->t_eta);
	if (thread_mutex_init(&t->t_mu) != 0) {
		tracker_free(t);
		return TP_ESYS;
	}
	thread_cond_init(&t->t_done);

	if (opts != NULL && opts->publisher != NULL) {
		t->t_pub = opts->publisher;
		publisher_hold(t->t_pub);
	} else if ((err = tp_publisher_open(&t->t_pub, opts, 1)) != TP_OK) {
		/* The private publisher's only hold is the tracker's. */
		pthread_cond_destroy(&t->t_done);
		pthread_mutex_destroy(&t->t_mu);
		tracker_free(t);
		return err;
	}
	publisher_attach(t->t_pub, t);
	*out = t;
	return TP_OK;
}

/* Loads the stored state through the publisher's store; t's mutex held. */
static enum tp_err
resume(struct tp_tracker *t)
{
	char		 problem[256];
	enum tp_err	 err;

	err = publisher_load(t->t_pub, t->t_job_id, &t->t_state, problem, sizeof(problem));
	if (err != TP_OK) {
		tracker_problem(t, "%s", problem);
		return err;
	}
	/* No samples of its own yet: the step's average pace meanwhile. */
	t->t_eta.e_pace_fallback = true;
	t->t_written = true;
	if (job_finished(&t->t_state)) {
		/* Finished before we came: every later call says so. */
		t->t_remote_finished = true;
		t->t_cancelled = t->t_state.js_phase == JOB_CANCELLED;
		t->t_terminal_settled = true;
		t->t_terminal_err = t->t_cancelled ? TP_ECANCELLED : TP_EFINISHED;
	}
	return TP_OK;
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

/* queue(), start() and update(): not once the job was cancelled or finished elsewhere. */
static enum tp_err
event(struct tp_tracker *t, const struct job_event *ev)
{
	enum tp_err	 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if ((err = closed_for_writes(t)) != TP_OK)
		return leave(t, err, NULL);
	return leave(t, record(t, ev), NULL);
}

TP_API enum tp_err
tp_tracker_queue(struct tp_tracker *t)
{
	struct job_event	 ev = { .je_kind = JOB_EV_QUEUE };

	return event(t, &ev);
}

TP_API enum tp_err
tp_tracker_start(struct tp_tracker *t, const char *step_key, const char *details_json)
{
	struct job_event	 ev = { .je_kind = JOB_EV_START, .je_step = step_key,
				    .je_details = details_json };

	return event(t, &ev);
}

TP_API enum tp_err
tp_tracker_update(struct tp_tracker *t, const struct tp_update *u)
{
	struct job_event	 ev = { .je_kind = JOB_EV_UPDATE };

	if (u == NULL)
		return TP_EINVAL;
	ev.je_update = *u;
	return event(t, &ev);
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
	struct job_event	 ev = { .je_kind = phase == JOB_COMPLETE ? JOB_EV_COMPLETE :
				    JOB_EV_ERROR, .je_message = message };
	enum tp_err		 err;

	if ((err = enter(t)) != TP_OK)
		return err;
	if (t->t_state.js_phase == phase)
		return leave(t, wait_terminal(t), NULL);
	if (t->t_cancelled)
		return leave(t, TP_ECANCELLED, "the job was cancelled");
	if (t->t_state.js_phase != JOB_RUNNING || t->t_remote_finished)
		return leave(t, TP_EFINISHED, "the job has already finished");
	t->t_terminal_settled = false;
	if ((err = record(t, &ev)) != TP_OK)
		return leave(t, err, NULL);
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

/*
 * Has every state been written (or given up)?  The tracker's mutex is held.
 */
static bool
idle(const struct tp_tracker *t)
{
	return !t->t_has_pending && !t->t_has_step_end && !t->t_in_flight;
}

/*
 * Writes what is pending without waiting for min_write_interval_ms, and
 * waits until nothing is pending or in flight; the tracker's mutex is held.
 */
static bool
wait_idle(struct tp_tracker *t, int timeout_ms)
{
	struct timespec	 until = mono_after_ms(timeout_ms);
	int64_t		 deadline = mono_ms() + timeout_ms;

	if (!idle(t)) {
		t->t_rush = true;
		if (!t->t_in_flight)
			publisher_enqueue(t);
	}
	while (!idle(t) && mono_ms() < deadline)
		if (pthread_cond_timedwait(&t->t_done, &t->t_mu, &until) == ETIMEDOUT)
			break;
	return idle(t);
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
	st->ts_reconnects = publisher_connects(t->t_pub);
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

	if (t == NULL)
		return;
	if (fork_generation() != t->t_generation) {
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

	publisher_detach(t);
	pthread_cond_destroy(&t->t_done);
	pthread_mutex_destroy(&t->t_mu);
	tracker_free(t);
	publisher_release(p);
}

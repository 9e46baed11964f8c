/*
 * publisher.h: how a tracker (tracker.c) and its publisher (publisher.c)
 * work together; private to libtrainprog and its tests.
 *
 * A tracker records its callers' states under its mutex (t_mu) and puts
 * the newest into a single slot, t_pending, then queues itself on its
 * publisher (publisher_enqueue()).  When a step starts before the last
 * state of the step before it was sent, that state moves to t_step_end and
 * is written first, so that the database (and the history) sees how every
 * step ended.  A sender thread of the publisher takes
 * the slot into t_sending, writes it through the publisher's store, and
 * settles the outcome back into the tracker under t_mu, signalling t_done,
 * on which complete(), error(), flush() and close() wait.
 *
 * Locks:
 * - a tracker's mutex may be held while taking its publisher's mutex
 *   (p_mu, private to publisher.c), never the other way round: a sender
 *   lets go of p_mu before it takes a tracker's;
 * - struct tp_tracker says which lock guards each field;
 * - a tracker a sender has claimed (t_claimed) is being written: only that
 *   sender touches its t_sending, without a lock, and the tracker is not
 *   freed until the sender lets go (publisher_detach() waits for it);
 * - no lock is held across a round trip to the database.
 */
#ifndef TP_LIB_PUBLISHER_H
#define TP_LIB_PUBLISHER_H

#include <pthread.h>

#include "lib.h"

/* threads.c */

/* How many times this process's line has forked: a tracker belongs to one generation. */
unsigned fork_generation(void);
/* A mutex that spins briefly before sleeping.  0 or an errno. */
int	 thread_mutex_init(pthread_mutex_t *mu);
/* A condition whose timed waits run on CLOCK_MONOTONIC (mono_after_ms()).  0 or an errno. */
int	 thread_cond_init(pthread_cond_t *cv);

/*
 * The clock a publisher's senders run on: backoff, heartbeats and the
 * deadlines handed to the store.  pc_now() says the time in milliseconds;
 * pc_wait() waits on cv, entered and left with mu held, until it is
 * signalled or pc_now() reaches `until` (-1: no limit), and may return
 * early.  A test's virtual clock may jump to `until` instead of waiting.
 */
struct pub_clock {
	int64_t		(*pc_now)(void *arg);
	void		(*pc_wait)(void *arg, pthread_cond_t *cv, pthread_mutex_t *mu,
			    int64_t until);
	void		*pc_arg;
};

/* The real one: mono_ms(), and timed waits on conditions of thread_cond_init(). */
extern const struct pub_clock thread_clock;

/* tracker.c */

struct tp_tracker {
	/* Set at open, then only read. */
	pthread_mutex_t	 t_mu;
	pthread_cond_t	 t_done;		/* to callers: a write has settled */
	unsigned	 t_generation;		/* fork_generation() at open */
	struct tp_publisher *t_pub;
	char		 t_job_id[TP_JOB_ID_MAX + 1];
	struct tp_options t_opts;

	/* The tracker's mutex guards these. */
	struct job_state t_state;		/* the newest state */
	struct job_state t_pending;		/* the next state to write */
	struct job_state t_sending;		/* the state being written (see above) */
	struct job_state t_step_end;		/* the last state of a step, not yet sent
						   when the next step started: sent first */
	bool		 t_has_pending;
	bool		 t_has_step_end;
	bool		 t_sending_end;		/* t_sending came from t_step_end */
	bool		 t_rush;		/* the pending state must not wait for
						   min_write_interval_ms (publisher_enqueue()) */
	bool		 t_in_flight;
	struct eta	 t_eta;
	bool		 t_terminal_settled;	/* the terminal write's fate is known */
	enum tp_err	 t_terminal_err;	/* ... and it is this */
	bool		 t_remote_finished;	/* the stored job is finished */
	bool		 t_cancelled;		/* ... as cancelled */
	bool		 t_written;		/* a write was applied: the row exists */
	int64_t		 t_hb_next;		/* the heartbeat due after a write */
	struct tp_tracker_stats t_stats;
	char		 t_problem[512];

	/* The publisher's mutex guards these. */
	bool		 t_queued;
	bool		 t_claimed;		/* a sender holds it */
	bool		 t_requeue;		/* queue it when the sender lets go */
	bool		 t_closing;		/* never queue it again */
	int64_t		 t_hb_due;		/* clock instant of the next heartbeat; 0: none */
	int64_t		 t_write_after;		/* clock instant before which a queued state
						   waits, unless t_q_rush: the last write's
						   start plus min_write_interval_ms */
	bool		 t_q_rush;		/* queued with a state that must not wait */
	struct tp_tracker *t_next;		/* in the queue */
	struct tp_tracker *t_all_next;		/* among all attached trackers */
};

/* Exchanges two states, buffers and all. */
static inline void
swap_states(struct job_state *a, struct job_state *b)
{
	struct job_state	 tmp = *a;

	*a = *b;
	*b = tmp;
}

/* Records the tracker's last problem (tp_tracker_problem()); its mutex held. */
void	 tracker_problem(struct tp_tracker *t, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* publisher.c */

/*
 * tp_publisher_open(), with the store (and its arg) and the clock to use:
 * NULL for store_pg (connecting with the options' conninfo and
 * io_timeout_ms) and the real clock.  Not exported: tests open publishers
 * on a fake store and a virtual clock with it.  A store that measures its
 * deadlines on mono_ms() (store_pg) needs the real clock.
 */
enum tp_err publisher_open(struct tp_publisher **out, const struct tp_options *opts,
	    int connections, const struct store_ops *store, void *store_arg,
	    const struct pub_clock *clock);
/* Takes a hold on p for a tracker; publisher_release() lets go of one. */
void	 publisher_hold(struct tp_publisher *p);
/* The last hold gone, stops the senders and frees p. */
void	 publisher_release(struct tp_publisher *p);
/* Makes t one of p's trackers (t_pub is p), for heartbeats.  No lock held. */
void	 publisher_attach(struct tp_publisher *p, struct tp_tracker *t);
/*
 * Takes t out of its publisher for good: out of the queue, waiting for a
 * sender that holds it to let go.  Called without t's mutex, once nothing
 * else will record into t; the caller then frees t and releases its hold.
 */
void	 publisher_detach(struct tp_tracker *t);
/*
 * Asks for t's pending state to be written: at once if t_rush is set (and
 * so until a sender takes it), else once min_write_interval_ms has passed
 * since t's last write.  Called with t's mutex held.
 */
void	 publisher_enqueue(struct tp_tracker *t);
/* Connections (sessions) opened so far.  Takes p's mutex. */
uint64_t publisher_connects(struct tp_publisher *p);
/* Loads a stored job into js through p's store (resume); see so_load. */
enum tp_err publisher_load(struct tp_publisher *p, const char *job_id,
	    struct job_state *js, char *problem, size_t size);
/* The earliest heartbeat due among p's trackers (a clock instant), or -1: for tests. */
int64_t	 publisher_next_heartbeat(struct tp_publisher *p);

#endif /* TP_LIB_PUBLISHER_H */

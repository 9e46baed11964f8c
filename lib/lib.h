/*
 * lib.h: what only lib/ uses (and its unit tests): the transitions
 * job_apply() is made of, the ETA estimator, and the interface through
 * which a publisher reaches its store.  tp-fcgi and the tools see
 * internal.h only, so that what a write does is decided by job_apply()
 * alone.
 */
#ifndef TP_LIB_LIB_H
#define TP_LIB_LIB_H

#include "internal.h"

/* progress.c */

/*
 * The transitions.  Each checks everything first and changes nothing when
 * it refuses; *why then points to a static sentence.  They do not touch the
 * ETA or the sequence number: the tracker does.
 */
enum tp_err job_queue(struct job_state *js, const char **why);
enum tp_err job_start(struct job_state *js, const char *step_key,
	    const char *details, int64_t now_us, const char **why);
enum tp_err job_update(struct job_state *js, const struct tp_update *u,
	    const char **why);
enum tp_err job_complete(struct job_state *js, const char **why);
enum tp_err job_fail(struct job_state *js, const char *message, const char **why);

/* eta.c: the ETA estimator (docs/ETA.md) */

struct eta {
	enum tp_step	 e_step;	/* the step the samples belong to */
	int		 e_samples;	/* samples taken in this step */
	int64_t		 e_first_us;	/* time of the first observation */
	int64_t		 e_last_us;	/* time of the last sample */
	double		 e_last_pct;	/* percentage at the last sample */
	double		 e_slow_pct;	/* decayed sums of progress (percent) ... */
	double		 e_slow_us;	/* ... and of time (microseconds): the pace */
	double		 e_fast_pct;	/* the same with a short memory, */
	double		 e_fast_us;	/* to tell a real change from noise */
	int		 e_side;	/* fast above (1) or below (-1) slow, or 0 */
	int		 e_streak;	/* samples in a row on that side */
	/*
	 * While the samples give no estimate, use the step's average pace
	 * (eta_from_step_start): a tracker that continues a stored job has
	 * no history of its own yet.  Set after eta_reset(); a new step keeps it.
	 */
	bool		 e_pace_fallback;
};

/* Forgets everything, e_pace_fallback included; the next observation starts afresh. */
void	 eta_reset(struct eta *e);
/*
 * Observes overall percentage `pct` of a job in `step` at `now_us`.  Returns
 * true with the estimated completion in *eta_us when there is enough data,
 * false when not (yet).  The estimate is never before now_us.
 */
bool	 eta_observe(struct eta *e, enum tp_step step, double pct, int64_t now_us,
	    int64_t *eta_us);
/*
 * The estimate a publisher without history can give (one process per
 * write: tp-publish, the HTTP API): the step's average pace since it
 * started.  Same rules otherwise: none before 2 s or without progress.
 */
bool	 eta_from_step_start(enum tp_step step, double pct, int64_t step_started_us,
	    int64_t now_us, int64_t *eta_us);

/* store.c: the store of publishers */

/*
 * How a publisher (publisher.c) reaches the database: through sessions,
 * one per sender thread, each used by one thread at a time.  The real
 * store is store_pg, PostgreSQL; the tests give fakes.
 */

/* What became of one state written. */
enum put_result {
	PUT_APPLIED,		/* written */
	PUT_REFUSED,		/* the guard said no: stale, behind, or finished */
	PUT_RETRY,		/* the database is away: try again later */
	PUT_DBERR		/* the database said no for another reason */
};

/* One job of a round trip, which fills in what it learnt. */
struct store_item {
	const char		*it_job_id;
	const struct job_state	*it_state;	/* put: the state to write */
	enum put_result		 it_result;	/* put */
	char			 it_status[16];	/* the stored status learnt, or "" */
};

/* How a round trip went, for the session it ran on. */
enum store_trip {
	TRIP_OK,		/* done: the items say the rest */
	TRIP_FAILED,		/* failed; the session may be used again */
	TRIP_DROP		/* failed; the session is of no more use: drop it */
};

struct store_ops {
	/* Opens a session before deadline; NULL with the problem written. */
	void		*(*so_connect)(void *arg, int64_t deadline, char *problem,
			    size_t size);
	/*
	 * Writes the states of items[0..n) (distinct job ids, sorted, so that
	 * two sessions lock rows in one order) in one statement, committed
	 * synchronously when durable.  TRIP_OK: each item PUT_APPLIED (with the
	 * stored status) or PUT_REFUSED; otherwise every item PUT_RETRY or
	 * PUT_DBERR, and the problem written.
	 */
	enum store_trip	 (*so_put)(void *session, struct store_item *items, int n,
			    bool durable, int64_t deadline, char *problem, size_t size);
	/* The finished check: the status of the items PUT_REFUSED whose job is finished. */
	enum store_trip	 (*so_finished)(void *session, struct store_item *items, int n,
			    int64_t deadline);
	/*
	 * A heartbeat: the jobs of items[0..n) are alive.  The stored status of
	 * each unfinished one (one being cancelled is finished by it, and says so).
	 */
	enum store_trip	 (*so_heartbeat)(void *session, struct store_item *items, int n,
			    int64_t deadline);
	/* Closes a session.  NULL is fine. */
	void		 (*so_drop)(void *session);
	/*
	 * Loads a job's stored state into js (resume), on a connection of its
	 * own: TP_OK, TP_ENOTFOUND, TP_ETIMEDOUT (unreachable), TP_EDB or
	 * TP_EINVAL, the last four with the problem written.
	 */
	enum tp_err	 (*so_load)(void *arg, const char *job_id, struct job_state *js,
			    int64_t deadline, char *problem, size_t size);
};

/* Where store_pg connects: its arg. */
struct store_conf {
	const char	*sc_conninfo;		/* NULL: libpq's defaults */
	int		 sc_io_timeout_ms;	/* a round trip's budget, statement_timeout */
};

/* PostgreSQL: a session is a connection with the ROLE_TRACKER statements. */
extern const struct store_ops store_pg;

#endif /* TP_LIB_LIB_H */

/* tp/tracker.h: the ProgressTracker: how a training job publishes its progress. */
#ifndef TP_TRACKER_H
#define TP_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include <tp/progress.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A tracker publishes one job's progress to the training_progress table:
 *
 *	struct tp_tracker *t;
 *	struct tp_update u = { 0 };
 *
 *	if (tp_tracker_open(&t, "job-42", NULL) != TP_OK) ...
 *	tp_tracker_start(t, "optimization", "{\"optimizer\": \"bayesian\"}");
 *	u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS;
 *	u.step_percentage = 60; u.iteration = 30; u.total_iterations = 50;
 *	tp_tracker_update(t, &u);		(never waits on the network)
 *	tp_tracker_complete(t);			(waits until durably committed)
 *	tp_tracker_close(t);
 *
 * The library computes step_number, current_step, the overall percentage
 * (which never goes backwards) and the ETA from the step model in
 * tp/progress.h.  A publisher's sender thread delivers states on its own
 * connection, newest first: if several updates are made while one is being
 * written, only the newest of them is written next (coalescing), so memory
 * stays bounded and a slow or absent database never slows the caller.
 * Intermediate states are committed asynchronously (synchronous_commit
 * off); terminal states are committed synchronously.
 *
 * By default each tracker has a private publisher: one thread, one
 * connection.  A program that publishes many jobs at once shares one
 * publisher among its trackers (struct tp_options.publisher): its threads
 * write the pending states of many jobs in one statement, so hundreds of
 * jobs need a handful of connections.
 *
 * Cancellation: once the job is cancelled (POST .../cancel), the tracker
 * learns it from its next write or heartbeat, the stored job becomes
 * "cancelled", and every call from then on returns TP_ECANCELLED: stop.
 *
 * Every write carries a sequence number that increases with every state
 * (max(previous + 1, wall-clock microseconds)), and the database applies a
 * write only if its sequence number is higher than the stored one, the job
 * is not finished, and the overall percentage does not go down (an error
 * is applied even then, keeping the stored progress).  So two trackers on
 * one job, or a write delayed by an outage, cannot make it regress, and a
 * finished job stays finished.  Job ids are therefore single-use.
 *
 * Thread safety: every function may be called from any thread, and several
 * threads may share one tracker: calls are serialised by the tracker's
 * mutex.  tp_tracker_close() must be the last call.
 *
 * Fork safety: a tracker belongs to the process that opened it.  After
 * fork(), the child must not use the parent's trackers (calls return
 * TP_EFORK, and tp_tracker_close() in the child only frees memory, leaving
 * the parent's connection and thread alone); open a new tracker instead.
 *
 * Strings passed in are copied; the caller keeps ownership of its buffers.
 */

#ifndef TP_API
#define TP_API __attribute__((visibility("default")))
#endif

/* What every function returns. */
enum tp_err {
	TP_OK = 0,
	TP_EINVAL,	/* an argument is invalid: the message of tp_strerror() and
			   tp_tracker_problem() says which */
	TP_ESTATE,	/* not now: update before any start, a step that would
			   go backwards */
	TP_EFINISHED,	/* the job has completed or failed: nothing more is written */
	TP_ETIMEDOUT,	/* the database did not confirm within the timeout; the
			   sender keeps trying until tp_tracker_close() */
	TP_ECONFLICT,	/* the database refused the terminal state: another writer
			   finished the job, or is ahead of this tracker */
	TP_EDB,		/* the database answered with an error (permissions, schema):
			   see tp_tracker_problem() */
	TP_ENOTFOUND,	/* resume: the job has no stored progress */
	TP_ENOMEM,	/* out of memory */
	TP_EFORK,	/* the tracker was opened by another process (see above) */
	TP_ESYS,	/* a system call failed (threads): see errno */
	TP_ECANCELLED	/* the job was cancelled (POST .../cancel): stop training.
			   Its final state, "cancelled", is already stored. */
};

/* A static English sentence for err.  Never NULL. */
TP_API const char	*tp_strerror(enum tp_err err);

struct tp_tracker;
struct tp_publisher;

/*
 * Options of tp_tracker_open().  Start from tp_options_init(), then change
 * what you need; zeroes are not the defaults.
 */
struct tp_options {
	/* libpq connection string or URL; NULL: $DATABASE_URL, then libpq's
	   PG* variables.  Copied at open. */
	const char	*conninfo;
	/* How long complete() and error() wait for the commit.  Default 10000. */
	int		 terminal_timeout_ms;
	/* How long close() waits for states not yet written.  Default 2000. */
	int		 close_timeout_ms;
	/* Budget of one connection attempt or one write.  Default 5000. */
	int		 io_timeout_ms;
	/* Wall clock in microseconds since the Unix epoch, for the ETA and the
	   sequence numbers; NULL: CLOCK_REALTIME.  For simulations, replays
	   and tests. */
	int64_t		(*clock)(void *arg);
	void		*clock_arg;
	/* A shared publisher (tp_publisher_open); NULL: a private one.  With a
	   shared publisher, its conninfo and io_timeout_ms apply to writes. */
	struct tp_publisher *publisher;
	/* While the job runs but has nothing new to say, tell the database it
	   is alive this often, so that it does not read as "stalled" (after
	   tp-fcgi's stall_after, 60 s by default); a heartbeat also brings news
	   of a cancellation.  0: none.  Default 15000. */
	int		 heartbeat_ms;
	/* Updates within a step are written at most this often (counted from
	   the start of the last write): one that comes sooner waits for the
	   interval to pass, and a newer one
	   replaces it meanwhile, so a loop that reports thousands of
	   iterations a second costs the database ten writes a second.  A
	   step start, a status change, complete(), error(), flush() and
	   close() never wait, and the last state of a step is always written
	   before the next step's first.  A cancellation is learned from a
	   write, so at most this much later.  0: write as fast as the
	   database commits.  Default 100. */
	int		 min_write_interval_ms;
};

TP_API void		 tp_options_init(struct tp_options *opts);

/*
 * Opens a publisher: `connections` sender threads (1..16), each with its own
 * connection (opened when first needed), that write the states of every
 * tracker attached to it, up to 64 jobs per statement.  Uses conninfo and
 * io_timeout_ms of opts (NULL: the defaults).  On TP_OK, *out is a
 * publisher the caller releases with tp_publisher_close().
 */
TP_API enum tp_err	 tp_publisher_open(struct tp_publisher **out,
			    const struct tp_options *opts, int connections);

/*
 * Releases the caller's hold on a publisher.  It keeps running for the
 * trackers still attached and stops when the last of them is closed, so
 * the order of the closes does not matter.  NULL is fine.
 */
TP_API void		 tp_publisher_close(struct tp_publisher *p);

/*
 * Opens a tracker for job_id (1..255 bytes of UTF-8 without control
 * characters).  Does not touch the network: the sender connects when there
 * is something to write, and keeps retrying while the database is away.
 * opts may be NULL (the defaults).  On TP_OK, *out is a tracker the caller
 * frees with tp_tracker_close().
 */
TP_API enum tp_err	 tp_tracker_open(struct tp_tracker **out, const char *job_id,
			    const struct tp_options *opts);

/*
 * Loads the job's stored state, so that this tracker continues it (a
 * restarted trainer, a command-line publisher): the next start() must be a
 * later step, and a finished job stays finished (TP_EFINISHED from then
 * on).  Call it before anything else; it waits for the database (up to
 * io_timeout_ms).  TP_OK, TP_ENOTFOUND when the job has no stored progress
 * (the tracker is then as new), TP_ETIMEDOUT when the database cannot be
 * reached, TP_EDB, or TP_ESTATE after other calls.
 */
TP_API enum tp_err	 tp_tracker_resume(struct tp_tracker *t);

/*
 * Marks the job queued: it exists, waits, and has not started.  Only before
 * the first step; the first start() makes it running.
 */
TP_API enum tp_err	 tp_tracker_queue(struct tp_tracker *t);

/*
 * Starts a step by key: "data_collection", "optimization", "validation"
 * (which may be skipped) or "save_configuration".  Steps only go forward.
 * details_json, a JSON object or NULL, becomes step_details.  The step's
 * percentage starts at 0; iteration counters and the current score are
 * cleared; best score and best params carry over.
 */
TP_API enum tp_err	 tp_tracker_start(struct tp_tracker *t, const char *step_key,
			    const char *details_json);

/* Which members of struct tp_update are set. */
#define TP_UPD_STEP_PERCENTAGE	(1u << 0)	/* 0..100 */
#define TP_UPD_ITERATION	(1u << 1)	/* >= 0 */
#define TP_UPD_TOTAL_ITERATIONS	(1u << 2)	/* >= 0 */
#define TP_UPD_BEST_SCORE	(1u << 3)	/* finite */
#define TP_UPD_CURRENT_SCORE	(1u << 4)	/* finite */
#define TP_UPD_BEST_PARAMS	(1u << 5)	/* JSON object text */
#define TP_UPD_DETAILS		(1u << 6)	/* JSON object text: replaces step_details */

/* Longest JSON text accepted for details and best params, in bytes. */
#define TP_JSON_MAX		65536
/* Error messages are cut (at a character boundary) to this many bytes. */
#define TP_ERROR_MESSAGE_MAX	8192

struct tp_update {
	unsigned	 fields;		/* TP_UPD_* bits */
	double		 step_percentage;
	int32_t		 iteration;
	int32_t		 total_iterations;
	double		 best_score;
	double		 current_score;
	const char	*best_params;
	const char	*details;
};

/*
 * The checks the tracker applies to its callers' arguments, for a program
 * that wants to refuse bad input before it opens a tracker (a command-line
 * publisher, a server taking events over the network): NULL when they are
 * acceptable; otherwise a static English sentence saying why not, with the
 * JSON name of the field at fault in *field ("step_percentage"; NULL when no
 * one field is).  Every publisher applies these same checks.
 */
TP_API const char	*tp_update_problem(const struct tp_update *u, const char **field);
TP_API const char	*tp_start_problem(const char *step_key, const char *details_json,
			    const char **field);
TP_API const char	*tp_error_problem(const char *message, const char **field);

/*
 * Updates the current step with the members `fields` names; the others keep
 * their values.  Never waits on the network: it records the new state and
 * returns.  Invalid input changes nothing and returns TP_EINVAL.  When the
 * step's percentage is given, the ETA is re-estimated.
 */
TP_API enum tp_err	 tp_tracker_update(struct tp_tracker *t, const struct tp_update *u);

/*
 * Marks the job complete (current_step "Complete", step 4, both percentages
 * 100) and waits until that is durably committed: TP_OK, or TP_ETIMEDOUT
 * after terminal_timeout_ms (call it again to wait again), TP_ECONFLICT,
 * or TP_EDB.
 */
TP_API enum tp_err	 tp_tracker_complete(struct tp_tracker *t);

/*
 * Marks the job failed with `message` (required; cut to
 * TP_ERROR_MESSAGE_MAX bytes): the step and percentages stay where the
 * failure happened.  Waits like tp_tracker_complete().
 */
TP_API enum tp_err	 tp_tracker_error(struct tp_tracker *t, const char *message);

/*
 * Waits until every state recorded so far has been written (or refused),
 * up to timeout_ms: TP_OK, TP_ETIMEDOUT, or TP_ECANCELLED when the job
 * turned out to be cancelled.
 */
TP_API enum tp_err	 tp_tracker_flush(struct tp_tracker *t, int timeout_ms);

/* Counters, for monitoring and benchmarks. */
struct tp_tracker_stats {
	uint64_t	 ts_states;	/* states recorded (start, update, ...) */
	uint64_t	 ts_writes;	/* writes the database applied */
	uint64_t	 ts_refused;	/* writes it refused (stale, finished, behind) */
	uint64_t	 ts_coalesced;	/* states replaced by a newer one before being sent */
	uint64_t	 ts_failures;	/* write attempts that failed (database away) */
	uint64_t	 ts_reconnects;	/* connections opened */
	uint64_t	 ts_seq;	/* sequence number of the newest state */
	uint64_t	 ts_committed_seq; /* ... and of the newest one applied */
	uint64_t	 ts_heartbeats;	/* heartbeats sent */
};

TP_API void		 tp_tracker_stats(struct tp_tracker *t, struct tp_tracker_stats *st);

/*
 * Copies into buf (NUL-terminated, cut to size) the last problem the sender
 * or a call met ("connection refused ...", "unknown step \"x\""), or "" if
 * none.  Returns the length of the whole message.
 */
TP_API size_t		 tp_tracker_problem(struct tp_tracker *t, char *buf, size_t size);

/*
 * Writes what is still pending (waiting up to close_timeout_ms, plus at most
 * one io_timeout_ms for a write under way), stops the sender, closes the
 * connection and frees the tracker.  NULL is fine.
 */
TP_API void		 tp_tracker_close(struct tp_tracker *t);

#ifdef __cplusplus
}
#endif

#endif /* TP_TRACKER_H */

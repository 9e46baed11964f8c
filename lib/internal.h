/*
 * internal.h: libtrainprog's interfaces that are not its public API, for
 * tp-fcgi, the tools and the tests.  What only lib/ itself uses (the
 * transitions behind job_apply(), the ETA estimator, the publishers' store
 * interface) is in lib.h.
 */
#ifndef TP_LIB_INTERNAL_H
#define TP_LIB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include <tp/progress.h>
#include <tp/tracker.h>

/*
 * One training_progress row as the read path sees it.  Strings point into
 * whatever the row was decoded from (a PGresult, a test fixture) and are
 * NUL-terminated; NULL means SQL NULL.  Timestamps are microseconds since
 * the Unix epoch, UTC.
 */
struct progress_row {
	const char	*pr_job_id;
	double		 pr_percentage;
	const char	*pr_current_step;
	int32_t		 pr_step_number;
	int32_t		 pr_total_steps;
	double		 pr_step_percentage;
	const char	*pr_step_details;	/* JSON object text or NULL */
	int64_t		 pr_started_at;
	int64_t		 pr_updated_at;
	bool		 pr_has_estimated_completion;
	int64_t		 pr_estimated_completion;
	bool		 pr_has_current_iteration;
	int32_t		 pr_current_iteration;
	bool		 pr_has_total_iterations;
	int32_t		 pr_total_iterations;
	bool		 pr_has_best_score;
	double		 pr_best_score;
	bool		 pr_has_current_score;
	double		 pr_current_score;
	const char	*pr_best_params;	/* JSON object text or NULL */
	bool		 pr_is_complete;
	const char	*pr_error_message;
	int64_t		 pr_seq;
	/* Not in the spec's document: */
	const char	*pr_status;		/* as read: stalled included */
	bool		 pr_has_step_started;
	int64_t		 pr_step_started_at;
};

/* progress.c: a job's state and how calls change it */

struct eta;	/* lib.h */

/* A growable text buffer; tb_set false means SQL NULL. */
struct tbuf {
	char	*tb_data;
	size_t	 tb_len;
	size_t	 tb_cap;
	bool	 tb_set;
};

/* Copies s[0..len) (NUL added), reusing memory.  0, or -1 out of memory. */
int	 tbuf_set(struct tbuf *tb, const char *s, size_t len);
/* Makes tb NULL again, keeping its memory. */
void	 tbuf_clear(struct tbuf *tb);
void	 tbuf_free(struct tbuf *tb);

/*
 * Where a job is.  A new state is JOB_RUNNING with no step yet; "cancelling"
 * and "stalled" exist only in the database (a cancel request, and how a
 * silent running job reads).
 */
enum job_phase { JOB_QUEUED, JOB_RUNNING, JOB_COMPLETE, JOB_FAILED, JOB_CANCELLED };

/* The message a cancelled job's error_message holds. */
#define JOB_CANCELLED_MESSAGE	"cancelled by request"

/* Everything a tracker writes about a job. */
struct job_state {
	enum tp_step	 js_step;	/* TP_STEP_NONE before the first start */
	double		 js_step_pct;
	double		 js_pct;	/* overall; never decreases */
	bool		 js_has_iter;
	int32_t		 js_iter;
	bool		 js_has_total;
	int32_t		 js_total;
	bool		 js_has_best;
	double		 js_best;
	bool		 js_has_current;
	double		 js_current;
	struct tbuf	 js_details;	/* JSON object text */
	struct tbuf	 js_best_params;
	struct tbuf	 js_error;
	bool		 js_has_eta;
	int64_t		 js_eta_us;	/* Unix microseconds */
	int64_t		 js_step_started_us;	/* when the step started; 0: unknown */
	enum job_phase	 js_phase;
	uint64_t	 js_seq;
};

void	 job_init(struct job_state *js);
void	 job_free(struct job_state *js);
/* Makes dst a copy of src, reusing dst's buffers.  0 or -1 (out of memory). */
int	 job_copy(struct job_state *dst, const struct job_state *src);
/* What current_step says: the step's name, or "Complete". */
const char *job_step_name(const struct job_state *js);
/* The status column: "queued", "running", "completed", "failed" or "cancelled". */
const char *job_status(const struct job_state *js);
/* Has the job reached a terminal state? */
bool	 job_finished(const struct job_state *js);

/* What a publisher asks of a job: a tracker's call, or an event POSTed over HTTP. */
enum job_event_kind { JOB_EV_QUEUE, JOB_EV_START, JOB_EV_UPDATE, JOB_EV_COMPLETE, JOB_EV_ERROR };
#define JOB_EVENT_COUNT	5

struct job_event {
	enum job_event_kind	 je_kind;
	const char		*je_step;	/* start: the step's key */
	const char		*je_details;	/* start: step_details (JSON object) or NULL */
	struct tp_update	 je_update;	/* update */
	const char		*je_message;	/* error */
};

/* "queue", "start", ...; NULL for a kind that is not one. */
const char *job_event_name(enum job_event_kind kind);
/* The kind named `name`, or -1. */
int	 job_event_kind(const char *name);

/*
 * The one rule of what a write does, for every publisher: applies the
 * event to js (the transition above that it names), then estimates the
 * completion time: from `history`'s samples when there is one, else (or,
 * with e_pace_fallback, while it has too few) from the step's average pace
 * since it started.  TP_OK, or the refusal with *why, js unchanged.  The
 * sequence number is the caller's.
 */
enum tp_err job_apply(struct job_state *js, const struct job_event *ev, int64_t now_us,
	    struct eta *history, const char **why);

/*
 * Loads a stored row (for resume).  The row's strings are copied.  Returns
 * TP_OK, or TP_EINVAL when its current_step or status is not known.  A row
 * "cancelling" loads as running: the next write finishes the cancellation.
 */
enum tp_err job_from_row(struct job_state *js, const struct progress_row *row,
	    const char **why);

/*
 * NULL when text is a JSON object of at most TP_JSON_MAX bytes that
 * PostgreSQL's jsonb accepts (valid UTF-8, no \u0000); otherwise why not.
 */
const char *json_object_problem(const char *text);
/*
 * Does well-formed JSON text hold an escape PostgreSQL refuses: \u0000, or
 * a surrogate that is not half of a pair?  Returns why, or NULL.
 */
const char *json_escape_problem(const char *text);
/*
 * Does JSON text that cJSON accepts hold what PostgreSQL's json parser
 * refuses (cJSON is lenient): a byte order mark, control bytes as
 * whitespace or raw in strings, numbers like 01 or 1., numbers out of
 * numeric's range, or numbers that printed in full as jsonb prints them
 * (1e300: 301 digits) make it longer than TP_JSON_MAX?  Returns why, or
 * NULL.
 */
const char *json_lexical_problem(const char *text);
/* Is s[0..len) valid UTF-8? */
bool	 utf8_valid(const char *s, size_t len);
/*
 * The length of the longest prefix of s, at most max bytes, that does not
 * end inside a UTF-8 character (a byte that is not UTF-8 counts as one):
 * where to cut a text that is quoted back to its sender.
 */
size_t	 utf8_prefix(const char *s, size_t max);
/*
 * The length of the longest prefix of s[0..len), at most max bytes, that
 * does not cut a character of valid UTF-8 in two: where to cut a text.
 */
size_t	 utf8_cut(const char *s, size_t len, size_t max);
/*
 * A copy of s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD, for text echoed into a JSON document.  The caller frees it; NULL
 * when out of memory.
 */
char	*utf8_scrub(const char *s);

/*
 * An http(s) URL as tp_target_problem() reads it: scheme, host (without
 * brackets) and port.  Returns NULL, or what is wrong with the URL (a
 * predicate, as tp_target_problem() words it).
 */
struct target_url {
	bool	 tu_https;
	char	 tu_host[256];
	int	 tu_port;
};
const char *target_parse_url(const char *url, struct target_url *u);

/* One job of the dashboard's list (STMT_JOBS_LIST), as decoded. */
struct job_item {
	const char	*ji_job_id;
	const char	*ji_status;		/* as read: stalled included */
	double		 ji_percentage;
	const char	*ji_current_step;
	int32_t		 ji_step_number;
	bool		 ji_has_best_score;
	double		 ji_best_score;
	int64_t		 ji_updated_at;
	bool		 ji_has_eta;
	int64_t		 ji_eta;
	int64_t		 ji_activity;		/* heartbeat_at: the list's order */
};

/* The statuses a job reads as, in the order counts are reported. */
#define JOB_STATUS_COUNT	7
extern const char *const job_status_names[JOB_STATUS_COUNT];

/* render.c */

struct snapshot;	/* store.c */

/* Longest text render_timestamp() writes, with its NUL. */
#define RENDER_TIMESTAMP_MAX	sizeof("-12345-01-01T00:00:00.000000Z")

/* The length of render_etag()'s text, with its NUL: 32 hex digits, quoted. */
#define RENDER_ETAG_MAX		35

/*
 * A strong entity tag for the document doc[0..len): the first 128 bits of
 * its SHA-256 in hex, in double quotes.  It changes exactly when the
 * document's bytes do (short of a SHA-256 collision).
 */
void	 render_etag(const char *doc, size_t len, char out[RENDER_ETAG_MAX]);

/* The length of render_channel_id()'s text, with its NUL. */
#define RENDER_CHANNEL_MAX	33

/*
 * The name of a job's live stream in nchan: the first 128 bits of the
 * SHA-256 of its id, in hex.  Job ids may hold any printable UTF-8 ("/",
 * "?", "%"...), which would need escaping in the internal redirect and in
 * the publisher's URL; a hash needs none.  The pool (where to redirect a
 * subscriber) and tp-notify (where to publish) both call this.
 */
void	 render_channel_id(const char *job_id, char out[RENDER_CHANNEL_MAX]);

/*
 * Writes `unix_us` as RFC 3339 in UTC ending in "Z", with a fraction of six
 * digits only when the microseconds are not zero.  Returns the length, or -1
 * when the instant has no four-digit year (before 0001 or after 9999).
 */
int	 render_timestamp(int64_t unix_us, char *buf, size_t size);

/*
 * Renders a row as the progress document: the spec's 17 fields in the spec's
 * order, every one present, null where unknown; then "status" and "seq"
 * when the row has a status.  Returns a NUL-terminated
 * string the caller frees with free(), and its length in *len; NULL when out
 * of memory or when a JSON column does not hold a JSON object.
 */
char	*render_progress(const struct progress_row *row, size_t *len);

/*
 * Renders the dashboard's page: {"jobs": [items], "next_cursor": cursor or
 * null, "counts": {status: n, ..., "total": n}} with counts in the order of
 * job_status_names.  A string the caller frees, or NULL out of memory.
 */
char	*render_jobs(const struct job_item *items, int n, const char *next_cursor,
	    const int64_t counts[JOB_STATUS_COUNT], size_t *len);

/*
 * Renders a job's history: {"job_id": id, "snapshots": [{seq, at, status,
 * percentage, step_number, current_step, step_percentage,
 * current_iteration, best_score, current_score}, ...], "next_since_seq":
 * n, "has_more": bool}.  A string the caller frees, or NULL out of memory.
 */
char	*render_history(const char *job_id, const struct snapshot *snaps, int n,
	    int64_t next_since_seq, bool has_more, size_t *len);

/*
 * Renders {"error": code, "message": message}.  Returns a string the caller
 * frees with free(), or NULL when out of memory.
 */
char	*render_error(const char *code, const char *message, size_t *len);
/* The same with "field": field after the message, when field is not NULL. */
char	*render_error_field(const char *code, const char *message, const char *field,
	    size_t *len);

/* clock.c */

/* Monotonic milliseconds: what every deadline is measured on. */
int64_t	 mono_ms(void);
/* Wall-clock microseconds and milliseconds since the Unix epoch. */
int64_t	 wall_us(void);
int64_t	 wall_ms(void);
/*
 * The CLOCK_MONOTONIC instant ms from now, for pthread_cond_timedwait() on
 * a condition whose clock is CLOCK_MONOTONIC: a wall clock stepped back
 * while a thread waits would stretch the wait by the step.
 */
struct timespec mono_after_ms(int64_t ms);

/* sha256.c */

/* out = SHA-256 of data[0..len). */
void	 sha256(const void *data, size_t len, unsigned char out[32]);
/* out = HMAC-SHA256 (RFC 2104) of msg under key.  0, or -1 out of memory. */
int	 hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
	    unsigned char out[32]);
/*
 * FNV-1a, 64 bits: a fast hash, not a digest (no secrecy, collisions
 * findable), for tables and for telling documents apart cheaply.
 */
uint64_t fnv1a64(const void *data, size_t len);
/* Compares len bytes in a time that does not depend on where they differ. */
bool	 equal_ct(const void *a, const void *b, size_t len);

/* token.c: the API's bearer tokens, tp_<id>_<secret> */

#define TOKEN_ID_LEN		12	/* hex digits */
#define TOKEN_SECRET_LEN	43	/* base64url of 32 random bytes */
#define TOKEN_LEN		(3 + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN)

/*
 * Splits a presented token into its id (NUL-terminated, in id) and secret
 * (a pointer into token).  0, or -1 if it does not have the token's shape.
 */
int	 token_parse(const char *token, char id[TOKEN_ID_LEN + 1], const char **secret);
/*
 * base64url without padding: encodes data[0..len) into out (NUL added);
 * decodes s[0..len) into out (at most size bytes), refusing any other
 * alphabet or a non-canonical ending.  The length, or -1.
 */
long	 b64url_encode(const void *data, size_t len, char *out, size_t size);
/* Standard base64, padded (MIME's, for email headers): as b64url_encode. */
long	 b64_encode(const void *data, size_t len, char *out, size_t size);
long	 b64url_decode(const char *s, size_t len, unsigned char *out, size_t size);
/* Makes a new random token (getrandom) into buf (TOKEN_LEN + 1 bytes). 0 or -1. */
int	 token_generate(char *buf, size_t size);

/* store.c: the statements, the round trips of progress, decoding rows */

/*
 * Every statement prepared on a connection, by id.  store_statements says
 * what each is called and runs, how many text parameters it takes, which
 * connections prepare it (conn_connect()), and whether it writes
 * training_progress.
 */
enum store_stmt {
	STMT_GET,		/* $1 job, $2 stall s (NULL: none stall): the row */
	STMT_LOCK,		/* the same FOR UPDATE, in a writer's transaction */
	STMT_PUT,		/* the guarded UPSERT of a batch (struct put_batch) */
	STMT_HEARTBEAT,		/* $1 text[] of jobs: they are alive */
	STMT_FINISHED,		/* $1 text[] of jobs: which are finished, and how */
	STMT_CANCEL,		/* $1 job, $2 stall s: a cancel request */
	STMT_EXPIRE,		/* $1 s, $2 at most, $3 message: give silent jobs up */
	STMT_JOBS_LIST,		/* the dashboard's page (store.c says its parameters) */
	STMT_JOBS_COUNTS,	/* $1 stall s: how many jobs read as each status */
	STMT_TOKEN,		/* $1 token id: its hash, scopes, whether revoked */
	STMT_HISTORY,		/* $1 job, $2 after seq, $3 limit: snapshots (a NULL row: none) */
	STMT_PRUNE_HISTORY,	/* $1 at most: snapshots older than max_age deleted */
	STMT_RUNNING,		/* $1 after job, $2 stall s: a page of the jobs not ended */
	STMT_JOB_INSERT,	/* $1 job, $2 request, $3 its SHA-256, $4 token: a job to train (a row: new) */
	STMT_JOB_HASH,		/* $1 job: the stored request's SHA-256 (bytea) */
	STMT_NOTIFY_ADD,	/* $1..$3 text[] kinds, addresses, secrets; $4 job: its targets */
	STMT_NOTIFICATIONS,	/* $1 job: whom its end is told, and how that went (a NULL row: none) */
	STMT_COUNT
};

/* The connections that prepare statements: bits of ss_roles. */
#define ROLE_READER	(1u << 0)	/* the pool's reader (tp_reader) */
#define ROLE_WRITER	(1u << 1)	/* the pool's writer (database_write_url) */
#define ROLE_TRACKER	(1u << 2)	/* a publisher's sender */
#define ROLE_NOTIFY	(1u << 3)	/* tp-notify's reader (tp_notify) */

struct store_statement {
	const char	*ss_name;	/* what it is prepared as */
	const char	*ss_sql;
	int		 ss_nparams;
	unsigned	 ss_roles;	/* ROLE_* bits */
	bool		 ss_writes;	/* writes training_progress (RETURNING the rows) */
};

/* Indexed by enum store_stmt. */
extern const struct store_statement store_statements[STMT_COUNT];

/*
 * Decodes row `row` of a binary-format result of STMT_GET (or STMT_LOCK)
 * into *out.  Strings in *out point into `res`, so `res` must outlive *out.
 * Returns 0, or -1 when a column does not have the type or size expected
 * (the schema and the code disagree).
 */
int	 store_decode_progress(const PGresult *res, int row, struct progress_row *out);

/* How many columns STMT_GET's rows have. */
#define STORE_PROGRESS_COLS	20

/*
 * Where each of STMT_GET's columns is among the n columns of a table whose
 * columns are named names[0..n) (training_progress as logical decoding
 * describes it, in its own order): map[i] for STMT_GET's column i.  0, or
 * -1 when one is missing.  Done once per description, not per row.
 */
int	 store_progress_map(int n, const char *const *names, int map[STORE_PROGRESS_COLS]);
/*
 * A one-row result with STMT_GET's columns, made from such a row
 * (tp-notify): types[i] and values[i] (binary, lens[i] bytes; NULL: SQL
 * NULL) of the table's column i, picked through map.  store_decode_progress()
 * then reads it as it reads a GET's, and render_progress() renders the same
 * document.  NULL when a column the document uses is unknown[i] (a TOASTed
 * value the change did not carry: the caller reads the row instead), or
 * when memory runs out.
 */
PGresult *store_progress_result(const int map[STORE_PROGRESS_COLS], const Oid *types,
	    const char *const *values, const int *lens, const bool *unknown);

/* Decodes row `row` of a jobs list result.  0, or -1 (schema mismatch). */
int	 store_decode_job_item(const PGresult *res, int row, struct job_item *out);

/* One snapshot of a job's history (STMT_HISTORY), as decoded. */
struct snapshot {
	int64_t		 sn_seq;
	int64_t		 sn_at;			/* Unix microseconds */
	const char	*sn_status;
	double		 sn_percentage;
	int32_t		 sn_step_number;
	const char	*sn_current_step;
	double		 sn_step_percentage;
	bool		 sn_has_iteration;
	int32_t		 sn_iteration;
	bool		 sn_has_best_score;
	double		 sn_best_score;
	bool		 sn_has_current_score;
	double		 sn_current_score;
};

/*
 * Decodes row `row` of a STMT_HISTORY result.  0; 1 when the row says the
 * job exists but has no snapshot there (the outer join's NULLs); -1 when a
 * column does not have the type expected.  Strings point into res.
 */
int	 store_decode_snapshot(const PGresult *res, int row, struct snapshot *out);

/* One target a job's end is told to (STMT_NOTIFICATIONS, schema/015), as decoded. */
struct job_notification {
	const char	*jn_kind;		/* webhook, slack, email */
	const char	*jn_target;		/* cut short: no credential */
	bool		 jn_every_job;		/* a target for every job, not the job's own */
	const char	*jn_event;		/* job.completed ...; NULL before the end */
	const char	*jn_state;		/* waiting, pending, retrying, delivered, dead, none */
	int32_t		 jn_attempts;
	bool		 jn_has_delivered_at;
	int64_t		 jn_delivered_at;
	bool		 jn_has_next_attempt_at;
	int64_t		 jn_next_attempt_at;
	const char	*jn_last_error;		/* NULL: none */
};

/*
 * Decodes row `row` of a STMT_NOTIFICATIONS result.  0; 1 when the row says
 * the job has no target at all (the outer join's NULLs); -1 when the result
 * is not what this build expects.
 */
int	 store_decode_notification(const PGresult *res, int row, struct job_notification *out);
/*
 * Renders whom a job's end is told: {"job_id": id, "notifications": [{kind,
 * target, every_job, event, state, attempts, delivered_at, next_attempt_at,
 * last_error}, ...]}.  A string the caller frees, or NULL out of memory.
 */
char	*render_notifications(const char *job_id, const struct job_notification *items,
	    int n, size_t *len);

/* A row STMT_PUT returned: a state it applied. */
struct store_applied {
	const char	*sa_job_id;	/* points into the result */
	uint64_t	 sa_seq;
	const char	*sa_status;	/* the stored status after the write */
	bool		 sa_cancelled;	/* "cancelled": a cancel request ended the job */
};

/*
 * Decodes row `row` of a STMT_PUT result, text or binary.  0, or -1 when
 * there is no such row (the state was refused) or it does not decode.
 */
int	 store_put_applied(const PGresult *res, int row, struct store_applied *out);

/* The parameters of STMT_PUT: one array per column, one element per job. */
#define PUT_NPARAMS	17

/* The parameters of STMT_PUT: array literals being built. */
struct put_batch {
	struct tbuf	 pb_arrays[PUT_NPARAMS];
	const char	*pb_values[PUT_NPARAMS];
	int		 pb_count;
};

/* Empties a batch, keeping its memory. */
void	 store_batch_reset(struct put_batch *pb);
void	 store_batch_free(struct put_batch *pb);
/* Adds one job's state.  0, or -1 out of memory. */
int	 store_batch_add(struct put_batch *pb, const char *job_id,
	    const struct job_state *js);
/* Closes the arrays and points pb_values at them.  0 or -1. */
int	 store_batch_finish(struct put_batch *pb);
/* A batch of one state, ready: reset, add, finish.  0, or -1 out of memory. */
int	 store_batch_one(struct put_batch *pb, const char *job_id,
	    const struct job_state *js);
/* Writes values[0..n) into tb as a text[] literal.  0, or -1 out of memory. */
int	 store_text_array(struct tbuf *tb, const char *const *values, int n);

/* conn.c */

/* Outcome of one round trip to PostgreSQL. */
enum conn_trip {
	CONN_OK,		/* *res is PGRES_TUPLES_OK or PGRES_COMMAND_OK */
	CONN_TIMEOUT,		/* the deadline passed: drop the connection */
	CONN_LOST,		/* the connection is dead: reconnect */
	CONN_ERROR		/* the server answered with an error, in *res */
};

/* What conn_connect() opens, and what it sets up on the session. */
struct conn_setup {
	const char	*cs_app_name;		/* fallback_application_name */
	const char	*cs_conninfo;		/* NULL or "": libpq's defaults */
	const char	*cs_password;		/* NULL: none; else it wins */
	int		 cs_statement_timeout_ms; /* > 0: statement_timeout */
	const char	*cs_plan_cache_mode;	/* NULL: the server's */
	bool		 cs_async_commit;	/* synchronous_commit off */
	unsigned	 cs_roles;		/* prepare the statements of these ROLE_* */
	bool		 cs_replication;	/* a logical replication session (tp-notify's
						   feed): opened, nothing set or prepared */
};

/*
 * Opens a connection the way every part of trainprog does: our defaults
 * (fallback_application_name, connect_timeout, client_encoding UTF8,
 * keepalives), then the conninfo (which may override them), then the
 * password; sets the session up and prepares the statements of cs_roles,
 * all before `deadline` (a mono_ms() instant).  Returns a non-blocking
 * connection the caller closes with PQfinish, or NULL with a sentence in
 * err saying which step failed and why.
 */
PGconn	*conn_connect(const struct conn_setup *cs, int64_t deadline, char *err,
	    size_t errsz);
/*
 * Flushes what is queued on conn and collects the result of one command
 * before `deadline`.  On CONN_OK and CONN_ERROR, *res holds the result (the
 * caller PQclears it); otherwise *res is NULL.
 */
enum conn_trip conn_round_trip(PGconn *conn, int64_t deadline, PGresult **res);
/* PQsendQueryParams (text parameters; results in result_format) + conn_round_trip. */
enum conn_trip conn_exec_params(PGconn *conn, const char *sql, int nparams,
	    const char *const *values, int result_format, int64_t deadline,
	    PGresult **res);
/* Runs a prepared statement (text parameters, as many as the table says) + conn_round_trip. */
enum conn_trip conn_exec_stmt(PGconn *conn, enum store_stmt stmt,
	    const char *const *values, int result_format, int64_t deadline,
	    PGresult **res);
/*
 * Is an error with this SQLSTATE the database being unavailable (connection
 * trouble, shutdown, overload, a cancelled statement, a standby conflict),
 * rather than a bug or a misconfiguration?  NULL (no SQLSTATE) counts as
 * unavailable.
 */
bool	 conn_sqlstate_unavailable(const char *state);
/* Should a prepared statement be prepared again on a fresh session? */
bool	 conn_sqlstate_reprepare(const char *state);

#endif /* TP_LIB_INTERNAL_H */

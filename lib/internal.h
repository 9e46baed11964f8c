/* internal.h: private interfaces of libtrainprog, shared with tp-fcgi and the tests. */
#ifndef TP_LIB_INTERNAL_H
#define TP_LIB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <tp/progress.h>

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
};

/* render.c */

/* Longest text render_timestamp() writes, with its NUL. */
#define RENDER_TIMESTAMP_MAX	sizeof("-12345-01-01T00:00:00.000000Z")

/*
 * Writes `unix_us` as RFC 3339 in UTC ending in "Z", with a fraction of six
 * digits only when the microseconds are not zero.  Returns the length, or -1
 * when the instant has no four-digit year (before 0001 or after 9999).
 */
int	 render_timestamp(int64_t unix_us, char *buf, size_t size);

/*
 * Renders a row as the progress document: the spec's 17 fields in the spec's
 * order, every one present, null where unknown.  Returns a NUL-terminated
 * string the caller frees with free(), and its length in *len; NULL when out
 * of memory or when a JSON column does not hold a JSON object.
 */
char	*render_progress(const struct progress_row *row, size_t *len);

/*
 * Renders {"error": code, "message": message}.  Returns a string the caller
 * frees with free(), or NULL when out of memory.
 */
char	*render_error(const char *code, const char *message, size_t *len);

/* conn.c */

/* Monotonic milliseconds: what every deadline is measured on. */
int64_t	 mono_ms(void);

/* Outcome of one round trip to PostgreSQL. */
enum conn_trip {
	CONN_OK,		/* *res is PGRES_TUPLES_OK or PGRES_COMMAND_OK */
	CONN_TIMEOUT,		/* the deadline passed: drop the connection */
	CONN_LOST,		/* the connection is dead: reconnect */
	CONN_ERROR		/* the server answered with an error, in *res */
};

/*
 * Connects with PQconnectStartParams(keywords, values, expand_dbname=1)
 * before `deadline` (a mono_ms() instant).  Returns a non-blocking connection
 * the caller closes with PQfinish, or NULL with a sentence in err.
 */
PGconn	*conn_open(const char *const *keywords, const char *const *values,
	    int64_t deadline, char *err, size_t errsz);
/*
 * Flushes what is queued on conn and collects the result of one command
 * before `deadline`.  On CONN_OK and CONN_ERROR, *res holds the result (the
 * caller PQclears it); otherwise *res is NULL.
 */
enum conn_trip conn_round_trip(PGconn *conn, int64_t deadline, PGresult **res);
/* PQsendQueryParams (text in, text out) + conn_round_trip. */
enum conn_trip conn_exec_params(PGconn *conn, const char *sql, int nparams,
	    const char *const *values, int64_t deadline, PGresult **res);
/* PQsendPrepare + conn_round_trip; the result is cleared here. */
enum conn_trip conn_prepare(PGconn *conn, const char *name, const char *sql,
	    int nparams, int64_t deadline);
/* PQsendQueryPrepared (text parameters) + conn_round_trip. */
enum conn_trip conn_exec_prepared(PGconn *conn, const char *name, int nparams,
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

/* store.c */

#define STORE_PROGRESS_GET	"tp_progress_get"

/* The SQL text of the STORE_PROGRESS_GET statement ($1 = job_id). */
extern const char	 store_progress_get_sql[];

/*
 * Decodes row `row` of a binary-format result of STORE_PROGRESS_GET into
 * *out.  Strings in *out point into `res`, so `res` must outlive *out.
 * Returns 0, or -1 when a column does not have the type or size expected
 * (the schema and the code disagree).
 */
int	 store_decode_progress(const PGresult *res, int row, struct progress_row *out);

#endif /* TP_LIB_INTERNAL_H */

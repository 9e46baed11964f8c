/* pool.h: private interfaces of tp-fcgi, grouped by the file that defines them. */
#ifndef TP_FCGI_POOL_H
#define TP_FCGI_POOL_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <fcgiapp.h>
#include <libpq-fe.h>

#include <tp/progress.h>

#include "../lib/internal.h"

#define TP_FCGI_NAME	"tp-fcgi"

/* config.c */

struct config {
	char	*cf_listen;		/* unix socket path, or host:port */
	mode_t	 cf_listen_mode;	/* of a unix socket */
	char	*cf_listen_owner;	/* user name or NULL */
	char	*cf_listen_group;	/* group name or NULL */
	int	 cf_listen_backlog;
	int	 cf_workers;
	char	*cf_database_url;	/* NULL: libpq defaults (PGHOST, ...) */
	int	 cf_db_timeout_ms;	/* a request's budget for database work */
	int	 cf_statement_timeout_ms;
	int	 cf_db_retry_ms;	/* wait after a failed connect */
	int	 cf_shutdown_timeout_ms;
	char	*cf_pid_file;		/* NULL: none */
	int	 cf_log_level;
};

/* Longest error text the config functions write. */
#define CONFIG_ERR_MAX	512

/* Fills *cf with the defaults, DATABASE_URL included.  0 or -1 (ENOMEM). */
int	 config_init(struct config *cf);
/* Frees what *cf owns; NULL-safe, and *cf may be reused after config_init. */
void	 config_free(struct config *cf);
/*
 * Sets one setting by name ("workers") from text ("4").  Dashes in the name
 * count as underscores.  Returns 0, or -1 with a sentence in err.
 */
int	 config_set(struct config *cf, const char *name, const char *value,
	    char *err, size_t errsz);
/* Reads a file of `name = value` lines.  0, or -1 with "file:line: why" in err. */
int	 config_load_file(struct config *cf, const char *path, char *err, size_t errsz);
/* Checks settings against each other.  0, or -1 with why in err. */
int	 config_check(const struct config *cf, char *err, size_t errsz);
/* Prints every setting and its help, for --help. */
void	 config_usage(FILE *fp);
/* Is this setting known? */
bool	 config_known(const char *name);

/* log.c */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Names this process in every record ("master", "worker"); slot -1: none. */
void	 log_set_role(const char *role, int slot);
void	 log_set_level(int level);
int	 log_level_parse(const char *s);	/* -1 if unknown */
/*
 * Writes one logfmt record to stderr: ts, level, pid, role, event and the
 * formatted message as msg="...", escaped.  One write(2) per record.
 */
void	 log_msg(enum log_level level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
#define log_debug(ev, ...)	log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)	log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)	log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...)	log_msg(LOG_ERROR, ev, __VA_ARGS__)

/* listen.c */

/*
 * Opens the listening socket cf_listen names: a unix socket (mode, owner and
 * group applied; an existing socket is replaced only when nobody answers on
 * it) or a TCP host:port.  Returns the fd (non-blocking, close-on-exec), or
 * -1 after printing why to stderr.
 */
int	 listen_open(const struct config *cf);
/* Removes the unix socket file listen_open() created, if any. */
void	 listen_unlink(const struct config *cf);

/* master.c */

/*
 * Runs the pool: forks cf_workers workers on listen_fd, replaces any that
 * die, and on SIGTERM or SIGINT stops them gracefully.  Returns the process
 * exit status.
 */
int	 master_run(const struct config *cf, int listen_fd);

/* worker.c */

/*
 * Serves requests on listen_fd until told to stop (SIGTERM), then serves
 * what is already queued and exits 0.  Exits at once if `master` is gone.
 * Called in the child right after fork, with the pool's signals blocked.
 */
void	 worker_run(const struct config *cf, int listen_fd, int slot, pid_t master)
	    __attribute__((noreturn));

/* db.c */

struct db {
	PGconn		*db_conn;
	const struct config *db_cf;
	int64_t		 db_next_connect;	/* mono_ms() before which not to retry */
	bool		 db_down;		/* last attempt failed (for logging) */
};

enum db_status {
	DB_OK,		/* a result is here */
	DB_UNAVAILABLE,	/* cannot reach the database in time: 503 */
	DB_FAILED	/* the database answered with an error: 500 */
};

void	 db_init(struct db *db, const struct config *cf);
/* Connects now if not connected (within the configured budget). */
void	 db_warm(struct db *db);
void	 db_close(struct db *db);
/*
 * Runs a prepared statement with text parameters and binary results, within
 * `deadline` (a mono_ms() instant).  Connects and prepares first if needed;
 * retries once on a fresh connection when the old one turns out to be dead.
 * On DB_OK, *res is a PGRES_TUPLES_OK result the caller frees with PQclear.
 */
enum db_status db_exec(struct db *db, const char *stmt, int nparams,
	    const char *const *values, int64_t deadline, PGresult **res);
/* Seconds a client should wait before retrying after DB_UNAVAILABLE (>= 1). */
int	 db_retry_after(const struct db *db);

/* router.c */

enum route_id {
	ROUTE_NONE,
	ROUTE_PROGRESS		/* /api/v2/training/jobs/{job_id}/progress */
};

enum route_result {
	ROUTE_OK,
	ROUTE_BAD_REQUEST,	/* 400: rt_problem says why */
	ROUTE_NOT_FOUND,	/* 404: no such endpoint */
	ROUTE_METHOD_NOT_ALLOWED /* 405: rt_allow lists what is */
};

/* The prefix every path of the API starts with. */
#define ROUTE_PREFIX	"/api/v2/training/"

struct route {
	enum route_id	 rt_id;
	bool		 rt_head;		/* HEAD: headers only */
	char		 rt_job_id[TP_JOB_ID_MAX + 1];
	size_t		 rt_job_id_len;
	const char	*rt_error;		/* 400: error code */
	const char	*rt_problem;		/* 400: static sentence */
	const char	*rt_allow;		/* "GET, HEAD" */
};

/*
 * Matches a method and a raw request URI (as sent, percent-encoded, query
 * allowed) to an endpoint.  Path segments are split before they are decoded,
 * so %2F stays inside a job id.  Fills *rt; never allocates.
 */
enum route_result route_match(const char *method, const char *uri, struct route *rt);

/* http.c */

/* Per-request state: one per worker, reset by request_reset() on every exit. */
struct request {
	FCGX_Request	*rq_fcgi;
	struct route	 rq_route;
	int		 rq_status;		/* what was sent, for the log */
	int64_t		 rq_started;		/* mono_ms() at accept */
};

void	 request_reset(struct request *rq, FCGX_Request *fcgi);
/*
 * Sends a complete response: status, JSON body (not sent for HEAD, but
 * counted in Content-Length) and any extra header lines ("Allow: GET\r\n").
 */
void	 http_reply_json(struct request *rq, int status, const char *body,
	    size_t len, const char *extra_headers);
/* Sends {"error": code, "message": message} with `status`. */
void	 http_reply_error(struct request *rq, int status, const char *code,
	    const char *message, const char *extra_headers);
/* The reason phrase of a status code ("Not Found"). */
const char *http_reason(int status);

/* handler_progress.c */

/* GET/HEAD /api/v2/training/jobs/{job_id}/progress */
void	 handle_progress(struct request *rq, struct db *db);

#endif /* TP_FCGI_POOL_H */

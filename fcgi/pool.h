/* pool.h: private interfaces of tp-fcgi, grouped by the file that defines them. */
#ifndef TP_FCGI_POOL_H
#define TP_FCGI_POOL_H

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

struct cache;
struct request;

/* config.c */

struct config {
	char	*cf_listen;		/* unix socket path, or host:port */
	mode_t	 cf_listen_mode;	/* of unix sockets */
	char	*cf_listen_owner;	/* user name or NULL */
	char	*cf_listen_group;	/* group name or NULL */
	int	 cf_listen_backlog;
	char	*cf_status_listen;	/* the status socket, or NULL: none */
	int	 cf_workers;
	int	 cf_max_requests;	/* 0: no recycling */
	int	 cf_max_requests_jitter;
	int	 cf_request_timeout_ms;	/* 0: none */
	int	 cf_slow_request_ms;	/* 0: not logged */
	int	 cf_max_params_size;	/* bytes of FastCGI parameters */
	int	 cf_max_body_size;	/* bytes of request body */
	char	*cf_database_url;	/* NULL: libpq defaults (PGHOST, ...) */
	char	*cf_database_password_file;
	char	*cf_database_write_url;	/* NULL: no publishing over HTTP */
	char	*cf_database_write_password_file;
	int	 cf_stall_after_ms;	/* 0: nothing reads as stalled */
	int	 cf_stall_fail_after_ms;	/* 0: stalled jobs are never given up */
	int	 cf_history_prune_every_ms;	/* the history's age sweep */
	bool	 cf_read_token_required;
	int	 cf_read_cache;		/* documents each worker keeps; 0: none */
	int	 cf_read_cache_ttl_ms;	/* ... for at most this long */
	int	 cf_db_timeout_ms;	/* a request's budget for database work */
	int	 cf_statement_timeout_ms;
	int	 cf_db_retry_ms;	/* wait after a failed connect */
	int	 cf_shutdown_timeout_ms;
	int	 cf_storm_deaths;	/* a crash storm: this many deaths ... */
	int	 cf_storm_window_ms;	/* ... within this long (0 deaths: off) */
	char	*cf_user;		/* drop to this user when started as root */
	char	*cf_group;
	char	*cf_log;		/* "stderr" or a file */
	char	*cf_pid_file;		/* NULL: none */
	int	 cf_log_level;
	/* Not settings: filled in by config_load(). */
	char	*cf_database_password;	/* read from cf_database_password_file */
	char	*cf_database_write_password;
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

/* A --name=value flag from the command line. */
struct config_flag {
	char		 fl_name[64];
	const char	*fl_value;
};

/*
 * The whole procedure: defaults, then the file (if path is not NULL), then
 * the flags, then config_check(), then the password file.  Used at start
 * and on reload.  0, or -1 with why in err (*cf then freed).
 */
int	 config_load(struct config *cf, const char *path, const struct config_flag *flags,
	    int nflags, char *err, size_t errsz);
/*
 * Closes the password files config_load() keeps open for reloads: in every
 * child, which has no use for them.
 */
void	 config_secrets_close(void);
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
/*
 * Like log_msg(), but fmt produces the record's own key=value fields (no
 * msg=): quote any text from outside with log_quote().
 */
void	 log_kv(enum log_level level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* s as a quoted, escaped logfmt value, in buf.  Returns buf. */
const char *log_quote(const char *s, char *buf, size_t size);
/* Sends records to `target`: "stderr", or a file appended to (via fd 2). */
int	 log_open(const char *target);
/* Opens the log file again (after rotation).  0, or -1 (the old one stays). */
int	 log_reopen(void);
#define log_debug(ev, ...)	log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)	log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)	log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...)	log_msg(LOG_ERROR, ev, __VA_ARGS__)

/* scoreboard.c */

#define SB_SLOTS	1024	/* two generations of the largest pool, during a reload */

enum sb_state {
	SB_FREE,		/* no process */
	SB_STARTING,		/* forked, connecting to the database */
	SB_IDLE,		/* waiting for a request */
	SB_BUSY,		/* serving one */
	SB_STOPPING		/* finishing, then exiting */
};

/* One process's slot: written by that process only (the master resets it). */
struct sb_worker {
	atomic_int		 w_state;	/* enum sb_state */
	atomic_int		 w_pid;
	atomic_uint		 w_generation;	/* bumped by each reload */
	atomic_int		 w_db;		/* 1 reachable, 0 not, -1 unknown */
	atomic_ullong		 w_requests;
	atomic_llong		 w_started_wall;	/* ms since the epoch */
	atomic_llong		 w_req_started_wall;
	atomic_llong		 w_req_started_mono;	/* 0: no request */
	atomic_uint		 w_seq;		/* odd while the strings change */
	char			 w_method[12];
	char			 w_uri[256];
};

struct scoreboard {
	int64_t			 sb_start_ms;	/* wall clock, the master's start */
	atomic_ullong		 sb_accepted;	/* requests accepted, all workers */
	atomic_ullong		 sb_all_busy;	/* times every worker was busy */
	atomic_uint		 sb_busy;	/* workers busy now */
	atomic_ullong		 sb_rejected;	/* connections refused by the guard */
	atomic_ullong		 sb_abandoned;	/* requests whose client left before a worker took them */
	atomic_ullong		 sb_slow;	/* requests over slow_request */
	atomic_ullong		 sb_restarts;	/* workers replaced after dying */
	atomic_ullong		 sb_timeouts;	/* workers killed at request_timeout */
	atomic_ullong		 sb_recycled;	/* workers replaced at max_requests */
	atomic_ullong		 sb_reloads;
	atomic_uint		 sb_generation;
	atomic_int		 sb_workers;	/* configured */
	atomic_int		 sb_storm;	/* 1 during a crash storm */
	atomic_llong		 sb_db_ok_wall;	/* last time a worker reached it */
	atomic_llong		 sb_db_fail_wall;	/* ... and failed to */
	atomic_llong		 sb_expire_due;		/* mono_ms() of the next expiry sweep */
	atomic_ullong		 sb_expired;		/* jobs the sweeps gave up */
	atomic_llong		 sb_prune_due;		/* mono_ms() of the next history sweep */
	atomic_ullong		 sb_history_pruned;	/* snapshots past max_age deleted */
	atomic_ullong		 sb_cache_gen;		/* bumped by the pool's own writes */
	atomic_ullong		 sb_cache_hits;		/* GETs answered from a worker's cache */
	atomic_ullong		 sb_cache_misses;
	struct sb_worker	 sb_slots[SB_SLOTS];
};

extern struct scoreboard *scoreboard;

/* Maps the scoreboard, shared with every child forked after.  0 or -1. */
int	 scoreboard_create(void);
void	 sb_set_state(int slot, enum sb_state state);
/* A request starts in `slot`: its method and URI, and the busy counts. */
void	 sb_request_begin(int slot, const char *method, const char *uri, int workers);
void	 sb_request_end(int slot);
/* Copies the current request of `slot`, consistently (seqlock). */
void	 sb_read_request(int slot, char *method, size_t msize, char *uri, size_t usize);

/* priv.c */

/*
 * Started as root with `user` set: becomes that user (and `group`, or the
 * user's, with its supplementary groups), then checks that root cannot be
 * regained.  Started as root without `user`: a warning.  Not root with
 * `user` set: fine if already that user, otherwise an error.  0, or -1
 * after a message.
 */
int	 priv_drop(const struct config *cf);
/*
 * Opens a file the pool writes as root (pid file, log) in a directory
 * others may own: never through a symbolic link (O_NOFOLLOW), never a file
 * that is not regular or has another name (a hard link): such files fail
 * with ELOOP, EINVAL or EMLINK.  O_TRUNC is applied after the checks.
 * Returns the descriptor (close-on-exec, blocking), or -1 with errno.
 */
int	 priv_open_file(const char *path, int flags, mode_t mode);
/* Why priv_open_file() failed, in words, from its errno. */
const char *priv_file_error(int err);

/* listen.c */

/* The sockets the pool serves. */
struct pool_sockets {
	int	 ps_listen;		/* the API's FastCGI socket */
	int	 ps_status;		/* the status page's, or -1 */
	bool	 ps_listen_inherited;	/* from systemd or fd 0: never unlinked */
	bool	 ps_status_inherited;
	dev_t	 ps_listen_dev;		/* unix sockets we bound, to remove only them */
	ino_t	 ps_listen_ino;
	dev_t	 ps_status_dev;
	ino_t	 ps_status_ino;
};

/*
 * Takes the sockets systemd passed (LISTEN_FDS: the API's, then the status
 * page's), or a listening socket on fd 0 (the FastCGI convention), or binds
 * `listen` and `status_listen`: unix sockets with their mode, owner and
 * group (an existing socket is replaced only when nobody answers on it), or
 * TCP host:port.  Non-blocking, close-on-exec.  0, or -1 after a message.
 */
int	 sockets_open(const struct config *cf, struct pool_sockets *ps);
/* Removes the unix sockets this process bound (still open: queued ones are served). */
void	 sockets_unlink(const struct config *cf, struct pool_sockets *ps);
/* sockets_unlink() and close. */
void	 sockets_close(const struct config *cf, struct pool_sockets *ps);
/* Tells systemd (NOTIFY_SOCKET) "READY=1", "RELOADING=1", "STOPPING=1"... */
void	 notify_service_manager(const char *state);

/* guard.c */

struct guard_limits {
	size_t	 gl_max_params;
	size_t	 gl_max_body;
};

enum guard_parse {
	GUARD_INCOMPLETE,	/* well formed so far: wait for more */
	GUARD_COMPLETE,		/* a whole, well-formed request */
	GUARD_TOO_LARGE,	/* gi_status: 431 (parameters) or 413 (body) */
	GUARD_MALFORMED		/* gi_why says how */
};

struct guard_info {
	unsigned	 gi_request_id;
	size_t		 gi_params;	/* bytes of name-value pairs */
	size_t		 gi_params_end;	/* offset past the empty PARAMS record */
	size_t		 gi_body;
	size_t		 gi_end;	/* offset past the empty STDIN record */
	int		 gi_status;
	const char	*gi_why;	/* static text */
};

/*
 * Checks the first n bytes of a connection: BEGIN_REQUEST (responder role),
 * PARAMS of that request within the limit and with well-formed name-value
 * pairs, then STDIN within the limit, up to the empty STDIN record.
 * scratch must hold gl_max_params bytes.  Pure: no I/O.
 */
enum guard_parse guard_parse(const unsigned char *buf, size_t n,
	    const struct guard_limits *lim, unsigned char *scratch, struct guard_info *gi);
/*
 * The guard's buffer: every byte a request within the limits can take when
 * sent in records of a reasonable size (web servers send large ones).  A
 * well-formed request in many tiny padded records can be larger, and is
 * refused as too large.
 */
size_t	 guard_buffer_size(const struct guard_limits *lim);

/*
 * A worker's guard: its limits and buffers, and how the last request it
 * passed is to be read.  Most requests are only peeked at, and libfcgi
 * reads them from the connection.  One that arrives in pieces past
 * GUARD_CONSUME_AT bytes is taken off the connection as it comes (a client
 * that waits for room to write would otherwise wait for ever): then
 * g_replay is a socket holding its BEGIN_REQUEST and PARAMS for libfcgi,
 * and g_body its body.
 */
struct guard {
	struct guard_limits	 g_limits;
	unsigned char		*g_buf;
	unsigned char		*g_scratch;
	unsigned char		*g_body;	/* gl_max_body + 1 bytes */
	size_t			 g_size;
	int			 g_read_ms;
	int			 g_replay;	/* -1: the request is still in the connection */
	size_t			 g_body_len;
};

enum guard_result {
	GUARD_NONE,		/* nothing to accept (another process took it) */
	GUARD_READY,		/* *out: a connection with a whole, checked request */
	GUARD_REFUSED		/* a connection was refused (and closed) */
};

void	 guard_init(struct guard *g, const struct config *cf);
void	 guard_free(struct guard *g);
/*
 * Accepts one connection on the non-blocking listen_fd, if any, and waits
 * (up to 5 s, or request_timeout if shorter) until its whole request is
 * there and checked.  On GUARD_READY, *out is a blocking fd for libfcgi.
 */
enum guard_result guard_accept(struct guard *g, int listen_fd, int *out);

/* master.c */

/*
 * Runs the pool on the sockets: forks the workers (and the status process),
 * replaces any that die, enforces request_timeout, reloads on SIGHUP (the
 * file at config_path and the same flags again), reopens the log on
 * SIGUSR1, and stops on SIGTERM (gracefully) or SIGINT (at once).  *cf is
 * replaced by a reload.  Returns the process exit status.
 */
int	 master_run(struct config *cf, struct pool_sockets *ps, const char *config_path,
	    const struct config_flag *flags, int nflags);

/* serve.c */

/* What a pool process does with requests. */
typedef void (*dispatch_fn)(struct request *rq, void *arg);
struct serve_ops {
	dispatch_fn	 so_dispatch;		/* answer one request */
	void		(*so_after)(void *arg);	/* after each, or NULL */
	void		(*so_finish)(void *arg);	/* before exiting, or NULL */
	/*
	 * Another fd to wait on while idle (-1: none), and what to do after
	 * each wait, told whether it was readable.
	 */
	int		(*so_idle_fd)(void *arg, unsigned *gen);	/* gen: changes with the fd's connection */
	void		(*so_idle_ready)(void *arg, bool readable);
};

/*
 * The loop of every pool process: accepts checked requests on listen_fd and
 * dispatches them until SIGTERM (then serves what is queued), `limit`
 * requests (0: no limit), or the master's death.  Keeps `slot` of the
 * scoreboard up to date (-1: none).  Exits 0.
 */
void	 serve_requests(const struct config *cf, int listen_fd, int slot, pid_t master,
	    long limit, const struct serve_ops *ops, void *arg) __attribute__((noreturn));

/* worker.c */

/*
 * Serves requests on listen_fd until told to stop (SIGTERM), then serves
 * what is already queued and exits 0; also exits 0 after max_requests.
 * Dies with the master.  Called in the child right after fork, with the
 * pool's signals blocked.
 */
void	 worker_run(const struct config *cf, int listen_fd, int slot, pid_t master)
	    __attribute__((noreturn));

/* status.c */

/*
 * The status process: serves the status document on status_fd from the
 * scoreboard, never touching the database, so that it answers while every
 * worker is busy.  Like worker_run() otherwise.
 */
void	 status_run(const struct config *cf, int status_fd, int listen_fd, int slot,
	    pid_t master) __attribute__((noreturn));
/*
 * The status document (JSON): workers, counters, the listen queue of
 * listen_fd, the database as the workers see it.  The caller frees it.
 */
char	*status_render(const struct config *cf, int listen_fd, pid_t master, size_t *len);

/* db.c */

/*
 * A worker's two connections: reads as tp_reader, writes as a role that
 * may.  Each prepares the statements of its role in lib/store.c's table
 * (ROLE_READER, ROLE_WRITER); db_exec() and db_step() run them by id
 * (enum store_stmt: STMT_GET, STMT_PUT, ...).
 *
 * A write committed through a connection moves the read cache's shared
 * generation (cache_note_write()) by itself, before the caller hears of
 * it: a statement that writes (the table's ss_writes) and returned rows,
 * run outside a transaction, or the COMMIT of a transaction in which one
 * did.  A statement that changed nothing moves nothing.
 */
enum db_role { DB_READER, DB_WRITER };

/* The channel schema/003's trigger notifies on every write to the table. */
#define DB_CHANNEL		"trainprog_progress"

struct db {
	PGconn		*db_conn;
	const struct config *db_cf;
	enum db_role	 db_role;
	int64_t		 db_next_connect;	/* mono_ms() before which not to retry */
	bool		 db_down;		/* last attempt failed (for logging) */
	bool		 db_listen;		/* LISTEN on DB_CHANNEL at each connect */
	unsigned	 db_epoch;		/* bumped at each connection made */
	bool		 db_in_txn;		/* between db_begin() and its end */
	bool		 db_txn_wrote;		/* ... and a statement in it wrote rows */
};

enum db_status {
	DB_OK,		/* a result is here */
	DB_UNAVAILABLE,	/* cannot reach the database in time: 503 */
	DB_FAILED	/* the database answered with an error: 500, or see *res */
};

void	 db_init(struct db *db, const struct config *cf, enum db_role role);
/* Is there a connection string for this role?  (Writes are optional.) */
bool	 db_configured(const struct db *db);
/* Connects now if not connected (within the configured budget). */
void	 db_warm(struct db *db);
void	 db_close(struct db *db);
/*
 * Runs a prepared statement with text parameters (as many as the table
 * says) and binary results, within `deadline` (a mono_ms() instant).
 * Connects and prepares first if needed; retries once on a fresh
 * connection when the old one turns out to be dead.  On DB_OK, *res is a
 * PGRES_TUPLES_OK result the caller frees with PQclear.
 */
enum db_status db_exec(struct db *db, enum store_stmt stmt, const char *const *values,
	    int64_t deadline, PGresult **res);
/*
 * One step of a transaction, no retry, binary results.  On DB_FAILED *res
 * holds the error (SQLSTATE) for the caller, who PQclears it; on
 * DB_UNAVAILABLE the connection is dropped (the transaction with it).
 */
enum db_status db_step(struct db *db, enum store_stmt stmt, const char *const *values,
	    int64_t deadline, PGresult **res);
/*
 * Starts a transaction: like db_exec() (a dead connection is replaced
 * first), since nothing has happened yet.  The steps after use db_step().
 */
enum db_status db_begin(struct db *db, int64_t deadline);
/*
 * Commits the transaction: DB_OK once it is committed; DB_UNAVAILABLE when
 * the outcome is not known (the connection is dropped); DB_FAILED when
 * the server refused (the transaction is over either way).
 */
enum db_status db_commit(struct db *db, int64_t deadline);
/* Ends a failed transaction (or drops the connection, and it with it). */
void	 db_rollback(struct db *db, int64_t deadline);
/*
 * Reads what the server sent unasked (notifications), without waiting.
 * True when anything changed: a notification came, or the connection
 * turned out dead (it is dropped; what it would have said is lost).
 */
bool	 db_poll_notify(struct db *db);
/*
 * Notifications libpq already holds (read along with a query's results),
 * without a system call.  True when there was any.
 */
bool	 db_take_notifies(struct db *db);
/* The connection's socket, to wait for notifications on; -1: none. */
int	 db_socket(const struct db *db);
/* Seconds a client should wait before retrying after DB_UNAVAILABLE (>= 1). */
int	 db_retry_after(const struct db *db);
/* The stall time as the statements' text parameter ("60"), or NULL: none. */
const char *db_stall_param(const struct config *cf, char *buf, size_t size);

/* router.c */

/*
 * Percent-decodes s[0..len) into out (at most outsz bytes, no NUL added);
 * '+' is a space only in a query (plus_is_space), never in a path.  The
 * decoded length, -1 for a malformed escape, -2 when it does not fit.
 */
long	 pct_decode(const char *s, size_t len, char *out, size_t outsz, bool plus_is_space);

enum route_id {
	ROUTE_NONE,
	ROUTE_PROGRESS,		/* GET, HEAD /api/v2/training/jobs/{job_id}/progress */
	ROUTE_PUBLISH,		/* POST /api/v2/training/jobs/{job_id}/progress */
	ROUTE_CANCEL,		/* POST /api/v2/training/jobs/{job_id}/cancel */
	ROUTE_HISTORY,		/* GET, HEAD /api/v2/training/jobs/{job_id}/progress/history */
	ROUTE_NOTIFICATIONS,	/* GET, HEAD /api/v2/training/jobs/{job_id}/notifications */
	ROUTE_STREAM,		/* GET /api/v2/training/jobs/{job_id}/progress/stream */
	ROUTE_JOBS,		/* GET, HEAD /api/v2/training/jobs */
	ROUTE_SUBMIT,		/* POST /api/v2/training/jobs: start a job */
	ROUTE_PING		/* GET, HEAD /_trainprog/ping */
};

enum route_result {
	ROUTE_OK,
	ROUTE_BAD_REQUEST,	/* 400: rt_problem says why */
	ROUTE_NOT_FOUND,	/* 404: no such endpoint */
	ROUTE_METHOD_NOT_ALLOWED /* 405: rt_allow lists what is */
};

/* The prefix every path of the API starts with. */
#define ROUTE_PREFIX	"/api/v2/training/"
/* The load balancer's check: answered by a worker, without the database. */
#define ROUTE_PING_PATH	"/_trainprog/ping"

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
	FCGX_Request		*rq_fcgi;
	const char		*rq_body;	/* the body, when the guard took it in; or NULL */
	size_t			 rq_body_len;
	const struct config	*rq_cf;
	struct db		*rq_reader;
	struct db		*rq_writer;
	struct cache		*rq_cache;
	struct route		 rq_route;
	int			 rq_status;	/* what was sent, for the log */
	int64_t			 rq_started;	/* mono_ms() at accept */
	char			 rq_token_id[TOKEN_ID_LEN + 1];	/* auth_require() passed it; "" */
};

/* Clears *rq for a new request on fcgi, started now. */
void	 request_reset(struct request *rq, FCGX_Request *fcgi);
/* A FastCGI parameter of the request ("REQUEST_METHOD"), or NULL. */
const char *http_param(const struct request *rq, const char *name);
/* rq_started + db_timeout: the deadline of the request's database work. */
int64_t	 http_db_deadline(const struct request *rq);
/*
 * Reads the request body (CONTENT_LENGTH bytes, at most max) into a buffer
 * the caller frees, NUL-terminated.  Returns the length, or -1 (a body
 * longer than max, or shorter than announced).
 */
long	 http_read_body(struct request *rq, size_t max, char **out);
/*
 * The body of a write, declared JSON (application/json, with or without
 * parameters, or application/...+json) and read whole into a buffer the
 * caller frees, NUL-terminated.  Its length, or -1 after sending 415
 * unsupported_media_type or 400 invalid_body (a length that is not its
 * Content-Length).
 */
long	 http_read_json_body(struct request *rq, char **out);
/*
 * Sends a complete response: status, JSON body (not sent for HEAD, but
 * counted in Content-Length) and any extra header lines ("Allow: GET\r\n").
 */
void	 http_reply_json(struct request *rq, int status, const char *body,
	    size_t len, const char *extra_headers);
/* Sends {"error": code, "message": message} with `status`. */
void	 http_reply_error(struct request *rq, int status, const char *code,
	    const char *message, const char *extra_headers);
/* The same with "field": the request field at fault (NULL: none). */
void	 http_reply_field_error(struct request *rq, int status, const char *code,
	    const char *message, const char *field, const char *extra_headers);
/* Sends 503 database_unavailable with Retry-After. */
void	 http_reply_unavailable(struct request *rq, const struct db *db);
/*
 * True for DB_OK; otherwise sends the error (503 with Retry-After, or 500
 * saying `failed`) and returns false.
 */
bool	 http_db_ok(struct request *rq, const struct db *db, enum db_status st,
	    const char *failed);
/* The reason phrase of a status code ("Not Found"). */
const char *http_reason(int status);
/*
 * Renders the job's progress document from a STMT_GET result into *body
 * (NUL-terminated, the caller frees it), and leaves the decoded row in
 * *row unless row is NULL (it points into res).  0, or -1 when there is no
 * such job (404 sent) or the row cannot be read or rendered (500 sent).
 */
int	 http_render_progress(struct request *rq, PGresult *res, struct progress_row *row,
	    char **body, size_t *len);
/* 404 not_found: no job has the request's job id. */
void	 http_reply_no_job(struct request *rq);
/* Sends the job's progress document (as above, tagged) with `status`, or the 404 or 500. */
void	 http_reply_progress(struct request *rq, PGresult *res, int status);
/*
 * Sends a document with its entity tag (render_etag()): with `status`, or,
 * for a 200 to GET/HEAD .../progress whose If-None-Match names the tag,
 * 304 Not Modified without a body.
 */
void	 http_reply_tagged(struct request *rq, int status, const char *body, size_t len,
	    const char *etag);

/* cache.c */

/* Documents larger than this are not kept. */
#define CACHE_DOC_MAX	16384

struct cache_entry {
	char		*ce_data;	/* the job id, then the document */
	size_t		 ce_cap;
	size_t		 ce_jlen;
	size_t		 ce_blen;
	uint64_t	 ce_hash;
	uint64_t	 ce_shared_gen;
	unsigned	 ce_gen;
	int64_t		 ce_filled;	/* mono_ms() */
	char		 ce_etag[RENDER_ETAG_MAX];	/* the document's */
};

struct cache {
	struct cache_entry *c_slots;
	int		 c_n;
	int		 c_ttl_ms;
	unsigned	 c_gen;		/* bumped by cache_invalidate() */
	unsigned	 c_epoch;	/* of the connection whose news it follows */
	bool		 c_fresh;	/* no news was waiting when this request came */
	uint64_t	 c_hits;
	uint64_t	 c_misses;
};

/* entries slots kept ttl_ms at most; 0 for either: no cache.  0 or -1. */
int	 cache_init(struct cache *c, int entries, int ttl_ms);
void	 cache_free(struct cache *c);
bool	 cache_enabled(const struct cache *c);

/*
 * The protocol, for the GET handler and the worker's loop.  A lookup takes
 * in the news of writes that came meanwhile (notifications on the reader
 * connection, the shared generation), then returns the kept document for
 * job[0..jlen) (its entity tag in *etag) or NULL (c may be NULL: no cache),
 * counting the hit or miss; *ticket is what a document read after it may be
 * kept under.
 */
const char *cache_lookup(struct cache *c, struct db *reader, const char *job, size_t jlen,
	    uint64_t *ticket, size_t *len, const char **etag);
/*
 * Keeps a document just read on `reader` for job[0..jlen), unless a write
 * was announced while it was being read (then everything kept goes).
 */
void	 cache_store(struct cache *c, struct db *reader, uint64_t ticket, const char *job,
	    size_t jlen, const char *body, size_t blen, const char *etag);
/* The fd a worker waits on while idle for news of writes (-1: none); gen: its epoch. */
int	 cache_idle_fd(const struct cache *c, const struct db *reader, unsigned *gen);
/* After each idle wait, told whether that fd was readable. */
void	 cache_after_wait(struct cache *c, struct db *reader, bool readable);

/*
 * The pool wrote to training_progress (after COMMIT): every worker's cache
 * forgets, at its next request, without waiting for PostgreSQL's news.
 * Called by db.c on the writer connection, never by a handler.
 */
void	 cache_note_write(void);
/* The count of such writes (cache.c's ticket). */
uint64_t cache_shared_gen(void);
/* The mechanics, used by the protocol above (and its tests). */
/* Forgets every entry, in O(1). */
void	 cache_invalidate(struct cache *c);
/* The reader connection's epoch: a new connection, whose news started late, forgets all. */
void	 cache_epoch(struct cache *c, unsigned epoch);
/*
 * The document kept for job[0..jlen), if it was kept at this shared
 * generation, after the last invalidation, less than the TTL ago; else NULL.
 */
const char *cache_get(struct cache *c, const char *job, size_t jlen, uint64_t shared_gen,
	    int64_t now, size_t *len, const char **etag);
void	 cache_put(struct cache *c, const char *job, size_t jlen, const char *body,
	    size_t blen, const char *etag, uint64_t shared_gen, int64_t now);

/* auth.c */

/*
 * Checks the request's bearer token for `scope` ("publish", "cancel",
 * "read") against api_tokens, on db.  Returns true when it may go on;
 * otherwise the error (401, 403, 503) has been sent.
 */
bool	 auth_require(struct request *rq, struct db *db, const char *scope);
/*
 * For a write: 403 writes_disabled when the pool has no database_write_url,
 * then auth_require() on the writer.  True when it may go on, with the
 * token's id in rq_token_id.
 */
bool	 auth_require_writer(struct request *rq, struct db *db, const char *scope);

/* handler_ping.c */

/* GET/HEAD /_trainprog/ping: 200 {"status": "ok"}, no database. */
void	 handle_ping(struct request *rq);

/* handler_progress.c */

/* GET/HEAD /api/v2/training/jobs/{job_id}/progress */
void	 handle_progress(struct request *rq);

/* query.c */

#define JOBS_LIMIT_DEFAULT	50
#define JOBS_LIMIT_MAX		200
#define JOBS_LIMIT_MAX_TEXT	"200"
/* Longest cursor: base64url of "<int64>:<job id>". */
#define JOBS_CURSOR_MAX		((24 + TP_JOB_ID_MAX) * 4 / 3 + 4)

/* The dashboard list's query. */
struct jobs_query {
	unsigned	 jq_statuses;	/* bits over job_status_names */
	int		 jq_limit;
	bool		 jq_has_cursor;
	int64_t		 jq_cursor_us;
	char		 jq_cursor_id[TP_JOB_ID_MAX + 1];
	char		 jq_problem[256];	/* why it was refused */
};

/*
 * Parses a query string (status=a,b&active=true&limit=20&cursor=...): every
 * parameter at most once, nothing unknown.  0, or -1 with jq_problem set.
 */
int	 jobs_query_parse(const char *query_string, struct jobs_query *q);
/* The history's query (since_seq=N&limit=M), each at most once, nothing else. */
#define HISTORY_LIMIT_DEFAULT	100
#define HISTORY_LIMIT_MAX	1000

struct history_query {
	int64_t		 hq_since_seq;	/* snapshots after this seq; 0: all */
	int		 hq_limit;
	char		 hq_problem[256];
};

/* 0, or -1 with hq_problem set. */
int	 history_query_parse(const char *query_string, struct history_query *q);
/* "a,b,c" to bits over job_status_names, or -1 with the unknown word in *bad. */
int	 jobs_parse_statuses(const char *s, const char **bad);
/* The cursor after a job with this activity and id, into out.  0 or -1. */
int	 jobs_cursor_encode(int64_t activity_us, const char *job_id, char *out, size_t size);
/* The other way.  0, or -1 for anything this API did not write. */
int	 jobs_cursor_decode(const char *cursor, int64_t *activity_us, char *job_id,
	    size_t size);
/*
 * Does an If-None-Match value (a list of entity tags, or "*") name etag
 * (ours, strong: "\"hex\""), by the weak comparison RFC 9110 prescribes for
 * it?  A malformed value matches nothing: the full response is sent.
 */
bool	 etag_matches(const char *if_none_match, const char *etag);
/*
 * Does a comma-separated header value (Accept, Upgrade; NULL: absent) list
 * token, in any case, as an element of its own (parameters after ";"
 * allowed, "text/event-streams" not)?
 */
bool	 header_lists(const char *value, const char *token);

/* handler_jobs.c */

/* GET/HEAD /api/v2/training/jobs: the dashboard's list. */
void	 handle_jobs(struct request *rq);

/* body.c */

/* Largest seq an event may carry: 2^53 - 1, exact in every JSON reader. */
#define EVENT_SEQ_MAX	INT64_C(9007199254740991)

/*
 * The body of POST .../progress, checked: the event (lib's struct
 * job_event) and its seq.  Strings point into the body or pe_doc.
 */
struct posted_event {
	uint64_t		 pe_seq;
	struct job_event	 pe_event;
	void			*pe_doc;	/* the parsed body (cJSON) */
	const char		*pe_field;	/* refused: the field at fault, or NULL */
	char			 pe_problem[256];	/* refused: why */
};

/*
 * Parses and checks body[0..len) (NUL-terminated; changed in place): a JSON
 * object with seq, event and the fields of that event, each at most once,
 * nothing unknown; the fields' values pass the library's checks
 * (tp_update_problem() and its kin), the same as a tracker's arguments.
 * 0, or -1 with pe_field and pe_problem set.  Either way body_free()
 * releases it.
 */
int	 body_parse(char *body, size_t len, struct posted_event *pe);
void	 body_free(struct posted_event *pe);

/* handler_publish.c */

/* POST /api/v2/training/jobs/{job_id}/progress: an event from a publisher. */
void	 handle_publish(struct request *rq);

/* handler_submit.c */

/* POST /api/v2/training/jobs: starts a training job (queued, for a trainer to take). */
void	 handle_submit(struct request *rq);

/* handler_history.c */

/* GET/HEAD /api/v2/training/jobs/{job_id}/progress/history: the job's snapshots. */
void	 handle_history(struct request *rq);
void	 handle_notifications(struct request *rq);
void	 handle_stream(struct request *rq);

/* handler_cancel.c */

/* POST /api/v2/training/jobs/{job_id}/cancel */
void	 handle_cancel(struct request *rq);

#endif /* TP_FCGI_POOL_H */

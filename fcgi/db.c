/*
 * db.c: a worker's PostgreSQL connections, used only within deadlines.
 *
 * Each worker has a reader connection (tp_reader, for GET) and, if
 * database_write_url is set, a writer connection opened on first use (for
 * POST).  The libpq work is lib/conn.c's: non-blocking, every wait bounded
 * by the request's deadline.  This file decides what to do about failures:
 * a connection found dead (a restarted server) is replaced and the query
 * retried once, a statement that vanished is prepared again, and after a
 * failed connection attempt requests get 503 at once for db_retry, so an
 * outage does not become a connection storm.
 */
#include <stdio.h>
#include <string.h>

#include "pool.h"

struct statement {
	const char	*st_name;
	const char	*st_sql;
	int		 st_nparams;
};

static const struct statement reader_statements[] = {
	{ STMT_GET, store_progress_get_sql, 2 },
	{ STMT_JOBS_LIST, store_jobs_list_sql, 5 },
	{ STMT_JOBS_COUNTS, store_jobs_counts_sql, 1 },
	{ STMT_TOKEN, store_token_sql, 1 },
	{ NULL, NULL, 0 }
};

static const struct statement writer_statements[] = {
	{ STMT_GET, store_progress_get_sql, 2 },
	{ STMT_LOCK, store_progress_lock_sql, 2 },
	{ STMT_PUT, store_progress_put_sql, STORE_PROGRESS_PUT_NPARAMS },
	{ STMT_CANCEL, store_cancel_sql, 2 },
	{ STMT_EXPIRE, store_expire_stalled_sql, 3 },
	{ STMT_TOKEN, store_token_sql, 1 },
	{ NULL, NULL, 0 }
};

void
db_init(struct db *db, const struct config *cf, enum db_role role)
{
	memset(db, 0, sizeof(*db));
	db->db_cf = cf;
	db->db_role = role;
}

bool
db_configured(const struct db *db)
{
	return db->db_role == DB_READER || db->db_cf->cf_database_write_url != NULL;
}

const char *
db_stall_param(const struct config *cf, char *buf, size_t size)
{
	if (cf->cf_stall_after_ms <= 0)
		return NULL;
	snprintf(buf, size, "%.3f", cf->cf_stall_after_ms / 1000.0);
	return buf;
}

/* Forgets the connection; the next db_exec() connects again. */
static void
db_drop(struct db *db)
{
	if (db->db_conn != NULL) {
		PQfinish(db->db_conn);
		db->db_conn = NULL;
	}
}

void
db_close(struct db *db)
{
	db_drop(db);
}

/*
 * Notifications libpq has already read: while it reads a query's results it
 * also takes in the notifications that arrived meanwhile, which leave the
 * socket (so no poll wakes for them) and wait in libpq.  No system call.
 */
bool
db_take_notifies(struct db *db)
{
	PGnotify	*n;
	bool		 any = false;

	if (db->db_conn == NULL)
		return false;
	while ((n = PQnotifies(db->db_conn)) != NULL) {
		PQfreemem(n);
		any = true;
	}
	return any;
}

/* Reads what the server sent (one recv), then as db_take_notifies(). */
bool
db_poll_notify(struct db *db)
{
	if (db->db_conn == NULL)
		return false;
	if (!PQconsumeInput(db->db_conn)) {
		/* Dead: the next query reconnects (a new epoch). */
		db_drop(db);
		return true;
	}
	return db_take_notifies(db);
}

int
db_socket(const struct db *db)
{
	return db->db_conn != NULL ? PQsocket(db->db_conn) : -1;
}

int
db_retry_after(const struct db *db)
{
	int	 s = (db->db_cf->cf_db_retry_ms + 999) / 1000;

	return s < 1 ? 1 : s;
}

/* Notes a failure once, when the database goes from reachable to not. */
static void
db_note_down(struct db *db, const char *why)
{
	if (!db->db_down)
		log_warn("db_unavailable", "%s%s", db->db_role == DB_WRITER ? "writer: " : "", why);
	db->db_down = true;
	db->db_next_connect = mono_ms() + db->db_cf->cf_db_retry_ms;
}

static void
db_note_up(struct db *db, const char *event, const char *msg)
{
	if (db->db_down)
		log_info(event, "%s%s", db->db_role == DB_WRITER ? "writer: " : "", msg);
	db->db_down = false;
}

/*
 * Opens a connection, sets statement_timeout and prepares the statements,
 * all before `deadline`.  Returns 0, or -1 with the failure noted.
 */
static int
db_connect(struct db *db, int64_t deadline)
{
	const struct config	*cf = db->db_cf;
	bool			 w = db->db_role == DB_WRITER;
	/*
	 * Keywords before "dbname" are defaults the connection string may
	 * override; the password file's password comes last: it wins.
	 * connect_timeout only backs up our own deadline.
	 */
	const char	*keywords[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", "password", NULL
	};
	const char	*values[] = {
		TP_FCGI_NAME, "10", "UTF8", "1", "30", "10", "3",
		w ? cf->cf_database_write_url : cf->cf_database_url,
		w ? cf->cf_database_write_password : cf->cf_database_password, NULL
	};
	const struct statement	*st;
	char		 timeout[32], why[512];
	const char	*params[2] = { timeout, NULL };
	PGconn		*conn;
	PGresult	*res = NULL;

	if ((conn = conn_open(keywords, values, deadline, why, sizeof(why))) == NULL) {
		db_note_down(db, why);
		return -1;
	}
	snprintf(timeout, sizeof(timeout), "%d", cf->cf_statement_timeout_ms);
	/*
	 * The reader's statements have one good plan whatever their parameters
	 * (the list's branches are cut by one-time filters): planning it again
	 * on every execution, as "auto" may choose, would double the list's cost.
	 */
	params[1] = w ? "auto" : "force_generic_plan";
	if (conn_exec_params(conn, "SELECT set_config('statement_timeout', $1, false),"
	    " set_config('plan_cache_mode', $2, false)", 2, params, 0, deadline, &res) != CONN_OK) {
		snprintf(why, sizeof(why), "setting statement_timeout failed: %s",
		    PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);
	res = NULL;
	for (st = w ? writer_statements : reader_statements; st->st_name != NULL; st++)
		if (conn_prepare(conn, st->st_name, st->st_sql, st->st_nparams, deadline) != CONN_OK) {
			snprintf(why, sizeof(why), "preparing %s failed: %s", st->st_name,
			    PQerrorMessage(conn));
			goto fail;
		}
	/* The cache's news of writes: LISTEN before the first query it could cache. */
	if (db->db_listen &&
	    conn_exec_params(conn, "LISTEN " DB_CHANNEL, 0, NULL, 0, deadline, &res) != CONN_OK) {
		snprintf(why, sizeof(why), "LISTEN failed: %s", PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);
	res = NULL;
	db_note_up(db, "db_reconnected", "connected to the database again");
	db->db_conn = conn;
	db->db_epoch++;
	return 0;
fail:
	PQclear(res);
	PQfinish(conn);
	db_note_down(db, why);
	return -1;
}

void
db_warm(struct db *db)
{
	if (db->db_conn == NULL && db_configured(db))
		(void)db_connect(db, mono_ms() + db->db_cf->cf_db_timeout_ms);
}

/* Runs one statement: prepared (stmt) or plain SQL without parameters. */
static enum conn_trip
run(struct db *db, const char *stmt, const char *sql, int nparams, const char *const *values,
    int64_t deadline, PGresult **res)
{
	if (stmt != NULL)
		return conn_exec_prepared(db->db_conn, stmt, nparams, values, 1, deadline, res);
	return conn_exec_params(db->db_conn, sql, 0, NULL, 1, deadline, res);
}

enum db_status
db_step(struct db *db, const char *stmt, const char *sql, int nparams,
    const char *const *values, int64_t deadline, PGresult **res)
{
	char	 why[512];

	*res = NULL;
	if (db->db_conn == NULL) {
		if (mono_ms() < db->db_next_connect || db_connect(db, deadline) == -1)
			return DB_UNAVAILABLE;
	}
	switch (run(db, stmt, sql, nparams, values, deadline, res)) {
	case CONN_OK:
		return DB_OK;
	case CONN_ERROR:
		if (conn_sqlstate_unavailable(PQresultErrorField(*res, PG_DIAG_SQLSTATE)) ||
		    PQstatus(db->db_conn) == CONNECTION_BAD) {
			snprintf(why, sizeof(why), "query failed: %s", PQresultErrorMessage(*res));
			PQclear(*res);
			*res = NULL;
			db_drop(db);
			db_note_down(db, why);
			return DB_UNAVAILABLE;
		}
		return DB_FAILED;
	default:
		db_drop(db);
		db_note_down(db, "connection lost or timed out");
		return DB_UNAVAILABLE;
	}
}

/* db_exec(), for a prepared statement (stmt) or plain SQL without parameters. */
static enum db_status
exec_retry(struct db *db, const char *stmt, const char *sql, int nparams,
    const char *const *values, int64_t deadline, PGresult **res)
{
	const char	*state;
	char		 why[512];
	int		 attempt;

	*res = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (db->db_conn == NULL) {
			/* Right after a failure, answer at once instead of piling up. */
			if (attempt == 0 && mono_ms() < db->db_next_connect)
				return DB_UNAVAILABLE;
			if (db_connect(db, deadline) == -1)
				return DB_UNAVAILABLE;
		}
		switch (run(db, stmt, sql, nparams, values, deadline, res)) {
		case CONN_OK:
			db_note_up(db, "db_recovered", "the database answers again");
			return DB_OK;
		case CONN_TIMEOUT:
			db_drop(db);
			db_note_down(db, "query timed out: the database did not answer in time");
			return DB_UNAVAILABLE;
		case CONN_LOST:
			/* Typically a restarted server: try once on a new connection. */
			snprintf(why, sizeof(why), "connection lost: %s",
			    PQerrorMessage(db->db_conn));
			db_drop(db);
			if (attempt == 1) {
				db_note_down(db, why);
				return DB_UNAVAILABLE;
			}
			continue;
		case CONN_ERROR:
			break;
		}
		state = PQresultErrorField(*res, PG_DIAG_SQLSTATE);
		if (attempt == 0 && conn_sqlstate_reprepare(state)) {
			PQclear(*res);
			*res = NULL;
			db_drop(db);
			continue;
		}
		if (conn_sqlstate_unavailable(state)) {
			snprintf(why, sizeof(why), "query failed (%s): %s",
			    state ? state : "no SQLSTATE", PQresultErrorMessage(*res));
			PQclear(*res);
			*res = NULL;
			if (PQstatus(db->db_conn) == CONNECTION_BAD)
				db_drop(db);
			db_note_down(db, why);
			return DB_UNAVAILABLE;
		}
		log_error("query_failed", "%s failed (%s): %s", stmt ? stmt : sql, state,
		    PQresultErrorMessage(*res));
		PQclear(*res);
		*res = NULL;
		return DB_FAILED;
	}
	return DB_UNAVAILABLE;
}

enum db_status
db_exec(struct db *db, const char *stmt, int nparams, const char *const *values,
    int64_t deadline, PGresult **res)
{
	return exec_retry(db, stmt, NULL, nparams, values, deadline, res);
}

enum db_status
db_begin(struct db *db, int64_t deadline)
{
	PGresult	*res = NULL;
	enum db_status	 st;

	st = exec_retry(db, NULL, "BEGIN", 0, NULL, deadline, &res);
	PQclear(res);
	return st;
}

void
db_rollback(struct db *db, int64_t deadline)
{
	PGresult	*res = NULL;

	if (db->db_conn == NULL)
		return;
	/* Failing that, the connection goes: the transaction with it. */
	if (db_step(db, NULL, "ROLLBACK", 0, NULL, deadline, &res) != DB_OK)
		db_drop(db);
	PQclear(res);
}

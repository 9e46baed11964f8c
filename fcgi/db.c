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
 * outage does not become a connection storm.  The statements are those of
 * lib/store.c's table, run by id; a write committed here tells the read
 * cache by itself.
 */
#include <stdio.h>
#include <string.h>

#include "pool.h"

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
	/* A transaction goes with its connection, and what it wrote with it. */
	db->db_in_txn = db->db_txn_wrote = false;
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
 * Opens a connection (lib/conn.c: our keywords, the role's URL, then its
 * password file's password), sets statement_timeout and plan_cache_mode,
 * prepares the role's statements and LISTENs if asked, all before
 * `deadline`.  Returns 0, or -1 with the failure noted.
 */
static int
db_connect(struct db *db, int64_t deadline)
{
	const struct config	*cf = db->db_cf;
	bool			 w = db->db_role == DB_WRITER;
	struct conn_setup	 cs;
	char			 why[512];
	PGconn			*conn;
	PGresult		*res = NULL;

	memset(&cs, 0, sizeof(cs));
	cs.cs_app_name = TP_FCGI_NAME;
	cs.cs_conninfo = w ? cf->cf_database_write_url : cf->cf_database_url;
	cs.cs_password = w ? cf->cf_database_write_password : cf->cf_database_password;
	/* Below db_timeout: the server gives up on a query about when we do. */
	cs.cs_statement_timeout_ms = cf->cf_statement_timeout_ms;
	/*
	 * The reader's statements have one good plan whatever their parameters
	 * (the list's branches are cut by one-time filters): planning it again
	 * on every execution, as "auto" may choose, would double the list's cost.
	 */
	cs.cs_plan_cache_mode = w ? "auto" : "force_generic_plan";
	cs.cs_roles = w ? ROLE_WRITER : ROLE_READER;
	if ((conn = conn_connect(&cs, deadline, why, sizeof(why))) == NULL) {
		db_note_down(db, why);
		return -1;
	}
	/* The cache's news of writes: LISTEN before the first query it could cache. */
	if (db->db_listen &&
	    conn_exec_params(conn, "LISTEN " DB_CHANNEL, 0, NULL, 0, deadline, &res) != CONN_OK) {
		snprintf(why, sizeof(why), "LISTEN failed: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		db_note_down(db, why);
		return -1;
	}
	PQclear(res);
	db_note_up(db, "db_reconnected", "connected to the database again");
	db->db_conn = conn;
	db->db_epoch++;
	return 0;
}

void
db_warm(struct db *db)
{
	if (db->db_conn == NULL && db_configured(db))
		(void)db_connect(db, mono_ms() + db->db_cf->cf_db_timeout_ms);
}

/*
 * Runs one statement: prepared (stmt), or plain SQL without parameters
 * (sql not NULL).  Binary results.
 */
static enum conn_trip
run(struct db *db, enum store_stmt stmt, const char *sql, const char *const *values,
    int64_t deadline, PGresult **res)
{
	if (sql == NULL)
		return conn_exec_stmt(db->db_conn, stmt, values, 1, deadline, res);
	return conn_exec_params(db->db_conn, sql, 0, NULL, 1, deadline, res);
}

/* What the statement is, for the log. */
static const char *
run_name(enum store_stmt stmt, const char *sql)
{
	return sql != NULL ? sql : store_statements[stmt].ss_name;
}

/*
 * After a statement succeeded: did it write rows?  Outside a transaction
 * they are committed now, and the read cache hears of it before anyone
 * else can; inside one, at its COMMIT.
 */
static void
note_write(struct db *db, enum store_stmt stmt, const char *sql, const PGresult *res)
{
	if (sql != NULL || !store_statements[stmt].ss_writes || PQntuples(res) == 0)
		return;
	if (db->db_in_txn)
		db->db_txn_wrote = true;
	else
		cache_note_write();
}

/* db_step(), for a prepared statement (stmt) or plain SQL without parameters (sql). */
static enum db_status
step(struct db *db, enum store_stmt stmt, const char *sql, const char *const *values,
    int64_t deadline, PGresult **res)
{
	char	 why[512];

	*res = NULL;
	if (db->db_conn == NULL) {
		if (mono_ms() < db->db_next_connect || db_connect(db, deadline) == -1)
			return DB_UNAVAILABLE;
	}
	switch (run(db, stmt, sql, values, deadline, res)) {
	case CONN_OK:
		note_write(db, stmt, sql, *res);
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
		log_error("query_failed", "%s failed (%s): %s", sql != NULL ? sql :
		    store_statements[stmt].ss_name,
		    PQresultErrorField(*res, PG_DIAG_SQLSTATE) != NULL ?
		    PQresultErrorField(*res, PG_DIAG_SQLSTATE) : "no SQLSTATE",
		    PQresultErrorMessage(*res));
		return DB_FAILED;
	default:
		db_drop(db);
		db_note_down(db, "connection lost or timed out");
		return DB_UNAVAILABLE;
	}
}

enum db_status
db_step(struct db *db, enum store_stmt stmt, const char *const *values, int64_t deadline,
    PGresult **res)
{
	return step(db, stmt, NULL, values, deadline, res);
}

/* db_exec(), for a prepared statement (stmt) or plain SQL without parameters (sql). */
static enum db_status
exec_retry(struct db *db, enum store_stmt stmt, const char *sql, const char *const *values,
    int64_t deadline, PGresult **res)
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
		switch (run(db, stmt, sql, values, deadline, res)) {
		case CONN_OK:
			db_note_up(db, "db_recovered", "the database answers again");
			note_write(db, stmt, sql, *res);
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
		log_error("query_failed", "%s failed (%s): %s", run_name(stmt, sql), state,
		    PQresultErrorMessage(*res));
		PQclear(*res);
		*res = NULL;
		return DB_FAILED;
	}
	return DB_UNAVAILABLE;
}

enum db_status
db_exec(struct db *db, enum store_stmt stmt, const char *const *values, int64_t deadline,
    PGresult **res)
{
	return exec_retry(db, stmt, NULL, values, deadline, res);
}

enum db_status
db_begin(struct db *db, int64_t deadline)
{
	PGresult	*res = NULL;
	enum db_status	 st;

	db->db_in_txn = false;
	st = exec_retry(db, STMT_COUNT, "BEGIN", NULL, deadline, &res);
	PQclear(res);
	if (st == DB_OK) {
		db->db_in_txn = true;
		db->db_txn_wrote = false;
	}
	return st;
}

enum db_status
db_commit(struct db *db, int64_t deadline)
{
	PGresult	*res = NULL;
	enum db_status	 st;
	bool		 wrote = db->db_txn_wrote;

	st = step(db, STMT_COUNT, "COMMIT", NULL, deadline, &res);
	PQclear(res);
	db->db_in_txn = db->db_txn_wrote = false;
	/* Before anyone hears of this write. */
	if (st == DB_OK && wrote)
		cache_note_write();
	return st;
}

void
db_rollback(struct db *db, int64_t deadline)
{
	PGresult	*res = NULL;

	db->db_in_txn = db->db_txn_wrote = false;
	if (db->db_conn == NULL)
		return;
	/* Failing that, the connection goes: the transaction with it. */
	if (step(db, STMT_COUNT, "ROLLBACK", NULL, deadline, &res) != DB_OK)
		db_drop(db);
	PQclear(res);
}

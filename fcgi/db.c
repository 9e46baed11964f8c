/*
 * db.c: a worker's one PostgreSQL connection, used only within deadlines.
 *
 * The libpq work is lib/conn.c's: non-blocking, every wait bounded by the
 * request's deadline.  This file decides what to do about failures: a
 * connection found dead (a restarted server) is replaced and the query
 * retried once, a statement that vanished is prepared again, and after a
 * failed connection attempt requests get 503 at once for db_retry, so an
 * outage does not become a connection storm.
 */
#include <stdio.h>
#include <string.h>

#include "pool.h"

void
db_init(struct db *db, const struct config *cf)
{
	memset(db, 0, sizeof(*db));
	db->db_cf = cf;
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
		log_warn("db_unavailable", "%s", why);
	db->db_down = true;
	db->db_next_connect = mono_ms() + db->db_cf->cf_db_retry_ms;
}

static void
db_note_up(struct db *db, const char *event, const char *msg)
{
	if (db->db_down)
		log_info(event, "%s", msg);
	db->db_down = false;
}

/*
 * Opens a connection, sets statement_timeout and prepares the statements,
 * all before `deadline`.  Returns 0, or -1 with the failure noted.
 */
static int
db_connect(struct db *db, int64_t deadline)
{
	/*
	 * Keywords before "dbname" are defaults the connection string may
	 * override.  connect_timeout only backs up our own deadline.
	 */
	/* The password file's password, if any, comes last: it wins. */
	const char	*keywords[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", "password", NULL
	};
	const char	*values[] = {
		TP_FCGI_NAME, "10", "UTF8", "1", "30", "10", "3",
		db->db_cf->cf_database_url, db->db_cf->cf_database_password, NULL
	};
	char		 timeout[32], why[512];
	const char	*params[1] = { timeout };
	PGconn		*conn;
	PGresult	*res = NULL;

	if ((conn = conn_open(keywords, values, deadline, why, sizeof(why))) == NULL) {
		db_note_down(db, why);
		return -1;
	}
	snprintf(timeout, sizeof(timeout), "%d", db->db_cf->cf_statement_timeout_ms);
	if (conn_exec_params(conn, "SELECT set_config('statement_timeout', $1, false)",
	    1, params, 0, deadline, &res) != CONN_OK) {
		snprintf(why, sizeof(why), "setting statement_timeout failed: %s",
		    PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);
	res = NULL;
	if (conn_prepare(conn, STORE_PROGRESS_GET, store_progress_get_sql, 1,
	    deadline) != CONN_OK) {
		snprintf(why, sizeof(why), "preparing %s failed: %s",
		    STORE_PROGRESS_GET, PQerrorMessage(conn));
		goto fail;
	}
	db_note_up(db, "db_reconnected", "connected to the database again");
	db->db_conn = conn;
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
	if (db->db_conn == NULL)
		(void)db_connect(db, mono_ms() + db->db_cf->cf_db_timeout_ms);
}

enum db_status
db_exec(struct db *db, const char *stmt, int nparams, const char *const *values,
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
		switch (conn_exec_prepared(db->db_conn, stmt, nparams, values, 1,
		    deadline, res)) {
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
		log_error("query_failed", "%s failed (%s): %s", stmt, state,
		    PQresultErrorMessage(*res));
		PQclear(*res);
		*res = NULL;
		return DB_FAILED;
	}
	return DB_UNAVAILABLE;
}

/*
 * db.c: a worker's one PostgreSQL connection, used only within deadlines.
 *
 * Every libpq call here is non-blocking and every wait is a poll(2) bounded
 * by the request's deadline, so a database that is down, restarting, hung or
 * unreachable costs a request at most db_timeout, never a stuck worker.  A
 * connection found dead is replaced (and its statements prepared again) by
 * the next request, without the worker or the pool restarting.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "../lib/internal.h"
#include "pool.h"

/* Outcome of one round trip. */
enum trip {
	TRIP_OK,
	TRIP_TIMEOUT,		/* deadline passed */
	TRIP_LOST,		/* connection is dead: reconnect and retry */
	TRIP_ERROR		/* the server answered with an error */
};

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

/*
 * Waits until the connection's socket has one of `events`, or the deadline.
 * Returns 0 when ready (or in error: libpq will say which), -1 on timeout.
 */
static int
wait_socket(PGconn *conn, short events, int64_t deadline)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 rc;

	if ((pfd.fd = PQsocket(conn)) < 0)
		return 0;
	pfd.events = events;
	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			return 0;
	}
}

/*
 * Sends what is queued and collects the result of one command.  On TRIP_OK
 * and TRIP_ERROR, *res holds the (first) result, freed by the caller with
 * PQclear; otherwise *res is NULL.
 */
static enum trip
round_trip(PGconn *conn, int64_t deadline, PGresult **res)
{
	PGresult	*r;
	int		 rc;

	*res = NULL;
	while ((rc = PQflush(conn)) == 1) {
		if (wait_socket(conn, POLLIN | POLLOUT, deadline) == -1)
			return TRIP_TIMEOUT;
		if (!PQconsumeInput(conn))
			return TRIP_LOST;
	}
	if (rc == -1)
		return TRIP_LOST;
	for (;;) {
		while (PQisBusy(conn)) {
			if (wait_socket(conn, POLLIN, deadline) == -1) {
				PQclear(*res);
				*res = NULL;
				return TRIP_TIMEOUT;
			}
			if (!PQconsumeInput(conn)) {
				PQclear(*res);
				*res = NULL;
				return TRIP_LOST;
			}
		}
		if ((r = PQgetResult(conn)) == NULL)
			break;
		if (*res == NULL)
			*res = r;
		else
			PQclear(r);
	}
	if (*res == NULL || PQstatus(conn) == CONNECTION_BAD) {
		PQclear(*res);
		*res = NULL;
		return TRIP_LOST;
	}
	switch (PQresultStatus(*res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		return TRIP_OK;
	default:
		return TRIP_ERROR;
	}
}

/* Notes a failure once, when the database goes from reachable to not. */
static void
db_note_down(struct db *db, const char *why)
{
	if (!db->db_down)
		log_warn("db_unavailable", "%s", why);
	db->db_down = true;
	db->db_next_connect = now_ms() + db->db_cf->cf_db_retry_ms;
}

/*
 * Opens a connection, sets the session up and prepares the statements, all
 * before `deadline`.  Returns 0, or -1 with the failure noted.
 */
static int
db_connect(struct db *db, int64_t deadline)
{
	/*
	 * Keywords before "dbname" are defaults the connection string may
	 * override.  connect_timeout only backs up our own deadline.
	 */
	static const char *const keywords[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", NULL
	};
	const char	*values[] = {
		TP_FCGI_NAME, "10", "UTF8", "1", "30", "10", "3",
		db->db_cf->cf_database_url, NULL
	};
	const char	*set_sql = "SELECT set_config('statement_timeout', $1, false)";
	char		 timeout[32], why[512];
	const char	*params[1] = { timeout };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn		*conn;
	PGresult	*res = NULL;
	enum trip	 t;

	if ((conn = PQconnectStartParams(keywords, values, 1)) == NULL) {
		db_note_down(db, "out of memory starting a database connection");
		return -1;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		snprintf(why, sizeof(why), "cannot connect: %s", PQerrorMessage(conn));
		goto fail;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			snprintf(why, sizeof(why), "cannot connect: %s", PQerrorMessage(conn));
			goto fail;
		}
		if (wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		    deadline) == -1) {
			snprintf(why, sizeof(why), "connecting timed out");
			goto fail;
		}
		st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) == -1) {
		snprintf(why, sizeof(why), "cannot make the connection non-blocking");
		goto fail;
	}

	snprintf(timeout, sizeof(timeout), "%d", db->db_cf->cf_statement_timeout_ms);
	if (!PQsendQueryParams(conn, set_sql, 1, NULL, params, NULL, NULL, 0) ||
	    (t = round_trip(conn, deadline, &res)) != TRIP_OK) {
		snprintf(why, sizeof(why), "setting statement_timeout failed: %s",
		    PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);
	res = NULL;

	if (!PQsendPrepare(conn, STORE_PROGRESS_GET, store_progress_get_sql, 1, NULL) ||
	    (t = round_trip(conn, deadline, &res)) != TRIP_OK) {
		snprintf(why, sizeof(why), "preparing %s failed: %s",
		    STORE_PROGRESS_GET, PQerrorMessage(conn));
		goto fail;
	}
	PQclear(res);

	if (db->db_down)
		log_info("db_reconnected", "connected to the database again");
	else
		log_debug("db_connected", "connected to the database");
	db->db_down = false;
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
		(void)db_connect(db, now_ms() + db->db_cf->cf_db_timeout_ms);
}

/*
 * Is this error the database being unavailable (503) rather than a bug or a
 * misconfiguration (500)?  Connection exceptions, shutdowns, too many
 * connections, cancelled statements (statement_timeout) and recovery
 * conflicts are.
 */
static bool
sqlstate_unavailable(const char *state)
{
	if (state == NULL)
		return true;
	return strncmp(state, "08", 2) == 0 ||	/* connection exception */
	    strncmp(state, "53", 2) == 0 ||	/* insufficient resources */
	    strncmp(state, "57", 2) == 0 ||	/* operator intervention */
	    strcmp(state, "40001") == 0;	/* serialization (standby conflict) */
}

enum db_status
db_exec(struct db *db, const char *stmt, int nparams, const char *const *values,
    int64_t deadline, PGresult **res)
{
	const char	*state;
	char		 why[512];
	enum trip	 t;
	int		 attempt;

	*res = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (db->db_conn == NULL) {
			/* Right after a failure, answer at once instead of piling up. */
			if (attempt == 0 && now_ms() < db->db_next_connect)
				return DB_UNAVAILABLE;
			if (db_connect(db, deadline) == -1)
				return DB_UNAVAILABLE;
		}
		if (!PQsendQueryPrepared(db->db_conn, stmt, nparams, values, NULL, NULL, 1))
			t = TRIP_LOST;
		else
			t = round_trip(db->db_conn, deadline, res);
		switch (t) {
		case TRIP_OK:
			if (db->db_down) {
				log_info("db_recovered", "the database answers again");
				db->db_down = false;
			}
			return DB_OK;
		case TRIP_TIMEOUT:
			db_drop(db);
			db_note_down(db, "query timed out: the database did not answer in time");
			return DB_UNAVAILABLE;
		case TRIP_LOST:
			/* Typically a restarted server: try once on a new connection. */
			snprintf(why, sizeof(why), "connection lost: %s",
			    PQerrorMessage(db->db_conn));
			db_drop(db);
			if (attempt == 1) {
				db_note_down(db, why);
				return DB_UNAVAILABLE;
			}
			continue;
		case TRIP_ERROR:
			break;
		}
		state = PQresultErrorField(*res, PG_DIAG_SQLSTATE);
		if (state != NULL && attempt == 0 &&
		    (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0)) {
			/*
			 * The statement vanished (DISCARD ALL, a pooler), or the
			 * table changed under it ("cached plan must not change
			 * result type"): prepare it anew on a fresh session.
			 */
			PQclear(*res);
			*res = NULL;
			db_drop(db);
			continue;
		}
		if (sqlstate_unavailable(state)) {
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

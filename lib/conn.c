/*
 * conn.c: libpq within deadlines: non-blocking connects and round trips.
 *
 * Every wait is a poll(2) bounded by a deadline on the monotonic clock, so a
 * database that is down, restarting, hung or unreachable costs the caller at
 * most the time it allowed, never a stuck process or thread.  Every
 * connection trainprog opens is opened here, by conn_connect(): the tp-fcgi
 * workers', the tracker's senders' and resume's (through store.c), and
 * tp-admin's.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Settings conn_connect() may make: statement_timeout, plan_cache_mode, synchronous_commit. */
#define CONN_SETTINGS_MAX	3

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
		if ((left = deadline - mono_ms()) <= 0)
			return -1;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			return 0;
	}
}

/*
 * Connects with PQconnectStartParams(keywords, values, expand_dbname=1)
 * before `deadline`.  A non-blocking connection, or NULL with a sentence in
 * err.
 */
static PGconn *
conn_open(const char *const *keywords, const char *const *values,
    int64_t deadline, char *err, size_t errsz)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn		*conn;

	if ((conn = PQconnectStartParams(keywords, values, 1)) == NULL) {
		snprintf(err, errsz, "out of memory starting a database connection");
		return NULL;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		snprintf(err, errsz, "cannot connect: %s", PQerrorMessage(conn));
		goto fail;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			snprintf(err, errsz, "cannot connect: %s", PQerrorMessage(conn));
			goto fail;
		}
		if (wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		    deadline) == -1) {
			snprintf(err, errsz, "connecting timed out");
			goto fail;
		}
		st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) == -1) {
		snprintf(err, errsz, "cannot make the connection non-blocking");
		goto fail;
	}
	return conn;
fail:
	PQfinish(conn);
	return NULL;
}

enum conn_trip
conn_round_trip(PGconn *conn, int64_t deadline, PGresult **res)
{
	PGresult	*r;
	int		 rc;

	*res = NULL;
	while ((rc = PQflush(conn)) == 1) {
		if (wait_socket(conn, POLLIN | POLLOUT, deadline) == -1)
			return CONN_TIMEOUT;
		if (!PQconsumeInput(conn))
			return CONN_LOST;
	}
	if (rc == -1)
		return CONN_LOST;
	for (;;) {
		while (PQisBusy(conn)) {
			if (wait_socket(conn, POLLIN, deadline) == -1) {
				PQclear(*res);
				*res = NULL;
				return CONN_TIMEOUT;
			}
			if (!PQconsumeInput(conn)) {
				PQclear(*res);
				*res = NULL;
				return CONN_LOST;
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
		return CONN_LOST;
	}
	switch (PQresultStatus(*res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		return CONN_OK;
	default:
		return CONN_ERROR;
	}
}

enum conn_trip
conn_exec_params(PGconn *conn, const char *sql, int nparams,
    const char *const *values, int result_format, int64_t deadline, PGresult **res)
{
	*res = NULL;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, result_format))
		return PQstatus(conn) == CONNECTION_BAD ? CONN_LOST : CONN_ERROR;
	return conn_round_trip(conn, deadline, res);
}

/* PQsendPrepare + conn_round_trip; the result is cleared here. */
static enum conn_trip
conn_prepare(PGconn *conn, const char *name, const char *sql, int nparams,
    int64_t deadline)
{
	PGresult	*res = NULL;
	enum conn_trip	 t;

	if (!PQsendPrepare(conn, name, sql, nparams, NULL))
		return PQstatus(conn) == CONNECTION_BAD ? CONN_LOST : CONN_ERROR;
	t = conn_round_trip(conn, deadline, &res);
	PQclear(res);
	return t;
}

enum conn_trip
conn_exec_stmt(PGconn *conn, enum store_stmt stmt, const char *const *values,
    int result_format, int64_t deadline, PGresult **res)
{
	const struct store_statement	*ss = &store_statements[stmt];

	*res = NULL;
	if (!PQsendQueryPrepared(conn, ss->ss_name, ss->ss_nparams, values, NULL, NULL,
	    result_format))
		return CONN_LOST;
	return conn_round_trip(conn, deadline, res);
}

bool
conn_sqlstate_unavailable(const char *state)
{
	if (state == NULL)
		return true;
	return strncmp(state, "08", 2) == 0 ||	/* connection exception */
	    strncmp(state, "53", 2) == 0 ||	/* insufficient resources */
	    strncmp(state, "57", 2) == 0 ||	/* operator intervention */
	    strcmp(state, "40001") == 0 ||	/* serialization (standby conflict) */
	    strcmp(state, "40P01") == 0 ||	/* deadlock: try again */
	    strcmp(state, "25006") == 0;	/* read-only: a standby after failover */
}

bool
conn_sqlstate_reprepare(const char *state)
{
	/*
	 * The statement vanished (DISCARD ALL, a pooler), or the table changed
	 * under it ("cached plan must not change result type").
	 */
	return state != NULL && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

/* Cuts the newline (and spaces) libpq's messages end in. */
static void
trim(char *s)
{
	size_t	 n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* Why a round trip of conn_connect() failed. */
static const char *
trip_why(PGconn *conn, enum conn_trip trip)
{
	if (trip == CONN_TIMEOUT)
		return "no answer in time";
	return PQerrorMessage(conn);
}

/*
 * Sets each of names[0..n) to values[0..n) for the session, in one round
 * trip of parameterised set_config() calls.
 */
static enum conn_trip
conn_set(PGconn *conn, const char *const *names, const char *const *values, int n,
    int64_t deadline)
{
	const char	*params[2 * CONN_SETTINGS_MAX];
	char		 sql[64 + 40 * CONN_SETTINGS_MAX];
	size_t		 len;
	PGresult	*res = NULL;
	enum conn_trip	 trip;
	int		 i;

	len = (size_t)snprintf(sql, sizeof(sql), "SELECT");
	for (i = 0; i < n; i++) {
		params[2 * i] = names[i];
		params[2 * i + 1] = values[i];
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    "%s set_config($%d, $%d, false)", i > 0 ? "," : "", 2 * i + 1, 2 * i + 2);
	}
	trip = conn_exec_params(conn, sql, 2 * n, params, 0, deadline, &res);
	PQclear(res);
	return trip;
}

PGconn *
conn_connect(const struct conn_setup *cs, int64_t deadline, char *err, size_t errsz)
{
	/*
	 * Keywords before "dbname" are defaults the connection string may
	 * override; a password given apart comes last: it wins.
	 * connect_timeout only backs up the deadline.
	 */
	static const char *const keywords[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", "password", "replication", NULL
	};
	const char	*values[] = {
		cs->cs_app_name, "10", "UTF8", "1", "30", "10", "3", cs->cs_conninfo,
		cs->cs_password, cs->cs_replication ? "database" : NULL, NULL
	};
	const char	*names[CONN_SETTINGS_MAX], *settings[CONN_SETTINGS_MAX];
	char		 timeout[24], what[96];
	size_t		 len = 0;
	PGconn		*conn;
	enum conn_trip	 trip;
	int		 i, n = 0;

	if ((conn = conn_open(keywords, values, deadline, err, errsz)) == NULL) {
		trim(err);
		return NULL;
	}
	/* A replication session speaks only the simple query protocol. */
	if (cs->cs_replication)
		return conn;
	if (cs->cs_statement_timeout_ms > 0) {
		snprintf(timeout, sizeof(timeout), "%d", cs->cs_statement_timeout_ms);
		names[n] = "statement_timeout";
		settings[n++] = timeout;
	}
	if (cs->cs_plan_cache_mode != NULL) {
		names[n] = "plan_cache_mode";
		settings[n++] = cs->cs_plan_cache_mode;
	}
	if (cs->cs_async_commit) {
		names[n] = "synchronous_commit";
		settings[n++] = "off";
	}
	if (n > 0 && (trip = conn_set(conn, names, settings, n, deadline)) != CONN_OK) {
		what[0] = '\0';
		for (i = 0; i < n; i++)
			len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%s",
			    i > 0 ? ", " : "", names[i]);
		snprintf(err, errsz, "setting %s failed: %s", what, trip_why(conn, trip));
		goto fail;
	}
	for (i = 0; i < STMT_COUNT; i++)
		if ((store_statements[i].ss_roles & cs->cs_roles) != 0 &&
		    (trip = conn_prepare(conn, store_statements[i].ss_name,
		    store_statements[i].ss_sql, store_statements[i].ss_nparams, deadline)) !=
		    CONN_OK) {
			snprintf(err, errsz, "preparing %s failed: %s", store_statements[i].ss_name,
			    trip_why(conn, trip));
			goto fail;
		}
	return conn;
fail:
	trim(err);
	PQfinish(conn);
	return NULL;
}

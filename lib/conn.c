/*
 * conn.c: libpq within deadlines: non-blocking connects and round trips.
 *
 * Every wait is a poll(2) bounded by a deadline on the monotonic clock, so a
 * database that is down, restarting, hung or unreachable costs the caller at
 * most the time it allowed, never a stuck process or thread.  Used by the
 * tp-fcgi workers and by the tracker's sender thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

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

PGconn *
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

enum conn_trip
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
conn_exec_prepared(PGconn *conn, const char *name, int nparams,
    const char *const *values, int result_format, int64_t deadline, PGresult **res)
{
	*res = NULL;
	if (!PQsendQueryPrepared(conn, name, nparams, values, NULL, NULL, result_format))
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

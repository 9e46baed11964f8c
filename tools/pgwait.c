/* pgwait.c: waiting for a NOTIFY on a libpq connection (pgwait.h). */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pgwait.h"

/* *stop is read at least this often, even if no signal interrupts poll(). */
#define SLICE_MS	200

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees every notification libpq holds; were there any? */
static bool
take_all(PGconn *conn)
{
	PGnotify	*n;
	bool		 any = false;

	while ((n = PQnotifies(conn)) != NULL) {
		PQfreemem(n);
		any = true;
	}
	return any;
}

int
pg_wait_notify(PGconn *conn, long ms, volatile sig_atomic_t *stop)
{
	struct pollfd	 pfd;
	int64_t		 until = now_ms() + ms, left;

	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return -1;
	for (;;) {
		if (take_all(conn))
			return 1;
		if (*stop || (left = until - now_ms()) <= 0)
			return 0;
		if (poll(&pfd, 1, (int)(left < SLICE_MS ? left : SLICE_MS)) == -1) {
			if (errno != EINTR)
				return -1;
			continue;
		}
		if (pfd.revents & POLLNVAL)
			return -1;
		/* Readable: a notification, or the server closing. */
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !PQconsumeInput(conn))
			return -1;
	}
}

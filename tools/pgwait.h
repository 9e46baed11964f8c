/*
 * pgwait.h: a program's sleep between looks at a table, cut short by a
 * NOTIFY: tp-notify's sender (LISTEN trainprog_outbox) and tp-trainer
 * (LISTEN trainprog_jobs) wait with it for work.
 */
#ifndef TP_PGWAIT_H
#define TP_PGWAIT_H

#include <signal.h>

#include <libpq-fe.h>

/*
 * Waits up to ms milliseconds on conn, which LISTENs, for a notification
 * (one libpq already holds, read along with a query's results, counts at
 * once), or until *stop becomes true.  Takes every notification held.
 * Returns 1 when notified, 0 when the time ran out or *stop, -1 when the
 * connection died (the caller reconnects, and LISTENs again).
 */
int	 pg_wait_notify(PGconn *conn, long ms, volatile sig_atomic_t *stop);

#endif /* TP_PGWAIT_H */

/*
 * worker.c: the API workers: each answers requests through serve.c's loop,
 * routing them to the handlers, and after each one notes what it knows of
 * the database and runs the expiry sweep when due; while idle it follows
 * the reader connection's news for the read cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"

struct worker_ctx {
	const struct config *wc_cf;
	struct db	 wc_reader;	/* connected at start: reads are the load */
	struct db	 wc_writer;	/* connected at the first write */
	struct cache	 wc_cache;	/* documents rendered lately (cache.c) */
	int		 wc_slot;
};

static void
worker_dispatch(struct request *rq, void *arg)
{
	struct worker_ctx	*wc = arg;
	struct route		*rt = &rq->rq_route;
	char			 allow[64], message[96];

	rq->rq_cf = wc->wc_cf;
	rq->rq_reader = &wc->wc_reader;
	rq->rq_writer = &wc->wc_writer;
	rq->rq_cache = &wc->wc_cache;
	switch (route_match(http_param(rq, "REQUEST_METHOD"), http_param(rq, "REQUEST_URI"),
	    rt)) {
	case ROUTE_OK:
		switch (rt->rt_id) {
		case ROUTE_PING:
			handle_ping(rq);
			break;
		case ROUTE_PROGRESS:
			handle_progress(rq);
			break;
		case ROUTE_PUBLISH:
			handle_publish(rq);
			break;
		case ROUTE_CANCEL:
			handle_cancel(rq);
			break;
		case ROUTE_JOBS:
			handle_jobs(rq);
			break;
		case ROUTE_SUBMIT:
			handle_submit(rq);
			break;
		case ROUTE_HISTORY:
			handle_history(rq);
			break;
		case ROUTE_NOTIFICATIONS:
			handle_notifications(rq);
			break;
		case ROUTE_STREAM:
			handle_stream(rq);
			break;
		case ROUTE_NONE:
			http_reply_error(rq, 500, "internal_error", "no handler", NULL);
			break;
		}
		break;
	case ROUTE_BAD_REQUEST:
		http_reply_error(rq, 400, rt->rt_error, rt->rt_problem, NULL);
		break;
	case ROUTE_NOT_FOUND:
		http_reply_error(rq, 404, "unknown_path",
		    "there is no endpoint at this path", NULL);
		break;
	case ROUTE_METHOD_NOT_ALLOWED:
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", rt->rt_allow);
		snprintf(message, sizeof(message), "this endpoint answers only %s",
		    rt->rt_allow);
		http_reply_error(rq, 405, "method_not_allowed", message, allow);
		break;
	}
}

/* Jobs one sweep gives up at most; more wait for the next, which comes soon. */
#define EXPIRE_BATCH	1000
#define PRUNE_BATCH	5000

/*
 * Jobs silent for stall_fail_after are given up (failed), so that a dead
 * trainer's job does not read "stalled" for ever.  Whichever worker with a
 * writer connection finishes a request once a sweep is due runs it (its
 * response has been sent): one sweep at a time across the pool, a bounded
 * batch each, once a minute (a tenth of stall_fail_after when that is
 * shorter, at least a second apart).
 */
static void
worker_expire_stalled(struct worker_ctx *wc)
{
	const struct config	*cf = wc->wc_cf;
	const char		*params[3];
	char			 secs[32], batch[16], message[160];
	PGresult		*res = NULL;
	long long		 due, now, every;
	int			 n;

	if (cf->cf_stall_fail_after_ms <= 0 || !db_configured(&wc->wc_writer))
		return;
	now = mono_ms();
	every = cf->cf_stall_fail_after_ms / 10;
	every = every > 60000 ? 60000 : every < 1000 ? 1000 : every;
	/* Not yet due, unless set further off than these settings allow (a reload). */
	due = atomic_load(&scoreboard->sb_expire_due);
	if (now < due && due - now <= every)
		return;
	if (!atomic_compare_exchange_strong(&scoreboard->sb_expire_due, &due, now + every))
		return;
	snprintf(secs, sizeof(secs), "%.3f", cf->cf_stall_fail_after_ms / 1000.0);
	snprintf(batch, sizeof(batch), "%d", EXPIRE_BATCH);
	snprintf(message, sizeof(message), "no progress or heartbeat from the job for %d s: "
	    "given up as failed (stall_fail_after)", cf->cf_stall_fail_after_ms / 1000);
	params[0] = secs;
	params[1] = batch;
	params[2] = message;
	switch (db_exec(&wc->wc_writer, STMT_EXPIRE, params, now + cf->cf_db_timeout_ms, &res)) {
	case DB_OK:
		if ((n = PQntuples(res)) == 0)
			break;
		atomic_fetch_add(&scoreboard->sb_expired, (unsigned long long)n);
		log_kv(LOG_INFO, "jobs_expired", "jobs=%d stall_fail_after_ms=%d", n,
		    cf->cf_stall_fail_after_ms);
		/* A full batch: more are waiting, take them at the next request. */
		if (n == EXPIRE_BATCH)
			atomic_store(&scoreboard->sb_expire_due, now);
		break;
	case DB_UNAVAILABLE:
	case DB_FAILED:		/* db_exec() logged it; the next sweep tries again */
		break;
	}
	PQclear(res);
}

/*
 * The history's age limit (max_age, schema/005): the writer connection of
 * whichever worker finishes a request once a sweep is due deletes what is
 * older, a bounded batch at a time, once per history_prune_every across
 * the pool; a full batch makes the next one due at once.
 */
static void
worker_prune_history(struct worker_ctx *wc)
{
	const char	*params[1];
	char		 batch[16];
	PGresult	*res = NULL;
	long long	 due, now, every = wc->wc_cf->cf_history_prune_every_ms;
	int		 n;

	if (!db_configured(&wc->wc_writer))
		return;
	now = mono_ms();
	/* Not yet due, unless set further off than the settings allow (a reload). */
	due = atomic_load(&scoreboard->sb_prune_due);
	if (now < due && due - now <= every)
		return;
	if (!atomic_compare_exchange_strong(&scoreboard->sb_prune_due, &due, now + every))
		return;
	snprintf(batch, sizeof(batch), "%d", PRUNE_BATCH);
	params[0] = batch;
	if (db_exec(&wc->wc_writer, STMT_PRUNE_HISTORY, params,
	    now + wc->wc_cf->cf_db_timeout_ms, &res) == DB_OK &&
	    (n = PQntuples(res)) > 0) {
		atomic_fetch_add(&scoreboard->sb_history_pruned, (unsigned long long)n);
		log_kv(LOG_INFO, "history_pruned", "snapshots=%d", n);
		if (n == PRUNE_BATCH)
			atomic_store(&scoreboard->sb_prune_due, now);
	}
	PQclear(res);
}

/*
 * After each request (its response sent): what this worker knows of the
 * database, for /status; then any housekeeping that is due.
 */
static void
worker_after(void *arg)
{
	struct worker_ctx	*wc = arg;
	int			 up = wc->wc_reader.db_conn != NULL && !wc->wc_reader.db_down;

	atomic_store(&scoreboard->sb_slots[wc->wc_slot].w_db, up);
	atomic_store(up ? &scoreboard->sb_db_ok_wall : &scoreboard->sb_db_fail_wall, wall_ms());
	worker_expire_stalled(wc);
	worker_prune_history(wc);
}

/* While idle: the reader connection, which brings news of writes to the cache. */
static int
worker_idle_fd(void *arg, unsigned *gen)
{
	struct worker_ctx	*wc = arg;

	return cache_idle_fd(&wc->wc_cache, &wc->wc_reader, gen);
}

static void
worker_idle_ready(void *arg, bool readable)
{
	struct worker_ctx	*wc = arg;

	cache_after_wait(&wc->wc_cache, &wc->wc_reader, readable);
}

static void
worker_finish(void *arg)
{
	struct worker_ctx	*wc = arg;

	db_close(&wc->wc_reader);
	db_close(&wc->wc_writer);
	cache_free(&wc->wc_cache);
	log_debug("worker_stop", "stopped");
}

void
worker_run(const struct config *cf, int listen_fd, int slot, pid_t master)
{
	static const struct serve_ops ops = { worker_dispatch, worker_after, worker_finish,
	    worker_idle_fd, worker_idle_ready };
	static struct worker_ctx wc;
	long			 limit = 0;

	log_set_role("worker", slot);
	config_secrets_close();
	atomic_store(&scoreboard->sb_slots[slot].w_pid, (int)getpid());
	/* Not all at once: each worker recycles after its own count. */
	if (cf->cf_max_requests > 0) {
		srandom((unsigned)getpid() ^ (unsigned)wall_ms());
		limit = cf->cf_max_requests + (cf->cf_max_requests_jitter > 0 ?
		    random() % ((long)cf->cf_max_requests_jitter + 1) : 0);
	}
	wc.wc_cf = cf;
	wc.wc_slot = slot;
	db_init(&wc.wc_reader, cf, DB_READER);
	db_init(&wc.wc_writer, cf, DB_WRITER);
	if (cache_init(&wc.wc_cache, cf->cf_read_cache, cf->cf_read_cache_ttl_ms) == -1) {
		log_error("worker_init", "out of memory for the read cache");
		exit(1);
	}
	wc.wc_reader.db_listen = cache_enabled(&wc.wc_cache);
	db_warm(&wc.wc_reader);
	worker_after(&wc);
	log_debug("worker_start", "ready");
	serve_requests(cf, listen_fd, slot, master, limit, &ops, &wc);
}

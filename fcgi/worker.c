/*
 * worker.c: the life of a pool process: accept a checked FastCGI request,
 * dispatch it, answer, repeat; stop when told, or after max_requests.
 * The workers and the status process share this loop.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static volatile sig_atomic_t	 worker_stop, worker_reopen;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		worker_reopen = 1;
	else
		worker_stop = 1;
}

/* Signals as a pool process wants them; they stay blocked but in ppoll(). */
static void
worker_signals(sigset_t *waitmask)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(waitmask);
}

/*
 * Serves one connection if one is waiting.  Returns 1 when a connection was
 * taken (served or refused), 0 when there was none.
 */
static int
serve_one(const struct config *cf, struct guard *g, FCGX_Request *fcgi, int listen_fd,
    int slot, dispatch_fn dispatch, void *arg)
{
	struct request	 rq;
	const char	*method, *uri;
	char		 qpath[600];
	int64_t		 took;
	int		 fd, rc;

	switch (guard_accept(g, listen_fd, &fd)) {
	case GUARD_NONE:
		return 0;
	case GUARD_REFUSED:
		return 1;
	case GUARD_READY:
		break;
	}
	/*
	 * Hand the checked connection to libfcgi: with a connection already
	 * open (ipcFd) it reads the request instead of accepting, and with
	 * keepConnection set its opening FCGX_Finish_r() leaves the fd open.
	 */
	fcgi->keepConnection = 1;
	fcgi->ipcFd = fd;
	if ((rc = FCGX_Accept_r(fcgi)) < 0) {
		log_warn("fcgi_failed", "libfcgi could not read a checked request (%d)", rc);
		if (fcgi->ipcFd >= 0)
			FCGX_Free(fcgi, 1);
		return 1;
	}
	request_reset(&rq, fcgi);
	method = FCGX_GetParam("REQUEST_METHOD", fcgi->envp);
	uri = FCGX_GetParam("REQUEST_URI", fcgi->envp);
	if (slot >= 0)
		sb_request_begin(slot, method, uri, atomic_load(&scoreboard->sb_workers));
	dispatch(&rq, arg);
	took = mono_ms() - rq.rq_started;
	if (cf->cf_slow_request_ms > 0 && took >= cf->cf_slow_request_ms) {
		atomic_fetch_add(&scoreboard->sb_slow, 1);
		log_kv(LOG_WARN, "slow_request", "method=%s path=%s status=%d duration_ms=%lld",
		    method != NULL && strlen(method) < 16 ? method : "?",
		    log_quote(uri, qpath, sizeof(qpath)), rq.rq_status, (long long)took);
	}
	/*
	 * One request per connection: a kept-alive connection would tie this
	 * worker to one idle nginx connection.
	 */
	fcgi->keepConnection = 0;
	FCGX_Finish_r(fcgi);
	if (slot >= 0)
		sb_request_end(slot);
	return 1;
}

void
serve_requests(const struct config *cf, int listen_fd, int slot, pid_t master,
    long limit, const struct serve_ops *ops, void *arg)
{
	FCGX_Request	 fcgi;
	struct guard	 g;
	struct pollfd	 pfd;
	sigset_t	 waitmask;
	long		 served = 0;
	int		 drained, dummy;

	worker_signals(&waitmask);
	/*
	 * Die with the master (set after any change of credentials, which
	 * clears it); it may already be gone.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != master)
		_exit(1);

	/*
	 * libfcgi only ever reads connections handed to it; were it to try
	 * accepting, this socket that does not listen makes that fail.
	 */
	if ((dummy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    FCGX_Init() != 0 || FCGX_InitRequest(&fcgi, dummy, 0) != 0) {
		log_error("worker_init", "cannot initialise libfcgi");
		exit(1);
	}
	guard_init(&g, cf);
	if (slot >= 0)
		sb_set_state(slot, SB_IDLE);

	pfd.fd = listen_fd;
	pfd.events = POLLIN;
	while (!worker_stop) {
		/* Signals are delivered here, and only here. */
		if (ppoll(&pfd, 1, NULL, &waitmask) == -1) {
			if (errno != EINTR) {
				log_error("poll_failed", "ppoll: %s", strerror(errno));
				break;
			}
			if (worker_reopen) {
				worker_reopen = 0;
				(void)log_reopen();
			}
			continue;
		}
		if (worker_stop)
			break;
		served += serve_one(cf, &g, &fcgi, listen_fd, slot, ops->so_dispatch, arg);
		if (ops->so_after != NULL)
			ops->so_after(arg);
		if (getppid() != master)
			_exit(1);
		if (limit > 0 && served >= limit) {
			log_kv(LOG_INFO, "worker_recycled", "requests=%ld", served);
			if (slot >= 0)
				sb_set_state(slot, SB_STOPPING);
			goto out;
		}
	}

	/*
	 * Stopping: serve what the kernel had already queued, then go.  Bounded,
	 * since on TCP new connections can keep arriving until the last worker
	 * closes the socket.
	 */
	if (slot >= 0)
		sb_set_state(slot, SB_STOPPING);
	for (drained = 0; drained < cf->cf_listen_backlog; drained++)
		if (serve_one(cf, &g, &fcgi, listen_fd, slot, ops->so_dispatch, arg) == 0)
			break;
out:
	FCGX_Free(&fcgi, 1);
	close(dummy);
	guard_free(&g);
	if (ops->so_finish != NULL)
		ops->so_finish(arg);
	exit(0);
}

/* --- the API workers ---------------------------------------------------- */

struct worker_ctx {
	const struct config *wc_cf;
	struct db	 wc_reader;	/* connected at start: reads are the load */
	struct db	 wc_writer;	/* connected at the first write */
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

/* After each request: what this worker knows of the database, for /status. */
static void
worker_report_db(void *arg)
{
	struct worker_ctx	*wc = arg;
	int			 up = wc->wc_reader.db_conn != NULL && !wc->wc_reader.db_down;

	atomic_store(&scoreboard->sb_slots[wc->wc_slot].w_db, up);
	atomic_store(up ? &scoreboard->sb_db_ok_wall : &scoreboard->sb_db_fail_wall, wall_ms());
}

static void
worker_finish(void *arg)
{
	struct worker_ctx	*wc = arg;

	db_close(&wc->wc_reader);
	db_close(&wc->wc_writer);
	log_debug("worker_stop", "stopped");
}

void
worker_run(const struct config *cf, int listen_fd, int slot, pid_t master)
{
	static const struct serve_ops ops = { worker_dispatch, worker_report_db, worker_finish };
	static struct worker_ctx wc;
	long			 limit = 0;

	log_set_role("worker", slot);
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
	db_warm(&wc.wc_reader);
	worker_report_db(&wc);
	log_debug("worker_start", "ready");
	serve_requests(cf, listen_fd, slot, master, limit, &ops, &wc);
}

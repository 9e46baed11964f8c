/*
 * serve.c: the loop of every pool process: accept a checked FastCGI
 * request, dispatch it, answer, repeat; stop when told, or after
 * max_requests.  The workers and the status process share it.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

static volatile sig_atomic_t	 serve_stop, serve_reopen;

/* What woke the loop. */
#define EV_LISTEN	1
#define EV_IDLE		2

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		serve_reopen = 1;
	else
		serve_stop = 1;
}

/* Signals as a pool process wants them; they stay blocked but in epoll_pwait(). */
static void
serve_signals(sigset_t *waitmask)
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

/* Reads what is left of a request (already here: never waits), then closes. */
static void
close_drained(int fd)
{
	char	 trash[512];

	if (fd < 0)
		return;
	while (recv(fd, trash, sizeof(trash), MSG_DONTWAIT) > 0)
		continue;
	close(fd);
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
	/*
	 * A request the guard took off the connection: libfcgi reads its
	 * parameters from the guard's copy, then writes the response to the
	 * connection itself (its streams look the fd up in the request as
	 * they write); the body is the guard's.
	 */
	fcgi->ipcFd = g->g_replay >= 0 ? g->g_replay : fd;
	if ((rc = FCGX_Accept_r(fcgi)) < 0) {
		log_warn("fcgi_failed", "libfcgi could not read a checked request (%d)", rc);
		if (fcgi->ipcFd >= 0)
			FCGX_Free(fcgi, 1);
		if (g->g_replay >= 0)
			close(fd);
		g->g_replay = -1;
		return 1;
	}
	request_reset(&rq, fcgi);
	if (g->g_replay >= 0) {
		close(g->g_replay);
		g->g_replay = -1;
		fcgi->ipcFd = fd;
		rq.rq_body = (const char *)g->g_body;
		rq.rq_body_len = g->g_body_len;
	}
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
	 * worker to one idle nginx connection.  libfcgi is told to keep it
	 * (so it flushes the response and END_REQUEST, and leaves the fd):
	 * its own close would shut down, then wait, up to 2 s, for the web
	 * server to close first, holding the worker while nginx gets round to
	 * it.  The guard saw the whole request arrive, so once the little
	 * libfcgi left unread is drained, nothing is unread and close() sends
	 * a plain FIN, never a reset that could lose the response.
	 */
	fcgi->keepConnection = 1;
	FCGX_Finish_r(fcgi);
	close_drained(fcgi->ipcFd);
	fcgi->ipcFd = -1;
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
	struct epoll_event evs[2];
	sigset_t	 waitmask;
	long		 served = 0;
	unsigned	 idle_gen = 0, reg_gen = 0;
	int		 drained, dummy, ep, n, i, idle_fd, reg_fd = -1;
	bool		 listen_ready, idle_ready;

	serve_signals(&waitmask);
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

	/*
	 * epoll, with the listening socket EPOLLEXCLUSIVE: a connection wakes
	 * one idle process, not all of them only for all but one to find
	 * accept() empty (a thundering herd that grows with the pool).
	 */
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &(struct epoll_event){
	    .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = EV_LISTEN }) == -1) {
		log_error("worker_init", "epoll: %s", strerror(errno));
		exit(1);
	}
	while (!serve_stop) {
		idle_fd = ops->so_idle_fd != NULL ? ops->so_idle_fd(arg, &idle_gen) : -1;
		if (idle_fd != reg_fd || idle_gen != reg_gen) {
			/* A new connection: watch it instead (a closed fd left epoll by itself). */
			if (reg_fd >= 0)
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, reg_fd, NULL);
			if (idle_fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, idle_fd, &(struct epoll_event){
			    .events = EPOLLIN, .data.u32 = EV_IDLE }) == -1)
				idle_fd = -1;
			reg_fd = idle_fd;
			reg_gen = idle_gen;
		}
		/* Signals are delivered here, and only here. */
		if ((n = epoll_pwait(ep, evs, 2, -1, &waitmask)) == -1) {
			if (errno != EINTR) {
				log_error("poll_failed", "epoll_pwait: %s", strerror(errno));
				break;
			}
			if (serve_reopen) {
				serve_reopen = 0;
				(void)log_reopen();
			}
			continue;
		}
		if (serve_stop)
			break;
		for (i = 0, listen_ready = idle_ready = false; i < n; i++) {
			listen_ready |= evs[i].data.u32 == EV_LISTEN;
			idle_ready |= evs[i].data.u32 == EV_IDLE;
		}
		if (reg_fd >= 0)
			ops->so_idle_ready(arg, idle_ready);
		if (!listen_ready)
			continue;
		served += serve_one(cf, &g, &fcgi, listen_fd, slot, ops->so_dispatch, arg);
		if (ops->so_after != NULL)
			ops->so_after(arg);
		/* The master's death is PR_SET_PDEATHSIG's to notice: no getppid() here. */
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
	close(ep);
	guard_free(&g);
	if (ops->so_finish != NULL)
		ops->so_finish(arg);
	exit(0);
}

/* worker.c: one prefork worker: accept a FastCGI request, route it, answer. */
#include <sys/prctl.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static volatile sig_atomic_t	 worker_stop;

static void
on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static void
dispatch(struct request *rq, struct db *db)
{
	FCGX_ParamArray	 env = rq->rq_fcgi->envp;
	struct route	*rt = &rq->rq_route;
	char		 allow[64];

	switch (route_match(FCGX_GetParam("REQUEST_METHOD", env),
	    FCGX_GetParam("REQUEST_URI", env), rt)) {
	case ROUTE_OK:
		handle_progress(rq, db);
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
		http_reply_error(rq, 405, "method_not_allowed",
		    "this endpoint answers only GET and HEAD", allow);
		break;
	}
}

/*
 * Accepts and serves one connection if one is waiting.  Returns 1 when a
 * request was served, 0 when nothing was waiting (or accept failed).
 */
static int
serve_one(FCGX_Request *fcgi, struct db *db)
{
	struct request		 rq;
	struct timespec		 pause = { 0, 50 * 1000000 };
	int			 rc;

	/* The listen socket is non-blocking: another worker may win the race. */
	if ((rc = FCGX_Accept_r(fcgi)) < 0) {
		if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
			log_warn("accept_failed", "accept: %s", strerror(-rc));
			/* EMFILE and friends: do not spin on a readable socket. */
			nanosleep(&pause, NULL);
		}
		return 0;
	}
	request_reset(&rq, fcgi);
	dispatch(&rq, db);
	/*
	 * One request per connection: a kept-alive connection would tie this
	 * worker to one idle nginx connection.
	 */
	fcgi->keepConnection = 0;
	FCGX_Finish_r(fcgi);
	return 1;
}

void
worker_run(const struct config *cf, int listen_fd, int slot, pid_t master)
{
	FCGX_Request		 fcgi;
	struct db		 db;
	struct sigaction	 sa;
	struct pollfd		 pfd;
	sigset_t		 waitmask;
	int			 drained;

	log_set_role("worker", slot);

	/* Inherited blocked: they are let in only while waiting in ppoll. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&waitmask);

	/* Die with the master; it may already be gone. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != master)
		_exit(1);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fcgi, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_error("worker_init", "cannot initialise libfcgi");
		exit(1);
	}
	db_init(&db, cf);
	db_warm(&db);
	log_debug("worker_start", "ready");

	pfd.fd = listen_fd;
	pfd.events = POLLIN;
	while (!worker_stop) {
		/* Signals are delivered here, and only here. */
		if (ppoll(&pfd, 1, NULL, &waitmask) == -1) {
			if (errno != EINTR) {
				log_error("poll_failed", "ppoll: %s", strerror(errno));
				break;
			}
			continue;
		}
		if (worker_stop)
			break;
		(void)serve_one(&fcgi, &db);
		if (getppid() != master)
			break;
	}

	/*
	 * Stopping: serve what the kernel had already queued, then go.  Bounded,
	 * since on TCP new connections can keep arriving until the last worker
	 * closes the socket.
	 */
	for (drained = 0; drained < cf->cf_listen_backlog; drained++)
		if (serve_one(&fcgi, &db) == 0)
			break;
	FCGX_Free(&fcgi, 1);
	db_close(&db);
	log_debug("worker_stop", "stopped");
	exit(0);
}

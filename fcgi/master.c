/* master.c: the prefork master: forks workers, reaps and replaces them, stops them. */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

/* A worker that dies younger than this is restarted after a growing delay. */
#define QUICK_DEATH_MS		1000
#define RESPAWN_DELAY_MIN_MS	100
#define RESPAWN_DELAY_MAX_MS	5000

struct slot {
	pid_t	 sl_pid;		/* 0: no worker */
	int64_t	 sl_started;
	int64_t	 sl_respawn_at;		/* when to fork again */
	int	 sl_quick_deaths;	/* in a row */
};

static volatile sig_atomic_t	 got_chld, got_term, got_int;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		got_chld = 1;
		break;
	case SIGTERM:
	case SIGQUIT:
		got_term = 1;
		break;
	case SIGINT:
		got_int = 1;
		break;
	}
}

static void
spawn(const struct config *cf, int listen_fd, struct slot *slots, int i)
{
	pid_t	 pid, master = getpid();

	if ((pid = fork()) == -1) {
		log_error("fork_failed", "cannot fork worker %d: %s", i, strerror(errno));
		slots[i].sl_respawn_at = mono_ms() + RESPAWN_DELAY_MAX_MS;
		return;
	}
	if (pid == 0)
		worker_run(cf, listen_fd, i, master);
	slots[i].sl_pid = pid;
	slots[i].sl_started = mono_ms();
	log_debug("worker_spawned", "worker %d is pid %ld", i, (long)pid);
}

/* Says why a child ended, in words. */
static void
describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, size, "ended with wait status %#x", (unsigned)status);
}

/*
 * Reaps every child that has ended.  While running (`stopping` false), plans
 * a replacement: at once after a worker that lived a while, after a doubling
 * delay after one that died young.  Returns the number of workers left.
 */
static int
reap(struct slot *slots, int n, bool stopping)
{
	char	 why[128];
	int	 status, i, left = 0;
	int64_t	 now, delay;
	pid_t	 pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < n && slots[i].sl_pid != pid; i++)
			continue;
		if (i == n)
			continue;
		slots[i].sl_pid = 0;
		describe_exit(status, why, sizeof(why));
		if (stopping) {
			log_debug("worker_exit", "worker %d (pid %ld) %s", i, (long)pid, why);
			continue;
		}
		now = mono_ms();
		if (now - slots[i].sl_started < QUICK_DEATH_MS)
			slots[i].sl_quick_deaths++;
		else
			slots[i].sl_quick_deaths = 0;
		delay = 0;
		if (slots[i].sl_quick_deaths > 0) {
			delay = RESPAWN_DELAY_MIN_MS;
			for (int k = 1; k < slots[i].sl_quick_deaths && delay < RESPAWN_DELAY_MAX_MS; k++)
				delay *= 2;
			if (delay > RESPAWN_DELAY_MAX_MS)
				delay = RESPAWN_DELAY_MAX_MS;
		}
		slots[i].sl_respawn_at = now + delay;
		log_warn("worker_died", "worker %d (pid %ld) %s; replacing it%s", i,
		    (long)pid, why, delay > 0 ? " after a delay: it died young" : "");
	}
	for (i = 0; i < n; i++)
		if (slots[i].sl_pid != 0)
			left++;
	return left;
}

static void
signal_all(struct slot *slots, int n, int sig)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (slots[i].sl_pid != 0)
			kill(slots[i].sl_pid, sig);
}

/*
 * Stops every worker: SIGTERM (they finish what they are serving and what is
 * already queued), then SIGKILL for any still there after shutdown_timeout,
 * or at once when `fast` or when SIGINT arrives meanwhile.
 */
static void
stop_workers(const struct config *cf, struct slot *slots, int n, bool fast,
    const sigset_t *waitmask)
{
	struct timespec	 ts;
	int64_t		 deadline, left;
	bool		 killed = fast;

	got_int = 0;
	signal_all(slots, n, fast ? SIGKILL : SIGTERM);
	deadline = mono_ms() + cf->cf_shutdown_timeout_ms;
	while (reap(slots, n, true) > 0) {
		left = deadline - mono_ms();
		if (!killed && (left <= 0 || got_int)) {
			log_warn("workers_killed", "%s: killing the workers still busy",
			    got_int ? "fast stop requested" : "shutdown_timeout reached");
			signal_all(slots, n, SIGKILL);
			killed = true;
		}
		if (killed) {
			/* SIGKILL cannot be ignored: SIGCHLD will come. */
			(void)ppoll(NULL, 0, NULL, waitmask);
			continue;
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		(void)ppoll(NULL, 0, &ts, waitmask);
	}
}

int
master_run(const struct config *cf, int listen_fd)
{
	struct sigaction	 sa;
	struct timespec		 ts;
	struct slot		*slots;
	sigset_t		 block, waitmask;
	int64_t			 now, next;
	int			 i, n = cf->cf_workers;
	bool			 fast;

	if ((slots = calloc((size_t)n, sizeof(*slots))) == NULL) {
		log_error("master_start", "out of memory");
		return 1;
	}
	log_set_role("master", -1);

	/*
	 * The master's signals stay blocked except inside ppoll(), so a signal
	 * can neither be lost between a check and the wait nor arrive in the
	 * middle of a fork (children inherit the blocked mask).
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGCHLD);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGQUIT);

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	/* Reload is not a feature yet: a stray SIGHUP must not kill the pool. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	log_info("pool_start", "listening on %s with %d workers", cf->cf_listen, n);
	for (i = 0; i < n; i++)
		spawn(cf, listen_fd, slots, i);

	for (;;) {
		if (got_chld) {
			got_chld = 0;
			(void)reap(slots, n, false);
		}
		if (got_term || got_int)
			break;
		now = mono_ms();
		next = -1;
		for (i = 0; i < n; i++) {
			if (slots[i].sl_pid != 0)
				continue;
			if (slots[i].sl_respawn_at <= now)
				spawn(cf, listen_fd, slots, i);
			if (slots[i].sl_pid == 0 &&
			    (next == -1 || slots[i].sl_respawn_at < next))
				next = slots[i].sl_respawn_at;
		}
		if (next == -1) {
			(void)ppoll(NULL, 0, NULL, &waitmask);
		} else {
			next -= mono_ms();
			if (next < 0)
				next = 0;
			ts.tv_sec = next / 1000;
			ts.tv_nsec = (next % 1000) * 1000000;
			(void)ppoll(NULL, 0, &ts, &waitmask);
		}
	}

	fast = got_int && !got_term;
	log_info("pool_stop", "%s stop requested", fast ? "fast" : "graceful");
	/* No new connections from here; queued ones are still served. */
	listen_unlink(cf);
	close(listen_fd);
	stop_workers(cf, slots, n, fast, &waitmask);
	free(slots);
	log_info("pool_stopped", "all workers have exited");
	return 0;
}

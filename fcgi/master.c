/*
 * master.c: the prefork master: forks the workers and the status process,
 * reaps and replaces them, kills requests that overrun, reloads, stops.
 *
 * Slots: each worker has a slot of the scoreboard, and the master's own
 * record of it here.  A slot of the current generation that has no
 * process is VACANT and gets one at its respawn time; after a reload the
 * old generation's slots are RETIRING: their workers finish and are not
 * replaced.  The master never calls libpq.
 */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tp/trainprog.h>

#include "pool.h"

/* A worker that dies younger than this is restarted after a growing delay. */
#define QUICK_DEATH_MS		1000
#define RESPAWN_DELAY_MIN_MS	100
#define RESPAWN_DELAY_MAX_MS	5000
/* During a crash storm, at most one worker is started per this long. */
#define STORM_SPAWN_MS		5000
/* How often the master looks at the workers' requests and retirements. */
#define TICK_MS			200

enum slot_state { SLOT_FREE, SLOT_VACANT, SLOT_RUNNING, SLOT_RETIRING };

struct slot {
	enum slot_state	 sl_state;
	pid_t		 sl_pid;
	unsigned	 sl_generation;
	int64_t		 sl_started;		/* mono_ms() at fork */
	int64_t		 sl_respawn_at;		/* VACANT: when to fork */
	int64_t		 sl_retire_by;		/* RETIRING: SIGKILL after this */
	int		 sl_quick_deaths;	/* in a row */
	bool		 sl_killed;		/* by the master: not a crash */
};

struct master {
	struct config		*m_cf;
	struct pool_sockets	*m_ps;
	const char		*m_config_path;
	const struct config_flag *m_flags;
	int			 m_nflags;
	struct slot		 m_slots[SB_SLOTS];
	unsigned		 m_generation;
	pid_t			 m_pid;
	pid_t			 m_status_pid;	/* the status process, or 0 */
	int64_t			 m_status_respawn_at;
	int64_t			*m_deaths;	/* ring of unplanned deaths (mono_ms) */
	int			 m_ndeaths;
	bool			 m_storm;
	int64_t			 m_storm_next_spawn;
	sigset_t		 m_waitmask;
};

static volatile sig_atomic_t	 got_chld, got_term, got_int, got_hup, got_usr1;

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
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	}
}

/* Clears a scoreboard slot for a new process of `generation`. */
static void
sb_prepare(int i, unsigned generation)
{
	struct sb_worker	*w = &scoreboard->sb_slots[i];

	atomic_store(&w->w_pid, 0);
	atomic_store(&w->w_generation, generation);
	atomic_store(&w->w_db, -1);
	atomic_store(&w->w_requests, 0);
	atomic_store(&w->w_req_started_mono, 0);
	atomic_store(&w->w_started_wall, wall_ms());
	atomic_store(&w->w_state, SB_STARTING);
}

/* A process is gone: its slot no longer counts, nor its request as busy. */
static void
sb_release(int i)
{
	struct sb_worker	*w = &scoreboard->sb_slots[i];

	if (atomic_exchange(&w->w_state, SB_FREE) == SB_BUSY)
		atomic_fetch_sub(&scoreboard->sb_busy, 1);
	atomic_store(&w->w_req_started_mono, 0);
	atomic_store(&w->w_pid, 0);
}

static void
spawn(struct master *m, int i)
{
	struct slot	*sl = &m->m_slots[i];
	pid_t		 pid;

	sb_prepare(i, sl->sl_generation);
	if ((pid = fork()) == -1) {
		log_error("fork_failed", "cannot fork worker %d: %s", i, strerror(errno));
		sb_release(i);
		sl->sl_respawn_at = mono_ms() + RESPAWN_DELAY_MAX_MS;
		return;
	}
	if (pid == 0)
		worker_run(m->m_cf, m->m_ps->ps_listen, i, m->m_pid);
	sl->sl_state = SLOT_RUNNING;
	sl->sl_pid = pid;
	sl->sl_started = mono_ms();
	sl->sl_killed = false;
	atomic_store(&scoreboard->sb_slots[i].w_pid, (int)pid);
	log_debug("worker_spawned", "worker %d is pid %ld", i, (long)pid);
}

static void
spawn_status(struct master *m)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		log_error("fork_failed", "cannot fork the status process: %s", strerror(errno));
		m->m_status_respawn_at = mono_ms() + RESPAWN_DELAY_MAX_MS;
		return;
	}
	if (pid == 0)
		status_run(m->m_cf, m->m_ps->ps_status, m->m_ps->ps_listen, -1, m->m_pid);
	m->m_status_pid = pid;
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
 * Counts an unplanned death; says loudly when deaths come faster than
 * storm_deaths in storm_window (a crash storm), and when it is over.
 */
static void
note_death(struct master *m, int64_t now)
{
	const struct config	*cf = m->m_cf;
	int			 n = cf->cf_storm_deaths;

	if (n <= 0 || m->m_deaths == NULL)
		return;
	/* The ring holds the last n deaths; the oldest is overwritten. */
	m->m_deaths[m->m_ndeaths % n] = now;
	m->m_ndeaths++;
	if (m->m_ndeaths >= n && now - m->m_deaths[m->m_ndeaths % n] <= cf->cf_storm_window_ms &&
	    !m->m_storm) {
		m->m_storm = true;
		atomic_store(&scoreboard->sb_storm, 1);
		log_error("crash_storm", "%d workers died within %dms: starting at most one "
		    "worker every %ds until they stop dying; see the records above for why",
		    n, cf->cf_storm_window_ms, STORM_SPAWN_MS / 1000);
	}
}

static void
check_storm_over(struct master *m, int64_t now)
{
	int	 n = m->m_cf->cf_storm_deaths;

	if (m->m_storm && n > 0 &&
	    now - m->m_deaths[(m->m_ndeaths - 1) % n] > m->m_cf->cf_storm_window_ms) {
		m->m_storm = false;
		atomic_store(&scoreboard->sb_storm, 0);
		log_info("crash_storm_over", "no worker died for %dms: starting them normally again",
		    m->m_cf->cf_storm_window_ms);
	}
}

/*
 * Reaps every child that has ended.  While running (`stopping` false), a
 * current worker's slot becomes VACANT: respawned at once after a planned
 * exit (recycling) or a kill by the master, after a doubling delay after an
 * early death; a retired worker's slot becomes FREE.  Returns the number of
 * processes left.
 */
static int
reap(struct master *m, bool stopping)
{
	struct slot	*sl;
	char		 why[128];
	int		 status, i, left = 0;
	int64_t		 now, delay;
	pid_t		 pid;
	bool		 planned;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		describe_exit(status, why, sizeof(why));
		if (pid == m->m_status_pid) {
			m->m_status_pid = 0;
			if (!stopping) {
				log_warn("status_died", "the status process (pid %ld) %s; replacing it",
				    (long)pid, why);
				m->m_status_respawn_at = mono_ms() + RESPAWN_DELAY_MIN_MS;
			}
			continue;
		}
		for (i = 0; i < SB_SLOTS && m->m_slots[i].sl_pid != pid; i++)
			continue;
		if (i == SB_SLOTS)
			continue;
		sl = &m->m_slots[i];
		sb_release(i);
		sl->sl_pid = 0;
		if (stopping || sl->sl_state == SLOT_RETIRING) {
			sl->sl_state = SLOT_FREE;
			log_debug("worker_exit", "worker %d (pid %ld) %s", i, (long)pid, why);
			continue;
		}
		now = mono_ms();
		planned = sl->sl_killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
		sl->sl_state = SLOT_VACANT;
		if (planned) {
			sl->sl_quick_deaths = 0;
			sl->sl_respawn_at = now;
			if (!sl->sl_killed) {
				atomic_fetch_add(&scoreboard->sb_recycled, 1);
				log_debug("worker_recycled", "worker %d (pid %ld) retired after "
				    "max_requests", i, (long)pid);
			}
			continue;
		}
		atomic_fetch_add(&scoreboard->sb_restarts, 1);
		note_death(m, now);
		if (now - sl->sl_started < QUICK_DEATH_MS)
			sl->sl_quick_deaths++;
		else
			sl->sl_quick_deaths = 0;
		delay = 0;
		if (sl->sl_quick_deaths > 0) {
			delay = RESPAWN_DELAY_MIN_MS;
			for (int k = 1; k < sl->sl_quick_deaths && delay < RESPAWN_DELAY_MAX_MS; k++)
				delay *= 2;
			if (delay > RESPAWN_DELAY_MAX_MS)
				delay = RESPAWN_DELAY_MAX_MS;
		}
		sl->sl_respawn_at = now + delay;
		log_kv(LOG_WARN, "worker_died", "slot=%d worker_pid=%ld cause=\"%s\" respawn_in_ms=%lld",
		    i, (long)pid, why, (long long)delay);
	}
	for (i = 0; i < SB_SLOTS; i++)
		if (m->m_slots[i].sl_pid != 0)
			left++;
	return left + (m->m_status_pid != 0);
}

static void
signal_all(struct master *m, int sig)
{
	int	 i;

	for (i = 0; i < SB_SLOTS; i++)
		if (m->m_slots[i].sl_pid != 0)
			kill(m->m_slots[i].sl_pid, sig);
	if (m->m_status_pid != 0)
		kill(m->m_status_pid, sig);
}

/*
 * The tick: kills workers whose request has run past request_timeout, and
 * retiring workers past shutdown_timeout.  The pool keeps serving.
 */
static void
enforce_deadlines(struct master *m, int64_t now)
{
	const struct config	*cf = m->m_cf;
	struct slot		*sl;
	char			 method[16], uri[300], qpath[600];
	int64_t			 started;
	int			 i;

	for (i = 0; i < SB_SLOTS; i++) {
		sl = &m->m_slots[i];
		if (sl->sl_pid == 0 || sl->sl_killed)
			continue;
		if (sl->sl_state == SLOT_RETIRING && now > sl->sl_retire_by) {
			log_warn("worker_killed", "retired worker %d (pid %ld) still busy after "
			    "shutdown_timeout: killing it", i, (long)sl->sl_pid);
			kill(sl->sl_pid, SIGKILL);
			sl->sl_killed = true;
			continue;
		}
		started = atomic_load(&scoreboard->sb_slots[i].w_req_started_mono);
		if (cf->cf_request_timeout_ms > 0 && started != 0 &&
		    now - started > cf->cf_request_timeout_ms) {
			sb_read_request(i, method, sizeof(method), uri, sizeof(uri));
			log_kv(LOG_ERROR, "request_timeout", "slot=%d worker_pid=%ld method=%s path=%s "
			    "duration_ms=%lld action=\"worker killed and replaced\"", i, (long)sl->sl_pid,
			    strlen(method) < 16 && strchr(method, ' ') == NULL ? method : "?",
			    log_quote(uri, qpath, sizeof(qpath)), (long long)(now - started));
			kill(sl->sl_pid, SIGKILL);
			sl->sl_killed = true;
			atomic_fetch_add(&scoreboard->sb_timeouts, 1);
		}
	}
}

/* Forks what is due: vacant current slots, and the status process. */
static int64_t
spawn_due(struct master *m, int64_t now)
{
	struct slot	*sl;
	int64_t		 next = -1;
	int		 i;

	for (i = 0; i < SB_SLOTS; i++) {
		sl = &m->m_slots[i];
		if (sl->sl_state != SLOT_VACANT)
			continue;
		if (sl->sl_respawn_at <= now && (!m->m_storm || now >= m->m_storm_next_spawn)) {
			spawn(m, i);
			if (m->m_storm)
				m->m_storm_next_spawn = now + STORM_SPAWN_MS;
		}
		if (sl->sl_state == SLOT_VACANT) {
			int64_t at = sl->sl_respawn_at;

			if (m->m_storm && at < m->m_storm_next_spawn)
				at = m->m_storm_next_spawn;
			if (next == -1 || at < next)
				next = at;
		}
	}
	if (m->m_ps->ps_status != -1 && m->m_status_pid == 0) {
		if (m->m_status_respawn_at <= now)
			spawn_status(m);
		else if (next == -1 || m->m_status_respawn_at < next)
			next = m->m_status_respawn_at;
	}
	return next;
}

/*
 * Makes free slots VACANT for the current generation, due now, until it has
 * `workers` of them (fewer while a reload's retiring workers hold slots).
 */
static void
plan_workers(struct master *m, int workers)
{
	int	 i, have = 0;

	for (i = 0; i < SB_SLOTS; i++)
		if (m->m_slots[i].sl_generation == m->m_generation &&
		    (m->m_slots[i].sl_state == SLOT_VACANT || m->m_slots[i].sl_state == SLOT_RUNNING))
			have++;
	for (i = 0; i < SB_SLOTS && have < workers; i++)
		if (m->m_slots[i].sl_state == SLOT_FREE) {
			m->m_slots[i].sl_state = SLOT_VACANT;
			m->m_slots[i].sl_generation = m->m_generation;
			m->m_slots[i].sl_respawn_at = 0;
			m->m_slots[i].sl_quick_deaths = 0;
			have++;
		}
}

/* Settings a reload cannot change: the sockets are bound, root is gone. */
static void
keep_fixed(const struct config *old, struct config *cf)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} fixed[] = {
		{ "listen", offsetof(struct config, cf_listen) },
		{ "listen_owner", offsetof(struct config, cf_listen_owner) },
		{ "listen_group", offsetof(struct config, cf_listen_group) },
		{ "status_listen", offsetof(struct config, cf_status_listen) },
		{ "user", offsetof(struct config, cf_user) },
		{ "group", offsetof(struct config, cf_group) },
		{ "pid_file", offsetof(struct config, cf_pid_file) },
	};
	char	**was, **now;
	size_t	 i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		was = (char **)((char *)old + fixed[i].off);
		now = (char **)((char *)cf + fixed[i].off);
		if ((*was == NULL) != (*now == NULL) || (*was && strcmp(*was, *now) != 0)) {
			log_warn("reload_ignored", "%s changed: it takes effect at the next start only",
			    fixed[i].name);
			free(*now);
			*now = *was ? strdup(*was) : NULL;
		}
	}
	if (old->cf_listen_mode != cf->cf_listen_mode ||
	    old->cf_listen_backlog != cf->cf_listen_backlog) {
		log_warn("reload_ignored", "listen_mode and listen_backlog take effect at the next "
		    "start only");
		cf->cf_listen_mode = old->cf_listen_mode;
		cf->cf_listen_backlog = old->cf_listen_backlog;
	}
}

/*
 * SIGHUP: reads the configuration again; if it is valid, starts a new
 * generation of workers on the same sockets, then asks the old one to
 * finish what it is serving and go.  No request is dropped: the socket
 * never closes, and the new workers accept before the old ones leave.
 */
static void
reload(struct master *m)
{
	struct config	 cf;
	char		 err[CONFIG_ERR_MAX];
	int64_t		 now;
	int		 i, old = 0, *ring;

	notify_service_manager("RELOADING=1");
	log_info("reload", "reloading %s", m->m_config_path ? m->m_config_path : "(no file)");
	if (config_load(&cf, m->m_config_path, m->m_flags, m->m_nflags, err, sizeof(err)) == -1) {
		log_error("reload_failed", "%s: keeping the running configuration", err);
		notify_service_manager("READY=1");
		return;
	}
	keep_fixed(m->m_cf, &cf);
	if (strcmp(cf.cf_log, m->m_cf->cf_log) != 0 && log_open(cf.cf_log) == -1)
		log_warn("reload_log", "cannot switch the log to %s: keeping the old one", cf.cf_log);
	log_set_level(cf.cf_log_level);
	ring = cf.cf_storm_deaths > 0 ? calloc((size_t)cf.cf_storm_deaths, sizeof(int64_t)) : NULL;
	if (cf.cf_storm_deaths > 0 && ring == NULL) {
		log_error("reload_failed", "out of memory: keeping the running configuration");
		config_free(&cf);
		notify_service_manager("READY=1");
		return;
	}
	free(m->m_deaths);
	m->m_deaths = (int64_t *)ring;
	m->m_ndeaths = 0;
	config_free(m->m_cf);
	*m->m_cf = cf;

	m->m_generation++;
	atomic_store(&scoreboard->sb_generation, m->m_generation);
	atomic_store(&scoreboard->sb_workers, m->m_cf->cf_workers);
	atomic_fetch_add(&scoreboard->sb_reloads, 1);

	/* The old generation stays until the new one is forked. */
	now = mono_ms();
	for (i = 0; i < SB_SLOTS; i++)
		if (m->m_slots[i].sl_state == SLOT_VACANT)
			m->m_slots[i].sl_state = SLOT_FREE;
	plan_workers(m, m->m_cf->cf_workers);
	(void)spawn_due(m, now);
	for (i = 0; i < SB_SLOTS; i++) {
		struct slot *sl = &m->m_slots[i];

		if (sl->sl_state == SLOT_RUNNING && sl->sl_generation != m->m_generation) {
			sl->sl_state = SLOT_RETIRING;
			sl->sl_retire_by = now + m->m_cf->cf_shutdown_timeout_ms;
			kill(sl->sl_pid, SIGTERM);
			old++;
		}
	}
	/* The status process shows the new settings once replaced. */
	if (m->m_status_pid != 0)
		kill(m->m_status_pid, SIGTERM);
	notify_service_manager("READY=1");
	log_kv(LOG_INFO, "reloaded", "generation=%u workers=%d retiring=%d", m->m_generation,
	    m->m_cf->cf_workers, old);
}

/*
 * Stops every process: SIGTERM (they finish what they are serving and what
 * is already queued), then SIGKILL for any still there after the timeout,
 * or at once when `fast` or when SIGINT arrives meanwhile.
 */
static void
stop_all(struct master *m, bool fast)
{
	struct timespec	 ts;
	int64_t		 deadline, left;
	bool		 killed = fast;

	got_int = 0;
	signal_all(m, fast ? SIGKILL : SIGTERM);
	deadline = mono_ms() + m->m_cf->cf_shutdown_timeout_ms;
	while (reap(m, true) > 0) {
		left = deadline - mono_ms();
		if (!killed && (left <= 0 || got_int)) {
			log_warn("workers_killed", "%s: killing the workers still busy",
			    got_int ? "fast stop requested" : "shutdown_timeout reached");
			signal_all(m, SIGKILL);
			killed = true;
		}
		if (killed) {
			/* SIGKILL cannot be ignored: SIGCHLD will come. */
			(void)ppoll(NULL, 0, NULL, &m->m_waitmask);
			continue;
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		(void)ppoll(NULL, 0, &ts, &m->m_waitmask);
	}
}

int
master_run(struct config *cf, struct pool_sockets *ps, const char *config_path,
    const struct config_flag *flags, int nflags)
{
	static struct master	 m;
	struct sigaction	 sa;
	struct timespec		 ts;
	sigset_t		 block;
	int64_t			 now, next, wait;
	char			 qlisten[300];
	bool			 fast;

	memset(&m, 0, sizeof(m));
	m.m_cf = cf;
	m.m_ps = ps;
	m.m_config_path = config_path;
	m.m_flags = flags;
	m.m_nflags = nflags;
	m.m_pid = getpid();
	m.m_generation = 1;
	log_set_role("master", -1);
	if (scoreboard_create() == -1 || (cf->cf_storm_deaths > 0 &&
	    (m.m_deaths = calloc((size_t)cf->cf_storm_deaths, sizeof(int64_t))) == NULL)) {
		log_error("master_start", "cannot allocate the scoreboard: %s", strerror(errno));
		sockets_close(cf, ps);
		return 1;
	}
	atomic_store(&scoreboard->sb_generation, m.m_generation);
	atomic_store(&scoreboard->sb_workers, cf->cf_workers);

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
	sigprocmask(SIG_BLOCK, &block, &m.m_waitmask);
	sigdelset(&m.m_waitmask, SIGCHLD);
	sigdelset(&m.m_waitmask, SIGTERM);
	sigdelset(&m.m_waitmask, SIGINT);
	sigdelset(&m.m_waitmask, SIGQUIT);
	sigdelset(&m.m_waitmask, SIGHUP);
	sigdelset(&m.m_waitmask, SIGUSR1);

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR2, &sa, NULL);

	log_kv(LOG_INFO, "pool_start", "listen=%s workers=%d status=%s version=%s",
	    log_quote(ps->ps_listen_inherited ? "(inherited)" : cf->cf_listen, qlisten,
	    sizeof(qlisten)), cf->cf_workers, ps->ps_status != -1 ? "on" : "off", TP_VERSION);
	plan_workers(&m, cf->cf_workers);
	(void)spawn_due(&m, mono_ms());
	notify_service_manager("READY=1");

	for (;;) {
		if (got_chld) {
			got_chld = 0;
			(void)reap(&m, false);
		}
		if (got_term || got_int)
			break;
		if (got_hup) {
			got_hup = 0;
			reload(&m);
		}
		if (got_usr1) {
			got_usr1 = 0;
			if (log_reopen() == 0)
				log_info("log_reopened", "log file reopened");
			signal_all(&m, SIGUSR1);
		}
		now = mono_ms();
		enforce_deadlines(&m, now);
		check_storm_over(&m, now);
		plan_workers(&m, cf->cf_workers);
		next = spawn_due(&m, now);
		/* Wake up for the next spawn, and every tick to watch requests. */
		wait = TICK_MS;
		if (next != -1 && next - mono_ms() < wait)
			wait = next - mono_ms() < 0 ? 0 : next - mono_ms();
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		(void)ppoll(NULL, 0, &ts, &m.m_waitmask);
	}

	fast = got_int && !got_term;
	notify_service_manager("STOPPING=1");
	log_kv(LOG_INFO, "pool_stop", "mode=%s", fast ? "fast" : "graceful");
	/* No new connections from here; queued ones are still served. */
	sockets_unlink(cf, ps);
	stop_all(&m, fast);
	sockets_close(cf, ps);
	free(m.m_deaths);
	log_info("pool_stopped", "all workers have exited");
	return 0;
}

/*
 * status.c: the status process and the status document.
 *
 * A process of its own, forked and replaced by the master like a worker,
 * serving only the status socket from the scoreboard: it never waits on the
 * database, and it answers while every worker is busy.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <tp/trainprog.h>

#include "pool.h"

/* TCP_LISTEN in the kernel's socket states. */
#define STATE_LISTEN	10

struct status_ctx {
	const struct config	*sc_cf;
	int			 sc_listen_fd;
	pid_t			 sc_master;
};

/*
 * The accept queue of a unix listener, from the kernel's sock_diag: the
 * length now and the backlog.  0, or -1 if the kernel does not say.
 */
static int
unix_queue(int fd, unsigned *len, unsigned *max)
{
	struct {
		struct nlmsghdr		nlh;
		struct unix_diag_req	req;
	} msg;
	struct sockaddr_nl	 nladdr = { .nl_family = AF_NETLINK };
	struct stat		 st;
	struct nlmsghdr		*h;
	struct rtattr		*a;
	struct unix_diag_rqlen	 rq;
	char			 buf[4096];
	ssize_t			 n;
	int			 nl, rc = -1, alen;

	if (fstat(fd, &st) == -1 ||
	    (nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) == -1)
		return -1;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = 1 << STATE_LISTEN;
	msg.req.udiag_ino = (unsigned)st.st_ino;
	msg.req.udiag_show = UDIAG_SHOW_RQLEN;
	msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0U;	/* no cookie */
	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&nladdr, sizeof(nladdr)) == -1 ||
	    (n = recv(nl, buf, sizeof(buf), 0)) <= 0)
		goto done;
	h = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, (unsigned)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		goto done;
	alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(struct unix_diag_msg)));
	for (a = (struct rtattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
	    RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(rq)) {
			memcpy(&rq, RTA_DATA(a), sizeof(rq));
			*len = rq.udiag_rqueue;
			*max = rq.udiag_wqueue;
			rc = 0;
		}
done:
	close(nl);
	return rc;
}

/* The accept queue of any listener: TCP_INFO for TCP, sock_diag for unix. */
static int
listen_queue(int fd, unsigned *len, unsigned *max)
{
	struct sockaddr_storage	 ss;
	struct tcp_info		 ti;
	socklen_t		 sl = sizeof(ss), tl = sizeof(ti);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	if (ss.ss_family == AF_UNIX)
		return unix_queue(fd, len, max);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == -1)
		return -1;
	*len = ti.tcpi_unacked;		/* for a listener: connections waiting */
	*max = ti.tcpi_sacked;		/* ... and the backlog */
	return 0;
}

static const char *
state_name(int state)
{
	switch (state) {
	case SB_STARTING:
		return "starting";
	case SB_IDLE:
		return "idle";
	case SB_BUSY:
		return "busy";
	case SB_STOPPING:
		return "stopping";
	default:
		return "free";
	}
}

/* Adds an RFC 3339 timestamp (ms since the epoch), or null for 0. */
static void
add_time(cJSON *obj, const char *name, int64_t ms)
{
	char	 buf[RENDER_TIMESTAMP_MAX];

	if (ms > 0 && render_timestamp(ms * 1000, buf, sizeof(buf)) > 0)
		cJSON_AddStringToObject(obj, name, buf);
	else
		cJSON_AddNullToObject(obj, name);
}

char *
status_render(const struct config *cf, int listen_fd, pid_t master, size_t *len)
{
	cJSON		*doc, *workers, *list, *w, *req, *db, *cache;
	char		 method[16], uri[300], *out;
	unsigned	 qlen, qmax;
	int64_t		 now = wall_ms(), mono = mono_ms(), started;
	int		 i, state, total = 0, idle = 0, busy = 0, starting = 0, stopping = 0;
	int		 db_up = 0, db_down = 0;

	if ((doc = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(doc, "pool", TP_FCGI_NAME);
	cJSON_AddStringToObject(doc, "version", TP_VERSION);
	cJSON_AddNumberToObject(doc, "master_pid", master);
	add_time(doc, "start_time", scoreboard->sb_start_ms);
	cJSON_AddNumberToObject(doc, "uptime_seconds", (double)((now - scoreboard->sb_start_ms) / 1000));
	cJSON_AddNumberToObject(doc, "generation", atomic_load(&scoreboard->sb_generation));
	cJSON_AddNumberToObject(doc, "reloads", (double)atomic_load(&scoreboard->sb_reloads));
	cJSON_AddStringToObject(doc, "listen", cf->cf_listen);
	if (listen_queue(listen_fd, &qlen, &qmax) == 0) {
		cJSON_AddNumberToObject(doc, "listen_queue", qlen);
		cJSON_AddNumberToObject(doc, "listen_queue_max", qmax);
	} else {
		cJSON_AddNullToObject(doc, "listen_queue");
		cJSON_AddNumberToObject(doc, "listen_queue_max", cf->cf_listen_backlog);
	}

	list = cJSON_CreateArray();
	for (i = 0; i < SB_SLOTS; i++) {
		struct sb_worker *s = &scoreboard->sb_slots[i];

		if ((state = atomic_load(&s->w_state)) == SB_FREE)
			continue;
		total++;
		idle += state == SB_IDLE;
		busy += state == SB_BUSY;
		starting += state == SB_STARTING;
		stopping += state == SB_STOPPING;
		db_up += atomic_load(&s->w_db) == 1;
		db_down += atomic_load(&s->w_db) == 0;
		w = cJSON_CreateObject();
		cJSON_AddNumberToObject(w, "slot", i);
		cJSON_AddNumberToObject(w, "pid", atomic_load(&s->w_pid));
		cJSON_AddNumberToObject(w, "generation", atomic_load(&s->w_generation));
		cJSON_AddStringToObject(w, "state", state_name(state));
		cJSON_AddNumberToObject(w, "requests", (double)atomic_load(&s->w_requests));
		add_time(w, "started_at", atomic_load(&s->w_started_wall));
		cJSON_AddStringToObject(w, "database", atomic_load(&s->w_db) == 1 ? "up" :
		    atomic_load(&s->w_db) == 0 ? "down" : "unknown");
		started = atomic_load(&s->w_req_started_mono);
		if (state == SB_BUSY && started != 0) {
			sb_read_request(i, method, sizeof(method), uri, sizeof(uri));
			req = cJSON_CreateObject();
			cJSON_AddStringToObject(req, "method", method);
			cJSON_AddStringToObject(req, "uri", uri);
			add_time(req, "started_at", atomic_load(&s->w_req_started_wall));
			cJSON_AddNumberToObject(req, "elapsed_ms", (double)(mono - started));
			cJSON_AddItemToObject(w, "current_request", req);
		} else
			cJSON_AddNullToObject(w, "current_request");
		cJSON_AddItemToArray(list, w);
	}
	workers = cJSON_CreateObject();
	cJSON_AddNumberToObject(workers, "configured", atomic_load(&scoreboard->sb_workers));
	cJSON_AddNumberToObject(workers, "total", total);
	cJSON_AddNumberToObject(workers, "idle", idle);
	cJSON_AddNumberToObject(workers, "active", busy);
	cJSON_AddNumberToObject(workers, "starting", starting);
	cJSON_AddNumberToObject(workers, "stopping", stopping);
	cJSON_AddItemToObject(doc, "workers", workers);

	cJSON_AddNumberToObject(doc, "accepted_requests", (double)atomic_load(&scoreboard->sb_accepted));
	cJSON_AddNumberToObject(doc, "max_workers_reached", (double)atomic_load(&scoreboard->sb_all_busy));
	cJSON_AddNumberToObject(doc, "restarts", (double)atomic_load(&scoreboard->sb_restarts));
	cJSON_AddNumberToObject(doc, "recycled", (double)atomic_load(&scoreboard->sb_recycled));
	cJSON_AddNumberToObject(doc, "timed_out_requests", (double)atomic_load(&scoreboard->sb_timeouts));
	cJSON_AddNumberToObject(doc, "slow_requests", (double)atomic_load(&scoreboard->sb_slow));
	cJSON_AddNumberToObject(doc, "refused_connections", (double)atomic_load(&scoreboard->sb_rejected));
	cJSON_AddNumberToObject(doc, "abandoned_requests", (double)atomic_load(&scoreboard->sb_abandoned));
	cJSON_AddNumberToObject(doc, "expired_jobs", (double)atomic_load(&scoreboard->sb_expired));
	cJSON_AddNumberToObject(doc, "history_pruned",
	    (double)atomic_load(&scoreboard->sb_history_pruned));
	cJSON_AddBoolToObject(doc, "crash_storm", atomic_load(&scoreboard->sb_storm) != 0);

	db = cJSON_CreateObject();
	if (db_up > 0)
		cJSON_AddTrueToObject(db, "reachable");
	else if (db_down > 0)
		cJSON_AddFalseToObject(db, "reachable");
	else
		cJSON_AddNullToObject(db, "reachable");
	cJSON_AddNumberToObject(db, "workers_connected", db_up);
	add_time(db, "last_success", atomic_load(&scoreboard->sb_db_ok_wall));
	add_time(db, "last_failure", atomic_load(&scoreboard->sb_db_fail_wall));
	cJSON_AddItemToObject(doc, "database", db);
	cache = cJSON_CreateObject();
	cJSON_AddNumberToObject(cache, "entries_per_worker", cf->cf_read_cache_ttl_ms > 0 ?
	    cf->cf_read_cache : 0);
	cJSON_AddNumberToObject(cache, "hits", (double)atomic_load(&scoreboard->sb_cache_hits));
	cJSON_AddNumberToObject(cache, "misses", (double)atomic_load(&scoreboard->sb_cache_misses));
	cJSON_AddItemToObject(doc, "read_cache", cache);
	cJSON_AddItemToObject(doc, "worker_list", list);

	out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (out != NULL && len != NULL)
		*len = strlen(out);
	return out;
}

static void
status_dispatch(struct request *rq, void *arg)
{
	struct status_ctx	*sc = arg;
	const char		*method = FCGX_GetParam("REQUEST_METHOD", rq->rq_fcgi->envp);
	char			*body;
	size_t			 len = 0;

	rq->rq_route.rt_head = method != NULL && strcmp(method, "HEAD") == 0;
	if (method == NULL || (strcmp(method, "GET") != 0 && !rq->rq_route.rt_head)) {
		http_reply_error(rq, 405, "method_not_allowed",
		    "the status page answers only GET and HEAD", "Allow: GET, HEAD\r\n");
		return;
	}
	if ((body = status_render(sc->sc_cf, sc->sc_listen_fd, sc->sc_master, &len)) == NULL) {
		http_reply_error(rq, 500, "internal_error", "out of memory", NULL);
		return;
	}
	http_reply_json(rq, 200, body, len, NULL);
	free(body);
}

void
status_run(const struct config *cf, int status_fd, int listen_fd, int slot, pid_t master)
{
	static const struct serve_ops ops = { status_dispatch, NULL, NULL, NULL, NULL };
	struct status_ctx	 sc = { cf, listen_fd, master };

	(void)slot;
	log_set_role("status", -1);
	config_secrets_close();
	serve_requests(cf, status_fd, -1, master, 0, &ops, &sc);
}

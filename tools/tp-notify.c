/*
 * tp-notify.c: the change feed.  Reads every committed change of
 * training_progress from a logical replication slot (pgoutput, publication
 * trainprog_feed, schema/007), and for each:
 *
 *  - renders the job's document with the code GET uses (store.c decodes the
 *    row, render.c renders it) and publishes it to nchan's publisher
 *    (conf/nginx/trainprog-stream-http.conf), on the job's channel
 *    (render_channel_id()), where the live streams of the job get it; a
 *    job that ends gets its final document, then its channel is deleted,
 *    which ends its streams;
 *  - tells the pools' read caches that something changed: one NOTIFY on
 *    trainprog_progress per batch of commits, sent from this process's own
 *    connection, so that writers never queue on the notification lock.
 *
 * Only after a commit's documents are published does tp-notify confirm its
 * position to the slot: the slot keeps whatever tp-notify has not handled
 * while it is down or failing, and a new tp-notify starts there.  A
 * document already published may be published again after a crash (the
 * same seq, the same bytes); none is lost.
 *
 * nginx loses its channels when it restarts.  tp-notify keeps a mark
 * channel, looks at it every second, and when it is gone publishes the
 * document of every job not ended, then the mark again.
 *
 * A supervisor process restarts the worker that does all this when it dies
 * (after 0.25 s, doubling to 10 s while it keeps dying young); any trouble
 * with PostgreSQL or nginx makes the worker start over after a pause.
 *
 * With --sender-database-url, the supervisor keeps a second worker, the
 * sender of notifications (notify_send.c), which delivers what the outbox
 * owes when jobs end.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <tp/notify.h>

#include "../lib/internal.h"
#include "../lib/pgoutput.h"
#include "notify_send.h"
#include "pubhttp.h"

#define EXIT_USAGE		2

#define TABLE			"training_progress"
#define CACHE_CHANNEL		"trainprog_progress"	/* the pools LISTEN (fcgi/db.c) */
#define MARK_EVERY_MS		1000
#define STATUS_EVERY_MS		10000
#define DB_TIMEOUT_MS		10000
#define HTTP_TIMEOUT_MS		5000L
#define BACKOFF_MIN_MS		250
#define BACKOFF_MAX_MS		10000
/* A worker that lived this long was healthy: its death restarts it at once. */
#define HEALTHY_MS		30000
/* More columns than training_progress will ever have. */
#define MAX_COLS		256

struct options {
	const char	*db_url;
	const char	*nchan;		/* a unix socket path, or an http:// base URL */
	const char	*slot;
	const char	*publication;
	const char	*pid_file;
	const char	*ready_file;	/* exists while a worker streams */
	bool		 push;
	struct send_options send;	/* send.db_url NULL: no sender */
};

/* What was last published on a channel: to skip repeats and stale rows. */
struct seen {
	char		 s_chan[RENDER_CHANNEL_MAX];	/* "" : a free slot */
	bool		 s_dead;			/* a tombstone */
	int64_t		 s_seq;
	uint64_t	 s_hash;	/* of the document's bytes (FNV-1a) */
};

/* One document of the transaction being read, published at its commit. */
struct pending {
	char		 p_chan[RENDER_CHANNEL_MAX];
	char		*p_job_id;	/* set when the row must be read (p_doc NULL) */
	char		*p_doc;
	size_t		 p_len;
	int64_t		 p_seq;
	bool		 p_finished;
	bool		 p_inserted;	/* an INSERT: the row is new */
};

struct feed {
	const struct options	*f_opt;
	PGconn			*f_db;		/* reads rows, sends the NOTIFY */
	PGconn			*f_repl;	/* the replication session */
	struct pub		 f_pub;		/* nchan's publisher, pipelined */
	struct pgo_relations	*f_rels;
	int			 f_map[STORE_PROGRESS_COLS];	/* GET's columns in the table */
	bool			 f_map_ok;
	struct seen		*f_seen;
	size_t			 f_nseen, f_used;
	struct pending		*f_tx;
	size_t			 f_ntx, f_txcap;
	bool			 f_in_tx;
	bool			 f_dirty;	/* a document changed since the last NOTIFY */
	uint64_t		 f_done;	/* LSN handled: what the slot may forget */
	uint64_t		 f_pending_lsn;	/* handled once the queued publishes are answered */
	uint64_t		 f_reported;
	int64_t			 f_next_status, f_next_mark;
	long			 f_published;
	long			 f_refused;	/* documents nchan would not take */
	int64_t			 f_next_refusal_log;
};

static const char		*progname = "tp-notify";
static volatile sig_atomic_t	 stopping;
static pid_t			 worker_pid, sender_pid;

static void say(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(const char *level, const char *fmt, ...)
{
	va_list	 ap;
	char	 when[32];
	time_t	 now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s[%d] %s: ", when, progname, (int)getpid(), level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [--database-url URL] [--nchan SOCKET|URL | --no-push]\n"
	    "           [--slot NAME] [--publication NAME] [--pid-file FILE]\n"
	    "           [--ready-file FILE] [--sender-database-url URL [--allow-loopback]\n"
	    "           [--allow-private] [--public-url URL] [--smtp-url URL] [--mail-from ADDR]]\n"
	    "\n"
	    "Turns committed changes of training_progress into live stream messages\n"
	    "(nchan) and read-cache invalidations (NOTIFY " CACHE_CHANNEL ").\n"
	    "--database-url  a role with REPLICATION and SELECT on " TABLE " (tp_notify);\n"
	    "                defaults to $DATABASE_URL, then libpq's PG* variables\n"
	    "--nchan         nchan's publisher: the unix socket of trainprog-stream-http.conf\n"
	    "                (default /run/trainprog-feed/nchan.sock) or http://HOST:PORT\n"
	    "--no-push       only invalidate the read caches (no nginx with nchan)\n"
	    "--slot          the logical replication slot (default trainprog_feed;\n"
	    "                made on the first start; needs wal_level = logical)\n"
	    "--publication   the publication (default trainprog_feed, schema/007)\n"
	    "--ready-file    made (with the worker's pid) once changes stream, after any\n"
	    "                republishing; removed when the worker stops\n"
	    "--sender-database-url  deliver notifications (schema/009) too, as this role\n"
	    "                (tp_sender); default $SENDER_DATABASE_URL, else no sender\n"
	    "--allow-loopback, --allow-private  let targets be on loopback, or on private\n"
	    "                and link-local addresses too (refused by default)\n"
	    "--public-url    the UI's address, for links to a job in messages\n"
	    "--smtp-url      smtp://HOST:PORT (or smtps://) for email targets\n"
	    "--mail-from     the address emails come from (default trainprog@localhost)\n"
	    "Runs until SIGTERM or SIGINT.  Exit status: 0 stopped, 1 could not start,\n"
	    "2 bad usage.\n", progname);
}

/* Slot and publication names go into replication commands: plain names only. */
static bool
plain_name(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_'))
			return false;
	return true;
}

/* --- the channels' memory ------------------------------------------------ */


static uint64_t
chan_hash(const char *chan)
{
	uint64_t	 h = 0;
	int		 i;

	/* The channel is already a hash: its first 16 hex digits will do. */
	for (i = 0; i < 16; i++)
		h = h << 4 | (uint64_t)(chan[i] <= '9' ? chan[i] - '0' : chan[i] - 'a' + 10);
	return h;
}

/* The slot of chan, or where it would go (NULL: out of memory). */
static struct seen *
seen_find(struct feed *f, const char *chan, bool add)
{
	struct seen	*old = f->f_seen, *tomb = NULL, *s;
	size_t		 n = f->f_nseen, i, j;

	if (add && (f->f_used + 1) * 2 > f->f_nseen) {
		/* Grow (or rebuild without tombstones) at half full. */
		size_t	 nn = n == 0 ? 1024 : n * 2;

		if ((f->f_seen = calloc(nn, sizeof(*s))) == NULL) {
			f->f_seen = old;
			return NULL;
		}
		f->f_nseen = nn;
		f->f_used = 0;
		for (i = 0; i < n; i++)
			if (old[i].s_chan[0] != '\0' && !old[i].s_dead) {
				for (j = chan_hash(old[i].s_chan) & (nn - 1);
				    f->f_seen[j].s_chan[0] != '\0'; j = (j + 1) & (nn - 1))
					;
				f->f_seen[j] = old[i];
				f->f_used++;
			}
		free(old);
	}
	if (f->f_nseen == 0)
		return NULL;
	for (i = chan_hash(chan) & (f->f_nseen - 1);; i = (i + 1) & (f->f_nseen - 1)) {
		s = &f->f_seen[i];
		if (s->s_chan[0] == '\0')
			break;
		if (s->s_dead) {
			if (tomb == NULL)
				tomb = s;
		} else if (strcmp(s->s_chan, chan) == 0)
			return s;
	}
	if (!add)
		return NULL;
	if (tomb != NULL)
		s = tomb;
	else
		f->f_used++;
	memset(s, 0, sizeof(*s));
	memcpy(s->s_chan, chan, RENDER_CHANNEL_MAX);
	s->s_seq = -1;
	return s;
}

static void
seen_forget(struct feed *f, const char *chan)
{
	struct seen	*s = seen_find(f, chan, false);

	if (s != NULL)
		s->s_dead = true;
}

static void
seen_clear(struct feed *f)
{
	free(f->f_seen);
	f->f_seen = NULL;
	f->f_nseen = f->f_used = 0;
}

/* --- nchan's publisher --------------------------------------------------- */

/*
 * Sends what is queued for nchan and reads the answers: a refusal (out of
 * shared memory, say) is counted and logged, and passed over, for a feed
 * stuck on one document would hold every stream back.  0, or -1 when nginx
 * could not be reached: start over from the slot.  Then the slot may
 * forget what was published.
 */
static int
flush_pub(struct feed *f)
{
	const struct pub_answer	*a;
	int			 i;

	if (pub_queued(&f->f_pub) > 0) {
		if (pub_flush(&f->f_pub, HTTP_TIMEOUT_MS) == -1) {
			say("warning", "publishing to nchan failed: %s", f->f_pub.p_err);
			pub_reset(&f->f_pub);
			return -1;
		}
		for (i = 0; (a = pub_answer(&f->f_pub, i)) != NULL; i++) {
			if (a->pa_status >= 200 && a->pa_status <= 299) {
				f->f_published += strcmp(a->pa_method, "POST") == 0;
				continue;
			}
			if (strcmp(a->pa_method, "DELETE") == 0 && a->pa_status == 404)
				continue;
			/* Once a second at most: a full nchan refuses every document. */
			f->f_refused++;
			if (mono_ms() >= f->f_next_refusal_log) {
				say("warning", "nchan refused %s %s: HTTP %d (%ld refusals so far;"
				    " is nchan_shared_memory_size too small?)", a->pa_method,
				    a->pa_path, a->pa_status, f->f_refused);
				f->f_next_refusal_log = mono_ms() + 1000;
			}
		}
		pub_reset(&f->f_pub);
	}
	if (f->f_pending_lsn > f->f_done)
		f->f_done = f->f_pending_lsn;
	return 0;
}

/* Queues a request to nchan (flushing first when the queue is full). */
static int
channel(struct feed *f, const char *method, const char *group, const char *chan,
    const char *doc, size_t len)
{
	char	 path[64];

	if ((pub_queued(&f->f_pub) >= PUB_MAX_QUEUED - 1 ||
	    f->f_pub.p_outlen >= PUB_MAX_OUT) && flush_pub(f) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s%s%s", group, chan[0] != '\0' ? "/" : "", chan);
	if (pub_queue(&f->f_pub, method, path, doc, len) == -1) {
		say("error", "out of memory");
		return -1;
	}
	return 0;
}

/* One request whose answer is needed now: its HTTP status, or -1. */
static int
ask(struct feed *f, const char *method, const char *group, const char *chan,
    const char *body, size_t len)
{
	int	 st;

	if (flush_pub(f) == -1 || channel(f, method, group, chan, body, len) == -1)
		return -1;
	if (pub_flush(&f->f_pub, HTTP_TIMEOUT_MS) == -1) {
		say("warning", "asking nchan failed: %s", f->f_pub.p_err);
		pub_reset(&f->f_pub);
		return -1;
	}
	st = pub_answer(&f->f_pub, 0)->pa_status;
	pub_reset(&f->f_pub);
	return st;
}

/* Does nchan hold a channel for the job (subscribers, or messages)? */
static int
live_channel(struct feed *f, const char *chan)
{
	int	 st;

	if ((st = ask(f, "GET", "live", chan, NULL, 0)) == -1)
		return -1;
	return st == 200;
}

/*
 * A job's document on its way out: skipped when the channel has it (the
 * same seq and bytes) or has a newer one.  A job that ended leaves its
 * final document for late WebSocket clients, and its channel is deleted,
 * which ends the streams on it once they have the document.  `inserted`:
 * the row is new, so no stream can be open on it (the pool answers 404
 * until the row exists), and an ended one needs no push at all: a bulk
 * load of finished jobs costs nginx nothing.
 */
static int
deliver(struct feed *f, const char *chan, const char *doc, size_t len, int64_t seq,
    bool finished, bool inserted)
{
	struct seen	*s;
	/* A repeat, or a change of the same seq (a cancel)?  FNV-1a is enough. */
	uint64_t	 hash = fnv1a64(doc, len);
	int		 rc;

	s = seen_find(f, chan, false);
	/* A heartbeat changes the row, not the document: nobody needs to know. */
	if (s != NULL && (seq < s->s_seq || (seq == s->s_seq && hash == s->s_hash)))
		return 0;
	f->f_dirty = true;
	if ((finished && inserted) || !f->f_opt->push)
		goto done;
	if (finished) {
		/*
		 * An ended job not followed since this process started: a row
		 * changed long after its end, or the end of a job followed by
		 * a previous tp-notify.  Only a channel nchan holds needs it.
		 */
		if (s == NULL && (rc = live_channel(f, chan)) != 1)
			return rc;
		if (channel(f, "POST", "live", chan, doc, len) == -1 ||
		    channel(f, "POST", "final", chan, doc, len) == -1 ||
		    channel(f, "DELETE", "live", chan, NULL, 0) == -1)
			return -1;
	} else if (channel(f, "POST", "live", chan, doc, len) == -1)
		return -1;
done:
	if (finished) {
		if (s != NULL)
			seen_forget(f, chan);
	} else {
		if (s == NULL && (s = seen_find(f, chan, true)) == NULL) {
			say("error", "out of memory");
			return -1;
		}
		s->s_seq = seq;
		s->s_hash = hash;
	}
	return 0;
}

/* Renders row 0 of a STMT_GET-shaped result and delivers it. */
static int
deliver_row(struct feed *f, PGresult *res, int row)
{
	struct progress_row	 pr;
	char			 chan[RENDER_CHANNEL_MAX], *doc;
	size_t			 len = 0;
	int			 rc;

	if (store_decode_progress(res, row, &pr) == -1) {
		say("error", TABLE " does not have the columns this build expects: "
		    "run deploy/migrate");
		return -1;
	}
	if ((doc = render_progress(&pr, &len)) == NULL) {
		say("error", "could not render the progress of a job");
		return -1;
	}
	render_channel_id(pr.pr_job_id, chan);
	rc = deliver(f, chan, doc, len, pr.pr_seq, pr.pr_is_complete, false);
	free(doc);
	return rc;
}

/* Every job not ended, again: nginx has lost its channels. */
static int
resync(struct feed *f)
{
	char		 after[TP_JOB_ID_MAX + 1] = "";
	const char	*params[2] = { after, NULL };
	PGresult	*res;
	int		 i, n, rc, total = 0;

	seen_clear(f);
	do {
		if (conn_exec_stmt(f->f_db, STMT_RUNNING, params, 1,
		    mono_ms() + DB_TIMEOUT_MS, &res) != CONN_OK) {
			say("warning", "reading the running jobs failed: %s",
			    PQerrorMessage(f->f_db));
			PQclear(res);
			return -1;
		}
		n = PQntuples(res);
		for (i = 0; i < n; i++)
			if (deliver_row(f, res, i) == -1) {
				PQclear(res);
				return -1;
			}
		if (n > 0)
			snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
		total += n;
		PQclear(res);
	} while (n == 500);
	if (flush_pub(f) == -1)
		return -1;
	if ((rc = ask(f, "POST", "mark", "", "tp-notify", 9)) < 200 || rc > 299) {
		say("warning", "nchan refused tp-notify's mark");
		return -1;
	}
	say("info", "published the documents of %d running jobs", total);
	return 0;
}

/* Is nginx's memory of the channels still the one tp-notify filled? */
static int
check_mark(struct feed *f)
{
	int	 st;

	if (!f->f_opt->push)
		return 0;
	if ((st = ask(f, "GET", "mark", "", NULL, 0)) == 200)
		return 0;
	if (st != 404) {
		if (st != -1)
			say("warning", "nchan answered HTTP %d for the mark", st);
		return -1;
	}
	say("info", "nginx has no channels yet (it started, or restarted)");
	return resync(f);
}

/* --- the replication stream ---------------------------------------------- */

static void
tx_clear(struct feed *f)
{
	size_t	 i;

	for (i = 0; i < f->f_ntx; i++) {
		free(f->f_tx[i].p_doc);
		free(f->f_tx[i].p_job_id);
	}
	f->f_ntx = 0;
}

static struct pending *
tx_add(struct feed *f)
{
	struct pending	*p;

	if (f->f_ntx == f->f_txcap) {
		size_t	 n = f->f_txcap == 0 ? 64 : f->f_txcap * 2;

		if ((p = realloc(f->f_tx, n * sizeof(*p))) == NULL)
			return NULL;
		f->f_tx = p;
		f->f_txcap = n;
	}
	p = &f->f_tx[f->f_ntx++];
	memset(p, 0, sizeof(*p));
	return p;
}

/*
 * A row of training_progress as the change carries it: rendered now, or
 * (a TOASTed value the change left out) read at commit.
 */
static int
take_row(struct feed *f, const struct pgo_relation *rel, const struct pgo_tuple *t,
    bool inserted)
{
	const char		*names[MAX_COLS], *values[MAX_COLS];
	Oid			 types[MAX_COLS];
	int			 lens[MAX_COLS], i, n = t->ncols, job;
	bool			 unknown[MAX_COLS];
	struct progress_row	 pr;
	struct pending		*p;
	PGresult		*res;

	if (n != rel->ncols || n > MAX_COLS) {
		say("error", "a change of " TABLE " has %d columns, its table %d", n,
		    rel->ncols);
		return -1;
	}
	/* Where GET's columns are in the table: once per description of it. */
	if (!f->f_map_ok) {
		for (i = 0; i < n; i++)
			names[i] = rel->cols[i].name;
		if (store_progress_map(n, names, f->f_map) == -1) {
			say("error", TABLE " lacks a column this build reads: run deploy/migrate");
			return -1;
		}
		f->f_map_ok = true;
	}
	for (i = 0; i < n; i++) {
		types[i] = rel->cols[i].type_oid;
		values[i] = t->vals[i].kind == 'b' ? (const char *)t->vals[i].data : NULL;
		lens[i] = (int)t->vals[i].len;
		unknown[i] = t->vals[i].kind == 'u' || t->vals[i].kind == 't';
	}
	/* GET's first column is the job id. */
	job = f->f_map[0];
	if (t->vals[job].kind != 'b') {
		say("error", "a change of " TABLE " has no job_id");
		return -1;
	}
	if ((p = tx_add(f)) == NULL)
		goto oom;
	p->p_inserted = inserted;
	res = store_progress_result(f->f_map, types, values, lens, unknown);
	if (res != NULL && store_decode_progress(res, 0, &pr) == 0) {
		render_channel_id(pr.pr_job_id, p->p_chan);
		p->p_seq = pr.pr_seq;
		p->p_finished = pr.pr_is_complete;
		if ((p->p_doc = render_progress(&pr, &p->p_len)) == NULL) {
			PQclear(res);
			goto oom;
		}
	} else if ((p->p_job_id = strndup((const char *)t->vals[job].data,
	    t->vals[job].len)) == NULL) {
		PQclear(res);
		goto oom;
	}
	PQclear(res);
	return 0;
oom:
	say("error", "out of memory");
	return -1;
}

/* A commit: its documents go out, in order, then the slot may move on. */
static int
commit(struct feed *f, uint64_t end_lsn)
{
	struct pending	*p;
	const char	*params[2];
	PGresult	*res;
	size_t		 i;
	int		 rc;

	for (i = 0; i < f->f_ntx; i++) {
		p = &f->f_tx[i];
		if (p->p_doc != NULL) {
			if (deliver(f, p->p_chan, p->p_doc, p->p_len, p->p_seq,
			    p->p_finished, p->p_inserted) == -1)
				return -1;
			continue;
		}
		params[0] = p->p_job_id;
		params[1] = NULL;
		if (conn_exec_stmt(f->f_db, STMT_GET, params, 1, mono_ms() + DB_TIMEOUT_MS,
		    &res) != CONN_OK) {
			say("warning", "reading a job failed: %s", PQerrorMessage(f->f_db));
			PQclear(res);
			return -1;
		}
		rc = PQntuples(res) == 1 ? deliver_row(f, res, 0) : 0;
		PQclear(res);
		if (rc == -1)
			return -1;
	}
	tx_clear(f);
	f->f_in_tx = false;
	/* The slot may forget it once nchan has answered for its documents. */
	if (end_lsn > f->f_pending_lsn)
		f->f_pending_lsn = end_lsn;
	return 0;
}

static int
on_message(struct feed *f, const unsigned char *data, size_t len)
{
	struct pgo_msg			 m;
	const struct pgo_relation	*rel;
	int				 rc = 0;

	if (pgo_parse(data, len, &m) == -1) {
		say("error", "a malformed message in the replication stream");
		pgo_msg_clear(&m);
		return -1;
	}
	switch (m.type) {
	case 'B':
		tx_clear(f);
		f->f_in_tx = true;
		break;
	case 'C':
		rc = commit(f, m.end_lsn);
		break;
	case 'R':
		/* The table may have changed: find GET's columns in it again. */
		if (m.rel.relname != NULL && strcmp(m.rel.relname, TABLE) == 0)
			f->f_map_ok = false;
		if (pgo_relations_put(f->f_rels, &m.rel) == -1) {
			say("error", "out of memory");
			rc = -1;
		}
		break;
	case 'I':
	case 'U':
		if ((rel = pgo_relations_get(f->f_rels, m.rel_oid)) == NULL) {
			say("error", "a change to a table the stream did not describe");
			rc = -1;
		} else if (strcmp(rel->relname, TABLE) == 0)
			rc = take_row(f, rel, &m.new, m.type == 'I');
		break;
	case 'D':
	case 'T':
		/* A job deleted by hand: the caches must forget it. */
		f->f_dirty = true;
		break;
	default:
		break;
	}
	pgo_msg_clear(&m);
	return rc;
}

static int
send_status(struct feed *f, bool reply)
{
	unsigned char	 buf[REPL_STATUS_LEN];
	int64_t		 now = wall_us() - PG_EPOCH_OFFSET_US;

	repl_status_encode(buf, f->f_done, f->f_done, f->f_done, now, reply);
	if (PQputCopyData(f->f_repl, (const char *)buf, sizeof(buf)) != 1 ||
	    PQflush(f->f_repl) == -1) {
		say("warning", "sending the slot its position failed: %s",
		    PQerrorMessage(f->f_repl));
		return -1;
	}
	f->f_reported = f->f_done;
	f->f_next_status = mono_ms() + STATUS_EVERY_MS;
	return 0;
}

/* One NOTIFY for all the documents that changed since the last one. */
static int
notify_caches(struct feed *f)
{
	PGresult	*res;
	enum conn_trip	 trip;

	if (!f->f_dirty)
		return 0;
	trip = conn_exec_params(f->f_db, "SELECT pg_notify('" CACHE_CHANNEL "', '')", 0,
	    NULL, 0, mono_ms() + DB_TIMEOUT_MS, &res);
	PQclear(res);
	if (trip != CONN_OK) {
		say("warning", "NOTIFY failed: %s", PQerrorMessage(f->f_db));
		return -1;
	}
	f->f_dirty = false;
	return 0;
}

/* Reads what the stream has, handles it.  0, or -1: start over. */
static int
drain(struct feed *f, bool *reply)
{
	struct repl_frame	 fr;
	char			*buf;
	int			 n, rc;
	PGresult		*res;

	if (!PQconsumeInput(f->f_repl)) {
		say("warning", "the replication stream broke: %s", PQerrorMessage(f->f_repl));
		return -1;
	}
	while ((n = PQgetCopyData(f->f_repl, &buf, 1)) > 0) {
		rc = repl_frame_parse((const unsigned char *)buf, (size_t)n, &fr);
		if (rc == 0 && fr.kind == 'w')
			rc = on_message(f, fr.data, fr.len);
		else if (rc == 0 && fr.kind == 'k') {
			/*
			 * The server has sent everything up to wal_end: outside a
			 * transaction nothing before it is still to come.
			 */
			if (!f->f_in_tx && fr.wal_end > f->f_pending_lsn)
				f->f_pending_lsn = fr.wal_end;
			*reply |= fr.reply;
		} else
			say("error", "a malformed frame in the replication stream");
		PQfreemem(buf);
		if (rc == -1)
			return -1;
	}
	if (n == -2 || n == -1) {
		res = PQgetResult(f->f_repl);
		say("warning", "the replication stream ended: %s",
		    res != NULL && PQresultErrorMessage(res)[0] != '\0' ?
		    PQresultErrorMessage(res) : PQerrorMessage(f->f_repl));
		PQclear(res);
		return -1;
	}
	return 0;
}

static int
ensure_slot(struct feed *f, bool *made)
{
	const char	*params[1] = { f->f_opt->slot };
	char		 cmd[160];
	PGresult	*res;
	bool		 exists;

	*made = false;
	if (conn_exec_params(f->f_db, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
	    1, params, 0, mono_ms() + DB_TIMEOUT_MS, &res) != CONN_OK) {
		say("warning", "looking for the slot failed: %s", PQerrorMessage(f->f_db));
		PQclear(res);
		return -1;
	}
	exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists)
		return 0;
	snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput",
	    f->f_opt->slot);
	res = PQexec(f->f_repl, cmd);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		say("error", "creating the replication slot %s failed: %s"
		    "(it needs wal_level = logical, and a role with REPLICATION)",
		    f->f_opt->slot, PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	say("info", "made the replication slot %s", f->f_opt->slot);
	*made = true;
	return 0;
}

static int
start_stream(struct feed *f)
{
	char		 cmd[256];
	PGresult	*res;

	snprintf(cmd, sizeof(cmd), "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1',"
	    " publication_names '%s', binary 'true')", f->f_opt->slot, f->f_opt->publication);
	res = PQexec(f->f_repl, cmd);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		say("warning", "starting the replication stream failed: %s",
		    PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static void
feed_close(struct feed *f)
{
	tx_clear(f);
	f->f_in_tx = false;
	if (f->f_repl != NULL)
		PQfinish(f->f_repl);
	if (f->f_db != NULL)
		PQfinish(f->f_db);
	f->f_repl = f->f_db = NULL;
	pgo_relations_free(f->f_rels);
	f->f_map_ok = false;
	f->f_rels = NULL;
}

/* Connects, and streams until something fails or a signal comes. */
static int
feed_run(struct feed *f)
{
	struct conn_setup	 db = { .cs_app_name = "tp-notify",
				    .cs_conninfo = f->f_opt->db_url, .cs_roles = ROLE_NOTIFY,
				    .cs_statement_timeout_ms = DB_TIMEOUT_MS };
	struct conn_setup	 repl = { .cs_app_name = "tp-notify feed",
				    .cs_conninfo = f->f_opt->db_url, .cs_replication = true };
	char			 err[512];
	struct pollfd		 pfd;
	FILE			*fp;
	bool			 made, reply;
	int64_t			 now;

	if ((f->f_db = conn_connect(&db, mono_ms() + DB_TIMEOUT_MS, err, sizeof(err))) == NULL ||
	    (f->f_repl = conn_connect(&repl, mono_ms() + DB_TIMEOUT_MS, err,
	    sizeof(err))) == NULL) {
		say("warning", "connecting to PostgreSQL failed: %s", err);
		return -1;
	}
	/* PQexec and the status updates block; the stream is read with poll(). */
	PQsetnonblocking(f->f_repl, 0);
	if ((f->f_rels = pgo_relations_new()) == NULL) {
		say("error", "out of memory");
		return -1;
	}
	if (ensure_slot(f, &made) == -1)
		return -1;
	/* A new slot holds only what comes after it: everything else, now. */
	if (made && f->f_opt->push && resync(f) == -1)
		return -1;
	if (check_mark(f) == -1 || start_stream(f) == -1)
		return -1;
	say("info", "streaming changes from slot %s", f->f_opt->slot);
	if (f->f_opt->ready_file != NULL && (fp = fopen(f->f_opt->ready_file, "w")) != NULL) {
		fprintf(fp, "%d\n", (int)getpid());
		fclose(fp);
	}
	f->f_next_mark = mono_ms() + MARK_EVERY_MS;
	f->f_next_status = mono_ms() + STATUS_EVERY_MS;
	f->f_reported = 0;
	while (!stopping) {
		pfd = (struct pollfd){ .fd = PQsocket(f->f_repl), .events = POLLIN };
		if (poll(&pfd, 1, 200) == -1 && errno != EINTR) {
			say("error", "poll: %s", strerror(errno));
			return -1;
		}
		reply = false;
		if (drain(f, &reply) == -1 || flush_pub(f) == -1 || notify_caches(f) == -1)
			return -1;
		now = mono_ms();
		if ((reply || f->f_done != f->f_reported || now >= f->f_next_status) &&
		    send_status(f, false) == -1)
			return -1;
		if (now >= f->f_next_mark && !f->f_in_tx) {
			if (check_mark(f) == -1)
				return -1;
			f->f_next_mark = now + MARK_EVERY_MS;
		}
	}
	return 0;
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
worker(const struct options *opt)
{
	struct feed	 f;
	int		 pause = BACKOFF_MIN_MS;
	int64_t		 until, began;

	memset(&f, 0, sizeof(f));
	f.f_opt = opt;
	if (pub_init(&f.f_pub, opt->nchan) == -1) {
		say("error", "--nchan %s: not a socket's path nor http://HOST:PORT", opt->nchan);
		return 1;
	}
	while (!stopping) {
		began = mono_ms();
		if (feed_run(&f) == 0)
			break;
		if (opt->ready_file != NULL)
			unlink(opt->ready_file);
		feed_close(&f);
		/*
		 * Documents of committed changes still queued for nchan (the
		 * database failed mid-batch) go out now.  If nginx is what
		 * failed, they may or may not have been published: nothing may
		 * count as sent, and the slot gives them again.  (What was
		 * published stays known: the slot may give it again too, as
		 * PostgreSQL 15 does not keep a slot's confirmed position
		 * across its own restart.)
		 */
		if (flush_pub(&f) == -1) {
			pub_close(&f.f_pub);
			seen_clear(&f);
		}
		f.f_pending_lsn = f.f_done;
		/* Start over after a pause that grows while the trouble lasts. */
		if (mono_ms() - began >= HEALTHY_MS)
			pause = BACKOFF_MIN_MS;
		for (until = mono_ms() + pause; !stopping && mono_ms() < until;)
			usleep(50000);
		pause = pause * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : pause * 2;
	}
	feed_close(&f);
	seen_clear(&f);
	free(f.f_tx);
	pub_close(&f.f_pub);
	say("info", "stopped (%ld documents published, %ld refused)", f.f_published, f.f_refused);
	return 0;
}

static void
forward(int sig)
{
	stopping = 1;
	if (worker_pid > 0)
		kill(worker_pid, sig);
	if (sender_pid > 0)
		kill(sender_pid, sig);
}

/* One of the supervisor's children: the feed's worker, or the sender. */
struct child {
	const char	*c_name;
	pid_t		*c_pid;
	int64_t		 c_born;
	int64_t		 c_restart_at;	/* 0: running, or not wanted */
	int		 c_pause;
};

static int
spawn(const struct options *opt, struct child *c, bool sender)
{
	struct sigaction sa;
	pid_t		 pid;

	c->c_born = mono_ms();
	c->c_restart_at = 0;
	if ((pid = fork()) == -1) {
		say("error", "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		memset(&sa, 0, sizeof(sa));
		/* A fresh child: stopping is 0 (the supervisor stops only once). */
		sa.sa_handler = on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		_exit(sender ? send_main(&opt->send, &stopping, say) : worker(opt));
	}
	*c->c_pid = pid;
	return 0;
}

/* Keeps the worker (and the sender, if asked for) running until told to stop. */
static int
supervise(const struct options *opt)
{
	struct sigaction sa;
	struct child	 kids[2] = {
		{ "worker", &worker_pid, 0, 0, BACKOFF_MIN_MS },
		{ "sender", &sender_pid, 0, 0, BACKOFF_MIN_MS },
	};
	int		 st, i, nkids = opt->send.db_url != NULL ? 2 : 1;
	int64_t		 now;
	pid_t		 pid;
	bool		 pending;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < nkids; i++)
		if (spawn(opt, &kids[i], i == 1) == -1)
			return 1;
	while (!stopping || worker_pid > 0 || sender_pid > 0) {
		/* Blocks until a child ends (or a signal), unless one waits to be started again. */
		for (pending = false, i = 0; i < nkids; i++)
			pending = pending || kids[i].c_restart_at != 0;
		pid = waitpid(-1, &st, pending && !stopping ? WNOHANG : 0);
		/* No child left: done when stopping, else one is due to restart. */
		if (pid == -1 && errno == ECHILD && stopping)
			break;
		if (pid <= 0) {
			now = mono_ms();
			for (i = 0; i < nkids && !stopping; i++)
				if (kids[i].c_restart_at != 0 && now >= kids[i].c_restart_at &&
				    spawn(opt, &kids[i], i == 1) == -1)
					return 1;
			usleep(50000);
			continue;
		}
		for (i = 0; i < nkids && *kids[i].c_pid != pid; i++)
			;
		if (i == nkids)
			continue;
		*kids[i].c_pid = 0;
		if (i == 0 && opt->ready_file != NULL)
			unlink(opt->ready_file);
		if (stopping)
			continue;
		if (WIFSIGNALED(st))
			say("error", "the %s (pid %d) died of signal %d: starting another",
			    kids[i].c_name, (int)pid, WTERMSIG(st));
		else
			say("error", "the %s (pid %d) exited with %d: starting another",
			    kids[i].c_name, (int)pid, WEXITSTATUS(st));
		if (mono_ms() - kids[i].c_born >= HEALTHY_MS)
			kids[i].c_pause = BACKOFF_MIN_MS;
		kids[i].c_restart_at = mono_ms() + kids[i].c_pause;
		kids[i].c_pause = kids[i].c_pause * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    kids[i].c_pause * 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "database-url", required_argument, NULL, 'd' },
		{ "nchan", required_argument, NULL, 'n' },
		{ "no-push", no_argument, NULL, 'N' },
		{ "slot", required_argument, NULL, 's' },
		{ "publication", required_argument, NULL, 'p' },
		{ "pid-file", required_argument, NULL, 'P' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "sender-database-url", required_argument, NULL, 'S' },
		{ "allow-loopback", no_argument, NULL, 'L' },
		{ "allow-private", no_argument, NULL, 'V' },
		{ "public-url", required_argument, NULL, 'U' },
		{ "smtp-url", required_argument, NULL, 'M' },
		{ "mail-from", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct options	 opt = { .db_url = getenv("DATABASE_URL"),
			    .nchan = "/run/trainprog-feed/nchan.sock", .slot = "trainprog_feed",
			    .publication = "trainprog_feed", .push = true,
			    .send = { .db_url = getenv("SENDER_DATABASE_URL"),
				.mail_from = "trainprog@localhost", .idle_max_ms = 60000 } };
	struct target_url base;
	const char	*why;
	FILE		*fp;
	int		 c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': opt.db_url = optarg; break;
		case 'n': opt.nchan = optarg; break;
		case 'N': opt.push = false; break;
		case 's': opt.slot = optarg; break;
		case 'p': opt.publication = optarg; break;
		case 'P': opt.pid_file = optarg; break;
		case 'R': opt.ready_file = optarg; break;
		case 'S': opt.send.db_url = optarg; break;
		case 'L': opt.send.allow |= SEND_ALLOW_LOOPBACK; break;
		case 'V': opt.send.allow |= SEND_ALLOW_PRIVATE; break;
		case 'U': opt.send.public_url = optarg; break;
		case 'M': opt.send.smtp_url = optarg; break;
		case 'F': opt.send.mail_from = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!plain_name(opt.slot) || !plain_name(opt.publication)) {
		fprintf(stderr, "%s: --slot and --publication take 1 to 63 of a-z, 0-9 and _\n",
		    progname);
		return EXIT_USAGE;
	}
	if (opt.nchan[0] != '/' && strncmp(opt.nchan, "http://", 7) != 0) {
		fprintf(stderr, "%s: --nchan takes a socket's absolute path or an http:// URL\n",
		    progname);
		return EXIT_USAGE;
	}
	if (opt.send.db_url != NULL && *opt.send.db_url == '\0')
		opt.send.db_url = NULL;
	if (opt.send.smtp_url != NULL && strncmp(opt.send.smtp_url, "smtp://", 7) != 0 &&
	    strncmp(opt.send.smtp_url, "smtps://", 8) != 0) {
		fprintf(stderr, "%s: --smtp-url takes smtp://HOST[:PORT] or smtps://\n", progname);
		return EXIT_USAGE;
	}
	/* The rules a target's URL and address follow (tp_target_problem()). */
	if (opt.send.public_url != NULL &&
	    (why = target_parse_url(opt.send.public_url, &base)) != NULL) {
		fprintf(stderr, "%s: --public-url %s\n", progname, why);
		return EXIT_USAGE;
	}
	if ((why = tp_target_problem("email", opt.send.mail_from, NULL, NULL)) != NULL) {
		fprintf(stderr, "%s: --mail-from %s (such as trainprog@example.com)\n", progname,
		    why);
		return EXIT_USAGE;
	}
	if (strlen(opt.nchan) > 400) {
		fprintf(stderr, "%s: --nchan is too long\n", progname);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (opt.pid_file != NULL) {
		if ((fp = fopen(opt.pid_file, "w")) == NULL) {
			fprintf(stderr, "%s: %s: %s\n", progname, opt.pid_file, strerror(errno));
			return 1;
		}
		fprintf(fp, "%d\n", (int)getpid());
		fclose(fp);
	}
	say("info", "starting (slot %s, %s)", opt.slot,
	    opt.push ? opt.nchan : "no push: read caches only");
	if (opt.ready_file != NULL)
		unlink(opt.ready_file);
	rc = supervise(&opt);
	if (opt.pid_file != NULL)
		unlink(opt.pid_file);
	if (opt.ready_file != NULL)
		unlink(opt.ready_file);
	return rc;
}

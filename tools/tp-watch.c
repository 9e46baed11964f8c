/*
 * tp-watch.c: the spec's command-line watcher (docs/WATCH.md).  Given a job
 * id it watches the job's progress document, polling with If-None-Match
 * (default) or following the job's event stream (--follow), and prints
 * each new document: a block on a terminal, one line otherwise, or the
 * JSON itself (--json).  Without a job id it first starts a job (POST
 * /api/v2/training/jobs).  It ends with the job: 0 completed, 1 failed or
 * cancelled, 2 for anything that kept it from watching, 130 on Ctrl-C
 * (which stops the watching, never the job).
 *
 * Every transfer runs on a curl multi handle polled together with a pipe
 * that the SIGINT handler writes to, so that Ctrl-C is answered at once,
 * also in the middle of a stream that has nothing to say.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <tp/trainprog.h>

#include "sse.h"

/* Exit statuses (docs/WATCH.md). */
#define EXIT_COMPLETED	0	/* the job completed */
#define EXIT_FAILED	1	/* the job failed or was cancelled */
#define EXIT_ERROR	2	/* bad usage, unknown job, refused, or a network that stayed down */
#define EXIT_INTERRUPTED 130	/* Ctrl-C: the job goes on */

#define API_PATH	"/api/v2/training/jobs"
#define MAX_BODY	(1024 * 1024)	/* a progress document is a few KiB */
#define MAX_JOB_ID	255
#define BACKOFF_FIRST	0.25		/* seconds, doubled at each failure in a row */
#define BACKOFF_CAP	5.0
#define RETRY_CAP	30.0		/* the longest Retry-After or retry: honoured */
#define STREAM_IDLE	45L		/* seconds without a byte: the stream is dead (a comment comes every 15 s) */

static const char	*progname = "tp-watch";

/* Set by the SIGINT handler, which also writes a byte to sigpipe[1]. */
static volatile sig_atomic_t	 interrupted;
static int			 sigpipe[2] = { -1, -1 };

/* What one HTTP exchange brought back. */
struct resp {
	CURL		*r_h;
	long		 r_code;	/* 0 when no answer came */
	char		*r_body;	/* NUL-terminated (when not streamed) */
	size_t		 r_len, r_cap;
	bool		 r_too_big;
	char		 r_etag[256];
	char		 r_ctype[128];
	double		 r_retry_after;	/* seconds, or -1 */
	bool		 r_decided;	/* r_sse was decided, at the body's first bytes */
	bool		 r_sse;		/* the body goes to the event-stream parser */
	int		 r_sse_err;	/* what sse_feed() returned, when it stopped */
	CURLcode	 r_res;
	char		 r_err[CURL_ERROR_SIZE];
	struct watch	*r_w;
};

struct watch {
	char		*w_base;	/* --url, without a trailing '/' */
	const char	*w_token;
	char		 w_auth[512];	/* "Authorization: Bearer ..." for reads too; "" without a token */
	char		*w_job;
	char		*w_job_enc;	/* percent-encoded */
	double		 w_interval;
	double		 w_give_up;
	bool		 w_follow, w_json, w_tty;
	CURLM		*w_multi;

	char		*w_last;	/* the last document shown, compact */
	long long	 w_last_seq;	/* its seq, or -1 */
	char		 w_etag[256];	/* the ETag of the last 200 */
	int		 w_status;	/* the exit status, once known; else -1 */

	double		 w_fail_since;	/* when the failures in a row began; 0: none */
	double		 w_backoff;	/* the next pause after a failure */

	struct sse_parser w_sse;
	int		 w_events;	/* events read on this connection */
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [--url URL] [--token TOKEN] [--request JSON|@FILE] [--follow]\n"
	    "                [--interval SECONDS] [--give-up SECONDS] [--json] [JOB_ID]\n"
	    "\n"
	    "Watches a training job's progress until it ends.  Without JOB_ID, starts a\n"
	    "job first (POST /api/v2/training/jobs with the --request body, default {}).\n"
	    "\n"
	    "  --url URL           the API's base URL (default $TP_BASE_URL)\n"
	    "  --token TOKEN       a bearer token, to start a job (default $TP_TOKEN)\n"
	    "  --request JSON      the body that starts the job; @FILE reads it from FILE\n"
	    "  --follow            follow the job's event stream instead of polling\n"
	    "                      (polls when the server has no streams)\n"
	    "  --interval SECONDS  between polls (default 2, at least 0.1)\n"
	    "  --give-up SECONDS   network failures in a row for this long end it\n"
	    "                      (default 60)\n"
	    "  --json              each new document as one line of JSON\n"
	    "\n"
	    "On a terminal each new document is a block with a 50-cell bar; otherwise\n"
	    "one line: UPDATED_AT STATUS step=N/M STEP overall=P step_pct=P [iter=I/T]\n"
	    "[best=X] [current=X] [eta=T] [error=\"...\"].\n"
	    "\n"
	    "Exit status: 0 the job completed, 1 it failed or was cancelled, 2 bad\n"
	    "usage, an unknown job, a refusal, or a network that stayed down,\n"
	    "130 interrupted (the job goes on).\n", progname);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "tp-watch: <message>" on stderr and returns status. */
static int
fail(int status, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Prints "tp-watch: <message>" on stderr. */
static void
note(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SIGINT: stop watching.  Only async-signal-safe calls. */
static void
on_sigint(int sig)
{
	int	 saved = errno;
	ssize_t	 n;

	(void)sig;
	interrupted = 1;
	n = write(sigpipe[1], "x", 1);
	(void)n;
	errno = saved;
}

/* Waits secs seconds, or less when interrupted: 0, or -1 when interrupted. */
static int
nap(double secs)
{
	struct pollfd	 pfd;
	double		 end = now() + secs, left;

	while (!interrupted && (left = end - now()) > 0) {
		pfd.fd = sigpipe[0];
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, (int)ceil(left * 1000));
	}
	return interrupted ? -1 : 0;
}

/* A number of seconds in [lo, hi], or -1. */
static int
parse_secs(const char *s, double lo, double hi, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* s with every byte outside RFC 3986's unreserved set as %XX; NULL when out of memory. */
static char *
pct_encode(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			*out, *o;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (o = out, p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* "{base}/api/v2/training/jobs{suffix}", malloc'd; NULL when out of memory. */
static char *
url_of(const struct watch *w, const char *suffix)
{
	size_t	 n = strlen(w->w_base) + strlen(API_PATH) + strlen(suffix) + 1;
	char	*u;

	if ((u = malloc(n)) != NULL)
		snprintf(u, n, "%s%s%s", w->w_base, API_PATH, suffix);
	return u;
}

/* The URL of the job's progress, or of its stream. */
static char *
job_url(const struct watch *w, bool stream)
{
	size_t	 n = strlen(w->w_job_enc) + 32;
	char	*suffix, *u;

	if ((suffix = malloc(n)) == NULL)
		return NULL;
	snprintf(suffix, n, "/%s/progress%s", w->w_job_enc, stream ? "/stream" : "");
	u = url_of(w, suffix);
	free(suffix);
	return u;
}

/* --- HTTP ---------------------------------------------------------------- */

/* Copies a header's value (trimmed) into out when line is "name: value". */
static bool
header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t	 n = strlen(name), i;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	    line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len >= outsz)
		len = outsz - 1;
	for (i = 0; i < len; i++)
		out[i] = line[i];
	out[len] = '\0';
	return true;
}

/* libcurl's header callback: keeps ETag, Content-Type and Retry-After. */
static size_t
on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct resp	*r = arg;
	size_t		 len = size * nitems;
	char		 v[64], *end;
	long		 secs;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new answer (after a 100 Continue, say): forget the last one's headers. */
		r->r_etag[0] = r->r_ctype[0] = '\0';
		r->r_retry_after = -1;
		return len;
	}
	if (header_value(line, len, "ETag", r->r_etag, sizeof(r->r_etag)) ||
	    header_value(line, len, "Content-Type", r->r_ctype, sizeof(r->r_ctype)))
		return len;
	if (header_value(line, len, "Retry-After", v, sizeof(v))) {
		errno = 0;
		secs = strtol(v, &end, 10);
		if (v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0)
			r->r_retry_after = (double)secs;
	}
	return len;
}

/* libcurl's write callback: the body into r_body, or an event stream into the parser. */
static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct resp	*r = arg;
	size_t		 len = size * nmemb, cap;
	char		*nb;
	int		 rc;

	if (!r->r_decided) {
		r->r_decided = true;
		curl_easy_getinfo(r->r_h, CURLINFO_RESPONSE_CODE, &r->r_code);
		r->r_sse = r->r_w != NULL && r->r_code == 200 &&
		    strncasecmp(r->r_ctype, "text/event-stream", 17) == 0;
	}
	if (r->r_sse) {
		if ((rc = sse_feed(&r->r_w->w_sse, p, len)) == 0)
			return len;
		r->r_sse_err = rc;
		return 0;		/* stops the transfer */
	}
	if (r->r_len + len > MAX_BODY) {
		r->r_too_big = true;
		return 0;
	}
	if (r->r_len + len + 1 > r->r_cap) {
		for (cap = r->r_cap ? r->r_cap : 4096; cap < r->r_len + len + 1; cap *= 2)
			;
		if ((nb = realloc(r->r_body, cap)) == NULL)
			return 0;
		r->r_body = nb;
		r->r_cap = cap;
	}
	memcpy(r->r_body + r->r_len, p, len);
	r->r_len += len;
	r->r_body[r->r_len] = '\0';
	return len;
}

/* A handle for url with the callbacks into r; NULL when out of memory. */
static CURL *
request(struct resp *r, const char *url, struct watch *stream_to)
{
	CURL	*h;

	memset(r, 0, sizeof(*r));
	r->r_retry_after = -1;
	r->r_w = stream_to;
	if ((h = curl_easy_init()) == NULL)
		return NULL;
	r->r_h = h;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->r_err);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "tp-watch/" TP_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (stream_to != NULL) {
		/* A stream lasts: only a silent one is dead. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STREAM_IDLE);
	} else
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	return h;
}

/*
 * Runs the transfer of h to its end: 0 (r_res and r_code set), or -1 when
 * interrupted (the transfer is dropped).
 */
static int
perform(struct watch *w, struct resp *r)
{
	struct curl_waitfd	 wfd;
	CURLMsg			*msg;
	int			 running = 1, left;
	char			 drain[16];

	r->r_res = CURLE_OK;
	curl_multi_add_handle(w->w_multi, r->r_h);
	while (running > 0 && !interrupted) {
		if (curl_multi_perform(w->w_multi, &running) != CURLM_OK)
			break;
		if (running == 0)
			break;
		wfd.fd = sigpipe[0];
		wfd.events = CURL_WAIT_POLLIN;
		wfd.revents = 0;
		curl_multi_poll(w->w_multi, &wfd, 1, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(w->w_multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == r->r_h)
			r->r_res = msg->data.result;
	curl_multi_remove_handle(w->w_multi, r->r_h);
	if (interrupted) {
		while (read(sigpipe[0], drain, sizeof(drain)) > 0)
			;
		return -1;
	}
	curl_easy_getinfo(r->r_h, CURLINFO_RESPONSE_CODE, &r->r_code);
	return 0;
}

/* Frees what r holds, its handle included. */
static void
resp_free(struct resp *r)
{
	if (r->r_h != NULL)
		curl_easy_cleanup(r->r_h);
	free(r->r_body);
	memset(r, 0, sizeof(*r));
}

/*
 * The server's words from an error body: {"error": "code", "message": "..."}
 * (or {"error": {"code": ..., "message": ...}}), as "message (HTTP 404
 * not_found)", into out.
 */
static void
server_says(const struct resp *r, char *out, size_t outsz)
{
	const cJSON	*e, *m = NULL, *c = NULL;
	cJSON		*doc = NULL;

	if (r->r_body != NULL)
		doc = cJSON_ParseWithLength(r->r_body, r->r_len);
	if ((e = cJSON_GetObjectItemCaseSensitive(doc, "error")) != NULL) {
		if (cJSON_IsObject(e)) {
			c = cJSON_GetObjectItemCaseSensitive(e, "code");
			m = cJSON_GetObjectItemCaseSensitive(e, "message");
		} else {
			c = e;
			m = cJSON_GetObjectItemCaseSensitive(doc, "message");
		}
	}
	if (cJSON_IsString(m) && cJSON_IsString(c))
		snprintf(out, outsz, "%s (HTTP %ld %s)", m->valuestring, r->r_code, c->valuestring);
	else if (cJSON_IsString(m))
		snprintf(out, outsz, "%s (HTTP %ld)", m->valuestring, r->r_code);
	else
		snprintf(out, outsz, "the server answered HTTP %ld", r->r_code);
	cJSON_Delete(doc);
}

/* The error code of an error body ("" when it has none), into out. */
static void
error_code(const struct resp *r, char *out, size_t outsz)
{
	const cJSON	*e;
	cJSON		*doc = NULL;

	out[0] = '\0';
	if (r->r_body != NULL)
		doc = cJSON_ParseWithLength(r->r_body, r->r_len);
	if ((e = cJSON_GetObjectItemCaseSensitive(doc, "error")) != NULL && cJSON_IsObject(e))
		e = cJSON_GetObjectItemCaseSensitive(e, "code");
	if (cJSON_IsString(e))
		snprintf(out, outsz, "%s", e->valuestring);
	cJSON_Delete(doc);
}

/* Did the exchange fail in a way that may pass (nothing answered, or 502, 503, 504, 429)? */
static bool
transient(const struct resp *r)
{
	if (r->r_res != CURLE_OK && r->r_res != CURLE_WRITE_ERROR)
		return true;
	return r->r_code == 502 || r->r_code == 503 || r->r_code == 504 || r->r_code == 429;
}

/*
 * A read (GET of the progress or its stream) may also meet a 500 that
 * passes: a web server restarting, a check it makes of the stream failing
 * for a moment.  Reads change nothing, so they are tried again, until
 * --give-up.
 */
static bool
read_transient(const struct resp *r)
{
	return transient(r) || r->r_code == 500;
}

/* What went wrong with an exchange, for a note. */
static void
describe(const struct resp *r, char *out, size_t outsz)
{
	if (r->r_res != CURLE_OK && r->r_res != CURLE_WRITE_ERROR)
		snprintf(out, outsz, "%s", r->r_err[0] != '\0' ? r->r_err :
		    curl_easy_strerror(r->r_res));
	else
		server_says(r, out, outsz);
}

/*
 * A failure that may pass: a note, then a pause (Retry-After when the
 * server gave one, else a backoff doubling from 0.25 s to 5 s).  0 to try
 * again; EXIT_ERROR after --give-up seconds of failures in a row;
 * EXIT_INTERRUPTED.
 */
static int
backoff(struct watch *w, const struct resp *r)
{
	char	 why[512];
	double	 t = now(), pause, left;

	describe(r, why, sizeof(why));
	if (w->w_fail_since == 0) {
		w->w_fail_since = t;
		w->w_backoff = BACKOFF_FIRST;
	}
	left = w->w_fail_since + w->w_give_up - t;
	if (left <= 0)
		return fail(EXIT_ERROR, "giving up after %.1f s of failures: %s",
		    t - w->w_fail_since, why);
	pause = w->w_backoff;
	if (r->r_retry_after >= 0)
		pause = fmin(fmax(r->r_retry_after, BACKOFF_FIRST), RETRY_CAP);
	w->w_backoff = fmin(w->w_backoff * 2, BACKOFF_CAP);
	pause = fmin(pause, left);
	note("%s; trying again in %.1f s", why, pause);
	return nap(pause) == -1 ? EXIT_INTERRUPTED : 0;
}

/* An exchange that worked: failures in a row end. */
static void
recovered(struct watch *w)
{
	if (w->w_fail_since != 0)
		note("reached the server again");
	w->w_fail_since = 0;
}

/* --- documents ------------------------------------------------------------- */

/* A number member of doc, or NAN when it is absent or null. */
static double
num(const cJSON *doc, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A string member of doc, or NULL. */
static const char *
str(const cJSON *doc, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(doc, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A whole number as text ("?" when absent), into buf. */
static const char *
int_text(const cJSON *doc, const char *key, char *buf, size_t size)
{
	double	 v = num(doc, key);

	if (isnan(v))
		return "?";
	snprintf(buf, size, "%.0f", v);
	return buf;
}

/* Is status one that ends a job? */
static bool
terminal(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
	    strcmp(status, "cancelled") == 0;
}

/* The plain line: one per document, fields in a fixed order (docs/WATCH.md). */
static void
print_line(const cJSON *doc, const char *status)
{
	const char	*updated = str(doc, "updated_at"), *eta, *err;
	char		 a[32], b[32], *q;
	double		 it, pct = num(doc, "percentage"), spct = num(doc, "step_percentage");

	printf("%s %s step=%s/%s %s overall=%.1f step_pct=%.1f", updated ? updated : "-",
	    status, int_text(doc, "step_number", a, sizeof(a)),
	    int_text(doc, "total_steps", b, sizeof(b)),
	    str(doc, "current_step") ? str(doc, "current_step") : "-",
	    isnan(pct) ? 0.0 : pct, isnan(spct) ? 0.0 : spct);
	if (!isnan(it = num(doc, "current_iteration")))
		printf(" iter=%.0f/%s", it, int_text(doc, "total_iterations", a, sizeof(a)));
	if (!isnan(num(doc, "best_score")))
		printf(" best=%.4f", num(doc, "best_score"));
	if (!isnan(num(doc, "current_score")))
		printf(" current=%.4f", num(doc, "current_score"));
	if ((eta = str(doc, "estimated_completion")) != NULL)
		printf(" eta=%s", eta);
	if ((err = str(doc, "error_message")) != NULL) {
		/* A JSON string: one line, whatever the message holds. */
		cJSON	*s = cJSON_CreateString(err);

		if (s != NULL && (q = cJSON_PrintUnformatted(s)) != NULL) {
			printf(" error=%s", q);
			free(q);
		}
		cJSON_Delete(s);
	}
	putchar('\n');
}

/* The terminal's block, as the spec draws it, and the outcome at the end. */
static void
print_block(const struct watch *w, const cJSON *doc, const char *status)
{
	char		 t[16], a[32], b[32], *params;
	const char	*eta, *err;
	double		 pct = num(doc, "percentage"), spct = num(doc, "step_percentage"), it;
	time_t		 clock = time(NULL);
	struct tm	 tm;
	int		 cells, i;

	localtime_r(&clock, &tm);
	strftime(t, sizeof(t), "%H:%M:%S", &tm);
	pct = isnan(pct) ? 0 : pct;
	spct = isnan(spct) ? 0 : spct;
	printf("[%s] Step %s/%s: %s\n", t, int_text(doc, "step_number", a, sizeof(a)),
	    int_text(doc, "total_steps", b, sizeof(b)),
	    str(doc, "current_step") ? str(doc, "current_step") : "?");
	if (strcmp(status, "running") != 0 && !terminal(status))
		printf("  Status: %s\n", status);
	printf("  Overall: %.1f%%  |  Step: %.1f%%\n", pct, spct);
	if (!isnan(it = num(doc, "current_iteration")))
		printf("  Iteration: %.0f/%s\n", it, int_text(doc, "total_iterations", a, sizeof(a)));
	if (!isnan(num(doc, "best_score")))
		printf("  Best Score: %.4f\n", num(doc, "best_score"));
	if (!isnan(num(doc, "current_score")))
		printf("  Current Score: %.4f\n", num(doc, "current_score"));
	if ((eta = str(doc, "estimated_completion")) != NULL) {
		/* To the second, as the spec shows it: the fraction is noise to a reader. */
		const char	*dot = strchr(eta, '.');

		if (dot != NULL && eta[strlen(eta) - 1] == 'Z')
			printf("  ETA: %.*sZ\n", (int)(dot - eta), eta);
		else
			printf("  ETA: %s\n", eta);
	}
	cells = (int)lround(fmin(fmax(pct, 0), 100) / 2);
	fputs("  [", stdout);
	for (i = 0; i < 50; i++)
		fputs(i < cells ? "\u2588" : "\u2591", stdout);
	printf("] %.1f%%\n", pct);
	if (!terminal(status))
		return;
	err = str(doc, "error_message");
	if (strcmp(status, "completed") != 0)
		printf("Job %s %s: %s\n", w->w_job, status, err ? err : "(no message)");
	else if (!isnan(num(doc, "best_score"))) {
		params = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc,
		    "best_params"));
		printf("Job %s completed. Best score: %.4f  Best params: %s\n", w->w_job,
		    num(doc, "best_score"), params ? params : "null");
		free(params);
	} else
		printf("Job %s completed.\n", w->w_job);
}

/*
 * A progress document (len bytes at text, as received): shown when it is
 * new.  0 to go on; 1 once the exit status is known (the job ended, or
 * the document is not one).
 */
static int
show(struct watch *w, const char *text, size_t len)
{
	const char	*end = NULL, *status;
	cJSON		*doc;
	char		*compact;
	double		 seq;
	int		 done;

	doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (doc == NULL || end != text + len || !cJSON_IsObject(doc) ||
	    (status = str(doc, "status")) == NULL) {
		cJSON_Delete(doc);
		w->w_status = fail(EXIT_ERROR, "the server sent something that is not a "
		    "progress document: %.80s", text);
		return 1;
	}
	seq = num(doc, "seq");
	/* A stream may repeat a document after a restart: each is shown once. */
	if (!isnan(seq) && (long long)seq < w->w_last_seq) {
		cJSON_Delete(doc);
		return 0;
	}
	if (memchr(text, '\n', len) != NULL || memchr(text, '\r', len) != NULL)
		compact = cJSON_PrintUnformatted(doc);
	else
		compact = strndup(text, len);
	if (compact == NULL) {
		cJSON_Delete(doc);
		w->w_status = fail(EXIT_ERROR, "out of memory");
		return 1;
	}
	if (w->w_last != NULL && strcmp(compact, w->w_last) == 0) {
		free(compact);
		cJSON_Delete(doc);
		return 0;
	}
	if (w->w_json)
		printf("%s\n", compact);
	else if (w->w_tty)
		print_block(w, doc, status);
	else
		print_line(doc, status);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		free(compact);
		cJSON_Delete(doc);
		w->w_status = fail(EXIT_ERROR, "cannot write the output: %s", strerror(errno));
		return 1;
	}
	free(w->w_last);
	w->w_last = compact;
	if (!isnan(seq))
		w->w_last_seq = (long long)seq;
	done = 0;
	if (terminal(status)) {
		w->w_status = strcmp(status, "completed") == 0 ? EXIT_COMPLETED : EXIT_FAILED;
		done = 1;
	}
	cJSON_Delete(doc);
	return done;
}

/* --- watching ---------------------------------------------------------------- */

/*
 * A refusal that will not pass: the server's message, and exit 2.  A 404
 * not_found is said plainly: there is no such job.
 */
static int
refused(const struct watch *w, const struct resp *r, const char *what)
{
	char	 why[512], code[64];

	server_says(r, why, sizeof(why));
	error_code(r, code, sizeof(code));
	if (r->r_code == 404 && strcmp(code, "not_found") == 0)
		return fail(EXIT_ERROR, "job %s: %s", w->w_job, why);
	return fail(EXIT_ERROR, "%s: %s", what, why);
}

/*
 * One GET of the progress, with If-None-Match: the document shown when it
 * is new.  0 to go on; an exit status otherwise.  Transient failures are
 * waited out here (backoff()).
 */
static int
poll_once(struct watch *w)
{
	struct resp	 r;
	struct curl_slist *hdrs = NULL;
	char		*url, inm[300];
	int		 rc;

	if ((url = job_url(w, false)) == NULL)
		return fail(EXIT_ERROR, "out of memory");
	for (;;) {
		if (request(&r, url, NULL) == NULL) {
			free(url);
			return fail(EXIT_ERROR, "cannot set up an HTTP request");
		}
		hdrs = curl_slist_append(NULL, "Accept: application/json");
		if (w->w_auth[0] != '\0')
			hdrs = curl_slist_append(hdrs, w->w_auth);
		if (w->w_etag[0] != '\0') {
			snprintf(inm, sizeof(inm), "If-None-Match: %s", w->w_etag);
			hdrs = curl_slist_append(hdrs, inm);
		}
		curl_easy_setopt(r.r_h, CURLOPT_HTTPHEADER, hdrs);
		rc = perform(w, &r);
		curl_slist_free_all(hdrs);
		if (rc == -1) {
			rc = EXIT_INTERRUPTED;
			break;
		}
		if (r.r_too_big) {
			rc = fail(EXIT_ERROR, "the answer is larger than %d bytes", MAX_BODY);
			break;
		}
		if (read_transient(&r)) {
			if ((rc = backoff(w, &r)) != 0)
				break;
			resp_free(&r);
			continue;
		}
		recovered(w);
		if (r.r_code == 304) {
			rc = 0;
		} else if (r.r_code == 200) {
			snprintf(w->w_etag, sizeof(w->w_etag), "%s", r.r_etag);
			rc = show(w, r.r_body ? r.r_body : "", r.r_len) ? w->w_status : 0;
		} else
			rc = refused(w, &r, "GET progress");
		break;
	}
	resp_free(&r);
	free(url);
	return rc;
}

/* Polls every --interval seconds until the job ends: the exit status. */
static int
watch_poll(struct watch *w)
{
	double	 next;
	int	 rc;

	for (;;) {
		next = now() + w->w_interval;
		if ((rc = poll_once(w)) != 0 || w->w_status >= 0)
			return w->w_status >= 0 ? w->w_status : rc;
		if (nap(next - now()) == -1)
			return EXIT_INTERRUPTED;
	}
}

/* The parser's callback: a "message" event is a progress document. */
static int
on_event(const struct sse_event *ev, void *arg)
{
	struct watch	*w = arg;

	w->w_events++;
	if (ev->se_typelen != 7 || memcmp(ev->se_type, "message", 7) != 0)
		return 0;
	return show(w, ev->se_data, ev->se_len);
}

/* The stream cannot be had: polling instead, said once. */
static int
fall_back(struct watch *w, const struct resp *r)
{
	char	 why[512];

	server_says(r, why, sizeof(why));
	note("no event stream for job %s (%s): polling every %g s instead", w->w_job, why,
	    w->w_interval);
	return watch_poll(w);
}

/*
 * Follows the job's event stream until the job ends, reconnecting with
 * Last-Event-ID; polls when the server has no streams.  The exit status.
 */
static int
watch_stream(struct watch *w)
{
	struct resp		 r;
	struct curl_slist	*hdrs;
	char			*url, lei[600], code[64];
	double			 pause;
	int			 rc;

	if ((url = job_url(w, true)) == NULL)
		return fail(EXIT_ERROR, "out of memory");
	sse_init(&w->w_sse, 0, on_event, NULL, w);
	for (;;) {
		sse_reconnect(&w->w_sse);
		w->w_events = 0;
		if (request(&r, url, w) == NULL) {
			rc = fail(EXIT_ERROR, "cannot set up an HTTP request");
			break;
		}
		hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
		hdrs = curl_slist_append(hdrs, "Cache-Control: no-cache");
		if (w->w_auth[0] != '\0')
			hdrs = curl_slist_append(hdrs, w->w_auth);
		if (sse_last_id(&w->w_sse)[0] != '\0') {
			snprintf(lei, sizeof(lei), "Last-Event-ID: %s", sse_last_id(&w->w_sse));
			hdrs = curl_slist_append(hdrs, lei);
		}
		curl_easy_setopt(r.r_h, CURLOPT_HTTPHEADER, hdrs);
		rc = perform(w, &r);
		curl_slist_free_all(hdrs);
		if (rc == -1) {
			rc = EXIT_INTERRUPTED;
			break;
		}
		if (!r.r_decided)	/* no body: the headers say what it was */
			r.r_sse = r.r_code == 200 &&
			    strncasecmp(r.r_ctype, "text/event-stream", 17) == 0;
		if (w->w_status >= 0) {		/* the job ended, or a bad document */
			rc = w->w_status;
			break;
		}
		if (r.r_sse_err == SSE_ETOOBIG || r.r_sse_err == SSE_ENOMEM) {
			rc = fail(EXIT_ERROR, "the event stream has a line or an event larger "
			    "than %d bytes", SSE_MAX_DEFAULT);
			break;
		}
		if (r.r_too_big) {
			rc = fail(EXIT_ERROR, "the answer is larger than %d bytes", MAX_BODY);
			break;
		}
		if (r.r_code == 200 && r.r_sse) {
			if (r.r_res == CURLE_OK && w->w_events == 0 && sse_retry(&w->w_sse) >= 0) {
				/* Not ready yet: come back as the server asks. */
				recovered(w);
				pause = fmin(fmax(sse_retry(&w->w_sse) / 1000.0, 0.1), RETRY_CAP);
				if (nap(pause) == -1) {
					rc = EXIT_INTERRUPTED;
					break;
				}
			} else if (w->w_events > 0) {
				/* It carried something, then closed or broke: resume at once. */
				recovered(w);
				if (r.r_res != CURLE_OK)
					note("the stream broke (%s): resuming", r.r_err[0] ?
					    r.r_err : curl_easy_strerror(r.r_res));
			} else {
				if (r.r_res == CURLE_OK)
					snprintf(r.r_err, sizeof(r.r_err), "the stream ended "
					    "without an event");
				if (r.r_res == CURLE_OK)
					r.r_res = CURLE_GOT_NOTHING;
				if ((rc = backoff(w, &r)) != 0)
					break;
			}
			resp_free(&r);
			continue;
		}
		if (read_transient(&r)) {
			if ((rc = backoff(w, &r)) != 0)
				break;
			resp_free(&r);
			continue;
		}
		recovered(w);
		if (r.r_code == 204) {
			/* The stream is over: the job ended; its final document. */
			rc = poll_once(w);
			if (rc == 0 && w->w_status < 0) {
				note("the stream of job %s ended but the job has not: polling",
				    w->w_job);
				rc = watch_poll(w);
			}
			break;
		}
		error_code(&r, code, sizeof(code));
		if (r.r_code == 501 || r.r_code == 406 || (r.r_code == 200 && !r.r_sse)) {
			rc = fall_back(w, &r);
			break;
		}
		if (r.r_code == 404) {
			/* No such job, or no such endpoint: the progress tells which. */
			if ((rc = poll_once(w)) != 0 || w->w_status >= 0) {
				rc = w->w_status >= 0 ? w->w_status : rc;
				break;
			}
			rc = fall_back(w, &r);
			break;
		}
		rc = refused(w, &r, "GET progress/stream");
		break;
	}
	resp_free(&r);
	sse_free(&w->w_sse);
	free(url);
	return rc;
}

/* --- starting a job ------------------------------------------------------------ */

/* The body of --request: the text, or @FILE's contents; NULL after a message. */
static char *
request_body(const char *arg)
{
	FILE	*fp;
	char	*buf;
	size_t	 n, cap = 65536 + 2;
	cJSON	*doc;

	if (arg == NULL)
		return strdup("{}");
	if (arg[0] == '@') {
		if ((fp = fopen(arg + 1, "r")) == NULL) {
			fail(EXIT_ERROR, "--request: cannot read %s: %s", arg + 1, strerror(errno));
			return NULL;
		}
		if ((buf = malloc(cap)) == NULL) {
			fclose(fp);
			return NULL;
		}
		n = fread(buf, 1, cap - 1, fp);
		if (ferror(fp) || n == cap - 1) {
			fail(EXIT_ERROR, "--request: %s: %s", arg + 1, ferror(fp) ?
			    strerror(errno) : "larger than 64 KiB");
			fclose(fp);
			free(buf);
			return NULL;
		}
		fclose(fp);
		buf[n] = '\0';
	} else if ((buf = strdup(arg)) == NULL)
		return NULL;
	doc = cJSON_Parse(buf);
	if (!cJSON_IsObject(doc)) {
		fail(EXIT_ERROR, "--request must be a JSON object, not %.60s", buf);
		cJSON_Delete(doc);
		free(buf);
		return NULL;
	}
	cJSON_Delete(doc);
	return buf;
}

/*
 * POST /api/v2/training/jobs: starts a job, and sets w_job.  0, or an exit
 * status.  Only a POST that surely did not reach the pool (no connection,
 * 502) is sent again, or any failed one when the request names its job_id
 * (then the server knows a repeat).
 */
static int
start_job(struct watch *w, const char *body)
{
	struct resp	 r;
	struct curl_slist *hdrs;
	cJSON		*req, *doc = NULL;
	const char	*id;
	char		*url, *auth;
	bool		 idempotent;
	int		 rc;
	size_t		 n;

	req = cJSON_Parse(body);
	idempotent = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "job_id"));
	cJSON_Delete(req);
	n = strlen(w->w_token) + 32;
	if ((url = url_of(w, "")) == NULL || (auth = malloc(n)) == NULL) {
		free(url);
		return fail(EXIT_ERROR, "out of memory");
	}
	snprintf(auth, n, "Authorization: Bearer %s", w->w_token);
	for (;;) {
		if (request(&r, url, NULL) == NULL) {
			rc = fail(EXIT_ERROR, "cannot set up an HTTP request");
			break;
		}
		hdrs = curl_slist_append(NULL, auth);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Accept: application/json");
		curl_easy_setopt(r.r_h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(r.r_h, CURLOPT_POSTFIELDS, body);
		rc = perform(w, &r);
		curl_slist_free_all(hdrs);
		if (rc == -1) {
			rc = fail(EXIT_INTERRUPTED, "stopped before the server answered: the "
			    "job may or may not have started");
			break;
		}
		if (transient(&r) && (idempotent || r.r_res == CURLE_COULDNT_CONNECT ||
		    r.r_res == CURLE_COULDNT_RESOLVE_HOST || r.r_code == 502)) {
			if ((rc = backoff(w, &r)) != 0)
				break;
			resp_free(&r);
			continue;
		}
		if (r.r_res != CURLE_OK && r.r_res != CURLE_WRITE_ERROR) {
			rc = fail(EXIT_ERROR, "starting a job: %s (it may or may not have "
			    "started)", r.r_err[0] ? r.r_err : curl_easy_strerror(r.r_res));
			break;
		}
		recovered(w);
		if (r.r_code != 200 && r.r_code != 201) {
			rc = refused(w, &r, "starting a job");
			break;
		}
		doc = cJSON_ParseWithLength(r.r_body ? r.r_body : "", r.r_len);
		if ((id = str(doc, "job_id")) == NULL || id[0] == '\0') {
			rc = fail(EXIT_ERROR, "starting a job: the answer (HTTP %ld) names no "
			    "job_id", r.r_code);
			break;
		}
		if ((w->w_job = strdup(id)) == NULL || (w->w_job_enc = pct_encode(id)) == NULL) {
			rc = fail(EXIT_ERROR, "out of memory");
			break;
		}
		note("started job %s%s", id, r.r_code == 200 ? " (already started by the "
		    "same request)" : "");
		rc = 0;
		break;
	}
	cJSON_Delete(doc);
	resp_free(&r);
	free(auth);
	free(url);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token", required_argument, NULL, 't' },
		{ "request", required_argument, NULL, 'r' },
		{ "follow", no_argument, NULL, 'f' },
		{ "interval", required_argument, NULL, 'i' },
		{ "give-up", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct watch		 w;
	struct sigaction	 sa;
	const char		*base, *reqarg = NULL;
	char			*body = NULL;
	size_t			 n;
	int			 c, rc, i;

	memset(&w, 0, sizeof(w));
	w.w_interval = 2;
	w.w_give_up = 60;
	w.w_last_seq = -1;
	w.w_status = -1;
	base = getenv("TP_BASE_URL");
	w.w_token = getenv("TP_TOKEN");
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			base = optarg;
			break;
		case 't':
			w.w_token = optarg;
			break;
		case 'r':
			reqarg = optarg;
			break;
		case 'f':
			w.w_follow = true;
			break;
		case 'j':
			w.w_json = true;
			break;
		case 'i':
			if (parse_secs(optarg, 0.1, 86400, &w.w_interval) == -1)
				return fail(EXIT_ERROR, "--interval must be seconds from 0.1 to "
				    "86400, not \"%s\" (try --help)", optarg);
			break;
		case 'g':
			if (parse_secs(optarg, 0, 86400 * 7, &w.w_give_up) == -1)
				return fail(EXIT_ERROR, "--give-up must be seconds from 0 to "
				    "604800, not \"%s\" (try --help)", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", progname, TP_VERSION);
			return 0;
		case ':':
			return fail(EXIT_ERROR, "%s needs a value (try --help)", argv[optind - 1]);
		default:
			if (optopt != 0)
				return fail(EXIT_ERROR, "unknown option \"-%c\" (try --help)",
				    optopt);
			return fail(EXIT_ERROR, "unknown option \"%s\" (try --help)",
			    argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return fail(EXIT_ERROR, "one JOB_ID at most, not \"%s\" too (try --help)",
		    argv[optind + 1]);
	if (base == NULL || base[0] == '\0')
		return fail(EXIT_ERROR, "no server: give --url URL or set TP_BASE_URL "
		    "(try --help)");
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
		return fail(EXIT_ERROR, "--url must start with http:// or https://, not \"%s\"",
		    base);
	/* A token goes on every request: a server may want one for reads too. */
	if (w.w_token != NULL && w.w_token[0] != '\0') {
		for (i = 0; w.w_token[i] != '\0'; i++)
			if ((unsigned char)w.w_token[i] <= 0x20 || w.w_token[i] == 0x7f)
				return fail(EXIT_ERROR, "the token must not hold spaces or control "
				    "characters");
		if (strlen(w.w_token) > sizeof(w.w_auth) - 32)
			return fail(EXIT_ERROR, "the token is longer than %zu bytes",
			    sizeof(w.w_auth) - 32);
		snprintf(w.w_auth, sizeof(w.w_auth), "Authorization: Bearer %s", w.w_token);
	}
	if (optind < argc) {
		n = strlen(argv[optind]);
		if (n == 0 || n > MAX_JOB_ID)
			return fail(EXIT_ERROR, "JOB_ID must be 1 to %d bytes, not %zu",
			    MAX_JOB_ID, n);
		for (i = 0; argv[optind][i] != '\0'; i++)
			if ((unsigned char)argv[optind][i] < 0x20 || argv[optind][i] == 0x7f)
				return fail(EXIT_ERROR, "JOB_ID must not hold a control character");
		if (reqarg != NULL)
			return fail(EXIT_ERROR, "--request starts a job: give it without JOB_ID");
		if ((w.w_job = strdup(argv[optind])) == NULL ||
		    (w.w_job_enc = pct_encode(w.w_job)) == NULL)
			return fail(EXIT_ERROR, "out of memory");
	} else {
		if (w.w_token == NULL || w.w_token[0] == '\0')
			return fail(EXIT_ERROR, "starting a job needs a token: give --token "
			    "or set TP_TOKEN (or name a JOB_ID to watch)");
		if ((body = request_body(reqarg)) == NULL)
			return EXIT_ERROR;
	}
	if ((w.w_base = strdup(base)) == NULL)
		return fail(EXIT_ERROR, "out of memory");
	for (n = strlen(w.w_base); n > 0 && w.w_base[n - 1] == '/'; n--)
		w.w_base[n - 1] = '\0';
	w.w_tty = isatty(STDOUT_FILENO);

	if (pipe(sigpipe) == -1 || fcntl(sigpipe[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sigpipe[1], F_SETFL, O_NONBLOCK) == -1)
		return fail(EXIT_ERROR, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (w.w_multi = curl_multi_init()) == NULL)
		return fail(EXIT_ERROR, "cannot initialize libcurl");

	rc = 0;
	if (w.w_job == NULL)
		rc = start_job(&w, body);
	if (rc == 0)
		rc = w.w_follow ? watch_stream(&w) : watch_poll(&w);
	if (rc == EXIT_INTERRUPTED && w.w_job != NULL)
		note("stopped watching job %s (it goes on)", w.w_job);

	curl_multi_cleanup(w.w_multi);
	curl_global_cleanup();
	free(body);
	free(w.w_last);
	free(w.w_job);
	free(w.w_job_enc);
	free(w.w_base);
	return rc;
}

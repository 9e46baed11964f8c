/*
 * notify_send.c: tp-notify's sender: delivers the notifications that the
 * notify_enqueue trigger (schema/009) wrote into notify_outbox when jobs
 * ended.
 *
 * It takes the due rows for a lease of LEASE_S (FOR UPDATE SKIP LOCKED in
 * one statement, so that two senders never take one row at once), then,
 * outside any transaction, renders each job's document with GET's code,
 * delivers it (a signed JSON webhook, a Slack message, or an email over
 * SMTP, all through libcurl) and records what happened: delivered, or
 * tried again later after a pause that doubles from 2 s up to an hour with
 * jitter, or dead after notify_settings.max_attempts tries.  A sender
 * killed mid-way leaves its rows taken until the lease ends; they are then
 * sent again: at least once, with the same delivery id, which receivers
 * use to drop repeats.  A sender told to stop gives back the rows it has
 * not sent yet.
 *
 * Targets are reached only over http and https, with connect and total
 * timeouts, no redirects, and reading at most RESPONSE_MAX bytes of an
 * answer.  A target whose host resolves to a loopback, private or
 * link-local address is refused unless --allow-loopback / --allow-private
 * says otherwise, and the address checked is the one connected to
 * (CURLOPT_RESOLVE), so that a second DNS answer cannot change it.
 * Secrets are never logged.
 *
 * Between rounds it sleeps: it LISTENs on trainprog_outbox, which a row
 * owed and due now announces at its commit (schema/011), and otherwise
 * wakes when the earliest retry falls due, or after idle_max_ms at most.
 * An idle sender looks at the outbox once every idle_max_ms, and prunes
 * hourly (below); otherwise it sends the database nothing.
 *
 * After connecting, and then every hour, it calls notify_prune()
 * (schema/014), which deletes delivered rows and finished jobs' own
 * targets older than notify_settings.keep_delivered.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#include <tp/notify.h>

#include "../lib/internal.h"
#include "notify_send.h"
#include "pgwait.h"

#define BATCH			16	/* rows a round takes at most */
/* How long a round's rows stay taken: BATCH sends at their longest, and more. */
#define LEASE_S			300
#define STR_(x)			#x
#define STR(x)			STR_(x)
#define DB_TIMEOUT_MS		10000
#define CONNECT_TIMEOUT_MS	5000L
#define TOTAL_TIMEOUT_MS	10000L
#define RESPONSE_MAX		65536
#define RETRY_FIRST_S		2.0
#define RETRY_MAX_S		3600.0
#define RECONNECT_MAX_MS	10000
#define BUSY_PAUSE_MS		500
#define PRUNE_EVERY_MS		3600000	/* notify_prune() (schema/014): hourly */
#define PRUNE_BATCH		1000
#define PRUNE_BATCHES		5	/* at most, between two rounds of sending */
#define PRUNE_AGAIN_MS		1000	/* the next batches of a backlog */

static void (*log_fn)(const char *level, const char *fmt, ...);

/* --- addresses ----------------------------------------------------------------- */

const char *
send_address_refused(const void *sa, unsigned allow)
{
	const struct sockaddr		*s = sa;
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;
	const unsigned char		*b;
	uint32_t			 a;

	if (s->sa_family == AF_INET6) {
		s6 = sa;
		b = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct sockaddr_in	 v4;

			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, b + 12, 4);
			return send_address_refused(&v4, allow);
		}
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) || IN6_IS_ADDR_MULTICAST(&s6->sin6_addr))
			return "an unspecified or multicast address";
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return allow & (SEND_ALLOW_LOOPBACK | SEND_ALLOW_PRIVATE) ? NULL :
			    "a loopback address";
		if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) || (b[0] & 0xfe) == 0xfc)
			return allow & SEND_ALLOW_PRIVATE ? NULL : "a private or link-local address";
		return NULL;
	}
	if (s->sa_family != AF_INET)
		return "not an IP address";
	s4 = sa;
	a = ntohl(s4->sin_addr.s_addr);
	if ((a >> 24) == 0 || (a >> 28) == 0xe || a == 0xffffffffu)
		return "an unspecified, multicast or broadcast address";
	if ((a >> 24) == 127)
		return allow & (SEND_ALLOW_LOOPBACK | SEND_ALLOW_PRIVATE) ? NULL :
		    "a loopback address";
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 ||
	    (a >> 16) == 0xa9fe || (a >> 22) == (0x64400000u >> 22))
		return allow & SEND_ALLOW_PRIVATE ? NULL : "a private or link-local address";
	return NULL;
}

/*
 * Does libcurl read the same host and port in url as target_parse_url() did?
 * The address checked is pinned under that host: were curl to connect to
 * another (a URL the two parsers read apart), it would resolve it freely.
 */
static bool
curl_agrees(const char *url, const struct target_url *u)
{
	CURLU	*h = curl_url();
	char	*host = NULL, *port = NULL;
	size_t	 n;
	bool	 ok = false;

	if (h != NULL && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		n = strlen(host);
		/* An IPv6 literal comes back in brackets. */
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
			ok = strlen(u->tu_host) == n - 2 && strncasecmp(host + 1, u->tu_host, n - 2) == 0;
		else
			ok = strcasecmp(host, u->tu_host) == 0;
		ok = ok && atoi(port) == u->tu_port;
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(h);
	return ok;
}

/*
 * Resolves u's host and picks the first address allowed, as
 * "host:port:address" for CURLOPT_RESOLVE.  -1 with the reason in err;
 * *permanent says whether trying again cannot help (an address refused,
 * as opposed to a DNS failure).
 */
static int
resolve_allowed(const struct target_url *u, unsigned allow, char *pin, size_t pinsz,
    char *err, size_t errsz, bool *permanent)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 port[8], ip[INET6_ADDRSTRLEN];
	const char	*why = NULL;
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", u->tu_port);
	*permanent = false;
	if ((rc = getaddrinfo(u->tu_host, port, &hints, &res)) != 0) {
		snprintf(err, errsz, "cannot resolve %s: %s", u->tu_host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((why = send_address_refused(ai->ai_addr, allow)) != NULL)
			continue;
		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr,
			    ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr,
			    ip, sizeof(ip));
		snprintf(pin, pinsz, "%s:%d:%s%s%s", u->tu_host, u->tu_port,
		    ai->ai_family == AF_INET6 ? "[" : "", ip, ai->ai_family == AF_INET6 ? "]" : "");
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	snprintf(err, errsz, "refused: %s resolves to %s (tp-notify --allow-loopback or "
	    "--allow-private to permit it)", u->tu_host, why != NULL ? why : "nothing usable");
	*permanent = true;
	return -1;
}

/* --- what is sent --------------------------------------------------------------- */

char *
send_webhook_body(const char *event, int64_t at_us, const char *doc, size_t doclen)
{
	char	 when[40], *out;
	size_t	 n;

	if (render_timestamp(at_us, when, sizeof(when)) == -1)
		return NULL;
	n = strlen(event) + strlen(when) + doclen + 64;
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "{\"event\":\"%s\",\"delivered_at\":\"%s\",\"job\":%.*s}", event, when,
	    (int)doclen, doc);
	return out;
}

int
send_signature(const char *secret, int64_t unix_s, const char *body, char *out, size_t outsz)
{
	unsigned char	 mac[32];
	char		*msg;
	size_t		 n, len;
	int		 i, k;

	n = strlen(body) + 32;
	if ((msg = malloc(n)) == NULL)
		return -1;
	len = (size_t)snprintf(msg, n, "%lld.%s", (long long)unix_s, body);
	if (hmac_sha256(secret, strlen(secret), msg, len, mac) == -1) {
		free(msg);
		return -1;
	}
	free(msg);
	k = snprintf(out, outsz, "t=%lld,v1=", (long long)unix_s);
	for (i = 0; i < 32 && (size_t)k + 2 < outsz; i++)
		k += snprintf(out + k, outsz - (size_t)k, "%02x", mac[i]);
	return i == 32 ? 0 : -1;
}

/* What the job's document says, for messages people read. */
struct summary {
	const char	*job_id, *status, *error;
	char		 best[64], params[512], duration[64];
};

static time_t
parse_utc(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return (time_t)-1;
	return timegm(&tm);
}

/* Fills *s from doc (parsed into *root, which the caller deletes). */
static int
summarize(const char *doc, cJSON **root, struct summary *s)
{
	const cJSON	*v, *p;
	time_t		 a, b;
	long		 secs;
	size_t		 n = 0;

	memset(s, 0, sizeof(*s));
	if ((*root = cJSON_Parse(doc)) == NULL)
		return -1;
	s->job_id = cJSON_GetStringValue(cJSON_GetObjectItem(*root, "job_id"));
	s->status = cJSON_GetStringValue(cJSON_GetObjectItem(*root, "status"));
	s->error = cJSON_GetStringValue(cJSON_GetObjectItem(*root, "error_message"));
	if (s->job_id == NULL || s->status == NULL)
		return -1;
	v = cJSON_GetObjectItem(*root, "best_score");
	if (cJSON_IsNumber(v))
		snprintf(s->best, sizeof(s->best), "%.4f", v->valuedouble);
	else
		snprintf(s->best, sizeof(s->best), "none");
	p = cJSON_GetObjectItem(*root, "best_params");
	if (cJSON_IsObject(p))
		cJSON_ArrayForEach(v, p) {
			char	*val = cJSON_PrintUnformatted(v);

			if (val == NULL)
				continue;
			n += (size_t)snprintf(s->params + n, n < sizeof(s->params) ?
			    sizeof(s->params) - n : 0, "%s%s %s", n ? ", " : "", v->string, val);
			free(val);
			if (n >= sizeof(s->params)) {
				/* Cut short, but not inside a character. */
				n = utf8_cut(s->params, sizeof(s->params) - 1, sizeof(s->params) - 4);
				memcpy(s->params + n, "...", 4);
				break;
			}
		}
	if (n == 0)
		snprintf(s->params, sizeof(s->params), "none");
	a = parse_utc(cJSON_GetStringValue(cJSON_GetObjectItem(*root, "started_at")));
	b = parse_utc(cJSON_GetStringValue(cJSON_GetObjectItem(*root, "updated_at")));
	if (a != (time_t)-1 && b != (time_t)-1 && b >= a) {
		secs = (long)(b - a);
		if (secs >= 3600)
			snprintf(s->duration, sizeof(s->duration), "%ld h %ld min", secs / 3600,
			    secs % 3600 / 60);
		else if (secs >= 60)
			snprintf(s->duration, sizeof(s->duration), "%ld min %ld s", secs / 60, secs % 60);
		else
			snprintf(s->duration, sizeof(s->duration), "%ld s", secs);
	} else
		snprintf(s->duration, sizeof(s->duration), "unknown");
	return 0;
}

/*
 * Slack's mrkdwn: &, < and > are the only characters it wants escaped.  A
 * text too long for out is cut before a whole character or escape.
 */
static void
mrkdwn(char *out, size_t size, const char *s)
{
	size_t		 n = 0, k;
	const char	*rep;

	for (; *s != '\0'; s += k) {
		rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
		/* A UTF-8 character's lead byte and its continuation bytes. */
		for (k = 1; rep == NULL && k < 4 && ((unsigned char)s[k] & 0xc0) == 0x80; k++)
			;
		if (n + (rep != NULL ? strlen(rep) : k) >= size)
			break;
		if (rep != NULL)
			n += (size_t)snprintf(out + n, size - n, "%s", rep);
		else {
			memcpy(out + n, s, k);
			n += k;
		}
	}
	out[n] = '\0';
}

static char *
job_link(const char *public_url, const char *job_id)
{
	char	*enc, *out;
	size_t	 n;

	if (public_url == NULL || *public_url == '\0')
		return NULL;
	if ((enc = curl_easy_escape(NULL, job_id, 0)) == NULL)
		return NULL;
	n = strlen(public_url) + strlen(enc) + 8;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s/jobs/%s", public_url, enc);
	curl_free(enc);
	return out;
}

static void
add_field(cJSON *fields, const char *title, const char *value)
{
	char	 esc[1200], text[1300];
	cJSON	*f = cJSON_CreateObject();

	mrkdwn(esc, sizeof(esc), value);
	snprintf(text, sizeof(text), "*%s*\n%s", title, esc);
	cJSON_AddStringToObject(f, "type", "mrkdwn");
	cJSON_AddStringToObject(f, "text", text);
	cJSON_AddItemToArray(fields, f);
}

char *
send_slack_body(const char *doc, const char *public_url)
{
	struct summary	 s;
	cJSON		*root = NULL, *msg, *blocks, *b, *t, *fields;
	char		 id[600], text[1200], *link, *out = NULL;

	if (summarize(doc, &root, &s) == -1)
		goto done;
	mrkdwn(id, sizeof(id), s.job_id);
	msg = cJSON_CreateObject();
	/* The notification's plain text is mrkdwn too: the id escaped, so that
	   a job named <!channel> pings no one. */
	snprintf(text, sizeof(text), "Training job %s %s%s%s", id, s.status,
	    strcmp(s.status, "completed") == 0 ? ": best score " : "",
	    strcmp(s.status, "completed") == 0 ? s.best : "");
	cJSON_AddStringToObject(msg, "text", text);
	blocks = cJSON_AddArrayToObject(msg, "blocks");
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "section");
	t = cJSON_AddObjectToObject(b, "text");
	cJSON_AddStringToObject(t, "type", "mrkdwn");
	snprintf(text, sizeof(text), "*Training job `%s` %s*", id, s.status);
	cJSON_AddStringToObject(t, "text", text);
	cJSON_AddItemToArray(blocks, b);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "section");
	fields = cJSON_AddArrayToObject(b, "fields");
	add_field(fields, "Outcome", s.status);
	add_field(fields, "Best score", s.best);
	add_field(fields, "Best params", s.params);
	add_field(fields, "Duration", s.duration);
	cJSON_AddItemToArray(blocks, b);
	if (s.error != NULL && strcmp(s.status, "completed") != 0) {
		char	 esc[1100];

		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "section");
		t = cJSON_AddObjectToObject(b, "text");
		cJSON_AddStringToObject(t, "type", "mrkdwn");
		mrkdwn(esc, sizeof(esc), s.error);
		snprintf(text, sizeof(text), "*Error*\n%s", esc);
		cJSON_AddStringToObject(t, "text", text);
		cJSON_AddItemToArray(blocks, b);
	}
	if ((link = job_link(public_url, s.job_id)) != NULL) {
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "section");
		t = cJSON_AddObjectToObject(b, "text");
		cJSON_AddStringToObject(t, "type", "mrkdwn");
		snprintf(text, sizeof(text), "<%s|Open the job>", link);
		cJSON_AddStringToObject(t, "text", text);
		cJSON_AddItemToArray(blocks, b);
		free(link);
	}
	out = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
done:
	cJSON_Delete(root);
	return out;
}

/*
 * A header's unstructured text (Subject), for a line that already holds
 * col characters: as it is when it is printable ASCII, otherwise RFC 2047
 * encoded words ("=?UTF-8?B?...?=") of whole characters, folded so that no
 * line is longer than 76 characters.  The caller frees it.
 */
static char *
header_text(const char *s, size_t col)
{
	size_t	 n = strlen(s), i, k, o = 0, size = n / 39 * 80 + n * 2 + 80;
	char	*out;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			break;
	if (i == n)
		return strdup(s);
	/* At least 39 bytes a word (col < 10), each at most 76 characters with its line. */
	if (col > 10 || (out = malloc(size)) == NULL)
		return NULL;
	for (i = 0; i < n; i += k) {
		if (i > 0) {
			o += (size_t)sprintf(out + o, "\r\n ");
			col = 1;
		}
		/* "=?UTF-8?B?" and "?=" are 12 characters; base64 is 4 for each 3 bytes. */
		if ((k = utf8_prefix(s + i, (76 - col - 12) / 4 * 3)) == 0)
			k = 1;
		o += (size_t)sprintf(out + o, "=?UTF-8?B?");
		o += (size_t)b64_encode(s + i, k, out + o, size - o);
		o += (size_t)sprintf(out + o, "?=");
	}
	return out;
}

/*
 * Quoted-printable (RFC 2045) of text whose lines end in "\n": lines end
 * in CRLF and are at most 76 characters long (soft breaks), '=', control
 * bytes and bytes above 0x7e are encoded, and so is a space or tab that
 * ends a line.  An SMTP server may refuse or cut a line of over 998 bytes,
 * and a bare LF or CR: an error message can hold both.  The caller frees it.
 */
static char *
quoted_printable(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 n = strlen(s), i, o = 0, col = 0, w;
	unsigned char	 c;
	bool		 enc;
	char		*out;

	if ((out = malloc(n * 4 + 16)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			col = 0;
			continue;
		}
		enc = c == '=' || (c < 0x20 && c != '\t') || c > 0x7e ||
		    ((c == ' ' || c == '\t') && (s[i + 1] == '\n' || s[i + 1] == '\0'));
		w = enc ? 3 : 1;
		if (col + w > 75) {
			memcpy(out + o, "=\r\n", 3);
			o += 3;
			col = 0;
		}
		if (enc) {
			out[o++] = '=';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
		col += w;
	}
	out[o] = '\0';
	return out;
}

/*
 * s with each of its line breaks (CRLF, LF or CR) turned into "\n" and
 * followed by indent, so that a multi-line value stays under its label.
 * The caller frees it.
 */
static char *
indent_lines(const char *s, const char *indent)
{
	size_t	 n = strlen(s), k = strlen(indent), o = 0, i;
	char	*out;

	if ((out = malloc(n * (k + 1) + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] == '\r' && s[i + 1] == '\n')
				i++;
			out[o++] = '\n';
			memcpy(out + o, indent, k);
			o += k;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

char *
send_email_text(const char *doc, const char *from, const char *to,
    const char *delivery_id, const char *public_url)
{
	struct summary	 s;
	cJSON		*root = NULL;
	char		 date[64], *link = NULL, *subject = NULL, *error = NULL, *text = NULL;
	char		*body = NULL, *out = NULL, *line = NULL;
	size_t		 n;
	time_t		 now = time(NULL);
	struct tm	 tm;
	bool		 failed;

	if (summarize(doc, &root, &s) == -1)
		goto done;
	failed = s.error != NULL && strcmp(s.status, "completed") != 0;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	link = job_link(public_url, s.job_id);
	n = strlen(s.job_id) + strlen(s.status) + 32;
	if ((line = malloc(n)) == NULL)
		goto done;
	snprintf(line, n, "Training job %s %s", s.job_id, s.status);
	if ((subject = header_text(line, strlen("Subject: "))) == NULL ||
	    (failed && (error = indent_lines(s.error, "             ")) == NULL))
		goto done;
	/* The text, with "\n" line ends; quoted-printable makes them CRLF. */
	n = 1024 + strlen(line) + (error ? strlen(error) : 0) + strlen(s.params) +
	    (link ? strlen(link) : 0) + strlen(delivery_id);
	if ((text = malloc(n)) == NULL)
		goto done;
	snprintf(text, n,
	    "%s.\n\n"
	    "Outcome:     %s\nBest score:  %s\nBest params: %s\nDuration:    %s\n"
	    "%s%s%s"
	    "%s%s%s"
	    "\nDelivery %s\n",
	    line, s.status, s.best, s.params, s.duration,
	    error ? "Error:       " : "", error ? error : "", error ? "\n" : "",
	    link ? "\n" : "", link ? link : "", link ? "\n" : "", delivery_id);
	if ((body = quoted_printable(text)) == NULL)
		goto done;
	n = 512 + strlen(from) + strlen(to) + strlen(subject) + strlen(delivery_id) +
	    strlen(body);
	if ((out = malloc(n)) != NULL)
		snprintf(out, n,
		    "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
		    "Message-ID: <%s@trainprog>\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n"
		    "\r\n%s",
		    from, to, subject, date, delivery_id, body);
done:
	free(line);
	free(link);
	free(subject);
	free(error);
	free(text);
	free(body);
	cJSON_Delete(root);
	return out;
}

/* --- delivering ---------------------------------------------------------------- */

struct answer {
	size_t	 a_len;
	bool	 a_capped;
};

/* Reads at most RESPONSE_MAX bytes of an answer, then stops the transfer. */
static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct answer	*a = arg;

	(void)p;
	if (a->a_len + sz * n > RESPONSE_MAX) {
		a->a_capped = true;
		return 0;
	}
	a->a_len += sz * n;
	return sz * n;
}

struct upload {
	const char	*u_data;
	size_t		 u_len, u_off;
};

static size_t
on_read(char *p, size_t sz, size_t n, void *arg)
{
	struct upload	*u = arg;
	size_t		 k = sz * n < u->u_len - u->u_off ? sz * n : u->u_len - u->u_off;

	memcpy(p, u->u_data + u->u_off, k);
	u->u_off += k;
	return k;
}

/* One row of the outbox, as read. */
struct item {
	const char	*it_id, *it_delivery, *it_event, *it_job, *it_kind, *it_address,
			*it_secret;
	int		 it_attempts, it_max;
};

/*
 * Delivers one notification.  0 when the target took it (2xx, or the
 * SMTP server accepted it); -1 with the reason in err, *permanent when
 * trying again cannot help.
 */
static int
deliver_one(const struct send_options *opt, const struct item *it, const char *doc, size_t len,
    char *err, size_t errsz, bool *permanent)
{
	struct target_url	 u;
	struct curl_slist	*hdrs = NULL, *pins = NULL, *rcpt = NULL;
	struct answer		 ans = { 0, false };
	struct upload		 up;
	CURL			*h = NULL;
	CURLcode		 cc;
	char			*body = NULL, pin[400], sig[128], line[300], *mail = NULL;
	const char		*why, *part;
	long			 status = 0;
	int64_t			 now_us = wall_us();
	int			 rc = -1;

	/* Rows stored before the rule was one (or by hand) are held to it here. */
	if ((why = tp_target_problem(it->it_kind, it->it_address, it->it_secret, &part)) != NULL) {
		snprintf(err, errsz, "refused: the target's %s %s", part, why);
		*permanent = true;
		return -1;
	}
	*permanent = false;
	if ((h = curl_easy_init()) == NULL) {
		snprintf(err, errsz, "libcurl could not start a transfer");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A proxy from the environment would connect where it likes: none. */
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);

	if (strcmp(it->it_kind, "email") == 0) {
		if (opt->smtp_url == NULL) {
			snprintf(err, errsz, "no SMTP server: start tp-notify with --smtp-url");
			goto done;
		}
		if ((mail = send_email_text(doc, opt->mail_from, it->it_address,
		    it->it_delivery, opt->public_url)) == NULL) {
			snprintf(err, errsz, "could not write the email");
			goto done;
		}
		snprintf(line, sizeof(line), "<%s>", it->it_address);
		rcpt = curl_slist_append(NULL, line);
		snprintf(line, sizeof(line), "<%s>", opt->mail_from);
		up.u_data = mail;
		up.u_len = strlen(mail);
		up.u_off = 0;
		curl_easy_setopt(h, CURLOPT_URL, opt->smtp_url);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(h, CURLOPT_MAIL_FROM, line);
		curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &up);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		if ((cc = curl_easy_perform(h)) != CURLE_OK) {
			snprintf(err, errsz, "SMTP: %s", curl_easy_strerror(cc));
			goto done;
		}
		rc = 0;
		goto done;
	}

	if ((why = target_parse_url(it->it_address, &u)) != NULL) {
		snprintf(err, errsz, "refused: the URL %s", why);
		*permanent = true;
		goto done;
	}
	if (!curl_agrees(it->it_address, &u)) {
		snprintf(err, errsz, "refused: libcurl reads the URL's host or port otherwise");
		*permanent = true;
		goto done;
	}
	if (resolve_allowed(&u, opt->allow, pin, sizeof(pin), err, errsz, permanent) == -1)
		goto done;
	/* Without its pin, curl would resolve the name again, unchecked. */
	if ((pins = curl_slist_append(NULL, pin)) == NULL) {
		snprintf(err, errsz, "out of memory");
		goto done;
	}
	if (strcmp(it->it_kind, "slack") == 0)
		body = send_slack_body(doc, opt->public_url);
	else
		body = send_webhook_body(it->it_event, now_us, doc, len);
	if (body == NULL) {
		snprintf(err, errsz, "could not write the message");
		goto done;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "User-Agent: trainprog-notify/1");
	if (strcmp(it->it_kind, "webhook") == 0) {
		snprintf(line, sizeof(line), "X-Trainprog-Event: %s", it->it_event);
		hdrs = curl_slist_append(hdrs, line);
		snprintf(line, sizeof(line), "X-Trainprog-Delivery: %s", it->it_delivery);
		hdrs = curl_slist_append(hdrs, line);
		if (it->it_secret != NULL && *it->it_secret != '\0') {
			if (send_signature(it->it_secret, now_us / 1000000, body, sig,
			    sizeof(sig)) == -1) {
				snprintf(err, errsz, "could not sign the message");
				goto done;
			}
			snprintf(line, sizeof(line), "X-Trainprog-Signature: %s", sig);
			hdrs = curl_slist_append(hdrs, line);
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, it->it_address);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_RESOLVE, pins);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && ans.a_capped)) {
		snprintf(err, errsz, "%s:%d: %s", u.tu_host, u.tu_port, curl_easy_strerror(cc));
		goto done;
	}
	if (status < 200 || status > 299) {
		snprintf(err, errsz, "%s:%d answered %ld", u.tu_host, u.tu_port, status);
		goto done;
	}
	rc = 0;
done:
	curl_slist_free_all(hdrs);
	curl_slist_free_all(pins);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	free(body);
	free(mail);
	return rc;
}

/* --- the outbox ------------------------------------------------------------------ */

/*
 * Takes the due rows for LEASE_S: they are not due again before then, so
 * no other sender takes them while this one sends, outside any transaction.
 */
static const char claim_sql[] =
	"UPDATE notify_outbox AS o"
	" SET next_attempt_at = now() + make_interval(secs => " STR(LEASE_S) ")"
	" FROM notify_targets AS t, notify_settings AS s"
	" WHERE t.id = o.target_id AND o.id IN (SELECT d.id FROM notify_outbox AS d"
	"   WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND d.next_attempt_at <= now()"
	"   ORDER BY d.next_attempt_at, d.id LIMIT " STR(BATCH) " FOR UPDATE SKIP LOCKED)"
	" RETURNING o.id, o.delivery_id::text, o.event, o.job_id, o.attempts, t.kind, t.address,"
	" t.secret, s.max_attempts";

/* A row taken but not sent (the sender is stopping): due again now. */
static const char release_sql[] =
	"UPDATE notify_outbox SET next_attempt_at = now() WHERE id = $1";

static const char done_sql[] =
	"UPDATE notify_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL"
	" WHERE id = $1";

static const char retry_sql[] =
	"UPDATE notify_outbox SET attempts = attempts + 1, last_error = $2,"
	" next_attempt_at = now() + make_interval(secs => $3::float8),"
	" dead_at = CASE WHEN $4::bool THEN now() END"
	" WHERE id = $1";

/* The pause before try n + 1 (n >= 1): 2 s doubling to an hour, times 0.5 to 1.5. */
static double
retry_after(int n)
{
	double	 base = RETRY_FIRST_S;

	while (--n > 0 && base < RETRY_MAX_S)
		base *= 2;
	if (base > RETRY_MAX_S)
		base = RETRY_MAX_S;
	return base * (0.5 + (double)random() / RAND_MAX);
}

static bool
exec_ok(PGconn *db, const char *sql, int n, const char *const *params)
{
	PGresult	*res = NULL;
	enum conn_trip	 t;

	t = conn_exec_params(db, sql, n, params, 0, mono_ms() + DB_TIMEOUT_MS, &res);
	if (t != CONN_OK)
		log_fn("warning", "the outbox: %s", t == CONN_ERROR ?
		    PQresultErrorMessage(res) : PQerrorMessage(db));
	PQclear(res);
	return t == CONN_OK;
}

/* The job's document, rendered as GET renders it; NULL when there is none. */
static char *
job_document(PGconn *db, const char *job_id, size_t *len)
{
	const char		*params[2] = { job_id, NULL };
	struct progress_row	 pr;
	PGresult		*res = NULL;
	char			*doc = NULL;

	if (conn_exec_stmt(db, STMT_GET, params, 1, mono_ms() + DB_TIMEOUT_MS, &res) == CONN_OK &&
	    PQntuples(res) == 1 && store_decode_progress(res, 0, &pr) == 0)
		doc = render_progress(&pr, len);
	PQclear(res);
	return doc;
}

/*
 * One round: the due rows taken (claim_sql), then each delivered and its
 * outcome recorded at once, each in its own statement: no transaction, and
 * so no row lock, lasts while a target is slow.  Stops early when *stop,
 * giving back the rows not sent.  Returns how many were taken, or -1 when
 * the database failed (a row taken and not recorded is due again when its
 * lease ends, and is sent again: at least once).
 */
static int
round_of(const struct send_options *opt, PGconn *db, volatile sig_atomic_t *stop,
    long *sent, long *failed)
{
	PGresult	*res = NULL;
	struct item	 it;
	char		 err[512], secs[32], *doc;
	const char	*params[4];
	size_t		 len = 0;
	bool		 permanent, dead;
	int		 i, n;

	if (conn_exec_params(db, claim_sql, 0, NULL, 0, mono_ms() + DB_TIMEOUT_MS, &res) != CONN_OK) {
		log_fn("warning", "reading the outbox: %s", res ? PQresultErrorMessage(res) :
		    PQerrorMessage(db));
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		it.it_id = PQgetvalue(res, i, 0);
		it.it_delivery = PQgetvalue(res, i, 1);
		it.it_event = PQgetvalue(res, i, 2);
		it.it_job = PQgetvalue(res, i, 3);
		it.it_attempts = atoi(PQgetvalue(res, i, 4));
		it.it_kind = PQgetvalue(res, i, 5);
		it.it_address = PQgetvalue(res, i, 6);
		it.it_secret = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7);
		it.it_max = atoi(PQgetvalue(res, i, 8));
		if (*stop) {
			params[0] = it.it_id;
			(void)exec_ok(db, release_sql, 1, params);
			continue;
		}
		permanent = false;
		if ((doc = job_document(db, it.it_job, &len)) == NULL) {
			snprintf(err, sizeof(err), "the job's progress cannot be read");
		} else if (deliver_one(opt, &it, doc, len, err, sizeof(err), &permanent) == 0) {
			free(doc);
			params[0] = it.it_id;
			if (!exec_ok(db, done_sql, 1, params)) {
				PQclear(res);
				return -1;
			}
			(*sent)++;
			log_fn("info", "delivered %s %s of job %s (%s target, try %d)", it.it_event,
			    it.it_delivery, it.it_job, it.it_kind, it.it_attempts + 1);
			continue;
		}
		free(doc);
		dead = permanent || it.it_attempts + 1 >= it.it_max;
		snprintf(secs, sizeof(secs), "%.3f", retry_after(it.it_attempts + 1));
		params[0] = it.it_id;
		params[1] = err;
		params[2] = secs;
		params[3] = dead ? "true" : "false";
		if (!exec_ok(db, retry_sql, 4, params)) {
			PQclear(res);
			return -1;
		}
		(*failed)++;
		log_fn(dead ? "error" : "warning", "%s %s of job %s (%s target, try %d): %s%s",
		    dead ? "gave up on" : "could not deliver", it.it_delivery, it.it_job,
		    it.it_kind, it.it_attempts + 1, err, dead ? ": now a dead letter" :
		    ": will try again");
	}
	PQclear(res);
	return n;
}

/*
 * How long until the earliest owed row falls due, in ms, at most cap (and
 * 0 when one is due already); -1 when the database failed.
 */
static long
next_due_ms(PGconn *db, long cap)
{
	static const char	 sql[] =
	    "SELECT coalesce(ceil(extract(epoch FROM min(next_attempt_at) - clock_timestamp())"
	    " * 1000), $1::float8)::bigint"
	    " FROM notify_outbox WHERE delivered_at IS NULL AND dead_at IS NULL";
	const char	*params[1];
	PGresult	*res = NULL;
	char		 capbuf[24];
	long		 ms = -1;

	snprintf(capbuf, sizeof(capbuf), "%ld", cap);
	params[0] = capbuf;
	if (conn_exec_params(db, sql, 1, params, 0, mono_ms() + DB_TIMEOUT_MS, &res) == CONN_OK &&
	    PQntuples(res) == 1) {
		ms = atol(PQgetvalue(res, 0, 0));
		ms = ms < 0 ? 0 : ms > cap ? cap : ms;
	} else {
		log_fn("warning", "the outbox: %s", res ? PQresultErrorMessage(res) :
		    PQerrorMessage(db));
	}
	PQclear(res);
	return ms;
}

/*
 * Deletes what notify_settings.keep_delivered no longer keeps, a batch at a
 * time, at most PRUNE_BATCHES of them: a backlog (after an upgrade, say) is
 * worked off between rounds of sending, never in their way.  Returns when
 * to prune next (mono_ms()), or -1 when the connection failed; an error of
 * the statement's (no schema/014 yet, say) is logged and tried again at
 * the next hour.
 */
static int64_t
prune(PGconn *db, volatile sig_atomic_t *stop)
{
	const char	*params[1] = { STR(PRUNE_BATCH) };
	const char	*state;
	PGresult	*res = NULL;
	enum conn_trip	 t;
	long		 n, total = 0;
	int		 batches = 0;

	do {
		t = conn_exec_params(db, "SELECT notify_prune($1::integer)", 1, params, 0,
		    mono_ms() + DB_TIMEOUT_MS, &res);
		if (t == CONN_ERROR) {
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			log_fn("warning", "pruning the outbox: %s%s", PQresultErrorMessage(res),
			    state != NULL && strcmp(state, "42883") == 0 ? " (apply schema/014: until "
			    "then, delivered notifications are kept)" : "");
			PQclear(res);
			return mono_ms() + PRUNE_EVERY_MS;
		}
		if (t != CONN_OK || PQntuples(res) != 1) {
			log_fn("warning", "pruning the outbox: %s", PQerrorMessage(db));
			PQclear(res);
			return t == CONN_OK ? mono_ms() + PRUNE_EVERY_MS : -1;
		}
		n = atol(PQgetvalue(res, 0, 0));
		total += n;
		PQclear(res);
		res = NULL;
	} while (n >= PRUNE_BATCH && ++batches < PRUNE_BATCHES && !*stop);
	if (total > 0)
		log_fn("info", "pruned %ld delivered notifications and finished jobs' targets%s",
		    total, n >= PRUNE_BATCH ? " (more to come)" : "");
	return mono_ms() + (n >= PRUNE_BATCH ? PRUNE_AGAIN_MS : PRUNE_EVERY_MS);
}

int
send_main(const struct send_options *opt, volatile sig_atomic_t *stop,
    void (*say)(const char *level, const char *fmt, ...))
{
	struct conn_setup	 cs;
	PGconn			*db = NULL;
	char			 err[512];
	long			 sent = 0, failed = 0, wait;
	int			 n, pause = 250;
	int64_t			 until, prune_at = 0;

	log_fn = say;
	srandom((unsigned)(wall_us() ^ getpid()));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		say("error", "libcurl could not start");
		return 1;
	}
	memset(&cs, 0, sizeof(cs));
	cs.cs_app_name = "tp-notify sender";
	cs.cs_conninfo = opt->db_url;
	cs.cs_statement_timeout_ms = DB_TIMEOUT_MS;
	cs.cs_roles = ROLE_NOTIFY;
	say("info", "sender: delivering notifications (%s%s)",
	    opt->allow & SEND_ALLOW_PRIVATE ? "private addresses allowed" :
	    opt->allow & SEND_ALLOW_LOOPBACK ? "loopback allowed" : "public addresses only",
	    opt->smtp_url != NULL ? ", email on" : ", no email");
	while (!*stop) {
		if (db == NULL) {
			if ((db = conn_connect(&cs, mono_ms() + DB_TIMEOUT_MS, err, sizeof(err))) == NULL) {
				say("warning", "sender: %s", err);
				for (until = mono_ms() + pause; !*stop && mono_ms() < until;)
					usleep(50000);
				pause = pause * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : pause * 2;
				continue;
			}
			pause = 250;
			/* Before the first round: what commits after it wakes the sender. */
			if (!exec_ok(db, "LISTEN trainprog_outbox", 0, NULL)) {
				PQfinish(db);
				db = NULL;
				continue;
			}
			prune_at = 0;	/* at once on each connection */
		}
		if (mono_ms() >= prune_at && (prune_at = prune(db, stop)) == -1) {
			PQfinish(db);
			db = NULL;
			continue;
		}
		if ((n = round_of(opt, db, stop, &sent, &failed)) == -1) {
			PQfinish(db);
			db = NULL;
			continue;
		}
		if (n == BATCH)
			continue;	/* more may be due */
		wait = next_due_ms(db, opt->idle_max_ms);
		if (wait > prune_at - mono_ms())
			wait = prune_at - mono_ms() > 0 ? (long)(prune_at - mono_ms()) : 0;
		/* Due, yet none was taken: another sender holds them; let it work. */
		if (n == 0 && wait >= 0 && wait < BUSY_PAUSE_MS)
			wait = BUSY_PAUSE_MS;
		if (wait == -1 || pg_wait_notify(db, wait, stop) == -1) {
			PQfinish(db);
			db = NULL;
		}
	}
	PQfinish(db);
	curl_global_cleanup();
	say("info", "sender: stopped (%ld delivered, %ld failed tries)", sent, failed);
	return 0;
}

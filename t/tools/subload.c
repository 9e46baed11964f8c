/*
 * subload.c: many subscribers to the live progress streams on one thread,
 * that accounts for every message each of them gets.
 *
 *   subload -p PORT [-H ADDRESS] -u PATH -n CONNECTIONS [-j JOBS]
 *           [-m sse|ws|poll] [-i POLL_MS] [-d SECONDS] [-e] [-N]
 *           [-r CONNECTS_PER_SEC] [-S SOURCES] [-L LAST_EVENT_ID] [-F]
 *           [-o FILE] [-q]
 *   subload --self-test
 *
 * CONNECTIONS connections to ADDRESS (default 127.0.0.1) port PORT each send
 * GET PATH (HTTP/1.1, Host: localhost); a "%d" in PATH is the connection's
 * index modulo JOBS (default 1), "%%" a percent sign.  Connects are
 * non-blocking and paced at CONNECTS_PER_SEC (default 2000, 0: unpaced) so
 * that the listen backlog does not overflow; a failed connect (or one
 * not made in 10 s) is counted and retried after a short backoff, as is a
 * response head that does not come in 30 s (status 0) and a stream refused
 * with 408, 429 or 5xx.  The open-file limit is raised to what CONNECTIONS
 * needs.  With -S, connection i comes from source address 127.0.0.2 +
 * (i % SOURCES) (127.0.0.255 is followed by 127.0.1.0): a loopback target
 * that limits connections per client address (nginx's limit_conn) then
 * sees CONNECTIONS / SOURCES from each.
 *
 * -m sse (default): Server-Sent Events, with Last-Event-ID: LAST_EVENT_ID
 *    on the first request.  A 200 text/event-stream response is read as a
 *    stream (chunked, Content-Length or close-delimited).  A stream the
 *    server closes before a terminal document is counted in closed_early
 *    and reconnected as an EventSource would (after the server's retry:,
 *    with the last event id seen); with -N it ends the connection instead.
 *    Any other status ends the connection (204, 404, 410 ...).
 * -m ws: a WebSocket upgrade on the same PATH; requires 101 and the right
 *    Sec-WebSocket-Accept.  Text and binary messages (fragmented or not)
 *    are documents; pings are answered; a close is answered, and then
 *    counts like a stream the server closed.  A reconnect has no event id
 *    to resume from: what the server sends again counts as reordered.
 * -m poll: each connection keeps one keep-alive connection and sends GET
 *    PATH every POLL_MS (default 2000; the first at a random offset within
 *    the interval), with If-None-Match: the last ETag once it has one;
 *    reconnects when the server closes.  A 200's body is a document.
 *
 * Every message is a JSON progress document: its top-level seq, status,
 * is_complete and updated_at are read.  Per connection: messages, first
 * and last seq, gaps (seqs skipped), reordered (a seq not above the last),
 * and whether a terminal document came (status completed, failed or
 * cancelled, or is_complete true).  Latency is the wall clock at receipt
 * minus updated_at; with -F, not for a connection's first message (the
 * state of the job when the stream opened, written at any time before).
 *
 * The run ends after SECONDS (fractions allowed), on SIGINT or SIGTERM,
 * or with -e once every connection has ended: a stream closed by the
 * server after a terminal document, a final status, or a protocol error;
 * in poll mode a terminal document or a final status (without -e pollers
 * poll until the end).  Then, on stdout, one "key value..." a line:
 * connections, connected (connections that connected at least once),
 * connects (all successful connects), connect_failures, open (at the end),
 * messages, no_seq (messages without a seq), gaps, reordered, ended,
 * not_ended, terminal_seen, closed_early (streams the server closed before
 * a terminal document), protocol_errors, "status CODE COUNT" lines (every
 * response head; 0: none came), requests (poll mode), latency_samples,
 * "latency_ms p50 X p90 Y p99 Z max W" ("-" without samples; negative
 * latencies count as 0 and in latency_negative), elapsed_s.  With -o, one
 * line per connection: "index path messages first_seq last_seq gaps
 * reordered terminal ended last_status last_event_id" (-1 for no seq; the
 * ETag in poll mode; "-" for none).  -q: no progress on stderr.
 *
 * --self-test checks the SHA-1, base64, WebSocket accept (RFC 3174, 4648,
 * 6455 vectors), RFC 3339, JSON, SSE, chunked, WebSocket and poll parsers
 * and the latency histogram, without a network.
 *
 * Exits 0 when it ran, whatever it measured; 2 on a usage error; 1 if it
 * could not run at all.
 */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BUF_INIT	16384		/* a connection's read buffer at first */
#define BUF_MAX		(1024 * 1024)	/* the largest event or message */
#define HDR_MAX		65536		/* the largest response head */
#define ID_MAX		1024		/* longer event ids and ETags are ignored */
#define PATH_LEN	2048
#define REQ_LEN		(PATH_LEN + 2 * ID_MAX + 512)
#define CONNECT_TIMEOUT_MS	10000
#define RESPONSE_TIMEOUT_MS	30000
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define RETRY_MAX_MS	60000		/* cap on the server's retry: */
#define HIST_N		16384		/* latency buckets, see hist_index() */
#define NSTATUS		1000
#define MAX_CONNS	1000000
#define MAX_SOURCES	65536
#define FIRST_SOURCE	0x7f000002	/* 127.0.0.2: not the address others use */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum mode { M_SSE, M_WS, M_POLL };

enum state {
	S_IDLE,		/* waiting for its timer or in the connect queue */
	S_CONNECTING,
	S_HEADERS,	/* request sent, reading the response head */
	S_BODY,		/* an SSE stream, or a poll response's body */
	S_WS,		/* reading WebSocket frames */
	S_POLL_WAIT,	/* between two polls, with or without a connection */
	S_DONE		/* ended: never reconnects */
};

enum framing { F_NONE, F_CLOSE, F_LENGTH, F_CHUNKED };

enum chunk_state {
	CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
	CH_TRAILER, CH_TRAILER_LINE
};

struct sbuf {
	char		*p;
	uint16_t	 len, cap;
	uint8_t		 set;
};

/*
 * One subscriber.  Its buffer exists only while it holds a partial head,
 * event, message or body: most of 10,000 idle streams hold none.  The
 * buffer is [0, dlen) an event's data or a message being assembled,
 * [dlen, rpos) consumed, [rpos, len) received and not yet parsed.
 */
struct conn {
	int		 fd;
	uint32_t	 idx;
	int32_t		 heap_pos;	/* in the timer heap, or -1 */
	uint8_t		 state;
	uint8_t		 framing;
	uint8_t		 ch_state;
	uint8_t		 ch_digits;
	uint8_t		 keep;		/* may serve another request */
	uint8_t		 in_msg;	/* a fragmented message is open */
	uint8_t		 sse_start;	/* a byte order mark may come */
	uint8_t		 queued;	/* in the connect queue */
	uint8_t		 ever;		/* has connected at least once */
	uint8_t		 has_seq;
	uint8_t		 terminal;
	uint8_t		 ended;
	uint16_t	 fails;		/* in a row, for the backoff */
	int16_t		 last_status;
	uint32_t	 retry_ms;	/* the server's retry:, or 0 */
	int64_t		 wake_at;
	int64_t		 next_poll;
	int64_t		 left;		/* body or chunk bytes to come */
	char		*buf;
	uint32_t	 len, cap, rpos, dlen;
	char		*out;		/* what the socket did not take */
	uint32_t	 outlen;
	struct sbuf	 idbuf;		/* SSE: the id of the event being read */
	struct sbuf	 last_id;	/* SSE: of the last dispatched; poll: ETag */
	uint64_t	 messages, gaps, reordered;
	int64_t		 first_seq, last_seq;
	char		 ws_accept[29];
};

/* What a response head says, pointing into the connection's buffer. */
struct head {
	int		 status;
	int		 keep;
	int		 chunked;
	int64_t		 clen;		/* -1: none */
	const char	*ctype, *etag, *accept, *upgrade;
	size_t		 ctypelen, etaglen, acceptlen, upgradelen;
};

/* What a progress document says. */
struct doc {
	int		 has_seq, has_time, terminal;
	int64_t		 seq;
	int64_t		 time_us;
};

struct sha1 {
	uint32_t	 h[5];
	uint64_t	 bytes;
	unsigned char	 blk[64];
	size_t		 n;
};

static int			 port, njobs = 1, poll_ms = 2000, rate = 2000, nsources;
static int			 eflag, noreconnect, quiet;
static enum mode		 mode = M_SSE;
static const char		*path, *first_id;
static FILE			*outf;
static double			 duration_s;
static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;

static struct conn		*conns;
static uint32_t			 nconns, n_ended, n_open;
static uint32_t			*heap, heap_n;
static uint32_t			*queue, q_head, q_len;
static int			 epfd = -1;
static int64_t			 now;		/* ms, CLOCK_MONOTONIC */
static uint64_t			 rng;
static volatile sig_atomic_t	 stop;
static char			 rbuf[65536];
static unsigned			 complaints;

static struct {
	uint64_t	 connects, connected, connect_failures, messages, no_seq;
	uint64_t	 closed_early, protocol_errors, requests;
	uint64_t	 status[NSTATUS];
} st;

static uint64_t		 hist[HIST_N], nsamples, nnegative;
static int64_t		 lat_max_us;

/* The self-test's view of the first message a connection dispatched. */
static int		 capture;
static int		 skip_first;	/* -F: no latency for a connection's first message */
static char		 captured[512];

static int	 feed(struct conn *, const char *, size_t);

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* splitmix64: WebSocket keys and masks, jitter; not for secrets. */
static uint64_t
rnd(void)
{
	uint64_t	 z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* SHA-1 (RFC 3174), for Sec-WebSocket-Accept only. */
static uint32_t
rol(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t	 w[80], a, b, c, d, e, f, k, t;
	int		 i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void
sha1_init(struct sha1 *s)
{
	static const uint32_t	 iv[5] = {
		0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0
	};

	memcpy(s->h, iv, sizeof(iv));
	s->bytes = 0;
	s->n = 0;
}

static void
sha1_update(struct sha1 *s, const void *data, size_t n)
{
	const unsigned char	*p = data;
	size_t			 k;

	s->bytes += n;
	while (n > 0) {
		k = 64 - s->n < n ? 64 - s->n : n;
		memcpy(s->blk + s->n, p, k);
		s->n += k, p += k, n -= k;
		if (s->n == 64) {
			sha1_block(s->h, s->blk);
			s->n = 0;
		}
	}
}

static void
sha1_final(struct sha1 *s, unsigned char out[20])
{
	uint64_t	 bits = s->bytes * 8;
	unsigned char	 pad = 0x80, len[8];
	int		 i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(s, &pad, 1);
	pad = 0;
	while (s->n != 56)
		sha1_update(s, &pad, 1);
	sha1_update(s, len, 8);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Base64 (RFC 4648) of n bytes into out, which has room for 4*ceil(n/3)+1. */
static void
base64(const unsigned char *p, size_t n, char *out)
{
	static const char	 al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*out++ = al[v >> 18];
		*out++ = al[v >> 12 & 63];
		*out++ = al[v >> 6 & 63];
		*out++ = al[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*out++ = al[v >> 18];
		*out++ = al[v >> 12 & 63];
		*out++ = i + 1 < n ? al[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* RFC 6455 section 4.2.2: the accept value a key must be answered with. */
static void
ws_accept_of(const char *key, char out[29])
{
	struct sha1	 s;
	unsigned char	 md[20];

	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, WS_GUID, strlen(WS_GUID));
	sha1_final(&s, md);
	base64(md, sizeof(md), out);
}

/*
 * Latency histogram in microseconds: exact below 1024, then 512 buckets
 * per power of two (0.2% wide) up to 2^40 us, a fixed 128 KiB however
 * long the run.
 */
static size_t
hist_index(uint64_t v)
{
	int	 e;

	if (v < 1024)
		return (size_t)v;
	if (v >= 1ULL << 40)
		v = (1ULL << 40) - 1;
	e = 63 - __builtin_clzll(v);
	return 1024 + (size_t)(e - 10) * 512 + (size_t)((v >> (e - 9)) - 512);
}

/* The middle of bucket i. */
static double
hist_value(size_t i)
{
	size_t	 j, shift;

	if (i < 1024)
		return (double)i;
	j = i - 1024;
	shift = j / 512 + 1;
	return (double)((512 + j % 512) << shift) + (double)((1UL << shift) - 1) / 2;
}

static void
hist_add(int64_t us)
{
	if (us < 0) {
		nnegative++;
		us = 0;
	}
	hist[hist_index((uint64_t)us)]++;
	if (nsamples++ == 0 || us > lat_max_us)
		lat_max_us = us;
}

/* Nearest rank, in ms. */
static double
hist_pct(double q)
{
	uint64_t	 rank, cum = 0;
	size_t		 i;
	double		 v;

	rank = (uint64_t)(q * (double)nsamples);
	if ((double)rank < q * (double)nsamples)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_N; i++)
		if ((cum += hist[i]) >= rank)
			break;
	v = hist_value(i);
	return (v > (double)lat_max_us ? (double)lat_max_us : v) / 1000.0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		 era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int
digits(const char *p, int n)
{
	int	 v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	return v;
}

/*
 * An RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)) in
 * microseconds since the epoch.
 */
static int
parse_rfc3339(const char *p, size_t n, int64_t *us)
{
	const char	*e = p + n;
	int		 y, mo, d, h, mi, s, oh, om, nd;
	int64_t		 frac = 0, scale = 100000;

	if (n < 20 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != 't' &&
	    p[10] != ' ') || p[13] != ':' || p[16] != ':')
		return -1;
	if ((y = digits(p, 4)) < 0 || (mo = digits(p + 5, 2)) < 1 || mo > 12 ||
	    (d = digits(p + 8, 2)) < 1 || d > 31 || (h = digits(p + 11, 2)) < 0 ||
	    h > 23 || (mi = digits(p + 14, 2)) < 0 || mi > 59 ||
	    (s = digits(p + 17, 2)) < 0 || s > 60)
		return -1;
	p += 19;
	if (*p == '.') {
		for (p++, nd = 0; p < e && isdigit((unsigned char)*p); p++, nd++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
		if (nd == 0)
			return -1;
	}
	*us = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s;
	if (p == e - 1 && (*p == 'Z' || *p == 'z'))
		;
	else if (p == e - 6 && (*p == '+' || *p == '-') && p[3] == ':' &&
	    (oh = digits(p + 1, 2)) >= 0 && oh < 24 && (om = digits(p + 4, 2)) >= 0 &&
	    om < 60)
		*us -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	else
		return -1;
	*us = *us * 1000000 + frac;
	return 0;
}

/* JSON: past a string starting at p ('"'), or NULL if unterminated. */
static const char *
skip_string(const char *p, const char *e)
{
	for (p++; p < e; p++)
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	return NULL;
}

static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/*
 * Past one value: objects and arrays whole (whatever they hold, strings
 * with brackets or keys like ours included), or NULL.
 */
static const char *
skip_value(const char *p, const char *e)
{
	const char	*s = p;
	int		 depth = 0;

	if (p >= e)
		return NULL;
	if (*p == '"')
		return skip_string(p, e);
	if (*p == '{' || *p == '[') {
		while (p < e) {
			if (*p == '"') {
				if ((p = skip_string(p, e)) == NULL)
					return NULL;
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return NULL;
	}
	while (p < e && strchr(",}] \t\r\n", *p) == NULL)
		p++;
	return p == s ? NULL : p;
}

static int
key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/*
 * The top-level seq, status, is_complete and updated_at of a progress
 * document.  Not a validator: what comes before a syntax error counts.
 */
static void
scan_doc(const char *p, size_t n, struct doc *d)
{
	const char	*e = p + n, *k, *v, *ve;
	size_t		 kl;
	int64_t		 seq;

	memset(d, 0, sizeof(*d));
	p = skip_ws(p, e);
	if (p >= e || *p++ != '{')
		return;
	for (;;) {
		p = skip_ws(p, e);
		if (p >= e || *p != '"')
			return;
		k = p + 1;
		if ((p = skip_string(p, e)) == NULL)
			return;
		kl = (size_t)(p - 1 - k);
		p = skip_ws(p, e);
		if (p >= e || *p++ != ':')
			return;
		v = skip_ws(p, e);
		if ((ve = skip_value(v, e)) == NULL)
			return;
		if (key_is(k, kl, "seq")) {
			for (p = v + (*v == '-'), seq = 0; p < ve && isdigit((unsigned char)*p) &&
			    seq < INT64_MAX / 10 - 9; p++)
				seq = seq * 10 + (*p - '0');
			if (p == ve && p > v + (*v == '-')) {
				d->seq = *v == '-' ? -seq : seq;
				d->has_seq = 1;
			}
		} else if (key_is(k, kl, "status") && *v == '"') {
			if (key_is(v + 1, (size_t)(ve - v - 2), "completed") ||
			    key_is(v + 1, (size_t)(ve - v - 2), "failed") ||
			    key_is(v + 1, (size_t)(ve - v - 2), "cancelled"))
				d->terminal = 1;
		} else if (key_is(k, kl, "is_complete")) {
			if (key_is(v, (size_t)(ve - v), "true"))
				d->terminal = 1;
		} else if (key_is(k, kl, "updated_at") && *v == '"') {
			if (parse_rfc3339(v + 1, (size_t)(ve - v - 2), &d->time_us) == 0)
				d->has_time = 1;
		}
		p = skip_ws(ve, e);
		if (p >= e || *p++ != ',')
			return;
	}
}

static void
sbuf_set(struct sbuf *s, const char *p, size_t n)
{
	char	*np;

	if (n > ID_MAX)
		return;
	if (n + 1 > s->cap) {
		if ((np = realloc(s->p, n + 1 < 32 ? 32 : n + 1)) == NULL)
			return;
		s->p = np;
		s->cap = (uint16_t)(n + 1 < 32 ? 32 : n + 1);
	}
	memcpy(s->p, p, n);
	s->p[n] = '\0';
	s->len = (uint16_t)n;
	s->set = 1;
}

/* Timers: a binary min-heap of connections by wake_at. */
static void
heap_put(uint32_t i, uint32_t ci)
{
	heap[i] = ci;
	conns[ci].heap_pos = (int32_t)i;
}

static void
heap_up(uint32_t i)
{
	uint32_t	 ci = heap[i], p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (conns[heap[p]].wake_at <= conns[ci].wake_at)
			break;
		heap_put(i, heap[p]);
		i = p;
	}
	heap_put(i, ci);
}

static void
heap_down(uint32_t i)
{
	uint32_t	 ci = heap[i], c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= heap_n)
			break;
		if (c + 1 < heap_n && conns[heap[c + 1]].wake_at < conns[heap[c]].wake_at)
			c++;
		if (conns[ci].wake_at <= conns[heap[c]].wake_at)
			break;
		heap_put(i, heap[c]);
		i = c;
	}
	heap_put(i, ci);
}

static void
timer_clear(struct conn *c)
{
	uint32_t	 i;

	if (c->heap_pos < 0)
		return;
	i = (uint32_t)c->heap_pos;
	c->heap_pos = -1;
	if (i == --heap_n)
		return;
	heap_put(i, heap[heap_n]);
	heap_down(i);
	heap_up((uint32_t)conns[heap[heap_n]].heap_pos);
}

static void
timer_set(struct conn *c, int64_t at)
{
	timer_clear(c);
	c->wake_at = at;
	heap_put(heap_n, c->idx);
	heap_up(heap_n++);
}

/* Jittered, doubling with the failures in a row. */
static int64_t
backoff(struct conn *c)
{
	int64_t		 d = BACKOFF_MIN_MS;
	int		 i;

	for (i = 1; i < c->fails && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return d / 2 + (int64_t)(rnd() % (uint64_t)(d / 2 + 1));
}

static void
complain(struct conn *c, const char *what)
{
	if (!quiet && complaints++ < 10)
		fprintf(stderr, "subload: connection %u: %s\n", c->idx, what);
}

static int
watch(struct conn *c, uint32_t events)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = c->idx;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
buf_free(struct conn *c)
{
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = c->rpos = c->dlen = 0;
}

static int
buf_grow(struct conn *c, size_t max)
{
	size_t	 ncap = c->cap == 0 ? BUF_INIT : 2 * (size_t)c->cap;
	char	*nb;

	if (c->cap >= max)
		return -1;
	if (ncap > max)
		ncap = max;
	if ((nb = realloc(c->buf, ncap)) == NULL)
		return -1;
	c->buf = nb;
	c->cap = (uint32_t)ncap;
	return 0;
}

static int
buf_put(struct conn *c, const char *p, size_t n, size_t max)
{
	while (c->cap - c->len < n)
		if (buf_grow(c, max) == -1)
			return -1;
	memcpy(c->buf + c->len, p, n);
	c->len += (uint32_t)n;
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
		n_open--;
	}
	buf_free(c);
	free(c->out);
	c->out = NULL;
	c->outlen = 0;
	c->in_msg = 0;
	timer_clear(c);
}

static void
conn_end(struct conn *c)
{
	conn_close(c);
	c->state = S_DONE;
	if (!c->ended) {
		c->ended = 1;
		n_ended++;
	}
}

static void
conn_retry(struct conn *c, int64_t delay)
{
	conn_close(c);
	c->state = S_IDLE;
	timer_set(c, now + delay);
}

static void
enqueue(struct conn *c)
{
	c->state = S_IDLE;
	if (c->queued)
		return;
	c->queued = 1;
	queue[(q_head + q_len++) % nconns] = c->idx;
}

/* Ends c for good: what it got is not what the protocol allows. */
static int
proto_error(struct conn *c, const char *what)
{
	complain(c, what);
	st.protocol_errors++;
	conn_end(c);
	return -1;
}

static int
retryable(int status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

/* The request got no response head: status 0, and retry. */
static void
no_response(struct conn *c)
{
	st.status[0]++;
	c->last_status = 0;
	c->fails++;
	conn_retry(c, backoff(c));
}

static void
connect_failed(struct conn *c)
{
	st.connect_failures++;
	c->fails++;
	conn_retry(c, backoff(c));
}

/*
 * The server ended a stream (EOF, the last chunk, a WebSocket close).
 * After a terminal document that is the end; before one it is early.
 */
static void
stream_finished(struct conn *c)
{
	if (c->terminal) {
		conn_end(c);
		return;
	}
	st.closed_early++;
	if (noreconnect)
		conn_end(c);
	else
		conn_retry(c, c->retry_ms > 0 ? c->retry_ms : backoff(c));
}

static int
conn_send(struct conn *c, const void *p, size_t n)
{
	ssize_t		 k = 0;
	char		*o;

	if (c->outlen == 0) {
		if ((k = send(c->fd, p, n, MSG_NOSIGNAL)) == (ssize_t)n)
			return 0;
		if (k == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			k = 0;
		}
	}
	if ((o = realloc(c->out, c->outlen + n - (size_t)k)) == NULL)
		return -1;
	memcpy(o + c->outlen, (const char *)p + k, n - (size_t)k);
	c->out = o;
	c->outlen += (uint32_t)(n - (size_t)k);
	return watch(c, EPOLLIN | EPOLLOUT);
}

static int
flush_out(struct conn *c)
{
	ssize_t	 k;

	if ((k = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL)) == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	memmove(c->out, c->out + k, c->outlen - (size_t)k);
	if ((c->outlen -= (uint32_t)k) > 0)
		return 0;
	free(c->out);
	c->out = NULL;
	return watch(c, EPOLLIN);
}

/* A client frame: masked, as RFC 6455 requires; control frames only. */
static int
ws_send(struct conn *c, int op, const unsigned char *p, size_t n)
{
	unsigned char	 f[6 + 125];
	uint64_t	 m = rnd();
	size_t		 i;

	f[0] = (unsigned char)(0x80 | op);
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, &m, 4);
	for (i = 0; i < n; i++)
		f[6 + i] = p[i] ^ f[2 + (i & 3)];
	return conn_send(c, f, 6 + n);
}

/* The path of connection idx: "%d" is its job, "%%" a percent. */
static int
expand_path(char *out, size_t size, uint32_t idx)
{
	const char	*s;
	size_t		 o = 0;
	int		 k;

	for (s = path; *s != '\0'; s++) {
		if (o + 12 >= size)
			return -1;
		if (s[0] == '%' && s[1] == 'd') {
			k = snprintf(out + o, size - o, "%u", idx % (uint32_t)njobs);
			o += (size_t)k;
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			out[o++] = '%';
			s++;
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
	return 0;
}

static void
reset_response(struct conn *c)
{
	buf_free(c);
	c->framing = F_NONE;
	c->ch_state = CH_SIZE;
	c->ch_digits = 0;
	c->left = 0;
	c->keep = 1;
	c->in_msg = 0;
}

/* The request of c's mode; false if the socket would not take it. */
static int
send_request(struct conn *c)
{
	char		 req[REQ_LEN], p[PATH_LEN], key[25];
	unsigned char	 nonce[16];
	uint64_t	 r[2];
	int		 n;

	expand_path(p, sizeof(p), c->idx);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
	    "User-Agent: subload\r\n", p);
	switch (mode) {
	case M_SSE:
		n += snprintf(req + n, sizeof(req) - (size_t)n,
		    "Accept: text/event-stream\r\nCache-Control: no-cache\r\n");
		/* An EventSource sends the last id it saw, none if it was empty. */
		if (c->last_id.set ? c->last_id.len > 0 : first_id != NULL)
			n += snprintf(req + n, sizeof(req) - (size_t)n,
			    "Last-Event-ID: %s\r\n", c->last_id.set ? c->last_id.p : first_id);
		break;
	case M_WS:
		r[0] = rnd();
		r[1] = rnd();
		memcpy(nonce, r, sizeof(nonce));
		base64(nonce, sizeof(nonce), key);
		ws_accept_of(key, c->ws_accept);
		n += snprintf(req + n, sizeof(req) - (size_t)n, "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
		    "Sec-WebSocket-Key: %s\r\n", key);
		if (first_id != NULL)
			n += snprintf(req + n, sizeof(req) - (size_t)n,
			    "Last-Event-ID: %s\r\n", first_id);
		break;
	case M_POLL:
		n += snprintf(req + n, sizeof(req) - (size_t)n, "Accept: application/json\r\n");
		if (c->last_id.set)
			n += snprintf(req + n, sizeof(req) - (size_t)n,
			    "If-None-Match: %s\r\n", c->last_id.p);
		st.requests++;
		break;
	}
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	reset_response(c);
	c->state = S_HEADERS;
	timer_set(c, now + RESPONSE_TIMEOUT_MS);
	return conn_send(c, req, (size_t)n) == 0;
}

static void
poll_send(struct conn *c)
{
	if (!send_request(c)) {
		no_response(c);
		return;
	}
	/* A fixed rate, unless it fell behind. */
	if ((c->next_poll += poll_ms) <= now)
		c->next_poll = now + poll_ms;
}

static void
connected(struct conn *c)
{
	st.connects++;
	if (!c->ever) {
		c->ever = 1;
		st.connected++;
	}
	timer_clear(c);
	if (watch(c, EPOLLIN) == -1) {
		connect_failed(c);
		return;
	}
	if (mode != M_POLL) {
		if (!send_request(c))
			no_response(c);
		return;
	}
	if (c->next_poll == 0)
		c->next_poll = now + (int64_t)(rnd() % (uint64_t)poll_ms);
	if (c->next_poll <= now)
		poll_send(c);
	else {
		c->state = S_POLL_WAIT;
		timer_set(c, c->next_poll);
	}
}

static void
start_connect(struct conn *c)
{
	struct epoll_event	 ev;
	struct sockaddr_in	 src;
	int			 one = 1, r;

	if ((c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		if (!quiet && complaints++ < 10)
			perror("subload: socket");
		connect_failed(c);
		return;
	}
	n_open++;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nsources > 0) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(FIRST_SOURCE + c->idx % (uint32_t)nsources);
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* The port is chosen at connect(), per destination: more of them. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			if (!quiet && complaints++ < 10)
				perror("subload: bind");
			connect_failed(c);
			return;
		}
	}
	r = connect(c->fd, (struct sockaddr *)&addr, addrlen);
	memset(&ev, 0, sizeof(ev));
	ev.events = r == 0 ? EPOLLIN : EPOLLOUT;
	ev.data.u32 = c->idx;
	if ((r == -1 && errno != EINPROGRESS) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		connect_failed(c);
		return;
	}
	if (r == 0)
		connected(c);
	else {
		c->state = S_CONNECTING;
		timer_set(c, now + CONNECT_TIMEOUT_MS);
	}
}

/*
 * Per message: the seq accounting, terminal or not, and the latency.
 */
static void
on_message(struct conn *c, const char *p, size_t n)
{
	struct doc	 d;

	if (capture && c->messages == 0) {
		memcpy(captured, p, n < sizeof(captured) - 1 ? n : sizeof(captured) - 1);
		captured[n < sizeof(captured) - 1 ? n : sizeof(captured) - 1] = '\0';
	}
	c->messages++;
	st.messages++;
	scan_doc(p, n, &d);
	if (!d.has_seq)
		st.no_seq++;
	else if (!c->has_seq) {
		c->has_seq = 1;
		c->first_seq = c->last_seq = d.seq;
	} else if (d.seq > c->last_seq) {
		c->gaps += (uint64_t)(d.seq - c->last_seq - 1);
		c->last_seq = d.seq;
	} else
		c->reordered++;
	if (d.terminal)
		c->terminal = 1;
	/* The first is the job's state when the stream opened, written whenever. */
	if (d.has_time && !(skip_first && c->messages == 1))
		hist_add(wall_us() - d.time_us);
}

/*
 * SSE (HTML, "Interpreting an event stream").  A data: value moves down
 * to dlen, which never passes the line it comes from.
 */
static int
sse_dispatch(struct conn *c)
{
	if (c->idbuf.set)
		sbuf_set(&c->last_id, c->idbuf.p, c->idbuf.len);
	if (c->dlen == 0)
		return 0;
	on_message(c, c->buf, c->dlen - 1);
	c->dlen = 0;
	return 0;
}

static int
sse_line(struct conn *c, const char *line, size_t n)
{
	const char	*colon, *v;
	size_t		 fl, vl, i;
	uint32_t	 ms;

	if (n == 0)
		return sse_dispatch(c);
	if (line[0] == ':')
		return 0;
	if ((colon = memchr(line, ':', n)) != NULL) {
		fl = (size_t)(colon - line);
		v = colon + 1;
		vl = n - fl - 1;
		if (vl > 0 && *v == ' ')
			v++, vl--;
	} else {
		fl = n;
		v = line + n;
		vl = 0;
	}
	if (fl == 4 && memcmp(line, "data", 4) == 0) {
		memmove(c->buf + c->dlen, v, vl);
		c->dlen += (uint32_t)vl;
		c->buf[c->dlen++] = '\n';
	} else if (fl == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(v, '\0', vl) == NULL)
			sbuf_set(&c->idbuf, v, vl);
	} else if (fl == 5 && memcmp(line, "retry", 5) == 0 && vl > 0) {
		for (i = 0, ms = 0; i < vl && isdigit((unsigned char)v[i]); i++)
			if ((ms = ms * 10 + (uint32_t)(v[i] - '0')) > RETRY_MAX_MS)
				ms = RETRY_MAX_MS;
		if (i == vl)
			c->retry_ms = ms;
	}
	/* event: and unknown fields: the type does not matter here. */
	return 0;
}

static int
sse_process(struct conn *c)
{
	static const char	 bom[] = "\xef\xbb\xbf";
	char			*b = c->buf;
	size_t			 i, next, start, have;

	if (c->sse_start) {
		have = c->len - c->rpos;
		if (memcmp(b + c->rpos, bom, have < 3 ? have : 3) == 0) {
			if (have < 3)
				return 0;
			c->rpos += 3;
		}
		c->sse_start = 0;
	}
	for (;;) {
		for (i = c->rpos; i < c->len && b[i] != '\n' && b[i] != '\r'; i++)
			;
		if (i == c->len)
			return 0;
		if (b[i] == '\r') {
			if (i + 1 == c->len)
				return 0;	/* may be a CRLF */
			next = b[i + 1] == '\n' ? i + 2 : i + 1;
		} else
			next = i + 1;
		start = c->rpos;
		c->rpos = (uint32_t)next;
		if (sse_line(c, b + start, i - start) == -1)
			return -1;
	}
}

/*
 * WebSocket frames (RFC 6455 section 5).  A fragmented message gathers
 * at [0, dlen); a whole one is read where it lies.
 */
static int
ws_process(struct conn *c)
{
	unsigned char	*b, *h, *pl;
	uint64_t	 plen;
	size_t		 avail, hl, i;
	int		 fin, op;

	for (;;) {
		b = (unsigned char *)c->buf;
		h = b + c->rpos;
		if ((avail = c->len - c->rpos) < 2)
			return 0;
		fin = h[0] & 0x80;
		op = h[0] & 0x0f;
		if (h[0] & 0x70)
			return proto_error(c, "WebSocket frame with RSV bits");
		if (h[1] & 0x80)
			return proto_error(c, "masked WebSocket frame from the server");
		plen = h[1] & 0x7f;
		hl = 2;
		if (plen == 126) {
			if (avail < 4)
				return 0;
			plen = (uint64_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (plen == 127) {
			if (avail < 10)
				return 0;
			for (plen = 0, i = 2; i < 10; i++)
				plen = plen << 8 | h[i];
			hl = 10;
		}
		if (plen > BUF_MAX || plen + hl + c->dlen > BUF_MAX)
			return proto_error(c, "WebSocket message larger than 1 MiB");
		if ((op & 8) && (!fin || plen > 125))
			return proto_error(c, "fragmented or long WebSocket control frame");
		if (avail < hl + plen)
			return 0;
		pl = h + hl;
		c->rpos += (uint32_t)(hl + plen);
		switch (op) {
		case 0x1:
		case 0x2:
			if (c->in_msg)
				return proto_error(c, "WebSocket data frame inside a message");
			if (fin)
				on_message(c, (char *)pl, plen);
			else {
				memmove(b, pl, plen);
				c->dlen = (uint32_t)plen;
				c->in_msg = 1;
			}
			break;
		case 0x0:
			if (!c->in_msg)
				return proto_error(c, "WebSocket continuation outside a message");
			memmove(b + c->dlen, pl, plen);
			c->dlen += (uint32_t)plen;
			if (fin) {
				on_message(c, c->buf, c->dlen);
				c->dlen = 0;
				c->in_msg = 0;
			}
			break;
		case 0x8:
			if (plen == 1)
				return proto_error(c, "WebSocket close with a 1-byte body");
			/* Echo the status code; the socket closes next. */
			ws_send(c, 0x8, pl, plen >= 2 ? 2 : 0);
			stream_finished(c);
			return -1;
		case 0x9:
			if (ws_send(c, 0xa, pl, plen) == -1) {
				stream_finished(c);
				return -1;
			}
			break;
		case 0xa:
			break;
		default:
			return proto_error(c, "unknown WebSocket opcode");
		}
	}
}

/*
 * Appends a stream's bytes and parses them, a buffer's room at a time:
 * the buffer grows only when one event or message fills it.
 */
static int
stream_append(struct conn *c, const char *p, size_t n, int (*process)(struct conn *))
{
	size_t	 k;

	while (n > 0) {
		if (c->rpos > c->dlen) {
			memmove(c->buf + c->dlen, c->buf + c->rpos, c->len - c->rpos);
			c->len -= c->rpos - c->dlen;
			c->rpos = c->dlen;
		}
		if (c->len == c->cap && buf_grow(c, BUF_MAX) == -1)
			return proto_error(c, "event or message larger than 1 MiB");
		k = c->cap - c->len < n ? c->cap - c->len : n;
		memcpy(c->buf + c->len, p, k);
		c->len += (uint32_t)k;
		p += k;
		n -= k;
		if (process(c) == -1)
			return -1;
	}
	if (c->dlen == 0 && c->rpos == c->len)
		buf_free(c);
	return 0;
}

/* A poll response is complete. */
static int
poll_done(struct conn *c)
{
	if (c->last_status == 200 && c->len > 0)
		on_message(c, c->buf, c->len);
	buf_free(c);
	timer_clear(c);
	if (eflag && (c->terminal || (c->last_status != 200 && c->last_status != 304 &&
	    !retryable(c->last_status)))) {
		conn_end(c);
		return -1;
	}
	c->state = S_POLL_WAIT;
	if (!c->keep) {
		conn_close(c);
		timer_set(c, c->next_poll);
		return -1;
	}
	timer_set(c, c->next_poll);
	return 0;
}

static int
body_data(struct conn *c, const char *p, size_t n)
{
	if (mode != M_POLL)
		return stream_append(c, p, n, sse_process);
	if (buf_put(c, p, n, BUF_MAX) == -1)
		return proto_error(c, "response body larger than 1 MiB");
	return 0;
}

static int
body_done(struct conn *c)
{
	if (mode == M_POLL)
		return poll_done(c);
	stream_finished(c);
	return -1;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void
chunk_start(struct conn *c)
{
	c->ch_state = c->left == 0 ? CH_TRAILER : CH_DATA;
}

static void
chunk_next(struct conn *c)
{
	c->ch_state = CH_SIZE;
	c->ch_digits = 0;
	c->left = 0;
}

/* Transfer-Encoding: chunked (RFC 9112 section 7.1). */
static long
dechunk(struct conn *c, const char *p, size_t n)
{
	size_t	 i = 0, k;
	int	 ch, d;

	while (i < n) {
		ch = (unsigned char)p[i];
		switch (c->ch_state) {
		case CH_SIZE:
			if ((d = hexval(ch)) >= 0) {
				if (c->left > (int64_t)1 << 40)
					return proto_error(c, "chunk too large");
				c->left = c->left * 16 + d;
				c->ch_digits = 1;
			} else if (!c->ch_digits)
				return proto_error(c, "bad chunk size");
			else if (ch == ';' || ch == ' ' || ch == '\t')
				c->ch_state = CH_EXT;
			else if (ch == '\r')
				c->ch_state = CH_SIZE_LF;
			else if (ch == '\n')
				chunk_start(c);
			else
				return proto_error(c, "bad chunk size");
			i++;
			break;
		case CH_EXT:
			if (ch == '\n')
				chunk_start(c);
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return proto_error(c, "bad chunk size line");
			chunk_start(c);
			i++;
			break;
		case CH_DATA:
			k = n - i < (uint64_t)c->left ? n - i : (size_t)c->left;
			if (body_data(c, p + i, k) == -1)
				return -1;
			i += k;
			if ((c->left -= (int64_t)k) == 0)
				c->ch_state = CH_DATA_CR;
			break;
		case CH_DATA_CR:
			if (ch == '\r')
				c->ch_state = CH_DATA_LF;
			else if (ch == '\n')
				chunk_next(c);
			else
				return proto_error(c, "chunk longer than its size");
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return proto_error(c, "chunk longer than its size");
			chunk_next(c);
			i++;
			break;
		case CH_TRAILER:
			i++;
			if (ch == '\n')
				return body_done(c) == -1 ? -1 : (long)i;
			if (ch != '\r')
				c->ch_state = CH_TRAILER_LINE;
			break;
		case CH_TRAILER_LINE:
			i++;
			if (ch == '\n')
				c->ch_state = CH_TRAILER;
			break;
		}
	}
	return (long)i;
}

static long
feed_body(struct conn *c, const char *p, size_t n)
{
	size_t	 k;

	switch (c->framing) {
	case F_CHUNKED:
		return dechunk(c, p, n);
	case F_LENGTH:
		k = n < (uint64_t)c->left ? n : (size_t)c->left;
		if (body_data(c, p, k) == -1)
			return -1;
		if ((c->left -= (int64_t)k) == 0 && body_done(c) == -1)
			return -1;
		return (long)k;
	default:
		return body_data(c, p, n) == -1 ? -1 : (long)n;
	}
}

static int
name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

static int
ci_contains(const char *p, size_t n, const char *word)
{
	size_t	 wl = strlen(word), i;

	for (i = 0; i + wl <= n; i++)
		if (strncasecmp(p + i, word, wl) == 0)
			return 1;
	return 0;
}

/* Index just past the empty line ending a head in b[0, n), or 0. */
static size_t
head_end(const char *b, size_t from, size_t n)
{
	size_t	 i;

	for (i = from; i < n; i++)
		if (b[i] == '\n') {
			if (i + 1 < n && b[i + 1] == '\n')
				return i + 2;
			if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
				return i + 3;
		}
	return 0;
}

static int
parse_head(const char *b, size_t n, struct head *h)
{
	const char	*p = b, *e = b + n, *eol, *colon, *v;
	size_t		 l, nl, vl;
	int		 s;

	memset(h, 0, sizeof(*h));
	h->clen = -1;
	if ((eol = memchr(p, '\n', (size_t)(e - p))) == NULL || eol - p < 12 ||
	    strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || (s = digits(p + 9, 3)) < 100)
		return -1;
	h->status = s;
	h->keep = p[7] == '1';
	for (p = eol + 1; p < e && (eol = memchr(p, '\n', (size_t)(e - p))) != NULL;
	    p = eol + 1) {
		l = (size_t)(eol - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if ((colon = memchr(p, ':', l)) == NULL)
			continue;
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < p + l && (*v == ' ' || *v == '\t'); v++)
			;
		for (vl = (size_t)(p + l - v); vl > 0 && (v[vl - 1] == ' ' ||
		    v[vl - 1] == '\t'); vl--)
			;
		if (name_is(p, nl, "content-type"))
			h->ctype = v, h->ctypelen = vl;
		else if (name_is(p, nl, "content-length")) {
			for (h->clen = 0; vl > 0 && isdigit((unsigned char)*v) &&
			    h->clen < (int64_t)1 << 40; v++, vl--)
				h->clen = h->clen * 10 + (*v - '0');
			if (vl > 0)
				return -1;
		} else if (name_is(p, nl, "transfer-encoding"))
			h->chunked = ci_contains(v, vl, "chunked");
		else if (name_is(p, nl, "connection")) {
			if (ci_contains(v, vl, "close"))
				h->keep = 0;
			else if (ci_contains(v, vl, "keep-alive"))
				h->keep = 1;
		} else if (name_is(p, nl, "etag"))
			h->etag = v, h->etaglen = vl;
		else if (name_is(p, nl, "sec-websocket-accept"))
			h->accept = v, h->acceptlen = vl;
		else if (name_is(p, nl, "upgrade"))
			h->upgrade = v, h->upgradelen = vl;
	}
	return 0;
}

static void
set_framing(struct conn *c, const struct head *h)
{
	if (h->chunked)
		c->framing = F_CHUNKED;
	else if (h->clen >= 0) {
		c->framing = F_LENGTH;
		c->left = h->clen;
	} else {
		c->framing = F_CLOSE;
		c->keep = 0;
	}
}

/* A complete response head.  Returns -1 once c has been closed. */
static int
on_head(struct conn *c, const struct head *h)
{
	int	 is_es, ws_ok;

	st.status[h->status < NSTATUS ? h->status : NSTATUS - 1]++;
	c->last_status = (int16_t)h->status;
	if (mode == M_POLL && h->etag != NULL && (h->status == 200 || h->status == 304))
		sbuf_set(&c->last_id, h->etag, h->etaglen);
	is_es = h->ctype != NULL && h->ctypelen >= 17 &&
	    strncasecmp(h->ctype, "text/event-stream", 17) == 0 &&
	    (h->ctypelen == 17 || h->ctype[17] == ';' || h->ctype[17] == ' ');
	ws_ok = h->accept != NULL && h->acceptlen == 28 &&
	    memcmp(h->accept, c->ws_accept, 28) == 0 && h->upgrade != NULL &&
	    name_is(h->upgrade, h->upgradelen, "websocket");
	/* The head's text is not needed past here: the body takes the buffer. */
	buf_free(c);
	if (h->status < 200 && !(mode == M_WS && h->status == 101))
		return 0;	/* interim: the real head follows */
	c->keep = (uint8_t)h->keep;
	switch (mode) {
	case M_SSE:
		if (h->status != 200)
			break;
		if (!is_es)
			return proto_error(c, "200 without Content-Type: text/event-stream");
		c->fails = 0;
		timer_clear(c);
		c->state = S_BODY;
		c->sse_start = 1;
		set_framing(c, h);
		if (c->framing == F_LENGTH && c->left == 0)
			return body_done(c);
		return 0;
	case M_WS:
		if (h->status != 101)
			break;
		if (!ws_ok)
			return proto_error(c, "101 without the right Sec-WebSocket-Accept");
		c->fails = 0;
		timer_clear(c);
		c->state = S_WS;
		return 0;
	case M_POLL:
		c->state = S_BODY;
		if (h->status == 204 || h->status == 304)
			c->framing = F_NONE;
		else
			set_framing(c, h);
		if (c->framing == F_NONE || (c->framing == F_LENGTH && c->left == 0))
			return poll_done(c);
		return 0;
	}
	/* A stream refused: retry what may pass, end on the rest. */
	if (retryable(h->status)) {
		c->fails++;
		conn_retry(c, backoff(c));
	} else
		conn_end(c);
	return -1;
}

static long
feed_head(struct conn *c, const char *p, size_t n)
{
	struct head	 h;
	size_t		 from, end, k;

	if (c->len == c->cap && buf_grow(c, HDR_MAX) == -1)
		return proto_error(c, "response head larger than 64 KiB");
	/* What fits: a body behind the head is not the head's to hold. */
	k = c->cap - c->len < n ? c->cap - c->len : n;
	from = c->len > 2 ? c->len - 2 : 0;
	memcpy(c->buf + c->len, p, k);
	c->len += (uint32_t)k;
	if ((end = head_end(c->buf, from, c->len)) == 0)
		return (long)k;
	/* The head ends in these k bytes: the rest of them is body. */
	k -= c->len - end;
	if (parse_head(c->buf, end, &h) == -1)
		return proto_error(c, "bad response head");
	return on_head(c, &h) == -1 ? -1 : (long)k;
}

/* Feeds bytes received on c.  Returns -1 once c has been closed. */
static int
feed(struct conn *c, const char *p, size_t n)
{
	long	 k;

	while (n > 0) {
		switch (c->state) {
		case S_HEADERS:
			k = feed_head(c, p, n);
			break;
		case S_BODY:
			k = feed_body(c, p, n);
			break;
		case S_WS:
			k = stream_append(c, p, n, ws_process) == -1 ? -1 : (long)n;
			break;
		default:
			return proto_error(c, "data nothing was asked for");
		}
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void
on_eof(struct conn *c)
{
	switch (c->state) {
	case S_HEADERS:
		no_response(c);
		break;
	case S_BODY:
		if (mode != M_POLL)
			stream_finished(c);
		else if (c->framing == F_CLOSE)
			poll_done(c);
		else
			proto_error(c, "response body cut short");
		break;
	case S_WS:
		stream_finished(c);
		break;
	case S_POLL_WAIT:
		/* The server ended the keep-alive: the next poll reconnects. */
		conn_close(c);
		timer_set(c, c->next_poll);
		break;
	default:
		conn_close(c);
		break;
	}
}

static void
on_timer(struct conn *c)
{
	switch (c->state) {
	case S_IDLE:
		enqueue(c);
		break;
	case S_CONNECTING:
		connect_failed(c);
		break;
	case S_HEADERS:
	case S_BODY:
		no_response(c);
		break;
	case S_POLL_WAIT:
		if (c->fd == -1)
			enqueue(c);
		else
			poll_send(c);
		break;
	default:
		break;
	}
}

static void
on_event(struct conn *c, uint32_t ev)
{
	ssize_t		 n;
	socklen_t	 sl;
	int		 err = 0;

	if (c->fd == -1)
		return;
	if (c->state == S_CONNECTING) {
		sl = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err != 0 ||
		    !(ev & EPOLLOUT))
			connect_failed(c);
		else
			connected(c);
		return;
	}
	if ((ev & EPOLLOUT) && c->outlen > 0 && flush_out(c) == -1) {
		on_eof(c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if ((n = recv(c->fd, rbuf, sizeof(rbuf), 0)) > 0)
			feed(c, rbuf, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			on_eof(c);
	}
}

static int
setup(uint32_t n)
{
	uint32_t	 i;

	nconns = n;
	if ((conns = calloc(n, sizeof(*conns))) == NULL ||
	    (heap = calloc(n, sizeof(*heap))) == NULL ||
	    (queue = calloc(n, sizeof(*queue))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		conns[i].fd = -1;
		conns[i].idx = i;
		conns[i].heap_pos = -1;
		conns[i].first_seq = conns[i].last_seq = -1;
	}
	return 0;
}

static void
teardown(void)
{
	uint32_t	 i;

	for (i = 0; i < nconns; i++) {
		conn_close(&conns[i]);
		free(conns[i].idbuf.p);
		free(conns[i].last_id.p);
	}
	free(conns);
	free(heap);
	free(queue);
	conns = NULL;
	heap = queue = NULL;
	nconns = heap_n = q_head = q_len = 0;
}

static int
raise_nofile(rlim_t need)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need)
		rl.rlim_max = need;	/* root may */
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
progress(int64_t t0)
{
	uint64_t	 m = 0;
	uint32_t	 i;

	for (i = 0; i < nconns; i++)
		m += conns[i].messages;
	fprintf(stderr, "subload: %.1f s: connected %llu/%u open %u failures %llu "
	    "messages %llu ended %u\n", (double)(now - t0) / 1000,
	    (unsigned long long)st.connected, nconns, n_open,
	    (unsigned long long)st.connect_failures, (unsigned long long)m, n_ended);
}

static void
run(void)
{
	struct epoll_event	 evs[1024];
	int64_t			 t0, deadline, last, next_report, wait, tok_ms;
	double			 tokens, burst;
	int			 i, n;
	uint32_t		 ci;

	t0 = last = now = now_ms();
	deadline = duration_s > 0 ? t0 + (int64_t)(duration_s * 1000) : INT64_MAX;
	next_report = t0 + 1000;
	burst = rate / 100.0 < 1 ? 1 : rate / 100.0;
	tokens = burst;
	for (ci = 0; ci < nconns; ci++)
		enqueue(&conns[ci]);
	while (!stop && now < deadline && !(eflag && n_ended == nconns)) {
		while (heap_n > 0 && conns[heap[0]].wake_at <= now) {
			ci = heap[0];
			timer_clear(&conns[ci]);
			on_timer(&conns[ci]);
		}
		if (rate > 0) {
			tokens += (double)(now - last) * rate / 1000;
			if (tokens > burst)
				tokens = burst;
		}
		last = now;
		while (q_len > 0 && (rate == 0 || tokens >= 1)) {
			ci = queue[q_head];
			q_head = (q_head + 1) % nconns;
			q_len--;
			conns[ci].queued = 0;
			tokens -= 1;
			start_connect(&conns[ci]);
		}
		if (!quiet && now >= next_report) {
			progress(t0);
			next_report += 1000;
		}
		wait = deadline - now;
		if (!quiet && next_report - now < wait)
			wait = next_report - now;
		if (heap_n > 0 && conns[heap[0]].wake_at - now < wait)
			wait = conns[heap[0]].wake_at - now;
		if (q_len > 0 && rate > 0) {
			/* Until the next token. */
			tok_ms = (int64_t)((1 - tokens) * 1000 / rate) + 1;
			if (tok_ms < wait)
				wait = tok_ms;
		}
		if (wait < 0)
			wait = 0;
		if (wait > 1000)
			wait = 1000;
		n = epoll_wait(epfd, evs, 1024, (int)wait);
		now = now_ms();
		for (i = 0; i < n; i++)
			on_event(&conns[evs[i].data.u32], evs[i].events);
	}
}

static void
report(double elapsed)
{
	FILE		*f = outf;
	char		 p[PATH_LEN];
	struct conn	*c;
	uint64_t	 m = 0, gaps = 0, reord = 0, term = 0;
	uint32_t	 i;

	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		m += c->messages;
		gaps += c->gaps;
		reord += c->reordered;
		term += c->terminal;
		if (f == NULL)
			continue;
		expand_path(p, sizeof(p), i);
		fprintf(f, "%u %s %llu %lld %lld %llu %llu %d %d %d %s\n", i, p,
		    (unsigned long long)c->messages, (long long)c->first_seq,
		    (long long)c->last_seq, (unsigned long long)c->gaps,
		    (unsigned long long)c->reordered, c->terminal, c->ended,
		    c->last_status, c->last_id.set && c->last_id.len > 0 &&
		    strpbrk(c->last_id.p, " \t") == NULL ? c->last_id.p : "-");
	}
	if (f != NULL)
		fclose(f);
	printf("connections %u\nconnected %llu\nconnects %llu\nconnect_failures %llu\n"
	    "open %u\nmessages %llu\nno_seq %llu\ngaps %llu\nreordered %llu\n"
	    "ended %u\nnot_ended %u\nterminal_seen %llu\nclosed_early %llu\n"
	    "protocol_errors %llu\n", nconns, (unsigned long long)st.connected,
	    (unsigned long long)st.connects, (unsigned long long)st.connect_failures,
	    n_open, (unsigned long long)m, (unsigned long long)st.no_seq,
	    (unsigned long long)gaps, (unsigned long long)reord, n_ended,
	    nconns - n_ended, (unsigned long long)term,
	    (unsigned long long)st.closed_early, (unsigned long long)st.protocol_errors);
	for (i = 0; i < NSTATUS; i++)
		if (st.status[i] > 0)
			printf("status %u %llu\n", i, (unsigned long long)st.status[i]);
	if (mode == M_POLL)
		printf("requests %llu\n", (unsigned long long)st.requests);
	printf("latency_samples %llu\nlatency_negative %llu\n",
	    (unsigned long long)nsamples, (unsigned long long)nnegative);
	if (nsamples > 0)
		printf("latency_ms p50 %.3f p90 %.3f p99 %.3f max %.3f\n", hist_pct(0.50),
		    hist_pct(0.90), hist_pct(0.99), (double)lat_max_us / 1000);
	else
		printf("latency_ms p50 - p90 - p99 - max -\n");
	printf("elapsed_s %.3f\n", elapsed);
}

/* The self-test: no network, the parsers fed by hand. */
static int	 failed;

#define CHECK(x)	check((x), #x, __LINE__)

static void
check(int ok, const char *what, int line)
{
	if (!ok) {
		fprintf(stderr, "self-test: line %d: %s\n", line, what);
		failed++;
	}
}

static int
sha1_is(const char *s, size_t repeat, const char *hex)
{
	struct sha1	 c;
	unsigned char	 md[20];
	char		 out[41];
	size_t		 i;

	sha1_init(&c);
	for (i = 0; i < repeat; i++)
		sha1_update(&c, s, strlen(s));
	sha1_final(&c, md);
	for (i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
	return strcmp(out, hex) == 0;
}

static int
base64_is(const char *s, const char *want)
{
	char	 out[64];

	base64((const unsigned char *)s, strlen(s), out);
	return strcmp(out, want) == 0;
}

/* A fresh connection 0 in mode m; fd -1 unless one is given. */
static struct conn *
test_conn(enum mode m, int fd)
{
	struct conn	*c = &conns[0];

	conn_close(c);
	free(c->idbuf.p);
	free(c->last_id.p);
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->heap_pos = -1;
	c->first_seq = c->last_seq = -1;
	c->state = S_HEADERS;
	c->keep = 1;
	mode = m;
	captured[0] = '\0';
	return c;
}

#define FEED(c, s)	feed_by((c), (s), strlen(s), 0)

/* Feeds s to c whole (step 0), or step bytes at a time. */
static void
feed_by(struct conn *c, const char *s, size_t n, size_t step)
{
	size_t	 k;

	if (step == 0)
		step = n;
	while (n > 0 && c->state != S_DONE && c->state != S_IDLE) {
		k = n < step ? n : step;
		if (feed(c, s, k) == -1)
			break;
		s += k;
		n -= k;
	}
}

/* s as a chunked body of chunks of k bytes, with an extension and a trailer. */
static size_t
chunked(const char *s, size_t k, char *out, size_t size)
{
	size_t	 n = strlen(s), o = 0, l;

	for (; n > 0; s += l, n -= l) {
		l = n < k ? n : k;
		o += (size_t)snprintf(out + o, size - o, "%zX%s\r\n", l, o == 0 ? ";x=1" : "");
		memcpy(out + o, s, l);
		o += l;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	o += (size_t)snprintf(out + o, size - o, "0\r\nX-Trailer: 1\r\n\r\n");
	return o;
}

static void
test_sse(void)
{
	static const char	 head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
	    "charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
	static const char	 body[] = "\xef\xbb\xbf: hi\n\n"
	    "id: 1:0\nevent: progress\ndata: {\"seq\":1,\"status\":\"running\",\n"
	    "data: \"updated_at\":\"2026-12-01T20:15:03Z\"}\n\n"
	    "id: 2:0\r\ndata: {\"seq\":2,\"status\":\"running\"}\r\n\r\n"
	    "retry: 250\rid: 4:0\rdata:{\"seq\":4,\"step_details\":{\"seq\":100}}\r\r"
	    "data: {\"seq\":3}\n\n"
	    "id: 5:0\ndata: {\"seq\":5,\"status\":\"completed\"}\n\n"
	    "id: 6:0\ndata: {\"seq\":6}\n";
	static const char	 first[] = "{\"seq\":1,\"status\":\"running\",\n"
	    "\"updated_at\":\"2026-12-01T20:15:03Z\"}";
	static const size_t	 steps[] = { 0, 1, 2, 3, 7, 64 };
	static const size_t	 sizes[] = { 1, 37, 4096 };
	char			 in[4096], doc[128];
	struct conn		*c;
	size_t			 n, i, k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			c = test_conn(M_SSE, -1);
			n = strlen(head);
			memcpy(in, head, n);
			n += chunked(body, sizes[k], in + n, sizeof(in) - n);
			feed_by(c, in, n, steps[i]);
			CHECK(c->messages == 5);
			CHECK(c->first_seq == 1 && c->last_seq == 5);
			CHECK(c->gaps == 1 && c->reordered == 1);
			CHECK(c->terminal && c->ended && c->state == S_DONE);
			CHECK(c->last_id.set && strcmp(c->last_id.p, "5:0") == 0);
			CHECK(c->retry_ms == 250);
			CHECK(strcmp(captured, first) == 0);
			CHECK(c->last_status == 200);
		}

	/* Close-delimited, closed before a terminal document: reconnects. */
	c = test_conn(M_SSE, -1);
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "\r\nid: 7\ndata: {\"seq\":7}\n\nid: 8\ndata: {\"seq\":8}\n");
	FEED(c, in);
	CHECK(c->state == S_BODY && c->messages == 1);
	on_eof(c);
	CHECK(c->state == S_IDLE && !c->ended && c->heap_pos >= 0);
	CHECK(c->messages == 1 && strcmp(c->last_id.p, "7") == 0);
	noreconnect = 1;
	c = test_conn(M_SSE, -1);
	FEED(c, in);
	on_eof(c);
	CHECK(c->state == S_DONE && c->ended && !c->terminal);
	noreconnect = 0;

	/* A Content-Length stream ends where it says. */
	c = test_conn(M_SSE, -1);
	snprintf(doc, sizeof(doc), "data: {\"seq\":9,\"is_complete\":true}\n\n");
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(doc), doc);
	FEED(c, in);
	CHECK(c->messages == 1 && c->terminal && c->ended);

	/* 404 ends, 503 retries, 200 of another type is an error. */
	c = test_conn(M_SSE, -1);
	FEED(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	CHECK(c->ended && c->last_status == 404 && c->messages == 0);
	c = test_conn(M_SSE, -1);
	FEED(c, "HTTP/1.1 503 Busy\r\n\r\n");
	CHECK(!c->ended && c->state == S_IDLE && c->last_status == 503);
	c = test_conn(M_SSE, -1);
	FEED(c, "HTTP/1.0 200 OK\nContent-Type: text/html\n\n");
	CHECK(c->ended && c->last_status == 200);
	c = test_conn(M_SSE, -1);
	FEED(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: "
	    "text/event-stream\r\n\r\nZ\r\n");
	CHECK(c->ended && c->messages == 0);
}

static size_t
ws_frame(unsigned char *out, int first, int op, const char *p, size_t n)
{
	size_t	 o = 0;
	int	 i;

	out[o++] = (unsigned char)((first ? 0x80 : 0) | op);
	if (n < 126)
		out[o++] = (unsigned char)n;
	else if (n < 65536) {
		out[o++] = 126;
		out[o++] = (unsigned char)(n >> 8);
		out[o++] = (unsigned char)n;
	} else {
		out[o++] = 127;
		for (i = 7; i >= 0; i--)
			out[o++] = (unsigned char)(n >> (8 * i));
	}
	memcpy(out + o, p, n);
	return o + n;
}

/* Reads one client frame from fd, unmasked into payload. */
static int
ws_read(int fd, int *op, char *payload, size_t *n)
{
	unsigned char	 f[6 + 125];
	ssize_t		 k;
	size_t		 i;

	if ((k = recv(fd, f, 6, MSG_DONTWAIT)) != 6 || !(f[1] & 0x80) || (f[1] & 0x7f) > 125)
		return -1;
	*op = f[0] & 0x0f;
	*n = f[1] & 0x7f;
	if (*n > 0 && recv(fd, f + 6, *n, MSG_DONTWAIT) != (ssize_t)*n)
		return -1;
	for (i = 0; i < *n; i++)
		payload[i] = (char)(f[6 + i] ^ f[2 + (i & 3)]);
	return 0;
}

static void
test_ws(void)
{
	static const size_t	 steps[] = { 0, 1, 5, 100, 4096 };
	char			*big, *in, got[200];
	struct conn		*c;
	size_t			 n, i, gn;
	int			 sv[2], op;

	if ((big = malloc(70100)) == NULL || (in = malloc(80000)) == NULL) {
		free(big);
		CHECK(!"out of memory");
		return;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
			CHECK(!"socketpair");
			break;
		}
		c = test_conn(M_WS, sv[0]);
		ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", c->ws_accept);
		n = (size_t)snprintf(in, 80000, "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: WebSocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
		n += ws_frame((unsigned char *)in + n, 1, 1, "{\"seq\":1}", 9);
		memset(big, 'x', 70100);
		memcpy(big, "{\"seq\":2,\"p\":\"", strlen("{\"seq\":2,\"p\":\""));
		memcpy(big + 298, "\"}", 2);
		n += ws_frame((unsigned char *)in + n, 1, 1, big, 300);
		n += ws_frame((unsigned char *)in + n, 0, 1, "{\"seq\":3,", 9);
		n += ws_frame((unsigned char *)in + n, 1, 9, "hello", 5);
		n += ws_frame((unsigned char *)in + n, 0, 0, "\"status\":", 9);
		n += ws_frame((unsigned char *)in + n, 1, 0, "\"running\"}", 10);
		memset(big, 'x', 70100);
		memcpy(big, "{\"seq\":4,\"status\":\"completed\",\"p\":\"",
		    strlen("{\"seq\":4,\"status\":\"completed\",\"p\":\""));
		memcpy(big + 70098, "\"}", 2);
		n += ws_frame((unsigned char *)in + n, 1, 2, big, 70100);
		n += ws_frame((unsigned char *)in + n, 1, 8, "\x03\xe8" "bye", 5);
		feed_by(c, in, n, steps[i]);
		CHECK(c->messages == 4 && c->first_seq == 1 && c->last_seq == 4);
		CHECK(c->gaps == 0 && c->reordered == 0);
		CHECK(c->terminal && c->ended && c->fd == -1);
		CHECK(ws_read(sv[1], &op, got, &gn) == 0 && op == 0xa && gn == 5 &&
		    memcmp(got, "hello", 5) == 0);
		CHECK(ws_read(sv[1], &op, got, &gn) == 0 && op == 0x8 && gn == 2 &&
		    memcmp(got, "\x03\xe8", 2) == 0);
		close(sv[1]);
	}

	/* A wrong accept, a masked server frame. */
	c = test_conn(M_WS, -1);
	ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", c->ws_accept);
	snprintf(in, 80000, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOX=\r\n\r\n");
	FEED(c, in);
	CHECK(c->ended && c->state == S_DONE);
	c = test_conn(M_WS, -1);
	ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", c->ws_accept);
	n = (size_t)snprintf(in, 80000, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
	memcpy(in + n, "\x81\x82\x01\x02\x03\x04xx", 8);
	feed_by(c, in, n + 8, 0);
	CHECK(c->ended && c->messages == 0);
	free(big);
	free(in);
}

static void
test_poll(void)
{
	char		 in[512];
	struct conn	*c;
	int		 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		CHECK(!"socketpair");
		return;
	}
	c = test_conn(M_POLL, sv[0]);
	c->next_poll = 1;
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 10\r\n"
	    "\r\n{\"seq\":41}");
	feed_by(c, in, strlen(in), 1);
	CHECK(c->state == S_POLL_WAIT && c->messages == 1 && c->last_seq == 41);
	CHECK(c->last_id.set && strcmp(c->last_id.p, "\"abc\"") == 0 && c->fd == sv[0]);
	reset_response(c);
	c->state = S_HEADERS;
	FEED(c, "HTTP/1.1 304 Not Modified\r\nETag: \"abd\"\r\n\r\n");
	CHECK(c->state == S_POLL_WAIT && c->messages == 1 && c->last_status == 304);
	CHECK(strcmp(c->last_id.p, "\"abd\"") == 0);
	reset_response(c);
	c->state = S_HEADERS;
	snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close\r\n\r\n5\r\n{\"seq\r\n6\r\n\":43}\n\r\n0\r\n\r\n");
	FEED(c, in);
	CHECK(c->state == S_POLL_WAIT && c->messages == 2 && c->gaps == 1 &&
	    c->fd == -1 && c->heap_pos >= 0);
	close(sv[1]);
}

static void
test_doc(void)
{
	static const char	 doc[] = "{\"job_id\":\"bench-3\",\"step_details\":{\"seq\":999,"
	    "\"status\":\"completed\",\"x\":[{\"is_complete\":true},\"]\"],\"s\":\"}\\\"{\"},"
	    "\"percentage\":42.5,\"updated_at\":\"2026-12-01T20:15:03.123456Z\","
	    "\"best_params\":{\"status\":\"failed\"},\"is_complete\":false,"
	    "\"error_message\":null, \"status\" : \"running\" ,\"seq\" : 17 }";
	struct doc		 d;
	int64_t			 us;

	scan_doc(doc, strlen(doc), &d);
	CHECK(d.has_seq && d.seq == 17 && !d.terminal);
	CHECK(d.has_time && d.time_us == 1796156103123456LL);
	scan_doc("{\"seq\":5,\"is_complete\":true}", 28, &d);
	CHECK(d.has_seq && d.seq == 5 && d.terminal);
	scan_doc("{\"status\":\"cancelled\"}", 22, &d);
	CHECK(!d.has_seq && d.terminal);
	scan_doc("{\"seq\":1.5,\"status\":\"failed\"", 28, &d);
	CHECK(!d.has_seq && d.terminal);
	scan_doc("[{\"seq\":1}]", 11, &d);
	CHECK(!d.has_seq);

	CHECK(parse_rfc3339("1970-01-01T00:00:00Z", 20, &us) == 0 && us == 0);
	CHECK(parse_rfc3339("2000-03-01T00:00:00Z", 20, &us) == 0 &&
	    us == 951868800LL * 1000000);
	CHECK(parse_rfc3339("2024-02-29T23:59:59.5Z", 22, &us) == 0 &&
	    us == 1709251199LL * 1000000 + 500000);
	CHECK(parse_rfc3339("2026-12-01T21:15:03+01:00", 25, &us) == 0 &&
	    us == 1796156103LL * 1000000);
	CHECK(parse_rfc3339("2026-12-01T20:15:03.123456789Z", 30, &us) == 0 &&
	    us == 1796156103123456LL);
	CHECK(parse_rfc3339("2026-12-01T20:15:03", 19, &us) == -1);
	CHECK(parse_rfc3339("2026-13-01T20:15:03Z", 20, &us) == -1);
	CHECK(parse_rfc3339("2026-12-01T20:15:03.Z", 21, &us) == -1);
	CHECK(parse_rfc3339("2026-12-01T20:15:03ZZ", 21, &us) == -1);
}

static void
test_hist(void)
{
	int	 i;

	memset(hist, 0, sizeof(hist));
	nsamples = nnegative = 0;
	for (i = 1; i <= 1000; i++)
		hist_add((int64_t)i * 1000);
	hist_add(-5);
	CHECK(nsamples == 1001 && nnegative == 1 && lat_max_us == 1000000);
	CHECK(hist_pct(0.5) > 499.0 && hist_pct(0.5) < 501.0);
	CHECK(hist_pct(0.99) > 988.0 && hist_pct(0.99) < 992.0);
	CHECK(hist_pct(1.0) > 998.0 && hist_pct(1.0) <= 1000.0);
	for (i = 0; i < 40; i++)
		CHECK(hist_index(1ULL << i) < HIST_N &&
		    hist_value(hist_index(1ULL << i)) >= (double)(1ULL << i) * 0.998 &&
		    hist_value(hist_index(1ULL << i)) <= (double)(1ULL << i) * 1.002);
	CHECK(hist_index(UINT64_MAX) == HIST_N - 1);
	memset(hist, 0, sizeof(hist));
	nsamples = nnegative = 0;
}

static int
self_test(void)
{
	char	 acc[29];

	quiet = 1;
	capture = 1;
	now = now_ms();
	if (setup(1) == -1)
		return 1;
	CHECK(sha1_is("abc", 1, "A9993E364706816ABA3E25717850C26C9CD0D89D"));
	CHECK(sha1_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	    "84983E441C3BD26EBAAE4AA1F95129E5E54670F1"));
	CHECK(sha1_is("a", 1000000, "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F"));
	CHECK(sha1_is("0123456701234567012345670123456701234567012345670123456701234567",
	    10, "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452"));
	CHECK(sha1_is("", 1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"));
	CHECK(base64_is("", ""));
	CHECK(base64_is("f", "Zg=="));
	CHECK(base64_is("fo", "Zm8="));
	CHECK(base64_is("foo", "Zm9v"));
	CHECK(base64_is("foob", "Zm9vYg=="));
	CHECK(base64_is("fooba", "Zm9vYmE="));
	CHECK(base64_is("foobar", "Zm9vYmFy"));
	ws_accept_of("dGhlIHNhbXBsZSBub25jZQ==", acc);
	CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
	test_doc();
	test_hist();
	test_sse();
	test_ws();
	test_poll();
	teardown();
	if (failed > 0) {
		fprintf(stderr, "self-test: %d failed\n", failed);
		return 1;
	}
	printf("self-test ok\n");
	return 0;
}

static int
num(const char *s, long lo, long hi, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
set_addr(const char *host)
{
	struct addrinfo	 hints, *res;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	memcpy(&addr, res->ai_addr, res->ai_addrlen);
	addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (addr.ss_family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
	else if (addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
	else
		return -1;
	return 0;
}

/* The path is sent as is: no spaces or controls, and only %d and %%. */
static int
path_ok(const char *s)
{
	char	 p[PATH_LEN];

	if (*s != '/')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f ||
		    (*s == '%' && s[1] != 'd' && s[1] != '%'))
			return 0;
		else if (*s == '%')
			s++;
	return expand_path(p, sizeof(p), (uint32_t)njobs - 1) == 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: subload -p PORT [-H ADDRESS] -u PATH -n CONNECTIONS [-j JOBS]\n"
	    "               [-m sse|ws|poll] [-i POLL_MS] [-d SECONDS] [-e] [-N]\n"
	    "               [-r CONNECTS_PER_SEC] [-S SOURCES] [-L LAST_EVENT_ID] [-F]\n"
	    "               [-o FILE] [-q]\n"
	    "       subload --self-test\n");
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	const char		*host = "127.0.0.1";
	char			*end;
	int64_t			 t0;
	int			 ch, n = 0;

	if (argc == 2 && strcmp(argv[1], "--self-test") == 0)
		return self_test();
	while ((ch = getopt(argc, argv, "p:H:u:n:j:m:i:d:eFNr:S:L:o:q")) != -1)
		switch (ch) {
		case 'p':
			if (num(optarg, 1, 65535, &port) == -1)
				goto usage;
			break;
		case 'H':
			host = optarg;
			break;
		case 'u':
			path = optarg;
			break;
		case 'n':
			if (num(optarg, 1, MAX_CONNS, &n) == -1)
				goto usage;
			break;
		case 'j':
			if (num(optarg, 1, INT32_MAX, &njobs) == -1)
				goto usage;
			break;
		case 'm':
			if (strcmp(optarg, "sse") == 0)
				mode = M_SSE;
			else if (strcmp(optarg, "ws") == 0)
				mode = M_WS;
			else if (strcmp(optarg, "poll") == 0)
				mode = M_POLL;
			else
				goto usage;
			break;
		case 'i':
			if (num(optarg, 1, 3600000, &poll_ms) == -1)
				goto usage;
			break;
		case 'd':
			duration_s = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(duration_s > 0) ||
			    duration_s > 1e7)
				goto usage;
			break;
		case 'e':
			eflag = 1;
			break;
		case 'N':
			noreconnect = 1;
			break;
		case 'F':
			skip_first = 1;
			break;
		case 'r':
			if (num(optarg, 0, 10000000, &rate) == -1)
				goto usage;
			break;
		case 'S':
			if (num(optarg, 1, MAX_SOURCES, &nsources) == -1)
				goto usage;
			break;
		case 'L':
			first_id = optarg;
			if (strlen(first_id) > ID_MAX || strpbrk(first_id, "\r\n") != NULL)
				goto usage;
			break;
		case 'o':
			if (outf != NULL)
				fclose(outf);
			if ((outf = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				return 1;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			goto usage;
		}
	if (optind != argc || port == 0 || path == NULL || n == 0 || !path_ok(path))
		goto usage;
	if (set_addr(host) == -1) {
		fprintf(stderr, "subload: %s: not an address\n", host);
		return 1;
	}
	if (nsources > 0 && (addr.ss_family != AF_INET ||
	    ntohl(((struct sockaddr_in *)&addr)->sin_addr.s_addr) >> 24 != 127)) {
		fprintf(stderr, "subload: -S needs a 127.x.x.x target\n");
		goto usage;
	}
	if (raise_nofile((rlim_t)n + 64) == -1) {
		fprintf(stderr, "subload: cannot raise the open-file limit to %d: %s\n",
		    n + 64, strerror(errno));
		return 1;
	}
	if (getrandom(&rng, sizeof(rng), 0) != (ssize_t)sizeof(rng))
		rng = (uint64_t)wall_us() ^ (uint64_t)getpid() << 32;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 || setup((uint32_t)n) == -1) {
		perror("subload");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ms();
	run();
	report((double)(now_ms() - t0) / 1000);
	teardown();
	close(epfd);
	return 0;
usage:
	usage();
	return 2;
}

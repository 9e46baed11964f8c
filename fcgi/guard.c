/*
 * guard.c: the FastCGI records of each connection are checked before
 * libfcgi reads them.
 *
 * libfcgi trusts its peer: a parameter length of 2^31 becomes a malloc() it
 * does not check, records of unknown types and a second BEGIN_REQUEST are
 * handled by luck, and a connection that sends half a request blocks the
 * worker forever.  So a worker accepts the connection itself, peeks
 * (MSG_PEEK: nothing is consumed) until the whole request has arrived, and
 * lets libfcgi read it only if every record is well formed and within
 * max_params_size and max_body_size.  A request that is too large gets a
 * JSON 431 or 413; anything malformed, or too slow to arrive, is closed,
 * and so is a complete request whose client has hung up meanwhile.
 * libfcgi is handed the connection through FCGX_Request's public ipcFd.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

/* Record types (the FastCGI specification, 8). */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_ABORT_REQUEST	2
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_RESPONDER		1
#define FCGI_HEADER_LEN		8

/* How long a connection may take to deliver its whole request. */
#define GUARD_READ_MS		5000
/* How often to look again while a request arrives in pieces. */
#define GUARD_REPEEK_MS		2
/*
 * A request still arriving when this much of it is here is taken off the
 * connection as it comes, rather than peeked at: Linux reports a unix
 * socket as full once about 52 KB sent to it are unread, and a client that
 * waits for room before each write (Apache's mod_proxy_fcgi) would wait
 * until the guard gave up on it.
 */
#define GUARD_CONSUME_AT	16384

/* Checks the name-value pairs of the PARAMS stream (spec 3.4). */
static const char *
check_pairs(const unsigned char *p, size_t len)
{
	size_t	 off = 0, lens[2];
	int	 k;

	while (off < len) {
		for (k = 0; k < 2; k++) {
			if (off >= len)
				return "truncated name-value pair";
			if (p[off] & 0x80) {
				if (len - off < 4)
					return "truncated name-value length";
				lens[k] = ((size_t)(p[off] & 0x7f) << 24) | ((size_t)p[off + 1] << 16) |
				    ((size_t)p[off + 2] << 8) | p[off + 3];
				off += 4;
			} else
				lens[k] = p[off++];
		}
		if (lens[0] == 0)
			return "a parameter without a name";
		if (lens[0] > len - off || lens[1] > len - off - lens[0])
			return "a parameter longer than the stream";
		if (memchr(p + off, '\0', lens[0] + lens[1]) != NULL)
			return "a NUL byte in a parameter";
		off += lens[0] + lens[1];
	}
	return NULL;
}

enum guard_parse
guard_parse(const unsigned char *buf, size_t n, const struct guard_limits *lim,
    unsigned char *scratch, struct guard_info *gi)
{
	enum { BEGIN, PARAMS, STDIN } state = BEGIN;
	const unsigned char	*h;
	size_t			 off = 0, clen, plen, params = 0, body = 0;
	unsigned		 rid;

	memset(gi, 0, sizeof(*gi));
	while (n - off >= FCGI_HEADER_LEN) {
		h = buf + off;
		rid = (unsigned)h[2] << 8 | h[3];
		clen = (size_t)h[4] << 8 | h[5];
		plen = h[6];
		if (h[0] != 1) {
			gi->gi_why = "not FastCGI version 1";
			return GUARD_MALFORMED;
		}
		if (state != BEGIN && rid != gi->gi_request_id) {
			gi->gi_why = "a record of another request";
			return GUARD_MALFORMED;
		}
		switch (state) {
		case BEGIN:
			if (rid == 0) {
				gi->gi_why = "a management record (request id 0)";
				return GUARD_MALFORMED;
			}
			if (h[1] != FCGI_BEGIN_REQUEST || clen != 8) {
				gi->gi_why = "the first record is not BEGIN_REQUEST";
				return GUARD_MALFORMED;
			}
			break;
		case PARAMS:
			if (h[1] != FCGI_PARAMS) {
				gi->gi_why = h[1] == FCGI_BEGIN_REQUEST ? "a second BEGIN_REQUEST" :
				    h[1] == FCGI_ABORT_REQUEST ? "ABORT_REQUEST" :
				    "an unexpected record type among the parameters";
				return GUARD_MALFORMED;
			}
			if (params + clen > lim->gl_max_params) {
				gi->gi_request_id = rid;
				gi->gi_status = 431;
				gi->gi_why = "the parameters are larger than max_params_size";
				return GUARD_TOO_LARGE;
			}
			break;
		case STDIN:
			if (h[1] != FCGI_STDIN) {
				gi->gi_why = h[1] == FCGI_BEGIN_REQUEST ? "a second BEGIN_REQUEST" :
				    h[1] == FCGI_ABORT_REQUEST ? "ABORT_REQUEST" :
				    "an unexpected record type in the body";
				return GUARD_MALFORMED;
			}
			if (body + clen > lim->gl_max_body) {
				gi->gi_status = 413;
				gi->gi_why = "the body is larger than max_body_size";
				return GUARD_TOO_LARGE;
			}
			break;
		}
		/* The size check comes first: a huge record must not wait to arrive. */
		if (n - off - FCGI_HEADER_LEN < clen + plen)
			return GUARD_INCOMPLETE;
		switch (state) {
		case BEGIN:
			if (((unsigned)h[8] << 8 | h[9]) != FCGI_RESPONDER) {
				gi->gi_why = "a role other than RESPONDER";
				return GUARD_MALFORMED;
			}
			gi->gi_request_id = rid;
			state = PARAMS;
			break;
		case PARAMS:
			if (clen == 0) {
				if ((gi->gi_why = check_pairs(scratch, params)) != NULL)
					return GUARD_MALFORMED;
				gi->gi_params = params;
				gi->gi_params_end = off + FCGI_HEADER_LEN + plen;
				state = STDIN;
				break;
			}
			memcpy(scratch + params, h + FCGI_HEADER_LEN, clen);
			params += clen;
			break;
		case STDIN:
			if (clen == 0) {
				gi->gi_body = body;
				gi->gi_end = off + FCGI_HEADER_LEN + plen;
				return GUARD_COMPLETE;
			}
			body += clen;
			break;
		}
		off += FCGI_HEADER_LEN + clen + plen;
	}
	return GUARD_INCOMPLETE;
}

size_t
guard_buffer_size(const struct guard_limits *lim)
{
	/* Every byte in records of at most 65535, each with a header and padding. */
	size_t	 payload = lim->gl_max_params + lim->gl_max_body;

	return FCGI_HEADER_LEN + 8 + payload +
	    (payload / 65535 + 4) * (FCGI_HEADER_LEN + 255) + 2 * FCGI_HEADER_LEN;
}

/* Writes all of buf to fd within deadline, never blocking.  0 or -1. */
static int
write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char	*p = buf;
	struct pollfd	 pfd = { fd, POLLOUT, 0 };
	ssize_t		 w;
	int64_t		 left;

	while (len > 0) {
		if ((w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)) > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if ((left = deadline - mono_ms()) <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
	}
	return 0;
}

/* One record: header, content, no padding. */
static size_t
put_record(unsigned char *out, int type, unsigned rid, const void *content, size_t clen)
{
	out[0] = 1;
	out[1] = (unsigned char)type;
	out[2] = (unsigned char)(rid >> 8);
	out[3] = (unsigned char)rid;
	out[4] = (unsigned char)(clen >> 8);
	out[5] = (unsigned char)clen;
	out[6] = 0;
	out[7] = 0;
	if (clen > 0)
		memcpy(out + FCGI_HEADER_LEN, content, clen);
	return FCGI_HEADER_LEN + clen;
}

/*
 * Answers a refused request without libfcgi: STDOUT with a JSON error,
 * the empty STDOUT, END_REQUEST.  Best effort within half a second.
 */
static void
reply(int fd, unsigned rid, int status, const char *code, const char *message)
{
	unsigned char	 out[1024];
	char		 resp[800], *body;
	size_t		 blen = 0, n = 0;
	int		 rlen;
	static const unsigned char end[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };

	if ((body = render_error(code, message, &blen)) == NULL)
		return;
	rlen = snprintf(resp, sizeof(resp), "Status: %d %s\r\nContent-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\nContent-Length: %zu\r\n\r\n%s",
	    status, http_reason(status), blen, body);
	free(body);
	if (rlen < 0 || (size_t)rlen >= sizeof(resp))
		return;
	n += put_record(out + n, FCGI_STDOUT, rid, resp, (size_t)rlen);
	n += put_record(out + n, FCGI_STDOUT, rid, NULL, 0);
	n += put_record(out + n, FCGI_END_REQUEST, rid, end, sizeof(end));
	(void)write_all(fd, out, n, mono_ms() + 500);
}

/*
 * Closes a connection answered before its request was read whole.  A plain
 * close() with bytes still unread resets the connection, and the peer may
 * lose the answer it has not read yet: so say we are done (FIN), then read
 * and drop what the peer still sends, until it closes too, for at most
 * half a second.
 */
static void
linger_close(struct guard *g, int fd)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = mono_ms() + 500, left;
	ssize_t		 n;

	if (shutdown(fd, SHUT_WR) == 0)
		while ((left = deadline - mono_ms()) > 0 && poll(&pfd, 1, (int)left) == 1)
			if ((n = recv(fd, g->g_buf, g->g_size, MSG_DONTWAIT)) == 0 ||
			    (n == -1 && errno != EAGAIN && errno != EINTR))
				break;
	close(fd);
}

void
guard_init(struct guard *g, const struct config *cf)
{
	memset(g, 0, sizeof(*g));
	g->g_limits.gl_max_params = (size_t)cf->cf_max_params_size;
	g->g_limits.gl_max_body = (size_t)cf->cf_max_body_size;
	g->g_size = guard_buffer_size(&g->g_limits);
	g->g_read_ms = cf->cf_request_timeout_ms > 0 && cf->cf_request_timeout_ms < GUARD_READ_MS ?
	    cf->cf_request_timeout_ms : GUARD_READ_MS;
	/* Out of memory here is fatal for the worker: the master replaces it. */
	g->g_replay = -1;
	if ((g->g_buf = malloc(g->g_size)) == NULL ||
	    (g->g_scratch = malloc(g->g_limits.gl_max_params + 1)) == NULL ||
	    (g->g_body = malloc(g->g_limits.gl_max_body + 1)) == NULL) {
		log_error("guard_init", "out of memory");
		exit(1);
	}
}

void
guard_free(struct guard *g)
{
	if (g->g_replay >= 0)
		close(g->g_replay);
	g->g_replay = -1;
	free(g->g_buf);
	free(g->g_scratch);
	free(g->g_body);
	g->g_buf = g->g_scratch = g->g_body = NULL;
}

/*
 * The request taken off the connection (g_buf[0..gi_end)): its BEGIN_REQUEST
 * and PARAMS go into a socket of their own for libfcgi to read (g_replay),
 * its body into g_body.  0, or -1 (out of descriptors).
 */
static int
replay_prepare(struct guard *g, const struct guard_info *gi)
{
	const unsigned char	*h;
	size_t			 off, clen;
	int			 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	/* At most max_params_size and some headers: the socket takes it at once. */
	if (write_all(sv[1], g->g_buf, gi->gi_params_end, mono_ms() + 500) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	g->g_replay = sv[0];
	g->g_body_len = 0;
	for (off = gi->gi_params_end; off < gi->gi_end; off += FCGI_HEADER_LEN + clen + h[6]) {
		h = g->g_buf + off;
		clen = (size_t)h[4] << 8 | h[5];
		memcpy(g->g_body + g->g_body_len, h + FCGI_HEADER_LEN, clen);
		g->g_body_len += clen;
	}
	return 0;
}

enum guard_result
guard_accept(struct guard *g, int listen_fd, int *out)
{
	struct guard_info	 gi;
	struct pollfd		 pfd;
	struct timespec		 pause = { 0, GUARD_REPEEK_MS * 1000000 };
	enum guard_parse	 r = GUARD_INCOMPLETE;
	ssize_t			 n;
	size_t			 have = 0;
	int64_t			 deadline, left;
	int			 fd;
	bool			 taking = false;

	*out = -1;
	if (g->g_replay >= 0)
		close(g->g_replay);
	g->g_replay = -1;
	/*
	 * The connection stays blocking, as libfcgi wants it; the guard never
	 * blocks on it (MSG_DONTWAIT), which saves two fcntl() per request.
	 */
	if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED) {
			log_warn("accept_failed", "accept: %s", strerror(errno));
			/* EMFILE and friends: do not spin on a readable socket. */
			nanosleep(&(struct timespec){ 0, 50 * 1000000 }, NULL);
		}
		return GUARD_NONE;
	}
	deadline = mono_ms() + g->g_read_ms;
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		/* Peeked at (the whole of it, each time), or taken in as it comes. */
		n = taking ? recv(fd, g->g_buf + have, g->g_size - have, MSG_DONTWAIT) :
		    recv(fd, g->g_buf, g->g_size, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0) {
			gi.gi_why = "the connection closed before the request was complete";
			r = GUARD_MALFORMED;
			break;
		}
		if (n > 0) {
			have = taking ? have + (size_t)n : (size_t)n;
			if ((r = guard_parse(g->g_buf, have, &g->g_limits, g->g_scratch,
			    &gi)) != GUARD_INCOMPLETE)
				break;
			if (have == g->g_size) {
				gi.gi_why = "a request larger than the limits allow";
				r = GUARD_MALFORMED;
				break;
			}
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			gi.gi_why = strerror(errno);
			r = GUARD_MALFORMED;
			break;
		}
		if ((left = deadline - mono_ms()) <= 0) {
			gi.gi_why = "the request did not arrive in time";
			r = GUARD_MALFORMED;
			break;
		}
		if (!taking && n > 0 && have >= GUARD_CONSUME_AT) {
			/* Large and still arriving: take what is here off the socket. */
			if (recv(fd, g->g_buf, have, MSG_DONTWAIT) != (ssize_t)have) {
				gi.gi_why = "the connection failed while the request arrived";
				r = GUARD_MALFORMED;
				break;
			}
			taking = true;
			continue;
		}
		if (!taking && n > 0) {
			/* A part is here.  A peer that has hung up will send no more. */
			pfd.events = POLLRDHUP;
			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
				gi.gi_why = "the connection closed before the request was complete";
				r = GUARD_MALFORMED;
				break;
			}
			pfd.events = POLLIN;
			nanosleep(&pause, NULL);
		} else
			(void)poll(&pfd, 1, (int)left);
	}
	if (r == GUARD_COMPLETE && taking && replay_prepare(g, &gi) == -1) {
		log_error("guard_failed", "cannot pass a request on: %s", strerror(errno));
		close(fd);
		return GUARD_REFUSED;
	}
	if (r == GUARD_COMPLETE) {
		/*
		 * All here, but is anyone still waiting for the answer?  A
		 * request may have sat in the listen queue while its client
		 * (nginx) gave up and closed: serving it would be work for
		 * nobody, and a POST would still take effect.  On a unix
		 * socket a client that closed is a hang-up (POLLHUP); one that
		 * only half-closed (POLLRDHUP) still reads, and is served.
		 * (Over TCP the two look alike until a write: served.)
		 */
		pfd.events = 0;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
			atomic_fetch_add(&scoreboard->sb_abandoned, 1);
			log_info("request_abandoned", "the client left before a worker took "
			    "the request: not served");
			close(fd);
			return GUARD_REFUSED;
		}
		*out = fd;
		return GUARD_READY;
	}
	atomic_fetch_add(&scoreboard->sb_rejected, 1);
	if (r == GUARD_TOO_LARGE) {
		reply(fd, gi.gi_request_id, gi.gi_status,
		    gi.gi_status == 413 ? "payload_too_large" : "headers_too_large", gi.gi_why);
		log_warn("request_refused", "%d: %s", gi.gi_status, gi.gi_why);
		linger_close(g, fd);
		return GUARD_REFUSED;
	}
	log_warn("connection_refused", "malformed FastCGI: %s", gi.gi_why);
	close(fd);
	return GUARD_REFUSED;
}

/*
 * pubhttp.c: HTTP/1.1 requests to nchan's publisher, pipelined on one
 * connection (pubhttp.h).  nginx answers pipelined requests in order; a
 * connection it closes (keepalive_requests, a reload) is opened again and
 * the requests it left unanswered are sent again, so a flush survives it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/internal.h"
#include "pubhttp.h"

#define HEAD_MAX	8192

int
pub_init(struct pub *p, const char *target)
{
	const char	*hp, *colon;

	memset(p, 0, sizeof(*p));
	p->p_fd = -1;
	if (target[0] == '/') {
		if (strlen(target) >= sizeof(p->p_unix))
			return -1;
		snprintf(p->p_unix, sizeof(p->p_unix), "%s", target);
		return 0;
	}
	if (strncmp(target, "http://", 7) != 0)
		return -1;
	hp = target + 7;
	if ((colon = strrchr(hp, ':')) == NULL || colon == hp ||
	    (size_t)(colon - hp) >= sizeof(p->p_host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(p->p_port) || strchr(colon + 1, '/') != NULL)
		return -1;
	memcpy(p->p_host, hp, (size_t)(colon - hp));
	snprintf(p->p_port, sizeof(p->p_port), "%s", colon + 1);
	return 0;
}

static void
disconnect(struct pub *p)
{
	if (p->p_fd != -1)
		close(p->p_fd);
	p->p_fd = -1;
	p->p_inlen = 0;
}

void
pub_close(struct pub *p)
{
	disconnect(p);
	free(p->p_out);
	p->p_out = NULL;
	p->p_outlen = p->p_outcap = p->p_outoff = 0;
	p->p_nq = p->p_answered = 0;
}

static int
fail(struct pub *p, const char *what)
{
	snprintf(p->p_err, sizeof(p->p_err), "%s%s%s", what, errno != 0 ? ": " : "",
	    errno != 0 ? strerror(errno) : "");
	disconnect(p);
	return -1;
}

static int
connect_now(struct pub *p)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *ai = NULL, *a;
	int			 fd = -1, rc;

	errno = 0;
	if (p->p_unix[0] != '\0') {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return fail(p, "socket");
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, p->p_unix, strlen(p->p_unix));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			close(fd);
			return fail(p, "connect to nchan's socket");
		}
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if ((rc = getaddrinfo(p->p_host, p->p_port, &hints, &ai)) != 0) {
			errno = 0;
			snprintf(p->p_err, sizeof(p->p_err), "%.128s: %s", p->p_host,
			    gai_strerror(rc));
			return -1;
		}
		for (a = ai; a != NULL; a = a->ai_next) {
			if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol)) == -1)
				continue;
			if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd == -1)
			return fail(p, "connect to nchan");
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		close(fd);
		return fail(p, "fcntl");
	}
	p->p_fd = fd;
	p->p_inlen = 0;
	return 0;
}

int
pub_queue(struct pub *p, const char *method, const char *path, const char *body,
    size_t len)
{
	char			 head[256];
	struct pub_answer	*q;
	size_t			 need;
	char			*n;
	int			 hl;

	if (p->p_nq == PUB_MAX_QUEUED)
		return -1;
	hl = snprintf(head, sizeof(head), "%s /pub/%s HTTP/1.1\r\nHost: nchan\r\n"
	    "%s%zu\r\n\r\n", method, path,
	    body != NULL ? "Content-Type: application/json\r\nContent-Length: " :
	    "Content-Length: ", body != NULL ? len : 0);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return -1;
	need = p->p_outlen + (size_t)hl + (body != NULL ? len : 0);
	if (need > p->p_outcap) {
		size_t	 cap = p->p_outcap == 0 ? 65536 : p->p_outcap;

		while (cap < need)
			cap *= 2;
		if ((n = realloc(p->p_out, cap)) == NULL)
			return -1;
		p->p_out = n;
		p->p_outcap = cap;
	}
	q = &p->p_q[p->p_nq++];
	memset(q, 0, sizeof(*q));
	snprintf(q->pa_method, sizeof(q->pa_method), "%s", method);
	snprintf(q->pa_path, sizeof(q->pa_path), "%s", path);
	q->pa_off = p->p_outlen;
	memcpy(p->p_out + p->p_outlen, head, (size_t)hl);
	p->p_outlen += (size_t)hl;
	if (body != NULL) {
		memcpy(p->p_out + p->p_outlen, body, len);
		p->p_outlen += len;
	}
	return 0;
}

int
pub_queued(const struct pub *p)
{
	return p->p_nq;
}

const struct pub_answer *
pub_answer(const struct pub *p, int i)
{
	return i >= 0 && i < p->p_nq ? &p->p_q[i] : NULL;
}

void
pub_reset(struct pub *p)
{
	p->p_outlen = p->p_outoff = 0;
	p->p_nq = p->p_answered = 0;
}

/* Case-insensitive: does the head have this header, and what value? */
static const char *
header(const char *head, size_t hlen, const char *name, size_t *vlen)
{
	size_t		 n = strlen(name);
	const char	*line = memchr(head, '\n', hlen), *end = head + hlen, *eol, *v;

	while (line != NULL && line + 1 < end) {
		line++;
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 &&
		    line[n] == ':') {
			for (v = line + n + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			*vlen = (size_t)(eol - v);
			while (*vlen > 0 && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		line = eol;
	}
	return NULL;
}

int
pub_parse_response(const char *buf, size_t len, int *status, size_t *used)
{
	const char	*end = NULL, *v;
	size_t		 i, hlen, vlen, body = 0;

	for (i = 3; i < len && i < HEAD_MAX; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r') {
			end = buf + i + 1;
			break;
		}
	if (end == NULL)
		return len >= HEAD_MAX ? -1 : 0;
	hlen = (size_t)(end - buf);
	if (hlen < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r'))
		return -1;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (header(buf, hlen, "Transfer-Encoding", &vlen) != NULL)
		return -1;
	if ((v = header(buf, hlen, "Content-Length", &vlen)) != NULL) {
		if (vlen == 0 || vlen > 9)
			return -1;
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			body = body * 10 + (size_t)(v[i] - '0');
		}
	} else if (*status != 204 && *status != 304 && *status >= 200)
		return -1;
	if (*status < 200)
		return -1;
	if (len - hlen < body)
		return 0;
	*used = hlen + body;
	return 1;
}

/* Does the answer at buf[0..used) close the connection after it? */
static bool
closes(const char *buf, size_t used)
{
	const char	*v;
	size_t		 vlen;

	return (v = header(buf, used, "Connection", &vlen)) != NULL && vlen == 5 &&
	    strncasecmp(v, "close", 5) == 0;
}

int
pub_flush(struct pub *p, int timeout_ms)
{
	int64_t		 deadline = mono_ms() + timeout_ms;
	struct pollfd	 pfd;
	ssize_t		 n;
	size_t		 used;
	int		 st, rc, reconnects = 0;

	p->p_err[0] = '\0';
	while (p->p_answered < p->p_nq) {
		if (p->p_fd == -1) {
			/* Again from the first request not answered. */
			if (reconnects++ > 3) {
				errno = 0;
				return fail(p, "nginx closed the connection again and again");
			}
			if (connect_now(p) == -1)
				return -1;
			p->p_outoff = p->p_q[p->p_answered].pa_off;
		}
		pfd.fd = p->p_fd;
		pfd.events = POLLIN | (p->p_outoff < p->p_outlen ? POLLOUT : 0);
		if ((rc = poll(&pfd, 1, (int)(deadline - mono_ms() > 0 ?
		    deadline - mono_ms() : 0))) == -1) {
			if (errno == EINTR)
				continue;
			return fail(p, "poll");
		}
		if (rc == 0) {
			errno = 0;
			return fail(p, "nchan did not answer in time");
		}
		if ((pfd.revents & POLLOUT) && p->p_outoff < p->p_outlen) {
			n = send(p->p_fd, p->p_out + p->p_outoff, p->p_outlen - p->p_outoff,
			    MSG_NOSIGNAL);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				/* Answers already sent may still be read below. */
				if (p->p_answered == p->p_nq)
					break;
				disconnect(p);
				continue;
			}
			if (n > 0)
				p->p_outoff += (size_t)n;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(p->p_fd, p->p_in + p->p_inlen, sizeof(p->p_in) - p->p_inlen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			/* Closed: what is unanswered goes again on a new connection. */
			disconnect(p);
			continue;
		}
		p->p_inlen += (size_t)n;
		while (p->p_answered < p->p_nq &&
		    (rc = pub_parse_response(p->p_in, p->p_inlen, &st, &used)) == 1) {
			bool	 last = closes(p->p_in, used);

			p->p_q[p->p_answered++].pa_status = st;
			memmove(p->p_in, p->p_in + used, p->p_inlen - used);
			p->p_inlen -= used;
			if (last) {
				disconnect(p);
				break;
			}
		}
		if (rc == -1) {
			errno = 0;
			return fail(p, "a malformed answer from nchan");
		}
		if (p->p_inlen == sizeof(p->p_in)) {
			errno = 0;
			return fail(p, "an answer from nchan too large");
		}
	}
	return 0;
}

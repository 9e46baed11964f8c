/*
 * fcgi-raw.c: writes FastCGI records straight to the pool's socket, well
 * formed or not, for the fault tests.
 *
 *   fcgi-raw SOCKET CASE
 *
 * CASE: valid, truncated, huge-length, unknown-type, second-begin,
 * management, bad-version, bad-role, nul-param, params-overflow,
 * body-overflow, slow, garbage, abort, and polled-body: a POST of 60,000
 * bytes in 8 KiB records, each written only once poll() says the socket
 * has room, as Apache's mod_proxy_fcgi does.  Prints what came back: the HTTP
 * status line the pool answered with ("Status: 200 OK"), or "closed" when
 * the pool closed the connection without an answer.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned char	 out[300000];
static size_t		 n;

static void
rec(int version, int type, int rid, const void *content, size_t clen)
{
	unsigned char	*h = out + n;

	h[0] = (unsigned char)version;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(rid >> 8);
	h[3] = (unsigned char)rid;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = 0;
	h[7] = 0;
	memcpy(h + 8, content, clen);
	n += 8 + clen;
}

static void
begin(int rid, int role)
{
	unsigned char	 b[8] = { (unsigned char)(role >> 8), (unsigned char)role, 0 };

	rec(1, 1, rid, b, 8);
}

/* One name-value pair, short lengths. */
static size_t
pair(unsigned char *p, const char *name, const char *value)
{
	size_t	 nl = strlen(name), vl = strlen(value);

	p[0] = (unsigned char)nl;
	p[1] = (unsigned char)vl;
	memcpy(p + 2, name, nl);
	memcpy(p + 2 + nl, value, vl);
	return 2 + nl + vl;
}

static void
params_ok(int rid)
{
	unsigned char	 p[512];
	size_t		 k = 0;

	k += pair(p + k, "REQUEST_METHOD", "GET");
	k += pair(p + k, "REQUEST_URI", "/_trainprog/ping");
	rec(1, 4, rid, p, k);
	rec(1, 4, rid, "", 0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	struct timespec		 pause = { 0, 300 * 1000000 };
	const char		*c;
	char			 buf[4096], *nl;
	unsigned char		 big[65535];
	ssize_t			 r;
	size_t			 got = 0;
	int			 fd, i;

	if (argc != 3) {
		fprintf(stderr, "usage: fcgi-raw SOCKET CASE\n");
		return 2;
	}
	c = argv[2];
	memset(big, 'x', sizeof(big));
	if (strcmp(c, "valid") == 0) {
		begin(1, 1);
		params_ok(1);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "truncated") == 0) {
		begin(1, 1);
		params_ok(1);
		out[n++] = 1;	/* half a header, then silence */
		out[n++] = 5;
	} else if (strcmp(c, "huge-length") == 0) {
		unsigned char p[16] = { 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xf0, 'A' };

		begin(1, 1);
		rec(1, 4, 1, p, sizeof(p));
		rec(1, 4, 1, "", 0);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "unknown-type") == 0) {
		begin(1, 1);
		rec(1, 42, 1, "boo", 3);
		params_ok(1);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "second-begin") == 0) {
		begin(1, 1);
		begin(1, 1);
		params_ok(1);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "management") == 0) {
		rec(1, 9, 0, "", 0);
	} else if (strcmp(c, "bad-version") == 0) {
		begin(1, 1);
		out[0] = 7;
		params_ok(1);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "bad-role") == 0) {
		begin(1, 2);	/* AUTHORIZER */
		params_ok(1);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "nul-param") == 0) {
		unsigned char p[64];
		size_t k = pair(p, "REQUEST_URI", "/_trainprog/ping");

		p[5] = '\0';
		begin(1, 1);
		rec(1, 4, 1, p, k);
		rec(1, 4, 1, "", 0);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "params-overflow") == 0) {
		begin(1, 1);
		for (i = 0; i < 3; i++)
			rec(1, 4, 1, big, sizeof(big));
		rec(1, 4, 1, "", 0);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "body-overflow") == 0) {
		begin(1, 1);
		params_ok(1);
		rec(1, 5, 1, big, 60000);
		rec(1, 5, 1, big, 60000);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "garbage") == 0) {
		memcpy(out, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
		n = 27;
	} else if (strcmp(c, "abort") == 0) {
		begin(1, 1);
		rec(1, 2, 1, "", 0);
	} else if (strcmp(c, "polled-body") == 0) {
		unsigned char p[512];
		size_t k = 0, left;

		begin(1, 1);
		k += pair(p + k, "REQUEST_METHOD", "POST");
		k += pair(p + k, "REQUEST_URI", "/api/v2/training/jobs/polled/progress");
		k += pair(p + k, "CONTENT_TYPE", "application/json");
		k += pair(p + k, "CONTENT_LENGTH", "60000");
		rec(1, 4, 1, p, k);
		rec(1, 4, 1, "", 0);
		for (left = 60000; left > 0; left -= left < 8192 ? left : 8192)
			rec(1, 5, 1, big, left < 8192 ? left : 8192);
		rec(1, 5, 1, "", 0);
	} else if (strcmp(c, "slow") != 0) {
		fprintf(stderr, "fcgi-raw: unknown case %s\n", c);
		return 2;
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror(argv[1]);
		return 2;
	}
	if (strcmp(c, "slow") == 0) {
		/* A valid request, one byte at a time, slower than the guard waits. */
		begin(1, 1);
		params_ok(1);
		rec(1, 5, 1, "", 0);
		for (i = 0; (size_t)i < n; i++) {
			if (send(fd, out + i, 1, MSG_NOSIGNAL) != 1)
				break;
			nanosleep(&pause, NULL);
		}
	} else if (strcmp(c, "polled-body") == 0) {
		/* Record by record, each once there is room: never more. */
		struct pollfd	 pfd = { fd, POLLOUT, 0 };
		size_t		 off = 0, len;

		(void)fcntl(fd, F_SETFL, O_NONBLOCK);
		while (off < n) {
			len = 8 + ((size_t)out[off + 4] << 8 | out[off + 5]);
			if (poll(&pfd, 1, 10000) != 1 || !(pfd.revents & POLLOUT)) {
				printf("stuck: no room to write after %zu bytes\n", off);
				return 0;
			}
			if (send(fd, out + off, len, MSG_NOSIGNAL) != (ssize_t)len) {
				printf("closed\n");
				return 0;
			}
			off += len;
		}
		(void)fcntl(fd, F_SETFL, 0);
	} else
		(void)send(fd, out, n, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	while (got < sizeof(buf) - 1 && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	/* The first STDOUT record's content starts 8 bytes in. */
	if (got > 8 && (c = strstr(buf + 8, "Status: ")) != NULL) {
		if ((nl = strchr(c, '\r')) != NULL)
			*nl = '\0';
		printf("%s\n", c);
	} else
		printf("closed\n");
	return 0;
}

/* test_pubhttp.c: tools/pubhttp.c, tp-notify's pipelined client for nchan. */
#include <sys/socket.h>
#include <sys/un.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../tools/pubhttp.h"

static int
parse(const char *s, int *status, size_t *used)
{
	return pub_parse_response(s, strlen(s), status, used);
}

Test(pubhttp, parses_answers)
{
	int	 st = 0;
	size_t	 used = 0;
	const char *ok = "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 5\r\n\r\nhelloHTTP/1.1 200";

	cr_assert_eq(parse(ok, &st, &used), 1);
	cr_assert_eq(st, 202);
	cr_assert_eq(used, strlen(ok) - strlen("HTTP/1.1 200"), "the next answer is left");
	cr_assert_eq(parse("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", &st, &used), 1);
	cr_assert_eq(st, 404);
	cr_assert_eq(parse("HTTP/1.1 204 No Content\r\n\r\n", &st, &used), 1, "204: no body");
	/* Not all there yet. */
	cr_assert_eq(parse("HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhel", &st, &used), 0);
	cr_assert_eq(parse("HTTP/1.1 202 Accepted\r\nContent-Len", &st, &used), 0);
	cr_assert_eq(parse("", &st, &used), 0);
	/* Malformed. */
	cr_assert_eq(parse("HTTP/1.1 2x2 Accepted\r\nContent-Length: 0\r\n\r\n", &st, &used), -1);
	cr_assert_eq(parse("SMTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", &st, &used), -1);
	cr_assert_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    &st, &used), -1, "chunked: nchan does not send it; refused rather than misread");
	cr_assert_eq(parse("HTTP/1.1 200 OK\r\n\r\n", &st, &used), -1, "an unsized body");
	cr_assert_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &st, &used), -1);
	cr_assert_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n", &st, &used), -1);
	cr_assert_eq(parse("HTTP/1.1 100 Continue\r\n\r\n", &st, &used), -1);
}

Test(pubhttp, a_head_too_long_is_refused)
{
	char	*big = malloc(10000);
	int	 st;
	size_t	 used;

	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', 10000 - 20);
	cr_assert_eq(pub_parse_response(big, 10000, &st, &used), -1);
	free(big);
}

Test(pubhttp, targets)
{
	struct pub	 p;

	cr_assert_eq(pub_init(&p, "/run/x.sock"), 0);
	cr_assert_str_eq(p.p_unix, "/run/x.sock");
	cr_assert_eq(pub_init(&p, "http://127.0.0.1:8080"), 0);
	cr_assert_str_eq(p.p_host, "127.0.0.1");
	cr_assert_str_eq(p.p_port, "8080");
	cr_assert_eq(pub_init(&p, "http://127.0.0.1"), -1);
	cr_assert_eq(pub_init(&p, "http://127.0.0.1:80/x"), -1);
	cr_assert_eq(pub_init(&p, "ftp://x:1"), -1);
	cr_assert_eq(pub_init(&p, "relative.sock"), -1);
}

/*
 * A publisher that answers requests in order, pipelined or not, and closes
 * the connection after `close_after` answers (as nginx does after
 * keepalive_requests), the last of them with "Connection: close".
 */
struct server {
	int	 ls;
	int	 close_after;
	int	 served;	/* answers sent, over all connections */
	int	 connections;
	char	 seen[4096];	/* the request lines, one a line */
};

static void *
serve(void *arg)
{
	struct server	*s = arg;
	char		 buf[65536], *end, *p, line[128];
	size_t		 len;
	ssize_t		 n;
	int		 c, here;

	while ((c = accept(s->ls, NULL, NULL)) != -1) {
		s->connections++;
		len = 0;
		here = 0;
		for (;;) {
			/* Answer every whole request (GETs and DELETEs: no body here). */
			while ((end = memmem(buf, len, "\r\n\r\n", 4)) != NULL) {
				char	 ans[256];
				bool	 last = ++here == s->close_after;
				int	 status = strncmp(buf, "DELETE", 6) == 0 ? 404 : 202;

				p = memchr(buf, '\r', len);
				snprintf(line, sizeof(line), "%.*s\n", (int)(p - buf), buf);
				strncat(s->seen, line, sizeof(s->seen) - strlen(s->seen) - 1);
				snprintf(ans, sizeof(ans), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\nok",
				    status, last ? "Connection: close\r\n" : "");
				if (write(c, ans, strlen(ans)) < 0)
					break;
				s->served++;
				len -= (size_t)(end + 4 - buf);
				memmove(buf, end + 4, len);
				if (last)
					goto closed;
			}
			if ((n = read(c, buf + len, sizeof(buf) - len)) <= 0)
				break;
			len += (size_t)n;
		}
closed:
		close(c);
	}
	return NULL;
}

Test(pubhttp, pipelines_and_survives_a_close)
{
	struct server		 s = { .close_after = 3 };
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct pub		 p;
	pthread_t		 t;
	char			 path[64], want[4096] = "", l[64];
	int			 i;

	snprintf(path, sizeof(path), "/tmp/test_pubhttp.%d.sock", (int)getpid());
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_neq(s.ls = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(s.ls, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(s.ls, 8), 0);
	cr_assert_eq(pthread_create(&t, NULL, serve, &s), 0);

	cr_assert_eq(pub_init(&p, path), 0);
	for (i = 0; i < 8; i++) {
		snprintf(l, sizeof(l), "live/%d", i);
		cr_assert_eq(pub_queue(&p, i == 5 ? "DELETE" : "GET", l, NULL, 0), 0);
		snprintf(l, sizeof(l), "%s /pub/live/%d HTTP/1.1\n", i == 5 ? "DELETE" : "GET", i);
		strcat(want, l);
	}
	cr_assert_eq(pub_queued(&p), 8);
	cr_assert_eq(pub_flush(&p, 5000), 0, "%s", p.p_err);
	for (i = 0; i < 8; i++)
		cr_assert_eq(pub_answer(&p, i)->pa_status, i == 5 ? 404 : 202,
		    "answer %d in its request's place", i);
	cr_assert_str_eq(s.seen, want, "every request once, in order");
	cr_assert_eq(s.connections, 3, "two closes by the server, two reconnections");
	pub_reset(&p);
	cr_assert_eq(pub_queued(&p), 0);
	cr_assert_eq(pub_flush(&p, 1000), 0, "nothing queued: nothing to do");

	/* The server gone: a failure, said. */
	pub_close(&p);
	shutdown(s.ls, SHUT_RDWR);
	close(s.ls);
	pthread_join(t, NULL);
	unlink(path);
	cr_assert_eq(pub_queue(&p, "GET", "mark", NULL, 0), 0);
	cr_assert_eq(pub_flush(&p, 1000), -1);
	cr_assert_not_null(strstr(p.p_err, "connect"), "%s", p.p_err);
	pub_close(&p);
}

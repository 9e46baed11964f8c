/*
 * httpload.c: a bounded HTTP load for the fault tests, that accounts for
 * every request.
 *
 *   httpload -p PORT -u PATH [-c CONNECTIONS] [-d MILLISECONDS] [-o EVENTS]
 *
 * CONNECTIONS threads (default 4) send GET PATH to 127.0.0.1:PORT over
 * keep-alive connections for the duration, and reconnect after a failure.
 * A request that gets no complete response (reset, EOF, timeout) counts as
 * status 0.  Prints "total N", "status CODE COUNT" lines, the slowest
 * response, and "first_failure_ms" / "last_failure_ms" since the start
 * (non-200s).  With -o, every response is written as "ms status latency_ms".
 * Exits 0 unless it could not run at all.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	64
#define RESP_MAX	65536
#define IO_TIMEOUT_S	10

static int		 port, duration_ms = 3000;
static const char	*path;
static int64_t		 t0;
static FILE		*events;
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static long		 counts[600], total, slowest_ms;
static long		 first_fail = -1, last_fail = -1;

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
record(int status, int64_t started, int64_t ended)
{
	long	 at = (long)(started - t0), lat = (long)(ended - started);

	pthread_mutex_lock(&mu);
	total++;
	counts[status >= 0 && status < 600 ? status : 0]++;
	if (lat > slowest_ms)
		slowest_ms = lat;
	if (status != 200) {
		if (first_fail == -1)
			first_fail = at;
		last_fail = at;
	}
	if (events != NULL)
		fprintf(events, "%ld %d %ld\n", at, status, lat);
	pthread_mutex_unlock(&mu);
}

static int
connect_once(void)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { IO_TIMEOUT_S, 0 };
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Sends one request and reads one whole response (Content-Length bodies,
 * as nginx sends them here).  Returns the status, or 0 on failure; *keep
 * says whether the connection may be used again.
 */
static int
one_request(int fd, int *keep)
{
	char	 req[1024], buf[RESP_MAX], *hdr_end, *cl;
	size_t	 have = 0, need;
	ssize_t	 n;
	int	 status, len;

	*keep = 0;
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "User-Agent: httpload\r\n\r\n", path);
	if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
		return 0;
	for (;;) {
		if ((n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) <= 0)
			return 0;
		have += (size_t)n;
		buf[have] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (have == sizeof(buf) - 1)
			return 0;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	need = (size_t)(hdr_end + 4 - buf);
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL && cl < hdr_end)
		need += strtoul(cl + 17, NULL, 10);
	while (have < need) {
		if ((n = recv(fd, buf, sizeof(buf) - 1 < need - have ? sizeof(buf) - 1 :
		    need - have, 0)) <= 0)
			return 0;
		have += (size_t)n;
	}
	*keep = strcasestr(buf, "\r\nConnection: close") == NULL ||
	    strcasestr(buf, "\r\nConnection: close") > hdr_end;
	return status;
}

static void *
conn_main(void *arg)
{
	int64_t	 started;
	int	 fd = -1, status, keep;

	(void)arg;
	while (now_ms() - t0 < duration_ms) {
		started = now_ms();
		if (fd == -1 && (fd = connect_once()) == -1) {
			record(0, started, now_ms());
			usleep(10000);
			continue;
		}
		status = one_request(fd, &keep);
		record(status, started, now_ms());
		if (status == 0 || !keep) {
			close(fd);
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t	 th[MAX_CONNS];
	int		 c, i, conns = 4;

	while ((c = getopt(argc, argv, "p:u:c:d:o:")) != -1)
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'u':
			path = optarg;
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 'd':
			duration_ms = atoi(optarg);
			break;
		case 'o':
			if ((events = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				return 2;
			}
			setvbuf(events, NULL, _IOLBF, 0);	/* followed while it runs */
			break;
		default:
			goto usage;
		}
	if (port <= 0 || path == NULL || conns < 1 || conns > MAX_CONNS || duration_ms < 1)
		goto usage;
	t0 = now_ms();
	for (i = 0; i < conns; i++)
		if (pthread_create(&th[i], NULL, conn_main, NULL) != 0)
			return 2;
	for (i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	if (events != NULL)
		fclose(events);
	printf("total %ld\n", total);
	for (i = 0; i < 600; i++)
		if (counts[i] > 0)
			printf("status %d %ld\n", i, counts[i]);
	printf("slowest_ms %ld\nfirst_failure_ms %ld\nlast_failure_ms %ld\n", slowest_ms,
	    first_fail, last_fail);
	return 0;
usage:
	fprintf(stderr, "usage: httpload -p PORT -u PATH [-c CONNS] [-d MS] [-o EVENTS]\n");
	return 2;
}

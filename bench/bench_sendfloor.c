/*
 * bench_sendfloor.c: the least CPU a pushed message can cost a server on
 * this machine: a bare sender doing nothing but write() the messages.
 *
 *   bench_sendfloor [-t tcp|unix] [-n CONNECTIONS] [-g PER_JOB]
 *                   [-r JOBS_PER_SEC] [-b BYTES] [-d SECONDS]
 *
 * A child process opens CONNECTIONS connections to the sender (loopback
 * TCP, or a unix socket with -t unix) and reads them all on one epoll
 * loop, as t/tools/subload does.  The sender then writes a BYTES-long
 * message to each of PER_JOB connections of a job picked at random,
 * JOBS_PER_SEC times a second for SECONDS: the pattern section 6b gives
 * nginx (100 subscribers per job, 200 updates a second).  What the sender
 * spends (getrusage: user + system, which on this kernel's tick accounting
 * includes the softirqs run in its context, i.e. on loopback TCP the
 * receiving end's TCP processing) divided by the messages is the floor.
 *
 * Prints "key value" lines: transport, connections, per_job,
 * jobs_per_second, messages, bytes, sender_cpu_s, us_per_message.  Exits 0 when every byte
 * written was read, 1 otherwise or on a system error, 2 on bad usage.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
die(const char *what)
{
	fprintf(stderr, "bench_sendfloor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_sendfloor [-t tcp|unix] [-n CONNECTIONS] [-g PER_JOB] "
	    "[-r JOBS_PER_SEC] [-b BYTES] [-d SECONDS]\n");
	exit(2);
}

static long
num_arg(const char *s, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench_sendfloor: %s: not a number in [%ld, %ld]\n", s, lo, hi);
		exit(2);
	}
	return v;
}

static double
cpu_of(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 k;

	while (n > 0) {
		k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		c += k;
		n -= (size_t)k;
	}
}

static void
raise_nofile(long need)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit");
	if (rl.rlim_cur >= (rlim_t)need)
		return;
	rl.rlim_cur = (rlim_t)need;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("setrlimit (open files)");
}

/*
 * The receiving end: n connections read on one epoll loop until each
 * reaches end of file; the total read goes back through `report`.
 */
static void
receiver(int tcp, const struct sockaddr *sa, socklen_t salen, long n, int ready, int report)
{
	struct epoll_event	 ev, evs[512];
	static char		 buf[65536];
	unsigned long long	 total = 0;
	long			 i, open_n = n;
	int			 ep, fd, k;

	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (i = 0; i < n; i++) {
		fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, sa, salen) != 0)
			die("connect");
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl");
	}
	write_all(ready, "r", 1);
	while (open_n > 0) {
		k = epoll_wait(ep, evs, 512, -1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < k; i++) {
			ssize_t	 got = read(evs[i].data.fd, buf, sizeof(buf));

			if (got > 0) {
				total += (unsigned long long)got;
			} else if (got == 0 || errno != EAGAIN) {
				close(evs[i].data.fd);
				open_n--;
			}
		}
	}
	write_all(report, &total, sizeof(total));
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&ss;
	struct rusage		 r0, r1;
	struct timespec		 t0, at;
	socklen_t		 salen;
	char			 sockdir[] = "/tmp/sendfloor.XXXXXX";	/* mkdtemp() fills it in */
	char			*msg;
	unsigned long long	 got = 0, messages = 0, ticks, t;
	long			 n = 10000, per_job = 100, rate = 200, bytes = 700, secs = 20, i, jobs;
	int64_t			 start_ns, due_ns;
	int			 tcp = 1, lfd, ready[2], report[2], *conns, one = 1, opt, status;
	pid_t			 child;
	char			 c;

	while ((opt = getopt(argc, argv, "t:n:g:r:b:d:")) != -1) {
		switch (opt) {
		case 't':
			if (strcmp(optarg, "tcp") == 0)
				tcp = 1;
			else if (strcmp(optarg, "unix") == 0)
				tcp = 0;
			else
				usage();
			break;
		case 'n': n = num_arg(optarg, 1, 1000000); break;
		case 'g': per_job = num_arg(optarg, 1, 1000000); break;
		case 'r': rate = num_arg(optarg, 1, 1000000); break;
		case 'b': bytes = num_arg(optarg, 1, 1 << 20); break;
		case 'd': secs = num_arg(optarg, 1, 3600); break;
		default: usage();
		}
	}
	if (optind != argc || per_job > n)
		usage();
	raise_nofile(n + 64);

	memset(&ss, 0, sizeof(ss));
	if (tcp) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		salen = sizeof(*sin);
	} else {
		if (mkdtemp(sockdir) == NULL)
			die("mkdtemp");
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/s", sockdir);
		salen = sizeof(*sun);
	}
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	if (bind(lfd, (struct sockaddr *)&ss, salen) != 0 || listen(lfd, 4096) != 0)
		die("bind/listen");
	if (tcp && getsockname(lfd, (struct sockaddr *)&ss, &salen) != 0)
		die("getsockname");
	if (pipe(ready) != 0 || pipe(report) != 0)
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(lfd);
		receiver(tcp, (struct sockaddr *)&ss, salen, n, ready[1], report[1]);
	}
	close(ready[1]);
	close(report[1]);

	conns = calloc((size_t)n, sizeof(*conns));
	msg = malloc((size_t)bytes);
	if (conns == NULL || msg == NULL)
		die("malloc");
	/* A progress document is printable text ending in a blank line. */
	memset(msg, 'x', (size_t)bytes);
	if (bytes >= 2)
		msg[bytes - 2] = msg[bytes - 1] = '\n';
	for (i = 0; i < n; i++) {
		struct pollfd	 pfd[2] = { { .fd = lfd, .events = POLLIN },
					    { .fd = ready[0], .events = POLLIN } };

		/* The receiver failing mid-way closes its pipe: no wait for ever. */
		while (poll(pfd, 2, -1) == -1)
			if (errno != EINTR)
				die("poll");
		if (!(pfd[0].revents & POLLIN)) {
			fprintf(stderr, "bench_sendfloor: the receiver stopped after %ld connections\n", i);
			return 1;
		}
		conns[i] = accept(lfd, NULL, NULL);
		if (conns[i] < 0)
			die("accept");
		/* What nginx sets on a connection it streams to. */
		if (tcp && setsockopt(conns[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
			die("setsockopt");
	}
	if (read(ready[0], &c, 1) != 1)
		die("the receiver did not start");

	srandom(1);
	jobs = n / per_job;	/* at least 1: per_job <= n */
	ticks = (unsigned long long)secs * (unsigned long long)rate;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	start_ns = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
	getrusage(RUSAGE_SELF, &r0);
	for (t = 0; t < ticks; t++) {
		long	 job = random() % jobs;

		/* The t-th job's turn, on a schedule: a late one does not shift the rest. */
		due_ns = start_ns + (int64_t)(t * 1000000000ULL / (unsigned long long)rate);
		at.tv_sec = (time_t)(due_ns / 1000000000);
		at.tv_nsec = (long)(due_ns % 1000000000);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		for (i = job * per_job; i < (job + 1) * per_job; i++) {
			write_all(conns[i], msg, (size_t)bytes);
			messages++;
		}
	}
	getrusage(RUSAGE_SELF, &r1);

	for (i = 0; i < n; i++)
		close(conns[i]);
	if (read(report[0], &got, sizeof(got)) != (ssize_t)sizeof(got))
		die("the receiver's count");
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_sendfloor: the receiver failed\n");
		return 1;
	}
	if (!tcp) {
		unlink(sun->sun_path);
		rmdir(sockdir);
	}
	printf("transport %s\n", tcp ? "tcp" : "unix");
	printf("connections %ld\n", n);
	printf("per_job %ld\n", per_job);
	printf("jobs_per_second %ld\n", rate);
	printf("messages %llu\n", messages);
	printf("bytes %ld\n", bytes);
	printf("sender_cpu_s %.3f\n", cpu_of(&r1) - cpu_of(&r0));
	printf("us_per_message %.2f\n",
	    messages ? 1e6 * (cpu_of(&r1) - cpu_of(&r0)) / (double)messages : 0.0);
	if (got != messages * (unsigned long long)bytes) {
		fprintf(stderr, "bench_sendfloor: %llu bytes written, %llu read\n",
		    messages * (unsigned long long)bytes, got);
		return 1;
	}
	return 0;
}

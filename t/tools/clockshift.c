/*
 * clockshift.c: an LD_PRELOAD library for the tests that moves the wall
 * clock (CLOCK_REALTIME, gettimeofday, time) CLOCKSHIFT_SECONDS ahead of the
 * kernel's.  A deadline a program computes from it lands that far beyond
 * the one the kernel counts to, as after the wall clock is stepped back
 * while the program waits.  Monotonic clocks are left alone.
 */
#include <sys/time.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static time_t
shift(void)
{
	const char	*s = getenv("CLOCKSHIFT_SECONDS");

	return s != NULL ? (time_t)strtol(s, NULL, 10) : 0;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int	(*real)(clockid_t, struct timespec *);
	int		 rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	if ((rc = real(id, ts)) == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += shift();
	return rc;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec	 ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *out)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

/*
 * clock.c: the two clocks every part of trainprog reads, in one place.
 *
 * Deadlines, timeouts, backoff and heartbeats run on the monotonic clock,
 * which a changed system time does not move; what is stored or shown (seq
 * numbers, updated_at, log lines) is wall-clock time.
 */
#include <time.h>

#include "internal.h"

int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
wall_ms(void)
{
	return wall_us() / 1000;
}

struct timespec
mono_after_ms(int64_t ms)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

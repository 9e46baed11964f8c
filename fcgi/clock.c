/* clock.c: the monotonic clock every deadline in tp-fcgi is measured on. */
#include <time.h>

#include "pool.h"

int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * threads.c: what the tracker and its publisher share process-wide: fork
 * detection, how their mutexes and conditions are made, and the clock the
 * publisher's senders wait on.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "publisher.h"

/*
 * Fork detection without a system call on every update() (getpid() is
 * one, and a system call is where a busy machine preempts the caller): a
 * counter every child bumps, compared with the one seen at open.
 */
static atomic_uint	 generation;
static pthread_once_t	 atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
	atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
}

static void
atfork_register(void)
{
	(void)pthread_atfork(NULL, NULL, on_fork_child);
}

unsigned
fork_generation(void)
{
	pthread_once(&atfork_once, atfork_register);
	return atomic_load_explicit(&generation, memory_order_relaxed);
}

/*
 * The locks are held for a few instructions at a time, by a caller and by
 * a sender thread that competes for the CPU with the database: spinning
 * briefly before sleeping keeps a caller from waiting out a preempted
 * sender's time slice.
 */
int
thread_mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t	 attr;
	int			 rc;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	rc = pthread_mutex_init(mu, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

int
thread_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t	 attr;
	int			 rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

static int64_t
clock_now(void *arg)
{
	(void)arg;
	return mono_ms();
}

static void
clock_wait(void *arg, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until)
{
	struct timespec	 ts;

	(void)arg;
	if (until < 0)
		pthread_cond_wait(cv, mu);
	else {
		ts = mono_after_ms(until > mono_ms() ? until - mono_ms() : 0);
		(void)pthread_cond_timedwait(cv, mu, &ts);
	}
}

const struct pub_clock thread_clock = { clock_now, clock_wait, NULL };

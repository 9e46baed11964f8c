/*
 * scoreboard.c: what every process of the pool says about itself, in
 * memory shared by the master, the workers and the status process.
 *
 * Mapped once by the master before the first fork; each worker writes only
 * its own slot, with atomics, so that the status process can read it while
 * every worker is busy.  The current request's method and URI are text,
 * guarded by a sequence lock: odd while being written.
 */
#include <sys/mman.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pool.h"

struct scoreboard	*scoreboard;

int
scoreboard_create(void)
{
	void	*p;

	p = mmap(NULL, sizeof(struct scoreboard), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	scoreboard = p;
	memset(scoreboard, 0, sizeof(*scoreboard));
	scoreboard->sb_start_ms = wall_ms();
	return 0;
}

void
sb_set_state(int slot, enum sb_state state)
{
	atomic_store(&scoreboard->sb_slots[slot].w_state, (int)state);
}

void
sb_request_begin(int slot, const char *method, const char *uri, int workers)
{
	struct sb_worker	*w = &scoreboard->sb_slots[slot];
	unsigned		 busy;

	atomic_fetch_add(&w->w_seq, 1);
	snprintf(w->w_method, sizeof(w->w_method), "%s", method ? method : "");
	snprintf(w->w_uri, sizeof(w->w_uri), "%s", uri ? uri : "");
	atomic_fetch_add(&w->w_seq, 1);
	atomic_store(&w->w_req_started_wall, wall_ms());
	atomic_store(&w->w_req_started_mono, mono_ms());
	atomic_store(&w->w_state, SB_BUSY);
	atomic_fetch_add(&scoreboard->sb_accepted, 1);
	busy = atomic_fetch_add(&scoreboard->sb_busy, 1) + 1;
	if ((int)busy >= workers)
		atomic_fetch_add(&scoreboard->sb_all_busy, 1);
}

void
sb_request_end(int slot)
{
	struct sb_worker	*w = &scoreboard->sb_slots[slot];

	atomic_store(&w->w_req_started_mono, 0);
	atomic_fetch_add(&w->w_requests, 1);
	atomic_store(&w->w_state, SB_IDLE);
	atomic_fetch_sub(&scoreboard->sb_busy, 1);
}

void
sb_read_request(int slot, char *method, size_t msize, char *uri, size_t usize)
{
	struct sb_worker	*w = &scoreboard->sb_slots[slot];
	unsigned		 before;
	int			 tries;

	for (tries = 0; tries < 100; tries++) {
		before = atomic_load(&w->w_seq);
		if (before % 2 == 1)
			continue;
		snprintf(method, msize, "%.*s", (int)sizeof(w->w_method) - 1, w->w_method);
		snprintf(uri, usize, "%.*s", (int)sizeof(w->w_uri) - 1, w->w_uri);
		if (atomic_load(&w->w_seq) == before)
			return;
	}
	snprintf(method, msize, "?");
	snprintf(uri, usize, "?");
}

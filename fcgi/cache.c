/*
 * cache.c: a worker's cache of rendered progress documents.
 *
 * Polling is the API's load: many clients asking for the same few jobs
 * every couple of seconds.  A worker keeps the documents it rendered last,
 * so that a repeated GET costs no database round trip, and throws all of
 * them away as soon as anything in training_progress changes: a statement
 * trigger (schema/003) sends a notification on every write, which the
 * worker's reader connection LISTENs to (db.c), and the pool's own writes
 * also bump a generation in the scoreboard, which every worker sees at
 * once.  An entry also expires after read_cache_ttl, which bounds how long
 * a lost notification (or the passage of time: "stalled") can go unseen.
 *
 * Direct-mapped on a hash of the job id: no lists, no allocation once the
 * slots hold their documents, and a small, fixed memory bound.
 *
 * The whole protocol lives here: what to take in before a lookup
 * (cache_lookup), whether a document just read may be kept
 * (cache_store), and what to do after the worker's idle wait
 * (cache_after_wait).  The writer's side is db.c's: a commit on the writer
 * connection bumps the shared generation (cache_note_write) by itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

int
cache_init(struct cache *c, int entries, int ttl_ms)
{
	memset(c, 0, sizeof(*c));
	c->c_ttl_ms = ttl_ms;
	if (entries <= 0 || ttl_ms <= 0)
		return 0;
	if ((c->c_slots = calloc((size_t)entries, sizeof(*c->c_slots))) == NULL)
		return -1;
	c->c_n = entries;
	return 0;
}

void
cache_free(struct cache *c)
{
	int	 i;

	for (i = 0; i < c->c_n; i++)
		free(c->c_slots[i].ce_data);
	free(c->c_slots);
	memset(c, 0, sizeof(*c));
}

bool
cache_enabled(const struct cache *c)
{
	return c->c_n > 0;
}

void
cache_note_write(void)
{
	atomic_fetch_add_explicit(&scoreboard->sb_cache_gen, 1, memory_order_release);
}

uint64_t
cache_shared_gen(void)
{
	return atomic_load_explicit(&scoreboard->sb_cache_gen, memory_order_acquire);
}

void
cache_invalidate(struct cache *c)
{
	c->c_gen++;
}

void
cache_epoch(struct cache *c, unsigned epoch)
{
	if (c->c_epoch != epoch) {
		c->c_epoch = epoch;
		c->c_gen++;
	}
}

const char *
cache_get(struct cache *c, const char *job, size_t jlen, uint64_t shared_gen, int64_t now,
    size_t *len, const char **etag)
{
	struct cache_entry	*e;
	uint64_t		 h;

	if (c->c_n == 0)
		return NULL;
	h = fnv1a64(job, jlen);
	e = &c->c_slots[h % (uint64_t)c->c_n];
	if (e->ce_data == NULL || e->ce_hash != h || e->ce_jlen != jlen ||
	    e->ce_gen != c->c_gen || e->ce_shared_gen != shared_gen ||
	    now - e->ce_filled >= c->c_ttl_ms || memcmp(e->ce_data, job, jlen) != 0) {
		c->c_misses++;
		return NULL;
	}
	c->c_hits++;
	*len = e->ce_blen;
	*etag = e->ce_etag;
	return e->ce_data + jlen;
}

void
cache_put(struct cache *c, const char *job, size_t jlen, const char *body, size_t blen,
    const char *etag, uint64_t shared_gen, int64_t now)
{
	struct cache_entry	*e;
	uint64_t		 h;
	char			*p;

	if (c->c_n == 0 || blen > CACHE_DOC_MAX)
		return;
	h = fnv1a64(job, jlen);
	e = &c->c_slots[h % (uint64_t)c->c_n];
	/* One buffer per slot: the job id, then the document; grown, never shrunk. */
	if (jlen + blen > e->ce_cap) {
		if ((p = realloc(e->ce_data, jlen + blen)) == NULL) {
			free(e->ce_data);
			memset(e, 0, sizeof(*e));
			return;
		}
		e->ce_data = p;
		e->ce_cap = jlen + blen;
	}
	memcpy(e->ce_data, job, jlen);
	memcpy(e->ce_data + jlen, body, blen);
	e->ce_hash = h;
	e->ce_jlen = jlen;
	e->ce_blen = blen;
	e->ce_gen = c->c_gen;
	e->ce_shared_gen = shared_gen;
	e->ce_filled = now;
	snprintf(e->ce_etag, sizeof(e->ce_etag), "%s", etag);
}

/*
 * News of writes, taken in: on the socket (unless the wait that woke the
 * worker saw none), and what an earlier query took in with its results,
 * which no longer shows on the socket.  Any: everything kept goes.
 */
static void
cache_take_news(struct cache *c, struct db *reader)
{
	if ((!c->c_fresh && db_poll_notify(reader)) || db_take_notifies(reader))
		cache_invalidate(c);
	c->c_fresh = false;
	cache_epoch(c, reader->db_epoch);
}

const char *
cache_lookup(struct cache *c, struct db *reader, const char *job, size_t jlen,
    uint64_t *ticket, size_t *len, const char **etag)
{
	const char	*doc;

	/*
	 * Anything written since the documents were kept?  Read before the
	 * query, so that news arriving during it invalidates what it returns.
	 */
	*ticket = cache_shared_gen();
	if (c == NULL || !cache_enabled(c))
		return NULL;
	cache_take_news(c, reader);
	if ((doc = cache_get(c, job, jlen, *ticket, mono_ms(), len, etag)) != NULL) {
		atomic_fetch_add_explicit(&scoreboard->sb_cache_hits, 1, memory_order_relaxed);
		return doc;
	}
	atomic_fetch_add_explicit(&scoreboard->sb_cache_misses, 1, memory_order_relaxed);
	return NULL;
}

void
cache_store(struct cache *c, struct db *reader, uint64_t ticket, const char *job,
    size_t jlen, const char *body, size_t blen, const char *etag)
{
	if (c == NULL || !cache_enabled(c))
		return;
	/*
	 * A new connection under the query (a restarted server) lost the old
	 * one's news: what was kept before goes; this, fresh, stays.
	 */
	cache_epoch(c, reader->db_epoch);
	/*
	 * A notification that came with the result is a write that committed
	 * while the query ran: the row read may predate it, so it is not kept
	 * (and nothing kept before is).
	 */
	if (db_take_notifies(reader))
		cache_invalidate(c);
	else
		cache_put(c, job, jlen, body, blen, etag, ticket, mono_ms());
}

int
cache_idle_fd(const struct cache *c, const struct db *reader, unsigned *gen)
{
	*gen = reader->db_epoch;
	return cache_enabled(c) ? db_socket(reader) : -1;
}

void
cache_after_wait(struct cache *c, struct db *reader, bool readable)
{
	/*
	 * News of writes is read at once (the cache forgets, and the server's
	 * queue of notifications for this connection never backs up).  When
	 * there was none, the request that woke the worker needs not look
	 * again: a write that commits after it arrived is concurrent with it.
	 */
	if ((readable && db_poll_notify(reader)) || db_take_notifies(reader))
		cache_invalidate(c);
	c->c_fresh = true;
}

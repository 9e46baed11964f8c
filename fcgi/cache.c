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
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* FNV-1a, 64 bits. */
static uint64_t
hash(const char *s, size_t len)
{
	uint64_t	 h = UINT64_C(14695981039346656037);
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

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
    size_t *len)
{
	struct cache_entry	*e;
	uint64_t		 h;

	if (c->c_n == 0)
		return NULL;
	h = hash(job, jlen);
	e = &c->c_slots[h % (uint64_t)c->c_n];
	if (e->ce_data == NULL || e->ce_hash != h || e->ce_jlen != jlen ||
	    e->ce_gen != c->c_gen || e->ce_shared_gen != shared_gen ||
	    now - e->ce_filled >= c->c_ttl_ms || memcmp(e->ce_data, job, jlen) != 0) {
		c->c_misses++;
		return NULL;
	}
	c->c_hits++;
	*len = e->ce_blen;
	return e->ce_data + jlen;
}

void
cache_put(struct cache *c, const char *job, size_t jlen, const char *body, size_t blen,
    uint64_t shared_gen, int64_t now)
{
	struct cache_entry	*e;
	uint64_t		 h;
	char			*p;

	if (c->c_n == 0 || blen > CACHE_DOC_MAX)
		return;
	h = hash(job, jlen);
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
}

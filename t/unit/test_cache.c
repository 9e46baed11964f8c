/* test_cache.c: fcgi/cache.c: the workers' read cache and its protocol, without a database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static struct cache	 cc;

static void
cache_teardown(void)
{
	cache_free(&cc);
}

TestSuite(cache, .fini = cache_teardown);

static const char *
get_doc(const char *job, uint64_t shared, int64_t now)
{
	static char	 buf[64];
	const char	*d, *etag;
	size_t		 len;

	if ((d = cache_get(&cc, job, strlen(job), shared, now, &len, &etag)) == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, d);
	return buf;
}

static void
put_doc(const char *job, const char *doc, uint64_t shared, int64_t now)
{
	cache_put(&cc, job, strlen(job), doc, strlen(doc), "\"e\"", shared, now);
}

Test(cache, off_when_told)
{
	cr_assert_eq(cache_init(&cc, 0, 1000), 0);
	cr_assert_not(cache_enabled(&cc));
	put_doc("j", "{}", 0, 0);
	cr_assert_null(get_doc("j", 0, 0));
	cache_free(&cc);
	cr_assert_eq(cache_init(&cc, 8, 0), 0);
	cr_assert_not(cache_enabled(&cc), "a TTL of 0 is no cache");
}

Test(cache, keeps_until_the_ttl)
{
	cr_assert_eq(cache_init(&cc, 8, 1000), 0);
	cr_assert(cache_enabled(&cc));
	cr_assert_null(get_doc("j1", 0, 100));
	put_doc("j1", "{\"a\":1}", 0, 100);
	cr_assert_str_eq(get_doc("j1", 0, 100), "{\"a\":1}");
	cr_assert_str_eq(get_doc("j1", 0, 1099), "{\"a\":1}");
	cr_assert_null(get_doc("j1", 0, 1100), "expired");
	cr_assert_null(get_doc("j2", 0, 200), "another job");
}

Test(cache, news_of_writes_forgets_everything)
{
	cr_assert_eq(cache_init(&cc, 8, 60000), 0);
	put_doc("a", "A", 7, 0);
	put_doc("b", "B", 7, 0);
	cr_assert_str_eq(get_doc("a", 7, 1), "A");
	cr_assert_null(get_doc("a", 8, 1), "the pool's own write (shared generation)");
	cr_assert_str_eq(get_doc("b", 7, 1), "B");
	cache_invalidate(&cc);
	cr_assert_null(get_doc("b", 7, 1), "a notification");
	put_doc("b", "B2", 7, 2);
	cr_assert_str_eq(get_doc("b", 7, 3), "B2", "kept again after");
	cache_epoch(&cc, cc.c_epoch);
	cr_assert_str_eq(get_doc("b", 7, 3), "B2", "the same connection");
	cache_epoch(&cc, cc.c_epoch + 1);
	cr_assert_null(get_doc("b", 7, 3), "a new connection: its news started late");
}

Test(cache, slots_hold_one_job_each)
{
	char	 job[16], doc[16];
	int	 i, kept = 0;

	cr_assert_eq(cache_init(&cc, 4, 60000), 0);
	for (i = 0; i < 100; i++) {
		snprintf(job, sizeof(job), "job-%d", i);
		snprintf(doc, sizeof(doc), "D%d", i);
		put_doc(job, doc, 0, 0);
	}
	for (i = 0; i < 100; i++) {
		const char	*d;

		snprintf(job, sizeof(job), "job-%d", i);
		snprintf(doc, sizeof(doc), "D%d", i);
		if ((d = get_doc(job, 0, 1)) != NULL) {
			cr_assert_str_eq(d, doc, "a job never gets another's document");
			kept++;
		}
	}
	cr_assert(kept >= 1 && kept <= 4, "%d kept in 4 slots", kept);
}

Test(cache, large_documents_are_not_kept)
{
	static char	 big[CACHE_DOC_MAX + 2];

	cr_assert_eq(cache_init(&cc, 4, 60000), 0);
	memset(big, 'x', sizeof(big) - 1);
	put_doc("big", big, 0, 0);
	cr_assert_null(get_doc("big", 0, 1));
	big[CACHE_DOC_MAX] = '\0';
	put_doc("big", big, 0, 0);
	cr_assert_not_null(cache_get(&cc, "big", 3, 0, 1, &(size_t){ 0 }, &(const char *){ NULL }),
	    "the limit itself fits");
}

/* --- the protocol: lookup, store, after a wait ------------------------------ */

static struct config	 pcf;
static struct db	 reader;

static void
protocol_setup(void)
{
	if (scoreboard == NULL)
		cr_assert_eq(scoreboard_create(), 0);
	cr_assert_eq(config_init(&pcf), 0);
	/* No connection: the news comes only from the shared generation and the epoch. */
	db_init(&reader, &pcf, DB_READER);
	cr_assert_eq(cache_init(&cc, 8, 60000), 0);
}

static void
protocol_teardown(void)
{
	cache_free(&cc);
	config_free(&pcf);
}

TestSuite(cache_protocol, .init = protocol_setup, .fini = protocol_teardown);

/* Looks job up as the GET handler does; the document or NULL, and the ticket. */
static const char *
lookup(const char *job, uint64_t *ticket)
{
	static char	 buf[64];
	const char	*d, *etag;
	size_t		 len;

	if ((d = cache_lookup(&cc, &reader, job, strlen(job), ticket, &len, &etag)) == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, d);
	return buf;
}

static void
store(const char *job, const char *doc, uint64_t ticket)
{
	cache_store(&cc, &reader, ticket, job, strlen(job), doc, strlen(doc), "\"e\"");
}

Test(cache_protocol, a_miss_then_a_hit_counted)
{
	unsigned long long	 hits = atomic_load(&scoreboard->sb_cache_hits);
	unsigned long long	 misses = atomic_load(&scoreboard->sb_cache_misses);
	uint64_t		 ticket, again;

	cr_assert_null(lookup("j", &ticket));
	store("j", "{\"a\":1}", ticket);
	cr_assert_str_eq(lookup("j", &again), "{\"a\":1}");
	cr_assert_eq(again, ticket);
	cr_assert_eq(atomic_load(&scoreboard->sb_cache_hits), hits + 1);
	cr_assert_eq(atomic_load(&scoreboard->sb_cache_misses), misses + 1);
}

Test(cache_protocol, a_pool_write_forgets_at_every_worker)
{
	uint64_t	 ticket;

	(void)lookup("j", &ticket);
	store("j", "{}", ticket);
	cr_assert_not_null(lookup("j", &ticket));
	cache_note_write();
	cr_assert_null(lookup("j", &ticket), "a write committed since: not served");
}

Test(cache_protocol, a_write_during_the_query_is_not_kept_as_fresh)
{
	uint64_t	 ticket, now;

	cr_assert_null(lookup("j", &ticket));
	/* The query runs; a write commits meanwhile; its result comes back. */
	cache_note_write();
	store("j", "{\"old\":true}", ticket);
	cr_assert_null(lookup("j", &now), "kept under the ticket from before the write");
	cr_assert_neq(now, ticket);
}

Test(cache_protocol, a_new_reader_connection_forgets)
{
	uint64_t	 ticket;

	(void)lookup("j", &ticket);
	store("j", "{}", ticket);
	reader.db_epoch++;
	cr_assert_null(lookup("j", &ticket), "its news started late: all kept goes");
	store("j", "{}", ticket);
	cr_assert_not_null(lookup("j", &ticket), "what the new connection read stays");
}

Test(cache_protocol, no_cache_at_all)
{
	uint64_t	 ticket;
	size_t		 len;
	unsigned	 gen = 0;

	cr_assert_null(cache_lookup(NULL, &reader, "j", 1, &ticket, &len, &(const char *){ NULL }));
	cache_store(NULL, &reader, ticket, "j", 1, "{}", 2, "\"e\"");
	cache_free(&cc);
	cr_assert_eq(cache_init(&cc, 0, 0), 0);
	store("j", "{}", ticket);
	cr_assert_null(lookup("j", &ticket));
	reader.db_epoch = 7;
	cr_assert_eq(cache_idle_fd(&cc, &reader, &gen), -1, "nothing to wait for");
	cr_assert_eq(gen, 7);
}

Test(cache_protocol, after_a_quiet_wait_the_next_lookup_needs_not_poll)
{
	uint64_t	 ticket;

	cache_after_wait(&cc, &reader, false);
	cr_assert(cc.c_fresh);
	(void)lookup("j", &ticket);
	cr_assert_not(cc.c_fresh, "one request only");
}

Test(cache_protocol, a_hit_gives_the_tag_kept_with_the_document)
{
	uint64_t	 ticket;
	const char	*etag = NULL;
	size_t		 len;

	(void)lookup("j", &ticket);
	cache_store(&cc, &reader, ticket, "j", 1, "{}", 2, "\"t1\"");
	cr_assert_not_null(cache_lookup(&cc, &reader, "j", 1, &ticket, &len, &etag));
	cr_assert_str_eq(etag, "\"t1\"");
}

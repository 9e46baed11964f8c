/* handler_progress.c: GET/HEAD /api/v2/training/jobs/{job_id}/progress. */
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

/*
 * Renders the job's document from a STMT_GET result into *body (the caller
 * frees it).  0, or -1 when there is no such job (404 sent) or the row
 * could not be rendered (500 sent).
 */
static int
render_row(struct request *rq, PGresult *res, char **body, size_t *len)
{
	struct progress_row	 row;
	char			 message[TP_JOB_ID_MAX + 64];

	*body = NULL;
	if (PQntuples(res) == 0) {
		snprintf(message, sizeof(message), "no training job has the id \"%s\"",
		    rq->rq_route.rt_job_id);
		http_reply_error(rq, 404, "not_found", message, NULL);
		return -1;
	}
	if (store_decode_progress(res, 0, &row) == -1) {
		log_error("decode_failed", "training_progress row does not have the "
		    "columns and types this build expects: run deploy/migrate");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be read", NULL);
		return -1;
	}
	if ((*body = render_progress(&row, len)) == NULL) {
		log_error("render_failed", "could not render the progress of a job "
		    "(out of memory, or a JSON column that is not an object)");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be rendered", NULL);
		return -1;
	}
	return 0;
}

void
reply_progress(struct request *rq, PGresult *res, int status)
{
	char	*body;
	size_t	 len = 0;

	if (render_row(rq, res, &body, &len) == -1)
		return;
	http_reply_json(rq, status, body, len, NULL);
	free(body);
}

void
handle_progress(struct request *rq)
{
	struct route	*rt = &rq->rq_route;
	struct cache	*c = rq->rq_cache;
	char		 stall[32], *body;
	const char	*params[2] = { rt->rt_job_id, db_stall_param(rq->rq_cf, stall,
			    sizeof(stall)) };
	const char	*cached;
	PGresult	*res = NULL;
	uint64_t	 gen;
	size_t		 len = 0;

	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	/*
	 * Anything written since the documents were kept?  Read before the
	 * query, so that news arriving during it invalidates what it returns.
	 */
	gen = cache_shared_gen();
	if (c != NULL && cache_enabled(c)) {
		/*
		 * News on the socket, unless the wait that woke us saw none;
		 * and in any case the news an earlier query took in with its
		 * results, which no longer shows on the socket.
		 */
		if ((!c->c_fresh && db_poll_notify(rq->rq_reader)) ||
		    db_take_notifies(rq->rq_reader))
			cache_invalidate(c);
		c->c_fresh = false;
		cache_epoch(c, rq->rq_reader->db_epoch);
		if ((cached = cache_get(c, rt->rt_job_id, rt->rt_job_id_len, gen, mono_ms(),
		    &len)) != NULL) {
			atomic_fetch_add_explicit(&scoreboard->sb_cache_hits, 1, memory_order_relaxed);
			http_reply_json(rq, 200, cached, len, NULL);
			return;
		}
		atomic_fetch_add_explicit(&scoreboard->sb_cache_misses, 1, memory_order_relaxed);
	}
	if (!http_db_ok(rq, rq->rq_reader, db_exec(rq->rq_reader, STMT_GET, 2, params,
	    http_db_deadline(rq), &res), "the progress database answered with an error"))
		return;
	if (render_row(rq, res, &body, &len) == 0) {
		http_reply_json(rq, 200, body, len, NULL);
		/*
		 * A new connection under the query (a restarted server) lost the
		 * old one's news: what was kept before goes; this, fresh, stays.
		 */
		if (c != NULL && cache_enabled(c)) {
			cache_epoch(c, rq->rq_reader->db_epoch);
			/*
			 * A notification that came with the result is a write that
			 * committed while the query ran: the row read may predate
			 * it, so it is not kept (and nothing kept before is).
			 */
			if (db_take_notifies(rq->rq_reader))
				cache_invalidate(c);
			else
				cache_put(c, rt->rt_job_id, rt->rt_job_id_len, body, len, gen,
				    mono_ms());
		}
		free(body);
	}
	PQclear(res);
}

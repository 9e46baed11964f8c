/* handler_progress.c: GET/HEAD /api/v2/training/jobs/{job_id}/progress. */
#include <stdlib.h>

#include "pool.h"

void
handle_progress(struct request *rq)
{
	struct route	*rt = &rq->rq_route;
	char		 stall[32], *body, tag[RENDER_ETAG_MAX];
	const char	*params[2] = { rt->rt_job_id, db_stall_param(rq->rq_cf, stall,
			    sizeof(stall)) };
	const char	*cached, *etag;
	PGresult	*res = NULL;
	uint64_t	 ticket;
	size_t		 len = 0;

	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	if ((cached = cache_lookup(rq->rq_cache, rq->rq_reader, rt->rt_job_id,
	    rt->rt_job_id_len, &ticket, &len, &etag)) != NULL) {
		http_reply_tagged(rq, 200, cached, len, etag);
		return;
	}
	if (!http_db_ok(rq, rq->rq_reader, db_exec(rq->rq_reader, STMT_GET, params,
	    http_db_deadline(rq), &res), "the progress database answered with an error"))
		return;
	if (http_render_progress(rq, res, NULL, &body, &len) == 0) {
		render_etag(body, len, tag);
		http_reply_tagged(rq, 200, body, len, tag);
		cache_store(rq->rq_cache, rq->rq_reader, ticket, rt->rt_job_id,
		    rt->rt_job_id_len, body, len, tag);
		free(body);
	}
	PQclear(res);
}

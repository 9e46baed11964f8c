/*
 * handler_stream.c: GET /api/v2/training/jobs/{job_id}/progress/stream.
 *
 * A live stream is held by nginx's nchan module, never by a worker: the
 * worker only decides where the subscriber goes, and answers at once.
 *
 *  - an unknown job: 404, as GET .../progress says it;
 *  - a job still going: an internal redirect (X-Accel-Redirect) to the
 *    nchan subscriber location of its channel, under TP_STREAM_LOCATION
 *    (set by conf/nginx/trainprog-server.conf), "live/<channel>".  nchan
 *    sends the newest document it holds, then each one tp-notify publishes,
 *    and resumes after a Last-Event-ID it still holds;
 *  - a job that has ended, Server-Sent Events: the final document as the
 *    one event of a stream that then ends, with the id "end:<seq>"; an
 *    EventSource reconnects once the stream ends, and a request whose
 *    Last-Event-ID is that id gets 204, which tells it to stop;
 *  - a job that has ended, WebSocket: a redirect to "final/<channel>",
 *    where tp-notify left the final document (nginx closes it soon after).
 *
 * Without TP_STREAM_LOCATION (Apache, lighttpd, nginx without nchan) the
 * answer is a 501 that says to poll with If-None-Match instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static void
redirect(struct request *rq, const char *location, const char *kind, const char *job_id)
{
	char	 head[512], chan[RENDER_CHANNEL_MAX];
	int	 n;

	render_channel_id(job_id, chan);
	n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
	    "X-Accel-Redirect: %s%s/%s\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Cache-Control: no-cache\r\n"
	    "\r\n", location, kind, chan);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		http_reply_error(rq, 500, "internal_error",
		    "TP_STREAM_LOCATION is too long", NULL);
		return;
	}
	FCGX_PutStr(head, n, rq->rq_fcgi->out);
	rq->rq_status = 200;
}

/* The last event of an ended job's stream: its final document. */
static void
final_event(struct request *rq, const struct progress_row *row, const char *doc, size_t len)
{
	const char	*last = http_param(rq, "HTTP_LAST_EVENT_ID");
	char		 head[256], id[32];
	int		 n;

	snprintf(id, sizeof(id), "end:%lld", (long long)row->pr_seq);
	if (last != NULL && strncmp(last, "end:", 4) == 0) {
		/* It has the final document: 204 stops an EventSource for good. */
		n = snprintf(head, sizeof(head), "Status: 204 No Content\r\n"
		    "Cache-Control: no-cache\r\n\r\n");
		FCGX_PutStr(head, n, rq->rq_fcgi->out);
		rq->rq_status = 204;
		return;
	}
	n = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "\r\n"
	    "id: %s\n"
	    "data: ", id);
	FCGX_PutStr(head, n, rq->rq_fcgi->out);
	/* A rendered document is one line: cJSON escapes every newline. */
	FCGX_PutStr(doc, (int)len, rq->rq_fcgi->out);
	FCGX_PutStr("\n\n", 2, rq->rq_fcgi->out);
	rq->rq_status = 200;
}

void
handle_stream(struct request *rq)
{
	struct route		*rt = &rq->rq_route;
	struct progress_row	 row;
	char			 stall[32], *doc = NULL;
	const char		*params[2] = { rt->rt_job_id, db_stall_param(rq->rq_cf, stall,
				    sizeof(stall)) };
	const char		*location = http_param(rq, "TP_STREAM_LOCATION");
	bool			 ws, sse;
	PGresult		*res = NULL;
	size_t			 len = 0;

	if (rq->rq_cf->cf_read_token_required && !auth_require(rq, rq->rq_reader, "read"))
		return;
	if (location == NULL || location[0] != '/') {
		http_reply_error(rq, 501, "streams_unavailable",
		    "live streams need nginx with the nchan module "
		    "(conf/nginx/trainprog-server.conf); poll .../progress with "
		    "If-None-Match instead", NULL);
		return;
	}
	ws = header_lists(http_param(rq, "HTTP_UPGRADE"), "websocket");
	sse = header_lists(http_param(rq, "HTTP_ACCEPT"), "text/event-stream");
	if (!ws && !sse) {
		http_reply_error(rq, 406, "not_acceptable",
		    "the stream speaks Server-Sent Events (Accept: text/event-stream) "
		    "or WebSocket (Upgrade: websocket)", NULL);
		return;
	}
	if (!http_db_ok(rq, rq->rq_reader, db_exec(rq->rq_reader, STMT_GET, params,
	    http_db_deadline(rq), &res), "the progress database answered with an error"))
		return;
	if (http_render_progress(rq, res, &row, &doc, &len) == -1)
		goto done;
	if (!row.pr_is_complete)
		redirect(rq, location, "live", rt->rt_job_id);
	else if (ws)
		redirect(rq, location, "final", rt->rt_job_id);
	else
		final_event(rq, &row, doc, len);
done:
	free(doc);
	PQclear(res);
}

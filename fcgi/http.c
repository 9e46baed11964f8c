/*
 * http.c: a request as the handlers see it (parameters, body, deadline) and
 * the CGI responses they write to FastCGI: status, headers, JSON bodies,
 * errors, a job's progress document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool.h"

void
request_reset(struct request *rq, FCGX_Request *fcgi)
{
	memset(rq, 0, sizeof(*rq));
	rq->rq_fcgi = fcgi;
	rq->rq_started = mono_ms();
}

const char *
http_param(const struct request *rq, const char *name)
{
	return FCGX_GetParam(name, rq->rq_fcgi->envp);
}

int64_t
http_db_deadline(const struct request *rq)
{
	return rq->rq_started + rq->rq_cf->cf_db_timeout_ms;
}

long
http_read_body(struct request *rq, size_t max, char **out)
{
	const char	*cl = http_param(rq, "CONTENT_LENGTH");
	char		*buf, *end;
	long		 want = 0;
	int		 got;

	*out = NULL;
	if (cl != NULL && *cl != '\0') {
		want = strtol(cl, &end, 10);
		if (*end != '\0' || want < 0)
			return -1;
	}
	if ((size_t)want > max || (buf = malloc((size_t)want + 1)) == NULL)
		return -1;
	/* The guard has seen the whole body arrive (or holds it): this does not wait. */
	if (rq->rq_body != NULL) {
		got = rq->rq_body_len == (size_t)want ? (int)want : -1;
		if (got > 0)
			memcpy(buf, rq->rq_body, (size_t)want);
	} else
		got = want > 0 ? FCGX_GetStr(buf, (int)want, rq->rq_fcgi->in) : 0;
	if (got != want) {
		free(buf);
		return -1;
	}
	buf[want] = '\0';
	*out = buf;
	return want;
}

/* Is the request's body JSON (application/json, or a +json type)? */
static bool
json_content_type(const char *ct)
{
	size_t	 n;

	if (ct == NULL)
		return false;
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	/* application/vnd.something+json */
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	    strncasecmp(ct + n - 5, "+json", 5) == 0;
}

long
http_read_json_body(struct request *rq, char **out)
{
	long	 len;

	*out = NULL;
	if (!json_content_type(http_param(rq, "CONTENT_TYPE"))) {
		http_reply_error(rq, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type: application/json", NULL);
		return -1;
	}
	if ((len = http_read_body(rq, (size_t)rq->rq_cf->cf_max_body_size, out)) < 0) {
		/* The guard refuses longer bodies before this; a short one is left. */
		http_reply_error(rq, 400, "invalid_body",
		    "the body does not match its Content-Length", NULL);
		return -1;
	}
	return len;
}

void
http_reply_unavailable(struct request *rq, const struct db *db)
{
	char	 extra[64];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", db_retry_after(db));
	http_reply_error(rq, 503, "database_unavailable",
	    "the progress database cannot be reached; try again shortly", extra);
}

bool
http_db_ok(struct request *rq, const struct db *db, enum db_status st, const char *failed)
{
	switch (st) {
	case DB_OK:
		return true;
	case DB_UNAVAILABLE:
		http_reply_unavailable(rq, db);
		break;
	case DB_FAILED:
		http_reply_error(rq, 500, "internal_error", failed, NULL);
		break;
	}
	return false;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

void
http_reply_json(struct request *rq, int status, const char *body, size_t len,
    const char *extra_headers)
{
	/* Room for a Location naming a job id of 255 bytes, each percent-encoded. */
	char	 head[1536];
	int	 n;

	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Length: %zu\r\n"
	    "%s\r\n",
	    status, http_reason(status), len, extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		/* Only a programming error gets here: the extras are ours. */
		log_error("response_header", "response header too long (status %d)", status);
		return;
	}
	FCGX_PutStr(head, n, rq->rq_fcgi->out);
	if (!rq->rq_route.rt_head && len > 0)
		FCGX_PutStr(body, (int)len, rq->rq_fcgi->out);
	rq->rq_status = status;
}

void
http_reply_error(struct request *rq, int status, const char *code,
    const char *message, const char *extra_headers)
{
	http_reply_field_error(rq, status, code, message, NULL, extra_headers);
}

void
http_reply_field_error(struct request *rq, int status, const char *code,
    const char *message, const char *field, const char *extra_headers)
{
	static const char	 oom[] =
	    "{\"error\":\"internal_error\",\"message\":\"out of memory\"}";
	char			*body;
	size_t			 len = 0;

	if ((body = render_error_field(code, message, field, &len)) == NULL) {
		http_reply_json(rq, 500, oom, sizeof(oom) - 1, NULL);
		return;
	}
	http_reply_json(rq, status, body, len, extra_headers);
	free(body);
}

void
http_reply_no_job(struct request *rq)
{
	char	 message[TP_JOB_ID_MAX + 64];

	snprintf(message, sizeof(message), "no training job has the id \"%s\"",
	    rq->rq_route.rt_job_id);
	http_reply_error(rq, 404, "not_found", message, NULL);
}

int
http_render_progress(struct request *rq, PGresult *res, struct progress_row *out,
    char **body, size_t *len)
{
	struct progress_row	 own, *row = out != NULL ? out : &own;

	*body = NULL;
	if (PQntuples(res) == 0) {
		http_reply_no_job(rq);
		return -1;
	}
	if (store_decode_progress(res, 0, row) == -1) {
		log_error("decode_failed", "training_progress row does not have the "
		    "columns and types this build expects: run deploy/migrate");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be read", NULL);
		return -1;
	}
	if ((*body = render_progress(row, len)) == NULL) {
		log_error("render_failed", "could not render the progress of a job "
		    "(out of memory, or a JSON column that is not an object)");
		http_reply_error(rq, 500, "internal_error",
		    "the stored progress could not be rendered", NULL);
		return -1;
	}
	return 0;
}

void
http_reply_progress(struct request *rq, PGresult *res, int status)
{
	char	*body, etag[RENDER_ETAG_MAX];
	size_t	 len = 0;

	if (http_render_progress(rq, res, NULL, &body, &len) == -1)
		return;
	render_etag(body, len, etag);
	http_reply_tagged(rq, status, body, len, etag);
	free(body);
}

void
http_reply_tagged(struct request *rq, int status, const char *body, size_t len,
    const char *etag)
{
	char	 head[128];
	int	 n;

	/* Only a read is conditional: a POST's answer is never "not modified". */
	if (status == 200 && rq->rq_route.rt_id == ROUTE_PROGRESS &&
	    etag_matches(http_param(rq, "HTTP_IF_NONE_MATCH"), etag)) {
		n = snprintf(head, sizeof(head), "Status: 304 %s\r\n"
		    "ETag: %s\r\n"
		    "Cache-Control: no-cache\r\n"
		    "\r\n", http_reason(304), etag);
		FCGX_PutStr(head, n, rq->rq_fcgi->out);
		rq->rq_status = 304;
		return;
	}
	snprintf(head, sizeof(head), "ETag: %s\r\n", etag);
	http_reply_json(rq, status, body, len, head);
}

/* render.c: progress rows and errors as JSON documents (cJSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "internal.h"

void
render_etag(const char *doc, size_t len, char out[RENDER_ETAG_MAX])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[32];
	int			 i;

	sha256(doc, len, md);
	out[0] = '"';
	for (i = 0; i < 16; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 0xf];
	}
	out[33] = '"';
	out[34] = '\0';
}

void
render_channel_id(const char *job_id, char out[RENDER_CHANNEL_MAX])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[32];
	int			 i;

	sha256(job_id, strlen(job_id), md);
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[32] = '\0';
}

int
render_timestamp(int64_t unix_us, char *buf, size_t size)
{
	struct tm	 tm;
	time_t		 secs;
	int64_t		 usec;
	int		 n;

	/* Floor division, so that instants before 1970 keep a positive fraction. */
	secs = (time_t)(unix_us / 1000000);
	usec = unix_us % 1000000;
	if (usec < 0) {
		usec += 1000000;
		secs -= 1;
	}
	if (gmtime_r(&secs, &tm) == NULL)
		return -1;
	if (tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return -1;
	if (usec == 0)
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

/*
 * Appends item to obj under name, taking ownership of item (freed on
 * failure).  Returns 0, or -1 when out of memory.
 */
static int
attach(cJSON *obj, const char *name, cJSON *item)
{
	if (item == NULL)
		return -1;
	if (!cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return -1;
	}
	return 0;
}

/* A new object at the end of list, or NULL out of memory. */
static cJSON *
append_object(cJSON *list)
{
	cJSON	*item = cJSON_CreateObject();

	if (item != NULL && !cJSON_AddItemToArray(list, item)) {
		cJSON_Delete(item);
		item = NULL;
	}
	return item;
}

/* Adds `name` as a string, or null when s is NULL.  Returns 0 or -1. */
static int
add_string(cJSON *obj, const char *name, const char *s)
{
	return attach(obj, name, s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull());
}

static int
add_number(cJSON *obj, const char *name, bool present, double v)
{
	return attach(obj, name, present ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* An integer exactly, digits only (a double would print 2^53 and up inexactly). */
static int
add_integer(cJSON *obj, const char *name, int64_t v)
{
	char	 buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return attach(obj, name, cJSON_CreateRaw(buf));
}

/* A timestamp that cannot be written as RFC 3339 renders as null. */
static int
add_timestamp(cJSON *obj, const char *name, bool present, int64_t unix_us)
{
	char	 buf[RENDER_TIMESTAMP_MAX];

	if (present && render_timestamp(unix_us, buf, sizeof(buf)) < 0)
		present = false;
	return add_string(obj, name, present ? buf : NULL);
}

/*
 * Adds a JSONB column verbatim.  PostgreSQL printed it, so it is valid JSON;
 * embedding the text (rather than parsing and printing it again) keeps
 * numbers such as 12345678901234567890 exact.  Anything but an object is
 * refused: the spec types these fields as objects.
 */
static int
add_object_text(cJSON *obj, const char *name, const char *json)
{
	cJSON		*item;
	const char	*p;

	if (json == NULL)
		item = cJSON_CreateNull();
	else {
		for (p = json; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
			continue;
		if (*p != '{')
			return -1;
		item = cJSON_CreateRaw(json);
	}
	return attach(obj, name, item);
}

char *
render_progress(const struct progress_row *r, size_t *len)
{
	cJSON	*doc;
	char	*out = NULL;

	if ((doc = cJSON_CreateObject()) == NULL)
		return NULL;
	if (add_string(doc, "job_id", r->pr_job_id) == -1 ||
	    add_number(doc, "percentage", true, r->pr_percentage) == -1 ||
	    add_string(doc, "current_step", r->pr_current_step) == -1 ||
	    add_number(doc, "step_number", true, r->pr_step_number) == -1 ||
	    add_number(doc, "total_steps", true, r->pr_total_steps) == -1 ||
	    add_number(doc, "step_percentage", true, r->pr_step_percentage) == -1 ||
	    add_object_text(doc, "step_details", r->pr_step_details) == -1 ||
	    add_timestamp(doc, "started_at", true, r->pr_started_at) == -1 ||
	    add_timestamp(doc, "updated_at", true, r->pr_updated_at) == -1 ||
	    add_timestamp(doc, "estimated_completion",
	    r->pr_has_estimated_completion, r->pr_estimated_completion) == -1 ||
	    add_number(doc, "current_iteration", r->pr_has_current_iteration,
	    r->pr_current_iteration) == -1 ||
	    add_number(doc, "total_iterations", r->pr_has_total_iterations,
	    r->pr_total_iterations) == -1 ||
	    add_number(doc, "best_score", r->pr_has_best_score, r->pr_best_score) == -1 ||
	    add_number(doc, "current_score", r->pr_has_current_score,
	    r->pr_current_score) == -1 ||
	    add_object_text(doc, "best_params", r->pr_best_params) == -1 ||
	    attach(doc, "is_complete", cJSON_CreateBool(r->pr_is_complete)) == -1 ||
	    add_string(doc, "error_message", r->pr_error_message) == -1 ||
	    /* Additions to the spec's document, after its fields. */
	    (r->pr_status != NULL && add_string(doc, "status", r->pr_status) == -1) ||
	    (r->pr_status != NULL && add_integer(doc, "seq", r->pr_seq) == -1))
		goto done;
	if ((out = cJSON_PrintUnformatted(doc)) != NULL && len != NULL)
		*len = strlen(out);
done:
	cJSON_Delete(doc);
	return out;
}

char *
render_jobs(const struct job_item *items, int n, const char *next_cursor,
    const int64_t counts[JOB_STATUS_COUNT], size_t *len)
{
	cJSON		*doc, *list, *item, *cnt;
	const struct job_item *ji;
	char		*out = NULL;
	int64_t		 total = 0;
	int		 i;

	if ((doc = cJSON_CreateObject()) == NULL)
		return NULL;
	if ((list = cJSON_AddArrayToObject(doc, "jobs")) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		ji = &items[i];
		if ((item = append_object(list)) == NULL)
			goto done;
		if (add_string(item, "job_id", ji->ji_job_id) == -1 ||
		    add_string(item, "status", ji->ji_status) == -1 ||
		    add_number(item, "percentage", true, ji->ji_percentage) == -1 ||
		    add_string(item, "current_step", ji->ji_current_step) == -1 ||
		    add_number(item, "step_number", true, ji->ji_step_number) == -1 ||
		    add_number(item, "best_score", ji->ji_has_best_score, ji->ji_best_score) == -1 ||
		    add_timestamp(item, "updated_at", true, ji->ji_updated_at) == -1 ||
		    add_timestamp(item, "estimated_completion", ji->ji_has_eta, ji->ji_eta) == -1)
			goto done;
	}
	if (add_string(doc, "next_cursor", next_cursor) == -1 ||
	    (cnt = cJSON_AddObjectToObject(doc, "counts")) == NULL)
		goto done;
	for (i = 0; i < JOB_STATUS_COUNT; i++) {
		if (add_integer(cnt, job_status_names[i], counts[i]) == -1)
			goto done;
		total += counts[i];
	}
	if (add_integer(cnt, "total", total) == -1)
		goto done;
	if ((out = cJSON_PrintUnformatted(doc)) != NULL && len != NULL)
		*len = strlen(out);
done:
	cJSON_Delete(doc);
	return out;
}

/*
 * s itself when it is valid UTF-8 (every 404 comes here: no copy), else a
 * scrubbed copy that *copy owns; NULL when out of memory.
 */
static const char *
utf8_clean(const char *s, char **copy)
{
	if (utf8_valid(s, strlen(s)))
		return s;
	return *copy = utf8_scrub(s);
}

char *
render_error_field(const char *code, const char *message, const char *field, size_t *len)
{
	cJSON	*doc = NULL;
	char	*out = NULL, *msg = NULL, *fld = NULL;

	/*
	 * Messages and field names may quote what a client sent (a query
	 * parameter, a field name): whatever its bytes, the document stays
	 * valid UTF-8.
	 */
	if ((message = utf8_clean(message, &msg)) == NULL ||
	    (field != NULL && (field = utf8_clean(field, &fld)) == NULL) ||
	    (doc = cJSON_CreateObject()) == NULL)
		goto done;
	if (add_string(doc, "error", code) == 0 &&
	    add_string(doc, "message", message) == 0 &&
	    (field == NULL || add_string(doc, "field", field) == 0) &&
	    (out = cJSON_PrintUnformatted(doc)) != NULL && len != NULL)
		*len = strlen(out);
done:
	cJSON_Delete(doc);
	free(msg);
	free(fld);
	return out;
}

char *
render_history(const char *job_id, const struct snapshot *snaps, int n,
    int64_t next_since_seq, bool has_more, size_t *len)
{
	const struct snapshot	*sn;
	cJSON			*doc, *list, *item;
	char			*out = NULL;
	int			 i;

	if ((doc = cJSON_CreateObject()) == NULL)
		return NULL;
	if (add_string(doc, "job_id", job_id) == -1 ||
	    (list = cJSON_AddArrayToObject(doc, "snapshots")) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		sn = &snaps[i];
		if ((item = append_object(list)) == NULL)
			goto done;
		if (add_integer(item, "seq", sn->sn_seq) == -1 ||
		    add_timestamp(item, "at", true, sn->sn_at) == -1 ||
		    add_string(item, "status", sn->sn_status) == -1 ||
		    add_number(item, "percentage", true, sn->sn_percentage) == -1 ||
		    add_number(item, "step_number", true, sn->sn_step_number) == -1 ||
		    add_string(item, "current_step", sn->sn_current_step) == -1 ||
		    add_number(item, "step_percentage", true, sn->sn_step_percentage) == -1 ||
		    add_number(item, "current_iteration", sn->sn_has_iteration,
		    sn->sn_iteration) == -1 ||
		    add_number(item, "best_score", sn->sn_has_best_score, sn->sn_best_score) == -1 ||
		    add_number(item, "current_score", sn->sn_has_current_score,
		    sn->sn_current_score) == -1)
			goto done;
	}
	if (add_integer(doc, "next_since_seq", next_since_seq) == -1 ||
	    attach(doc, "has_more", cJSON_CreateBool(has_more)) == -1)
		goto done;
	if ((out = cJSON_PrintUnformatted(doc)) != NULL && len != NULL)
		*len = strlen(out);
done:
	cJSON_Delete(doc);
	return out;
}

char *
render_notifications(const char *job_id, const struct job_notification *items, int n,
    size_t *len)
{
	const struct job_notification	*jn;
	cJSON				*doc, *list, *item;
	char				*out = NULL;
	int				 i;

	if ((doc = cJSON_CreateObject()) == NULL)
		return NULL;
	if (add_string(doc, "job_id", job_id) == -1 ||
	    (list = cJSON_AddArrayToObject(doc, "notifications")) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		jn = &items[i];
		if ((item = append_object(list)) == NULL)
			goto done;
		if (add_string(item, "kind", jn->jn_kind) == -1 ||
		    add_string(item, "target", jn->jn_target) == -1 ||
		    attach(item, "every_job", cJSON_CreateBool(jn->jn_every_job)) == -1 ||
		    add_string(item, "event", jn->jn_event) == -1 ||
		    add_string(item, "state", jn->jn_state) == -1 ||
		    add_integer(item, "attempts", jn->jn_attempts) == -1 ||
		    add_timestamp(item, "delivered_at", jn->jn_has_delivered_at,
		    jn->jn_delivered_at) == -1 ||
		    add_timestamp(item, "next_attempt_at", jn->jn_has_next_attempt_at,
		    jn->jn_next_attempt_at) == -1 ||
		    add_string(item, "last_error", jn->jn_last_error) == -1)
			goto done;
	}
	if ((out = cJSON_PrintUnformatted(doc)) != NULL && len != NULL)
		*len = strlen(out);
done:
	cJSON_Delete(doc);
	return out;
}

char *
render_error(const char *code, const char *message, size_t *len)
{
	return render_error_field(code, message, NULL, len);
}

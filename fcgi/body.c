/*
 * body.c: the body of POST .../progress, a publisher's event, parsed and
 * checked field by field.  Pure: no I/O.  What the values may be is the
 * library's rule (tp_update_problem() and its kin), applied here as the
 * tracker applies it; this file owns only the JSON: types, names, spans.
 *
 * The body is parsed by cJSON, then walked once more by hand to find the
 * exact text of step_details and best_params, which is stored as it came
 * (jsonb parses it), so that no number is rounded by a trip through a
 * double.  Integers (seq, iterations) are read from their text too.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pool.h"

/* The fields an event may carry, and which events take each. */
enum field {
	F_SEQ, F_EVENT, F_STEP, F_STEP_DETAILS, F_STEP_PERCENTAGE, F_CURRENT_ITERATION,
	F_TOTAL_ITERATIONS, F_BEST_SCORE, F_CURRENT_SCORE, F_BEST_PARAMS,
	F_ERROR_MESSAGE, F_COUNT
};

#define K(k)	(1u << (k))
#define ANY	(K(JOB_EV_QUEUE) | K(JOB_EV_START) | K(JOB_EV_UPDATE) | K(JOB_EV_COMPLETE) | K(JOB_EV_ERROR))

static const struct {
	const char	*name;
	unsigned	 events;	/* K() of the events it belongs to */
} fields[F_COUNT] = {
	[F_SEQ] = { "seq", ANY },
	[F_EVENT] = { "event", ANY },
	[F_STEP] = { "step", K(JOB_EV_START) },
	[F_STEP_DETAILS] = { "step_details", K(JOB_EV_START) | K(JOB_EV_UPDATE) },
	[F_STEP_PERCENTAGE] = { "step_percentage", K(JOB_EV_UPDATE) },
	[F_CURRENT_ITERATION] = { "current_iteration", K(JOB_EV_UPDATE) },
	[F_TOTAL_ITERATIONS] = { "total_iterations", K(JOB_EV_UPDATE) },
	[F_BEST_SCORE] = { "best_score", K(JOB_EV_UPDATE) },
	[F_CURRENT_SCORE] = { "current_score", K(JOB_EV_UPDATE) },
	[F_BEST_PARAMS] = { "best_params", K(JOB_EV_UPDATE) },
	[F_ERROR_MESSAGE] = { "error_message", K(JOB_EV_ERROR) },
};

static int
refuse(struct posted_event *pe, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct posted_event *pe, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	pe->pe_field = field;
	va_start(ap, fmt);
	vsnprintf(pe->pe_problem, sizeof(pe->pe_problem), fmt, ap);
	va_end(ap);
	return -1;
}

/* --- raw spans --------------------------------------------------------- */

/*
 * Whitespace as cJSON skips it: every byte from 0x01 to 0x20, control bytes
 * included (NUL never reaches here).  The scan must agree with cJSON on every
 * text cJSON accepts, or a span goes missing.
 */
static bool
json_ws(char c)
{
	return (unsigned char)c - 1u < 32u;
}

static const char *
skip_ws(const char *p)
{
	while (json_ws(*p))
		p++;
	return p;
}

/* Past the string starting at p (a '"'), in text already known to be JSON. */
static const char *
skip_string(const char *p)
{
	for (p++; *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p + 1;
}

/* Past the value starting at p, in text already known to be JSON. */
static const char *
skip_value(const char *p)
{
	int	 depth = 0;

	do {
		if (*p == '"')
			p = skip_string(p);
		else {
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			else if (depth == 0) {
				/* A scalar: up to a delimiter. */
				while (*p != '\0' && *p != ',' && *p != '}' && *p != ']' &&
				    !json_ws(*p))
					p++;
				return p;
			}
			p++;
		}
		p = depth > 0 ? skip_ws(p) : p;
		while (depth > 0 && (*p == ',' || *p == ':'))
			p = skip_ws(p + 1);
	} while (depth > 0);
	return p;
}

/* Which field does the raw key at p (a '"') name?  F_COUNT: none. */
static enum field
key_field(const char *p, const char *end)
{
	cJSON		*key;
	enum field	 f = F_COUNT;
	int		 i;

	if ((key = cJSON_ParseWithLength(p, (size_t)(end - p))) == NULL)
		return F_COUNT;
	if (cJSON_IsString(key))
		for (i = 0; i < F_COUNT; i++)
			if (strcmp(key->valuestring, fields[i].name) == 0)
				f = (enum field)i;
	cJSON_Delete(key);
	return f;
}

/*
 * Finds the text of each known member of the top-level object in body
 * (well-formed JSON, an object, as cJSON read it: a UTF-8 byte order mark
 * may lead), NUL-terminating it in place.
 */
static void
find_spans(char *body, char *start[F_COUNT])
{
	char		*p = body, *key, *value, *end[F_COUNT];
	enum field	 f;
	int		 i;

	memset(end, 0, sizeof(end));
	/* cJSON skips a byte order mark at the very start, then whitespace. */
	if (strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	p = (char *)skip_ws(p);
	if (*p != '{')
		return;
	for (p = (char *)skip_ws(p + 1); *p == '"'; p = (char *)skip_ws(p)) {
		key = p;
		p = (char *)skip_string(p);
		f = key_field(key, p);
		value = (char *)skip_ws(skip_ws(p) + 1);	/* past the ':' */
		p = (char *)skip_value(value);
		if (f != F_COUNT) {
			start[f] = value;
			end[f] = p;
		}
		p = (char *)skip_ws(p);
		if (*p == ',')
			p++;
	}
	/* Each span ends on a delimiter no other span holds. */
	for (i = 0; i < F_COUNT; i++)
		if (end[i] != NULL)
			*end[i] = '\0';
}

/* --- fields ------------------------------------------------------------ */

/* An integer written as one (no fraction, no exponent) within lo..hi. */
static int
integer(struct posted_event *pe, enum field f, const cJSON *item, const char *text,
    int64_t lo, int64_t hi, int64_t *out)
{
	const char	*p = text;
	char		*end;
	long long	 v;

	if (!cJSON_IsNumber(item))
		return refuse(pe, fields[f].name, "%s must be a number", fields[f].name);
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9' || strspn(p, "0123456789") != strlen(p))
		return refuse(pe, fields[f].name, "%s must be a whole number, written "
		    "without a fraction or an exponent", fields[f].name);
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || v < lo || v > hi)
		return refuse(pe, fields[f].name, "%s must be within %" PRId64 "..%" PRId64,
		    fields[f].name, lo, hi);
	*out = v;
	return 0;
}

static int
number(struct posted_event *pe, enum field f, const cJSON *item, double *out)
{
	if (!cJSON_IsNumber(item))
		return refuse(pe, fields[f].name, "%s must be a number", fields[f].name);
	if (!isfinite(item->valuedouble))
		return refuse(pe, fields[f].name, "%s is out of range", fields[f].name);
	*out = item->valuedouble;
	return 0;
}

static int
object(struct posted_event *pe, enum field f, const cJSON *item, const char *text,
    const char **out)
{
	if (!cJSON_IsObject(item))
		return refuse(pe, fields[f].name, "%s must be a JSON object ({...})",
		    fields[f].name);
	*out = text;
	return 0;
}

/* A string without NUL (text columns cannot hold one). */
static int
string(struct posted_event *pe, enum field f, const cJSON *item, const char *text,
    const char **out)
{
	if (!cJSON_IsString(item))
		return refuse(pe, fields[f].name, "%s must be a string", fields[f].name);
	if (json_escape_problem(text) != NULL)
		return refuse(pe, fields[f].name, "%s must not contain \\u0000", fields[f].name);
	*out = item->valuestring;
	return 0;
}

/*
 * What the library says of the event's values: NULL, or why not with the
 * field at fault.  A sentence that does not name its field ("malformed
 * JSON") is said of the field here.
 */
static const char *
event_problem(const struct job_event *ev, const char **field)
{
	const char	*problem;

	*field = NULL;
	switch (ev->je_kind) {
	case JOB_EV_START:
		problem = tp_start_problem(ev->je_step, ev->je_details, field);
		break;
	case JOB_EV_UPDATE:
		problem = tp_update_problem(&ev->je_update, field);
		break;
	case JOB_EV_ERROR:
		problem = tp_error_problem(ev->je_message, field);
		break;
	default:
		problem = NULL;
		break;
	}
	return problem;
}

void
body_free(struct posted_event *pe)
{
	cJSON_Delete(pe->pe_doc);
	pe->pe_doc = NULL;
}

int
body_parse(char *body, size_t len, struct posted_event *pe)
{
	struct job_event	*ev = &pe->pe_event;
	cJSON			*doc, *item, *byf[F_COUNT];
	char			*text[F_COUNT];
	const char		*escape_problem, *problem, *field;
	int64_t		 v;
	unsigned	 seen = 0;
	int		 i;

	memset(pe, 0, sizeof(*pe));
	memset(byf, 0, sizeof(byf));
	memset(text, 0, sizeof(text));
	if (memchr(body, '\0', len) != NULL)
		return refuse(pe, NULL, "the body holds a NUL byte");
	if (!utf8_valid(body, len))
		return refuse(pe, NULL, "the body is not valid UTF-8");
	if ((doc = cJSON_ParseWithOpts(body, NULL, 1)) == NULL)
		return refuse(pe, NULL, "the body is not well-formed JSON");
	/*
	 * cJSON's strings end at a \u0000: "seq\u0000" would read as "seq",
	 * and "update\u0000" as "update".  No part of an event may hold one;
	 * refused after the fields' own checks, which name the field when
	 * they find it (and before find_spans() cuts the body up).
	 */
	escape_problem = json_escape_problem(body);
	pe->pe_doc = doc;
	if (!cJSON_IsObject(doc))
		return refuse(pe, NULL, "the body must be a JSON object ({\"seq\": ..., "
		    "\"event\": ...})");

	/* Every member known, and only once. */
	cJSON_ArrayForEach(item, doc) {
		for (i = 0; i < F_COUNT; i++)
			if (strcmp(item->string, fields[i].name) == 0)
				break;
		if (i == F_COUNT) {
			/* Quoted back at most 64 bytes long, cut between characters. */
			item->string[utf8_prefix(item->string, 64)] = '\0';
			return refuse(pe, item->string, "unknown field \"%s\"", item->string);
		}
		if (seen & K(i))
			return refuse(pe, fields[i].name, "%s is given twice", fields[i].name);
		seen |= K(i);
		/* null: as if not given. */
		if (!cJSON_IsNull(item))
			byf[i] = item;
	}
	find_spans(body, text);
	/*
	 * Every member cJSON found has its text, unless the scan and cJSON
	 * disagree on the grammar: refuse the body rather than read nothing.
	 */
	for (i = 0; i < F_COUNT; i++)
		if (byf[i] != NULL && text[i] == NULL)
			return refuse(pe, fields[i].name, "%s could not be read from the body",
			    fields[i].name);

	if (byf[F_EVENT] == NULL)
		return refuse(pe, "event", "event is required: queue, start, update, "
		    "complete or error");
	if ((i = job_event_kind(cJSON_GetStringValue(byf[F_EVENT]))) == -1)
		return refuse(pe, "event", "event must be queue, start, update, complete "
		    "or error");
	ev->je_kind = (enum job_event_kind)i;
	for (i = 0; i < F_COUNT; i++)
		if (byf[i] != NULL && !(fields[i].events & K(ev->je_kind)))
			return refuse(pe, fields[i].name, "%s does not belong to a \"%s\" event",
			    fields[i].name, job_event_name(ev->je_kind));

	if (byf[F_SEQ] == NULL)
		return refuse(pe, "seq", "seq is required: a number that grows with each "
		    "event of the job");
	if (integer(pe, F_SEQ, byf[F_SEQ], text[F_SEQ], 1, EVENT_SEQ_MAX, &v) == -1)
		return -1;
	pe->pe_seq = (uint64_t)v;

	switch (ev->je_kind) {
	case JOB_EV_START:
		if (byf[F_STEP] == NULL)
			return refuse(pe, "step", "step is required: data_collection, "
			    "optimization, validation or save_configuration");
		if (string(pe, F_STEP, byf[F_STEP], text[F_STEP], &ev->je_step) == -1)
			return -1;
		if (byf[F_STEP_DETAILS] != NULL && object(pe, F_STEP_DETAILS,
		    byf[F_STEP_DETAILS], text[F_STEP_DETAILS], &ev->je_details) == -1)
			return -1;
		break;
	case JOB_EV_UPDATE:
		if (byf[F_STEP_PERCENTAGE] != NULL) {
			if (number(pe, F_STEP_PERCENTAGE, byf[F_STEP_PERCENTAGE],
			    &ev->je_update.step_percentage) == -1)
				return -1;
			ev->je_update.fields |= TP_UPD_STEP_PERCENTAGE;
		}
		if (byf[F_CURRENT_ITERATION] != NULL) {
			if (integer(pe, F_CURRENT_ITERATION, byf[F_CURRENT_ITERATION],
			    text[F_CURRENT_ITERATION], INT32_MIN, INT32_MAX, &v) == -1)
				return -1;
			ev->je_update.iteration = (int32_t)v;
			ev->je_update.fields |= TP_UPD_ITERATION;
		}
		if (byf[F_TOTAL_ITERATIONS] != NULL) {
			if (integer(pe, F_TOTAL_ITERATIONS, byf[F_TOTAL_ITERATIONS],
			    text[F_TOTAL_ITERATIONS], INT32_MIN, INT32_MAX, &v) == -1)
				return -1;
			ev->je_update.total_iterations = (int32_t)v;
			ev->je_update.fields |= TP_UPD_TOTAL_ITERATIONS;
		}
		if (byf[F_BEST_SCORE] != NULL) {
			if (number(pe, F_BEST_SCORE, byf[F_BEST_SCORE],
			    &ev->je_update.best_score) == -1)
				return -1;
			ev->je_update.fields |= TP_UPD_BEST_SCORE;
		}
		if (byf[F_CURRENT_SCORE] != NULL) {
			if (number(pe, F_CURRENT_SCORE, byf[F_CURRENT_SCORE],
			    &ev->je_update.current_score) == -1)
				return -1;
			ev->je_update.fields |= TP_UPD_CURRENT_SCORE;
		}
		if (byf[F_BEST_PARAMS] != NULL) {
			if (object(pe, F_BEST_PARAMS, byf[F_BEST_PARAMS], text[F_BEST_PARAMS],
			    &ev->je_update.best_params) == -1)
				return -1;
			ev->je_update.fields |= TP_UPD_BEST_PARAMS;
		}
		if (byf[F_STEP_DETAILS] != NULL) {
			if (object(pe, F_STEP_DETAILS, byf[F_STEP_DETAILS], text[F_STEP_DETAILS],
			    &ev->je_update.details) == -1)
				return -1;
			ev->je_update.fields |= TP_UPD_DETAILS;
		}
		break;
	case JOB_EV_ERROR:
		if (byf[F_ERROR_MESSAGE] == NULL)
			return refuse(pe, "error_message", "error_message is required for an "
			    "\"error\" event");
		if (string(pe, F_ERROR_MESSAGE, byf[F_ERROR_MESSAGE], text[F_ERROR_MESSAGE],
		    &ev->je_message) == -1)
			return -1;
		break;
	case JOB_EV_QUEUE:
	case JOB_EV_COMPLETE:
		break;
	}
	/* The values: the library's checks, a tracker's own. */
	if ((problem = event_problem(ev, &field)) != NULL) {
		if (field != NULL && strncmp(problem, field, strlen(field)) != 0)
			return refuse(pe, field, "%s: %s", field, problem);
		return refuse(pe, field, "%s", problem);
	}
	if (escape_problem != NULL)
		return refuse(pe, NULL, "the body holds an escape that is refused in a name or "
		    "a value: %s", escape_problem);
	return 0;
}


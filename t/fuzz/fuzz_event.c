/* fuzz_body.c: libFuzzer target for body_parse() (fcgi/body.c), a published event. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../fcgi/pool.h"
#include "common.h"

static const char *const known[] = {
	"seq", "event", "step", "step_details", "step_percentage", "current_iteration",
	"total_iterations", "best_score", "current_score", "best_params", "error_message",
};

static bool
is_known(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(name, known[i]) == 0)
			return true;
	return false;
}

/* The member called name that is not null (the one an accepted event uses), or NULL. */
static const cJSON *
member(const cJSON *doc, const char *name)
{
	const cJSON	*item, *found = NULL;

	cJSON_ArrayForEach(item, doc)
		if (strcmp(item->string, name) == 0 && !cJSON_IsNull(item))
			found = item;
	return found;
}

/* Does every member of doc have a name body.c knows? */
static bool
all_known(const cJSON *doc)
{
	const cJSON	*item;

	cJSON_ArrayForEach(item, doc)
		if (!is_known(item->string))
			return false;
	return true;
}

/*
 * Do two values cJSON read from the same text agree?  cJSON_Compare() will
 * not do: it finds 1e999 (infinite to cJSON) unequal to itself.
 */
static bool
same_value(const cJSON *a, const cJSON *b, bool named)
{
	if ((a->type & 0xff) != (b->type & 0xff))
		return false;
	if (named && (a->string == NULL || b->string == NULL || strcmp(a->string, b->string) != 0))
		return false;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsNumber(a))
		return a->valuedouble == b->valuedouble ||
		    (isnan(a->valuedouble) && isnan(b->valuedouble));
	named = cJSON_IsObject(a);	/* members have names, elements none */
	for (a = a->child, b = b->child; a != NULL && b != NULL; a = a->next, b = b->next)
		if (!same_value(a, b, named))
			return false;
	return a == NULL && b == NULL;
}

/*
 * The text body.c took for an object field, as found by its own scan: the
 * same value cJSON read, and JSON that jsonb stores.
 */
static void
check_object_text(const cJSON *doc, const char *name, const char *text)
{
	const cJSON	*want = member(doc, name);
	cJSON		*got;
	bool		 object = false;

	CHECK("event-span", (text != NULL) == (want != NULL), "%s: text %s, member %s", name,
	    text != NULL ? "found" : "missing", want != NULL ? "present" : "absent");
	if (text == NULL || want == NULL)
		return;
	got = cJSON_Parse(text);
	CHECK("event-span", got != NULL && same_value(got, want, false),
	    "%s: the text taken (%.200s) is not the value cJSON read", name, text);
	cJSON_Delete(got);
	CHECK("strict-json", strict_json(text, &object) && object,
	    "%s: accepted, but PostgreSQL's jsonb refuses it: %.200s", name, text);
}

static double
number_of(const cJSON *doc, const char *name)
{
	const cJSON	*item = member(doc, name);

	return cJSON_IsNumber(item) ? item->valuedouble : -1.0;
}

/* An accepted event says what the body says. */
static void
check_accepted(const struct posted_event *ev, const cJSON *doc)
{
	const struct tp_update	*u = &ev->pe_event.je_update;
	const char		*kind = cJSON_GetStringValue(member(doc, "event"));
	const cJSON		*item;

	CHECK("event-kind", kind != NULL && strcmp(kind, job_event_name(ev->pe_event.je_kind)) == 0,
	    "kind %s for \"%s\"", job_event_name(ev->pe_event.je_kind), kind != NULL ? kind : "");
	CHECK("event-seq", ev->pe_seq >= 1 && ev->pe_seq <= (uint64_t)EVENT_SEQ_MAX &&
	    (double)ev->pe_seq == number_of(doc, "seq"), "seq %llu, cJSON %.17g",
	    (unsigned long long)ev->pe_seq, number_of(doc, "seq"));
	switch (ev->pe_event.je_kind) {
	case JOB_EV_START:
		item = member(doc, "step");
		CHECK("event-start", ev->pe_event.je_step != NULL && cJSON_IsString(item) &&
		    strcmp(ev->pe_event.je_step, item->valuestring) == 0 &&
		    tp_step_from_key(ev->pe_event.je_step) != TP_STEP_NONE, "step");
		check_object_text(doc, "step_details", ev->pe_event.je_details);
		break;
	case JOB_EV_UPDATE:
		CHECK("event-update", !(u->fields & TP_UPD_STEP_PERCENTAGE) == !member(doc,
		    "step_percentage") && (!(u->fields & TP_UPD_STEP_PERCENTAGE) ||
		    (u->step_percentage == number_of(doc, "step_percentage") &&
		    u->step_percentage >= 0 && u->step_percentage <= 100)), "step_percentage");
		CHECK("event-update", !(u->fields & TP_UPD_ITERATION) == !member(doc,
		    "current_iteration") && (!(u->fields & TP_UPD_ITERATION) ||
		    (u->iteration >= 0 && u->iteration == number_of(doc, "current_iteration"))),
		    "current_iteration");
		CHECK("event-update", !(u->fields & TP_UPD_TOTAL_ITERATIONS) == !member(doc,
		    "total_iterations") && (!(u->fields & TP_UPD_TOTAL_ITERATIONS) ||
		    (u->total_iterations >= 0 &&
		    u->total_iterations == number_of(doc, "total_iterations"))), "total_iterations");
		CHECK("event-update", !(u->fields & TP_UPD_BEST_SCORE) == !member(doc, "best_score") &&
		    (!(u->fields & TP_UPD_BEST_SCORE) || u->best_score == number_of(doc,
		    "best_score")), "best_score");
		CHECK("event-update", !(u->fields & TP_UPD_CURRENT_SCORE) == !member(doc,
		    "current_score") && (!(u->fields & TP_UPD_CURRENT_SCORE) ||
		    u->current_score == number_of(doc, "current_score")), "current_score");
		check_object_text(doc, "best_params",
		    u->fields & TP_UPD_BEST_PARAMS ? u->best_params : NULL);
		check_object_text(doc, "step_details",
		    u->fields & TP_UPD_DETAILS ? u->details : NULL);
		break;
	case JOB_EV_ERROR:
		item = member(doc, "error_message");
		CHECK("event-error", ev->pe_event.je_message != NULL && *ev->pe_event.je_message != '\0' &&
		    cJSON_IsString(item) && strcmp(ev->pe_event.je_message, item->valuestring) == 0,
		    "error_message");
		break;
	case JOB_EV_QUEUE:
	case JOB_EV_COMPLETE:
		break;
	}
}

/*
 * Does text hold a \u without four hex digits after it?  cJSON reads one as
 * \u0000, json_escape_problem() as malformed JSON: both fine, but then
 * "malformed JSON" is no sign of a wrong span.  (Errs on the side of yes.)
 */
static bool
has_bad_hex_escape(const char *s)
{
	int	 i;

	for (; (s = strstr(s, "\\u")) != NULL; s += 2)
		for (i = 2; i < 6; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' &&
			    (s[i] | 0x20) <= 'f')))
				return true;
	return false;
}

/*
 * Does a string of JSON text (well-formed) hold \u0000, or a \u without four
 * hex digits, which cJSON reads as \u0000 and so as the end of the string?
 */
static bool
has_nul_escape(const char *s)
{
	bool	 in = false;
	int	 i;

	for (; *s != '\0'; s++) {
		if (!in)
			in = *s == '"';
		else if (*s == '"')
			in = false;
		else if (*s == '\\' && s[1] == 'u') {
			for (i = 2; i < 6; i++)
				if (!((s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' &&
				    (s[i] | 0x20) <= 'f')))
					return true;
			if (strncmp(s + 2, "0000", 4) == 0)
				return true;
			s += 5;
		} else if (*s == '\\')
			s++;
	}
	return false;
}

/* A refused event: why, and a reply that is valid JSON whatever the body held. */
static void
check_refused(const struct posted_event *ev, const uint8_t *data, size_t size, const char *copy,
    const cJSON *doc)
{
	static const char *const objects[] = { "step_details", "best_params" };
	const cJSON	*item;
	char		*out, why[300];
	size_t		 i, len = 0;

	CHECK("event-problem", memchr(ev->pe_problem, '\0', sizeof(ev->pe_problem)) != NULL &&
	    ev->pe_problem[0] != '\0', "refused without a problem");
	if (memchr(data, '\0', size) != NULL)
		CHECK("event-ref", strcmp(ev->pe_problem, "the body holds a NUL byte") == 0, "%s",
		    ev->pe_problem);
	else if (!ref_utf8_valid(data, size))
		CHECK("event-ref", strcmp(ev->pe_problem, "the body is not valid UTF-8") == 0, "%s",
		    ev->pe_problem);
	else if (doc == NULL)
		CHECK("event-ref", strcmp(ev->pe_problem, "the body is not well-formed JSON") == 0,
		    "%s", ev->pe_problem);
	else if (cJSON_IsObject(doc) && all_known(doc)) {
		/* The scan that finds each member's text missed one cJSON read. */
		CHECK("event-scanner", strstr(ev->pe_problem, "could not be read from the body") ==
		    NULL, "cJSON reads an object of known fields; body.c says: %s", ev->pe_problem);
		for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
			item = member(doc, objects[i]);
			if (!cJSON_IsObject(item) || ev->pe_field == NULL ||
			    strcmp(ev->pe_field, objects[i]) != 0 || has_bad_hex_escape(copy))
				continue;
			snprintf(why, sizeof(why), "%s: malformed JSON", objects[i]);
			CHECK("event-span", strcmp(ev->pe_problem, why) != 0, "%s is an object to "
			    "cJSON; body.c: %s", objects[i], ev->pe_problem);
			snprintf(why, sizeof(why), "%s: JSON must be an object ({...})", objects[i]);
			CHECK("event-span", strcmp(ev->pe_problem, why) != 0, "%s is an object to "
			    "cJSON; body.c: %s", objects[i], ev->pe_problem);
		}
	}
	if (ev->pe_field != NULL)
		CHECK("event-field", strlen(ev->pe_field) <= 64 &&
		    ref_utf8_valid(ev->pe_field, strlen(ev->pe_field)),
		    "the field quoted back is %zu bytes or not UTF-8", strlen(ev->pe_field));
	out = render_error_field(ev->pe_field != NULL ? "invalid_field" : "invalid_body",
	    ev->pe_problem, ev->pe_field, &len);
	check_error_doc(out, len, ev->pe_field != NULL ? "invalid_field" : "invalid_body",
	    ev->pe_problem, ev->pe_field);
}

/* Input: the body of POST /api/v2/training/jobs/{job_id}/progress. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct posted_event	 ev;
	cJSON		*doc = NULL;
	char		*body, *copy;
	int		 rc;

	/* As http_read_body() gives it: exactly len + 1 bytes, NUL-terminated. */
	body = fuzz_strndup(data, size);
	copy = fuzz_strndup(data, size);
	if (memchr(data, '\0', size) == NULL)
		doc = cJSON_ParseWithOpts(copy, NULL, 1);
	rc = body_parse(body, size, &ev);
	CHECK("event-result", rc == 0 || rc == -1, "result %d", rc);
	if (rc == 0) {
		CHECK("event-ref", doc != NULL && cJSON_IsObject(doc) && all_known(doc) &&
		    ref_utf8_valid(data, size), "an event accepted from a body that is not an "
		    "object of known fields");
		if (doc != NULL)
			check_accepted(&ev, doc);
		/* A member's name or value that cJSON cut short at a NUL. */
		CHECK("event-nul-escape", !has_nul_escape(copy), "accepted a body that holds "
		    "\\u0000 (or \\u without hex digits): %.200s", copy);
	} else
		check_refused(&ev, data, size, copy, doc);
	body_free(&ev);
	cJSON_Delete(doc);
	free(copy);
	free(body);
	return 0;
}

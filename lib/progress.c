/* progress.c: the step model, the overall-percentage formula and job id rules. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib.h"

/*
 * Weights are whole percentages so that step boundaries (25, 75, 95, 100)
 * come out exact: 0.25 + 0.50 + 0.20 in binary floating point is not 0.95.
 */
struct step_def {
	const char	*sd_key;
	const char	*sd_name;
	int		 sd_weight_pct;
	int		 sd_before_pct;	/* sum of the weights of earlier steps */
};

static const struct step_def steps[TP_STEP_COUNT + 1] = {
	[TP_STEP_NONE] = { NULL, NULL, 0, 0 },
	[TP_STEP_DATA_COLLECTION] = { "data_collection", "Data Collection", 25, 0 },
	[TP_STEP_OPTIMIZATION] = { "optimization", "Optimization", 50, 25 },
	[TP_STEP_VALIDATION] = { "validation", "Validation", 20, 75 },
	[TP_STEP_SAVE_CONFIGURATION] = { "save_configuration", "Save Configuration", 5, 95 },
};

static int
step_valid(enum tp_step step)
{
	return step >= TP_STEP_DATA_COLLECTION && step <= TP_STEP_SAVE_CONFIGURATION;
}

TP_API const char *
tp_step_key(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_key : NULL;
}

TP_API const char *
tp_step_name(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_name : NULL;
}

TP_API double
tp_step_weight(enum tp_step step)
{
	return step_valid(step) ? steps[step].sd_weight_pct / 100.0 : 0.0;
}

/* The step whose key (or, with by_name, display name) is s; TP_STEP_NONE if none. */
static enum tp_step
step_lookup(const char *s, bool by_name)
{
	int	 i;

	if (s == NULL)
		return TP_STEP_NONE;
	for (i = TP_STEP_DATA_COLLECTION; i <= TP_STEP_SAVE_CONFIGURATION; i++)
		if (strcmp(by_name ? steps[i].sd_name : steps[i].sd_key, s) == 0)
			return (enum tp_step)i;
	return TP_STEP_NONE;
}

TP_API enum tp_step
tp_step_from_key(const char *key)
{
	return step_lookup(key, false);
}

TP_API enum tp_step
tp_step_from_name(const char *name)
{
	return step_lookup(name, true);
}

TP_API double
tp_progress_percentage(enum tp_step step, double step_pct)
{
	if (!step_valid(step))
		return -1.0;
	if (isnan(step_pct) || step_pct < 0.0)
		step_pct = 0.0;
	else if (step_pct > 100.0)
		step_pct = 100.0;
	/* weight * pct / 100 keeps 50 * 60 / 100 == 30 exact. */
	return steps[step].sd_before_pct + steps[step].sd_weight_pct * step_pct / 100.0;
}

/*
 * Length of the UTF-8 sequence at s (at most `left` bytes), or 0 if it is not
 * a valid, shortest-form encoding of a scalar value (no surrogates, nothing
 * above U+10FFFF).  *cp receives the code point.
 */
static size_t
utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
	uint32_t	 c;
	size_t		 n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool
utf8_valid(const char *s, size_t len)
{
	uint32_t	 cp;
	size_t		 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_decode((const unsigned char *)s + i, len - i, &cp)) == 0)
			return false;
	return true;
}

size_t
utf8_prefix(const char *s, size_t max)
{
	uint32_t	 cp;
	size_t		 i, n, len = strlen(s);

	for (i = 0; i < len && i < max; i += n) {
		/* A byte that is not UTF-8 is a unit of its own (scrubbed later). */
		if ((n = utf8_decode((const unsigned char *)s + i, len - i, &cp)) == 0)
			n = 1;
		if (i + n > max)
			break;
	}
	return i;
}

char *
utf8_scrub(const char *s)
{
	static const char replacement[] = "\xEF\xBF\xBD";	/* U+FFFD */
	uint32_t	 cp;
	size_t		 i, n, o = 0, len = strlen(s);
	char		*out;

	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode((const unsigned char *)s + i, len - i, &cp)) == 0) {
			memcpy(out + o, replacement, 3);
			o += 3;
			n = 1;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
		}
	}
	out[o] = '\0';
	return out;
}

TP_API const char *
tp_job_id_problem(const char *id, size_t len)
{
	const unsigned char	*s = (const unsigned char *)id;
	uint32_t		 cp;
	size_t			 i, n;

	if (id == NULL || len == 0)
		return "job_id is empty";
	if (len > TP_JOB_ID_MAX)
		return "job_id is longer than 255 bytes";
	if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
		return "job_id must not be \".\" or \"..\"";
	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
			return "job_id is not valid UTF-8";
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return "job_id contains a control character";
	}
	return NULL;
}

/* --- text buffers ------------------------------------------------------ */

int
tbuf_set(struct tbuf *tb, const char *s, size_t len)
{
	char	*p;

	if (len + 1 > tb->tb_cap) {
		if ((p = realloc(tb->tb_data, len + 1)) == NULL)
			return -1;
		tb->tb_data = p;
		tb->tb_cap = len + 1;
	}
	memcpy(tb->tb_data, s, len);
	tb->tb_data[len] = '\0';
	tb->tb_len = len;
	tb->tb_set = true;
	return 0;
}

void
tbuf_clear(struct tbuf *tb)
{
	tb->tb_set = false;
	tb->tb_len = 0;
}

void
tbuf_free(struct tbuf *tb)
{
	free(tb->tb_data);
	memset(tb, 0, sizeof(*tb));
}

static int
tbuf_copy(struct tbuf *dst, const struct tbuf *src)
{
	if (!src->tb_set) {
		tbuf_clear(dst);
		return 0;
	}
	return tbuf_set(dst, src->tb_data, src->tb_len);
}

/* --- a job's state ------------------------------------------------------ */

void
job_init(struct job_state *js)
{
	memset(js, 0, sizeof(*js));
	js->js_step = TP_STEP_NONE;
	js->js_phase = JOB_RUNNING;
}

void
job_free(struct job_state *js)
{
	tbuf_free(&js->js_details);
	tbuf_free(&js->js_best_params);
	tbuf_free(&js->js_error);
}

int
job_copy(struct job_state *dst, const struct job_state *src)
{
	struct tbuf	 d = dst->js_details, b = dst->js_best_params, e = dst->js_error;

	*dst = *src;
	dst->js_details = d;
	dst->js_best_params = b;
	dst->js_error = e;
	if (tbuf_copy(&dst->js_details, &src->js_details) == -1 ||
	    tbuf_copy(&dst->js_best_params, &src->js_best_params) == -1 ||
	    tbuf_copy(&dst->js_error, &src->js_error) == -1)
		return -1;
	return 0;
}

bool
job_finished(const struct job_state *js)
{
	return js->js_phase == JOB_COMPLETE || js->js_phase == JOB_FAILED ||
	    js->js_phase == JOB_CANCELLED;
}

const char *
job_status(const struct job_state *js)
{
	switch (js->js_phase) {
	case JOB_QUEUED:
		return "queued";
	case JOB_COMPLETE:
		return "completed";
	case JOB_FAILED:
		return "failed";
	case JOB_CANCELLED:
		return "cancelled";
	default:
		return "running";
	}
}

const char *
job_step_name(const struct job_state *js)
{
	if (js->js_phase == JOB_COMPLETE)
		return TP_STEP_COMPLETE_NAME;
	return tp_step_name(js->js_step != TP_STEP_NONE ? js->js_step : TP_STEP_DATA_COLLECTION);
}

/* The value of the 4 hex digits at p, or -1. */
static long
hex4(const char *p)
{
	long	 v = 0;
	int	 i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= p[i] - '0';
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			v |= (p[i] | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

const char *
json_escape_problem(const char *s)
{
	const char	*p;
	bool		 in_string = false;
	long		 u, lo;

	for (p = s; *p != '\0'; p++) {
		if (!in_string) {
			in_string = *p == '"';
			continue;
		}
		if (*p == '"') {
			in_string = false;
			continue;
		}
		if (*p != '\\')
			continue;
		/* A backslash last: not JSON, and nothing after it to read. */
		if (*++p == '\0')
			return "malformed JSON";
		if (*p != 'u')
			continue;
		if ((u = hex4(p + 1)) < 0)
			return "malformed JSON";
		p += 4;
		if (u == 0)
			return "JSON must not contain \\u0000";
		if (u >= 0xdc00 && u <= 0xdfff)
			return "JSON holds half a surrogate pair (\\udc00-\\udfff alone)";
		if (u >= 0xd800 && u <= 0xdbff) {
			if (p[1] != '\\' || p[2] != 'u' || (lo = hex4(p + 3)) < 0xdc00 ||
			    lo > 0xdfff)
				return "JSON holds half a surrogate pair (\\ud800-\\udbff alone)";
			p += 6;
		}
	}
	return NULL;
}

/*
 * PostgreSQL's numeric, which jsonb stores numbers in: at most 16383 digits
 * after the point, values below 1e131072, and an exponent it can add up.
 */
#define NUMERIC_DSCALE_MAX	16383
#define NUMERIC_DWEIGHT_MAX	131071
#define NUMERIC_EXPONENT_MAX	1073741822

/*
 * The number token at p (well-formed JSON): how many characters PostgreSQL
 * prints for it (numeric_out writes every digit, no exponent), in *printed.
 * -1 when PostgreSQL refuses it ("value overflows numeric format").
 */
static int
json_number_printed(const char *p, size_t *printed, const char **end)
{
	const char	*int_start, *frac_start = NULL;
	size_t		 int_len, frac_len = 0, i;
	long long	 e = 0, w, dscale;
	bool		 neg = false, eneg = false, zero = true;

	if (*p == '-') {
		neg = true;
		p++;
	}
	for (int_start = p; *p >= '0' && *p <= '9'; p++)
		continue;
	int_len = (size_t)(p - int_start);
	if (*p == '.') {
		for (frac_start = ++p; *p >= '0' && *p <= '9'; p++)
			continue;
		frac_len = (size_t)(p - frac_start);
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		/* Saturates: anything past the limit is refused anyway. */
		for (; *p >= '0' && *p <= '9'; p++)
			if (e <= NUMERIC_EXPONENT_MAX)
				e = e * 10 + (*p - '0');
		if (eneg)
			e = -e;
	}
	*end = p;
	if (e > NUMERIC_EXPONENT_MAX || e < -NUMERIC_EXPONENT_MAX)
		return -1;
	dscale = (long long)frac_len - e;
	if (dscale < 0)
		dscale = 0;
	if (dscale > NUMERIC_DSCALE_MAX)
		return -1;
	/* The decimal weight of the first digit that is not 0. */
	w = 0;
	for (i = 0; i < int_len && zero; i++)
		if (int_start[i] != '0') {
			zero = false;
			w = (long long)(int_len - i) - 1 + e;
		}
	for (i = 0; i < frac_len && zero; i++)
		if (frac_start[i] != '0') {
			zero = false;
			w = -(long long)i - 1 + e;
		}
	if (!zero && w > NUMERIC_DWEIGHT_MAX)
		return -1;
	*printed = (neg ? 1 : 0) + (size_t)(!zero && w > 0 ? w + 1 : 1) +
	    (size_t)(dscale > 0 ? dscale + 1 : 0);
	return 0;
}

/*
 * Is the number token at p (as cJSON took it: every character of
 * "+-.0123456789eE") written as RFC 8259, and PostgreSQL, write numbers?
 */
static bool
json_number_strict(const char *p)
{
	const char	*token_end = p + strspn(p, "+-.0123456789eE");

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		if (*++p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p == token_end;
}

const char *
json_lexical_problem(const char *text)
{
	const char	*p, *end;
	size_t		 total = strlen(text), printed;

	/* Constant sentences: the tracker calls this from any thread. */
	if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
		return "JSON must not start with a byte order mark";
	for (p = text; *p != '\0'; ) {
		if (*p == '"') {
			for (p++; *p != '"' && *p != '\0'; p++) {
				if ((unsigned char)*p < 0x20)
					return "JSON holds a control character in a string: "
					    "write it as an escape (\\n, \\u0001)";
				if (*p == '\\' && p[1] != '\0')
					p++;
			}
			if (*p == '"')
				p++;
			continue;
		}
		if ((unsigned char)*p <= 0x20) {
			if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
				return "JSON holds a control byte between its parts: only "
				    "spaces, tabs and line breaks may be there";
			p++;
			continue;
		}
		if (*p != '-' && (*p < '0' || *p > '9')) {
			p++;
			continue;
		}
		if (!json_number_strict(p))
			return "JSON holds a number written as JSON does not allow "
			    "(a leading zero, or a point without digits after it)";
		if (json_number_printed(p, &printed, &end) == -1)
			return "JSON holds a number out of range (PostgreSQL keeps numbers "
			    "below 1e131072 with at most 16383 decimals)";
		/* A short number may print long: 1e300 prints 301 digits. */
		if (printed > (size_t)(end - p))
			total += printed - (size_t)(end - p);
		if (total > TP_JSON_MAX)
			return "JSON holds numbers that, written out in full as they are stored, "
			    "make it longer than 65536 bytes";
		p = end;
	}
	return NULL;
}

const char *
json_object_problem(const char *text)
{
	cJSON		*doc;
	const char	*end = NULL, *why;
	size_t		 len;
	bool		 object;

	if (text == NULL)
		return "JSON text is missing";
	if ((len = strlen(text)) > TP_JSON_MAX)
		return "JSON text is longer than 65536 bytes";
	if (!utf8_valid(text, len))
		return "JSON text is not valid UTF-8";
	if ((doc = cJSON_ParseWithOpts(text, &end, 1)) == NULL)
		return "malformed JSON";
	object = cJSON_IsObject(doc);
	cJSON_Delete(doc);
	if (!object)
		return "JSON must be an object ({...})";
	if ((why = json_escape_problem(text)) != NULL)
		return why;
	return json_lexical_problem(text);
}

/* --- what an event may carry: one check per field, for every publisher --- */

TP_API const char *
tp_update_problem(const struct tp_update *u, const char **field)
{
	const char	*problem;
	unsigned	 f;

	*field = NULL;
	if (u == NULL)
		return "no update given";
	f = u->fields;
	if (f & ~(TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS |
	    TP_UPD_BEST_SCORE | TP_UPD_CURRENT_SCORE | TP_UPD_BEST_PARAMS | TP_UPD_DETAILS))
		return "unknown bits in fields";
	if ((f & TP_UPD_STEP_PERCENTAGE) && !(u->step_percentage >= 0.0 &&
	    u->step_percentage <= 100.0)) {
		*field = "step_percentage";
		return "step_percentage must be within 0..100";
	}
	if ((f & TP_UPD_ITERATION) && u->iteration < 0) {
		*field = "current_iteration";
		return "current_iteration must be within 0..2147483647";
	}
	if ((f & TP_UPD_TOTAL_ITERATIONS) && u->total_iterations < 0) {
		*field = "total_iterations";
		return "total_iterations must be within 0..2147483647";
	}
	if ((f & TP_UPD_BEST_SCORE) && !isfinite(u->best_score)) {
		*field = "best_score";
		return "best_score must be a finite number";
	}
	if ((f & TP_UPD_CURRENT_SCORE) && !isfinite(u->current_score)) {
		*field = "current_score";
		return "current_score must be a finite number";
	}
	if ((f & TP_UPD_BEST_PARAMS) && (problem = json_object_problem(u->best_params)) != NULL) {
		*field = "best_params";
		return problem;
	}
	if ((f & TP_UPD_DETAILS) && (problem = json_object_problem(u->details)) != NULL) {
		*field = "step_details";
		return problem;
	}
	return NULL;
}

TP_API const char *
tp_start_problem(const char *step_key, const char *details_json, const char **field)
{
	const char	*problem;

	*field = "step";
	if (step_key == NULL || tp_step_from_key(step_key) == TP_STEP_NONE)
		return "step must be data_collection, optimization, validation or "
		    "save_configuration";
	*field = "step_details";
	if (details_json != NULL && (problem = json_object_problem(details_json)) != NULL)
		return problem;
	*field = NULL;
	return NULL;
}

TP_API const char *
tp_error_problem(const char *message, const char **field)
{
	*field = "error_message";
	if (message == NULL || *message == '\0')
		return "error_message must not be empty";
	if (!utf8_valid(message, strlen(message)))
		return "the error message is not valid UTF-8";
	*field = NULL;
	return NULL;
}

static const char *const event_names[JOB_EVENT_COUNT] = {
	[JOB_EV_QUEUE] = "queue", [JOB_EV_START] = "start", [JOB_EV_UPDATE] = "update",
	[JOB_EV_COMPLETE] = "complete", [JOB_EV_ERROR] = "error",
};

const char *
job_event_name(enum job_event_kind kind)
{
	return (unsigned)kind < JOB_EVENT_COUNT ? event_names[kind] : NULL;
}

int
job_event_kind(const char *name)
{
	int	 i;

	for (i = 0; name != NULL && i < JOB_EVENT_COUNT; i++)
		if (strcmp(name, event_names[i]) == 0)
			return i;
	return -1;
}

static enum tp_err
refuse(const char **why, const char *sentence, enum tp_err err)
{
	*why = sentence;
	return err;
}

/* The overall percentage never goes down: raise it only. */
static void
job_raise(struct job_state *js)
{
	double	 p = tp_progress_percentage(js->js_step, js->js_step_pct);

	if (p > js->js_pct)
		js->js_pct = p;
}

enum tp_err
job_queue(struct job_state *js, const char **why)
{
	*why = NULL;
	if (job_finished(js))
		return refuse(why, "the job has finished", TP_EFINISHED);
	if (js->js_phase == JOB_QUEUED)
		return TP_OK;
	if (js->js_step != TP_STEP_NONE)
		return refuse(why, "the job has already started: it cannot be queued", TP_ESTATE);
	js->js_phase = JOB_QUEUED;
	return TP_OK;
}

enum tp_err
job_start(struct job_state *js, const char *step_key, const char *details,
    int64_t now_us, const char **why)
{
	enum tp_step	 step;
	const char	*problem, *field;

	*why = NULL;
	if (job_finished(js))
		return refuse(why, "the job has finished", TP_EFINISHED);
	if ((problem = tp_start_problem(step_key, details, &field)) != NULL)
		return refuse(why, problem, TP_EINVAL);
	step = tp_step_from_key(step_key);
	if (step <= js->js_step)
		return refuse(why, "steps only go forward: this step, or a later one, "
		    "was already started", TP_ESTATE);
	if (details != NULL && tbuf_set(&js->js_details, details, strlen(details)) == -1)
		return refuse(why, "out of memory", TP_ENOMEM);
	if (details == NULL)
		tbuf_clear(&js->js_details);
	js->js_step = step;
	js->js_step_pct = 0.0;
	js->js_step_started_us = now_us;
	js->js_has_iter = js->js_has_total = js->js_has_current = false;
	js->js_has_eta = false;
	js->js_phase = JOB_RUNNING;
	job_raise(js);
	return TP_OK;
}

enum tp_err
job_update(struct job_state *js, const struct tp_update *u, const char **why)
{
	const char	*problem, *field;
	unsigned	 f = u->fields;

	*why = NULL;
	if (job_finished(js))
		return refuse(why, "the job has finished", TP_EFINISHED);
	if (js->js_step == TP_STEP_NONE)
		return refuse(why, "no step has been started yet", TP_ESTATE);
	if ((problem = tp_update_problem(u, &field)) != NULL)
		return refuse(why, problem, TP_EINVAL);

	/* Copies first: running out of memory must leave the state as it was. */
	if ((f & TP_UPD_BEST_PARAMS) &&
	    tbuf_set(&js->js_best_params, u->best_params, strlen(u->best_params)) == -1)
		return refuse(why, "out of memory", TP_ENOMEM);
	if ((f & TP_UPD_DETAILS) &&
	    tbuf_set(&js->js_details, u->details, strlen(u->details)) == -1)
		return refuse(why, "out of memory", TP_ENOMEM);
	if (f & TP_UPD_STEP_PERCENTAGE)
		js->js_step_pct = u->step_percentage;
	if (f & TP_UPD_ITERATION) {
		js->js_has_iter = true;
		js->js_iter = u->iteration;
	}
	if (f & TP_UPD_TOTAL_ITERATIONS) {
		js->js_has_total = true;
		js->js_total = u->total_iterations;
	}
	if (f & TP_UPD_BEST_SCORE) {
		js->js_has_best = true;
		js->js_best = u->best_score;
	}
	if (f & TP_UPD_CURRENT_SCORE) {
		js->js_has_current = true;
		js->js_current = u->current_score;
	}
	job_raise(js);
	return TP_OK;
}

enum tp_err
job_complete(struct job_state *js, const char **why)
{
	*why = NULL;
	if (job_finished(js))
		return refuse(why, "the job has finished", TP_EFINISHED);
	js->js_phase = JOB_COMPLETE;
	js->js_step = TP_STEP_SAVE_CONFIGURATION;
	js->js_step_pct = 100.0;
	js->js_pct = 100.0;
	js->js_has_eta = false;
	/* "Complete" is not a step: step-level facts go; the results stay. */
	tbuf_clear(&js->js_details);
	js->js_has_iter = js->js_has_total = js->js_has_current = false;
	return TP_OK;
}

size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	/* Back off continuation bytes (10xxxxxx) to the start of a character. */
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	return len;
}

enum tp_err
job_fail(struct job_state *js, const char *message, const char **why)
{
	const char	*problem, *field;
	size_t		 len;

	*why = NULL;
	if (job_finished(js))
		return refuse(why, "the job has finished", TP_EFINISHED);
	if ((problem = tp_error_problem(message, &field)) != NULL)
		return refuse(why, problem, TP_EINVAL);
	len = strlen(message);
	len = utf8_cut(message, len, TP_ERROR_MESSAGE_MAX);
	if (tbuf_set(&js->js_error, message, len) == -1)
		return refuse(why, "out of memory", TP_ENOMEM);
	if (js->js_step == TP_STEP_NONE)
		js->js_step = TP_STEP_DATA_COLLECTION;
	js->js_phase = JOB_FAILED;
	js->js_has_eta = false;
	return TP_OK;
}

/*
 * The ETA of a state just changed: a running job's, from the estimator's
 * samples when there is one, else (or while it has too few, after a resume)
 * from the step's average pace since it started.
 */
static void
job_estimate(struct job_state *js, int64_t now_us, struct eta *history)
{
	js->js_has_eta = false;
	if (js->js_phase != JOB_RUNNING || js->js_step == TP_STEP_NONE)
		return;
	if (history != NULL)
		js->js_has_eta = eta_observe(history, js->js_step, js->js_pct, now_us,
		    &js->js_eta_us);
	if (!js->js_has_eta && (history == NULL || history->e_pace_fallback))
		js->js_has_eta = eta_from_step_start(js->js_step, js->js_pct,
		    js->js_step_started_us, now_us, &js->js_eta_us);
}

enum tp_err
job_apply(struct job_state *js, const struct job_event *ev, int64_t now_us,
    struct eta *history, const char **why)
{
	enum tp_err	 err;

	*why = NULL;
	switch (ev->je_kind) {
	case JOB_EV_QUEUE:
		err = job_queue(js, why);
		break;
	case JOB_EV_START:
		err = job_start(js, ev->je_step, ev->je_details, now_us, why);
		break;
	case JOB_EV_UPDATE:
		err = job_update(js, &ev->je_update, why);
		break;
	case JOB_EV_COMPLETE:
		err = job_complete(js, why);
		break;
	case JOB_EV_ERROR:
		err = job_fail(js, ev->je_message, why);
		break;
	default:
		return refuse(why, "unknown event", TP_EINVAL);
	}
	if (err == TP_OK)
		job_estimate(js, now_us, history);
	return err;
}

enum tp_err
job_from_row(struct job_state *js, const struct progress_row *r, const char **why)
{
	enum tp_step	 step;
	enum job_phase	 phase;

	*why = NULL;
	if (r->pr_status == NULL || strcmp(r->pr_status, "running") == 0 ||
	    strcmp(r->pr_status, "stalled") == 0 || strcmp(r->pr_status, "cancelling") == 0)
		phase = !r->pr_is_complete ? JOB_RUNNING :
		    r->pr_error_message != NULL ? JOB_FAILED : JOB_COMPLETE;
	else if (strcmp(r->pr_status, "queued") == 0)
		phase = JOB_QUEUED;
	else if (strcmp(r->pr_status, "completed") == 0)
		phase = JOB_COMPLETE;
	else if (strcmp(r->pr_status, "failed") == 0)
		phase = JOB_FAILED;
	else if (strcmp(r->pr_status, "cancelled") == 0)
		phase = JOB_CANCELLED;
	else
		return refuse(why, "the stored status is not one this library knows", TP_EINVAL);
	if (strcmp(r->pr_current_step, TP_STEP_COMPLETE_NAME) == 0)
		step = TP_STEP_SAVE_CONFIGURATION;
	else if ((step = tp_step_from_name(r->pr_current_step)) == TP_STEP_NONE)
		return refuse(why, "the stored current_step is not a step this library knows", TP_EINVAL);
	if ((r->pr_step_details != NULL &&
	    tbuf_set(&js->js_details, r->pr_step_details, strlen(r->pr_step_details)) == -1) ||
	    (r->pr_best_params != NULL &&
	    tbuf_set(&js->js_best_params, r->pr_best_params, strlen(r->pr_best_params)) == -1) ||
	    (r->pr_error_message != NULL &&
	    tbuf_set(&js->js_error, r->pr_error_message, strlen(r->pr_error_message)) == -1))
		return refuse(why, "out of memory", TP_ENOMEM);
	if (r->pr_step_details == NULL)
		tbuf_clear(&js->js_details);
	if (r->pr_best_params == NULL)
		tbuf_clear(&js->js_best_params);
	if (r->pr_error_message == NULL)
		tbuf_clear(&js->js_error);
	js->js_step = step;
	js->js_step_pct = r->pr_step_percentage;
	js->js_pct = r->pr_percentage;
	js->js_has_iter = r->pr_has_current_iteration;
	js->js_iter = r->pr_current_iteration;
	js->js_has_total = r->pr_has_total_iterations;
	js->js_total = r->pr_total_iterations;
	js->js_has_best = r->pr_has_best_score;
	js->js_best = r->pr_best_score;
	js->js_has_current = r->pr_has_current_score;
	js->js_current = r->pr_current_score;
	js->js_has_eta = false;
	js->js_step_started_us = r->pr_has_step_started ? r->pr_step_started_at : 0;
	js->js_phase = phase;
	js->js_seq = (uint64_t)r->pr_seq;
	/* A queued job has no step yet, whatever current_step says. */
	if (phase == JOB_QUEUED)
		js->js_step = TP_STEP_NONE;
	return TP_OK;
}

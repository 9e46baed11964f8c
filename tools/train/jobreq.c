/*
 * jobreq.c: the request of POST /api/v2/training/jobs (docs/API.md,
 * "Starting a job"): parsed and checked field by field, every absent field
 * at its default, and written back as the canonical request that
 * training_jobs stores, that idempotency hashes and that the trainer reads.
 *
 * Untrusted bytes: fuzzed (t/fuzz/fuzz_jobreq.c).  Only cJSON and the
 * library's exported tp_job_id_problem() are used, so that tp-trainer,
 * which links the shared library, links this too.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <tp/notify.h>
#include <tp/progress.h>

#include "train.h"

/* A parameter's bounds stay within this (the optimizers' grids and integers stay exact). */
#define JOBREQ_BOUND_MAX	1e9

/* Defaults (docs/API.md). */
#define DEF_SYMBOL		"BTC/USDT"
#define DEF_EXCHANGE		"binanceus"
#define DEF_TIMEFRAME		"1h"
#define DEF_LOOKBACK_DAYS	180
#define DEF_N_CALLS		50
#define DEF_SEED		42
#define DEF_FEE			0.001
#define DEF_TRAIN_DAYS		60
#define DEF_TEST_DAYS		30
#define DEF_GAP_DAYS		7

/* Limits. */
#define LOOKBACK_DAYS_MAX	3650
#define N_CALLS_MAX		1000
#define N_CALLS_BAYESIAN_MAX	300
#define SEED_MAX		9007199254740991.0	/* 2^53 - 1 */
#define FEE_MAX			0.05

/* The strategy's parameters, in jr_space's order, with their defaults. */
static const struct opt_dim default_dims[] = {
	{ "pierce_depth", 0.05, 0.5, 0.05, false },
	{ "volume_spike_threshold", 1.5, 4.0, 0.25, false },
	{ "reversal_candles", 1, 5, 0, true },
};
#define NDIMS	((int)(sizeof(default_dims) / sizeof(default_dims[0])))

/* A refusal under construction: which field, and why. */
struct refusal {
	char	*field;
	size_t	 fieldsz;
	char	*err;
	size_t	 errsz;
};

static int refuse(struct refusal *rf, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names the field at fault ("" for the body as a whole) and says why.  Returns -1. */
static int
refuse(struct refusal *rf, const char *field, const char *fmt, ...)
{
	va_list	 ap;

	if (rf->field != NULL && rf->fieldsz > 0)
		snprintf(rf->field, rf->fieldsz, "%s", field);
	if (rf->err != NULL && rf->errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(rf->err, rf->errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Does the text hold the escape \u0000?  cJSON ends its strings there, so
 * "symbol\u0000x" would read as "symbol": such bodies are refused whole.
 */
static bool
has_nul_escape(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && len - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
			return true;
		i++;	/* the escaped character: "\\u0000" is a backslash, then text */
	}
	return false;
}

/* Is every byte of s one of `set` or an ASCII letter or digit (upper case only if upper)? */
static bool
only_chars(const char *s, const char *set, bool upper)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    (upper && *s >= 'A' && *s <= 'Z') || strchr(set, *s) != NULL))
			return false;
	return true;
}

/* A string field of 1..max bytes of the allowed characters, into out. */
static int
get_name(struct refusal *rf, const cJSON *v, const char *field, size_t max, const char *set,
    bool upper, char *out)
{
	size_t	 n;

	if (!cJSON_IsString(v))
		return refuse(rf, field, "%s must be a string", field);
	n = strlen(v->valuestring);
	if (n < 1 || n > max || !only_chars(v->valuestring, set, upper))
		return refuse(rf, field, "%s must be 1 to %zu characters of %s", field, max,
		    upper ? "A-Z, a-z, 0-9 and \"/._-\"" : "a-z, 0-9 and \"_.-\"");
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* A whole number within lo..hi (written any way JSON allows: 1e3 is 1000). */
static int
get_integer(struct refusal *rf, const cJSON *v, const char *field, double lo, double hi,
    double *out)
{
	double	 d;

	if (!cJSON_IsNumber(v))
		return refuse(rf, field, "%s must be a number", field);
	d = v->valuedouble;
	if (!isfinite(d) || floor(d) != d || d < lo || d > hi)
		return refuse(rf, field, "%s must be a whole number from %.0f to %.0f", field,
		    lo, hi);
	*out = d;
	return 0;
}

/* A finite number. */
static int
get_number(struct refusal *rf, const cJSON *v, const char *field, double *out)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return refuse(rf, field, "%s must be a finite number", field);
	/* -0 is 0: the canonical form writes one zero. */
	*out = v->valuedouble == 0 ? 0 : v->valuedouble;
	return 0;
}

/*
 * Each member of object o must be named in names[0..n) and given once;
 * seen[i] gets the member named names[i], or NULL.  `prefix` makes the
 * field names of refusals ("params.pierce_depth.").
 */
static int
members(struct refusal *rf, const cJSON *o, const char *prefix, const char *const *names,
    int n, const cJSON **seen)
{
	const cJSON	*m;
	char		 field[160];
	int		 i;

	for (i = 0; i < n; i++)
		seen[i] = NULL;
	cJSON_ArrayForEach(m, o) {
		for (i = 0; i < n; i++)
			if (strcmp(m->string, names[i]) == 0)
				break;
		snprintf(field, sizeof(field), "%s%.100s", prefix, m->string);
		/* A field named "" would read as a refusal of the whole body. */
		if (field[0] == '\0')
			return refuse(rf, "", "the body has a member with an empty name");
		if (i == n)
			return refuse(rf, field, "unknown field \"%s\"", field);
		if (seen[i] != NULL)
			return refuse(rf, field, "%s is given twice", field);
		seen[i] = m;
	}
	return 0;
}

/* One parameter's range: {min, max, step?, type?}. */
static int
get_dim(struct refusal *rf, const cJSON *v, const char *name, struct opt_dim *d)
{
	static const char *const names[] = { "min", "max", "step", "type" };
	const cJSON	*m[4];
	char		 field[96], prefix[64];

	snprintf(prefix, sizeof(prefix), "params.%s.", name);
	snprintf(field, sizeof(field), "params.%s", name);
	if (!cJSON_IsObject(v))
		return refuse(rf, field, "%s must be an object {\"min\": ..., \"max\": ..., "
		    "\"step\": ..., \"type\": \"float\" or \"int\"}", field);
	if (members(rf, v, prefix, names, 4, m) == -1)
		return -1;
	/* The type first: it decides what the bounds may be. */
	if (m[3] != NULL) {
		snprintf(field, sizeof(field), "params.%s.type", name);
		if (!cJSON_IsString(m[3]) || (strcmp(m[3]->valuestring, "float") != 0 &&
		    strcmp(m[3]->valuestring, "int") != 0))
			return refuse(rf, field, "%s must be \"float\" or \"int\"", field);
		d->od_integer = strcmp(m[3]->valuestring, "int") == 0;
	}
	snprintf(field, sizeof(field), "params.%s.min", name);
	if (m[0] == NULL)
		return refuse(rf, field, "%s is required", field);
	if (get_number(rf, m[0], field, &d->od_min) == -1)
		return -1;
	if (fabs(d->od_min) > JOBREQ_BOUND_MAX)
		return refuse(rf, field, "%s must be between -1e9 and 1e9", field);
	if (d->od_integer && floor(d->od_min) != d->od_min)
		return refuse(rf, field, "%s must be a whole number (the type is int)", field);
	snprintf(field, sizeof(field), "params.%s.max", name);
	if (m[1] == NULL)
		return refuse(rf, field, "%s is required", field);
	if (get_number(rf, m[1], field, &d->od_max) == -1)
		return -1;
	if (fabs(d->od_max) > JOBREQ_BOUND_MAX)
		return refuse(rf, field, "%s must be between -1e9 and 1e9", field);
	if (d->od_integer && floor(d->od_max) != d->od_max)
		return refuse(rf, field, "%s must be a whole number (the type is int)", field);
	if (!(d->od_min < d->od_max))
		return refuse(rf, field, "%s must be greater than params.%s.min", field, name);
	d->od_step = 0;
	if (m[2] != NULL) {
		snprintf(field, sizeof(field), "params.%s.step", name);
		if (get_number(rf, m[2], field, &d->od_step) == -1)
			return -1;
		if (d->od_step < 0)
			return refuse(rf, field, "%s must be 0 (continuous) or more", field);
		if (d->od_integer && floor(d->od_step) != d->od_step)
			return refuse(rf, field, "%s must be a whole number (the type is int)",
			    field);
	}
	return 0;
}

/* "params": the strategy's parameters that the request changes. */
static int
get_params(struct refusal *rf, const cJSON *v, struct opt_space *sp)
{
	const char	*names[NDIMS];
	const cJSON	*m[NDIMS];
	int		 i;

	if (!cJSON_IsObject(v))
		return refuse(rf, "params", "params must be an object of parameter ranges");
	for (i = 0; i < NDIMS; i++)
		names[i] = default_dims[i].od_name;
	if (members(rf, v, "params.", names, NDIMS, m) == -1)
		return -1;
	for (i = 0; i < NDIMS; i++)
		if (m[i] != NULL && get_dim(rf, m[i], names[i], &sp->os_dim[i]) == -1)
			return -1;
	return 0;
}

/* "validation": the walk-forward windows, or false. */
static int
get_validation(struct refusal *rf, const cJSON *v, struct jobreq *r)
{
	static const char *const names[] = { "train_window_days", "test_window_days",
		"gap_days" };
	const cJSON	*m[3];
	double		 d;

	if (cJSON_IsFalse(v)) {
		r->jr_validate = false;
		return 0;
	}
	if (!cJSON_IsObject(v))
		return refuse(rf, "validation", "validation must be an object of window "
		    "lengths in days, or false to skip Validation");
	if (members(rf, v, "validation.", names, 3, m) == -1)
		return -1;
	if (m[0] != NULL) {
		if (get_integer(rf, m[0], "validation.train_window_days", 1, LOOKBACK_DAYS_MAX,
		    &d) == -1)
			return -1;
		r->jr_train_days = (int)d;
	}
	if (m[1] != NULL) {
		if (get_integer(rf, m[1], "validation.test_window_days", 1, LOOKBACK_DAYS_MAX,
		    &d) == -1)
			return -1;
		r->jr_test_days = (int)d;
	}
	if (m[2] != NULL) {
		if (get_integer(rf, m[2], "validation.gap_days", 0, LOOKBACK_DAYS_MAX, &d) == -1)
			return -1;
		r->jr_gap_days = (int)d;
	}
	return 0;
}

/* Every field at its default. */
static void
defaults(struct jobreq *r)
{
	int	 i;

	memset(r, 0, sizeof(*r));
	snprintf(r->jr_symbol, sizeof(r->jr_symbol), "%s", DEF_SYMBOL);
	snprintf(r->jr_exchange, sizeof(r->jr_exchange), "%s", DEF_EXCHANGE);
	snprintf(r->jr_timeframe, sizeof(r->jr_timeframe), "%s", DEF_TIMEFRAME);
	r->jr_lookback_days = DEF_LOOKBACK_DAYS;
	r->jr_optimizer = OPT_BAYESIAN;
	r->jr_n_calls = DEF_N_CALLS;
	r->jr_seed = DEF_SEED;
	r->jr_fee = DEF_FEE;
	for (i = 0; i < NDIMS; i++)
		r->jr_space.os_dim[i] = default_dims[i];
	r->jr_space.os_n = NDIMS;
	r->jr_validate = true;
	r->jr_train_days = DEF_TRAIN_DAYS;
	r->jr_test_days = DEF_TEST_DAYS;
	r->jr_gap_days = DEF_GAP_DAYS;
}

/* The top-level fields, in the order members() is given them. */
enum {
	F_JOB_ID, F_SYMBOL, F_EXCHANGE, F_TIMEFRAME, F_LOOKBACK_DAYS, F_OPTIMIZER,
	F_N_CALLS, F_SEED, F_FEE, F_PARAMS, F_VALIDATION, F_NOTIFY, F_COUNT
};
static const char *const field_names[F_COUNT] = {
	"job_id", "symbol", "exchange", "timeframe", "lookback_days", "optimizer",
	"n_calls", "seed", "fee", "params", "validation", "notify"
};

/*
 * "notify": [{"kind": "webhook", "url": U, "secret": S?}, {"kind": "slack",
 * "url": U}, {"kind": "email", "address": A}], at most JOBREQ_NOTIFY_MAX.
 * The JSON's shape is checked here; what a target may be is the library's
 * rule (tp_target_problem()), which tp-admin and the sender follow too.
 */
static int
get_notify(struct refusal *rf, const cJSON *v, struct jobreq *r)
{
	static const char *const names[] = { "kind", "url", "address", "secret" };
	const cJSON	*t, *m[4];
	struct jobreq_notify *n;
	const char	*kind, *addr, *secret, *why, *part;
	char		 prefix[32], field[48];
	bool		 email;
	int		 i = 0;

	if (!cJSON_IsArray(v))
		return refuse(rf, "notify", "notify must be an array of targets");
	if (cJSON_GetArraySize(v) > JOBREQ_NOTIFY_MAX)
		return refuse(rf, "notify", "notify takes at most %d targets", JOBREQ_NOTIFY_MAX);
	cJSON_ArrayForEach(t, v) {
		snprintf(prefix, sizeof(prefix), "notify[%d].", i);
		snprintf(field, sizeof(field), "notify[%d]", i);
		if (!cJSON_IsObject(t))
			return refuse(rf, field, "%s must be an object", field);
		if (members(rf, t, prefix, names, 4, m) == -1)
			return -1;
		snprintf(field, sizeof(field), "notify[%d].kind", i);
		/* (With no address, the rule's first complaint is about the kind, if any.) */
		if (m[0] == NULL || !cJSON_IsString(m[0]) ||
		    (tp_target_problem(m[0]->valuestring, NULL, NULL, &part) != NULL &&
		    strcmp(part, "kind") == 0))
			return refuse(rf, field, "%s must be webhook, slack or email", field);
		kind = m[0]->valuestring;
		email = strcmp(kind, "email") == 0;
		/* An email target takes an address; the others a url. */
		if (m[email ? 1 : 2] != NULL || (email && m[3] != NULL)) {
			snprintf(field, sizeof(field), "notify[%d].%s", i,
			    email ? (m[1] != NULL ? "url" : "secret") : "address");
			return refuse(rf, field, email ? "an email target takes an address only" :
			    "a %s target takes a url", kind);
		}
		snprintf(field, sizeof(field), "notify[%d].%s", i, email ? "address" : "url");
		if (m[email ? 2 : 1] == NULL || !cJSON_IsString(m[email ? 2 : 1]))
			return refuse(rf, field, "%s must be %s", field,
			    email ? "an email address" : "an http:// or https:// URL");
		addr = m[email ? 2 : 1]->valuestring;
		secret = NULL;
		if (m[3] != NULL) {
			snprintf(field, sizeof(field), "notify[%d].secret", i);
			if (!cJSON_IsString(m[3]) || *m[3]->valuestring == '\0')
				return refuse(rf, field, "%s must be a string of 1 to %d bytes",
				    field, TP_TARGET_SECRET_MAX);
			secret = m[3]->valuestring;
		}
		if ((why = tp_target_problem(kind, addr, secret, &part)) != NULL) {
			snprintf(field, sizeof(field), "notify[%d].%s", i, part);
			return refuse(rf, field, "%s %s", field, why);
		}
		n = &r->jr_notify[i];
		memset(n, 0, sizeof(*n));
		snprintf(n->jn_kind, sizeof(n->jn_kind), "%s", kind);
		snprintf(n->jn_address, sizeof(n->jn_address), "%s", addr);
		if (secret != NULL)
			snprintf(n->jn_secret, sizeof(n->jn_secret), "%s", secret);
		i++;
	}
	r->jr_nnotify = i;
	return 0;
}

/* The fields of a parsed object, checked, into r. */
static int
get_fields(struct refusal *rf, const cJSON *doc, struct jobreq *r)
{
	const cJSON	*m[F_COUNT];
	const char	*problem;
	double		 d;
	int		 kind;

	if (members(rf, doc, "", field_names, F_COUNT, m) == -1)
		return -1;
	if (m[F_JOB_ID] != NULL) {
		if (!cJSON_IsString(m[F_JOB_ID]))
			return refuse(rf, "job_id", "job_id must be a string");
		if ((problem = tp_job_id_problem(m[F_JOB_ID]->valuestring,
		    strlen(m[F_JOB_ID]->valuestring))) != NULL)
			return refuse(rf, "job_id", "%s", problem);
		snprintf(r->jr_job_id, sizeof(r->jr_job_id), "%s", m[F_JOB_ID]->valuestring);
	}
	if (m[F_SYMBOL] != NULL && get_name(rf, m[F_SYMBOL], "symbol", JOBREQ_SYMBOL_MAX,
	    "/._-", true, r->jr_symbol) == -1)
		return -1;
	if (m[F_EXCHANGE] != NULL && get_name(rf, m[F_EXCHANGE], "exchange",
	    JOBREQ_EXCHANGE_MAX, "_.-", false, r->jr_exchange) == -1)
		return -1;
	if (m[F_TIMEFRAME] != NULL) {
		if (!cJSON_IsString(m[F_TIMEFRAME]) ||
		    strlen(m[F_TIMEFRAME]->valuestring) >= sizeof(r->jr_timeframe) ||
		    timeframe_seconds(m[F_TIMEFRAME]->valuestring) <= 0)
			return refuse(rf, "timeframe", "timeframe must be one of 1m, 5m, 15m, "
			    "30m, 1h, 4h, 1d");
		snprintf(r->jr_timeframe, sizeof(r->jr_timeframe), "%s",
		    m[F_TIMEFRAME]->valuestring);
	}
	if (m[F_LOOKBACK_DAYS] != NULL) {
		if (get_integer(rf, m[F_LOOKBACK_DAYS], "lookback_days", 1, LOOKBACK_DAYS_MAX,
		    &d) == -1)
			return -1;
		r->jr_lookback_days = (int)d;
	}
	if (m[F_OPTIMIZER] != NULL) {
		if (!cJSON_IsString(m[F_OPTIMIZER]) ||
		    (kind = opt_kind_parse(m[F_OPTIMIZER]->valuestring)) < 0)
			return refuse(rf, "optimizer", "optimizer must be grid, random or bayesian");
		r->jr_optimizer = (enum opt_kind)kind;
	}
	if (m[F_N_CALLS] != NULL) {
		if (get_integer(rf, m[F_N_CALLS], "n_calls", 1, N_CALLS_MAX, &d) == -1)
			return -1;
		r->jr_n_calls = (int)d;
	}
	if (r->jr_optimizer == OPT_BAYESIAN && r->jr_n_calls > N_CALLS_BAYESIAN_MAX)
		return refuse(rf, "n_calls", "n_calls must be at most %d with the bayesian "
		    "optimizer", N_CALLS_BAYESIAN_MAX);
	if (m[F_SEED] != NULL) {
		if (get_integer(rf, m[F_SEED], "seed", 0, SEED_MAX, &d) == -1)
			return -1;
		r->jr_seed = (uint64_t)d;
	}
	if (m[F_FEE] != NULL) {
		if (get_number(rf, m[F_FEE], "fee", &d) == -1)
			return -1;
		if (!(d >= 0 && d < FEE_MAX))
			return refuse(rf, "fee", "fee must be at least 0 and below 0.05 "
			    "(a fraction of the traded value, a side)");
		r->jr_fee = d;
	}
	if (m[F_PARAMS] != NULL && get_params(rf, m[F_PARAMS], &r->jr_space) == -1)
		return -1;
	if (m[F_VALIDATION] != NULL && get_validation(rf, m[F_VALIDATION], r) == -1)
		return -1;
	if (m[F_NOTIFY] != NULL && get_notify(rf, m[F_NOTIFY], r) == -1)
		return -1;
	if (r->jr_validate &&
	    r->jr_train_days + r->jr_gap_days + r->jr_test_days > r->jr_lookback_days)
		return refuse(rf, "validation", "validation's windows (train %d + gap %d + "
		    "test %d days) do not fit in lookback_days (%d)", r->jr_train_days,
		    r->jr_gap_days, r->jr_test_days, r->jr_lookback_days);
	return 0;
}

int
jobreq_parse(const char *body, size_t len, struct jobreq *r, char *field, size_t fieldsz,
    char *err, size_t errsz)
{
	struct refusal	 rf = { field, fieldsz, err, errsz };
	const char	*end = NULL;
	cJSON		*doc;
	int		 rc;

	defaults(r);
	if (field != NULL && fieldsz > 0)
		field[0] = '\0';
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (body == NULL || len == 0)
		return refuse(&rf, "", "the body is empty: send a JSON object ({} for every "
		    "default)");
	if (memchr(body, '\0', len) != NULL || has_nul_escape(body, len))
		return refuse(&rf, "", "the body must not hold a NUL character (\\u0000)");
	doc = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (doc == NULL)
		return refuse(&rf, "", "the body is not well-formed JSON");
	/* One value, and nothing after it but whitespace. */
	while (end != NULL && end < body + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != body + len)
		rc = refuse(&rf, "", "the body is not well-formed JSON: text after the object");
	else if (!cJSON_IsObject(doc))
		rc = refuse(&rf, "", "the body must be a JSON object ({} for every default)");
	else
		rc = get_fields(&rf, doc, r);
	cJSON_Delete(doc);
	return rc;
}

/* --- the canonical request ------------------------------------------------ */

/* A text being written: on ENOMEM it is freed and b_data is NULL. */
struct buf {
	char	*b_data;
	size_t	 b_len, b_cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends formatted text. */
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	if (b->b_data == NULL)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->b_data + b->b_len, b->b_cap - b->b_len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			free(b->b_data);
			b->b_data = NULL;
			return;
		}
		if ((size_t)n < b->b_cap - b->b_len) {
			b->b_len += (size_t)n;
			return;
		}
		if ((p = realloc(b->b_data, b->b_cap * 2 + (size_t)n)) == NULL) {
			free(b->b_data);
			b->b_data = NULL;
			return;
		}
		b->b_data = p;
		b->b_cap = b->b_cap * 2 + (size_t)n;
	}
}

/*
 * A finite double as the shortest JSON number that reads back as the same
 * double ("0.05", "1e-07", "4").
 */
static void
buf_double(struct buf *b, double d)
{
	char	 s[40];
	int	 prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	buf_printf(b, "%s", s);
}

char *
jobreq_canonical(const struct jobreq *r)
{
	struct buf		 b = { malloc(512), 0, 512 };
	const struct opt_dim	*d;
	int			 i;

	/* The strings were checked: letters, digits and "/._-" need no escaping. */
	buf_printf(&b, "{\"symbol\":\"%s\",\"exchange\":\"%s\",\"timeframe\":\"%s\","
	    "\"lookback_days\":%d,\"optimizer\":\"%s\",\"n_calls\":%d,\"seed\":%llu,\"fee\":",
	    r->jr_symbol, r->jr_exchange, r->jr_timeframe, r->jr_lookback_days,
	    opt_kind_name(r->jr_optimizer), r->jr_n_calls, (unsigned long long)r->jr_seed);
	buf_double(&b, r->jr_fee);
	buf_printf(&b, ",\"params\":{");
	for (i = 0; i < r->jr_space.os_n && i < OPT_MAX_DIMS; i++) {
		d = &r->jr_space.os_dim[i];
		buf_printf(&b, "%s\"%s\":{\"min\":", i > 0 ? "," : "", d->od_name);
		buf_double(&b, d->od_min);
		buf_printf(&b, ",\"max\":");
		buf_double(&b, d->od_max);
		buf_printf(&b, ",\"step\":");
		buf_double(&b, d->od_step);
		buf_printf(&b, ",\"type\":\"%s\"}", d->od_integer ? "int" : "float");
	}
	buf_printf(&b, "},\"validation\":");
	if (r->jr_validate)
		buf_printf(&b, "{\"train_window_days\":%d,\"test_window_days\":%d,"
		    "\"gap_days\":%d}}", r->jr_train_days, r->jr_test_days, r->jr_gap_days);
	else
		buf_printf(&b, "false}");
	return b.b_data;
}

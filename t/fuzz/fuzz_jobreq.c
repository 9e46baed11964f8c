/* fuzz_jobreq.c: libFuzzer target for jobreq_parse() and jobreq_canonical() (tools/train/jobreq.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../lib/internal.h"
#include "../../tools/train/train.h"
#include "common.h"

/* The top-level fields of a request (docs/API.md, "Starting a job"). */
static const char *const top_fields[] = {
	"job_id", "symbol", "exchange", "timeframe", "lookback_days", "optimizer", "n_calls",
	"seed", "fee", "params", "validation", "notify",
};

/* Is field, up to its first "." or "[", one of the request's fields? */
static bool
known_top(const char *field)
{
	size_t	 n = strcspn(field, ".["), i;

	for (i = 0; i < sizeof(top_fields) / sizeof(top_fields[0]); i++)
		if (strlen(top_fields[i]) == n && strncmp(field, top_fields[i], n) == 0)
			return true;
	return false;
}

/* An accepted request: its canonical form is JSON that parses back to itself. */
static void
check_accepted(const struct jobreq *r)
{
	struct jobreq	 again;
	cJSON		*doc;
	char		 field[160], err[256], *c, *c2;
	bool		 object = false;
	size_t		 n;

	CHECK("jobreq-result", r->jr_space.os_n == 3, "%d parameters", r->jr_space.os_n);
	if (r->jr_job_id[0] != '\0') {
		n = strlen(r->jr_job_id);
		CHECK("jobreq-job-id", tp_job_id_problem(r->jr_job_id, n) == NULL &&
		    ref_job_id_ok(r->jr_job_id, n), "an accepted job_id breaks the rules");
	}
	CHECK("jobreq-result", r->jr_lookback_days >= 1 && r->jr_lookback_days <= 3650 &&
	    r->jr_n_calls >= 1 && r->jr_n_calls <= 1000 && r->jr_fee >= 0 && r->jr_fee < 0.05 &&
	    r->jr_seed <= UINT64_C(9007199254740991) &&
	    (r->jr_optimizer != OPT_BAYESIAN || r->jr_n_calls <= 300) &&
	    timeframe_seconds(r->jr_timeframe) > 0, "a value out of its range was accepted");
	CHECK("jobreq-result", !r->jr_validate || (r->jr_train_days >= 1 && r->jr_test_days >= 1 &&
	    r->jr_gap_days >= 0 &&
	    r->jr_train_days + r->jr_gap_days + r->jr_test_days <= r->jr_lookback_days),
	    "validation windows that do not fit were accepted");
	for (n = 0; n < 3; n++)
		CHECK("jobreq-result", r->jr_space.os_dim[n].od_min < r->jr_space.os_dim[n].od_max &&
		    r->jr_space.os_dim[n].od_step >= 0, "parameter %zu: a bad range", n);

	c = jobreq_canonical(r);
	CHECK("jobreq-canonical", c != NULL, "no canonical form");
	if (c == NULL)
		return;
	CHECK("jobreq-canonical", strict_json(c, &object) && object,
	    "the canonical form is not a strict JSON object: %s", c);
	doc = cJSON_Parse(c);
	CHECK("jobreq-canonical", doc != NULL && cJSON_GetObjectItemCaseSensitive(doc,
	    "job_id") == NULL, "job_id in the canonical form: %s", c);
	cJSON_Delete(doc);
	CHECK("jobreq-roundtrip", jobreq_parse(c, strlen(c), &again, field, sizeof(field), err,
	    sizeof(err)) == 0, "the canonical form is refused: %s: %s (%s)", field, err, c);
	c2 = jobreq_canonical(&again);
	CHECK("jobreq-roundtrip", c2 != NULL && strcmp(c, c2) == 0,
	    "the canonical form changes when parsed again: %s, then %s", c, c2 ? c2 : "NULL");
	CHECK("jobreq-roundtrip", again.jr_job_id[0] == '\0', "a job_id from the canonical form");
	free(c);
	free(c2);
}

/*
 * Input: the body, as bytes of exactly its size (no NUL after it: a read
 * past the end is a finding).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jobreq	 r;
	char		 field[160], err[256], *body, *doc;
	size_t		 len = 0;

	if ((body = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(body, data, size);
	memset(field, 'X', sizeof(field));
	memset(err, 'X', sizeof(err));
	if (jobreq_parse(body, size, &r, field, sizeof(field), err, sizeof(err)) == 0) {
		check_accepted(&r);
		free(body);
		return 0;
	}
	free(body);
	CHECK("jobreq-problem", memchr(field, '\0', sizeof(field)) != NULL &&
	    memchr(err, '\0', sizeof(err)) != NULL, "field or err not NUL-terminated");
	field[sizeof(field) - 1] = err[sizeof(err) - 1] = '\0';
	CHECK("jobreq-problem", err[0] != '\0', "a refusal that says nothing (field \"%s\")", field);
	if (field[0] == '\0')
		CHECK("jobreq-problem", strncmp(err, "the body", 8) == 0,
		    "a refusal of the body that does not say so: %s", err);
	else
		CHECK("jobreq-field", known_top(field) || strncmp(err, "unknown field", 13) == 0,
		    "a field that is not the request's, not refused as unknown: %s: %s", field,
		    err);
	doc = render_error_field(field[0] != '\0' ? "invalid_field" : "invalid_body", err,
	    field[0] != '\0' ? field : NULL, &len);
	check_error_doc(doc, len, field[0] != '\0' ? "invalid_field" : "invalid_body", err,
	    field[0] != '\0' ? field : NULL);
	return 0;
}

/* fake_pg.c: libpq results made by hand, for the unit tests of what decodes them. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_pg.h"

static const struct { const char *name; Oid type; } cols[FAKE_PROGRESS_COLS] = {
	{ "job_id", 1043 }, { "percentage", 701 }, { "current_step", 1043 },
	{ "step_number", 23 }, { "total_steps", 23 }, { "step_percentage", 701 },
	{ "step_details", 3802 }, { "started_at", 1184 }, { "updated_at", 1184 },
	{ "estimated_completion", 1184 }, { "current_iteration", 23 },
	{ "total_iterations", 23 }, { "best_score", 701 }, { "current_score", 701 },
	{ "best_params", 3802 }, { "is_complete", 16 }, { "error_message", 25 },
	{ "seq", 20 }, { "status", 25 }, { "step_started_at", 1184 },
};

const char *
fake_progress_name(int col)
{
	return cols[col].name;
}

Oid
fake_progress_type(int col)
{
	return cols[col].type;
}

PGresult *
fake_result(int ncols, const char *const *names, const Oid *types)
{
	PGresAttDesc	 attrs[32];
	PGresult	*res;
	int		 i;

	cr_assert(ncols >= 0 && ncols <= 32);
	cr_assert_not_null(res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK));
	memset(attrs, 0, sizeof(attrs));
	for (i = 0; i < ncols; i++) {
		attrs[i].name = (char *)names[i];
		attrs[i].typid = types[i];
		attrs[i].format = 1;
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	cr_assert(PQsetResultAttrs(res, ncols, attrs));
	return res;
}

PGresult *
fake_progress_result(int ncols, const Oid *types)
{
	const char	*names[FAKE_PROGRESS_COLS];
	Oid		 t[FAKE_PROGRESS_COLS];
	int		 i;

	cr_assert(ncols >= 0 && ncols <= FAKE_PROGRESS_COLS);
	for (i = 0; i < ncols; i++) {
		names[i] = cols[i].name;
		t[i] = types != NULL ? types[i] : cols[i].type;
	}
	return fake_result(ncols, names, t);
}

void
fake_set_f8(PGresult *res, int col, double d)
{
	uint64_t	 v;

	memcpy(&v, &d, sizeof(v));
	v = htobe64(v);
	cr_assert(PQsetvalue(res, 0, col, (char *)&v, 8));
}

void
fake_set_i4(PGresult *res, int col, int32_t i)
{
	uint32_t	 v = htobe32((uint32_t)i);

	cr_assert(PQsetvalue(res, 0, col, (char *)&v, 4));
}

void
fake_set_i8(PGresult *res, int col, int64_t i)
{
	uint64_t	 v = htobe64((uint64_t)i);

	cr_assert(PQsetvalue(res, 0, col, (char *)&v, 8));
}

void
fake_set_ts(PGresult *res, int col, int64_t unix_us)
{
	fake_set_i8(res, col, unix_us - FAKE_PG_EPOCH_US);
}

void
fake_set_bool(PGresult *res, int col, int b)
{
	char	 v = b != 0;

	cr_assert(PQsetvalue(res, 0, col, &v, 1));
}

void
fake_set_text(PGresult *res, int col, const char *s)
{
	cr_assert(PQsetvalue(res, 0, col, (char *)s, (int)strlen(s)));
}

void
fake_set_jsonb(PGresult *res, int col, const char *json)
{
	size_t	 n = strlen(json);
	char	*buf;

	cr_assert_not_null(buf = malloc(n + 1));
	buf[0] = 1;
	memcpy(buf + 1, json, n);
	cr_assert(PQsetvalue(res, 0, col, buf, (int)n + 1));
	free(buf);
}

void
fake_set_null(PGresult *res, int col)
{
	cr_assert(PQsetvalue(res, 0, col, NULL, -1));
}

/* fake_pg.h: libpq results made by hand, as lib/store.c's statements return them. */
#ifndef TP_T_FAKE_PG_H
#define TP_T_FAKE_PG_H

#include <stdint.h>

#include <libpq-fe.h>

/* The columns of STMT_GET, in lib/store.c's order. */
#define FAKE_PROGRESS_COLS	20
/* Unix microseconds of PostgreSQL's timestamp epoch, 2000-01-01. */
#define FAKE_PG_EPOCH_US	(INT64_C(946684800) * 1000000)

/* Column col's name and type OID. */
const char *fake_progress_name(int col);
Oid	 fake_progress_type(int col);

/* An empty binary result with ncols columns of these names and types.  The caller PQclears it. */
PGresult *fake_result(int ncols, const char *const *names, const Oid *types);
/*
 * The same with the first ncols columns of STMT_GET, of their types or,
 * when types is not NULL, of types[i].
 */
PGresult *fake_progress_result(int ncols, const Oid *types);

/* Row 0's value of column col, in PostgreSQL's binary format. */
void	 fake_set_f8(PGresult *res, int col, double d);
void	 fake_set_i4(PGresult *res, int col, int32_t i);
void	 fake_set_i8(PGresult *res, int col, int64_t i);
void	 fake_set_ts(PGresult *res, int col, int64_t unix_us);
void	 fake_set_bool(PGresult *res, int col, int b);
void	 fake_set_text(PGresult *res, int col, const char *s);
void	 fake_set_jsonb(PGresult *res, int col, const char *json);
void	 fake_set_null(PGresult *res, int col);

#endif /* TP_T_FAKE_PG_H */

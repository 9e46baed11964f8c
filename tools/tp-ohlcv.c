/*
 * tp-ohlcv.c: loads the candles that training jobs read (ohlcv_candles).
 *
 *   tp-ohlcv import --symbol S [--exchange E] [--timeframe TF] FILE.csv|-
 *   tp-ohlcv synth --symbol S [--exchange E] [--timeframe TF] [--days N]
 *                  [--seed N] [--end UNIX_SECONDS]
 *   tp-ohlcv list
 *
 * import reads real data (the CSV format of candles_parse_csv() in
 * tools/train/candles.c: a header naming timestamp, open, high, low, close,
 * volume); synth makes a realistic synthetic series (geometric Brownian
 * motion with volatility clustering and volume spikes), the same for the
 * same symbol and seed.  Either way the whole file or series goes in one
 * transaction, replacing candles already stored at the same times: a bad
 * line changes nothing.  The connection comes from --database-url, else
 * $DATABASE_URL.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "train/train.h"

#define EXIT_USAGE	2
/* Rows per INSERT statement. */
#define BATCH		5000
/* The largest CSV file read (bytes). */
#define CSV_MAX		(512L * 1024 * 1024)

static const char	*progname = "tp-ohlcv";

/* Prints a message on stderr and returns rc. */
static int __attribute__((format(printf, 2, 3)))
fail(int rc, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: %s [--database-url URL] import --symbol S [--exchange E] [--timeframe TF] FILE|-\n"
	    "       %s [--database-url URL] synth --symbol S [--exchange E] [--timeframe TF]\n"
	    "                 [--days N] [--seed N] [--end UNIX_SECONDS]\n"
	    "       %s [--database-url URL] list\n"
	    "Defaults: --exchange binanceus, --timeframe 1h, --days 365, --seed 1, --end now.\n"
	    "Timeframes: 1m 5m 15m 30m 1h 4h 1d.  A CSV has a header naming timestamp (Unix\n"
	    "seconds or milliseconds, or ISO 8601 UTC), open, high, low, close and volume.\n",
	    progname, progname, progname);
	return EXIT_USAGE;
}

/* Reads a whole file (or stdin for "-") into a malloc'd buffer. */
static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char	*buf = NULL, *nb;
	size_t	 cap = 0, n = 0, got;

	if (f == NULL) {
		fail(1, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= (size_t)CSV_MAX) {
				fail(1, "%s: larger than %ld MiB", path, CSV_MAX >> 20);
				goto bad;
			}
			cap = cap ? cap * 2 : 1 << 16;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				fail(1, "%s: out of memory", path);
				goto bad;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fail(1, "%s: %s", path, strerror(errno));
		goto bad;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
bad:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

/* A growing text buffer for the array parameters. */
struct text {
	char	*t_s;
	size_t	 t_n, t_cap;
};

/* Appends printf-style; false on ENOMEM. */
static bool __attribute__((format(printf, 2, 3)))
text_add(struct text *t, const char *fmt, ...)
{
	va_list	 ap;
	int	 w;
	char	*ns;

	for (;;) {
		va_start(ap, fmt);
		w = vsnprintf(t->t_s ? t->t_s + t->t_n : NULL, t->t_s ? t->t_cap - t->t_n : 0,
		    fmt, ap);
		va_end(ap);
		if (w < 0)
			return false;
		if (t->t_s && (size_t)w < t->t_cap - t->t_n) {
			t->t_n += (size_t)w;
			return true;
		}
		t->t_cap = (t->t_cap ? t->t_cap * 2 : 4096) + (size_t)w;
		if ((ns = realloc(t->t_s, t->t_cap)) == NULL)
			return false;
		t->t_s = ns;
	}
}

/*
 * Stores s[from..to) for the market in one statement: the candles as six
 * array parameters, unnested; a candle already stored at that time is
 * replaced.
 */
static bool
store_batch(PGconn *db, const char *sym, const char *ex, const char *tf,
    const struct series *s, size_t from, size_t to)
{
	struct text	 col[6] = { { 0 } };
	const char	*params[9];
	PGresult	*res;
	size_t		 i;
	int		 k;
	bool		 ok = true;

	for (k = 0; k < 6 && ok; k++)
		ok = text_add(&col[k], "{");
	for (i = from; i < to && ok; i++) {
		const struct candle *c = &s->s_c[i];
		const char *sep = i > from ? "," : "";

		ok = text_add(&col[0], "%s%lld", sep, (long long)c->c_ts) &&
		    text_add(&col[1], "%s%.17g", sep, c->c_open) &&
		    text_add(&col[2], "%s%.17g", sep, c->c_high) &&
		    text_add(&col[3], "%s%.17g", sep, c->c_low) &&
		    text_add(&col[4], "%s%.17g", sep, c->c_close) &&
		    text_add(&col[5], "%s%.17g", sep, c->c_volume);
	}
	for (k = 0; k < 6 && ok; k++)
		ok = text_add(&col[k], "}");
	if (!ok) {
		fail(1, "out of memory");
		goto out;
	}
	params[0] = sym;
	params[1] = ex;
	params[2] = tf;
	for (k = 0; k < 6; k++)
		params[3 + k] = col[k].t_s;
	res = PQexecParams(db, "INSERT INTO ohlcv_candles AS o (symbol, exchange, timeframe, ts,"
	    " open, high, low, close, volume)"
	    " SELECT $1, $2, $3, to_timestamp(u.t), u.o, u.h, u.l, u.c, u.v"
	    " FROM unnest($4::int8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],"
	    "             $9::float8[]) AS u(t, o, h, l, c, v)"
	    " ON CONFLICT (symbol, exchange, timeframe, ts) DO UPDATE SET open = EXCLUDED.open,"
	    " high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,"
	    " volume = EXCLUDED.volume", 9, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fail(1, "storing candles: %s", PQerrorMessage(db));
	PQclear(res);
out:
	for (k = 0; k < 6; k++)
		free(col[k].t_s);
	return ok;
}

/* Runs a statement without parameters; false after a message. */
static bool
run(PGconn *db, const char *sql)
{
	PGresult	*res = PQexec(db, sql);
	bool		 ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fail(1, "%s: %s", sql, PQerrorMessage(db));
	PQclear(res);
	return ok;
}

/* Stores a whole series in one transaction.  0, or 1 after a message. */
static int
store(PGconn *db, const char *sym, const char *ex, const char *tf, const struct series *s)
{
	size_t	 from;

	if (!run(db, "BEGIN"))
		return 1;
	for (from = 0; from < s->s_n; from += BATCH)
		if (!store_batch(db, sym, ex, tf, s, from,
		    from + BATCH < s->s_n ? from + BATCH : s->s_n)) {
			run(db, "ROLLBACK");
			return 1;
		}
	if (!run(db, "COMMIT"))
		return 1;
	return 0;
}

/* Checks a symbol and an exchange the way POST /jobs does (jobreq_parse). */
static int
check_market(const char *sym, const char *ex, const char *tf)
{
	struct jobreq	 r;
	char		 body[256], field[64], err[256];
	int		 w;

	w = snprintf(body, sizeof(body), "{\"symbol\": \"%s\", \"exchange\": \"%s\", "
	    "\"timeframe\": \"%s\"}", sym, ex, tf);
	if (w < 0 || (size_t)w >= sizeof(body) || strpbrk(body + 1, "\\") != NULL)
		return fail(EXIT_USAGE, "the symbol, exchange or timeframe is too long or "
		    "holds a backslash");
	if (jobreq_parse(body, (size_t)w, &r, field, sizeof(field), err, sizeof(err)) == -1)
		return fail(EXIT_USAGE, "--%s: %s", field, err);
	return 0;
}

static int
list(PGconn *db)
{
	PGresult	*res;
	int		 i;

	res = PQexec(db, "SELECT symbol, exchange, timeframe, count(*),"
	    " to_char(min(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " to_char(max(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    " FROM ohlcv_candles GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail(1, "%s", PQerrorMessage(db));
		PQclear(res);
		return 1;
	}
	printf("%-12s %-12s %-4s %9s  %-20s  %s\n", "symbol", "exchange", "tf", "candles",
	    "first", "last");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-12s %-12s %-4s %9s  %-20s  %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
	PQclear(res);
	return 0;
}

/* A whole number in [lo, hi], or false after a message. */
static bool
number(const char *opt, const char *arg, long long lo, long long hi, long long *out)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi) {
		fail(EXIT_USAGE, "%s: \"%s\" is not a whole number in %lld..%lld", opt, arg, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	const char	*url = getenv("DATABASE_URL"), *cmd, *sym = NULL, *ex = "binanceus";
	const char	*tf = "1h", *file = NULL;
	long long	 days = 365, seed = 1, end = (long long)time(NULL), v;
	struct series	 s = { 0 };
	char		 err[256], *buf;
	size_t		 len;
	PGconn		*db;
	int		 i = 1, rc;

	if (i + 1 < argc && strcmp(argv[i], "--database-url") == 0) {
		url = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		return usage();
	cmd = argv[i++];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage();
		return 0;
	}
	if (strcmp(cmd, "import") != 0 && strcmp(cmd, "synth") != 0 && strcmp(cmd, "list") != 0)
		return usage();
	for (; i < argc; i++) {
		const char	*a = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(cmd, "import") == 0 && (a[0] != '-' || strcmp(a, "-") == 0) &&
		    file == NULL) {
			file = a;
			continue;
		}
		if (arg == NULL || strcmp(cmd, "list") == 0)
			return usage();
		if (strcmp(a, "--symbol") == 0)
			sym = arg;
		else if (strcmp(a, "--exchange") == 0)
			ex = arg;
		else if (strcmp(a, "--timeframe") == 0)
			tf = arg;
		else if (strcmp(a, "--days") == 0 && strcmp(cmd, "synth") == 0) {
			if (!number(a, arg, 1, 3650, &days))
				return EXIT_USAGE;
		} else if (strcmp(a, "--seed") == 0 && strcmp(cmd, "synth") == 0) {
			if (!number(a, arg, 0, 9007199254740991LL, &seed))
				return EXIT_USAGE;
		} else if (strcmp(a, "--end") == 0 && strcmp(cmd, "synth") == 0) {
			if (!number(a, arg, 86400, 32503680000LL, &v))
				return EXIT_USAGE;
			end = v;
		} else
			return usage();
		i++;
	}
	if (strcmp(cmd, "list") != 0) {
		if (sym == NULL)
			return fail(EXIT_USAGE, "%s needs --symbol (BTC/USDT, ...)", cmd);
		if ((rc = check_market(sym, ex, tf)) != 0)
			return rc;
		if (strcmp(cmd, "import") == 0 && file == NULL)
			return fail(EXIT_USAGE, "import needs a CSV file (or - for stdin)");
	}

	/* Everything is read and checked before the database is touched. */
	if (strcmp(cmd, "import") == 0) {
		if ((buf = slurp(file, &len)) == NULL)
			return 1;
		rc = candles_parse_csv(buf, len, &s, err, sizeof(err));
		free(buf);
		if (rc == -1) {
			series_free(&s);
			return fail(1, "%s: %s (nothing was stored)", file, err);
		}
		if (s.s_n == 0)
			return fail(1, "%s: no candles (nothing was stored)", file);
	} else if (strcmp(cmd, "synth") == 0) {
		if (candles_synth(&s, sym, (uint64_t)seed, timeframe_seconds(tf), end,
		    (size_t)(days * 86400 / timeframe_seconds(tf)), err, sizeof(err)) == -1) {
			series_free(&s);
			return fail(1, "synth: %s", err);
		}
	}

	db = PQconnectdb(url ? url : "");
	if (PQstatus(db) != CONNECTION_OK) {
		fail(1, "cannot connect to the database: %s", PQerrorMessage(db));
		PQfinish(db);
		series_free(&s);
		return 1;
	}
	if (strcmp(cmd, "list") == 0)
		rc = list(db);
	else if ((rc = store(db, sym, ex, tf, &s)) == 0)
		fprintf(stderr, "%s: %zu candles of %s on %s (%s) stored\n", progname, s.s_n, sym,
		    ex, tf);
	PQfinish(db);
	series_free(&s);
	return rc;
}

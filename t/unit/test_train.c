/* test_train.c: the reference trainer's engine (tools/train/): candles, CSV, synth, backtest, optimizers, walk-forward. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../tools/train/train.h"

/* --- candles ------------------------------------------------------------------ */

/* A candle from its parts. */
static struct candle
mk(int64_t ts, double o, double h, double l, double c, double v)
{
	struct candle	 k = { ts, o, h, l, c, v };

	return k;
}

Test(candles, problem)
{
	struct candle	 c = mk(0, 10, 11, 9, 10.5, 5);

	cr_assert_null(candle_problem(&c));
	c = mk(0, 10, 10, 10, 10, 0);
	cr_assert_null(candle_problem(&c), "a flat candle with no volume is sane");
	c = mk(0, 10, 11, 0, 10, 1);
	cr_assert_str_eq(candle_problem(&c), "low is not positive");
	c = mk(0, 10, 11, -1, 10, 1);
	cr_assert_str_eq(candle_problem(&c), "low is not positive");
	c = mk(0, 10, 11, 10.2, 10.5, 1);
	cr_assert_str_eq(candle_problem(&c), "low is above open");
	c = mk(0, 10.5, 11, 10.2, 10, 1);
	cr_assert_str_eq(candle_problem(&c), "low is above close");
	c = mk(0, 12, 11, 9, 10, 1);
	cr_assert_str_eq(candle_problem(&c), "high is below open");
	c = mk(0, 10, 11, 9, 11.5, 1);
	cr_assert_str_eq(candle_problem(&c), "high is below close");
	c = mk(0, 10, 11, 9, 10, -0.5);
	cr_assert_str_eq(candle_problem(&c), "volume is negative");
	c = mk(0, 10, INFINITY, 9, 10, 1);
	cr_assert_str_eq(candle_problem(&c), "a value is not a finite number");
	c = mk(0, 10, 11, 9, 10, NAN);
	cr_assert_str_eq(candle_problem(&c), "a value is not a finite number");
	c = mk(0, NAN, 11, 9, 10, 1);
	cr_assert_not_null(candle_problem(&c));
}

Test(candles, timeframes)
{
	cr_assert_eq(timeframe_seconds("1m"), 60);
	cr_assert_eq(timeframe_seconds("5m"), 300);
	cr_assert_eq(timeframe_seconds("15m"), 900);
	cr_assert_eq(timeframe_seconds("30m"), 1800);
	cr_assert_eq(timeframe_seconds("1h"), 3600);
	cr_assert_eq(timeframe_seconds("4h"), 14400);
	cr_assert_eq(timeframe_seconds("1d"), 86400);
	cr_assert_eq(timeframe_seconds("2h"), 0);
	cr_assert_eq(timeframe_seconds("1H"), 0);
	cr_assert_eq(timeframe_seconds(""), 0);
	cr_assert_eq(timeframe_seconds(NULL), 0);
}

Test(candles, push_grows)
{
	struct series	 s = { 0 };
	struct candle	 c;
	size_t		 i;

	for (i = 0; i < 1000; i++) {
		c = mk((int64_t)i, 1, 1, 1, 1, (double)i);
		cr_assert_eq(series_push(&s, &c), 0);
	}
	cr_assert_eq(s.s_n, 1000);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(s.s_c[i].c_volume, (double)i);
	series_free(&s);
	cr_assert_null(s.s_c);
	cr_assert_eq(s.s_n, 0);
	series_free(&s);
}

/* Parses text; the return value, the series in s, the error in err. */
static int
parse(const char *text, struct series *s, char *err, size_t errsz)
{
	memset(s, 0, sizeof(*s));
	return candles_parse_csv(text, strlen(text), s, err, errsz);
}

/* Asserts that text fails with exactly the message want. */
static void
parse_fails(const char *text, const char *want)
{
	struct series	 s;
	char		 err[256];

	cr_assert_eq(parse(text, &s, err, sizeof(err)), -1, "accepted: %s", text);
	cr_assert_str_eq(err, want, "for %s", text);
	cr_assert_eq(s.s_n, 0, "a refused input leaves the series as it was");
	series_free(&s);
}

Test(csv, plain_seconds)
{
	struct series	 s;
	char		 err[256];

	cr_assert_eq(parse("timestamp,open,high,low,close,volume\n"
	    "1700000000,10,11,9,10.5,100\n"
	    "1700003600,10.5,12,10,11,250.5\n", &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 2);
	cr_assert_eq(s.s_c[0].c_ts, 1700000000);
	cr_assert_eq(s.s_c[0].c_open, 10);
	cr_assert_eq(s.s_c[0].c_high, 11);
	cr_assert_eq(s.s_c[0].c_low, 9);
	cr_assert_eq(s.s_c[0].c_close, 10.5);
	cr_assert_eq(s.s_c[0].c_volume, 100);
	cr_assert_eq(s.s_c[1].c_ts, 1700003600);
	cr_assert_eq(s.s_c[1].c_volume, 250.5);
	series_free(&s);
}

Test(csv, header_order_case_extra_columns)
{
	struct series	 s;
	char		 err[256];

	cr_assert_eq(parse("Volume,CLOSE,trades,Low,High,Open,Time\n"
	    "100,10.5,7,9,11,10,1700000000\n", &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 1);
	cr_assert_eq(s.s_c[0].c_ts, 1700000000);
	cr_assert_eq(s.s_c[0].c_open, 10);
	cr_assert_eq(s.s_c[0].c_high, 11);
	cr_assert_eq(s.s_c[0].c_low, 9);
	cr_assert_eq(s.s_c[0].c_close, 10.5);
	cr_assert_eq(s.s_c[0].c_volume, 100);
	series_free(&s);
	cr_assert_eq(parse("ts,open,high,low,close,volume\n1,1,1,1,1,0\n", &s, err,
	    sizeof(err)), 0);
	series_free(&s);
	cr_assert_eq(parse("date,open,high,low,close,volume\n2024-01-31,1,1,1,1,0\n", &s, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_c[0].c_ts, 1706659200);
	series_free(&s);
}

Test(csv, timestamps_ms_seconds_iso)
{
	struct series	 s;
	char		 err[256];

	cr_assert_eq(parse("time,open,high,low,close,volume\n"
	    "1706700000,1,1,1,1,0\n"				/* seconds */
	    "1706703600000,1,1,1,1,0\n"				/* milliseconds */
	    "2024-01-31T13:00:00Z,1,1,1,1,0\n"			/* ISO with T and Z */
	    "2024-01-31 14:00:00,1,1,1,1,0\n"			/* a space, no Z */
	    "2024-02-29T00:00:00,1,1,1,1,0\n"			/* a leap day */
	    "2024-12-31T23:59:59Z,1,1,1,1,0\n",
	    &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 6);
	cr_assert_eq(s.s_c[0].c_ts, 1706700000);
	cr_assert_eq(s.s_c[1].c_ts, 1706703600);
	cr_assert_eq(s.s_c[2].c_ts, 1706706000, "2024-01-31T13:00:00Z");
	cr_assert_eq(s.s_c[3].c_ts, 1706709600);
	cr_assert_eq(s.s_c[4].c_ts, 1709164800);
	cr_assert_eq(s.s_c[5].c_ts, 1735689599);
	series_free(&s);
}

Test(csv, quotes_crlf_bom_blank_lines_spaces)
{
	struct series	 s;
	char		 err[256];
	const char	 text[] = "\xef\xbb\xbf\r\n"
	    "\"timestamp\",\"open\",\"high\",\"low\",\"close\",\"volume\",\"note\"\r\n"
	    "\r\n"
	    "   \r\n"
	    "\"1700000000\", \"10\" ,11 , 9,\"10.5\",100,\"a, \"\"quoted\"\" note\"\r\n"
	    "\n"
	    "1700003600,10.5,12,10,11,250\r\n"
	    "\r\n";

	cr_assert_eq(parse(text, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 2);
	cr_assert_eq(s.s_c[0].c_ts, 1700000000);
	cr_assert_eq(s.s_c[0].c_open, 10);
	cr_assert_eq(s.s_c[0].c_high, 11);
	cr_assert_eq(s.s_c[0].c_low, 9);
	cr_assert_eq(s.s_c[0].c_close, 10.5);
	cr_assert_eq(s.s_c[1].c_close, 11);
	series_free(&s);
	/* No final newline, and a header alone is an empty series. */
	cr_assert_eq(parse("timestamp,open,high,low,close,volume\n1,1,2,1,1,0", &s, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 1);
	series_free(&s);
	cr_assert_eq(parse("timestamp,open,high,low,close,volume", &s, err, sizeof(err)), 0);
	cr_assert_eq(s.s_n, 0);
	series_free(&s);
}

Test(csv, appends_after_existing)
{
	struct series	 s = { 0 };
	struct candle	 c = mk(100, 1, 1, 1, 1, 1);
	const char	*t = "timestamp,open,high,low,close,volume\n200,1,1,1,1,0\n";
	char		 err[256];

	cr_assert_eq(series_push(&s, &c), 0);
	cr_assert_eq(candles_parse_csv(t, strlen(t), &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.s_n, 2);
	t = "timestamp,open,high,low,close,volume\n300,1,1,1,1,0\n150,1,1,1,1,0\n";
	cr_assert_eq(candles_parse_csv(t, strlen(t), &s, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "line 3: the timestamp is earlier than the previous row's");
	cr_assert_eq(s.s_n, 2, "rows of a refused input are taken back");
	series_free(&s);
}

Test(csv, errors_name_the_line)
{
	const char	*h = "timestamp,open,high,low,close,volume\n";
	char		 t[512];

	parse_fails("", "line 1: no header line (the input is empty)");
	parse_fails("\n\n  \n", "line 4: no header line (the input is empty)");
	parse_fails("timestamp,open,high,low,close\n1,1,1,1,1\n",
	    "line 1: the header has no volume column");
	parse_fails("open,high,low,close,volume\n",
	    "line 1: the header has no timestamp column (timestamp, time, date or ts)");
	parse_fails("time,open,high,low,close,volume,Open\n",
	    "line 1: the open column appears twice");
	parse_fails("time,open,high,low,close,volume,ts\n",
	    "line 1: the timestamp column appears twice");
	parse_fails("\"time,open,high,low,close,volume\n",
	    "line 1: header field 1: a quote is not closed or text follows it");

	snprintf(t, sizeof(t), "%s1,1,1,1,1,0\n2,1,1,1,1\n", h);
	parse_fails(t, "line 3: no volume field (5 fields, the volume is column 6)");
	snprintf(t, sizeof(t), "%s\n1,1,1,1,1,0\n\n2,1,1,1,abc,0\n", h);
	parse_fails(t, "line 5: the close is not a finite decimal number: \"abc\"");
	snprintf(t, sizeof(t), "%s1,1,1,1,1,1e999\n", h);
	parse_fails(t, "line 2: the volume is not a finite decimal number: \"1e999\"");
	snprintf(t, sizeof(t), "%s1,nan,1,1,1,0\n", h);
	parse_fails(t, "line 2: the open is not a finite decimal number: \"nan\"");
	snprintf(t, sizeof(t), "%s1,0x10,1,1,1,0\n", h);
	parse_fails(t, "line 2: the open is not a finite decimal number: \"0x10\"");
	snprintf(t, sizeof(t), "%s1,,1,1,1,0\n", h);
	parse_fails(t, "line 2: the open is not a finite decimal number: \"\"");
	snprintf(t, sizeof(t), "%s1,1,1,1,1,0\n1,1,1,1,1,0\n", h);
	parse_fails(t, "line 3: the timestamp repeats the previous row's");
	snprintf(t, sizeof(t), "%s5,1,1,1,1,0\n4,1,1,1,1,0\n", h);
	parse_fails(t, "line 3: the timestamp is earlier than the previous row's");
	snprintf(t, sizeof(t), "%s1,10,11,9,12,0\n", h);
	parse_fails(t, "line 2: high is below close");
	snprintf(t, sizeof(t), "%s1,10,11,9.5,9,0\n", h);
	parse_fails(t, "line 2: low is above close");
	snprintf(t, sizeof(t), "%s1,10,11,0,10,0\n", h);
	parse_fails(t, "line 2: low is not positive");
	snprintf(t, sizeof(t), "%s1,10,11,9,10,-1\n", h);
	parse_fails(t, "line 2: volume is negative");
	snprintf(t, sizeof(t), "%s2024-02-30T00:00:00Z,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp's day is not in its month: \"2024-02-30T00:00:00Z\"");
	snprintf(t, sizeof(t), "%s2023-01-01T24:00:00Z,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp's time is out of range: \"2023-01-01T24:00:00Z\"");
	snprintf(t, sizeof(t), "%s2023-01-01X10:00:00,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp's time is not THH:MM:SS: \"2023-01-01X10:00:00\"");
	snprintf(t, sizeof(t), "%s2023/01/01,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp's date is not YYYY-MM-DD: \"2023/01/01\"");
	snprintf(t, sizeof(t), "%s1969-12-31,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp's date is out of range: \"1969-12-31\"");
	snprintf(t, sizeof(t), "%s1706706000123,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp in milliseconds is not a whole second: "
	    "\"1706706000123\"");
	snprintf(t, sizeof(t), "%s17067060001230,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp has too many digits: \"17067060001230\"");
	snprintf(t, sizeof(t), "%s253402300800,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp is after 9999-12-31: \"253402300800\"");
	snprintf(t, sizeof(t), "%s-5,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp is neither Unix seconds, milliseconds nor ISO "
	    "8601 (YYYY-MM-DDTHH:MM:SSZ): \"-5\"");
	snprintf(t, sizeof(t), "%s,1,1,1,1,0\n", h);
	parse_fails(t, "line 2: the timestamp is empty: \"\"");
	snprintf(t, sizeof(t), "%s1,\"1,1,1,1,0\n", h);
	parse_fails(t, "line 2: field 2: a quote is not closed or text follows it");
	snprintf(t, sizeof(t), "%s1,\"1\"x,1,1,1,0\n", h);
	parse_fails(t, "line 2: field 2: a quote is not closed or text follows it");
	snprintf(t, sizeof(t), "%s1,1%s,1,1,1,0\n", h,
	    "0000000000000000000000000000000000000000000000000000000000000000000");
	parse_fails(t, "line 2: the open is too long");
	/* A control byte in a message is shown as '?'. */
	snprintf(t, sizeof(t), "%s1,1\x01,1,1,1,0\n", h);
	parse_fails(t, "line 2: the open is not a finite decimal number: \"1?\"");
}

Test(csv, nul_byte_is_an_error_not_the_end)
{
	const char	 t[] = "timestamp,open,high,low,close,volume\n1,1,1,1,1,0\n2,1\0,1,1,1,0\n";
	struct series	 s = { 0 };
	char		 err[256];

	cr_assert_eq(candles_parse_csv(t, sizeof(t) - 1, &s, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "line 3: the open holds a NUL byte");
	series_free(&s);
}

Test(csv, tiny_error_buffer)
{
	struct series	 s = { 0 };
	char		 err[8];

	cr_assert_eq(candles_parse_csv("x", 1, &s, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "line 1:");
	cr_assert_eq(candles_parse_csv("x", 1, &s, NULL, 0), -1);
}

/* --- synthetic candles ------------------------------------------------------- */

#define T_END	INT64_C(1735689600)	/* 2025-01-01T00:00:00Z */

Test(synth, deterministic_sane_and_on_time)
{
	struct series	 a = { 0 }, b = { 0 }, c = { 0 };
	char		 err[256];
	size_t		 i;

	cr_assert_eq(candles_synth(&a, "BTCUSDT", 7, 3600, T_END + 1234, 5000, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(candles_synth(&b, "BTCUSDT", 7, 3600, T_END + 1234, 5000, err,
	    sizeof(err)), 0);
	cr_assert_eq(candles_synth(&c, "BTCUSDT", 8, 3600, T_END + 1234, 5000, err,
	    sizeof(err)), 0);
	cr_assert_eq(a.s_n, 5000);
	cr_assert_eq(memcmp(a.s_c, b.s_c, a.s_n * sizeof(*a.s_c)), 0, "same (symbol, seed)");
	cr_assert_neq(a.s_c[4999].c_close, c.s_c[4999].c_close, "another seed");
	cr_assert_eq(a.s_c[0].c_open, c.s_c[0].c_open, "the start price is the symbol's");
	cr_assert_eq(a.s_c[4999].c_ts, T_END, "the last starts at end_ts rounded down");
	for (i = 0; i < a.s_n; i++) {
		cr_assert_null(candle_problem(&a.s_c[i]), "candle %zu: %s", i,
		    candle_problem(&a.s_c[i]));
		cr_assert_eq(a.s_c[i].c_ts, T_END - (int64_t)(4999 - i) * 3600);
		cr_assert_gt(a.s_c[i].c_volume, 0);
		if (i > 0)
			cr_assert_eq(a.s_c[i].c_open, a.s_c[i - 1].c_close);
	}
	series_free(&a);
	series_free(&b);
	cr_assert_eq(candles_synth(&b, "ETHUSDT", 7, 3600, T_END, 10, err, sizeof(err)), 0);
	cr_assert_neq(b.s_c[0].c_open, c.s_c[0].c_open, "another symbol, another price");
	series_free(&b);
	series_free(&c);
}

Test(synth, magnitudes_and_volatility_clustering)
{
	struct series	 s = { 0 };
	char		 err[256];
	double		*r, mean = 0, var = 0, cov = 0, sd, ac;
	size_t		 i, n = 20000, spikes = 0;

	cr_assert_eq(candles_synth(&s, "SOLUSDT", 3, 3600, T_END, n, err, sizeof(err)), 0);
	r = calloc(n, sizeof(double));
	for (i = 1; i < n; i++) {
		r[i] = log(s.s_c[i].c_close / s.s_c[i - 1].c_close);
		mean += r[i];
	}
	mean /= (double)(n - 1);
	for (i = 1; i < n; i++)
		var += (r[i] - mean) * (r[i] - mean);
	sd = sqrt(var / (double)(n - 2));
	cr_assert(sd > 0.004 && sd < 0.012, "hourly volatility %.4f is not 0.4-1.2 %%", sd);
	/* Autocorrelation of |r| at lag 1: clustering makes it clearly positive. */
	mean = var = 0;
	for (i = 1; i < n; i++)
		mean += fabs(r[i]);
	mean /= (double)(n - 1);
	for (i = 1; i < n; i++) {
		var += (fabs(r[i]) - mean) * (fabs(r[i]) - mean);
		if (i > 1)
			cov += (fabs(r[i]) - mean) * (fabs(r[i - 1]) - mean);
	}
	ac = cov / var;
	cr_assert_gt(ac, 0.05, "lag-1 autocorrelation of |returns| is %.3f", ac);
	/* Volume spikes: some candles well above the median-ish level. */
	for (i = 20; i < n; i++) {
		double	 m = 0;
		size_t	 k;

		for (k = i - 20; k < i; k++)
			m += s.s_c[k].c_volume / 20;
		if (s.s_c[i].c_volume > 2.5 * m)
			spikes++;
	}
	cr_assert(spikes > n / 200 && spikes < n / 10, "%zu volume spikes", spikes);
	free(r);
	series_free(&s);
}

Test(synth, errors)
{
	struct series	 s = { 0 };
	char		 err[256];

	cr_assert_eq(candles_synth(&s, "", 1, 3600, T_END, 10, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "the symbol is empty");
	cr_assert_eq(candles_synth(&s, "X", 1, 0, T_END, 10, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "the timeframe must be a positive number of seconds");
	cr_assert_eq(candles_synth(&s, "X", 1, 60, T_END, (size_t)1 << 40, err, sizeof(err)), -1);
	cr_assert_eq(candles_synth(&s, "X", 1, 60, INT64_MAX, 10, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "the end time is out of range");
	cr_assert_eq(candles_synth(&s, "X", 1, 60, T_END, 0, err, sizeof(err)), 0);
	cr_assert_eq(s.s_n, 0);
	cr_assert_eq(candles_synth(&s, "X", 1, 60, T_END, 10, err, sizeof(err)), 0);
	cr_assert_eq(candles_synth(&s, "X", 1, 60, T_END, 10, err, sizeof(err)), -1,
	    "the same times again would not come after the series' last");
	cr_assert_eq(s.s_n, 10);
	series_free(&s);
}

/* --- the backtest -------------------------------------------------------------- */

/*
 * The hand-made series: candles 0..19 flat at 100 (high 101, low 99, volume
 * 100); candle 20 sweeps the lows (low 98 <= 99 * 0.995, volume 300 >= 2.5 *
 * 100) and closes at 99.5 > 99: a long at 99.5, extreme 98.  Candles 21..31
 * close at 101, candle 32 at 102: the long is closed there after 12 candles
 * at 102.  Candle 33 sweeps the highs (high 104 >= 102.5 * 1.005, volume 300
 * >= 2.5 * 110) but closes at 103, above 102.5; candle 34 closes at 102:
 * with reversal_candles 2, a short at 102, extreme 104.  Candle 35 closes at
 * 103, candle 36 at 104.5 >= 104: stopped out.  Candles 37..40 flat.
 */
static size_t
hand_series(struct candle *c)
{
	size_t	 i, n = 0;
	double	 prev, cl;

	for (i = 0; i < 20; i++, n++)
		c[n] = mk((int64_t)n * 3600, 100, 101, 99, 100, 100);
	c[n] = mk((int64_t)n * 3600, 100, 100, 98, 99.5, 300);
	n++;
	prev = 99.5;
	for (i = 21; i <= 32; i++, n++) {
		cl = i == 32 ? 102 : 101;
		c[n] = mk((int64_t)n * 3600, prev, fmax(prev, cl) + 0.5, fmin(prev, cl) - 0.5,
		    cl, 100);
		prev = cl;
	}
	c[n] = mk((int64_t)n * 3600, 102, 104, 101.5, 103, 300);
	n++;
	c[n] = mk((int64_t)n * 3600, 103, 103.5, 101.5, 102, 100);
	n++;
	c[n] = mk((int64_t)n * 3600, 102, 103.5, 101.5, 103, 100);
	n++;
	c[n] = mk((int64_t)n * 3600, 103, 105, 102.5, 104.5, 100);
	n++;
	for (i = 37; i <= 40; i++, n++)
		c[n] = mk((int64_t)n * 3600, 104.5, 105, 104, 104.5, 100);
	return n;
}

Test(backtest, hand_computed_long_and_short)
{
	struct candle		 c[64];
	struct sweep_params	 p = { 0.5, 2.5, 2 };
	struct backtest_result	 r;
	const double		 f = 0.001, ppy = 8760;
	double			 e[64], peak, dd = 0, mean = 0, var = 0, ret, sharpe, e_in, want;
	size_t			 n = hand_series(c), i;

	cr_assert_eq(n, 41);
	for (i = 0; i < n; i++)
		cr_assert_null(candle_problem(&c[i]), "hand candle %zu", i);
	cr_assert_eq(backtest_run(c, n, &p, f, ppy, &r), 0);
	cr_assert_eq(r.br_trades, 2);
	cr_assert_eq(r.br_wins, 1);

	/* The equity curve by hand. */
	for (i = 0; i < 20; i++)
		e[i] = 1;
	e_in = 1 - f;
	e[20] = e_in;
	for (i = 21; i <= 31; i++)
		e[i] = e_in * 101 / 99.5;
	e[32] = e_in * 102 / 99.5 * (1 - f);
	e[33] = e[32];
	e_in = e[33] * (1 - f);
	e[34] = e_in;
	e[35] = e_in * (2 - 103.0 / 102);
	e[36] = e_in * (2 - 104.5 / 102) * (1 - f);
	for (i = 37; i <= 40; i++)
		e[i] = e[36];
	want = (1 - f) * (1 - f) * 102 / 99.5 * (1 - f) * (1 - f) * (2 - 104.5 / 102) - 1;
	cr_assert_float_eq(e[40] - 1, want, 1e-12);
	cr_assert_float_eq(r.br_return, want, 1e-9, "return %.12f, want %.12f", r.br_return, want);
	peak = 1;
	for (i = 0; i < n; i++) {
		peak = fmax(peak, e[i]);
		dd = fmax(dd, (peak - e[i]) / peak);
	}
	cr_assert_float_eq(dd, 1 - (1 - f) * (1 - f) * (2 - 104.5 / 102), 1e-12);
	cr_assert_float_eq(r.br_max_drawdown, dd, 1e-9);
	for (i = 1; i < n; i++)
		mean += (e[i] / e[i - 1] - 1) / (double)(n - 1);
	for (i = 1; i < n; i++) {
		ret = e[i] / e[i - 1] - 1;
		var += (ret - mean) * (ret - mean) / (double)(n - 2);
	}
	sharpe = mean / sqrt(var) * sqrt(ppy);
	cr_assert_float_eq(r.br_sharpe, sharpe, 1e-9, "sharpe %.12f, want %.12f", r.br_sharpe,
	    sharpe);

	/* With one reversal candle, the short never comes: candle 33 closed above. */
	p.sp_reversal_candles = 1;
	cr_assert_eq(backtest_run(c, n, &p, f, ppy, &r), 0);
	cr_assert_eq(r.br_trades, 1);
	cr_assert_eq(r.br_wins, 1);
	cr_assert_float_eq(r.br_return, (1 - f) * (1 - f) * 102 / 99.5 - 1, 1e-9);

	/* No fees: the same trades, the plain price ratios. */
	p.sp_reversal_candles = 2;
	cr_assert_eq(backtest_run(c, n, &p, 0, ppy, &r), 0);
	cr_assert_float_eq(r.br_return, 102 / 99.5 * (2 - 104.5 / 102) - 1, 1e-9);

	/* A spike threshold above 3x: neither candle is a sweep. */
	p.sp_volume_spike = 3.01;
	cr_assert_eq(backtest_run(c, n, &p, f, ppy, &r), 0);
	cr_assert_eq(r.br_trades, 0);
}

Test(backtest, long_stopped_at_the_extreme)
{
	struct candle		 c[64];
	struct sweep_params	 p = { 0.5, 2.5, 1 };
	struct backtest_result	 r;
	size_t			 n = hand_series(c);

	/* Candle 23 closes at 97.9, below the sweep's low of 98: stop at that close. */
	c[23].c_close = 97.9;
	c[23].c_low = 97.5;
	c[24].c_open = 97.9;
	c[24].c_low = 97.4;
	n = 30;
	cr_assert_eq(backtest_run(c, n, &p, 0.001, 8760, &r), 0);
	cr_assert_eq(r.br_trades, 1);
	cr_assert_eq(r.br_wins, 0);
	cr_assert_float_eq(r.br_return, 0.999 * 97.9 / 99.5 * 0.999 - 1, 1e-9);
}

Test(backtest, closed_at_the_last_candle)
{
	struct candle		 c[64];
	struct sweep_params	 p = { 0.5, 2.5, 1 };
	struct backtest_result	 r;

	hand_series(c);
	/* Cut after candle 25: the long ends there, at 101. */
	cr_assert_eq(backtest_run(c, 26, &p, 0.002, 8760, &r), 0);
	cr_assert_eq(r.br_trades, 1);
	cr_assert_float_eq(r.br_return, 0.998 * 101 / 99.5 * 0.998 - 1, 1e-9);
	/* Cut at the sweep: no entry on the last candle. */
	cr_assert_eq(backtest_run(c, 21, &p, 0.002, 8760, &r), 0);
	cr_assert_eq(r.br_trades, 0);
	cr_assert_eq(r.br_return, 0);
}

Test(backtest, no_trade_scores_zero_sharpe)
{
	struct candle		 c[64];
	struct sweep_params	 p = { 50, 2.5, 3 };
	struct backtest_result	 r;
	size_t			 n = hand_series(c);

	cr_assert_eq(backtest_run(c, n, &p, 0.001, 8760, &r), 0);
	cr_assert_eq(r.br_trades, 0);
	cr_assert_eq(r.br_sharpe, 0);
	cr_assert_eq(r.br_return, 0);
	cr_assert_eq(r.br_max_drawdown, 0);
	/* Too short for the window. */
	p.sp_pierce_depth = 0.5;
	cr_assert_eq(backtest_run(c, SWEEP_WINDOW, &p, 0.001, 8760, &r), 0);
	cr_assert_eq(r.br_trades, 0);
	cr_assert_eq(r.br_sharpe, 0);
	cr_assert_eq(backtest_run(NULL, 0, &p, 0.001, 8760, &r), 0);
}

Test(backtest, bad_arguments)
{
	struct candle		 c[64];
	struct sweep_params	 p = { 0.5, 2.5, 0 };
	struct backtest_result	 r;
	size_t			 n = hand_series(c);

	cr_assert_eq(backtest_run(c, n, &p, 0.001, 8760, &r), -1, "reversal_candles 0");
	p.sp_reversal_candles = 1;
	p.sp_pierce_depth = NAN;
	cr_assert_eq(backtest_run(c, n, &p, 0.001, 8760, &r), -1);
	p.sp_pierce_depth = 0.5;
	cr_assert_eq(backtest_run(c, n, &p, -0.1, 8760, &r), -1);
	cr_assert_eq(backtest_run(c, n, &p, 1, 8760, &r), -1);
	cr_assert_eq(backtest_run(c, n, &p, 0.001, 0, &r), -1);
	cr_assert_eq(backtest_run(NULL, 5, &p, 0.001, 8760, &r), -1);
	cr_assert_eq(backtest_run(c, n, NULL, 0.001, 8760, &r), -1);
}

Test(backtest, synthetic_series_trades)
{
	struct series		 s = { 0 };
	struct sweep_params	 p = { 0.15, 2.5, 3 };
	struct backtest_result	 r;
	char			 err[256];

	cr_assert_eq(candles_synth(&s, "BTCUSDT", 1, 3600, T_END, 8760, err, sizeof(err)), 0);
	cr_assert_eq(backtest_run(s.s_c, s.s_n, &p, 0.001, 8760, &r), 0);
	cr_assert_gt(r.br_trades, 20, "a year of synthetic candles gives trades: %d",
	    r.br_trades);
	cr_assert(r.br_wins <= r.br_trades);
	cr_assert(isfinite(r.br_sharpe) && isfinite(r.br_return));
	cr_assert(r.br_max_drawdown >= 0 && r.br_max_drawdown < 1);
	series_free(&s);
}

/* --- optimizers --------------------------------------------------------------- */

/* A dimension. */
static struct opt_dim
dim(const char *name, double lo, double hi, double step, bool integer)
{
	struct opt_dim	 d;

	memset(&d, 0, sizeof(d));
	snprintf(d.od_name, sizeof(d.od_name), "%s", name);
	d.od_min = lo;
	d.od_max = hi;
	d.od_step = step;
	d.od_integer = integer;
	return d;
}

/* A smooth objective with its maximum 0 at (0.3, -1.2, 7) (the dims it has). */
static double
bowl(const double *x, int n)
{
	double	 s = (x[0] - 0.3) * (x[0] - 0.3);

	if (n > 1)
		s += (x[1] + 1.2) * (x[1] + 1.2) / 4;
	if (n > 2)
		s += (x[2] - 7) * (x[2] - 7) / 100;
	return -s;
}

/* Runs an optimizer on f to its end; the best score, its point into best. */
static double
run_opt(enum opt_kind k, const struct opt_space *sp, int n_calls, uint64_t seed,
    double (*f)(const double *, int), double *best, int *calls)
{
	struct optimizer	*o;
	char			 err[256];
	double			 x[OPT_MAX_DIMS], y;
	int			 n = 0;

	o = opt_new(k, sp, n_calls, seed, err, sizeof(err));
	cr_assert_not_null(o, "%s", err);
	cr_assert_eq(opt_best(o, x, &y), -1, "nothing told yet");
	while (opt_ask(o, x)) {
		opt_tell(o, x, f(x, sp->os_n));
		n++;
	}
	cr_assert_eq(opt_calls(o), n);
	cr_assert_eq(opt_best(o, best, &y), 0);
	if (calls != NULL)
		*calls = n;
	opt_free(o);
	return y;
}

Test(opt, kinds)
{
	cr_assert_eq(opt_kind_parse("grid"), OPT_GRID);
	cr_assert_eq(opt_kind_parse("random"), OPT_RANDOM);
	cr_assert_eq(opt_kind_parse("bayesian"), OPT_BAYESIAN);
	cr_assert_eq(opt_kind_parse("Bayesian"), -1);
	cr_assert_eq(opt_kind_parse(""), -1);
	cr_assert_eq(opt_kind_parse(NULL), -1);
	cr_assert_str_eq(opt_kind_name(OPT_GRID), "grid");
	cr_assert_str_eq(opt_kind_name(OPT_RANDOM), "random");
	cr_assert_str_eq(opt_kind_name(OPT_BAYESIAN), "bayesian");
}

Test(opt, space_is_checked)
{
	struct opt_space	 sp = { .os_n = 1 };
	char			 err[256];

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_n = 0;
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "the space has 0 dimensions: 1 to 8 are possible");
	sp.os_n = 9;
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 10, 1, err, sizeof(err)));
	sp.os_n = 1;
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 0, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "n_calls is 0: 1 to 100000 are possible");
	sp.os_dim[0] = dim("a", 1, 1, 0, false);
	cr_assert_null(opt_new(OPT_GRID, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"a\": min and max must be finite with min < max");
	sp.os_dim[0] = dim("a", 0, NAN, 0, false);
	cr_assert_null(opt_new(OPT_GRID, &sp, 10, 1, err, sizeof(err)));
	sp.os_dim[0] = dim("a", -INFINITY, 0, 0, false);
	cr_assert_null(opt_new(OPT_GRID, &sp, 10, 1, err, sizeof(err)));
	sp.os_dim[0] = dim("a", -1e308, 1e308, 0, false);
	cr_assert_null(opt_new(OPT_GRID, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"a\": the range is too large");
	sp.os_dim[0] = dim("b", 0, 1, -0.1, false);
	cr_assert_null(opt_new(OPT_BAYESIAN, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"b\": the step must be a finite number >= 0");
	sp.os_dim[0] = dim("n", 0.5, 4, 0, true);
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"n\": an integer dimension needs whole min and max "
	    "(at most 1e15)");
	sp.os_dim[0] = dim("n", 0, 4, 1.5, true);
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"n\": an integer dimension needs a whole step");
	sp.os_dim[0] = dim("n", 0, 1e16, 0, true);
	cr_assert_null(opt_new(OPT_RANDOM, &sp, 10, 1, err, sizeof(err)));
	cr_assert_str_eq(err, "dimension \"n\": an integer dimension needs whole min and max "
	    "(at most 1e15)");
	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	cr_assert_null(opt_new((enum opt_kind)7, &sp, 10, 1, err, sizeof(err)));
}

/* Grid: 11 x 9 values, 99 calls: the whole space, so the exact optimum. */
Test(opt, grid_finds_the_optimum)
{
	struct opt_space	 sp = { .os_n = 2 };
	double			 best[OPT_MAX_DIMS], y;
	int			 calls;

	sp.os_dim[0] = dim("a", 0, 1, 0.1, false);
	sp.os_dim[1] = dim("b", -2, 2, 0.5, false);
	y = run_opt(OPT_GRID, &sp, 99, 1, bowl, best, &calls);
	cr_assert_eq(calls, 99);
	cr_assert_float_eq(best[0], 0.3, 1e-12);
	cr_assert_float_eq(best[1], -1.0, 1e-12);
	cr_assert_float_eq(y, -0.01, 1e-12);
	/* Continuous, 100 calls: a 10 x 10 grid, the optimum within half a cell. */
	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_dim[1] = dim("b", -2, 2, 0, false);
	run_opt(OPT_GRID, &sp, 100, 1, bowl, best, &calls);
	cr_assert_eq(calls, 100);
	cr_assert_leq(fabs(best[0] - 0.3), 1.0 / 9 / 2 + 1e-12);
	cr_assert_leq(fabs(best[1] + 1.2), 4.0 / 9 / 2 + 1e-12);
	/* 50 calls over two dimensions: 7 x 7. */
	run_opt(OPT_GRID, &sp, 50, 1, bowl, best, &calls);
	cr_assert_eq(calls, 49);
}

/* The grid's first points cover the space: both ends and the middle of each dimension early. */
Test(opt, grid_order_is_coarse_first)
{
	struct opt_space	 sp = { .os_n = 2 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS], seen[2][3] = { { 0 } };
	char			 err[256];
	int			 i, j;

	sp.os_dim[0] = dim("a", 0, 10, 0, false);
	sp.os_dim[1] = dim("b", 0, 10, 0, false);
	o = opt_new(OPT_GRID, &sp, 121, 1, err, sizeof(err));
	cr_assert_not_null(o, "%s", err);
	for (i = 0; i < 9; i++) {
		cr_assert_eq(opt_ask(o, x), 1);
		opt_tell(o, x, 0);
		for (j = 0; j < 2; j++) {
			if (x[j] == 0)
				seen[j][0] = 1;
			else if (x[j] == 5)
				seen[j][1] = 1;
			else if (x[j] == 10)
				seen[j][2] = 1;
		}
	}
	for (j = 0; j < 2; j++)
		cr_assert(seen[j][0] && seen[j][1] && seen[j][2], "dimension %d: 0, 5 and 10 in "
		    "the first 9 points", j);
	opt_free(o);
}

/* Random, 200 calls in 2 dims: the best within 0.02 of the maximum score (0). */
Test(opt, random_finds_the_optimum)
{
	struct opt_space	 sp = { .os_n = 2 };
	double			 best[OPT_MAX_DIMS], y;

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_dim[1] = dim("b", -2, 2, 0, false);
	y = run_opt(OPT_RANDOM, &sp, 200, 5, bowl, best, NULL);
	cr_assert_gt(y, -0.02, "random's best %g", y);
}

/* Bayesian, 30 calls in 3 dims: the best within 0.005 of the maximum score (0). */
Test(opt, bayesian_finds_the_optimum)
{
	struct opt_space	 sp = { .os_n = 3 };
	double			 best[OPT_MAX_DIMS], y;

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_dim[1] = dim("b", -2, 2, 0, false);
	sp.os_dim[2] = dim("c", 0, 20, 0, false);
	y = run_opt(OPT_BAYESIAN, &sp, 30, 5, bowl, best, NULL);
	cr_assert_gt(y, -0.005, "bayesian's best %g at (%g, %g, %g)", y, best[0], best[1], best[2]);
}

/* A smooth function with one broad hill and a smaller one: max 1 at (0.7, 0.2, 0.5). */
static double
hills(const double *x, int n)
{
	double	 a = 0, b = 0;
	int	 i;
	static const double c1[3] = { 0.7, 0.2, 0.5 }, c2[3] = { 0.2, 0.8, 0.3 };

	for (i = 0; i < n; i++) {
		a += (x[i] - c1[i]) * (x[i] - c1[i]);
		b += (x[i] - c2[i]) * (x[i] - c2[i]);
	}
	return exp(-a / 0.08) + 0.5 * exp(-b / 0.02);
}

static int
dbl_cmp(const void *a, const void *b)
{
	double	 p = *(const double *)a, q = *(const double *)b;

	return (p > q) - (p < q);
}

/* Over 11 seeds with 30 calls each, Bayesian's median best beats random's. */
Test(opt, bayesian_beats_random, .timeout = 60)
{
	struct opt_space	 sp = { .os_n = 3 };
	double			 best[OPT_MAX_DIMS], rb[11], bb[11];
	int			 i;

	for (i = 0; i < 3; i++)
		sp.os_dim[i] = dim("x", 0, 1, 0, false);
	for (i = 0; i < 11; i++) {
		rb[i] = run_opt(OPT_RANDOM, &sp, 30, 1000 + (uint64_t)i, hills, best, NULL);
		bb[i] = run_opt(OPT_BAYESIAN, &sp, 30, 1000 + (uint64_t)i, hills, best, NULL);
	}
	qsort(rb, 11, sizeof(double), dbl_cmp);
	qsort(bb, 11, sizeof(double), dbl_cmp);
	cr_log_info("median best of 11 seeds, 30 calls: bayesian %.4f, random %.4f", bb[5], rb[5]);
	fprintf(stderr, "bayesian-vs-random: median best bayesian %.4f random %.4f "
	    "(worst %.4f / %.4f)\n", bb[5], rb[5], bb[0], rb[0]);
	cr_assert_gt(bb[5], rb[5], "bayesian %.4f, random %.4f", bb[5], rb[5]);
	cr_assert_gt(bb[5], 0.9, "bayesian's median best %.4f is near the maximum 1", bb[5]);
}

/* The same seed and scores give the same points; another seed others. */
Test(opt, deterministic_for_a_seed)
{
	struct opt_space	 sp = { .os_n = 2 };
	struct optimizer	*a, *b, *c;
	double			 xa[OPT_MAX_DIMS], xb[OPT_MAX_DIMS], xc[OPT_MAX_DIMS];
	enum opt_kind		 k;
	int			 i, differ;

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_dim[1] = dim("b", 1, 10, 0, true);
	for (k = OPT_GRID; k <= OPT_BAYESIAN; k++) {
		a = opt_new(k, &sp, 25, 42, NULL, 0);
		b = opt_new(k, &sp, 25, 42, NULL, 0);
		c = opt_new(k, &sp, 25, 43, NULL, 0);
		differ = 0;
		for (i = 0; i < 25; i++) {
			cr_assert_eq(opt_ask(a, xa), 1);
			cr_assert_eq(opt_ask(b, xb), 1);
			cr_assert_eq(opt_ask(c, xc), 1);
			cr_assert(xa[0] == xb[0] && xa[1] == xb[1], "%s: ask %d differs",
			    opt_kind_name(k), i);
			differ += xa[0] != xc[0] || xa[1] != xc[1];
			opt_tell(a, xa, bowl(xa, 2));
			opt_tell(b, xb, bowl(xb, 2));
			opt_tell(c, xc, bowl(xc, 2));
		}
		if (k == OPT_GRID)
			cr_assert_eq(differ, 0, "the grid does not depend on the seed");
		else
			cr_assert_gt(differ, 0, "%s: another seed, other points", opt_kind_name(k));
		opt_free(a);
		opt_free(b);
		opt_free(c);
	}
}

/* Every point asked is within bounds, on its step, whole where integer. */
Test(opt, steps_and_integers_honoured)
{
	struct opt_space	 sp = { .os_n = 3 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS], k;
	enum opt_kind		 kind;
	char			 err[256];
	int			 n;

	sp.os_dim[0] = dim("pierce", 0.05, 1.0, 0.05, false);
	sp.os_dim[1] = dim("spike", 1.5, 5, 0, false);
	sp.os_dim[2] = dim("rev", 1, 9, 2, true);
	for (kind = OPT_GRID; kind <= OPT_BAYESIAN; kind++) {
		o = opt_new(kind, &sp, 80, 9, err, sizeof(err));
		cr_assert_not_null(o, "%s", err);
		n = 0;
		while (opt_ask(o, x)) {
			k = (x[0] - 0.05) / 0.05;
			cr_assert(x[0] >= 0.05 && x[0] <= 1.0 + 1e-12, "%g", x[0]);
			cr_assert_float_eq(k, floor(k + 0.5), 1e-9, "%s: %g off the step",
			    opt_kind_name(kind), x[0]);
			cr_assert(x[1] >= 1.5 && x[1] <= 5, "%g", x[1]);
			cr_assert(x[2] == 1 || x[2] == 3 || x[2] == 5 || x[2] == 7 || x[2] == 9,
			    "%s: rev %g", opt_kind_name(kind), x[2]);
			opt_tell(o, NULL, -fabs(x[0] - 0.5) - fabs(x[1] - 3) - fabs(x[2] - 5));
			n++;
		}
		if (kind == OPT_GRID)
			cr_assert(n > 40 && n <= 80, "grid: %d points", n);
		else
			cr_assert_eq(n, 80, "%s: %d calls", opt_kind_name(kind), n);
		opt_free(o);
	}
	/* Integers without a step: step 1. */
	sp.os_n = 1;
	sp.os_dim[0] = dim("n", -3, 3, 0, true);
	o = opt_new(OPT_RANDOM, &sp, 7, 1, err, sizeof(err));
	cr_assert_not_null(o, "%s", err);
	while (opt_ask(o, x)) {
		cr_assert_eq(x[0], floor(x[0]));
		opt_tell(o, x, 0);
	}
	cr_assert_eq(opt_calls(o), 7);
	opt_free(o);
}

/* A step larger than the range leaves min alone; a step below 1e-15 of it is continuous. */
Test(opt, odd_steps)
{
	struct opt_space	 sp = { .os_n = 2 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS];
	char			 err[256];
	int			 n = 0;

	sp.os_dim[0] = dim("wide", 0, 1, 2, false);
	sp.os_dim[1] = dim("fine", 0, 1, 1e-300, false);
	o = opt_new(OPT_BAYESIAN, &sp, 20, 1, err, sizeof(err));
	cr_assert_not_null(o, "%s", err);
	while (opt_ask(o, x)) {
		cr_assert_eq(x[0], 0, "the only value of \"wide\"");
		cr_assert(x[1] >= 0 && x[1] <= 1);
		opt_tell(o, x, -fabs(x[1] - 0.5));
		n++;
	}
	cr_assert_eq(n, 20);
	opt_free(o);
	/* Only one point in all: asked once. */
	sp.os_n = 1;
	o = opt_new(OPT_RANDOM, &sp, 20, 1, err, sizeof(err));
	cr_assert_eq(opt_ask(o, x), 1);
	opt_tell(o, x, 1);
	cr_assert_eq(opt_ask(o, x), 0);
	opt_free(o);
}

/* On a space of 12 points no point comes twice, and the twelve are all of it. */
Test(opt, no_repeats_on_a_small_space)
{
	struct opt_space	 sp = { .os_n = 2 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS];
	bool			 seen[3][4];
	enum opt_kind		 kind;
	int			 n, i, j;

	sp.os_dim[0] = dim("a", 0, 2, 0, true);
	sp.os_dim[1] = dim("b", 0, 0.3, 0.1, false);
	for (kind = OPT_GRID; kind <= OPT_BAYESIAN; kind++) {
		o = opt_new(kind, &sp, 30, 3, NULL, 0);
		cr_assert_not_null(o);
		memset(seen, 0, sizeof(seen));
		n = 0;
		while (opt_ask(o, x)) {
			i = (int)x[0];
			j = (int)floor(x[1] * 10 + 0.5);
			cr_assert(i >= 0 && i < 3 && j >= 0 && j < 4);
			cr_assert_not(seen[i][j], "%s: (%g, %g) asked twice", opt_kind_name(kind),
			    x[0], x[1]);
			seen[i][j] = true;
			/* A score that pulls towards a point already tried. */
			opt_tell(o, x, -fabs(x[0] - 1) - fabs(x[1] - 0.1));
			n++;
		}
		cr_assert_eq(n, 12, "%s: the whole space, then no more (%d)", opt_kind_name(kind),
		    n);
		opt_free(o);
	}
}

/* A NaN score is never the best; tell without a point takes the last asked. */
Test(opt, nan_scores_and_best)
{
	struct opt_space	 sp = { .os_n = 1 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS], bx[OPT_MAX_DIMS], y, first;
	int			 i;

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	o = opt_new(OPT_BAYESIAN, &sp, 20, 1, NULL, 0);
	cr_assert_eq(opt_ask(o, x), 1);
	first = x[0];
	opt_tell(o, NULL, NAN);
	cr_assert_eq(opt_best(o, bx, &y), -1, "only a NaN: no best");
	for (i = 1; i < 20; i++) {
		cr_assert_eq(opt_ask(o, x), 1);
		opt_tell(o, x, i % 3 == 0 ? NAN : -fabs(x[0] - 0.25));
	}
	cr_assert_eq(opt_ask(o, x), 0, "the budget is spent");
	cr_assert_eq(opt_best(o, bx, &y), 0);
	cr_assert(isfinite(y));
	cr_assert_neq(bx[0], first);
	cr_assert_float_eq(y, -fabs(bx[0] - 0.25), 1e-15);
	opt_free(o);
}

/* --- walk-forward ---------------------------------------------------------------- */

Test(walkforward, windows)
{
	struct wf_window	 w[16];
	size_t			 n, i;

	/* 100 candles, train 50, gap 5, test 10: starts 0, 10, 20, 30 (30+65=95 <= 100). */
	n = wf_windows(100, 50, 5, 10, w, 16);
	cr_assert_eq(n, 4);
	for (i = 0; i < n; i++) {
		cr_assert_eq(w[i].w_train_from, i * 10);
		cr_assert_eq(w[i].w_train_to, i * 10 + 50);
		cr_assert_eq(w[i].w_test_from, i * 10 + 55);
		cr_assert_eq(w[i].w_test_to, i * 10 + 65);
		cr_assert_leq(w[i].w_test_to, 100);
	}
	cr_assert_eq(wf_windows(105, 50, 5, 10, w, 16), 5, "the last ending exactly at n");
	cr_assert_eq(w[4].w_test_to, 105);
	cr_assert_eq(wf_windows(64, 50, 5, 10, w, 16), 0, "not even one");
	cr_assert_eq(wf_windows(65, 50, 5, 10, w, 16), 1);
	cr_assert_eq(wf_windows(100, 50, 5, 10, w, 2), 4, "counted beyond max");
	cr_assert_eq(wf_windows(100, 50, 5, 10, NULL, 0), 4);
	cr_assert_eq(wf_windows(100, 0, 5, 10, w, 16), 0);
	cr_assert_eq(wf_windows(100, 50, 5, 0, w, 16), 0);
	cr_assert_eq(wf_windows(SIZE_MAX, SIZE_MAX - 1, 5, 10, w, 16), 0, "no overflow");
	cr_assert_eq(wf_windows(0, 1, 0, 1, w, 16), 0);
	cr_assert_eq(wf_windows(2, 1, 0, 1, w, 16), 1);
}

/*
 * Past GP_MAX points the process is fitted to a subset (the best and the
 * most recent): 250 calls on the bowl still close in on the maximum
 * (score within 1e-4 of 0) without asking a point twice.
 */
Test(opt, bayesian_long_run, .timeout = 120)
{
	struct opt_space	 sp = { .os_n = 2 };
	struct optimizer	*o;
	double			 x[OPT_MAX_DIMS], *all, y;
	int			 n = 0, i;

	sp.os_dim[0] = dim("a", 0, 1, 0, false);
	sp.os_dim[1] = dim("b", -2, 2, 0, false);
	o = opt_new(OPT_BAYESIAN, &sp, 250, 11, NULL, 0);
	cr_assert_not_null(o);
	all = calloc(250 * 2, sizeof(double));
	while (opt_ask(o, x)) {
		for (i = 0; i < n; i++)
			cr_assert(all[2 * i] != x[0] || all[2 * i + 1] != x[1], "asked twice");
		all[2 * n] = x[0];
		all[2 * n + 1] = x[1];
		opt_tell(o, x, bowl(x, 2));
		n++;
	}
	cr_assert_eq(n, 250);
	cr_assert_eq(opt_best(o, x, &y), 0);
	cr_assert_gt(y, -1e-4, "best %g at (%g, %g)", y, x[0], x[1]);
	free(all);
	opt_free(o);
}

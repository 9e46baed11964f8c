/*
 * candles.c: series of candles (train.h): growing one, checking a candle,
 * timeframes, reading CSV from untrusted bytes, and a synthetic series.
 *
 * The CSV reader works on (buf, len) and never past it: lines end at LF
 * (a CR before it is dropped), a line's fields are split on commas outside
 * double quotes ("" inside quotes is a quote), and a field is copied into a
 * bounded buffer before it is read as a number.  Every error names the line
 * it is about, and starts with "line ": "line 7: high is below close".  On
 * error the series is left as it was before the call.
 *
 * What a row accepts:
 *   - timestamp: Unix seconds (1 to 12 digits), Unix milliseconds (exactly
 *     13 digits; must be a whole second), either at most 9999-12-31T23:59:59
 *     (253402300799 s), or ISO 8601 UTC
 *     "YYYY-MM-DDTHH:MM:SS" with 'T' or a space, optionally ending in 'Z',
 *     or a date alone "YYYY-MM-DD" (midnight).  Years 1970 to 9999.
 *   - prices and volume: decimal numbers ([+-]digits[.digits][e[+-]digits]),
 *     finite; no hex, inf or nan.
 *   - spaces and tabs around a field are ignored.
 *
 * The synthetic series: log returns r = sigma_t * z (z standard normal, a
 * small drift correction), with sigma_t^2 = omega + alpha r^2 + beta
 * sigma_{t-1}^2 (GARCH(1,1), alpha 0.08, beta 0.90, the long-run hourly
 * volatility 0.7 %, scaled by the square root of the timeframe); wicks of
 * half a sigma or so beyond the body; volume lognormal, higher when sigma
 * is; and about one candle in 40 a volume spike (3x to 8x) whose wick goes
 * through the lowest low (or highest high) of the last 20 candles, closing
 * back inside most of the time and followed by a few candles drifting back.
 * The random numbers are xoshiro256** seeded through splitmix64 from the
 * seed and an FNV-1a hash of the symbol; the start price comes from the
 * hash alone (0.5 to 50,000, log-uniform).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rng.h"
#include "train.h"

/* Longest field read as a number or timestamp (longer is an error). */
#define FIELD_MAX	64
/* 9999-12-31T23:59:59Z: the last second a timestamp may be. */
#define TS_MAX		INT64_C(253402300799)
/* Most candles candles_synth() makes in one call. */
#define SYNTH_MAX	((size_t)10 * 1000 * 1000)

/* The columns a CSV file must have. */
enum col { COL_TS, COL_OPEN, COL_HIGH, COL_LOW, COL_CLOSE, COL_VOLUME, COL_N };

static const char *const col_name[COL_N] = {
	"timestamp", "open", "high", "low", "close", "volume"
};

/* Frees a series' candles and empties it. */
void
series_free(struct series *s)
{
	if (s == NULL)
		return;
	free(s->s_c);
	s->s_c = NULL;
	s->s_n = s->s_cap = 0;
}

/* Appends one candle, doubling the array when it is full. */
int
series_push(struct series *s, const struct candle *c)
{
	struct candle	*nc;
	size_t		 cap;

	if (s->s_n == s->s_cap) {
		cap = s->s_cap == 0 ? 256 : s->s_cap * 2;
		if (cap > SIZE_MAX / sizeof(*nc))
			return -1;
		if ((nc = realloc(s->s_c, cap * sizeof(*nc))) == NULL)
			return -1;
		s->s_c = nc;
		s->s_cap = cap;
	}
	s->s_c[s->s_n++] = *c;
	return 0;
}

/* Why a candle is not sane, or NULL when it is. */
const char *
candle_problem(const struct candle *c)
{
	if (!isfinite(c->c_open) || !isfinite(c->c_high) || !isfinite(c->c_low) ||
	    !isfinite(c->c_close) || !isfinite(c->c_volume))
		return "a value is not a finite number";
	if (!(c->c_low > 0))
		return "low is not positive";
	if (c->c_low > c->c_open)
		return "low is above open";
	if (c->c_low > c->c_close)
		return "low is above close";
	if (c->c_high < c->c_open)
		return "high is below open";
	if (c->c_high < c->c_close)
		return "high is below close";
	if (c->c_volume < 0)
		return "volume is negative";
	return NULL;
}

/* The seconds in a timeframe we know, else 0. */
int
timeframe_seconds(const char *tf)
{
	static const struct {
		const char	*name;
		int		 secs;
	} tfs[] = {
		{ "1m", 60 }, { "5m", 300 }, { "15m", 900 }, { "30m", 1800 },
		{ "1h", 3600 }, { "4h", 14400 }, { "1d", 86400 },
	};
	size_t	 i;

	if (tf == NULL)
		return 0;
	for (i = 0; i < sizeof(tfs) / sizeof(tfs[0]); i++)
		if (strcmp(tf, tfs[i].name) == 0)
			return tfs[i].secs;
	return 0;
}

/* Writes "line N: <message>" into err (when given). */
static void
line_error(char *err, size_t errsz, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
line_error(char *err, size_t errsz, size_t line, const char *fmt, ...)
{
	va_list	 ap;
	int	 k;

	if (err == NULL || errsz == 0)
		return;
	k = snprintf(err, errsz, "line %zu: ", line);
	if (k < 0 || (size_t)k >= errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err + k, errsz - (size_t)k, fmt, ap);
	va_end(ap);
}

/* One field of a line, as it is in the buffer. */
struct field {
	const char	*f_p;
	size_t		 f_len;
	bool		 f_quoted;	/* f_p/f_len is inside quotes, "" undoubled later */
};

/*
 * Splits the next field off line[*pos..len): a quoted one up to its closing
 * quote, else up to the next comma.  Spaces and tabs around it are dropped.
 * 0 and *pos past the comma (or at len), or -1 for an unterminated quote or
 * text after a closing quote.
 */
static int
next_field(const char *line, size_t len, size_t *pos, struct field *f)
{
	size_t	 i = *pos, start, end;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len && line[i] == '"') {
		start = ++i;
		for (;;) {
			if (i >= len)
				return -1;
			if (line[i] == '"') {
				if (i + 1 < len && line[i + 1] == '"') {
					i += 2;
					continue;
				}
				break;
			}
			i++;
		}
		f->f_p = line + start;
		f->f_len = i - start;
		f->f_quoted = true;
		i++;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i < len && line[i] != ',')
			return -1;
	} else {
		start = i;
		while (i < len && line[i] != ',')
			i++;
		end = i;
		while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
			end--;
		f->f_p = line + start;
		f->f_len = end - start;
		f->f_quoted = false;
	}
	*pos = i < len ? i + 1 : len + 1;
	return 0;
}

/*
 * Copies a field into out (NUL-terminated, "" undoubled when quoted,
 * quoted spaces trimmed).  -1 when it does not fit in outsz - 1 bytes, -2
 * when it holds a NUL byte.
 */
static int
field_copy(const struct field *f, char *out, size_t outsz)
{
	size_t	 i, k = 0, start = 0, end = f->f_len;

	if (f->f_quoted) {
		while (start < end && (f->f_p[start] == ' ' || f->f_p[start] == '\t'))
			start++;
		while (end > start && (f->f_p[end - 1] == ' ' || f->f_p[end - 1] == '\t'))
			end--;
	}
	for (i = start; i < end; i++) {
		if (f->f_p[i] == '\0')
			return -2;
		if (k + 1 >= outsz)
			return -1;
		out[k++] = f->f_p[i];
		if (f->f_quoted && f->f_p[i] == '"')
			i++;	/* the second quote of "" */
	}
	out[k] = '\0';
	return 0;
}

/* s with anything but printable ASCII as '?', at most 24 characters, for a message. */
static void
printable(const char *s, char *out, size_t outsz)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < outsz && i < 24; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/* Reads a decimal number, the whole of s; -1 if it is not one or not finite. */
static int
parse_number(const char *s, double *v)
{
	const char	*p = s;
	char		*end;
	bool		 digits = false;

	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits = true;
	}
	if (!digits)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (end != p || !isfinite(*v))
		return -1;
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The value of n digits at s, or -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int	 v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Reads a timestamp (see the top of the file); NULL, or why not. */
static const char *
parse_timestamp(const char *s, int64_t *ts)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t		 len = strlen(s), i;
	int64_t		 v = 0;
	int		 y, mo, d, h = 0, mi = 0, sec = 0, dim;

	if (len == 0)
		return "the timestamp is empty";
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == len) {
		if (len > 13)
			return "the timestamp has too many digits";
		for (i = 0; i < len; i++)
			v = v * 10 + (s[i] - '0');
		if (len == 13) {
			if (v % 1000 != 0)
				return "the timestamp in milliseconds is not a whole second";
			v /= 1000;
		}
		if (v > TS_MAX)
			return "the timestamp is after 9999-12-31";
		*ts = v;
		return NULL;
	}
	if (len != 10 && len != 19 && !(len == 20 && s[19] == 'Z'))
		return "the timestamp is neither Unix seconds, milliseconds nor ISO 8601 "
		    "(YYYY-MM-DDTHH:MM:SSZ)";
	if ((y = digits(s, 4)) < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 0 ||
	    s[7] != '-' || (d = digits(s + 8, 2)) < 0)
		return "the timestamp's date is not YYYY-MM-DD";
	if (len > 10 && ((s[10] != 'T' && s[10] != ' ') || (h = digits(s + 11, 2)) < 0 ||
	    s[13] != ':' || (mi = digits(s + 14, 2)) < 0 || s[16] != ':' ||
	    (sec = digits(s + 17, 2)) < 0))
		return "the timestamp's time is not THH:MM:SS";
	if (y < 1970 || mo < 1 || mo > 12)
		return "the timestamp's date is out of range";
	dim = mdays[mo - 1] + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
	if (d < 1 || d > dim)
		return "the timestamp's day is not in its month";
	if (h > 23 || mi > 59 || sec > 59)
		return "the timestamp's time is out of range";
	*ts = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return NULL;
}

/* Which column a header name is, or -1 for one we ignore. */
static int
header_column(const char *name)
{
	static const struct {
		const char	*name;
		enum col	 col;
	} names[] = {
		{ "timestamp", COL_TS }, { "time", COL_TS }, { "date", COL_TS }, { "ts", COL_TS },
		{ "open", COL_OPEN }, { "high", COL_HIGH }, { "low", COL_LOW },
		{ "close", COL_CLOSE }, { "volume", COL_VOLUME },
	};
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return (int)names[i].col;
	return -1;
}

/* Reads the header line: where each column is.  0, or -1 with err set. */
static int
parse_header(const char *line, size_t len, size_t lineno, size_t where[COL_N],
    char *err, size_t errsz)
{
	struct field	 f;
	char		 name[FIELD_MAX];
	size_t		 pos = 0, idx = 0;
	bool		 seen[COL_N] = { false };
	int		 c, i;

	while (pos <= len) {
		if (next_field(line, len, &pos, &f) == -1) {
			line_error(err, errsz, lineno, "header field %zu: a quote is not closed "
			    "or text follows it", idx + 1);
			return -1;
		}
		if (field_copy(&f, name, sizeof(name)) == 0 && (c = header_column(name)) >= 0) {
			if (seen[c]) {
				line_error(err, errsz, lineno, "the %s column appears twice",
				    col_name[c]);
				return -1;
			}
			seen[c] = true;
			where[c] = idx;
		}
		idx++;
	}
	for (i = 0; i < COL_N; i++)
		if (!seen[i]) {
			line_error(err, errsz, lineno, "the header has no %s column%s",
			    col_name[i], i == COL_TS ? " (timestamp, time, date or ts)" : "");
			return -1;
		}
	return 0;
}

/* Reads one data row into c.  0, or -1 with err set. */
static int
parse_row(const char *line, size_t len, size_t lineno, const size_t where[COL_N],
    struct candle *c, char *err, size_t errsz)
{
	struct field	 f;
	char		 text[FIELD_MAX], shown[32];
	double		*dst[COL_N] = { NULL, &c->c_open, &c->c_high, &c->c_low, &c->c_close,
	    &c->c_volume };
	bool		 got[COL_N] = { false };
	size_t		 pos = 0, idx = 0;
	const char	*why;
	int		 i;

	while (pos <= len) {
		if (next_field(line, len, &pos, &f) == -1) {
			line_error(err, errsz, lineno, "field %zu: a quote is not closed or text "
			    "follows it", idx + 1);
			return -1;
		}
		for (i = 0; i < COL_N; i++) {
			if (where[i] != idx)
				continue;
			switch (field_copy(&f, text, sizeof(text))) {
			case -1:
				line_error(err, errsz, lineno, "the %s is too long", col_name[i]);
				return -1;
			case -2:
				line_error(err, errsz, lineno, "the %s holds a NUL byte",
				    col_name[i]);
				return -1;
			}
			if (i == COL_TS) {
				if ((why = parse_timestamp(text, &c->c_ts)) != NULL) {
					printable(text, shown, sizeof(shown));
					line_error(err, errsz, lineno, "%s: \"%s\"", why, shown);
					return -1;
				}
			} else if (parse_number(text, dst[i]) == -1) {
				printable(text, shown, sizeof(shown));
				line_error(err, errsz, lineno, "the %s is not a finite decimal "
				    "number: \"%s\"", col_name[i], shown);
				return -1;
			}
			got[i] = true;
		}
		idx++;
	}
	for (i = 0; i < COL_N; i++)
		if (!got[i]) {
			line_error(err, errsz, lineno, "no %s field (%zu fields, the %s is "
			    "column %zu)", col_name[i], idx, col_name[i], where[i] + 1);
			return -1;
		}
	if ((why = candle_problem(c)) != NULL) {
		line_error(err, errsz, lineno, "%s", why);
		return -1;
	}
	return 0;
}

/* Is line[0..len) nothing but spaces and tabs? */
static bool
blank(const char *line, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	return true;
}

/* Reads CSV candles (see the top of the file), appending them to out. */
int
candles_parse_csv(const char *buf, size_t len, struct series *out, char *err, size_t errsz)
{
	size_t		 where[COL_N], pos = 0, lineno = 0, n0 = out->s_n, end, next;
	const char	*line;
	struct candle	 c;
	bool		 header = false;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (buf == NULL)
		len = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		lineno++;
		line = buf + pos;
		end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		next = end < len ? end + 1 : end;
		if (end > pos && buf[end - 1] == '\r')
			end--;
		if (blank(line, end - pos)) {
			pos = next;
			continue;
		}
		if (!header) {
			if (parse_header(line, end - pos, lineno, where, err, errsz) == -1)
				goto fail;
			header = true;
		} else {
			memset(&c, 0, sizeof(c));
			if (parse_row(line, end - pos, lineno, where, &c, err, errsz) == -1)
				goto fail;
			if (out->s_n > 0 && c.c_ts <= out->s_c[out->s_n - 1].c_ts) {
				line_error(err, errsz, lineno,
				    "the timestamp %s the previous row's",
				    c.c_ts == out->s_c[out->s_n - 1].c_ts ? "repeats" :
				    "is earlier than");
				goto fail;
			}
			if (series_push(out, &c) == -1) {
				line_error(err, errsz, lineno, "out of memory");
				goto fail;
			}
		}
		pos = next;
	}
	if (!header) {
		line_error(err, errsz, lineno + 1, "no header line (the input is empty)");
		goto fail;
	}
	return 0;
fail:
	out->s_n = n0;
	return -1;
}

/* --- the synthetic series --------------------------------------------------- */

/* Standard normal (Box-Muller, one of the pair). */
static double
rng_normal(struct rng *r)
{
	double	 u = rng_open(r), v = rng_open(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* FNV-1a, 64 bits, of a string. */
static uint64_t
fnv1a(const char *s)
{
	uint64_t	 h = UINT64_C(0xcbf29ce484222325);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* Writes a message into err (when given). */
static void
set_err(char *err, size_t errsz, const char *msg)
{
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s", msg);
}

/* A synthetic series (see the top of the file), appended to out. */
int
candles_synth(struct series *out, const char *symbol, uint64_t seed, int tf_seconds,
    int64_t end_ts, size_t n, char *err, size_t errsz)
{
	const double	 alpha = 0.08, beta = 0.90;
	struct rng	 r;
	struct candle	 c;
	uint64_t	 h, x;
	int64_t		 end, start;
	size_t		 i, j, n0 = out->s_n, from;
	double		 base_var, omega, var, price, sd, ret, body_hi, body_lo, hv, lv,
			 vol_base, vol, level, kick = 0, open;
	int		 kick_left = 0;

	if (symbol == NULL || symbol[0] == '\0') {
		set_err(err, errsz, "the symbol is empty");
		return -1;
	}
	if (tf_seconds <= 0) {
		set_err(err, errsz, "the timeframe must be a positive number of seconds");
		return -1;
	}
	if (n > SYNTH_MAX) {
		set_err(err, errsz, "too many candles (at most 10,000,000)");
		return -1;
	}
	if (n == 0)
		return 0;
	end = end_ts / tf_seconds * tf_seconds;
	if (end > end_ts)
		end -= tf_seconds;
	if (end < INT64_MIN / 2 || end > INT64_MAX / 2 ||
	    (double)(n - 1) * tf_seconds > (double)INT64_MAX / 4) {
		set_err(err, errsz, "the end time is out of range");
		return -1;
	}
	start = end - (int64_t)(n - 1) * tf_seconds;
	if (out->s_n > 0 && start <= out->s_c[out->s_n - 1].c_ts) {
		set_err(err, errsz, "the synthetic candles would not come after the series' last");
		return -1;
	}

	h = fnv1a(symbol);
	x = seed ^ rng_rotl(h, 17);
	rng_seed(&r, &x);
	x = h;
	/* The start price: log-uniform on [0.5, 50000], from the symbol alone. */
	price = 0.5 * exp(log(1e5) * (double)(rng_splitmix64(&x) >> 11) / 9007199254740992.0);
	/* Base volume: larger for cheaper symbols, about 2e6 quote units an hour. */
	vol_base = 2e6 / price * ((double)tf_seconds / 3600.0) *
	    exp(0.5 * (double)(rng_splitmix64(&x) >> 11) / 9007199254740992.0);

	base_var = 0.007 * 0.007 * (double)tf_seconds / 3600.0;
	omega = base_var * (1.0 - alpha - beta);
	var = base_var;
	ret = 0;
	for (i = 0; i < n; i++) {
		var = omega + alpha * ret * ret + beta * var;
		if (var > 25 * base_var)
			var = 25 * base_var;
		sd = sqrt(var);
		ret = sd * rng_normal(&r) - 0.5 * var;
		if (kick_left > 0) {
			ret += kick * sd;
			kick_left--;
		}
		open = price;
		c.c_ts = start + (int64_t)i * tf_seconds;
		c.c_open = open;
		c.c_close = open * exp(ret);
		body_hi = fmax(c.c_open, c.c_close);
		body_lo = fmin(c.c_open, c.c_close);
		c.c_high = body_hi * exp(fabs(rng_normal(&r)) * sd * 0.5);
		c.c_low = body_lo * exp(-fabs(rng_normal(&r)) * sd * 0.5);
		vol = vol_base * exp(0.45 * rng_normal(&r)) * sqrt(var / base_var) *
		    (1.0 + 0.5 * fabs(ret) / sd);
		/* Now and then, a sweep of the last 20 candles' lows or highs. */
		if (out->s_n - n0 >= SWEEP_WINDOW && rng_open(&r) < 0.025) {
			from = out->s_n - SWEEP_WINDOW;
			hv = out->s_c[from].c_high;
			lv = out->s_c[from].c_low;
			for (j = from; j < out->s_n; j++) {
				hv = fmax(hv, out->s_c[j].c_high);
				lv = fmin(lv, out->s_c[j].c_low);
			}
			vol *= 3.0 + 5.0 * rng_open(&r);
			if (rng_open(&r) < 0.5) {
				level = lv * (1.0 - 0.001 - 0.009 * rng_open(&r));
				c.c_low = fmin(c.c_low, level);
				if (rng_open(&r) < 0.7) {	/* closes back above the low */
					c.c_close = fmax(c.c_close, lv * (1.0 + 0.002 *
					    rng_open(&r)));
					kick = 0.35;
					kick_left = 3 + (int)(rng_next(&r) % 6);
				}
			} else {
				level = hv * (1.0 + 0.001 + 0.009 * rng_open(&r));
				c.c_high = fmax(c.c_high, level);
				if (rng_open(&r) < 0.7) {
					c.c_close = fmin(c.c_close, hv * (1.0 - 0.002 *
					    rng_open(&r)));
					kick = -0.35;
					kick_left = 3 + (int)(rng_next(&r) % 6);
				}
			}
			c.c_high = fmax(c.c_high, fmax(c.c_open, c.c_close));
			c.c_low = fmin(c.c_low, fmin(c.c_open, c.c_close));
			ret = log(c.c_close / c.c_open);
		}
		c.c_volume = vol;
		if (candle_problem(&c) != NULL) {
			out->s_n = n0;
			set_err(err, errsz, "a synthetic candle came out insane (a bug)");
			return -1;
		}
		if (series_push(out, &c) == -1) {
			out->s_n = n0;
			set_err(err, errsz, "out of memory");
			return -1;
		}
		price = c.c_close;
	}
	return 0;
}

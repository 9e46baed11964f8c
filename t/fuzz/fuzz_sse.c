/* fuzz_sse.c: libFuzzer target for tools/sse.c: tp-watch's text/event-stream parser. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/sse.h"
#include "common.h"

/*
 * What a parse reported, as bytes: "E" type id data per event, "R" ms per
 * retry, "X" code for an error, "I" the last id at the end; each string as
 * <length>:<bytes>, so that no two different reports write the same log.
 */
struct log {
	unsigned char	*b;
	size_t		 n, cap;
	size_t		 max;		/* the parser's limit, for the checks */
};

static void
log_put(struct log *l, const void *p, size_t n)
{
	size_t	 cap;

	if (l->n + n > l->cap) {
		for (cap = l->cap ? l->cap : 1024; cap < l->n + n; cap *= 2)
			;
		if ((l->b = realloc(l->b, cap)) == NULL)
			abort();
		l->cap = cap;
	}
	if (n > 0)
		memcpy(l->b + l->n, p, n);
	l->n += n;
}

static void
log_str(struct log *l, const void *p, size_t n)
{
	char	 len[32];

	snprintf(len, sizeof(len), "%zu:", n);
	log_put(l, len, strlen(len));
	log_put(l, p, n);
}

static void
log_retry(struct log *l, long ms)
{
	char	 s[32];

	snprintf(s, sizeof(s), "R%ld;", ms);
	log_put(l, s, strlen(s));
}

static int
on_event(const struct sse_event *ev, void *arg)
{
	struct log	*l = arg;

	CHECK("sse-event", ev->se_data[ev->se_len] == '\0' && ev->se_len < l->max &&
	    ev->se_typelen > 0 && ev->se_type[ev->se_typelen] == '\0',
	    "an event of %zu bytes (limit %zu), type of %zu", ev->se_len, l->max,
	    ev->se_typelen);
	log_put(l, "E", 1);
	log_str(l, ev->se_type, ev->se_typelen);
	log_str(l, ev->se_id, strlen(ev->se_id));
	log_str(l, ev->se_data, ev->se_len);
	return 0;
}

static void
on_retry(long ms, void *arg)
{
	CHECK("sse-retry", ms >= 0, "retry %ld", ms);
	log_retry(arg, ms);
}

/* Feeds data cut at the given points (sorted); the log. */
static void
parse_cut(const uint8_t *data, size_t len, size_t max, const size_t *cuts, size_t ncuts,
    struct log *l)
{
	struct sse_parser	 p;
	size_t			 at = 0, to, i;
	int			 rc = 0;
	char			 s[32];

	memset(l, 0, sizeof(*l));
	l->max = max;
	sse_init(&p, max, on_event, on_retry, l);
	for (i = 0; i <= ncuts && rc == 0; i++) {
		to = i < ncuts ? cuts[i] : len;
		rc = sse_feed(&p, data + at, to - at);
		at = to;
	}
	CHECK("sse-result", rc == 0 || rc == SSE_ETOOBIG, "sse_feed() returned %d", rc);
	if (rc != 0) {
		CHECK("sse-sticky", sse_feed(&p, "\n\n", 2) == rc, "an error is not kept");
		snprintf(s, sizeof(s), "X%d;", rc);
		log_put(l, s, strlen(s));
	}
	sse_end(&p);
	log_put(l, "I", 1);
	log_str(l, sse_last_id(&p), strlen(sse_last_id(&p)));
	sse_free(&p);
}

/* A growing byte string of the reference parser. */
struct str {
	unsigned char	*b;
	size_t		 n;
};

static void
str_set(struct str *s, const uint8_t *p, size_t n)
{
	free(s->b);
	if ((s->b = malloc(n + 1)) == NULL)
		abort();
	if (n > 0)
		memcpy(s->b, p, n);
	s->b[n] = '\0';
	s->n = n;
}

static void
str_add(struct str *s, const uint8_t *p, size_t n)
{
	if ((s->b = realloc(s->b, s->n + n + 1)) == NULL)
		abort();
	if (n > 0)
		memcpy(s->b + s->n, p, n);
	s->n += n;
	s->b[s->n] = '\0';
}

/*
 * The reference: the WHATWG algorithm read literally, on the whole input
 * at once: split into lines first (CRLF, LF, CR), then each line in turn.
 * The limits as sse.h states them: a line, or an event's data buffer,
 * over max bytes is an error at that point.
 */
static void
reference(const uint8_t *d, size_t len, size_t max, struct log *l)
{
	struct str	 data = { NULL, 0 }, type = { NULL, 0 }, idbuf = { NULL, 0 },
			 lastid = { NULL, 0 };
	const uint8_t	*line, *colon, *v;
	size_t		 i = 0, j, n, fn, vn, k;
	long		 ms;
	int		 err = 0;
	char		 s[32];

	memset(l, 0, sizeof(*l));
	l->max = max;
	str_set(&data, NULL, 0);
	str_set(&type, NULL, 0);
	str_set(&idbuf, NULL, 0);
	str_set(&lastid, NULL, 0);
	if (len >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
		i = 3;
	/* A stream that ends within what may yet be a BOM has no line. */
	if (len < 3 && memcmp(d, "\xef\xbb\xbf", len) == 0)
		i = len;
	while (i < len) {
		for (j = i; j < len && d[j] != '\r' && d[j] != '\n'; j++)
			;
		n = j - i;
		if (n > max) {
			err = SSE_ETOOBIG;
			break;
		}
		if (j == len)
			break;		/* a line never ended: dropped */
		line = d + i;
		i = j + 1;
		if (d[j] == '\r' && i < len && d[i] == '\n')
			i++;
		if (n == 0) {
			str_set(&lastid, idbuf.b, idbuf.n);
			if (data.n > 0) {
				data.b[--data.n] = '\0';
				log_put(l, "E", 1);
				if (type.n > 0)
					log_str(l, type.b, type.n);
				else
					log_str(l, "message", 7);
				log_str(l, lastid.b, lastid.n);
				log_str(l, data.b, data.n);
			}
			str_set(&data, NULL, 0);
			str_set(&type, NULL, 0);
			continue;
		}
		if (line[0] == ':')
			continue;
		colon = memchr(line, ':', n);
		fn = colon != NULL ? (size_t)(colon - line) : n;
		v = colon != NULL ? colon + 1 : line + n;
		vn = colon != NULL ? n - fn - 1 : 0;
		if (vn > 0 && *v == ' ') {
			v++;
			vn--;
		}
		if (fn == 4 && memcmp(line, "data", 4) == 0) {
			if (data.n + vn + 1 > max) {
				err = SSE_ETOOBIG;
				break;
			}
			str_add(&data, v, vn);
			str_add(&data, (const uint8_t *)"\n", 1);
		} else if (fn == 5 && memcmp(line, "event", 5) == 0)
			str_set(&type, v, vn);
		else if (fn == 2 && memcmp(line, "id", 2) == 0) {
			if (memchr(v, 0, vn) == NULL)
				str_set(&idbuf, v, vn);
		} else if (fn == 5 && memcmp(line, "retry", 5) == 0) {
			for (k = 0; k < vn && v[k] >= '0' && v[k] <= '9'; k++)
				;
			if (vn > 0 && k == vn) {
				for (ms = 0, k = 0; k < vn; k++)
					ms = ms > (LONG_MAX - (v[k] - '0')) / 10 ? LONG_MAX :
					    ms * 10 + (v[k] - '0');
				log_retry(l, ms);
			}
		}
	}
	if (err != 0) {
		snprintf(s, sizeof(s), "X%d;", err);
		log_put(l, s, strlen(s));
	}
	log_put(l, "I", 1);
	log_str(l, lastid.b, lastid.n);
	free(data.b);
	free(type.b);
	free(idbuf.b);
	free(lastid.b);
}

static void
same(const char *how, const struct log *a, const struct log *b)
{
	CHECK("sse-split", a->n == b->n && (a->n == 0 || memcmp(a->b, b->b, a->n) == 0),
	    "%s: %zu bytes of log against %zu whole: \"%.*s\" / \"%.*s\"", how, b->n, a->n,
	    (int)(b->n < 300 ? b->n : 300), (const char *)b->b,
	    (int)(a->n < 300 ? a->n : 300), (const char *)a->b);
}

/*
 * Input: two bytes of a cut point (taken modulo the stream's length + 1),
 * one byte that chooses the limit (below 128: the default; else 1 to 128
 * bytes), then the stream.  It is parsed whole, cut in two at that point,
 * and byte by byte: the same events, retries, error and last id each
 * time; and the same as the reference's.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log	 whole, cut, bytes, ref;
	size_t		 len, at, max, *cuts, i;

	if (size < 3)
		return 0;
	len = size - 3;
	at = ((size_t)data[0] << 8 | data[1]) % (len + 1);
	max = data[2] < 128 ? SSE_MAX_DEFAULT : (size_t)(data[2] - 127);
	data += 3;

	parse_cut(data, len, max, NULL, 0, &whole);
	parse_cut(data, len, max, &at, 1, &cut);
	same("cut in two", &whole, &cut);
	if (len > 1) {
		if ((cuts = malloc((len - 1) * sizeof(*cuts))) == NULL)
			abort();
		for (i = 1; i < len; i++)
			cuts[i - 1] = i;
		parse_cut(data, len, max, cuts, len - 1, &bytes);
		same("byte by byte", &whole, &bytes);
		free(cuts);
		free(bytes.b);
	}
	reference(data, len, max, &ref);
	CHECK("sse-ref", whole.n == ref.n && (ref.n == 0 || memcmp(whole.b, ref.b, ref.n) == 0),
	    "the parser's report differs from the reference's: \"%.*s\" / \"%.*s\"",
	    (int)(whole.n < 300 ? whole.n : 300), (const char *)whole.b,
	    (int)(ref.n < 300 ? ref.n : 300), (const char *)ref.b);
	free(whole.b);
	free(cut.b);
	free(ref.b);
	return 0;
}

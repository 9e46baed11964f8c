/*
 * sse.c: an incremental text/event-stream parser (sse.h), after the WHATWG
 * HTML standard, section "Server-sent events": "Parsing an event stream"
 * and "Interpreting an event stream".
 *
 * Bytes go into the line being read until a CR or an LF; a CR remembers
 * that it was last, so that an LF right after it, in the same chunk or the
 * next, ends nothing.  Each complete line is then interpreted at once, so
 * that what is held between calls is one line, one event's data and the
 * few buffers the standard names.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

static const unsigned char	 bom[3] = { 0xef, 0xbb, 0xbf };

/* Makes room for n more bytes and a NUL in b; 0, or -1 when out of memory. */
static int
buf_room(struct sse_buf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if (b->sb_len + n + 1 <= b->sb_cap)
		return 0;
	for (cap = b->sb_cap ? b->sb_cap : 64; cap < b->sb_len + n + 1; cap *= 2)
		;
	if ((p = realloc(b->sb_p, cap)) == NULL)
		return -1;
	b->sb_p = p;
	b->sb_cap = cap;
	return 0;
}

/* Appends n bytes to b, NUL-terminated; 0, or -1 when out of memory. */
static int
buf_add(struct sse_buf *b, const void *s, size_t n)
{
	if (buf_room(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->sb_p + b->sb_len, s, n);
	b->sb_len += n;
	b->sb_p[b->sb_len] = '\0';
	return 0;
}

/* Makes b hold exactly the n bytes at s; 0, or -1 when out of memory. */
static int
buf_set(struct sse_buf *b, const void *s, size_t n)
{
	b->sb_len = 0;
	return buf_add(b, s, n);
}

/* The text of b, "" when nothing was ever put in it. */
static const char *
buf_str(const struct sse_buf *b)
{
	return b->sb_p != NULL ? b->sb_p : "";
}

void
sse_init(struct sse_parser *p, size_t max, sse_event_fn on_event, sse_retry_fn on_retry,
    void *arg)
{
	memset(p, 0, sizeof(*p));
	p->sp_max = max ? max : SSE_MAX_DEFAULT;
	p->sp_on_event = on_event;
	p->sp_on_retry = on_retry;
	p->sp_arg = arg;
	p->sp_retry = -1;
}

/* Records an error: this call returns it, and every later one. */
static int
failed(struct sse_parser *p, int err)
{
	p->sp_err = err;
	return err;
}

/*
 * A blank line: the last event id string becomes the id buffer; an event
 * with data is dispatched (its last LF removed); the data and type
 * buffers are emptied either way.
 */
static int
dispatch(struct sse_parser *p)
{
	struct sse_event	 ev;
	int			 rc;

	if (buf_set(&p->sp_lastid, buf_str(&p->sp_idbuf), p->sp_idbuf.sb_len) == -1)
		return failed(p, SSE_ENOMEM);
	if (p->sp_data.sb_len == 0) {
		p->sp_type.sb_len = 0;
		return 0;
	}
	if (p->sp_data.sb_p[p->sp_data.sb_len - 1] == '\n')
		p->sp_data.sb_p[--p->sp_data.sb_len] = '\0';
	if (p->sp_type.sb_len > 0) {
		ev.se_type = p->sp_type.sb_p;
		ev.se_typelen = p->sp_type.sb_len;
	} else {
		ev.se_type = "message";
		ev.se_typelen = strlen("message");
	}
	ev.se_data = p->sp_data.sb_p;
	ev.se_len = p->sp_data.sb_len;
	ev.se_id = buf_str(&p->sp_lastid);
	rc = p->sp_on_event != NULL ? p->sp_on_event(&ev, p->sp_arg) : 0;
	p->sp_data.sb_len = 0;
	p->sp_type.sb_len = 0;
	return rc;
}

/* Is [s, s + n) the field name f? */
static int
field_is(const char *s, size_t n, const char *f)
{
	return n == strlen(f) && memcmp(s, f, n) == 0;
}

/* A retry value: only ASCII digits, at least one; -1 otherwise. */
static long
retry_value(const char *v, size_t n)
{
	long	 ms = 0;
	size_t	 i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (ms > (LONG_MAX - (v[i] - '0')) / 10)
			ms = LONG_MAX;
		else
			ms = ms * 10 + (v[i] - '0');
	}
	return ms;
}

/* Interprets the complete line held in sp_line (its end not included). */
static int
interpret(struct sse_parser *p)
{
	const char	*line = p->sp_line.sb_p, *colon, *v;
	size_t		 n = p->sp_line.sb_len, fn, vn;
	long		 ms;

	if (n == 0)
		return dispatch(p);
	if (line[0] == ':')
		return 0;
	if ((colon = memchr(line, ':', n)) != NULL) {
		fn = (size_t)(colon - line);
		v = colon + 1;
		vn = n - fn - 1;
		if (vn > 0 && v[0] == ' ') {
			v++;
			vn--;
		}
	} else {
		fn = n;
		v = line + n;
		vn = 0;
	}
	if (field_is(line, fn, "data")) {
		if (p->sp_data.sb_len + vn + 1 > p->sp_max)
			return failed(p, SSE_ETOOBIG);
		if (buf_add(&p->sp_data, v, vn) == -1 || buf_add(&p->sp_data, "\n", 1) == -1)
			return failed(p, SSE_ENOMEM);
	} else if (field_is(line, fn, "event")) {
		if (buf_set(&p->sp_type, v, vn) == -1)
			return failed(p, SSE_ENOMEM);
	} else if (field_is(line, fn, "id")) {
		if (memchr(v, '\0', vn) == NULL && buf_set(&p->sp_idbuf, v, vn) == -1)
			return failed(p, SSE_ENOMEM);
	} else if (field_is(line, fn, "retry")) {
		if ((ms = retry_value(v, vn)) >= 0) {
			p->sp_retry = ms;
			if (p->sp_on_retry != NULL)
				p->sp_on_retry(ms, p->sp_arg);
		}
	}
	/* Any other field is ignored. */
	return 0;
}

/* Adds n bytes to the line being read, within the limit. */
static int
line_add(struct sse_parser *p, const char *s, size_t n)
{
	if (n > p->sp_max - p->sp_line.sb_len)
		return failed(p, SSE_ETOOBIG);
	if (buf_add(&p->sp_line, s, n) == -1)
		return failed(p, SSE_ENOMEM);
	return 0;
}

/* Reads bytes that are past the byte order mark. */
static int
feed_lines(struct sse_parser *p, const char *s, size_t len)
{
	const char	*end = s + len, *t;
	int		 rc;

	while (s < end) {
		if (p->sp_cr) {
			p->sp_cr = false;
			if (*s == '\n') {
				s++;
				continue;
			}
		}
		for (t = s; t < end && *t != '\r' && *t != '\n'; t++)
			;
		if ((rc = line_add(p, s, (size_t)(t - s))) != 0)
			return rc;
		if (t == end)
			break;
		p->sp_cr = *t == '\r';
		s = t + 1;
		rc = interpret(p);
		p->sp_line.sb_len = 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
sse_feed(struct sse_parser *p, const void *buf, size_t len)
{
	const unsigned char	*s = buf;
	int			 k, rc;

	if (p->sp_err != 0)
		return p->sp_err;
	/* The first bytes of the stream: a byte order mark, maybe cut. */
	while (p->sp_bom >= 0 && len > 0) {
		if (*s == bom[p->sp_bom]) {
			s++;
			len--;
			if (++p->sp_bom == (int)sizeof(bom))
				p->sp_bom = -1;
			continue;
		}
		/* Not a byte order mark: the bytes matched are the stream's. */
		k = p->sp_bom;
		p->sp_bom = -1;
		if (k > 0 && (rc = feed_lines(p, (const char *)bom, (size_t)k)) != 0)
			return rc;
	}
	return feed_lines(p, (const char *)s, len);
}

void
sse_end(struct sse_parser *p)
{
	p->sp_line.sb_len = 0;
	p->sp_data.sb_len = 0;
	p->sp_type.sb_len = 0;
	/* An id not followed by a blank line was part of the incomplete event. */
	if (p->sp_idbuf.sb_p != NULL)
		(void)buf_set(&p->sp_idbuf, buf_str(&p->sp_lastid), p->sp_lastid.sb_len);
	p->sp_cr = false;
}

void
sse_reconnect(struct sse_parser *p)
{
	sse_end(p);
	p->sp_bom = 0;
	p->sp_err = 0;
}

const char *
sse_last_id(const struct sse_parser *p)
{
	return buf_str(&p->sp_lastid);
}

long
sse_retry(const struct sse_parser *p)
{
	return p->sp_retry;
}

void
sse_free(struct sse_parser *p)
{
	free(p->sp_line.sb_p);
	free(p->sp_data.sb_p);
	free(p->sp_type.sb_p);
	free(p->sp_idbuf.sb_p);
	free(p->sp_lastid.sb_p);
	memset(p, 0, sizeof(*p));
}

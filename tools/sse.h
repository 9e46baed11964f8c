/*
 * sse.h: an incremental parser of text/event-stream (Server-Sent Events),
 * after the WHATWG HTML standard's "Parsing an event stream" and
 * "Interpreting an event stream".
 *
 * Bytes are fed in chunks of any size, cut anywhere: the events and the
 * retry values reported are the same however the stream is cut.  Lines
 * end in CR, LF or CRLF (also when the CR ends one chunk and the LF starts
 * the next); one UTF-8 byte order mark at the start of the stream is
 * skipped; lines that start with ':' are comments.  The fields are data,
 * event, id (ignored when it holds a NUL) and retry (only when all ASCII
 * digits); the data lines of an event are joined with "\n", and an event
 * is dispatched at a blank line when it has data.  The last event id is
 * kept across events and across connections (sse_reconnect()), to be sent
 * as Last-Event-ID.
 *
 * Bytes are passed on as they came: the parser does not decode UTF-8 or
 * replace malformed sequences with U+FFFD, as a browser would; the data's
 * reader (a JSON parser) judges it.
 *
 * A line or an event's data larger than the parser's limit is an error
 * (SSE_ETOOBIG), not a reason to grow: a server cannot make a client hold
 * more than that.
 */
#ifndef TP_SSE_H
#define TP_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* The default limit on a line and on an event's data, in bytes. */
#define SSE_MAX_DEFAULT		(1024 * 1024)

/* What sse_feed() returns besides 0 and a callback's own non-zero value. */
#define SSE_ETOOBIG		(-1)	/* a line or an event's data over the limit */
#define SSE_ENOMEM		(-2)	/* out of memory */

/* One dispatched event.  The pointers are valid during the callback only. */
struct sse_event {
	const char	*se_type;	/* "message" unless an event: field said */
	size_t		 se_typelen;	/* (a type may hold NULs too) */
	const char	*se_data;	/* NUL-terminated; may hold NULs: use se_len */
	size_t		 se_len;
	const char	*se_id;		/* the last event id, "" when none was set */
};

/*
 * Called for each dispatched event; 0 goes on, anything else stops the
 * parser, and sse_feed() returns it (the rest of that chunk is not read).
 */
typedef int	(*sse_event_fn)(const struct sse_event *ev, void *arg);
/* Called for each valid retry: field, in milliseconds (capped at LONG_MAX). */
typedef void	(*sse_retry_fn)(long ms, void *arg);

/* A byte buffer, NUL-terminated once anything was put in it. */
struct sse_buf {
	char		*sb_p;
	size_t		 sb_len, sb_cap;
};

struct sse_parser {
	size_t		 sp_max;	/* limit of a line, and of an event's data */
	sse_event_fn	 sp_on_event;
	sse_retry_fn	 sp_on_retry;
	void		*sp_arg;

	struct sse_buf	 sp_line;	/* the line being read */
	struct sse_buf	 sp_data;	/* the data buffer */
	struct sse_buf	 sp_type;	/* the event type buffer */
	struct sse_buf	 sp_idbuf;	/* the last event id buffer */
	struct sse_buf	 sp_lastid;	/* the last event id string: set at each blank line */
	long		 sp_retry;	/* the last retry, in ms, or -1 */
	int		 sp_bom;	/* bytes of a BOM matched so far; -1 once past */
	bool		 sp_cr;		/* the last byte read was a CR */
	int		 sp_err;	/* once an error was returned, it is again */
};

/* Sets up p (limit max, or SSE_MAX_DEFAULT when 0).  Never fails. */
void	 sse_init(struct sse_parser *p, size_t max, sse_event_fn on_event,
	    sse_retry_fn on_retry, void *arg);
/*
 * Reads len more bytes of the stream.  0 when all were read; SSE_ETOOBIG or
 * SSE_ENOMEM (and then again at every later call, until sse_reconnect());
 * or a callback's non-zero value.
 */
int	 sse_feed(struct sse_parser *p, const void *buf, size_t len);
/*
 * The stream ended: what was not dispatched is dropped (an event not
 * ended by a blank line is incomplete, and is never dispatched).
 */
void	 sse_end(struct sse_parser *p);
/*
 * A new connection: sse_end(), then a fresh stream (its own byte order
 * mark, no error).  The last event id and the last retry are kept.
 */
void	 sse_reconnect(struct sse_parser *p);
/* The last event id string ("" when none); what Last-Event-ID should send. */
const char *sse_last_id(const struct sse_parser *p);
/* The last valid retry, in ms, or -1 when none came. */
long	 sse_retry(const struct sse_parser *p);
/* Frees what p holds. */
void	 sse_free(struct sse_parser *p);

#endif /* TP_SSE_H */

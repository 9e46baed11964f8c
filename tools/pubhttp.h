/*
 * pubhttp.h: tp-notify's HTTP/1.1 client for nchan's publisher: requests
 * pipelined on one kept-alive connection (a unix socket or TCP), their
 * answers read in order.  A publish costs a write of a few hundred bytes,
 * not a round trip: at thousands of changes a second, the round trips
 * (two context switches each) were what held tp-notify behind the writers.
 */
#ifndef TP_PUBHTTP_H
#define TP_PUBHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests queued before pub_flush() must run (it also runs by itself past these). */
#define PUB_MAX_QUEUED		1024
#define PUB_MAX_OUT		(1024 * 1024)

struct pub_answer {
	char	 pa_method[8];
	char	 pa_path[64];
	int	 pa_status;		/* 0 until answered */
	size_t	 pa_off;		/* the request's bytes in p_out */
};

struct pub {
	char			 p_unix[108];	/* a unix socket's path, or "" */
	char			 p_host[256];	/* else host and port */
	char			 p_port[8];
	int			 p_fd;		/* -1: not connected */
	char			*p_out;		/* requests not yet written */
	size_t			 p_outlen, p_outcap, p_outoff;
	struct pub_answer	 p_q[PUB_MAX_QUEUED];	/* requests owed an answer */
	int			 p_nq, p_answered;
	char			 p_in[16384];
	size_t			 p_inlen;
	char			 p_err[256];	/* why the last pub_flush() failed */
};

/*
 * Where the publisher is: an absolute path (a unix socket) or
 * "http://HOST:PORT".  0, or -1 when target is neither.
 */
int	 pub_init(struct pub *p, const char *target);
void	 pub_close(struct pub *p);
/*
 * Queues a request: method on "/pub/<path>", with body[0..len) (NULL: no
 * body).  0, or -1 when memory runs out.
 */
int	 pub_queue(struct pub *p, const char *method, const char *path, const char *body,
	    size_t len);
/* How many requests are queued (and not yet answered). */
int	 pub_queued(const struct pub *p);
/*
 * Sends every queued request and reads every answer, within timeout_ms;
 * connects first if need be.  0: each answer is in pub_answer(p, i) for
 * i < pub_queued() until pub_reset(); -1: the connection failed or an
 * answer was malformed (p_err says which); the connection is closed and
 * whatever was queued must be sent again.
 */
int	 pub_flush(struct pub *p, int timeout_ms);
const struct pub_answer *pub_answer(const struct pub *p, int i);
/* Forgets the queue (after its answers were read, or a failure). */
void	 pub_reset(struct pub *p);

/*
 * Reads one HTTP/1.1 response head and its Content-Length body from
 * buf[0..len): 1 with *status and *used (the response's bytes) when it is
 * all there, 0 when more must come, -1 when it is malformed (no status
 * line, a head over 8 KiB, a chunked or unsized body).
 */
int	 pub_parse_response(const char *buf, size_t len, int *status, size_t *used);

#endif /* TP_PUBHTTP_H */

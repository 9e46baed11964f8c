/* notify_send.h: tp-notify's sender of notifications (notify_send.c). */
#ifndef TP_NOTIFY_SEND_H
#define TP_NOTIFY_SEND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What addresses a target may resolve to, besides public ones. */
#define SEND_ALLOW_LOOPBACK	(1u << 0)	/* 127.0.0.0/8, ::1 */
#define SEND_ALLOW_PRIVATE	(1u << 1)	/* RFC 1918, fc00::/7, link-local, 100.64/10 */

struct send_options {
	const char	*db_url;	/* tp_sender's connection string */
	unsigned	 allow;		/* SEND_ALLOW_* */
	const char	*public_url;	/* the UI's base URL, for links; NULL: none */
	const char	*smtp_url;	/* smtp:// or smtps:// server; NULL: no email */
	const char	*mail_from;	/* the sender's address */
	int		 idle_max_ms;	/* the longest sleep with nothing due: it LISTENs on
					   trainprog_outbox, and wakes when a retry falls due */
};

/* Runs the sender until *stop becomes true.  Returns an exit status. */
int	 send_main(const struct send_options *opt, volatile sig_atomic_t *stop,
	    void (*say)(const char *level, const char *fmt, ...));

/*
 * The pieces, for the unit test.  Each returns NULL (or -1) and writes a
 * sentence into err when it cannot.
 */

/*
 * May a target resolve to this address (a struct sockaddr of family
 * AF_INET or AF_INET6)?  NULL: yes; else why not ("a loopback address").
 */
const char *send_address_refused(const void *sa, unsigned allow);
/* The webhook body: {"event", "delivered_at", "job": doc}.  Caller frees. */
char	*send_webhook_body(const char *event, int64_t at_us, const char *doc, size_t doclen);
/* "t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">" into out (at least 80 bytes). */
int	 send_signature(const char *secret, int64_t unix_s, const char *body, char *out,
	    size_t outsz);
/* A Slack/Mattermost incoming-webhook message for the job's document.  Caller frees. */
char	*send_slack_body(const char *doc, const char *public_url);
/* An email (headers and text) for the job's document.  Caller frees. */
char	*send_email_text(const char *doc, const char *from, const char *to,
	    const char *delivery_id, const char *public_url);

#endif /* TP_NOTIFY_SEND_H */

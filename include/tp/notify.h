/* tp/notify.h: what a notification target may be (the one rule for every writer). */
#ifndef TP_NOTIFY_H
#define TP_NOTIFY_H

#include <stddef.h>

#ifndef TP_API
#define TP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TP_TARGET_URL_MAX	2048	/* bytes of a webhook's or Slack's URL */
#define TP_TARGET_EMAIL_MAX	254	/* bytes of an email address (RFC 5321's path) */
#define TP_TARGET_SECRET_MAX	256	/* bytes of a webhook's signing secret */

/*
 * Checks a target that a job's end is announced to, as it will be stored
 * and sent: POST /jobs' "notify", tp-admin notify add and the sender all
 * ask this one function.
 *
 *   kind     "webhook", "slack" or "email";
 *   address  for webhook and slack, an http:// or https:// URL (in lower
 *            case, as the table's CHECK wants it) of at most
 *            TP_TARGET_URL_MAX bytes of printable ASCII, with a host (a
 *            name of letters, digits, '-', '_' and '.', or an IP address,
 *            IPv6 in brackets), an optional port from 1 to 65535 and no
 *            user information; for email, local@domain of at most
 *            TP_TARGET_EMAIL_MAX bytes: a dot-string of at most 64 bytes
 *            (no quoted forms) at a domain of letters, digits and '-' in
 *            dot-separated labels;
 *   secret   NULL or "" for none; only a webhook takes one: 1 to
 *            TP_TARGET_SECRET_MAX bytes of UTF-8 without control characters.
 *
 * Returns NULL when the target is acceptable, otherwise a static English
 * predicate that reads after the name of the part at fault ("has no
 * host"), which *field (when field is not NULL) then holds: "kind", "url",
 * "address" or "secret".
 */
TP_API const char	*tp_target_problem(const char *kind, const char *address,
			    const char *secret, const char **field);

#ifdef __cplusplus
}
#endif

#endif /* TP_NOTIFY_H */

/*
 * target.c: what a notification target may be.  POST /jobs (jobreq.c),
 * tp-admin notify add, tp-notify's --mail-from and its sender all ask
 * tp_target_problem(), so that what one writer stores the sender can send,
 * and the sender reads a URL's host and port with target_parse_url(), the
 * parser the rule itself uses.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tp/notify.h>

#include "internal.h"

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Printable ASCII, no space: what a URL is made of once percent-encoded. */
static bool
printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A host name (letters, digits, '-', '_', '.') or an IPv4 address. */
static bool
host_name(const char *h, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '_' && h[i] != '.')
			return false;
	return n > 0 && h[0] != '.' && h[0] != '-';
}

/* The inside of [...]: hex digits, ':' and '.' (an IPv4 tail). */
static bool
ipv6_literal(const char *h, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
		    (h[i] >= 'A' && h[i] <= 'F') || h[i] == ':' || h[i] == '.'))
			return false;
	return memchr(h, ':', n) != NULL;
}

const char *
target_parse_url(const char *url, struct target_url *u)
{
	const char	*p, *host, *end, *colon;
	size_t		 hlen;
	long		 port;
	char		*e;

	memset(u, 0, sizeof(*u));
	/* In lower case, as the table's CHECK has it (schema/009). */
	if (strncmp(url, "https://", 8) == 0) {
		u->tu_https = true;
		p = url + 8;
		u->tu_port = 443;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
		u->tu_port = 80;
	} else
		return "must be an http:// or https:// URL (the scheme in lower case)";
	if (strlen(url) > TP_TARGET_URL_MAX)
		return "is longer than 2048 bytes";
	if (!printable_ascii(url))
		return "has a space, a control character or a byte that is not ASCII "
		    "(percent-encode it)";
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return "must not hold user information (user@)";
	if (*p == '[') {
		host = p + 1;
		if ((colon = memchr(host, ']', (size_t)(end - host))) == NULL)
			return "has an IPv6 address without its closing bracket";
		hlen = (size_t)(colon - host);
		if (colon + 1 < end && colon[1] != ':')
			return "has something between its IPv6 address and its port";
		colon = colon + 1 < end ? colon + 1 : NULL;
		if (!ipv6_literal(host, hlen))
			return "has a bracketed host that is not an IPv6 address";
	} else {
		host = p;
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon != NULL ? colon : end) - host);
		if (hlen > 0 && !host_name(host, hlen))
			return "has a host that is not a name of letters, digits, '-', '_' and "
			    "'.', nor an IP address";
	}
	if (hlen == 0)
		return "has no host";
	if (hlen >= sizeof(u->tu_host))
		return "has a host longer than 255 bytes";
	memcpy(u->tu_host, host, hlen);
	u->tu_host[hlen] = '\0';
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &e, 10);
		if (colon[1] < '0' || colon[1] > '9' || errno != 0 || e != end || port < 1 ||
		    port > 65535)
			return "has a port that is not a number from 1 to 65535";
		u->tu_port = (int)port;
	}
	return NULL;
}

/* RFC 5321's dot-string: atoms of atext joined by single dots. */
static bool
dot_string(const char *s, size_t n)
{
	static const char specials[] = "!#$%&'*+/=?^_`{|}~-";
	size_t	 i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_alnum(s[i]) && strchr(specials, s[i]) == NULL)
			return false;
	}
	return true;
}

/* Labels of letters, digits and '-' (not at either end), joined by dots. */
static bool
domain_name(const char *s, size_t n)
{
	size_t	 i, label = 0;

	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label > 0))
			label++;
		else
			return false;
	}
	return true;
}

static const char *
email_problem(const char *a)
{
	const char	*at = strrchr(a, '@');
	size_t		 n = strlen(a);

	if (n > TP_TARGET_EMAIL_MAX)
		return "is longer than 254 bytes";
	if (at == NULL)
		return "must be an email address, local@domain";
	if (at == a || (size_t)(at - a) > 64 || !dot_string(a, (size_t)(at - a)))
		return "must be an email address whose local part is at most 64 letters, "
		    "digits, dots or !#$%&'*+/=?^_`{|}~- (no quotes)";
	if (!domain_name(at + 1, strlen(at + 1)))
		return "must be an email address whose domain is labels of letters, digits "
		    "and '-', joined by dots";
	return NULL;
}

static const char *
secret_problem(const char *s)
{
	size_t		 n = strlen(s), i;

	if (n > TP_TARGET_SECRET_MAX)
		return "is longer than 256 bytes";
	if (!utf8_valid(s, n))
		return "is not valid UTF-8";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "has a control character";
	return NULL;
}

static const char *
at(const char **field, const char *name, const char *why)
{
	if (field != NULL)
		*field = name;
	return why;
}

TP_API const char *
tp_target_problem(const char *kind, const char *address, const char *secret,
    const char **field)
{
	struct target_url	 u;
	const char		*why;
	bool			 email;

	if (field != NULL)
		*field = NULL;
	if (kind == NULL || (strcmp(kind, "webhook") != 0 && strcmp(kind, "slack") != 0 &&
	    strcmp(kind, "email") != 0))
		return at(field, "kind", "must be webhook, slack or email");
	email = strcmp(kind, "email") == 0;
	if (address == NULL || *address == '\0')
		return at(field, email ? "address" : "url", email ? "must be an email address" :
		    "must be an http:// or https:// URL");
	if (email && (why = email_problem(address)) != NULL)
		return at(field, "address", why);
	if (!email && (why = target_parse_url(address, &u)) != NULL)
		return at(field, "url", why);
	if (secret != NULL && *secret != '\0') {
		if (strcmp(kind, "webhook") != 0)
			return at(field, "secret", "is taken by a webhook target only");
		if ((why = secret_problem(secret)) != NULL)
			return at(field, "secret", why);
	}
	return NULL;
}

/*
 * test_target.c: lib/target.c, the one rule for a notification target
 * (tp_target_problem()) that POST /jobs, tp-admin and the sender follow,
 * and the URL parser under it (target_parse_url()).
 */
#include <string.h>

#include <criterion/criterion.h>

#include <tp/notify.h>

#include "../../lib/internal.h"

Test(target, urls_parsed)
{
	struct target_url	 u;

	cr_assert_null(target_parse_url("https://hooks.example.com/services/x", &u));
	cr_assert(u.tu_https);
	cr_assert_str_eq(u.tu_host, "hooks.example.com");
	cr_assert_eq(u.tu_port, 443);
	cr_assert_null(target_parse_url("http://127.0.0.1:8080/h?q=1", &u));
	cr_assert_str_eq(u.tu_host, "127.0.0.1");
	cr_assert_eq(u.tu_port, 8080);
	cr_assert_null(target_parse_url("http://[::1]:9/x", &u));
	cr_assert_str_eq(u.tu_host, "::1");
	cr_assert_eq(u.tu_port, 9);
	cr_assert_null(target_parse_url("http://[::ffff:10.0.0.1]", &u));
	cr_assert_str_eq(u.tu_host, "::ffff:10.0.0.1");
	cr_assert_eq(u.tu_port, 80);
	cr_assert_null(target_parse_url("http://Example.COM", &u));
	cr_assert_eq(u.tu_port, 80);
	cr_assert_str_eq(u.tu_host, "Example.COM");
	cr_assert_null(target_parse_url("https://h_1.example.com.:443#frag", &u));
	cr_assert_str_eq(u.tu_host, "h_1.example.com.");
}

Test(target, urls_refused)
{
	static const char *const bad[] = {
		"ftp://x/", "file:///etc/passwd", "gopher://h/", "//h/x", "h/x", "",
		"HTTP://h/", "Https://h/",
		"http://", "http:///path", "http://?q", "http://#f", "http://:80/",
		"http://user:pw@host/", "http://user@host/", "http://@host/",
		"http://host:0/", "http://host:65536/", "http://host:80x/", "http://host:/",
		"http://host:+80/", "http://host:-1/", "http://host: 80/",
		"http://[::1/x", "http://[::1]x/", "http://[::1]80/", "http://[]/",
		"http://[fe80::1%25eth0]/", "http://[not:hex!]/", "http://[1.2.3.4]/",
		"http://a b/", "http://host/a b", "http://host/\t", "http://host/\x7f",
		"http://host/\xc3\xa9", "http://h\xc3\xa9.com/", "http://host\r\nX: y/",
		"http://-host/", "http://.host/", "http://ho$t/", "http://ho%74/",
		"http://host\\@evil/",
	};
	struct target_url	 u;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not_null(target_parse_url(bad[i], &u), "accepted: %s", bad[i]);
	/* Each refusal says which part is wrong. */
	cr_assert_str_eq(target_parse_url("http://user@host/", &u),
	    "must not hold user information (user@)");
	cr_assert_str_eq(target_parse_url("http://host:99999/", &u),
	    "has a port that is not a number from 1 to 65535");
	cr_assert_str_eq(target_parse_url("http:///x", &u), "has no host");
	cr_assert_str_eq(target_parse_url("gopher://h/", &u),
	    "must be an http:// or https:// URL (the scheme in lower case)");
	cr_assert_str_eq(target_parse_url("http://h\xc3\xa9/", &u),
	    "has a space, a control character or a byte that is not ASCII (percent-encode it)");
}

Test(target, url_length)
{
	static char		 url[TP_TARGET_URL_MAX + 2];
	struct target_url	 u;
	size_t			 n = strlen("https://h/");

	memcpy(url, "https://h/", n);
	memset(url + n, 'a', TP_TARGET_URL_MAX - n);
	url[TP_TARGET_URL_MAX] = '\0';
	cr_assert_null(target_parse_url(url, &u), "2048 bytes");
	url[TP_TARGET_URL_MAX] = 'a';
	url[TP_TARGET_URL_MAX + 1] = '\0';
	cr_assert_str_eq(target_parse_url(url, &u), "is longer than 2048 bytes");
	/* A host of 255 bytes is the most a name may have. */
	memset(url + 8, 'h', 256);
	url[8 + 256] = '\0';
	cr_assert_str_eq(target_parse_url(url, &u), "has a host longer than 255 bytes");
	url[8 + 255] = '\0';
	cr_assert_null(target_parse_url(url, &u));
}

Test(target, emails)
{
	static const char *const good[] = {
		"ops@example.com", "a@b", "first.last+tag@mail-1.example.co.uk",
		"!#$%&'*+/=?^_`{|}~-@x", "trainprog@localhost",
	};
	static const char *const bad[] = {
		"", "nobody", "@example.com", "a@", "a@b@c", "<a@b>", "a b@c", "a@b c",
		"a@b\r\nBcc: x@y", "\"quoted\"@example.com", ".a@b", "a.@b", "a..b@c",
		"a@.b", "a@b.", "a@b..c", "a@-b", "a@b-", "a@b_c", "a@[127.0.0.1]",
		"a@b,c@d", "r\xc3\xa9gime@example.com", "a@\xc3\xa9xample.com", "a\t@b",
	};
	char		 addr[300];
	const char	*field;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect_null(tp_target_problem("email", good[i], NULL, &field), "refused: %s",
		    good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_not_null(tp_target_problem("email", bad[i], NULL, &field),
		    "accepted: %s", bad[i]);
		cr_expect_str_eq(field, "address");
	}
	/* 64 bytes of local part at most; 254 in all. */
	memset(addr, 'l', 64);
	strcpy(addr + 64, "@example.com");
	cr_assert_null(tp_target_problem("email", addr, NULL, NULL));
	memset(addr, 'l', 65);
	strcpy(addr + 65, "@example.com");
	cr_assert_not_null(tp_target_problem("email", addr, NULL, NULL));
	/* a@ and labels of 62 and dots: 2 + 4 * 63 = 254 bytes, then 255. */
	strcpy(addr, "a@");
	for (i = 0; i < 4; i++) {
		memset(addr + 2 + i * 63, 'd', 62);
		addr[2 + i * 63 + 62] = i < 3 ? '.' : '\0';
	}
	cr_assert_eq(strlen(addr), 253);
	cr_assert_null(tp_target_problem("email", addr, NULL, NULL));
	strcat(addr, "d");
	cr_assert_null(tp_target_problem("email", addr, NULL, NULL), "254 bytes");
	strcat(addr, "d");
	cr_assert_str_eq(tp_target_problem("email", addr, NULL, NULL), "is longer than 254 bytes");
}

Test(target, kinds_and_secrets)
{
	char		 secret[TP_TARGET_SECRET_MAX + 2];
	const char	*field;

	cr_assert_str_eq(tp_target_problem("sms", "+1555", NULL, &field),
	    "must be webhook, slack or email");
	cr_assert_str_eq(field, "kind");
	cr_assert_not_null(tp_target_problem(NULL, "https://h/", NULL, &field));
	cr_assert_str_eq(field, "kind");
	cr_assert_not_null(tp_target_problem("Webhook", "https://h/", NULL, &field));
	cr_assert_not_null(tp_target_problem("webhook", NULL, NULL, &field));
	cr_assert_str_eq(field, "url");
	cr_assert_not_null(tp_target_problem("email", "", NULL, &field));
	cr_assert_str_eq(field, "address");
	/* A URL where an address goes, and the other way round. */
	cr_assert_not_null(tp_target_problem("email", "https://h/", NULL, &field));
	cr_assert_str_eq(field, "address");
	cr_assert_not_null(tp_target_problem("slack", "ops@example.com", NULL, &field));
	cr_assert_str_eq(field, "url");

	cr_assert_null(tp_target_problem("webhook", "https://h/x", "k", &field));
	cr_assert_null(field);
	cr_assert_null(tp_target_problem("webhook", "https://h/x", "", NULL), "\"\": none");
	cr_assert_null(tp_target_problem("webhook", "https://h/x", "caf\xc3\xa9 key", NULL));
	cr_assert_str_eq(tp_target_problem("slack", "https://h/x", "k", &field),
	    "is taken by a webhook target only");
	cr_assert_str_eq(field, "secret");
	cr_assert_not_null(tp_target_problem("email", "a@b", "k", &field));
	cr_assert_str_eq(field, "secret");
	cr_assert_str_eq(tp_target_problem("webhook", "https://h/x", "a\nb", &field),
	    "has a control character");
	cr_assert_str_eq(tp_target_problem("webhook", "https://h/x", "\xc3", &field),
	    "is not valid UTF-8");
	memset(secret, 's', TP_TARGET_SECRET_MAX);
	secret[TP_TARGET_SECRET_MAX] = '\0';
	cr_assert_null(tp_target_problem("webhook", "https://h/x", secret, NULL));
	secret[TP_TARGET_SECRET_MAX] = 's';
	secret[TP_TARGET_SECRET_MAX + 1] = '\0';
	cr_assert_str_eq(tp_target_problem("webhook", "https://h/x", secret, &field),
	    "is longer than 256 bytes");
}

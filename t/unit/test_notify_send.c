/*
 * test_notify_send.c: tools/notify_send.c's pieces: which addresses a
 * target may resolve to, the webhook body and its signature, the Slack message
 * and the email (the delivery itself is tested end to end by
 * t/e2e/test_notify.sh).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "../../lib/internal.h"
#include "../../tools/notify_send.h"

static const char doc[] =
    "{\"job_id\":\"job<1>&\",\"percentage\":100,\"current_step\":\"Complete\","
    "\"started_at\":\"2026-12-02T03:00:00Z\",\"updated_at\":\"2026-12-02T03:05:12.5Z\","
    "\"best_score\":1.85,\"best_params\":{\"pierce_depth\":0.15,\"reversal_candles\":3},"
    "\"is_complete\":true,\"error_message\":null,\"status\":\"completed\",\"seq\":7}";

static const char *
refused4(const char *ip, unsigned allow)
{
	struct sockaddr_in	 a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return send_address_refused(&a, allow);
}

static const char *
refused6(const char *ip, unsigned allow)
{
	struct sockaddr_in6	 a;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return send_address_refused(&a, allow);
}

Test(notify_send, addresses)
{
	static const char *const private4[] = { "10.1.2.3", "172.16.0.1", "172.31.255.255",
	    "192.168.1.1", "169.254.169.254", "100.64.0.1" };
	static const char *const never4[] = { "0.0.0.0", "224.0.0.1", "255.255.255.255" };
	size_t	 i;

	cr_assert_null(refused4("93.184.216.34", 0));
	cr_assert_null(refused4("172.32.0.1", 0), "just outside 172.16/12");
	cr_assert_not_null(refused4("127.0.0.1", 0));
	cr_assert_null(refused4("127.0.0.1", SEND_ALLOW_LOOPBACK));
	for (i = 0; i < sizeof(private4) / sizeof(private4[0]); i++) {
		cr_assert_not_null(refused4(private4[i], SEND_ALLOW_LOOPBACK), "%s", private4[i]);
		cr_assert_null(refused4(private4[i], SEND_ALLOW_PRIVATE), "%s", private4[i]);
	}
	for (i = 0; i < sizeof(never4) / sizeof(never4[0]); i++)
		cr_assert_not_null(refused4(never4[i], SEND_ALLOW_PRIVATE), "%s", never4[i]);
	cr_assert_not_null(refused6("::1", 0));
	cr_assert_null(refused6("::1", SEND_ALLOW_LOOPBACK));
	cr_assert_not_null(refused6("fe80::1", SEND_ALLOW_LOOPBACK));
	cr_assert_not_null(refused6("fd00::1", 0));
	cr_assert_not_null(refused6("::ffff:10.0.0.1", 0), "IPv4-mapped private");
	cr_assert_not_null(refused6("::ffff:127.0.0.1", 0), "IPv4-mapped loopback");
	cr_assert_not_null(refused6("::", SEND_ALLOW_PRIVATE));
	cr_assert_null(refused6("2606:4700::1111", 0));
}

Test(notify_send, webhook_body_and_signature)
{
	char	*body = send_webhook_body("job.completed", INT64_C(1796180000000000), doc,
		    strlen(doc));
	char	 sig[128];
	cJSON	*j;

	cr_assert_not_null(body);
	cr_assert_not_null(j = cJSON_Parse(body));
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "event")), "job.completed");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "delivered_at")),
	    "2026-12-02T02:53:20Z");
	cr_assert_not_null(strstr(body, doc), "the document, byte for byte");
	cJSON_Delete(j);
	free(body);
	/* Python: hmac.new(b"key", b"1796180000.{}", "sha256").hexdigest() */
	cr_assert_eq(send_signature("key", 1796180000, "{}", sig, sizeof(sig)), 0);
	cr_assert_str_eq(sig, "t=1796180000,v1="
	    "4876f4a51a7343b902668383c335bbb35d1bd32652fc3483c5204c031424416d");
}

Test(notify_send, slack_message)
{
	char	*body = send_slack_body(doc, "https://studio.example.com");
	cJSON	*j;
	char	*blocks;

	cr_assert_not_null(body);
	cr_assert_not_null(j = cJSON_Parse(body));
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")),
	    "Training job job&lt;1&gt;&amp; completed: best score 1.8500");
	blocks = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "blocks"));
	cr_assert_not_null(strstr(blocks, "job&lt;1&gt;&amp;"), "mrkdwn escaped: %s", blocks);
	cr_assert_not_null(strstr(blocks, "pierce_depth 0.15, reversal_candles 3"));
	cr_assert_not_null(strstr(blocks, "5 min 12 s"), "the duration");
	cr_assert_not_null(strstr(blocks, "https://studio.example.com/jobs/job%3C1%3E%26"),
	    "the link, with the id encoded: %s", blocks);
	free(blocks);
	cJSON_Delete(j);
	free(body);
	cr_assert_null(send_slack_body("not json", NULL));
}

Test(notify_send, email)
{
	char	*mail = send_email_text(
		    "{\"job_id\":\"j1\",\"status\":\"failed\",\"error_message\":\"out of candles\","
		    "\"best_score\":null,\"best_params\":null}",
		    "trainprog@example.com", "ops@example.com", "d-1", NULL);

	cr_assert_not_null(mail);
	cr_assert_not_null(strstr(mail, "From: trainprog@example.com\r\nTo: ops@example.com\r\n"
	    "Subject: Training job j1 failed\r\n"));
	cr_assert_not_null(strstr(mail, "Message-ID: <d-1@trainprog>\r\n"));
	cr_assert_not_null(strstr(mail, "Content-Transfer-Encoding: quoted-printable\r\n"));
	cr_assert_not_null(strstr(mail, "\r\n\r\nTraining job j1 failed.\r\n"));
	cr_assert_not_null(strstr(mail, "Error:       out of candles\r\n"));
	cr_assert_not_null(strstr(mail, "Best score:  none\r\n"));
	free(mail);
}

/* Every line of mail ends in CRLF and has at most max characters. */
static void
assert_lines(const char *mail, size_t max)
{
	const char	*p, *eol;

	for (p = mail; *p != '\0'; p = eol + 2) {
		eol = strstr(p, "\r\n");
		cr_assert_not_null(eol, "the mail ends in CRLF: ...%s", p);
		cr_assert_leq((size_t)(eol - p), max, "a line of %zu: %.*s", (size_t)(eol - p),
		    (int)(eol - p), p);
		cr_assert_null(memchr(p, '\n', (size_t)(eol - p)), "a bare LF: %.*s",
		    (int)(eol - p), p);
		cr_assert_null(memchr(p, '\r', (size_t)(eol - p)), "a bare CR: %.*s",
		    (int)(eol - p), p);
	}
}

/*
 * An error of several lines (bare LF, bare CR, CRLF) and of one long line,
 * a non-ASCII job id: lines end in CRLF, none longer than 76 characters
 * (quoted-printable), the Subject is RFC 2047 encoded words.
 */
Test(notify_send, email_lines_and_encoding)
{
	char		 docbuf[8192], big[3001];
	char		*mail;

	memset(big, 'x', 3000);
	big[3000] = '\0';
	snprintf(docbuf, sizeof(docbuf),
	    "{\"job_id\":\"r\u00e9gime-\u65e5\u672c\",\"status\":\"failed\","
	    "\"error_message\":\"Traceback:\\n  line 1\\r  line 2\\r\\n=end %s \","
	    "\"best_score\":null,\"best_params\":{\"a\":\"caf\u00e9\"}}", big);
	mail = send_email_text(docbuf, "trainprog@example.com", "ops@example.com", "d-2", NULL);
	cr_assert_not_null(mail);
	assert_lines(mail, 76);
	/* "Training job régime-日本 failed", in UTF-8, base64. */
	cr_assert_not_null(strstr(mail,
	    "Subject: =?UTF-8?B?VHJhaW5pbmcgam9iIHLDqWdpbWUt5pel5pysIGZhaWxlZA==?=\r\n"),
	    "%s", mail);
	cr_assert_not_null(strstr(mail, "Error:       Traceback:\r\n"
	    "               line 1\r\n               line 2\r\n             =3Dend xxx"),
	    "the error's lines, under its label: %s", mail);
	cr_assert_not_null(strstr(mail, "Training job r=C3=A9gime-=E6=97=A5=E6=9C=AC failed."));
	cr_assert_not_null(strstr(mail, "Best params: a \"caf=C3=A9\"\r\n"));
	cr_assert_not_null(strstr(mail, "xxx=20\r\n"), "a space ending a line is encoded");
	free(mail);
}

/* Decodes standard base64 text[0..n) into out with the library's base64url decoder. */
static size_t
unbase64(const char *text, size_t n, unsigned char *out, size_t size)
{
	char	 url[128];
	size_t	 i, k = 0;
	long	 len;

	cr_assert_lt(n, sizeof(url));
	for (i = 0; i < n && text[i] != '=' ; i++)
		url[k++] = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
	len = b64url_decode(url, k, out, size);
	cr_assert_geq(len, 0, "not base64: %.*s", (int)n, text);
	return (size_t)len;
}

/* A long non-ASCII subject is several encoded words, each of whole characters. */
Test(notify_send, email_subject_folded)
{
	char		 id[256], docbuf[1024];
	char		*mail, *subj, *end;
	int		 i, words = 0;

	/* 85 three-byte characters: 255 bytes, the longest job id. */
	for (i = 0; i < 85; i++)
		memcpy(id + i * 3, "\xe6\x97\xa5", 3);
	id[255] = '\0';
	snprintf(docbuf, sizeof(docbuf), "{\"job_id\":\"%s\",\"status\":\"completed\","
	    "\"error_message\":null,\"best_score\":1,\"best_params\":{}}", id);
	mail = send_email_text(docbuf, "a@b", "c@d", "d-3", NULL);
	cr_assert_not_null(mail);
	assert_lines(mail, 76);
	subj = strstr(mail, "Subject: ");
	end = strstr(subj, "\r\nDate: ");
	cr_assert_not_null(end);
	for (char *p = subj; p < end && (p = strstr(p, "=?UTF-8?B?")) != NULL && p < end; p++) {
		char		*q = strstr(p, "?=");
		unsigned char	 raw[64];
		size_t		 n;

		cr_assert_leq((size_t)(q + 2 - p), 75, "an encoded word of at most 75 characters");
		n = unbase64(p + 10, (size_t)(q - (p + 10)), raw, sizeof(raw));
		/* Valid UTF-8 on its own: no character cut between two words. */
		cr_assert(utf8_valid((const char *)raw, n), "a word of whole characters: %.*s",
		    (int)(q + 2 - p), p);
		words++;
	}
	cr_assert_geq(words, 6, "folded into several words (%d)", words);
	free(mail);
}

/*
 * Text cut to fit a Slack field is cut between characters, so the message
 * is valid UTF-8: an error of 2,000 two-byte characters (4,000 bytes).
 */
Test(notify_send, slack_cuts_between_characters)
{
	char		*docbuf, *body;
	size_t		 i, n = 0;
	cJSON		*j;

	cr_assert_not_null(docbuf = malloc(16384));
	n += (size_t)sprintf(docbuf, "{\"job_id\":\"j\",\"status\":\"failed\",\"error_message\":\"");
	for (i = 0; i < 2000; i++) {
		memcpy(docbuf + n, "\xc3\xa9", 2);
		n += 2;
	}
	sprintf(docbuf + n, "\",\"best_score\":null,\"best_params\":{\"k\":\"");
	n += strlen(docbuf + n);
	for (i = 0; i < 400; i++) {
		memcpy(docbuf + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	sprintf(docbuf + n, "\"}}");
	body = send_slack_body(docbuf, NULL);
	cr_assert_not_null(body);
	cr_assert_not_null(j = cJSON_Parse(body));
	for (i = 0; body[i] != '\0'; i++) {
		unsigned char	 c = (unsigned char)body[i];
		size_t		 k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

		cr_assert_neq(k, 0, "a continuation byte without its lead at %zu", i);
		for (size_t m = 1; m < k; m++)
			cr_assert_eq((unsigned char)body[i + m] & 0xc0, 0x80,
			    "a character cut in two at %zu", i);
		i += k - 1;
	}
	cJSON_Delete(j);
	free(body);
	free(docbuf);
}

/* test_guard.c: fcgi/guard.c: which FastCGI byte streams reach libfcgi. */
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static unsigned char	 buf[300000], scratch[70000];
static size_t		 n;
static struct guard_limits lim = { 4096, 1024 };
static struct guard_info gi;

static void
reset(void)
{
	n = 0;
	memset(&gi, 0, sizeof(gi));
}

TestSuite(guard, .init = reset);

static void
rec(int version, int type, unsigned rid, const void *content, size_t clen, int pad)
{
	unsigned char	*h = buf + n;

	h[0] = (unsigned char)version;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(rid >> 8);
	h[3] = (unsigned char)rid;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)pad;
	h[7] = 0;
	if (clen > 0)
		memcpy(h + 8, content, clen);
	memset(h + 8 + clen, 0, (size_t)pad);
	n += 8 + clen + (size_t)pad;
}

static void
begin(unsigned rid, int role)
{
	unsigned char	 b[8] = { (unsigned char)(role >> 8), (unsigned char)role, 1 };

	rec(1, 1, rid, b, 8, 0);
}

static size_t
pair(unsigned char *p, const char *name, const char *value)
{
	size_t	 nl = strlen(name), vl = strlen(value);

	p[0] = (unsigned char)nl;
	p[1] = (unsigned char)vl;
	memcpy(p + 2, name, nl);
	memcpy(p + 2 + nl, value, vl);
	return 2 + nl + vl;
}

static void
params(unsigned rid)
{
	unsigned char	 p[256];
	size_t		 k = 0;

	k += pair(p + k, "REQUEST_METHOD", "GET");
	k += pair(p + k, "REQUEST_URI", "/api/v2/training/jobs/x/progress");
	rec(1, 4, rid, p, k, 3);
	rec(1, 4, rid, "", 0, 0);
}

static enum guard_parse
parse(void)
{
	return guard_parse(buf, n, &lim, scratch, &gi);
}

Test(guard, a_request_as_nginx_sends_it)
{
	begin(1, 1);
	params(1);
	rec(1, 5, 1, "", 0, 0);
	cr_assert_eq(parse(), GUARD_COMPLETE);
	cr_assert_eq(gi.gi_request_id, 1);
	cr_assert_eq(gi.gi_body, 0);
	cr_assert_gt(gi.gi_params, 0);
}

Test(guard, every_prefix_is_incomplete_not_wrong)
{
	size_t	 full, k;

	begin(7, 1);
	params(7);
	rec(1, 5, 7, "body", 4, 4);
	rec(1, 5, 7, "", 0, 0);
	full = n;
	for (k = 0; k < full; k++) {
		n = k;
		cr_assert_eq(parse(), GUARD_INCOMPLETE, "prefix of %zu bytes", k);
	}
	n = full;
	cr_assert_eq(parse(), GUARD_COMPLETE);
	cr_assert_eq(gi.gi_body, 4);
}

Test(guard, a_body_in_several_records)
{
	unsigned char	 b[300];

	memset(b, 'b', sizeof(b));
	begin(1, 1);
	params(1);
	rec(1, 5, 1, b, 300, 0);
	rec(1, 5, 1, b, 300, 5);
	rec(1, 5, 1, "", 0, 0);
	cr_assert_eq(parse(), GUARD_COMPLETE);
	cr_assert_eq(gi.gi_body, 600);
}

/* Where the parameters end and the request ends: what a request taken off
 * the connection is split at (libfcgi gets the first part). */
Test(guard, the_offsets_of_the_parts)
{
	unsigned char	 b[100];
	size_t		 params_end;

	memset(b, 'b', sizeof(b));
	begin(1, 1);
	params(1);
	params_end = n;
	rec(1, 5, 1, b, 100, 4);
	rec(1, 5, 1, "", 0, 2);
	rec(1, 5, 1, "extra", 5, 0);	/* past the end: not the request's */
	cr_assert_eq(parse(), GUARD_COMPLETE);
	cr_assert_eq(gi.gi_params_end, params_end);
	cr_assert_eq(gi.gi_end, n - 13, "past the empty STDIN record and its padding");
}

static void
expect_malformed(const char *why)
{
	cr_assert_eq(parse(), GUARD_MALFORMED, "expected malformed: %s", why);
	cr_assert_str_eq(gi.gi_why, why);
}

Test(guard, the_first_record_must_be_begin)
{
	params(1);
	expect_malformed("the first record is not BEGIN_REQUEST");
}

Test(guard, management_records)
{
	rec(1, 9, 0, "", 0, 0);
	expect_malformed("a management record (request id 0)");
}

Test(guard, versions_and_roles)
{
	begin(1, 1);
	buf[0] = 2;
	expect_malformed("not FastCGI version 1");
	reset();
	begin(1, 2);
	expect_malformed("a role other than RESPONDER");
	reset();
	rec(1, 1, 1, "12345", 5, 0);	/* BEGIN_REQUEST of the wrong size */
	expect_malformed("the first record is not BEGIN_REQUEST");
}

Test(guard, a_second_begin_and_other_requests)
{
	begin(1, 1);
	begin(1, 1);
	expect_malformed("a second BEGIN_REQUEST");
	reset();
	begin(1, 1);
	params(2);
	expect_malformed("a record of another request");
	reset();
	begin(1, 1);
	params(1);
	begin(1, 1);
	expect_malformed("a second BEGIN_REQUEST");
}

Test(guard, unknown_types_and_aborts)
{
	begin(1, 1);
	rec(1, 42, 1, "x", 1, 0);
	expect_malformed("an unexpected record type among the parameters");
	reset();
	begin(1, 1);
	rec(1, 2, 1, "", 0, 0);
	expect_malformed("ABORT_REQUEST");
	reset();
	begin(1, 1);
	params(1);
	rec(1, 8, 1, "data", 4, 0);	/* FCGI_DATA: the filter role only */
	expect_malformed("an unexpected record type in the body");
}

Test(guard, name_value_pairs_are_checked)
{
	unsigned char	 p[64] = { 0xff, 0xff, 0xff, 0xf0, 0x01, 'A', 'B' };

	begin(1, 1);
	rec(1, 4, 1, p, 7, 0);	/* a name of 2^31 bytes in a 7-byte stream */
	rec(1, 4, 1, "", 0, 0);
	expect_malformed("a parameter longer than the stream");
	reset();
	begin(1, 1);
	p[0] = 0;
	p[1] = 1;
	p[2] = 'v';
	rec(1, 4, 1, p, 3, 0);
	rec(1, 4, 1, "", 0, 0);
	expect_malformed("a parameter without a name");
	reset();
	begin(1, 1);
	rec(1, 4, 1, "\x05", 1, 0);
	rec(1, 4, 1, "", 0, 0);
	expect_malformed("truncated name-value pair");
	reset();
	begin(1, 1);
	rec(1, 4, 1, "\x01\x03" "AB\0C", 6, 0);
	rec(1, 4, 1, "", 0, 0);
	expect_malformed("a NUL byte in a parameter");
}

Test(guard, a_pair_may_span_records)
{
	unsigned char	 p[64];
	size_t		 k = pair(p, "REQUEST_URI", "/x");

	begin(1, 1);
	rec(1, 4, 1, p, 5, 0);
	rec(1, 4, 1, p + 5, k - 5, 0);
	rec(1, 4, 1, "", 0, 0);
	rec(1, 5, 1, "", 0, 0);
	cr_assert_eq(parse(), GUARD_COMPLETE);
}

Test(guard, limits)
{
	unsigned char	 big[5000];

	memset(big, 'x', sizeof(big));
	begin(3, 1);
	rec(1, 4, 3, big, 5000, 0);
	n -= 4000;		/* only the header and a little has arrived */
	cr_assert_eq(parse(), GUARD_TOO_LARGE, "over max_params_size, known before it all arrives");
	cr_assert_eq(gi.gi_status, 431);
	cr_assert_eq(gi.gi_request_id, 3);
	reset();
	begin(3, 1);
	params(3);
	rec(1, 5, 3, big, 1025, 0);
	cr_assert_eq(parse(), GUARD_TOO_LARGE);
	cr_assert_eq(gi.gi_status, 413);
	reset();
	begin(3, 1);
	params(3);
	rec(1, 5, 3, big, 1024, 0);
	rec(1, 5, 3, "", 0, 0);
	cr_assert_eq(parse(), GUARD_COMPLETE, "exactly the limit is fine");
}

Test(guard, the_buffer_holds_the_largest_request)
{
	struct guard_limits	 l = { 65536, 65536 };
	unsigned char		 big[65535];
	size_t			 k;

	memset(big, 'y', sizeof(big));
	/* Parameters of exactly 65536 bytes, in records of 65535 + 1, padded. */
	big[0] = 0x80;
	big[1] = 0;
	big[2] = 0xff;
	big[3] = 0xf5;	/* name of 65525 bytes: 4 + 1 + 65525 + 6 = 65536 */
	big[4] = 6;	/* value of 6 bytes */
	begin(1, 1);
	rec(1, 4, 1, big, 65535, 255);
	rec(1, 4, 1, "y", 1, 255);
	rec(1, 4, 1, "", 0, 0);
	for (k = 0; k < 65536; k += 65535)
		rec(1, 5, 1, big, 65536 - k < 65535 ? 65536 - k : 65535, 255);
	rec(1, 5, 1, "", 0, 0);
	cr_assert_leq(n, guard_buffer_size(&l));
	cr_assert_eq(guard_parse(buf, n, &l, scratch, &gi), GUARD_COMPLETE);
}

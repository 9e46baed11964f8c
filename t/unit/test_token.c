/* test_token.c: lib/sha256.c and lib/token.c: hashes, base64url, token shapes. */
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/internal.h"

static void
hex(const unsigned char *d, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

Test(sha256, known_vectors)
{
	/* FIPS 180-2 examples, and the empty string. */
	static const struct { const char *in; const char *out; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	unsigned char	 d[32];
	char		 h[65];
	size_t		 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256(v[i].in, strlen(v[i].in), d);
		hex(d, 32, h);
		cr_assert_str_eq(h, v[i].out, "sha256(\"%s\")", v[i].in);
	}
}

Test(sha256, a_million_a_crosses_many_blocks)
{
	static char	 buf[1000000];
	unsigned char	 d[32];
	char		 h[65];

	memset(buf, 'a', sizeof(buf));
	sha256(buf, sizeof(buf), d);
	hex(d, 32, h);
	cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, equal_ct_compares_every_byte)
{
	cr_assert(equal_ct("abcd", "abcd", 4));
	cr_assert_not(equal_ct("abcd", "abce", 4));
	cr_assert_not(equal_ct("xbcd", "abcd", 4));
	cr_assert(equal_ct("", "", 0));
}

Test(b64url, round_trips_and_refuses_what_it_did_not_write)
{
	unsigned char	 raw[64], back[64];
	char		 enc[100];
	long		 n;
	size_t		 len, i;

	for (len = 0; len <= 40; len++) {
		for (i = 0; i < len; i++)
			raw[i] = (unsigned char)(i * 37 + len);
		n = b64url_encode(raw, len, enc, sizeof(enc));
		cr_assert_eq((size_t)n, (len * 4 + 2) / 3);
		cr_assert_null(strpbrk(enc, "+/="), "url-safe, unpadded: %s", enc);
		cr_assert_eq(b64url_decode(enc, (size_t)n, back, sizeof(back)), (long)len);
		cr_assert_eq(memcmp(raw, back, len), 0);
	}
	cr_assert_eq(b64url_encode("abc", 3, enc, 4), -1, "too small");
	cr_assert_eq(b64url_decode("YW+j", 4, back, sizeof(back)), -1, "not base64url");
	cr_assert_eq(b64url_decode("YWI", 3, back, sizeof(back)), 2);
	cr_assert_eq(b64url_decode("YWJ", 3, back, sizeof(back)), -1, "non-zero padding bits");
	cr_assert_eq(b64url_decode("Y", 1, back, sizeof(back)), -1, "one char holds no byte");
	cr_assert_eq(b64url_decode("YWJj", 4, back, 2), -1, "does not fit");
}

Test(token, generate_makes_distinct_tokens_parse_accepts)
{
	char		 a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1];
	const char	*secret;

	cr_assert_eq(token_generate(a, sizeof(a)), 0);
	cr_assert_eq(token_generate(b, sizeof(b)), 0);
	cr_assert_eq(strlen(a), TOKEN_LEN);
	cr_assert_str_neq(a, b);
	cr_assert_eq(strncmp(a, "tp_", 3), 0);
	cr_assert_eq(token_parse(a, id, &secret), 0);
	cr_assert_eq(strlen(id), TOKEN_ID_LEN);
	cr_assert_eq(strncmp(a + 3, id, TOKEN_ID_LEN), 0);
	cr_assert_eq(secret, a + 4 + TOKEN_ID_LEN);
	cr_assert_eq(token_generate(a, TOKEN_LEN), -1, "no room for the NUL");
}

Test(token, parse_refuses_other_shapes)
{
	static const char *const bad[] = {
		"",
		"tp_",
		"tp_0123456789ab_",
		"tp_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",	/* 42 */
		"tp_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",	/* 44 */
		"tp_0123456789AB_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",	/* upper hex */
		"xx_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"tp_0123456789ab-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"tp_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+",
		"tp_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ",
	};
	char		 id[TOKEN_ID_LEN + 1];
	const char	*secret;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(token_parse(bad[i], id, &secret), -1, "%s", bad[i]);
	cr_assert_eq(token_parse(NULL, id, &secret), -1);
	cr_assert_eq(token_parse("tp_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-", id,
	    &secret), 0);
}

/* RFC 4648's test vectors, standard alphabet and padded (email headers). */
Test(token, base64_standard)
{
	static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
	    "Zm9vYmFy" };
	char	 out[16];
	size_t	 i;

	for (i = 0; i < 7; i++) {
		cr_assert_eq(b64_encode("foobar", i, out, sizeof(out)), (long)strlen(want[i]));
		cr_assert_str_eq(out, want[i]);
	}
	cr_assert_eq(b64_encode("\xfb\xff", 2, out, sizeof(out)), 4);
	cr_assert_str_eq(out, "+/8=", "the standard alphabet's last two digits");
	cr_assert_eq(b64_encode("foo", 3, out, 4), -1, "no room for the NUL");
}

/*
 * test_sha256.c: lib/sha256.c: SHA-256 against FIPS 180-4's examples, and
 * HMAC-SHA256 against RFC 4231's test cases (the signatures of
 * notifications depend on it).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/internal.h"

static void
hex(const unsigned char *d, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
unhex(const char *s, unsigned char *out, size_t *n)
{
	unsigned int	 b;

	for (*n = 0; s[0] != '\0' && sscanf(s, "%2x", &b) == 1; s += 2)
		out[(*n)++] = (unsigned char)b;
}

Test(sha256, fips_examples)
{
	unsigned char	 d[32];
	char		 h[65];

	sha256("abc", 3, d);
	hex(d, 32, h);
	cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, 32, h);
	cr_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* RFC 4231, section 4: keys and data in hex, HMAC-SHA-256 in hex. */
static const struct {
	const char	*key, *data, *mac;
} rfc4231[] = {
	{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddddddddddddd",
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	/* A key longer than the block: hashed first. */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaa",	/* 131 bytes */
	  "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048"
	  "617368204b6579204669727374",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
};

Test(sha256, hmac_rfc4231)
{
	unsigned char	 key[256], data[256], mac[32];
	char		 h[65];
	size_t		 kn, dn, i;

	for (i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		unhex(rfc4231[i].key, key, &kn);
		unhex(rfc4231[i].data, data, &dn);
		cr_assert_eq(hmac_sha256(key, kn, data, dn, mac), 0);
		hex(mac, 32, h);
		cr_assert_str_eq(h, rfc4231[i].mac, "case %zu", i + 1);
	}
}

Test(sha256, hmac_of_nothing)
{
	unsigned char	 mac[32];
	char		 h[65];

	/* Python: hmac.new(b"", b"", "sha256").hexdigest() */
	cr_assert_eq(hmac_sha256("", 0, "", 0, mac), 0);
	hex(mac, 32, h);
	cr_assert_str_eq(h, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

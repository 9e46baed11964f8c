/* token.c: the shape of the API's bearer tokens: tp_<id>_<secret>. */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "internal.h"

static const char	 b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
token_parse(const char *token, char id[TOKEN_ID_LEN + 1], const char **secret)
{
	size_t	 i;

	if (token == NULL || strlen(token) != TOKEN_LEN || strncmp(token, "tp_", 3) != 0 ||
	    token[3 + TOKEN_ID_LEN] != '_')
		return -1;
	for (i = 0; i < TOKEN_ID_LEN; i++) {
		char c = token[3 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		id[i] = c;
	}
	id[TOKEN_ID_LEN] = '\0';
	*secret = token + 3 + TOKEN_ID_LEN + 1;
	for (i = 0; i < TOKEN_SECRET_LEN; i++)
		if (strchr(b64url, (*secret)[i]) == NULL || (*secret)[i] == '\0')
			return -1;
	return 0;
}

/* Fills buf with n random bytes from the kernel.  0 or -1. */
static int
random_bytes(unsigned char *buf, size_t n)
{
	ssize_t	 r;
	size_t	 got = 0;

	while (got < n) {
		if ((r = getrandom(buf + got, n - got, 0)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* RFC 4648 base64 in `digits`, padded with '=' to a multiple of 4 when pad. */
static long
b64_encode_in(const char *digits, bool pad, const void *data, size_t len, char *out,
    size_t size)
{
	const unsigned char	*p = data;
	size_t			 i, o = 0;
	uint32_t		 v = 0;
	int			 bits = 0;

	if (size < (pad ? (len + 2) / 3 * 4 : (len * 4 + 2) / 3) + 1)
		return -1;
	for (i = 0; i < len; i++) {
		v = v << 8 | p[i];
		bits += 8;
		while (bits >= 6) {
			out[o++] = digits[(v >> (bits - 6)) & 0x3f];
			bits -= 6;
		}
	}
	if (bits > 0)
		out[o++] = digits[(v << (6 - bits)) & 0x3f];
	while (pad && o % 4 != 0)
		out[o++] = '=';
	out[o] = '\0';
	return (long)o;
}

long
b64url_encode(const void *data, size_t len, char *out, size_t size)
{
	return b64_encode_in(b64url, false, data, len, out, size);
}

long
b64_encode(const void *data, size_t len, char *out, size_t size)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	return b64_encode_in(digits, true, data, len, out, size);
}

long
b64url_decode(const char *s, size_t len, unsigned char *out, size_t size)
{
	const char	*c;
	size_t		 i, o = 0;
	uint32_t	 v = 0;
	int		 bits = 0;

	/* One leftover character cannot hold a byte. */
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || (c = strchr(b64url, s[i])) == NULL)
			return -1;
		v = v << 6 | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			if (o == size)
				return -1;
			out[o++] = (unsigned char)(v >> (bits - 8));
			bits -= 8;
		}
	}
	/* The padding bits of the last character must be zero (one spelling each). */
	if (bits > 0 && (v & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

int
token_generate(char *buf, size_t size)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[6 + 32];
	size_t			 i, o = 0;
	long			 n;

	if (size < TOKEN_LEN + 1 || random_bytes(raw, sizeof(raw)) == -1)
		return -1;
	memcpy(buf, "tp_", 3);
	o = 3;
	for (i = 0; i < 6; i++) {
		buf[o++] = hex[raw[i] >> 4];
		buf[o++] = hex[raw[i] & 0xf];
	}
	buf[o++] = '_';
	/* base64url of the 32 secret bytes, without padding: 43 characters. */
	n = b64url_encode(raw + 6, 32, buf + o, size - o);
	explicit_bzero(raw, sizeof(raw));
	return n == TOKEN_SECRET_LEN ? 0 : -1;
}

/* common.c: named checks and reference checkers for the fuzz targets, apart from the product. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"

/* Is name one of the comma-separated names in list? */
static bool
listed(const char *list, const char *name)
{
	size_t	 n = strlen(name), k;

	while (list != NULL && *list != '\0') {
		k = strcspn(list, ",");
		if (k == n && memcmp(list, name, n) == 0)
			return true;
		list += k;
		if (*list == ',')
			list++;
	}
	return false;
}

void
fuzz_fail(const char *name, const char *file, int line, const char *fmt, ...)
{
	static const char	*told[32];
	static int		 ntold;
	va_list			 ap;
	int			 i;

	if (listed(getenv("FUZZ_ALLOW"), name)) {
		for (i = 0; i < ntold; i++)
			if (strcmp(told[i], name) == 0)
				return;
		if (ntold < (int)(sizeof(told) / sizeof(told[0])))
			told[ntold++] = name;
		fprintf(stderr, "==FUZZ== check \"%s\" failed at %s:%d (allowed by FUZZ_ALLOW, "
		    "told once): ", name, file, line);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		return;
	}
	fprintf(stderr, "\n==FUZZ== check \"%s\" failed at %s:%d: ", name, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* --- UTF-8 ------------------------------------------------------------ */

size_t
ref_utf8_char(const unsigned char *s, size_t left, uint32_t *cp)
{
	/* Table 3-7: the allowed range of each byte after the first. */
	unsigned char	 lo1 = 0x80, hi1 = 0xbf;
	size_t		 n, i;
	uint32_t	 c;

	if (left == 0)
		return 0;
	if (s[0] <= 0x7f) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo1 = 0xa0;
		else if (s[0] == 0xed)
			hi1 = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo1 = 0x90;
		else if (s[0] == 0xf4)
			hi1 = 0x8f;
	} else
		return 0;
	if (left < n)
		return 0;
	if (s[1] < lo1 || s[1] > hi1)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	c = s[0] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
	for (i = 1; i < n; i++)
		c = c << 6 | (s[i] & 0x3f);
	*cp = c;
	return n;
}

bool
ref_utf8_valid(const void *v, size_t len)
{
	const unsigned char	*s = v;
	uint32_t		 cp;
	size_t			 i, n;

	for (i = 0; i < len; i += n)
		if ((n = ref_utf8_char(s + i, len - i, &cp)) == 0)
			return false;
	return true;
}

char *
ref_utf8_scrub(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 len = strlen(str), i, n, o = 0;
	uint32_t		 cp;
	char			*out;

	if ((out = malloc(3 * len + 1)) == NULL)
		abort();
	for (i = 0; i < len; i += n)
		if ((n = ref_utf8_char(s + i, len - i, &cp)) == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			n = 1;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
		}
	out[o] = '\0';
	return out;
}

bool
ref_job_id_ok(const void *v, size_t len)
{
	const unsigned char	*s = v;
	uint32_t		 cp;
	size_t			 i, n;

	if (len < 1 || len > 255)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < len; i += n) {
		if ((n = ref_utf8_char(s + i, len - i, &cp)) == 0)
			return false;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			return false;
	}
	return true;
}

/* --- strict JSON ------------------------------------------------------ */

#define SJ_DEPTH_MAX	10000

struct sj {
	const unsigned char	*p;
	int			 depth;
};

static void
sj_ws(struct sj *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static long
sj_hex4(const unsigned char *p)
{
	long	 v = 0;
	int	 i, d;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static bool
sj_string(struct sj *j)
{
	long	 u, lo;

	if (*j->p != '"')
		return false;
	for (j->p++; ; ) {
		if (*j->p == '"') {
			j->p++;
			return true;
		}
		if (*j->p < 0x20)	/* NUL (the end) included */
			return false;
		if (*j->p != '\\') {
			j->p++;
			continue;
		}
		j->p++;
		if (strchr("\"\\/bfnrt", *j->p) != NULL && *j->p != '\0') {
			j->p++;
			continue;
		}
		if (*j->p != 'u' || (u = sj_hex4(j->p + 1)) < 0)
			return false;
		j->p += 5;
		if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
			return false;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (j->p[0] != '\\' || j->p[1] != 'u' || (lo = sj_hex4(j->p + 2)) < 0xdc00 ||
			    lo > 0xdfff)
				return false;
			j->p += 6;
		}
	}
}

static bool
sj_digits(struct sj *j)
{
	if (*j->p < '0' || *j->p > '9')
		return false;
	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return true;
}

static bool
sj_number(struct sj *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!sj_digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!sj_digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!sj_digits(j))
			return false;
	}
	return true;
}

static bool	 sj_value(struct sj *j);

static bool
sj_container(struct sj *j, char close, bool object)
{
	if (++j->depth > SJ_DEPTH_MAX)
		return false;
	j->p++;
	sj_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			if (!sj_string(j))
				return false;
			sj_ws(j);
			if (*j->p++ != ':')
				return false;
			sj_ws(j);
		}
		if (!sj_value(j))
			return false;
		sj_ws(j);
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return true;
		}
		if (*j->p++ != ',')
			return false;
		sj_ws(j);
	}
}

static bool
sj_value(struct sj *j)
{
	switch (*j->p) {
	case '{':
		return sj_container(j, '}', true);
	case '[':
		return sj_container(j, ']', false);
	case '"':
		return sj_string(j);
	case 't':
		return strncmp((const char *)j->p, "true", 4) == 0 && (j->p += 4, true);
	case 'f':
		return strncmp((const char *)j->p, "false", 5) == 0 && (j->p += 5, true);
	case 'n':
		return strncmp((const char *)j->p, "null", 4) == 0 && (j->p += 4, true);
	default:
		return sj_number(j);
	}
}

bool
strict_json(const char *text, bool *is_object)
{
	struct sj	 j = { (const unsigned char *)text, 0 };
	bool		 object;

	sj_ws(&j);
	object = *j.p == '{';
	if (!sj_value(&j))
		return false;
	sj_ws(&j);
	if (*j.p != '\0')
		return false;
	if (is_object != NULL)
		*is_object = object;
	return true;
}

/* --- error documents ---------------------------------------------------- */

/* The string member `name` of obj, or NULL. */
static const char *
member_string(const cJSON *obj, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

void
check_error_doc(char *doc, size_t len, const char *code, const char *message,
    const char *field)
{
	cJSON		*d;
	const char	*got;
	char		*want;
	bool		 object = false;

	CHECK("error-doc", doc != NULL, "render_error_field() returned NULL for \"%s\"", message);
	if (doc == NULL)
		return;
	CHECK("error-doc", strlen(doc) == len, "length %zu, told %zu", strlen(doc), len);
	CHECK("error-doc-utf8", ref_utf8_valid(doc, strlen(doc)),
	    "the error document is not valid UTF-8: %s", doc);
	CHECK("error-doc", strict_json(doc, &object) && object,
	    "the error document is not a strict JSON object: %s", doc);
	d = cJSON_Parse(doc);
	CHECK("error-doc", d != NULL, "cJSON cannot read the error document: %s", doc);
	got = member_string(d, "error");
	CHECK("error-doc", got != NULL && strcmp(got, code) == 0, "\"error\" is not %s: %s",
	    code, doc);
	want = ref_utf8_scrub(message);
	got = member_string(d, "message");
	CHECK("error-doc", got != NULL && strcmp(got, want) == 0,
	    "\"message\" is not the scrubbed message: %s", doc);
	free(want);
	got = member_string(d, "field");
	if (field == NULL)
		CHECK("error-doc", cJSON_GetObjectItemCaseSensitive(d, "field") == NULL,
		    "a \"field\" without one: %s", doc);
	else {
		want = ref_utf8_scrub(field);
		CHECK("error-doc", got != NULL && strcmp(got, want) == 0,
		    "\"field\" is not the scrubbed field: %s", doc);
		free(want);
	}
	cJSON_Delete(d);
	free(doc);
}

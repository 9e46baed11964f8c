/* fuzz_json.c: libFuzzer target for the JSON and UTF-8 checks of lib/progress.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../lib/internal.h"
#include "common.h"

/* Largest JSON text json_object_problem() takes (TP_JSON_MAX). */
#define JSON_MAX	65536

static void
check_utf8(const uint8_t *data, size_t size, const char *s)
{
	size_t	 len = strlen(s), max[8], k, i, j, n;
	uint32_t cp;
	char	*out, *want;

	CHECK("utf8-valid", utf8_valid((const char *)data, size) == ref_utf8_valid(data, size),
	    "utf8_valid() says %d for %zu bytes", utf8_valid((const char *)data, size), size);

	out = utf8_scrub(s);
	want = ref_utf8_scrub(s);
	CHECK("utf8-scrub", out != NULL && ref_utf8_valid(out, strlen(out)),
	    "utf8_scrub() output is not UTF-8");
	CHECK("utf8-scrub", out != NULL && strcmp(out, want) == 0,
	    "utf8_scrub() replaced other bytes than the reference");
	if (out != NULL && ref_utf8_valid(s, len))
		CHECK("utf8-scrub", strcmp(out, s) == 0, "utf8_scrub() changed valid UTF-8");
	free(out);
	free(want);

	max[0] = 0;
	max[1] = 1;
	max[2] = size > 0 ? data[0] : 2;
	max[3] = len;
	max[4] = len > 0 ? len - 1 : 3;
	max[5] = 24;
	max[6] = 64;
	max[7] = (size_t)-1;
	for (i = 0; i < sizeof(max) / sizeof(max[0]); i++) {
		k = utf8_prefix(s, max[i]);
		CHECK("utf8-prefix", k <= max[i] && k <= len, "utf8_prefix(%zu bytes, %zu) = %zu",
		    len, max[i], k);
		/* k is where a unit starts (a character, or a byte that is none)... */
		for (j = 0; j < k; j += n)
			if ((n = ref_utf8_char((const unsigned char *)s + j, len - j, &cp)) == 0)
				n = 1;
		CHECK("utf8-prefix", j == k, "utf8_prefix(%zu bytes, %zu) = %zu cuts a character "
		    "ending at %zu", len, max[i], k, j);
		/* ... and the longest such. */
		if (j == k && k < len) {
			if ((n = ref_utf8_char((const unsigned char *)s + k, len - k, &cp)) == 0)
				n = 1;
			CHECK("utf8-prefix", k + n > max[i], "utf8_prefix(%zu bytes, %zu) = %zu, "
			    "but the next character fits", len, max[i], k);
		}
		if (ref_utf8_valid(s, len))
			CHECK("utf8-prefix", ref_utf8_valid(s, k), "a prefix of valid UTF-8 is not");
	}
}

static void
check_job_id(const uint8_t *data, size_t size)
{
	const char	*why = tp_job_id_problem((const char *)data, size);

	CHECK("job-id", (why == NULL) == ref_job_id_ok(data, size),
	    "tp_job_id_problem(%zu bytes) = %s", size, why != NULL ? why : "NULL");
}

/* The value of the four hex digits at p, or -1. */
static long
hex4(const char *p)
{
	long	 v = 0;
	int	 i;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			v = v << 4 | (p[i] - '0');
		else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')
			v = v << 4 | ((p[i] | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/*
 * Does text cJSON accepts hold a \u escape jsonb refuses: \u0000, one
 * without four hex digits (cJSON reads \uZZZZ as \u0000), or half a
 * surrogate pair?  With zero_only, \u0000 alone counts.
 */
static bool
bad_escape(const char *s, bool zero_only)
{
	bool	 in = false;
	long	 u, lo;

	for (; *s != '\0'; s++) {
		if (!in)
			in = *s == '"';
		else if (*s == '"')
			in = false;
		else if (*s == '\\' && s[1] == 'u') {
			u = hex4(s + 2);
			if (u == 0 || (!zero_only && (u < 0 || (u >= 0xdc00 && u <= 0xdfff))))
				return true;
			if (u >= 0xd800 && u <= 0xdbff) {
				lo = s[6] == '\\' && s[7] == 'u' ? hex4(s + 8) : -1;
				if (!zero_only && (lo < 0xdc00 || lo > 0xdfff))
					return true;
				if (lo >= 0xdc00 && lo <= 0xdfff)
					s += 6;
			}
			s += 5;
		} else if (*s == '\\')
			s++;
	}
	return false;
}

/* Does a number in JSON text have an exponent (outside strings, a digit then e)? */
static bool
has_exponent(const char *s)
{
	bool	 in = false;

	for (; *s != '\0'; s++) {
		if (in && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			in = !in;
		else if (!in && (*s == 'e' || *s == 'E') && s[-1] >= '0' && s[-1] <= '9')
			return true;
	}
	return false;
}

static void
check_json(const char *s)
{
	const char	*why, *esc;
	cJSON		*doc;
	size_t		 len = strlen(s);
	bool		 object = false, strict;

	/* Its contract is text cJSON reads, but it must not overrun any other. */
	(void)json_lexical_problem(s);
	why = json_object_problem(s);
	doc = cJSON_ParseWithOpts(s, NULL, 1);
	if (why == NULL) {
		CHECK("json-object", cJSON_IsObject(doc), "accepted, but cJSON reads no object");
		CHECK("json-object", len <= JSON_MAX && ref_utf8_valid(s, len),
		    "accepted %zu bytes, or not UTF-8", len);
		CHECK("json-object", !bad_escape(s, true), "accepted with \\u0000");
		strict = strict_json(s, &object);
		CHECK("strict-json", strict && object,
		    "json_object_problem() accepts what PostgreSQL's jsonb refuses: %.200s", s);
	}
	/*
	 * And the other way: an object cJSON reads, as RFC 8259 writes it, whose
	 * numbers print as they are written (no exponent), within half the limit.
	 */
	if (doc != NULL && len <= JSON_MAX / 2 && ref_utf8_valid(s, len) &&
	    strict_json(s, &object) && object && !has_exponent(s))
		CHECK("json-false-refusal", why == NULL, "refused a strict JSON object: %s", why);
	if (doc != NULL) {
		/* Its contract: well-formed JSON text (cJSON's reading of it). */
		esc = json_escape_problem(s);
		CHECK("json-escape", (esc != NULL) == bad_escape(s, false),
		    "json_escape_problem() = %s", esc != NULL ? esc : "NULL");
		if (cJSON_IsObject(doc) && len <= JSON_MAX && ref_utf8_valid(s, len) && esc == NULL &&
		    json_lexical_problem(s) == NULL)
			CHECK("json-object", why == NULL, "refused a fine object: %s", why);
	}
	cJSON_Delete(doc);
}

/* Input: any bytes, as text (up to the first NUL) and as a job id (all of it). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s = fuzz_strndup(data, size);

	check_utf8(data, size, s);
	check_job_id(data, size);
	check_json(s);
	free(s);
	return 0;
}

/* common.h: what the fuzz targets share: named checks, reference checkers. */
#ifndef TP_FUZZ_COMMON_H
#define TP_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point, declared for -Wmissing-prototypes. */
int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property that must hold.  When it does not, prints the check's name and
 * why, then aborts (libFuzzer saves the input), unless the name is listed in
 * the environment's FUZZ_ALLOW (comma-separated): then it is reported once per
 * process and the target goes on, so that a known, open finding does not hide
 * the next one.
 */
#define CHECK(name, cond, ...) do {						\
	if (!(cond))								\
		fuzz_fail((name), __FILE__, __LINE__, __VA_ARGS__);		\
} while (0)

void	 fuzz_fail(const char *name, const char *file, int line, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* data[0..size) as a malloc'd string of exactly size + 1 bytes, NUL added. */
char	*fuzz_strndup(const uint8_t *data, size_t size);

/*
 * UTF-8 after the Unicode standard's table 3-7 (well-formed byte
 * sequences): the length of the character at s (at most left bytes), or 0.
 */
size_t	 ref_utf8_char(const unsigned char *s, size_t left, uint32_t *cp);
bool	 ref_utf8_valid(const void *s, size_t len);
/* s with each byte that does not start a well-formed character as U+FFFD. */
char	*ref_utf8_scrub(const char *s);
/* The rules of a job id (include/tp/progress.h), checked here independently. */
bool	 ref_job_id_ok(const void *id, size_t len);

/*
 * Is text (NUL-terminated) JSON as RFC 8259 and PostgreSQL's jsonb read it:
 * whitespace only space, tab, LF and CR, numbers -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?,
 * no raw control character in a string, no \u0000, surrogates in pairs?
 * *is_object (may be NULL) tells whether the value is an object.
 */
bool	 strict_json(const char *text, bool *is_object);

/*
 * Checks an error document as render_error_field() writes it: not NULL, len
 * its length, valid UTF-8, strict JSON, an object with "error" = code,
 * "message" = message with invalid UTF-8 replaced, and "field" likewise (or
 * absent when field is NULL).  Frees doc.
 */
void	 check_error_doc(char *doc, size_t len, const char *code, const char *message,
	    const char *field);

#endif /* TP_FUZZ_COMMON_H */

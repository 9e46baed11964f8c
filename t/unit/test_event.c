/* test_event.c: fcgi/event.c: published events, as the pool reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static struct event	 ev;
static char		*copy;

/* Parses text as a body would arrive: a private, NUL-terminated copy. */
static int
parse(const char *text, size_t len)
{
	free(copy);
	event_free(&ev);
	cr_assert_not_null(copy = malloc(len + 1));
	memcpy(copy, text, len);
	copy[len] = '\0';
	return event_parse(copy, len, &ev);
}

static int
parse_str(const char *text)
{
	return parse(text, strlen(text));
}

static void
teardown(void)
{
	event_free(&ev);
	free(copy);
	copy = NULL;
}

TestSuite(event, .fini = teardown);

Test(event, a_plain_update)
{
	cr_assert_eq(parse_str("{\"seq\": 3, \"event\": \"update\", \"step_percentage\": 60,"
	    " \"best_params\": {\"a\": 12345678901234567890}}"), 0, "%s", ev.ev_problem);
	cr_assert_eq(ev.ev_kind, EV_UPDATE);
	cr_assert_eq(ev.ev_seq, 3);
	cr_assert_str_eq(ev.ev_update.best_params, "{\"a\": 12345678901234567890}",
	    "the object's text, exactly as sent");
}

/*
 * cJSON skips a byte order mark at the start, and takes every byte from 0x01
 * to 0x20 as whitespace; the scan that finds each field's text must agree,
 * or it finds nothing (a body like these crashed the worker).
 */
Test(event, a_byte_order_mark_leads)
{
	cr_assert_eq(parse_str("\xEF\xBB\xBF{\"seq\": 1, \"event\": \"start\", \"step\": "
	    "\"data_collection\", \"step_details\": {\"k\": 1}}"), 0, "%s", ev.ev_problem);
	cr_assert_eq(ev.ev_seq, 1);
	cr_assert_str_eq(ev.ev_step, "data_collection");
	cr_assert_str_eq(ev.ev_details, "{\"k\": 1}");
}

Test(event, every_control_byte_cjson_skips_is_whitespace)
{
	char	 body[256];
	int	 c, n;

	for (c = 0x01; c <= 0x20; c++) {
		n = snprintf(body, sizeof(body), "%c{%c\"seq\"%c:%c7%c,%c\"event\"%c:%c\"update\"%c,"
		    "\"step_details\":%c{\"a\": 1}%c,\"best_params\":{}%c}%c",
		    c, c, c, c, c, c, c, c, c, c, c, c, c);
		cr_assert_eq(parse(body, (size_t)n), 0, "byte 0x%02x: %s", c, ev.ev_problem);
		cr_assert_eq(ev.ev_seq, 7, "byte 0x%02x", c);
		cr_assert_str_eq(ev.ev_update.details, "{\"a\": 1}", "byte 0x%02x", c);
		cr_assert_str_eq(ev.ev_update.best_params, "{}", "byte 0x%02x", c);
	}
}

/*
 * What is stored must be what PostgreSQL's json reads, which is stricter
 * than cJSON: inside step_details and best_params, a control byte between
 * tokens or raw in a string, or a number such as 01 or 1., is a 400 naming
 * the field (it was a 500 from the database).
 */
Test(event, inside_stored_objects_json_is_strict)
{
	static const char *const bad[] = {
		"{\"a\":\x0b" "1}", "{\"a\": \"x\x01y\"}", "{\"a\": 01}", "{\"a\": 1.}",
		"{\"a\": -01}", "{\"a\": [1.e5]}", "{\"a\":\x1f" "1}",
	};
	char	 body[256];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"seq\": 1, \"event\": \"update\", "
		    "\"best_params\": %s}", bad[i]);
		cr_assert_eq(parse_str(body), -1, "%s", bad[i]);
		cr_assert_str_eq(ev.ev_field, "best_params", "%s", bad[i]);
	}
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"update\", \"best_params\": "
	    "{\"a\": [0, -0, 0.5, 1e5, 1E+5, -2.5e-3, 10]}}"), 0, "%s", ev.ev_problem);
}

Test(event, what_cjson_refuses_is_refused)
{
	cr_assert_eq(parse_str(" \xEF\xBB\xBF{\"seq\": 1, \"event\": \"complete\"}"), -1,
	    "a byte order mark after whitespace is not one");
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"complete\"}\x80"), -1);
	cr_assert_eq(parse("{\"seq\": 1,\0 \"event\": \"complete\"}", 31), -1);
}

Test(event, a_number_postgresql_cannot_store_is_a_400_naming_the_field)
{
	cr_assert_eq(parse_str("{\"seq\": 2, \"event\": \"update\", "
	    "\"best_params\": {\"x\": 1e1000000}}"), -1);
	cr_assert_str_eq(ev.ev_field, "best_params");
	cr_assert_not_null(strstr(ev.ev_problem, "out of range"), "%s", ev.ev_problem);
	cr_assert_eq(parse_str("{\"seq\": 2, \"event\": \"start\", \"step\": \"optimization\", "
	    "\"step_details\": {\"x\": [0.5e-20000]}}"), -1);
	cr_assert_str_eq(ev.ev_field, "step_details");
}

Test(event, an_unknown_field_is_quoted_short_and_whole)
{
	char	 body[512];

	/* 63 bytes of 'a', then a two-byte character across the 64-byte cut. */
	snprintf(body, sizeof(body), "{\"%s\xc3\xa9\": 1, \"seq\": 1, \"event\": \"complete\"}",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	cr_assert_eq(parse_str(body), -1);
	cr_assert_eq(strlen(ev.ev_field), 63, "cut before the character, not inside it");
	cr_assert(utf8_valid(ev.ev_problem, strlen(ev.ev_problem)), "%s", ev.ev_problem);
}

/* cJSON ends its strings at \u0000: "seq\u0000" must not pass for "seq". */
Test(event, a_nul_escape_anywhere_is_refused)
{
	static const char *const bad[] = {
		"{\"seq\\u0000\": 1, \"event\": \"complete\"}",
		"{\"seq\": 1, \"event\": \"complete\\u0000\"}",
		"{\"seq\": 1, \"event\": \"update\", \"step_percentage\\u0000x\": 50}",
		"{\"seq\": 1, \"event\": \"error\", \"error_message\": \"a\\u0000b\"}",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_str(bad[i]), -1, "%s", bad[i]);
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"error\", \"error_message\": "
	    "\"a\\\\u0000b\"}"), 0, "an escaped backslash, then text: %s", ev.ev_problem);
}

/* "null: as if not given" does not make a field allowed twice. */
Test(event, a_null_member_counts_as_given)
{
	cr_assert_eq(parse_str("{\"event\": null, \"event\": \"complete\", \"seq\": 1}"), -1);
	cr_assert_str_eq(ev.ev_field, "event");
}

/* cJSON reads \u00zz as U+0000 and cuts the name there: refused, saying why. */
Test(event, a_malformed_escape_in_a_name_is_refused)
{
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"complete\\u00zz\"}"), -1);
	cr_assert_not_null(strstr(ev.ev_problem, "malformed"), "%s", ev.ev_problem);
}

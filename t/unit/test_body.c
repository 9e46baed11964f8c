/* test_body.c: fcgi/body.c: the body of POST .../progress, as the pool reads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

static struct posted_event	 ev;
static char		*copy;

/* Parses text as a body would arrive: a private, NUL-terminated copy. */
static int
parse(const char *text, size_t len)
{
	free(copy);
	body_free(&ev);
	cr_assert_not_null(copy = malloc(len + 1));
	memcpy(copy, text, len);
	copy[len] = '\0';
	return body_parse(copy, len, &ev);
}

static int
parse_str(const char *text)
{
	return parse(text, strlen(text));
}

/* The body is refused, naming field (or none) and saying words. */
static void
refused(const char *text, const char *field, const char *words)
{
	cr_assert_eq(parse_str(text), -1, "accepted: %s", text);
	if (field == NULL)
		cr_assert_null(ev.pe_field, "%s: field %s", text, ev.pe_field);
	else
		cr_assert(ev.pe_field != NULL && strcmp(ev.pe_field, field) == 0,
		    "%s: field %s, want %s", text, ev.pe_field ? ev.pe_field : "(none)", field);
	cr_assert_not_null(strstr(ev.pe_problem, words), "%s: \"%s\" lacks \"%s\"", text,
	    ev.pe_problem, words);
}

static void
teardown(void)
{
	body_free(&ev);
	free(copy);
	copy = NULL;
}

TestSuite(event, .fini = teardown);

Test(event, a_plain_update)
{
	cr_assert_eq(parse_str("{\"seq\": 3, \"event\": \"update\", \"step_percentage\": 60,"
	    " \"best_params\": {\"a\": 12345678901234567890}}"), 0, "%s", ev.pe_problem);
	cr_assert_eq(ev.pe_event.je_kind, JOB_EV_UPDATE);
	cr_assert_eq(ev.pe_seq, 3);
	cr_assert_str_eq(ev.pe_event.je_update.best_params, "{\"a\": 12345678901234567890}",
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
	    "\"data_collection\", \"step_details\": {\"k\": 1}}"), 0, "%s", ev.pe_problem);
	cr_assert_eq(ev.pe_seq, 1);
	cr_assert_str_eq(ev.pe_event.je_step, "data_collection");
	cr_assert_str_eq(ev.pe_event.je_details, "{\"k\": 1}");
}

Test(event, every_control_byte_cjson_skips_is_whitespace)
{
	char	 body[256];
	int	 c, n;

	for (c = 0x01; c <= 0x20; c++) {
		n = snprintf(body, sizeof(body), "%c{%c\"seq\"%c:%c7%c,%c\"event\"%c:%c\"update\"%c,"
		    "\"step_details\":%c{\"a\": 1}%c,\"best_params\":{}%c}%c",
		    c, c, c, c, c, c, c, c, c, c, c, c, c);
		cr_assert_eq(parse(body, (size_t)n), 0, "byte 0x%02x: %s", c, ev.pe_problem);
		cr_assert_eq(ev.pe_seq, 7, "byte 0x%02x", c);
		cr_assert_str_eq(ev.pe_event.je_update.details, "{\"a\": 1}", "byte 0x%02x", c);
		cr_assert_str_eq(ev.pe_event.je_update.best_params, "{}", "byte 0x%02x", c);
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
		cr_assert_str_eq(ev.pe_field, "best_params", "%s", bad[i]);
	}
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"update\", \"best_params\": "
	    "{\"a\": [0, -0, 0.5, 1e5, 1E+5, -2.5e-3, 10]}}"), 0, "%s", ev.pe_problem);
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
	cr_assert_str_eq(ev.pe_field, "best_params");
	cr_assert_not_null(strstr(ev.pe_problem, "out of range"), "%s", ev.pe_problem);
	cr_assert_eq(parse_str("{\"seq\": 2, \"event\": \"start\", \"step\": \"optimization\", "
	    "\"step_details\": {\"x\": [0.5e-20000]}}"), -1);
	cr_assert_str_eq(ev.pe_field, "step_details");
}

Test(event, an_unknown_field_is_quoted_short_and_whole)
{
	char	 body[512];

	/* 63 bytes of 'a', then a two-byte character across the 64-byte cut. */
	snprintf(body, sizeof(body), "{\"%s\xc3\xa9\": 1, \"seq\": 1, \"event\": \"complete\"}",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	cr_assert_eq(parse_str(body), -1);
	cr_assert_eq(strlen(ev.pe_field), 63, "cut before the character, not inside it");
	cr_assert(utf8_valid(ev.pe_problem, strlen(ev.pe_problem)), "%s", ev.pe_problem);
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
	    "\"a\\\\u0000b\"}"), 0, "an escaped backslash, then text: %s", ev.pe_problem);
}

/* "null: as if not given" does not make a field allowed twice. */
Test(event, a_null_member_counts_as_given)
{
	cr_assert_eq(parse_str("{\"event\": null, \"event\": \"complete\", \"seq\": 1}"), -1);
	cr_assert_str_eq(ev.pe_field, "event");
}

/* cJSON reads \u00zz as U+0000 and cuts the name there: refused, saying why. */
Test(event, a_malformed_escape_in_a_name_is_refused)
{
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"complete\\u00zz\"}"), -1);
	cr_assert_not_null(strstr(ev.pe_problem, "malformed"), "%s", ev.pe_problem);
}


Test(event, the_issue_examples)
{
	cr_assert_eq(parse_str("{\"seq\": 1, \"event\": \"start\", \"step\": \"optimization\", "
	    "\"step_details\": {\"optimizer\": \"bayesian\"}}"), 0, "%s", ev.pe_problem);
	cr_assert_eq(ev.pe_event.je_kind, JOB_EV_START);
	cr_assert_eq(ev.pe_seq, 1);
	cr_assert_str_eq(ev.pe_event.je_step, "optimization");
	cr_assert_str_eq(ev.pe_event.je_details, "{\"optimizer\": \"bayesian\"}");

	cr_assert_eq(parse_str("{\"seq\": 2, \"event\": \"update\", \"step_percentage\": 60, "
	    "\"current_iteration\": 30, \"total_iterations\": 50, \"best_score\": 1.85, "
	    "\"current_score\": 1.42, \"best_params\": {\"pierce_depth\": 0.15}}"), 0, "%s",
	    ev.pe_problem);
	cr_assert_eq(ev.pe_event.je_kind, JOB_EV_UPDATE);
	cr_assert_eq(ev.pe_event.je_update.fields, TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION |
	    TP_UPD_TOTAL_ITERATIONS | TP_UPD_BEST_SCORE | TP_UPD_CURRENT_SCORE | TP_UPD_BEST_PARAMS);
	cr_assert_eq(ev.pe_event.je_update.step_percentage, 60.0);
	cr_assert_eq(ev.pe_event.je_update.iteration, 30);
	cr_assert_eq(ev.pe_event.je_update.total_iterations, 50);
	cr_assert_eq(ev.pe_event.je_update.best_score, 1.85);
	cr_assert_eq(ev.pe_event.je_update.current_score, 1.42);
	cr_assert_str_eq(ev.pe_event.je_update.best_params, "{\"pierce_depth\": 0.15}");

	cr_assert_eq(parse_str("{\"seq\": 3, \"event\": \"complete\"}"), 0);
	cr_assert_eq(ev.pe_event.je_kind, JOB_EV_COMPLETE);
	cr_assert_eq(parse_str("{\"seq\": 3, \"event\": \"error\", \"error_message\": \"it \\\"broke\\\"\"}"), 0);
	cr_assert_eq(ev.pe_event.je_kind, JOB_EV_ERROR);
	cr_assert_str_eq(ev.pe_event.je_message, "it \"broke\"");
	cr_assert_eq(parse_str("{\"event\": \"queue\", \"seq\": 9007199254740991}"), 0, "order is free");
	cr_assert_eq(ev.pe_seq, UINT64_C(9007199254740991));
}

Test(event, object_fields_keep_their_exact_text)
{
	/* No trip through a double: big integers and odd spacing survive. */
	cr_assert_eq(parse_str("{\"seq\":7,\"event\":\"update\",\"best_params\":{\"seed\": 123456789012345678901234567890,"
	    "\"s\":\"}\\\"{\"} ,\"step_details\":{\"a\":[1,{\"b\":[]}]}}"), 0, "%s", ev.pe_problem);
	cr_assert_str_eq(ev.pe_event.je_update.best_params,
	    "{\"seed\": 123456789012345678901234567890,\"s\":\"}\\\"{\"}");
	cr_assert_str_eq(ev.pe_event.je_update.details, "{\"a\":[1,{\"b\":[]}]}");
}

Test(event, null_is_not_given)
{
	cr_assert_eq(parse_str("{\"seq\": 4, \"event\": \"update\", \"best_score\": null, "
	    "\"best_params\": null}"), 0);
	cr_assert_eq(ev.pe_event.je_update.fields, 0);
	refused("{\"seq\": null, \"event\": \"update\"}", "seq", "required");
}

Test(event, every_field_is_checked_and_named)
{
	refused("{\"event\": \"update\"}", "seq", "required");
	refused("{\"seq\": 0, \"event\": \"update\"}", "seq", "within 1..");
	refused("{\"seq\": 9007199254740992, \"event\": \"update\"}", "seq", "within");
	refused("{\"seq\": 99999999999999999999999, \"event\": \"update\"}", "seq", "within");
	refused("{\"seq\": 1.0, \"event\": \"update\"}", "seq", "whole number");
	refused("{\"seq\": 1e2, \"event\": \"update\"}", "seq", "whole number");
	refused("{\"seq\": \"1\", \"event\": \"update\"}", "seq", "a number");
	refused("{\"seq\": 1}", "event", "required");
	refused("{\"seq\": 1, \"event\": \"stop\"}", "event", "queue, start");
	refused("{\"seq\": 1, \"event\": \"start\"}", "step", "required");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": \"Optimization\"}", "step", "must be");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": 2}", "step", "string");
	refused("{\"seq\": 1, \"event\": \"start\", \"step\": \"validation\", \"step_details\": []}",
	    "step_details", "object");
	refused("{\"seq\": 1, \"event\": \"update\", \"step_percentage\": 101}", "step_percentage", "0..100");
	refused("{\"seq\": 1, \"event\": \"update\", \"step_percentage\": -0.5}", "step_percentage", "0..100");
	refused("{\"seq\": 1, \"event\": \"update\", \"current_iteration\": -1}", "current_iteration", "within");
	refused("{\"seq\": 1, \"event\": \"update\", \"total_iterations\": 2147483648}", "total_iterations",
	    "within");
	refused("{\"seq\": 1, \"event\": \"update\", \"best_score\": 1e999}", "best_score", "range");
	refused("{\"seq\": 1, \"event\": \"update\", \"current_score\": \"1\"}", "current_score", "number");
	refused("{\"seq\": 1, \"event\": \"update\", \"best_params\": {\"a\": \"\\u0000\"}}", "best_params",
	    "\\u0000");
	refused("{\"seq\": 1, \"event\": \"error\"}", "error_message", "required");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"\"}", "error_message", "empty");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"a\\u0000\"}", "error_message",
	    "\\u0000");
	refused("{\"seq\": 1, \"event\": \"complete\", \"step\": \"validation\"}", "step",
	    "does not belong");
	refused("{\"seq\": 1, \"event\": \"update\", \"percentage\": 5}", "percentage", "unknown field");
	refused("{\"seq\": 1, \"event\": \"update\", \"event\": \"update\"}", "event", "twice");
}

Test(event, bodies_that_are_not_one_object)
{
	refused("", NULL, "well-formed");
	refused("{", NULL, "well-formed");
	refused("[]", NULL, "object");
	refused("{\"seq\": 1, \"event\": \"queue\"} {}", NULL, "well-formed");
	refused("{\"seq\": 1, \"event\": \"error\", \"error_message\": \"\xc3\"}", NULL, "UTF-8");
	cr_assert_eq(parse("{}\0{}", 5), -1);
	cr_assert_not_null(strstr(ev.pe_problem, "NUL"));
}

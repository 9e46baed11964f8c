/* test_router.c: fcgi/router.c: paths, methods and job ids. */
#include <string.h>

#include <criterion/criterion.h>

#include "../../fcgi/pool.h"

#define P	"/api/v2/training/jobs/"

static struct route	 rt;

static enum route_result
get(const char *uri)
{
	return route_match("GET", uri, &rt);
}

Test(router, matches_the_progress_endpoint)
{
	cr_assert_eq(get(P "abc123-def456/progress"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_PROGRESS);
	cr_assert_str_eq(rt.rt_job_id, "abc123-def456");
	cr_assert_eq(rt.rt_job_id_len, 13);
	cr_assert_not(rt.rt_head);
}

Test(router, head_is_get_without_a_body)
{
	cr_assert_eq(route_match("HEAD", P "j/progress", &rt), ROUTE_OK);
	cr_assert(rt.rt_head);
}

Test(router, query_strings_are_ignored)
{
	cr_assert_eq(get(P "j1/progress?since=3&x=%zz"), ROUTE_OK);
	cr_assert_str_eq(rt.rt_job_id, "j1");
}

Test(router, job_id_is_percent_decoded_after_splitting)
{
	cr_assert_eq(get(P "a%2Fb/progress"), ROUTE_OK);
	cr_assert_str_eq(rt.rt_job_id, "a/b");
	cr_assert_eq(get(P "with%20space%27quote%22/progress"), ROUTE_OK);
	cr_assert_str_eq(rt.rt_job_id, "with space'quote\"");
	cr_assert_eq(get(P "a+b/progress"), ROUTE_OK);
	cr_assert_str_eq(rt.rt_job_id, "a+b", "'+' is not a space in a path");
	cr_assert_eq(get(P "caf%C3%A9/progress"), ROUTE_OK);
	cr_assert_str_eq(rt.rt_job_id, "caf\xc3\xa9");
	cr_assert_eq(get("/api/v2/training/%6Aobs/x/progress"), ROUTE_OK);
}

Test(router, invalid_job_ids_are_400)
{
	static const char *const bad[] = {
		P "/progress",			/* empty */
		P "%zz/progress",		/* malformed escape */
		P "%4/progress",
		P "abc%/progress",
		P "%00/progress",		/* NUL */
		P "a%0Ab/progress",		/* newline */
		P "%7F/progress",		/* DEL */
		P "%C2%85/progress",		/* C1 control */
		P "%E2%82/progress",		/* invalid UTF-8 */
		P "%FF/progress",
		P "../progress",
		P "%2E%2E/progress",
		P "./progress",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(get(bad[i]), ROUTE_BAD_REQUEST, "%s", bad[i]);
		cr_assert_str_eq(rt.rt_error, "invalid_job_id", "%s", bad[i]);
		cr_assert_not_null(rt.rt_problem);
	}
}

Test(router, job_id_length_is_counted_in_decoded_bytes)
{
	char	 uri[4096];
	size_t	 off;
	int	 i;

	/* 255 bytes: fine, even spelt as 765 bytes of escapes. */
	off = (size_t)snprintf(uri, sizeof(uri), "%s", P);
	for (i = 0; i < 255; i++)
		off += (size_t)snprintf(uri + off, sizeof(uri) - off, "%%41");
	snprintf(uri + off, sizeof(uri) - off, "/progress");
	cr_assert_eq(get(uri), ROUTE_OK);
	cr_assert_eq(rt.rt_job_id_len, 255);

	/* 256 bytes: refused. */
	off = (size_t)snprintf(uri, sizeof(uri), "%s", P);
	for (i = 0; i < 256; i++)
		uri[off++] = 'x';
	snprintf(uri + off, sizeof(uri) - off, "/progress");
	cr_assert_eq(get(uri), ROUTE_BAD_REQUEST);
	cr_assert_str_eq(rt.rt_problem, "job_id is longer than 255 bytes");

	/* A 5,000-byte id does not overflow anything either. */
	{
		static char	 huge[8192];

		off = (size_t)snprintf(huge, sizeof(huge), "%s", P);
		memset(huge + off, 'y', 5000);
		snprintf(huge + off + 5000, sizeof(huge) - off - 5000, "/progress");
		cr_assert_eq(get(huge), ROUTE_BAD_REQUEST);
	}
}

Test(router, unknown_paths_are_404)
{
	static const char *const unknown[] = {
		"/",
		"/api/v2/training",
		"/api/v2/training/",
		"/api/v2/training/jobs/",
		"/api/v2/training/jobz",
		P "j/cancel/",
		P "j/cancellation",
		P "j",
		P "j/",
		P "j/progress/",
		P "j/progres",
		P "j/progress/extra",
		P "a/b/progress",
		"/api/v2/training/job/j/progress",
		"/api/v1/training/jobs/j/progress",
		"/API/v2/training/jobs/j/progress",
		"/api/v2/training/jobs/j/progress/a/b/c/d",
	};
	size_t	 i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		cr_assert_eq(get(unknown[i]), ROUTE_NOT_FOUND, "%s", unknown[i]);
}

Test(router, other_methods_are_405_with_allow)
{
	static const char *const methods[] = {
		"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "post", "CONNECT",
	};
	size_t	 i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		cr_assert_eq(route_match(methods[i], P "j/progress", &rt),
		    ROUTE_METHOD_NOT_ALLOWED, "%s", methods[i]);
		cr_assert_str_eq(rt.rt_allow, "GET, HEAD, POST");
		cr_assert_eq(route_match(methods[i], P "j/cancel", &rt),
		    ROUTE_METHOD_NOT_ALLOWED, "%s", methods[i]);
		cr_assert_str_eq(rt.rt_allow, "POST");
		cr_assert_eq(route_match(methods[i], "/api/v2/training/jobs", &rt),
		    ROUTE_METHOD_NOT_ALLOWED, "%s", methods[i]);
		cr_assert_str_eq(rt.rt_allow, "GET, HEAD, POST");
	}
	cr_assert_eq(route_match("GET", P "j/cancel", &rt), ROUTE_METHOD_NOT_ALLOWED);
	/* Unknown paths stay 404 whatever the method. */
	cr_assert_eq(route_match("DELETE", "/api/v2/training/nope", &rt), ROUTE_NOT_FOUND);
}

Test(router, matches_the_write_endpoints_and_the_list)
{
	cr_assert_eq(route_match("POST", P "j%2F1/progress", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_PUBLISH);
	cr_assert_str_eq(rt.rt_job_id, "j/1");
	cr_assert_eq(route_match("POST", P "j1/cancel?now=1", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_CANCEL);
	cr_assert_str_eq(rt.rt_job_id, "j1");
	cr_assert_eq(route_match("POST", P "%zz/cancel", &rt), ROUTE_BAD_REQUEST);
	cr_assert_eq(get("/api/v2/training/jobs?status=running&limit=5"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_JOBS);
	cr_assert_eq(route_match("HEAD", "/api/v2/training/jobs", &rt), ROUTE_OK);
	cr_assert(rt.rt_head);
}

Test(router, missing_cgi_variables_are_400)
{
	cr_assert_eq(route_match(NULL, P "j/progress", &rt), ROUTE_BAD_REQUEST);
	cr_assert_eq(route_match("GET", NULL, &rt), ROUTE_BAD_REQUEST);
	cr_assert_eq(route_match("GET", "", &rt), ROUTE_BAD_REQUEST);
	cr_assert_str_eq(rt.rt_error, "bad_request");
}

Test(router, malformed_escapes_outside_the_job_id_are_400)
{
	cr_assert_eq(get("/api/v2/training/jo%zs/x/progress"), ROUTE_BAD_REQUEST);
	cr_assert_str_eq(rt.rt_error, "bad_request");
}

Test(router, the_ping)
{
	cr_assert_eq(get("/_trainprog/ping"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_PING);
	cr_assert_eq(route_match("HEAD", "/_trainprog/ping?x=1", &rt), ROUTE_OK);
	cr_assert_eq(route_match("POST", "/_trainprog/ping", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_eq(get("/_trainprog/ping/"), ROUTE_NOT_FOUND);
	cr_assert_eq(get("/_trainprog/status"), ROUTE_NOT_FOUND, "the status page is not the workers'");
}

Test(router, the_notifications)
{
	cr_assert_eq(get(P "a%2Fb/notifications"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_NOTIFICATIONS);
	cr_assert_str_eq(rt.rt_job_id, "a/b");
	cr_assert_eq(route_match("HEAD", P "j/notifications?x=1", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_NOTIFICATIONS);
	cr_assert_eq(route_match("POST", P "j/notifications", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_str_eq(rt.rt_allow, "GET, HEAD");
	cr_assert_eq(get(P "j/notifications/"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/progress/notifications"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "%01/notifications"), ROUTE_BAD_REQUEST);
}

Test(router, the_history)
{
	cr_assert_eq(get(P "a%2Fb/progress/history?since_seq=5"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_HISTORY);
	cr_assert_str_eq(rt.rt_job_id, "a/b");
	cr_assert_eq(route_match("HEAD", P "j/progress/history", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_HISTORY);
	cr_assert_eq(route_match("POST", P "j/progress/history", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_str_eq(rt.rt_allow, "GET, HEAD");
	cr_assert_eq(get(P "j/progress/histories"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/cancel/history"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/progress/history/"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/progress/hist%zzory"), ROUTE_BAD_REQUEST);
	cr_assert_eq(get(P "%01/progress/history"), ROUTE_BAD_REQUEST);
	cr_assert_str_eq(rt.rt_error, "invalid_job_id");
}

Test(router, the_stream)
{
	cr_assert_eq(get(P "a%2Fb/progress/stream"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_STREAM);
	cr_assert_str_eq(rt.rt_job_id, "a/b");
	cr_assert_eq(get(P "j/progress/stream?last_event_id=1:2"), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_STREAM);
	cr_assert_eq(route_match("HEAD", P "j/progress/stream", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_str_eq(rt.rt_allow, "GET");
	cr_assert_eq(route_match("POST", P "j/progress/stream", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_eq(get(P "j/progress/streams"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/cancel/stream"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "j/progress/stream/"), ROUTE_NOT_FOUND);
	cr_assert_eq(get(P "%01/progress/stream"), ROUTE_BAD_REQUEST);
	cr_assert_str_eq(rt.rt_error, "invalid_job_id");
}

Test(router, starting_a_job)
{
	cr_assert_eq(route_match("POST", "/api/v2/training/jobs", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_SUBMIT);
	cr_assert_str_eq(rt.rt_allow, "GET, HEAD, POST");
	cr_assert_eq(rt.rt_job_id_len, 0, "the job id is in the body, not the path");
	cr_assert_not(rt.rt_head);
	cr_assert_eq(route_match("POST", "/api/v2/training/jobs?dry_run=1", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_SUBMIT, "a query string is ignored");
	cr_assert_eq(route_match("POST", "/api/v2/training/%6Aobs", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_SUBMIT);
	/* The list stays the list. */
	cr_assert_eq(route_match("GET", "/api/v2/training/jobs", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_JOBS);
	cr_assert_eq(route_match("HEAD", "/api/v2/training/jobs", &rt), ROUTE_OK);
	cr_assert_eq(rt.rt_id, ROUTE_JOBS);
	/* Not another path, nor another method. */
	cr_assert_eq(route_match("POST", "/api/v2/training/jobs/", &rt), ROUTE_NOT_FOUND);
	cr_assert_eq(route_match("POST", "/api/v2/training/job", &rt), ROUTE_NOT_FOUND);
	cr_assert_eq(route_match("POST", "/api/v2/training/jobs/j", &rt), ROUTE_NOT_FOUND);
	cr_assert_eq(route_match("PUT", "/api/v2/training/jobs", &rt), ROUTE_METHOD_NOT_ALLOWED);
	cr_assert_str_eq(rt.rt_allow, "GET, HEAD, POST");
	cr_assert_eq(route_match("post", "/api/v2/training/jobs", &rt), ROUTE_METHOD_NOT_ALLOWED,
	    "methods are case-sensitive");
	cr_assert_eq(route_match("POST", "/api/v2/training/jo%zzbs", &rt), ROUTE_BAD_REQUEST);
}

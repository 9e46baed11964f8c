/*
 * auth.c: bearer tokens (tp_<id>_<secret>) for the API's writes, and its
 * reads when read_token_required is set.  The id finds the stored row; the
 * SHA-256 of the secret is compared with the stored one in constant time.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pool.h"

#define CHALLENGE	"WWW-Authenticate: Bearer realm=\"trainprog\"\r\n"
#define CHALLENGE_BAD	"WWW-Authenticate: Bearer realm=\"trainprog\", error=\"invalid_token\"\r\n"

/* Does the comma-separated list hold `scope`? */
static bool
has_scope(const char *list, const char *scope)
{
	size_t	 n = strlen(scope);
	const char *p;

	for (p = list; p != NULL && *p != '\0'; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, scope, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

bool
auth_require(struct request *rq, struct db *db, const char *scope)
{
	const char	*h = http_param(rq, "HTTP_AUTHORIZATION"), *secret, *params[1];
	char		 id[TOKEN_ID_LEN + 1], message[160];
	unsigned char	 digest[32];
	PGresult	*res = NULL;
	bool		 ok = false;

	if (h == NULL || *h == '\0') {
		http_reply_error(rq, 401, "unauthorized",
		    "this needs a bearer token: Authorization: Bearer tp_...", CHALLENGE);
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0 || token_parse(h + 7, id, &secret) == -1) {
		http_reply_error(rq, 401, "invalid_token",
		    "the Authorization header does not hold a bearer token of this API", CHALLENGE_BAD);
		return false;
	}
	params[0] = id;
	if (!http_db_ok(rq, db, db_exec(db, STMT_TOKEN, params, http_db_deadline(rq), &res),
	    "the token could not be checked"))
		return false;
	sha256(secret, TOKEN_SECRET_LEN, digest);
	/* An unknown id and a wrong secret look alike from outside. */
	if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 32 ||
	    !equal_ct(PQgetvalue(res, 0, 0), digest, 32) || PQgetvalue(res, 0, 2)[0] != 0)
		http_reply_error(rq, 401, "invalid_token", "the token is unknown or revoked",
		    CHALLENGE_BAD);
	else if (!has_scope(PQgetvalue(res, 0, 1), scope)) {
		snprintf(message, sizeof(message), "the token may not %s: it lacks the \"%s\" scope",
		    scope, scope);
		http_reply_error(rq, 403, "forbidden", message, NULL);
	} else {
		memcpy(rq->rq_token_id, id, sizeof(rq->rq_token_id));
		ok = true;
	}
	PQclear(res);
	return ok;
}

bool
auth_require_writer(struct request *rq, struct db *db, const char *scope)
{
	if (!db_configured(db)) {
		http_reply_error(rq, 403, "writes_disabled",
		    "this server does not take writes (database_write_url is not set)", NULL);
		return false;
	}
	return auth_require(rq, db, scope);
}

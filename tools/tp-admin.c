/*
 * tp-admin.c: administration of a trainprog database: the API's bearer
 * tokens, and where notifications go.  Run as a role that owns the tables
 * (the one deploy/migrate uses).
 *
 *	tp-admin token create --scope publish[,cancel,read,train] [--name TEXT]
 *	tp-admin token list
 *	tp-admin token revoke ID|TOKEN
 *	tp-admin notify add webhook URL [--secret S] [--job JOB_ID]
 *	tp-admin notify add slack URL [--job JOB_ID]
 *	tp-admin notify add email ADDRESS [--job JOB_ID]
 *	tp-admin notify list [--full]
 *	tp-admin notify remove ID
 *	tp-admin notify dead [--retry ID|all]
 *
 * A token is printed once, when created; only the SHA-256 of its secret is
 * stored, so a lost token is revoked and replaced, never recovered.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <tp/notify.h>

#include "../lib/internal.h"

#define EXIT_DB		1	/* the database could not be reached, or refused */
#define EXIT_USAGE	2
#define EXIT_NOTFOUND	3	/* no such token */

static const char	*progname = "tp-admin";

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [--database-url URL] token create --scope SCOPES [--name TEXT]\n"
	    "       %s [--database-url URL] token list\n"
	    "       %s [--database-url URL] token revoke ID|TOKEN\n"
	    "       %s [--database-url URL] notify add webhook URL [--secret S] [--job JOB_ID]\n"
	    "       %s [--database-url URL] notify add slack URL [--job JOB_ID]\n"
	    "       %s [--database-url URL] notify add email ADDRESS [--job JOB_ID]\n"
	    "       %s [--database-url URL] notify list [--full] | remove ID | dead [--retry ID|all]\n"
	    "\n"
	    "SCOPES is a comma-separated list of publish (POST .../progress), cancel\n"
	    "(POST .../cancel), read (GETs, when the pool has read_token_required) and\n"
	    "train (POST /api/v2/training/jobs: start training jobs);\n"
	    "--scope may be given more than once.  create prints the token once, on\n"
	    "standard output: store it where the publisher reads it.  --database-url\n"
	    "defaults to $DATABASE_URL, then libpq's PG* variables.\n"
	    "\n"
	    "notify: where tp-notify's sender delivers a notification when a job ends\n"
	    "(completed, failed, cancelled): a JSON webhook (signed with --secret:\n"
	    "X-Trainprog-Signature), a Slack or Mattermost incoming webhook, or an email;\n"
	    "for every job, or with --job for one.  list shows a URL's scheme, host and\n"
	    "port only (a webhook's URL is often its credential; --full shows it whole).\n"
	    "dead lists the notifications given up on; --retry gives one (or all)\n"
	    "another round of tries.\n"
	    "\n"
	    "Exit status: 0 done, 1 database unreachable or refusing, 2 bad usage,\n"
	    "3 no such token or target.\n", progname, progname, progname, progname, progname,
	    progname, progname);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int status, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static PGconn *
connect_db(const char *url)
{
	struct conn_setup	 cs;
	char			 why[512];
	PGconn			*conn;

	/* The library's way (lib/conn.c), within 10 s; no settings, nothing prepared. */
	memset(&cs, 0, sizeof(cs));
	cs.cs_app_name = progname;
	cs.cs_conninfo = url != NULL ? url : getenv("DATABASE_URL");
	if ((conn = conn_connect(&cs, mono_ms() + 10000, why, sizeof(why))) == NULL) {
		fail(EXIT_DB, "%s", why);
		return NULL;
	}
	/* The commands wait for their answers as long as they take. */
	if (PQsetnonblocking(conn, 0) == -1) {
		fail(EXIT_DB, "cannot make the connection blocking: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Runs one parameterised statement; NULL after a message on failure. */
static PGresult *
exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult	*res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType	 st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		fail(EXIT_DB, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Adds the scopes of "a,b" to the text[] literal being built in buf. */
static int
add_scopes(const char *list, char *buf, size_t size, unsigned *seen)
{
	static const char *const known[] = { "publish", "cancel", "read", "train" };
	const char	*p = list, *end;
	size_t		 n, i, used;
	int		 w;

	for (;;) {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strlen(known[i]) == n && strncmp(known[i], p, n) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return fail(-1, "unknown scope \"%.*s\": use publish, cancel, read or train",
			    (int)n, p);
		if (!(*seen & (1u << i))) {
			*seen |= 1u << i;
			/* Room left for the closing "}" too. */
			used = strlen(buf);
			w = snprintf(buf + used, size - used, "%s%s", buf[1] != '\0' ? "," : "",
			    known[i]);
			if (w < 0 || (size_t)w + 2 > size - used)
				return -1;
		}
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

static int
token_create(PGconn *conn, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scope", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	char		 scopes[64] = "{", token[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1];
	char		 hex[2 * 32 + 3];
	const char	*name = "", *secret, *params[4];
	unsigned char	 digest[32];
	unsigned	 seen = 0;
	PGresult	*res;
	size_t		 used;
	int		 c, i, w;

	optind = 0;	/* glibc: a full restart of getopt, after main()'s "+" scan */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (add_scopes(optarg, scopes, sizeof(scopes), &seen) == -1)
				return EXIT_USAGE;
			break;
		case 'n':
			name = optarg;
			if (strlen(name) > 200 || !utf8_valid(name, strlen(name)))
				return fail(EXIT_USAGE, "--name: at most 200 bytes of UTF-8");
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return fail(EXIT_USAGE, "token create: unexpected argument \"%s\"", argv[optind]);
	if (seen == 0)
		return fail(EXIT_USAGE, "token create needs --scope (publish, cancel, read, train)");
	used = strlen(scopes);
	w = snprintf(scopes + used, sizeof(scopes) - used, "}");
	if (w < 0 || (size_t)w >= sizeof(scopes) - used)
		return fail(EXIT_USAGE, "--scope: too many scopes");
	if (token_generate(token, sizeof(token)) == -1 ||
	    token_parse(token, id, &secret) == -1)
		return fail(EXIT_DB, "cannot make a random token (getrandom failed)");
	sha256(secret, TOKEN_SECRET_LEN, digest);
	hex[0] = '\\';
	hex[1] = 'x';
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", digest[i]);
	params[0] = id;
	params[1] = hex;
	params[2] = scopes;
	params[3] = name;
	if ((res = exec(conn, "INSERT INTO api_tokens (token_id, secret_sha256, scopes, name)"
	    " VALUES ($1, $2::bytea, $3::text[], $4)", 4, params)) == NULL)
		return EXIT_DB;
	PQclear(res);
	printf("%s\n", token);
	fprintf(stderr, "%s: created token %s (scopes %.*s%s%s): it is shown only now\n",
	    progname, id, (int)strlen(scopes) - 2, scopes + 1, *name ? ", name " : "", name);
	explicit_bzero(token, sizeof(token));
	return 0;
}

static int
token_list(PGconn *conn, int argc, char **argv)
{
	PGresult	*res;
	int		 r;

	(void)argv;
	if (argc != 1)
		return fail(EXIT_USAGE, "token list takes no arguments");
	if ((res = exec(conn, "SELECT token_id, array_to_string(scopes, ','),"
	    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " '-'), name FROM api_tokens ORDER BY created_at, token_id", 0, NULL)) == NULL)
		return EXIT_DB;
	printf("%-12s  %-20s  %-20s  %-20s  %s\n", "ID", "SCOPES", "CREATED", "REVOKED",
	    "NAME");
	for (r = 0; r < PQntuples(res); r++)
		printf("%-12s  %-20s  %-20s  %-20s  %s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
		    PQgetvalue(res, r, 4));
	PQclear(res);
	return 0;
}

/* The count of rows a statement changed (PQcmdTuples), as a number. */
static int
count_of(PGresult *res, long *n)
{
	const char	*tuples = PQcmdTuples(res);
	char		*end;

	errno = 0;
	*n = strtol(tuples, &end, 10);
	if (tuples[0] < '0' || tuples[0] > '9' || *end != '\0' || errno != 0)
		return fail(EXIT_DB, "the server did not say how many rows changed");
	return 0;
}

static int
token_revoke(PGconn *conn, int argc, char **argv)
{
	char		 id[TOKEN_ID_LEN + 1];
	const char	*secret, *params[1] = { id };
	PGresult	*res;
	long		 n;

	if (argc != 2)
		return fail(EXIT_USAGE, "token revoke takes one token id (or the token)");
	if (token_parse(argv[1], id, &secret) == -1) {
		if (strlen(argv[1]) != TOKEN_ID_LEN ||
		    strspn(argv[1], "0123456789abcdef") != TOKEN_ID_LEN)
			return fail(EXIT_USAGE, "\"%s\" is neither a token id (12 hex digits) "
			    "nor a token", argv[1]);
		memcpy(id, argv[1], TOKEN_ID_LEN + 1);
	}
	if ((res = exec(conn, "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())"
	    " WHERE token_id = $1", 1, params)) == NULL)
		return EXIT_DB;
	/* The count of rows the UPDATE matched: "0" or "1". */
	if (count_of(res, &n) != 0) {
		PQclear(res);
		return EXIT_DB;
	}
	PQclear(res);
	if (n == 0)
		return fail(EXIT_NOTFOUND, "no token has the id %s", id);
	fprintf(stderr, "%s: token %s is revoked\n", progname, id);
	return 0;
}

/* --- notify ------------------------------------------------------------------ */

static int
notify_add(PGconn *conn, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "secret", required_argument, NULL, 's' },
		{ "job", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*kind, *address, *secret = NULL, *job = NULL, *why, *part, *params[4];
	PGresult	*res;
	int		 c;

	optind = 0;	/* glibc: a full restart of getopt, after main()'s "+" scan */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': secret = optarg; break;
		case 'j': job = optarg; break;
		default: return fail(EXIT_USAGE, "notify add: --secret S and --job JOB_ID only");
		}
	}
	if (argc - optind != 2)
		return fail(EXIT_USAGE, "notify add takes a kind (webhook, slack, email) and an "
		    "address");
	kind = argv[optind];
	address = argv[optind + 1];
	if (secret != NULL && *secret == '\0')
		return fail(EXIT_USAGE, "--secret takes 1 to %d bytes", TP_TARGET_SECRET_MAX);
	/* The rule POST /jobs and the sender follow: what is stored can be sent. */
	if ((why = tp_target_problem(kind, address, secret, &part)) != NULL) {
		if (strcmp(part, "kind") == 0)
			return fail(EXIT_USAGE, "unknown kind \"%s\": webhook, slack or email", kind);
		if (strcmp(part, "secret") == 0)
			return fail(EXIT_USAGE, "--secret %s", why);
		return fail(EXIT_USAGE, "\"%s\": the %s %s", address,
		    strcmp(part, "url") == 0 ? "URL" : "address", why);
	}
	if (job != NULL && (why = tp_job_id_problem(job, strlen(job))) != NULL)
		return fail(EXIT_USAGE, "--job: %s", why);
	params[0] = kind;
	params[1] = address;
	params[2] = secret;
	params[3] = job;
	if ((res = exec(conn, "INSERT INTO notify_targets (kind, address, secret, job_id)"
	    " VALUES ($1, $2, $3, $4) RETURNING id", 4, params)) == NULL)
		return EXIT_DB;
	printf("%s\n", PQgetvalue(res, 0, 0));
	fprintf(stderr, "%s: target %s: %s %s%s%s\n", progname, PQgetvalue(res, 0, 0), kind,
	    job ? "for job " : "for every job", job ? job : "", secret ? ", signed" : "");
	PQclear(res);
	return 0;
}

static int
notify_list(PGconn *conn, int argc, char **argv)
{
	PGresult	*res;
	const char	*params[1];
	bool		 full = argc == 2 && strcmp(argv[1], "--full") == 0;
	int		 r;

	if (argc != 1 && !full)
		return fail(EXIT_USAGE, "notify list takes --full or nothing");
	/*
	 * A webhook's URL is often its credential (Slack's is): shown as
	 * GET .../notifications shows it (schema/015's notify_target_shown():
	 * scheme, host and port, or "?"), then "/..." for what was cut.
	 */
	params[0] = full ? "true" : "false";
	if ((res = exec(conn, "SELECT id, kind, CASE WHEN secret IS NULL THEN '-' ELSE 'yes' END,"
	    " coalesce(job_id, '*'), to_char(created_at AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " CASE WHEN $1::boolean OR kind = 'email' THEN address"
	    "  ELSE s.shown || CASE WHEN rtrim(address, '/') = s.shown THEN '' ELSE '/...' END END"
	    " FROM notify_targets, LATERAL notify_target_shown(kind, address) AS s (shown)"
	    " ORDER BY id", 1, params)) == NULL)
		return EXIT_DB;
	printf("%-6s  %-7s  %-6s  %-20s  %-20s  %s\n", "ID", "KIND", "SIGNED", "JOB", "CREATED",
	    "ADDRESS");
	for (r = 0; r < PQntuples(res); r++)
		printf("%-6s  %-7s  %-6s  %-20s  %-20s  %s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
		    PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
	PQclear(res);
	return 0;
}

/* An id argument: 1 to 18 digits. */
static bool
is_id(const char *s)
{
	size_t	 n = strspn(s, "0123456789");

	return n > 0 && n <= 18 && s[n] == '\0';
}

static int
notify_remove(PGconn *conn, int argc, char **argv)
{
	const char	*params[1];
	PGresult	*res;
	long		 n;

	if (argc != 2 || !is_id(argv[1]))
		return fail(EXIT_USAGE, "notify remove takes a target's id (notify list)");
	params[0] = argv[1];
	if ((res = exec(conn, "DELETE FROM notify_targets WHERE id = $1", 1, params)) == NULL)
		return EXIT_DB;
	if (count_of(res, &n) != 0) {
		PQclear(res);
		return EXIT_DB;
	}
	PQclear(res);
	if (n == 0)
		return fail(EXIT_NOTFOUND, "no target has the id %s", argv[1]);
	fprintf(stderr, "%s: target %s removed, with what it was still owed\n", progname, argv[1]);
	return 0;
}

static int
notify_dead(PGconn *conn, int argc, char **argv)
{
	const char	*params[1];
	PGresult	*res;
	long		 n;
	int		 r;

	if (argc == 3 && strcmp(argv[1], "--retry") == 0) {
		if (strcmp(argv[2], "all") != 0 && !is_id(argv[2]))
			return fail(EXIT_USAGE, "--retry takes a dead letter's id, or all");
		params[0] = strcmp(argv[2], "all") == 0 ? NULL : argv[2];
		if ((res = exec(conn, "UPDATE notify_outbox SET dead_at = NULL, attempts = 0,"
		    " next_attempt_at = now() WHERE dead_at IS NOT NULL AND delivered_at IS NULL"
		    " AND ($1::bigint IS NULL OR id = $1::bigint)", 1, params)) == NULL)
			return EXIT_DB;
		if (count_of(res, &n) != 0) {
			PQclear(res);
			return EXIT_DB;
		}
		PQclear(res);
		if (n == 0 && params[0] != NULL)
			return fail(EXIT_NOTFOUND, "no dead letter has the id %s", argv[2]);
		fprintf(stderr, "%s: %ld dead letter%s to be tried again\n", progname, n,
		    n == 1 ? "" : "s");
		return 0;
	}
	if (argc != 1)
		return fail(EXIT_USAGE, "notify dead takes --retry ID|all, or nothing");
	if ((res = exec(conn, "SELECT o.id, o.delivery_id, o.event, o.job_id, t.kind, o.attempts,"
	    " to_char(o.dead_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " coalesce(o.last_error, '')"
	    " FROM notify_outbox AS o JOIN notify_targets AS t ON t.id = o.target_id"
	    " WHERE o.dead_at IS NOT NULL AND o.delivered_at IS NULL ORDER BY o.id",
	    0, NULL)) == NULL)
		return EXIT_DB;
	printf("%-6s  %-36s  %-13s  %-7s  %-5s  %-20s  %-20s  %s\n", "ID", "DELIVERY", "EVENT",
	    "KIND", "TRIES", "DEAD SINCE", "JOB", "LAST ERROR");
	for (r = 0; r < PQntuples(res); r++)
		printf("%-6s  %-36s  %-13s  %-7s  %-5s  %-20s  %-20s  %s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 4),
		    PQgetvalue(res, r, 5), PQgetvalue(res, r, 6), PQgetvalue(res, r, 3),
		    PQgetvalue(res, r, 7));
	PQclear(res);
	return 0;
}

static int
notify_command(const char *url, int argc, char **argv)
{
	PGconn	*conn;
	int	 status;

	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "list") != 0 &&
	    strcmp(argv[0], "remove") != 0 && strcmp(argv[0], "dead") != 0)
		return fail(EXIT_USAGE, "unknown command \"notify %s\": add, list, remove or dead",
		    argv[0]);
	if ((conn = connect_db(url)) == NULL)
		return EXIT_DB;
	if (strcmp(argv[0], "add") == 0)
		status = notify_add(conn, argc, argv);
	else if (strcmp(argv[0], "list") == 0)
		status = notify_list(conn, argc, argv);
	else if (strcmp(argv[0], "remove") == 0)
		status = notify_remove(conn, argc, argv);
	else
		status = notify_dead(conn, argc, argv);
	PQfinish(conn);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "database-url", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*url = NULL;
	PGconn		*conn;
	int		 c, status;

	/* Options before the command only: the command parses its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			url = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 2 && strcmp(argv[0], "notify") == 0)
		return notify_command(url, argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[0], "token") != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	if (strcmp(argv[0], "create") != 0 && strcmp(argv[0], "list") != 0 &&
	    strcmp(argv[0], "revoke") != 0)
		return fail(EXIT_USAGE, "unknown command \"token %s\": create, list or revoke",
		    argv[0]);
	if ((conn = connect_db(url)) == NULL)
		return EXIT_DB;
	if (strcmp(argv[0], "create") == 0)
		status = token_create(conn, argc, argv);
	else if (strcmp(argv[0], "list") == 0)
		status = token_list(conn, argc, argv);
	else
		status = token_revoke(conn, argc, argv);
	PQfinish(conn);
	return status;
}

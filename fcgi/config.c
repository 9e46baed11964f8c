/* config.c: tp-fcgi settings: defaults, the configuration file, flags. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

enum setting_type { SET_STRING, SET_INT, SET_DURATION, SET_MODE, SET_LEVEL, SET_BOOL };

struct setting {
	const char		*st_name;
	enum setting_type	 st_type;
	size_t			 st_offset;
	long			 st_min, st_max;	/* SET_INT, SET_DURATION (ms) */
	const char		*st_default;		/* as text, NULL: unset */
	const char		*st_help;
};

#define OFF(m)	offsetof(struct config, m)

static const struct setting settings[] = {
	{ "listen", SET_STRING, OFF(cf_listen), 0, 0, "/run/trainprog/tp-fcgi.sock",
	  "unix socket path, or host:port (loopback unless behind a trusted network)" },
	{ "listen_mode", SET_MODE, OFF(cf_listen_mode), 0, 0777, "0660",
	  "permissions of the unix sockets (octal)" },
	{ "listen_owner", SET_STRING, OFF(cf_listen_owner), 0, 0, NULL,
	  "user that owns the unix sockets (default: the user running tp-fcgi)" },
	{ "listen_group", SET_STRING, OFF(cf_listen_group), 0, 0, NULL,
	  "group of the unix sockets, e.g. www-data so that nginx can connect" },
	{ "listen_backlog", SET_INT, OFF(cf_listen_backlog), 1, 65535, "511",
	  "length of the kernel's queue of connections not yet accepted" },
	{ "status_listen", SET_STRING, OFF(cf_status_listen), 0, 0, NULL,
	  "socket of the status page, served by its own process (default: none)" },
	{ "workers", SET_INT, OFF(cf_workers), 1, 512, "4",
	  "number of worker processes, each with one database connection" },
	{ "max_requests", SET_INT, OFF(cf_max_requests), 0, 1000000000, "0",
	  "a worker is replaced after this many requests (0: never)" },
	{ "max_requests_jitter", SET_INT, OFF(cf_max_requests_jitter), 0, 1000000000, "0",
	  "up to this many more, at random, so that workers are not all replaced at once" },
	{ "request_timeout", SET_DURATION, OFF(cf_request_timeout_ms), 0, 3600000, "30s",
	  "a worker still on one request after this long is killed and replaced (0: never)" },
	{ "slow_request", SET_DURATION, OFF(cf_slow_request_ms), 0, 3600000, "1s",
	  "requests that take longer are logged (0: none)" },
	{ "max_params_size", SET_INT, OFF(cf_max_params_size), 1024, 65536, "32768",
	  "largest FastCGI parameters (request headers) accepted, in bytes" },
	{ "max_body_size", SET_INT, OFF(cf_max_body_size), 0, 65536, "65536",
	  "largest request body accepted, in bytes" },
	{ "database_url", SET_STRING, OFF(cf_database_url), 0, 0, NULL,
	  "libpq connection string or URL (default: $DATABASE_URL, then PG* variables)" },
	{ "database_password_file", SET_STRING, OFF(cf_database_password_file), 0, 0, NULL,
	  "file holding the database password (opened at start, as root; re-read at reload)" },
	{ "database_write_url", SET_STRING, OFF(cf_database_write_url), 0, 0, NULL,
	  "connection for writes (POST: publish, cancel), as a role that may write; none: read only" },
	{ "database_write_password_file", SET_STRING, OFF(cf_database_write_password_file), 0, 0, NULL,
	  "file holding the writer's password" },
	{ "stall_after", SET_DURATION, OFF(cf_stall_after_ms), 0, 86400000, "60s",
	  "a running job not heard from for this long reads as stalled (0: never)" },
	{ "stall_fail_after", SET_DURATION, OFF(cf_stall_fail_after_ms), 0, 1728000000, "24h",
	  "a running job not heard from for this long is marked failed (0: never; needs "
	  "database_write_url)" },
	{ "history_prune_every", SET_DURATION, OFF(cf_history_prune_every_ms), 1000, 86400000,
	  "60s", "how often the workers delete history snapshots past the database's max_age "
	  "(needs database_write_url)" },
	{ "read_token_required", SET_BOOL, OFF(cf_read_token_required), 0, 0, "no",
	  "reads need a bearer token with the read scope (yes or no)" },
	{ "read_cache", SET_INT, OFF(cf_read_cache), 0, 4096, "64",
	  "progress documents each worker keeps, dropped at any write (0: none)" },
	{ "read_cache_ttl", SET_DURATION, OFF(cf_read_cache_ttl_ms), 0, 60000, "1s",
	  "longest a kept document is served, however quiet the table (0: no cache)" },
	{ "db_timeout", SET_DURATION, OFF(cf_db_timeout_ms), 100, 60000, "1500ms",
	  "longest a request waits for the database before answering 503" },
	{ "statement_timeout", SET_DURATION, OFF(cf_statement_timeout_ms), 10, 60000, "1000ms",
	  "PostgreSQL statement_timeout of the workers' sessions" },
	{ "db_retry", SET_DURATION, OFF(cf_db_retry_ms), 0, 60000, "1000ms",
	  "after a failed connection attempt, answer 503 at once for this long" },
	{ "shutdown_timeout", SET_DURATION, OFF(cf_shutdown_timeout_ms), 0, 3600000, "10s",
	  "on SIGTERM or reload, how long workers may finish requests before SIGKILL" },
	{ "storm_deaths", SET_INT, OFF(cf_storm_deaths), 0, 100000, "10",
	  "a crash storm is this many unplanned worker deaths ... (0: no detection)" },
	{ "storm_window", SET_DURATION, OFF(cf_storm_window_ms), 1000, 3600000, "10s",
	  "... within this long: respawns slow down to one per 5 s and it is logged" },
	{ "user", SET_STRING, OFF(cf_user), 0, 0, NULL,
	  "started as root: bind, then run as this user" },
	{ "group", SET_STRING, OFF(cf_group), 0, 0, NULL,
	  "... and this group (default: the user's)" },
	{ "log", SET_STRING, OFF(cf_log), 0, 0, "stderr",
	  "where records go: stderr, or a file (reopened on SIGUSR1)" },
	{ "pid_file", SET_STRING, OFF(cf_pid_file), 0, 0, NULL,
	  "file to write the master's pid to" },
	{ "log_level", SET_LEVEL, OFF(cf_log_level), 0, 0, "info",
	  "debug, info, warn or error" },
};

#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

static const struct setting *
setting_find(const char *name)
{
	char	 norm[64];
	size_t	 i;

	for (i = 0; name[i] != '\0' && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	if (name[i] != '\0')
		return NULL;
	norm[i] = '\0';
	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].st_name, norm) == 0)
			return &settings[i];
	return NULL;
}

bool
config_known(const char *name)
{
	return setting_find(name) != NULL;
}

/* Parses a whole decimal integer into *out; -1 unless all of s is one. */
static int
parse_long(const char *s, int base, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* "1500", "1500ms", "2s", "1min": milliseconds; -1 when malformed. */
static int
parse_duration(const char *s, long *ms)
{
	char	 num[32];
	size_t	 n = 0;
	long	 v, mult;

	while (s[n] != '\0' && isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_long(num, 10, &v) == -1)
		return -1;
	if (strcmp(s + n, "") == 0 || strcmp(s + n, "ms") == 0)
		mult = 1;
	else if (strcmp(s + n, "s") == 0)
		mult = 1000;
	else if (strcmp(s + n, "min") == 0)
		mult = 60000;
	else if (strcmp(s + n, "h") == 0)
		mult = 3600000;
	else if (strcmp(s + n, "d") == 0)
		mult = 86400000;
	else
		return -1;
	if (v > LONG_MAX / mult)
		return -1;
	*ms = v * mult;
	return 0;
}

static int
apply(struct config *cf, const struct setting *st, const char *value,
    char *err, size_t errsz)
{
	char	*p = (char *)cf + st->st_offset;
	char	*copy;
	long	 v;
	int	 level;

	switch (st->st_type) {
	case SET_STRING:
		if ((copy = strdup(value)) == NULL) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		free(*(char **)p);
		*(char **)p = copy;
		return 0;
	case SET_INT:
		if (parse_long(value, 10, &v) == -1 || v < st->st_min || v > st->st_max) {
			snprintf(err, errsz, "%s must be a whole number from %ld to %ld, not \"%s\"",
			    st->st_name, st->st_min, st->st_max, value);
			return -1;
		}
		*(int *)p = (int)v;
		return 0;
	case SET_DURATION:
		if (parse_duration(value, &v) == -1 || v < st->st_min || v > st->st_max) {
			snprintf(err, errsz, "%s must be a duration from %ldms to %ldms "
			    "(e.g. 1500ms, 2s, 1min, 24h, 7d), not \"%s\"",
			    st->st_name, st->st_min, st->st_max, value);
			return -1;
		}
		*(int *)p = (int)v;
		return 0;
	case SET_MODE:
		if (parse_long(value, 8, &v) == -1 || v < 0 || v > st->st_max) {
			snprintf(err, errsz, "%s must be an octal mode such as 0660, not \"%s\"",
			    st->st_name, value);
			return -1;
		}
		*(mode_t *)p = (mode_t)v;
		return 0;
	case SET_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "on") == 0 ||
		    strcmp(value, "1") == 0)
			*(bool *)p = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		    strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(bool *)p = false;
		else {
			snprintf(err, errsz, "%s must be yes or no, not \"%s\"", st->st_name, value);
			return -1;
		}
		return 0;
	case SET_LEVEL:
		if ((level = log_level_parse(value)) == -1) {
			snprintf(err, errsz, "%s must be debug, info, warn or error, not \"%s\"",
			    st->st_name, value);
			return -1;
		}
		*(int *)p = level;
		return 0;
	}
	snprintf(err, errsz, "internal error: bad setting type");
	return -1;
}

int
config_set(struct config *cf, const char *name, const char *value,
    char *err, size_t errsz)
{
	const struct setting	*st;

	if ((st = setting_find(name)) == NULL) {
		snprintf(err, errsz, "unknown setting \"%s\"", name);
		return -1;
	}
	return apply(cf, st, value, err, errsz);
}

int
config_init(struct config *cf)
{
	char	 err[CONFIG_ERR_MAX];
	size_t	 i;
	const char *url;

	memset(cf, 0, sizeof(*cf));
	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].st_default != NULL &&
		    apply(cf, &settings[i], settings[i].st_default, err, sizeof(err)) == -1)
			return -1;
	if ((url = getenv("DATABASE_URL")) != NULL && *url != '\0' &&
	    (cf->cf_database_url = strdup(url)) == NULL)
		return -1;
	return 0;
}

/* Wipes and frees a secret. */
static void
forget_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void
config_free(struct config *cf)
{
	size_t	 i;

	if (cf == NULL)
		return;
	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].st_type == SET_STRING) {
			free(*(char **)((char *)cf + settings[i].st_offset));
			*(char **)((char *)cf + settings[i].st_offset) = NULL;
		}
	forget_secret(&cf->cf_database_password);
	forget_secret(&cf->cf_database_write_password);
}

/* Strips leading and trailing blanks in place; returns the new start. */
static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Unquotes a "double quoted" value in place (\" and \\ escapes).  Returns
 * the value, or NULL when the quotes are unbalanced.
 */
static char *
unquote(char *v)
{
	char	*r, *w;
	size_t	 len = strlen(v);

	if (len == 0 || v[0] != '"')
		return v;
	if (len < 2 || v[len - 1] != '"')
		return NULL;
	v[len - 1] = '\0';
	for (r = w = v + 1; *r != '\0'; r++) {
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		else if (*r == '"')
			return NULL;
		*w++ = *r;
	}
	*w = '\0';
	return v + 1;
}

int
config_load_file(struct config *cf, const char *path, char *err, size_t errsz)
{
	FILE	*fp;
	char	 line[4096], why[CONFIG_ERR_MAX];
	char	*s, *eq, *name, *value;
	int	 lineno = 0, rc = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errsz, "%s:%d: line longer than %zu bytes",
			    path, lineno, sizeof(line) - 2);
			goto done;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errsz, "%s:%d: expected \"name = value\"", path, lineno);
			goto done;
		}
		*eq = '\0';
		name = trim(s);
		if ((value = unquote(trim(eq + 1))) == NULL) {
			snprintf(err, errsz, "%s:%d: unbalanced quotes in the value of %s",
			    path, lineno, name);
			goto done;
		}
		if (config_set(cf, name, value, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s:%d: %s", path, lineno, why);
			goto done;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errsz, "%s: read error", path);
		goto done;
	}
	rc = 0;
done:
	fclose(fp);
	return rc;
}

int
config_check(const struct config *cf, char *err, size_t errsz)
{
	struct passwd	*pw;

	if (cf->cf_listen == NULL || *cf->cf_listen == '\0') {
		snprintf(err, errsz, "listen is empty");
		return -1;
	}
	if (cf->cf_status_listen != NULL && strcmp(cf->cf_status_listen, cf->cf_listen) == 0) {
		snprintf(err, errsz, "status_listen must differ from listen");
		return -1;
	}
	if (cf->cf_statement_timeout_ms > cf->cf_db_timeout_ms) {
		snprintf(err, errsz, "statement_timeout (%dms) must not exceed "
		    "db_timeout (%dms): the server would keep working on queries "
		    "the client has given up on", cf->cf_statement_timeout_ms,
		    cf->cf_db_timeout_ms);
		return -1;
	}
	if (cf->cf_request_timeout_ms != 0 && cf->cf_db_timeout_ms >= cf->cf_request_timeout_ms) {
		snprintf(err, errsz, "db_timeout (%dms) must be below request_timeout (%dms): "
		    "a worker waiting on the database would be killed instead of answering 503",
		    cf->cf_db_timeout_ms, cf->cf_request_timeout_ms);
		return -1;
	}
	if (cf->cf_stall_after_ms > 0 && cf->cf_stall_after_ms < 2000) {
		snprintf(err, errsz, "stall_after (%dms) must be 0 (never) or at least 2s: "
		    "activity is recorded to the second", cf->cf_stall_after_ms);
		return -1;
	}
	if (cf->cf_stall_fail_after_ms > 0 && cf->cf_stall_fail_after_ms <= cf->cf_stall_after_ms) {
		snprintf(err, errsz, "stall_fail_after (%dms) must be 0 (never) or longer than "
		    "stall_after (%dms): a job reads stalled before it is given up",
		    cf->cf_stall_fail_after_ms, cf->cf_stall_after_ms);
		return -1;
	}
	if (cf->cf_user != NULL && (pw = getpwnam(cf->cf_user)) == NULL) {
		snprintf(err, errsz, "user: there is no user \"%s\"", cf->cf_user);
		return -1;
	}
	if (cf->cf_group != NULL && getgrnam(cf->cf_group) == NULL) {
		snprintf(err, errsz, "group: there is no group \"%s\"", cf->cf_group);
		return -1;
	}
	if (cf->cf_group != NULL && cf->cf_user == NULL) {
		snprintf(err, errsz, "group needs user as well");
		return -1;
	}
	if (cf->cf_log == NULL || *cf->cf_log == '\0') {
		snprintf(err, errsz, "log is empty: say stderr, or a file");
		return -1;
	}
	if (cf->cf_database_write_password_file != NULL && cf->cf_database_write_url == NULL) {
		snprintf(err, errsz, "database_write_password_file needs database_write_url");
		return -1;
	}
	if (cf->cf_listen_owner != NULL && getpwnam(cf->cf_listen_owner) == NULL) {
		snprintf(err, errsz, "listen_owner: there is no user \"%s\"", cf->cf_listen_owner);
		return -1;
	}
	if (cf->cf_listen_group != NULL && getgrnam(cf->cf_listen_group) == NULL) {
		snprintf(err, errsz, "listen_group: there is no group \"%s\"", cf->cf_listen_group);
		return -1;
	}
	return 0;
}

void
config_usage(FILE *fp)
{
	size_t	 i;

	for (i = 0; i < NSETTINGS; i++)
		fprintf(fp, "  --%-18s %s%s%s%s\n", settings[i].st_name,
		    settings[i].st_help,
		    settings[i].st_default ? " [" : "",
		    settings[i].st_default ? settings[i].st_default : "",
		    settings[i].st_default ? "]" : "");
}

/*
 * Password files.  The master reads them as root at start, and again at
 * each reload, by then as the service user: a file only root may read
 * (which is how it should be) would fail the reload.  So the descriptor
 * opened at start is kept, in the master only, and a reload reads through
 * it while the path still names the same file (an edit in place is seen);
 * a file replaced by another is opened anew, as whoever the master is now.
 */
struct secret_file {
	const char	*sf_setting;
	char		*sf_path;
	int		 sf_fd;
	dev_t		 sf_dev;
	ino_t		 sf_ino;
};

static struct secret_file secret_files[] = {
	{ "database_password_file", NULL, -1, 0, 0 },
	{ "database_write_password_file", NULL, -1, 0, 0 },
};

void
config_secrets_close(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(secret_files) / sizeof(secret_files[0]); i++) {
		if (secret_files[i].sf_fd >= 0)
			close(secret_files[i].sf_fd);
		secret_files[i].sf_fd = -1;
		free(secret_files[i].sf_path);
		secret_files[i].sf_path = NULL;
	}
}

/*
 * An open descriptor of the password file at path: the one kept if path
 * still names its file, else a new one (kept from now on).  -1 with why.
 */
static int
secret_fd(struct secret_file *sf, const char *path, char *err, size_t errsz)
{
	struct stat	 st;
	char		*copy;
	int		 fd, saved;

	if (sf->sf_fd >= 0 && sf->sf_path != NULL && strcmp(sf->sf_path, path) == 0 &&
	    stat(path, &st) == 0 && st.st_dev == sf->sf_dev && st.st_ino == sf->sf_ino)
		return sf->sf_fd;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		saved = errno;
		if (sf->sf_fd >= 0 && geteuid() != 0)
			snprintf(err, errsz, "%s %s: %s (a new file, opened as uid %ld: make it "
			    "readable by the service user, or restart the pool to read it as root)",
			    sf->sf_setting, path, strerror(saved), (long)geteuid());
		else
			snprintf(err, errsz, "%s %s: %s", sf->sf_setting, path, strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || (copy = strdup(path)) == NULL) {
		snprintf(err, errsz, "%s %s: not a regular file", sf->sf_setting, path);
		close(fd);
		return -1;
	}
	if (sf->sf_fd >= 0)
		close(sf->sf_fd);
	free(sf->sf_path);
	sf->sf_fd = fd;
	sf->sf_path = copy;
	sf->sf_dev = st.st_dev;
	sf->sf_ino = st.st_ino;
	return fd;
}

/*
 * Reads the first line of a password file.  It is only ever kept in memory
 * and handed to libpq; it is never logged.  0, or -1 with why.
 */
static int
read_password(struct secret_file *sf, const char *path, char **out, char *err, size_t errsz)
{
	char	 line[1024];
	ssize_t	 got;
	size_t	 n;
	int	 fd;

	if ((fd = secret_fd(sf, path, err, errsz)) == -1)
		return -1;
	if ((got = pread(fd, line, sizeof(line) - 1, 0)) == -1) {
		snprintf(err, errsz, "%s %s: %s", sf->sf_setting, path, strerror(errno));
		return -1;
	}
	line[got] = '\0';
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0) {
		snprintf(err, errsz, "%s %s is empty", sf->sf_setting, path);
		return -1;
	}
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	if (*out == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

int
config_load(struct config *cf, const char *path, const struct config_flag *flags,
    int nflags, char *err, size_t errsz)
{
	char	 why[CONFIG_ERR_MAX];
	int	 i;

	if (config_init(cf) == -1) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (path != NULL && config_load_file(cf, path, err, errsz) == -1)
		goto fail;
	for (i = 0; i < nflags; i++)
		if (config_set(cf, flags[i].fl_name, flags[i].fl_value, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "--%s: %s", flags[i].fl_name, why);
			goto fail;
		}
	if (config_check(cf, err, errsz) == -1)
		goto fail;
	if (cf->cf_database_password_file != NULL && read_password(&secret_files[0],
	    cf->cf_database_password_file, &cf->cf_database_password, err, errsz) == -1)
		goto fail;
	if (cf->cf_database_write_password_file != NULL && read_password(&secret_files[1],
	    cf->cf_database_write_password_file, &cf->cf_database_write_password, err, errsz) == -1)
		goto fail;
	return 0;
fail:
	config_free(cf);
	return -1;
}

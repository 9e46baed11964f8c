/* log.c: one-line logfmt records on stderr (or a file), one write(2) each. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static const char	*log_role = "main";
static int		 log_slot = -1;
static int		 log_threshold = LOG_INFO;
static char		*log_path;	/* NULL: stderr as it was given */

static void	 append_escaped(char *buf, size_t size, size_t *off, const char *s);

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info",
	[LOG_WARN] = "warn", [LOG_ERROR] = "error",
};

void
log_set_role(const char *role, int slot)
{
	log_role = role;
	log_slot = slot;
}

/* Opens path for appending onto fd 2.  0, or -1 (printed to the old stderr). */
static int
log_attach(const char *path)
{
	int	 fd;

	/* Opened as root at start, maybe in a directory the service user owns. */
	if ((fd = priv_open_file(path, O_WRONLY | O_APPEND | O_CREAT, 0640)) == -1) {
		log_error("log_open_failed", "cannot open log file %s: %s", path,
		    priv_file_error(errno));
		return -1;
	}
	/* stderr itself, so that libpq's and the sanitizers' messages land there too. */
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
log_open(const char *target)
{
	free(log_path);
	log_path = NULL;
	if (target == NULL || strcmp(target, "stderr") == 0)
		return 0;
	if ((log_path = strdup(target)) == NULL)
		return -1;
	return log_attach(log_path);
}

int
log_reopen(void)
{
	return log_path == NULL ? 0 : log_attach(log_path);
}

const char *
log_quote(const char *s, char *buf, size_t size)
{
	size_t	 off = 0;

	if (size < 3) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[off++] = '"';
	append_escaped(buf, size - 2, &off, s != NULL ? s : "");
	buf[off++] = '"';
	buf[off] = '\0';
	return buf;
}

void
log_set_level(int level)
{
	log_threshold = level;
}

int
log_level_parse(const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Appends s to buf[*off..size) as the inside of a logfmt quoted value:
 * quotes and backslashes escaped, control bytes as \n, \t or \xNN.  Stops
 * quietly when full.
 */
static void
append_escaped(char *buf, size_t size, size_t *off, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;
	char			 esc[4];
	size_t			 n;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		n = 0;
		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (*p == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[*p >> 4];
			esc[n++] = hex[*p & 0xf];
		} else
			esc[n++] = (char)*p;
		if (*off + n >= size)
			return;
		memcpy(buf + *off, esc, n);
		*off += n;
	}
}

void
log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	char		 msg[1024], line[2048], ts[32];
	struct timespec	 tv;
	struct tm	 tm;
	va_list		 ap;
	size_t		 off, len;
	int		 n, saved_errno = errno;

	if ((int)level < log_threshold)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libpq messages end in a newline: it says nothing. */
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';

	clock_gettime(CLOCK_REALTIME, &tv);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_slot >= 0)
		n = snprintf(line, sizeof(line),
		    "ts=%s.%03ldZ level=%s pid=%ld role=%s slot=%d event=%s msg=\"",
		    ts, tv.tv_nsec / 1000000, level_names[level], (long)getpid(),
		    log_role, log_slot, event);
	else
		n = snprintf(line, sizeof(line),
		    "ts=%s.%03ldZ level=%s pid=%ld role=%s event=%s msg=\"",
		    ts, tv.tv_nsec / 1000000, level_names[level], (long)getpid(),
		    log_role, event);
	if (n < 0)
		goto out;
	off = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	append_escaped(line, sizeof(line) - 2, &off, msg);
	line[off++] = '"';
	line[off++] = '\n';
	/* One write: records from several processes do not interleave. */
	while (write(STDERR_FILENO, line, off) < 0 && errno == EINTR)
		continue;
out:
	errno = saved_errno;
}

void
log_kv(enum log_level level, const char *event, const char *fmt, ...)
{
	char		 fields[1024], line[2048], ts[32];
	struct timespec	 tv;
	struct tm	 tm;
	va_list		 ap;
	int		 n, saved_errno = errno;

	if ((int)level < log_threshold)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &tv);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_slot >= 0)
		n = snprintf(line, sizeof(line),
		    "ts=%s.%03ldZ level=%s pid=%ld role=%s slot=%d event=%s %s\n",
		    ts, tv.tv_nsec / 1000000, level_names[level], (long)getpid(),
		    log_role, log_slot, event, fields);
	else
		n = snprintf(line, sizeof(line),
		    "ts=%s.%03ldZ level=%s pid=%ld role=%s event=%s %s\n",
		    ts, tv.tv_nsec / 1000000, level_names[level], (long)getpid(),
		    log_role, event, fields);
	if (n > 0) {
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
			continue;
	}
	errno = saved_errno;
}

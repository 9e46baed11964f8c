/*
 * listen.c: the pool's sockets (bound here, or inherited from systemd or
 * from a FastCGI spawner) and the word to the service manager.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

/* SD_LISTEN_FDS_START: the first socket systemd passes. */
#define LISTEN_FDS_START	3

/* A unix socket path is anything that is not host:port. */
static bool
listen_is_unix(const char *listen)
{
	return strchr(listen, '/') != NULL || strchr(listen, ':') == NULL;
}

static int
set_flags(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if ((fl = fcntl(fd, F_GETFD)) == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

/*
 * Makes way for a socket at path: nothing there is fine; a socket nobody
 * answers on is stale and removed; a live socket, or anything that is not a
 * socket, is refused.  0 or -1 (logged).
 */
static int
unix_clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	 st;
	int		 fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_error("socket_check_failed", "cannot check %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("socket_path_taken", "%s exists and is not a socket; not replacing it",
		    path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_error("socket_check_failed", "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		log_error("socket_in_use", "%s is in use by a running server; "
		    "stop it first, or listen elsewhere", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		log_error("socket_check_failed", "cannot tell whether %s is in use (%s); "
		    "not replacing it", path, strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_error("socket_check_failed", "cannot remove stale socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
unix_open(const struct config *cf, const char *path, dev_t *dev, ino_t *ino)
{
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	struct group		*gr;
	struct stat		 st;
	uid_t			 uid = (uid_t)-1;
	gid_t			 gid = (gid_t)-1;
	mode_t			 old_umask;
	int			 fd = -1, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("listen_failed", "socket path is longer than %zu bytes: %s",
		    sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));

	if (cf->cf_listen_owner != NULL) {
		if ((pw = getpwnam(cf->cf_listen_owner)) == NULL) {
			log_error("listen_failed", "listen_owner: no user \"%s\"",
			    cf->cf_listen_owner);
			return -1;
		}
		uid = pw->pw_uid;
	}
	if (cf->cf_listen_group != NULL) {
		if ((gr = getgrnam(cf->cf_listen_group)) == NULL) {
			log_error("listen_failed", "listen_group: no group \"%s\"",
			    cf->cf_listen_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (unix_clear_stale(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1) {
		log_error("listen_failed", "socket: %s", strerror(errno));
		return -1;
	}
	/* Never exists with wider permissions than asked, not even briefly. */
	old_umask = umask(0777 & ~cf->cf_listen_mode);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc == -1) {
		log_error("listen_failed", "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, cf->cf_listen_mode) == -1 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) == -1)) {
		log_error("listen_failed", "setting owner and mode of %s: %s", path,
		    strerror(errno));
		unlink(path);
		goto fail;
	}
	if (listen(fd, cf->cf_listen_backlog) == -1 || set_flags(fd) == -1 ||
	    lstat(path, &st) == -1) {
		log_error("listen_failed", "listen %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;
fail:
	close(fd);
	return -1;
}

/* "127.0.0.1:9000", "[::1]:9000", "localhost:9000". */
static int
tcp_open(const struct config *cf, const char *listen_at)
{
	struct addrinfo	 hints, *ai = NULL;
	char		 host[256], addr[INET6_ADDRSTRLEN];
	const char	*colon, *port, *h = listen_at;
	size_t		 hlen;
	int		 fd = -1, on = 1, rc;

	if ((colon = strrchr(h, ':')) == NULL)
		return -1;
	port = colon + 1;
	hlen = (size_t)(colon - h);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0') {
		log_error("listen_failed", "listen: expected host:port, got \"%s\"", listen_at);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_error("listen_failed", "listen %s: %s", listen_at, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, cf->cf_listen_backlog) == -1 || set_flags(fd) == -1) {
		log_error("listen_failed", "listen %s: %s", listen_at, strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	/* FastCGI has no authentication: say so when it is reachable from afar. */
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ai->ai_addr;

		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
			log_warn("listen_exposed", "listening on %s, which is not "
			    "loopback: anyone who can reach it can send FastCGI requests", addr);
		}
	} else if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;

		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
			log_warn("listen_exposed", "listening on %s, which is not "
			    "loopback: anyone who can reach it can send FastCGI requests", addr);
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* Binds `at` (a unix path or host:port).  The fd, or -1 after a message. */
static int
bind_one(const struct config *cf, const char *at, dev_t *dev, ino_t *ino)
{
	if (listen_is_unix(at))
		return unix_open(cf, at, dev, ino);
	return tcp_open(cf, at);
}

/* Is fd a listening stream socket? */
static bool
is_listener(int fd)
{
	int		 accepting = 0;
	socklen_t	 len = sizeof(accepting);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting;
}

/*
 * Sockets handed over by systemd (LISTEN_PID and LISTEN_FDS: the first is
 * the API's, a second the status page's).  Returns how many were taken.
 */
static int
inherit_systemd(struct pool_sockets *ps)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char		*end;
	long		 n;

	if (pid == NULL || fds == NULL || strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
		return 0;
	n = strtol(fds, &end, 10);
	if (*end != '\0' || n < 1 || !is_listener(LISTEN_FDS_START))
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	ps->ps_listen = LISTEN_FDS_START;
	ps->ps_listen_inherited = true;
	if (n >= 2 && is_listener(LISTEN_FDS_START + 1)) {
		ps->ps_status = LISTEN_FDS_START + 1;
		ps->ps_status_inherited = true;
	}
	return (int)n;
}

int
sockets_open(const struct config *cf, struct pool_sockets *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->ps_listen = ps->ps_status = -1;

	if (inherit_systemd(ps) > 0)
		log_info("sockets_inherited", "listening on the socket(s) systemd passed");
	else if (is_listener(STDIN_FILENO)) {
		/* The FastCGI convention: a spawner left the listener on fd 0. */
		ps->ps_listen = STDIN_FILENO;
		ps->ps_listen_inherited = true;
		log_info("sockets_inherited", "listening on the socket on fd 0");
	} else if ((ps->ps_listen = bind_one(cf, cf->cf_listen, &ps->ps_listen_dev,
	    &ps->ps_listen_ino)) == -1)
		return -1;
	if (ps->ps_listen_inherited && set_flags(ps->ps_listen) == -1) {
		log_error("listen_failed", "inherited socket: %s", strerror(errno));
		return -1;
	}
	if (ps->ps_status_inherited) {
		if (set_flags(ps->ps_status) == -1) {
			log_error("listen_failed", "inherited status socket: %s", strerror(errno));
			return -1;
		}
	} else if (cf->cf_status_listen != NULL &&
	    (ps->ps_status = bind_one(cf, cf->cf_status_listen, &ps->ps_status_dev,
	    &ps->ps_status_ino)) == -1) {
		sockets_close(cf, ps);
		return -1;
	}
	return 0;
}

/* Removes a unix socket we bound, if it is still ours (same device and inode). */
static void
unlink_own(const char *path, dev_t dev, ino_t ino)
{
	struct stat	 st;

	if (path != NULL && listen_is_unix(path) && ino != 0 && lstat(path, &st) == 0 &&
	    st.st_dev == dev && st.st_ino == ino)
		(void)unlink(path);
}

void
sockets_unlink(const struct config *cf, struct pool_sockets *ps)
{
	if (!ps->ps_listen_inherited)
		unlink_own(cf->cf_listen, ps->ps_listen_dev, ps->ps_listen_ino);
	if (!ps->ps_status_inherited)
		unlink_own(cf->cf_status_listen, ps->ps_status_dev, ps->ps_status_ino);
	ps->ps_listen_ino = ps->ps_status_ino = 0;
}

void
sockets_close(const struct config *cf, struct pool_sockets *ps)
{
	sockets_unlink(cf, ps);
	if (ps->ps_listen != -1)
		close(ps->ps_listen);
	if (ps->ps_status != -1)
		close(ps->ps_status);
	ps->ps_listen = ps->ps_status = -1;
}

void
notify_service_manager(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* the abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}

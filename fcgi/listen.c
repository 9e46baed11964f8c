/* listen.c: the FastCGI listening socket: unix path or TCP host:port. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

/* The unix socket this process created, so that only it is ever removed. */
static dev_t	 bound_dev;
static ino_t	 bound_ino;
static bool	 bound_unix;

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
 * socket, is refused.  0 or -1 (printed).
 */
static int
unix_clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	 st;
	int		 fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "%s: cannot check %s: %s\n", TP_FCGI_NAME, path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "%s: %s exists and is not a socket; not replacing it\n",
		    TP_FCGI_NAME, path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "%s: socket: %s\n", TP_FCGI_NAME, strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		fprintf(stderr, "%s: %s is in use by a running server; "
		    "stop it first, or listen elsewhere\n", TP_FCGI_NAME, path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		fprintf(stderr, "%s: cannot tell whether %s is in use (%s); not replacing it\n",
		    TP_FCGI_NAME, path, strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		fprintf(stderr, "%s: cannot remove stale socket %s: %s\n",
		    TP_FCGI_NAME, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
unix_open(const struct config *cf)
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
	if (strlen(cf->cf_listen) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path is longer than %zu bytes: %s\n",
		    TP_FCGI_NAME, sizeof(sun.sun_path) - 1, cf->cf_listen);
		return -1;
	}
	memcpy(sun.sun_path, cf->cf_listen, strlen(cf->cf_listen));

	if (cf->cf_listen_owner != NULL) {
		if ((pw = getpwnam(cf->cf_listen_owner)) == NULL) {
			fprintf(stderr, "%s: listen_owner: no user \"%s\"\n",
			    TP_FCGI_NAME, cf->cf_listen_owner);
			return -1;
		}
		uid = pw->pw_uid;
	}
	if (cf->cf_listen_group != NULL) {
		if ((gr = getgrnam(cf->cf_listen_group)) == NULL) {
			fprintf(stderr, "%s: listen_group: no group \"%s\"\n",
			    TP_FCGI_NAME, cf->cf_listen_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (unix_clear_stale(cf->cf_listen, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1) {
		fprintf(stderr, "%s: socket: %s\n", TP_FCGI_NAME, strerror(errno));
		return -1;
	}
	/* Never exists with wider permissions than asked, not even briefly. */
	old_umask = umask(0777 & ~cf->cf_listen_mode);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc == -1) {
		fprintf(stderr, "%s: bind %s: %s\n", TP_FCGI_NAME, cf->cf_listen, strerror(errno));
		goto fail;
	}
	if (chmod(cf->cf_listen, cf->cf_listen_mode) == -1 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(cf->cf_listen, uid, gid) == -1)) {
		fprintf(stderr, "%s: setting owner and mode of %s: %s\n",
		    TP_FCGI_NAME, cf->cf_listen, strerror(errno));
		unlink(cf->cf_listen);
		goto fail;
	}
	if (listen(fd, cf->cf_listen_backlog) == -1 || set_flags(fd) == -1 ||
	    lstat(cf->cf_listen, &st) == -1) {
		fprintf(stderr, "%s: listen %s: %s\n", TP_FCGI_NAME, cf->cf_listen, strerror(errno));
		unlink(cf->cf_listen);
		goto fail;
	}
	bound_dev = st.st_dev;
	bound_ino = st.st_ino;
	bound_unix = true;
	return fd;
fail:
	close(fd);
	return -1;
}

/* "127.0.0.1:9000", "[::1]:9000", "localhost:9000". */
static int
tcp_open(const struct config *cf)
{
	struct addrinfo	 hints, *ai = NULL;
	char		 host[256], addr[INET6_ADDRSTRLEN];
	const char	*colon, *port, *h = cf->cf_listen;
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
		fprintf(stderr, "%s: listen: expected host:port, got \"%s\"\n",
		    TP_FCGI_NAME, cf->cf_listen);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "%s: listen %s: %s\n", TP_FCGI_NAME, cf->cf_listen,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, cf->cf_listen_backlog) == -1 || set_flags(fd) == -1) {
		fprintf(stderr, "%s: listen %s: %s\n", TP_FCGI_NAME, cf->cf_listen,
		    strerror(errno));
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

int
listen_open(const struct config *cf)
{
	if (listen_is_unix(cf->cf_listen))
		return unix_open(cf);
	return tcp_open(cf);
}

void
listen_unlink(const struct config *cf)
{
	struct stat	 st;

	/* Someone may have put another server's socket there since. */
	if (bound_unix && lstat(cf->cf_listen, &st) == 0 &&
	    st.st_dev == bound_dev && st.st_ino == bound_ino)
		(void)unlink(cf->cf_listen);
	bound_unix = false;
}

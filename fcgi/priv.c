/* priv.c: giving up root once the sockets are bound; files opened as root. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

int
priv_drop(const struct config *cf)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;
	uid_t		 uid;

	if (cf->cf_user == NULL) {
		if (geteuid() == 0)
			log_warn("running_as_root", "running as root: set `user` so that "
			    "the workers, which parse requests, are not root");
		return 0;
	}
	if ((pw = getpwnam(cf->cf_user)) == NULL) {
		log_error("priv_drop_failed", "user: there is no user \"%s\"", cf->cf_user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (cf->cf_group != NULL) {
		if ((gr = getgrnam(cf->cf_group)) == NULL) {
			log_error("priv_drop_failed", "group: there is no group \"%s\"",
			    cf->cf_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (geteuid() == uid && getegid() == gid)
			return 0;
		log_error("priv_drop_failed", "cannot become %s: not started as root",
		    cf->cf_user);
		return -1;
	}
	/* Groups first: after setuid() there is no right left to change them. */
	if (initgroups(pw->pw_name, gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1) {
		log_error("priv_drop_failed", "cannot become %s: %s", cf->cf_user,
		    strerror(errno));
		return -1;
	}
	/* Trust, but verify: root must be out of reach now. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1 || geteuid() == 0 || getuid() == 0)) {
		log_error("priv_drop_failed", "root could be regained after dropping to %s: "
		    "refusing to run", cf->cf_user);
		return -1;
	}
	if (gid != 0 && (setgid(0) != -1 || setegid(0) != -1)) {
		log_error("priv_drop_failed", "group root could be regained: refusing to run");
		return -1;
	}
	log_info("privileges_dropped", "running as %s (uid %ld, gid %ld)", cf->cf_user,
	    (long)uid, (long)gid);
	return 0;
}

int
priv_open_file(const char *path, int flags, mode_t mode)
{
	struct stat	 st;
	int		 fd, saved;

	/*
	 * No O_TRUNC here: a hard link to another file would be truncated
	 * before it could be checked.  O_NONBLOCK: a FIFO must not hang us.
	 */
	if ((fd = open(path, (flags & ~O_TRUNC) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	    mode)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EMLINK : EINVAL;
		return -1;
	}
	if (((flags & O_TRUNC) && ftruncate(fd, 0) == -1) ||
	    fcntl(fd, F_SETFL, flags & O_APPEND) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

const char *
priv_file_error(int err)
{
	switch (err) {
	case ELOOP:
		return "it is a symbolic link";
	case EMLINK:
		return "it has another name (a hard link)";
	case EINVAL:
		return "it is not a regular file";
	default:
		return strerror(err);
	}
}

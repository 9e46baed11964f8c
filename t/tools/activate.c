/*
 * activate.c: starts a program on a socket it inherits, as systemd socket
 * activation or a FastCGI spawner would, for the tests.
 *
 *   activate systemd|stdin SOCKET PROGRAM [ARGS...]
 *
 * Binds and listens on the unix SOCKET, then execs PROGRAM with it on fd 3
 * and LISTEN_FDS=1, LISTEN_PID=<its pid> (systemd), or on fd 0 (stdin).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	char			 pid[32];
	int			 fd, target;

	if (argc < 4 || (strcmp(argv[1], "systemd") != 0 && strcmp(argv[1], "stdin") != 0)) {
		fprintf(stderr, "usage: activate systemd|stdin SOCKET PROGRAM [ARGS...]\n");
		return 2;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[2]);
	unlink(argv[2]);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || listen(fd, 64) == -1) {
		perror(argv[2]);
		return 2;
	}
	target = strcmp(argv[1], "systemd") == 0 ? 3 : 0;
	if (fd != target && (dup2(fd, target) == -1 || close(fd) == -1))
		return 2;
	if (target == 3) {
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}

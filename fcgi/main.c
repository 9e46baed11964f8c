/* main.c: tp-fcgi's entry point: settings, the listening socket, then the pool. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tp/trainprog.h>

#include "pool.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [-t] [-c file] [--setting=value ...]\n"
	    "\n"
	    "Serves GET /api/v2/training/jobs/{job_id}/progress over FastCGI from a\n"
	    "prefork pool of workers, each with its own PostgreSQL connection.\n"
	    "\n"
	    "  -c, --config FILE    read settings from FILE (name = value lines)\n"
	    "  -t, --test           check the settings and exit (0: valid)\n"
	    "  -h, --help           this text\n"
	    "  -V, --version        print the version\n"
	    "\n"
	    "Every setting may also be given as a flag, which wins over the file:\n",
	    TP_FCGI_NAME);
	config_usage(fp);
	fprintf(fp, "\nSignals: TERM or QUIT graceful stop, INT fast stop, HUP reload the\n"
	    "configuration and replace the workers, USR1 reopen the log file.\n");
}

/* fds 0-2 must be open, or the listening socket could become "stderr". */
static void
sanitize_stdio(void)
{
	int	 fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			exit(1);
}

/* Written as root, often in a directory the service user owns: priv_open_file(). */
static int
write_pid_file(const char *path)
{
	char	 line[32];
	int	 fd, n, saved;

	if ((fd = priv_open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n) {
		saved = errno;
		close(fd);
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	return close(fd);
}

int
main(int argc, char **argv)
{
	struct config		 cf;
	struct config_flag	*flags = NULL;
	struct pool_sockets	 socks;
	char			 err[CONFIG_ERR_MAX];
	const char		*config_path = NULL, *arg, *eq;
	size_t			 len;
	int			 i, nflags = 0, rc = 2, test_only = 0;
	bool			 loaded = false;

	sanitize_stdio();
	if ((flags = calloc((size_t)argc, sizeof(*flags))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", TP_FCGI_NAME);
		return 1;
	}
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			rc = 0;
			goto done;
		} else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			printf("%s %s\n", TP_FCGI_NAME, TP_VERSION);
			rc = 0;
			goto done;
		} else if (strcmp(arg, "-t") == 0 || strcmp(arg, "--test") == 0) {
			test_only = 1;
		} else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
			if (++i == argc) {
				fprintf(stderr, "%s: %s needs a file name\n", TP_FCGI_NAME, arg);
				goto done;
			}
			config_path = argv[i];
		} else if (strncmp(arg, "--config=", 9) == 0) {
			config_path = arg + 9;
		} else if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
			arg += 2;
			len = (eq = strchr(arg, '=')) != NULL ? (size_t)(eq - arg) : strlen(arg);
			if (len >= sizeof(flags[0].fl_name)) {
				fprintf(stderr, "%s: unknown option \"%s\" (try --help)\n",
				    TP_FCGI_NAME, argv[i]);
				goto done;
			}
			memcpy(flags[nflags].fl_name, arg, len);
			flags[nflags].fl_name[len] = '\0';
			if (!config_known(flags[nflags].fl_name)) {
				fprintf(stderr, "%s: unknown option \"%s\" (try --help)\n",
				    TP_FCGI_NAME, argv[i]);
				goto done;
			}
			if (eq != NULL)
				flags[nflags].fl_value = eq + 1;
			else if (++i < argc)
				flags[nflags].fl_value = argv[i];
			else {
				fprintf(stderr, "%s: %s needs a value\n", TP_FCGI_NAME, argv[i - 1]);
				goto done;
			}
			nflags++;
		} else {
			fprintf(stderr, "%s: unexpected argument \"%s\" (try --help)\n",
			    TP_FCGI_NAME, arg);
			goto done;
		}
	}

	/* Flags win over the file, whatever their order on the command line. */
	rc = 1;
	if (config_load(&cf, config_path, flags, nflags, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", TP_FCGI_NAME, err);
		goto done;
	}
	loaded = true;
	if (test_only) {
		printf("%s: configuration is valid\n", TP_FCGI_NAME);
		rc = 0;
		goto done;
	}

	/* The order matters: log, sockets and files as root, then drop, then fork. */
	log_set_level(cf.cf_log_level);
	if (log_open(cf.cf_log) == -1)
		goto done;
	signal(SIGPIPE, SIG_IGN);
	if (sockets_open(&cf, &socks) == -1)
		goto done;
	if (cf.cf_pid_file != NULL && write_pid_file(cf.cf_pid_file) == -1) {
		log_error("pid_file_failed", "cannot write the pid file %s: %s",
		    cf.cf_pid_file, priv_file_error(errno));
		sockets_close(&cf, &socks);
		goto done;
	}
	if (priv_drop(&cf) == -1) {
		sockets_close(&cf, &socks);
		goto done;
	}
	rc = master_run(&cf, &socks, config_path, flags, nflags);
	if (cf.cf_pid_file != NULL)
		(void)unlink(cf.cf_pid_file);
done:
	free(flags);
	if (loaded)
		config_free(&cf);
	return rc;
}

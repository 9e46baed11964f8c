/* tp-publish.c: publish a job's progress from the command line (or any language). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tp/trainprog.h>
#include <tp/tracker.h>

#include "../lib/internal.h"

/* Exit statuses, for scripts. */
#define EXIT_DONE	0	/* written and confirmed */
#define EXIT_DB		1	/* the database could not be reached or did not confirm */
#define EXIT_USAGE	2	/* bad usage or input: nothing was written */
#define EXIT_REFUSED	3	/* refused: the job has finished, or another writer is ahead */
#define EXIT_CANCELLED	4	/* the job was cancelled: stop training */

static const char	*progname = "tp-publish";

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s --job ID [--database-url URL] [--timeout SECONDS] COMMAND ...\n"
	    "\n"
	    "  queue\n"
	    "  start STEP [--details JSON]\n"
	    "        STEP: data_collection, optimization, validation, save_configuration\n"
	    "  update [--step-pct N] [--iteration N] [--total N] [--best-score X]\n"
	    "         [--current-score X] [--best-params JSON] [--details JSON]\n"
	    "  complete\n"
	    "  error MESSAGE\n"
	    "\n"
	    "The job's stored state is continued: steps only go forward, the overall\n"
	    "percentage and the ETA are computed, a finished job stays finished.\n"
	    "--database-url defaults to $DATABASE_URL; --timeout (default 10) bounds\n"
	    "the wait for the database.\n"
	    "\n"
	    "Exit status: 0 done, 1 database unreachable or no confirmation in time,\n"
	    "2 bad usage or input (nothing written), 3 refused (the job has finished,\n"
	    "or another writer is ahead), 4 the job was cancelled: stop training.\n", progname);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "tp-publish: <message>" and returns status. */
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

/* A whole number in [lo, hi], or -1. */
static int
parse_int(const char *s, long lo, long hi, int32_t *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	*out = (int32_t)v;
	return 0;
}

/* A finite number, or -1. */
static int
parse_double(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* Checks a JSON option's value before anything is sent. */
static int
check_json(const char *option, const char *text)
{
	const char	*problem;

	if ((problem = json_object_problem(text)) != NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, option, problem);
		return -1;
	}
	return 0;
}

/* The value after argv[*i], or NULL (with a message) when there is none. */
static const char *
value_of(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", progname, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

/* Parses the options of `update` into *u.  0, or -1 after a message. */
static int
parse_update(int argc, char **argv, int i, struct tp_update *u)
{
	const char	*v;

	memset(u, 0, sizeof(*u));
	for (; i < argc; i++) {
		if ((v = value_of(argc, argv, &i)) == NULL)
			return -1;
		if (strcmp(argv[i - 1], "--step-pct") == 0) {
			if (parse_double(v, &u->step_percentage) == -1 ||
			    u->step_percentage < 0 || u->step_percentage > 100)
				return fail(-1, "--step-pct must be a number from 0 to 100, not \"%s\"", v);
			u->fields |= TP_UPD_STEP_PERCENTAGE;
		} else if (strcmp(argv[i - 1], "--iteration") == 0) {
			if (parse_int(v, 0, INT32_MAX, &u->iteration) == -1)
				return fail(-1, "--iteration must be a whole number >= 0, not \"%s\"", v);
			u->fields |= TP_UPD_ITERATION;
		} else if (strcmp(argv[i - 1], "--total") == 0) {
			if (parse_int(v, 0, INT32_MAX, &u->total_iterations) == -1)
				return fail(-1, "--total must be a whole number >= 0, not \"%s\"", v);
			u->fields |= TP_UPD_TOTAL_ITERATIONS;
		} else if (strcmp(argv[i - 1], "--best-score") == 0) {
			if (parse_double(v, &u->best_score) == -1)
				return fail(-1, "--best-score must be a finite number, not \"%s\"", v);
			u->fields |= TP_UPD_BEST_SCORE;
		} else if (strcmp(argv[i - 1], "--current-score") == 0) {
			if (parse_double(v, &u->current_score) == -1)
				return fail(-1, "--current-score must be a finite number, not \"%s\"", v);
			u->fields |= TP_UPD_CURRENT_SCORE;
		} else if (strcmp(argv[i - 1], "--best-params") == 0) {
			if (check_json("--best-params", v) == -1)
				return -1;
			u->best_params = v;
			u->fields |= TP_UPD_BEST_PARAMS;
		} else if (strcmp(argv[i - 1], "--details") == 0) {
			if (check_json("--details", v) == -1)
				return -1;
			u->details = v;
			u->fields |= TP_UPD_DETAILS;
		} else
			return fail(-1, "update: unknown option \"%s\" (try --help)", argv[i - 1]);
	}
	if (u->fields == 0)
		return fail(-1, "update needs at least one option (try --help)");
	return 0;
}

/* Maps a tracker's answer to an exit status, with a message. */
static int
report(struct tp_tracker *t, enum tp_err err, const char *job)
{
	char	 problem[512];

	if (err == TP_OK)
		return EXIT_DONE;
	/* The tracker's own account is the more precise one. */
	if (tp_tracker_problem(t, problem, sizeof(problem)) == 0)
		snprintf(problem, sizeof(problem), "%s", tp_strerror(err));
	fprintf(stderr, "%s: job %s: %s\n", progname, job, problem);
	switch (err) {
	case TP_EINVAL:
	case TP_ESTATE:
		return EXIT_USAGE;
	case TP_EFINISHED:
	case TP_ECONFLICT:
		return EXIT_REFUSED;
	case TP_ECANCELLED:
		return EXIT_CANCELLED;
	default:
		return EXIT_DB;
	}
}

int
main(int argc, char **argv)
{
	struct tp_options	 opts;
	struct tp_tracker	*t = NULL;
	struct tp_tracker_stats	 st;
	struct tp_update	 u;
	const char		*job = NULL, *cmd, *step = NULL, *details = NULL, *v;
	double			 secs = 10;
	enum tp_err		 err;
	int			 i, status;

	tp_options_init(&opts);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_DONE;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", progname, TP_VERSION);
			return EXIT_DONE;
		}
		if ((v = value_of(argc, argv, &i)) == NULL)
			return EXIT_USAGE;
		if (strcmp(argv[i - 1], "--job") == 0)
			job = v;
		else if (strcmp(argv[i - 1], "--database-url") == 0)
			opts.conninfo = v;
		else if (strcmp(argv[i - 1], "--timeout") == 0) {
			if (parse_double(v, &secs) == -1 || secs <= 0 || secs > 3600)
				return fail(EXIT_USAGE, "--timeout must be seconds from 0 to 3600, not \"%s\"", v);
		} else
			return fail(EXIT_USAGE, "unknown option \"%s\" (try --help)", argv[i - 1]);
	}
	if (job == NULL)
		return fail(EXIT_USAGE, "--job ID is required (try --help)");
	if ((v = tp_job_id_problem(job, strlen(job))) != NULL)
		return fail(EXIT_USAGE, "--job: %s", v);
	if (i == argc)
		return fail(EXIT_USAGE, "a command is required: queue, start, update, complete or error");
	cmd = argv[i++];

	/* Everything is checked before the database is touched. */
	if (strcmp(cmd, "start") == 0) {
		if (i == argc)
			return fail(EXIT_USAGE, "start needs a step: data_collection, "
			    "optimization, validation or save_configuration");
		step = argv[i++];
		if (tp_step_from_key(step) == TP_STEP_NONE)
			return fail(EXIT_USAGE, "unknown step \"%s\": use data_collection, "
			    "optimization, validation or save_configuration", step);
		for (; i < argc; i++) {
			if (strcmp(argv[i], "--details") != 0)
				return fail(EXIT_USAGE, "start: unknown option \"%s\"", argv[i]);
			if ((details = value_of(argc, argv, &i)) == NULL)
				return EXIT_USAGE;
			if (check_json("--details", details) == -1)
				return EXIT_USAGE;
		}
	} else if (strcmp(cmd, "update") == 0) {
		if (parse_update(argc, argv, i, &u) == -1)
			return EXIT_USAGE;
	} else if (strcmp(cmd, "complete") == 0 || strcmp(cmd, "queue") == 0) {
		if (i != argc)
			return fail(EXIT_USAGE, "%s takes no arguments (\"%s\")", cmd, argv[i]);
	} else if (strcmp(cmd, "error") == 0) {
		if (argc - i != 1 || argv[i][0] == '\0')
			return fail(EXIT_USAGE, "error needs exactly one non-empty MESSAGE");
		if (!utf8_valid(argv[i], strlen(argv[i])))
			return fail(EXIT_USAGE, "the error message is not valid UTF-8");
	} else
		return fail(EXIT_USAGE, "unknown command \"%s\" (try --help)", cmd);

	opts.io_timeout_ms = (int)(secs * 1000);
	opts.heartbeat_ms = 0;		/* one write and gone */
	opts.terminal_timeout_ms = opts.io_timeout_ms;
	opts.close_timeout_ms = opts.io_timeout_ms;
	if ((err = tp_tracker_open(&t, job, &opts)) != TP_OK)
		return fail(err == TP_EINVAL ? EXIT_USAGE : EXIT_DB, "cannot open a tracker: %s",
		    tp_strerror(err));
	err = tp_tracker_resume(t);
	if (err == TP_ENOTFOUND && strcmp(cmd, "update") == 0) {
		fprintf(stderr, "%s: job %s has no progress yet: start a step first\n",
		    progname, job);
		status = EXIT_USAGE;
		goto done;
	}
	if (err != TP_OK && err != TP_ENOTFOUND) {
		status = report(t, err, job);
		goto done;
	}

	if (strcmp(cmd, "queue") == 0)
		err = tp_tracker_queue(t);
	else if (strcmp(cmd, "start") == 0)
		err = tp_tracker_start(t, step, details);
	else if (strcmp(cmd, "update") == 0)
		err = tp_tracker_update(t, &u);
	else if (strcmp(cmd, "complete") == 0)
		err = tp_tracker_complete(t);
	else
		err = tp_tracker_error(t, argv[argc - 1]);
	if (err == TP_OK && (strcmp(cmd, "start") == 0 || strcmp(cmd, "update") == 0 ||
	    strcmp(cmd, "queue") == 0)) {
		/* A publisher that exits must know its write landed. */
		if ((err = tp_tracker_flush(t, opts.io_timeout_ms)) == TP_OK) {
			tp_tracker_stats(t, &st);
			if (st.ts_committed_seq != st.ts_seq)
				err = TP_ECONFLICT;
		}
	}
	status = report(t, err, job);
done:
	tp_tracker_close(t);
	return status;
}

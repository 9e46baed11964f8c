/* tp-publish.c: publish a job's progress from the command line (or any language). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tp/progress.h>
#include <tp/trainprog.h>
#include <tp/tracker.h>

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

/* A number as text, or -1.  What it may be is the library's to say. */
static int
parse_double(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/* The options of `update`: the field each sets, and what it takes. */
static const struct update_option {
	const char	*uo_name;
	const char	*uo_field;	/* as tp_update_problem() names it */
	unsigned	 uo_bit;
	const char	*uo_takes;	/* "" for JSON: the library's sentence says it */
} update_options[] = {
	{ "--step-pct", "step_percentage", TP_UPD_STEP_PERCENTAGE, "a number from 0 to 100" },
	{ "--iteration", "current_iteration", TP_UPD_ITERATION, "a whole number >= 0" },
	{ "--total", "total_iterations", TP_UPD_TOTAL_ITERATIONS, "a whole number >= 0" },
	{ "--best-score", "best_score", TP_UPD_BEST_SCORE, "a finite number" },
	{ "--current-score", "current_score", TP_UPD_CURRENT_SCORE, "a finite number" },
	{ "--best-params", "best_params", TP_UPD_BEST_PARAMS, "" },
	{ "--details", "step_details", TP_UPD_DETAILS, "" },
	{ NULL, NULL, 0, NULL }
};

/* Says why an option's value is refused; `why` is the library's, or NULL. */
static int
refuse_option(const struct update_option *o, const char *value, const char *why)
{
	if (o->uo_takes[0] == '\0')
		return fail(-1, "%s: %s", o->uo_name, why);
	if (why != NULL)
		return fail(-1, "%s must be %s, not \"%s\" (%s)", o->uo_name, o->uo_takes,
		    value, why);
	return fail(-1, "%s must be %s, not \"%s\"", o->uo_name, o->uo_takes, value);
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

/*
 * Parses the options of `update` into *u, then checks the values as the
 * tracker will (tp_update_problem()).  0, or -1 after a message.
 */
static int
parse_update(int argc, char **argv, int i, struct tp_update *u)
{
	const struct update_option	*o;
	const char			*v, *given[8] = { NULL }, *why, *field;
	int				 k;

	memset(u, 0, sizeof(*u));
	for (; i < argc; i++) {
		if ((v = value_of(argc, argv, &i)) == NULL)
			return -1;
		for (o = update_options; o->uo_name != NULL; o++)
			if (strcmp(argv[i - 1], o->uo_name) == 0)
				break;
		if (o->uo_name == NULL)
			return fail(-1, "update: unknown option \"%s\" (try --help)", argv[i - 1]);
		switch (o->uo_bit) {
		case TP_UPD_STEP_PERCENTAGE:
			k = parse_double(v, &u->step_percentage);
			break;
		case TP_UPD_ITERATION:
			k = parse_int(v, INT32_MIN, INT32_MAX, &u->iteration);
			break;
		case TP_UPD_TOTAL_ITERATIONS:
			k = parse_int(v, INT32_MIN, INT32_MAX, &u->total_iterations);
			break;
		case TP_UPD_BEST_SCORE:
			k = parse_double(v, &u->best_score);
			break;
		case TP_UPD_CURRENT_SCORE:
			k = parse_double(v, &u->current_score);
			break;
		case TP_UPD_BEST_PARAMS:
			u->best_params = v;
			k = 0;
			break;
		default:
			u->details = v;
			k = 0;
			break;
		}
		if (k == -1)
			return refuse_option(o, v, NULL);
		u->fields |= o->uo_bit;
		given[o - update_options] = v;
	}
	if (u->fields == 0)
		return fail(-1, "update needs at least one option (try --help)");
	if ((why = tp_update_problem(u, &field)) != NULL) {
		for (o = update_options; o->uo_name != NULL; o++)
			if (field != NULL && strcmp(field, o->uo_field) == 0)
				return refuse_option(o, given[o - update_options], why);
		return fail(-1, "update: %s", why);
	}
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
	const char		*job = NULL, *cmd, *step = NULL, *details = NULL, *v, *field;
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
		for (; i < argc; i++) {
			if (strcmp(argv[i], "--details") != 0)
				return fail(EXIT_USAGE, "start: unknown option \"%s\"", argv[i]);
			if ((details = value_of(argc, argv, &i)) == NULL)
				return EXIT_USAGE;
		}
		if ((v = tp_start_problem(step, details, &field)) != NULL) {
			if (field != NULL && strcmp(field, "step") == 0)
				return fail(EXIT_USAGE, "unknown step \"%s\": use data_collection, "
				    "optimization, validation or save_configuration", step);
			return fail(EXIT_USAGE, "--details: %s", v);
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
		if ((v = tp_error_problem(argv[i], &field)) != NULL)
			return fail(EXIT_USAGE, "%s", v);
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

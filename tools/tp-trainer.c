/*
 * tp-trainer.c: the reference trainer.  It takes the jobs started with
 * POST /api/v2/training/jobs and trains them for real: candles from the
 * ohlcv_candles table, a liquidity-sweep reversal strategy scored by a
 * backtest with fees, grid, random or Bayesian search, walk-forward
 * validation, the result saved in trained_configurations.  Its progress
 * goes through libtrainprog's public API (include/tp/tracker.h) like any
 * trainer's: read it as the worked example of that API.
 *
 *   tp-trainer [--name NAME] [--poll-ms MS] [--min-iteration-ms MS]
 *              [--once] [--exit-when-idle]
 *   tp-trainer --simulate --job ID [--iterations N] [--iteration-ms MS]
 *              [--skip-validation] [--fail-in STEP] [--seed N]
 *
 * Claiming: the oldest unclaimed queued job, FOR UPDATE SKIP LOCKED, marked
 * claimed in the same statement, so that trainers on several hosts never
 * run one job twice.  An idle trainer LISTENs on trainprog_jobs, which a
 * job's queueing announces at its commit (schema/012), and otherwise looks
 * again every --poll-ms.  Stopping: a cancelled job stops within one optimizer
 * iteration (the tracker returns TP_ECANCELLED); SIGTERM or SIGINT ends the
 * job under way as failed, saying so, and is not requeued: a job id is
 * single-use and its progress never goes back.  A trainer killed outright
 * leaves its job running, which reads "stalled" after tp-fcgi's stall_after
 * and ends failed after stall_fail_after (docs/TRAINER.md).
 *
 * --simulate walks the four steps of job ID with a simulated optimizer, no
 * candles and nothing saved: for the tracker's own tests.
 *
 * The connection string comes from $DATABASE_URL (deploy/dev-stack env).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <tp/trainprog.h>
#include <tp/tracker.h>

#include "pgwait.h"
#include "train/train.h"

#define STRATEGY_NAME	"liquidity_sweep_reversal"
/* After the database failed, before trying it again. */
#define DB_RETRY_MS	1000
/* Fewer candles than this cannot be traded by the strategy meaningfully. */
#define MIN_CANDLES	(4 * (SWEEP_WINDOW + SWEEP_HOLD))
/* Optimizer calls per walk-forward window (at most the job's n_calls). */
#define WF_CALLS	20
/* The most windows a validation runs. */
#define WF_MAX		64

static volatile sig_atomic_t	 stopping;
static const char		*progname = "tp-trainer";

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Prints a line on stderr, prefixed with the program's name. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Sleeps ms milliseconds, or less if a stop was asked for. */
static void
pause_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stopping)
		continue;
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deterministic pseudo-random number in [0, 1) (the simulation's). */
static double
rnd(unsigned long *state)
{
	*state = *state * 6364136223846793005UL + 1442695040888963407UL;
	return (double)(*state >> 11) / 9007199254740992.0;
}

/* --- one job --------------------------------------------------------------- */

/* A job as it runs. */
struct job {
	const char		*j_id;
	struct jobreq		 j_req;
	struct tp_tracker	*j_t;
	PGconn			*j_db;
	long			 j_min_iter_ms;
	struct series		 j_series;
	double			 j_per_year;	/* candles a year */
	double			 j_best[OPT_MAX_DIMS];
	double			 j_best_score;
	bool			 j_have_best;
	int			 j_iter;	/* the optimizer's iteration under way */
	char			 j_best_json[256];
	char			 j_validation[4096];
	enum tp_err		 j_stop;	/* why the job stopped early; TP_OK if it did not */
	char			 j_failure[512];	/* the job's error_message when it fails */
};

/*
 * Looks at what a tracker call returned.  A cancelled or finished job stops
 * the run (j_stop); other problems are reported, and training goes on:
 * progress is not the job.  Returns false when the job must stop.
 */
static bool
tracked(struct job *j, enum tp_err err, const char *what)
{
	char	 problem[256];

	if (err == TP_OK)
		return !stopping;
	if (err == TP_ECANCELLED || err == TP_EFINISHED) {
		j->j_stop = err;
		return false;
	}
	tp_tracker_problem(j->j_t, problem, sizeof(problem));
	say("job %s: %s: %s%s%s", j->j_id, what, tp_strerror(err), problem[0] ? ": " : "",
	    problem);
	return !stopping;
}

/*
 * Starts a step and waits (a little) until its start is written: updates
 * coalesce, so a fast step could otherwise pass unseen; this way every
 * watcher sees each step begin.  False when the job must stop.
 */
static bool
start_step(struct job *j, const char *key, const char *details)
{
	enum tp_err	 e;

	if (!tracked(j, tp_tracker_start(j->j_t, key, details), "start"))
		return false;
	e = tp_tracker_flush(j->j_t, 2000);
	return e == TP_ETIMEDOUT || tracked(j, e, "flush");
}

/* The job fails with a message (printf-style), kept for the tracker's error(). */
static bool __attribute__((format(printf, 2, 3)))
job_fail(struct job *j, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(j->j_failure, sizeof(j->j_failure), fmt, ap);
	va_end(ap);
	return false;
}

/* The point x as the best_params JSON object of the three parameters. */
static void
params_json(const struct opt_space *sp, const double *x, char *buf, size_t size)
{
	size_t	 used = 0;
	int	 i, w;

	buf[0] = '\0';
	for (i = 0; i < sp->os_n && used < size; i++) {
		if (sp->os_dim[i].od_integer)
			w = snprintf(buf + used, size - used, "%s\"%s\": %d", i ? ", " : "{",
			    sp->os_dim[i].od_name, (int)lround(x[i]));
		else
			w = snprintf(buf + used, size - used, "%s\"%s\": %.10g", i ? ", " : "{",
			    sp->os_dim[i].od_name, x[i]);
		if (w < 0)
			return;
		used += (size_t)w;
	}
	if (used < size)
		snprintf(buf + used, size - used, "}");
}

/* The strategy's parameters from a point of the job's space. */
static void
point_params(const double *x, struct sweep_params *p)
{
	/* jobreq fixes the order: pierce_depth, volume_spike_threshold, reversal_candles. */
	p->sp_pierce_depth = x[0];
	p->sp_volume_spike = x[1];
	p->sp_reversal_candles = (int)lround(x[2]);
}

/* The Sharpe ratio of the strategy with the point x over c[0..n). */
static double
score_of(const struct job *j, const struct candle *c, size_t n, const double *x)
{
	struct sweep_params	 p;
	struct backtest_result	 r;

	point_params(x, &p);
	if (backtest_run(c, n, &p, j->j_req.jr_fee, j->j_per_year, &r) == -1)
		return 0;
	return r.br_sharpe;
}

/* Runs a parameterised statement on the trainer's own connection. */
static PGresult *
query(PGconn *db, const char *sql, int n, const char *const *params)
{
	return PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
}

/*
 * Step 1, Data Collection: the last lookback_days of candles of the job's
 * market, up to its newest candle, read in pages so that the step's
 * percentage moves.
 */
static bool
collect(struct job *j)
{
	const struct jobreq	*r = &j->j_req;
	struct tp_update	 u = { 0 };
	PGresult		*res;
	struct candle		 c;
	char			 details[512], days[16], after[32], limit[24];
	const char		*params[6];
	long			 total, page;
	int			 i, rows;

	snprintf(details, sizeof(details), "{\"symbol\": \"%s\", \"exchange\": \"%s\", "
	    "\"timeframe\": \"%s\", \"lookback_days\": %d}", r->jr_symbol, r->jr_exchange,
	    r->jr_timeframe, r->jr_lookback_days);
	if (!start_step(j, "data_collection", details))
		return false;
	snprintf(days, sizeof(days), "%d", r->jr_lookback_days);
	params[0] = r->jr_symbol;
	params[1] = r->jr_exchange;
	params[2] = r->jr_timeframe;
	params[3] = days;
	/* How many, and from when (the newest candle minus the lookback). */
	res = query(j->j_db, "SELECT count(*), coalesce(extract(epoch FROM min(ts))::int8 - 1, 0)"
	    " FROM ohlcv_candles WHERE symbol = $1 AND exchange = $2 AND timeframe = $3"
	    " AND ts > (SELECT max(ts) FROM ohlcv_candles"
	    "           WHERE symbol = $1 AND exchange = $2 AND timeframe = $3)"
	    "          - make_interval(days => $4::int)", 4, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		job_fail(j, "Data Collection: reading candles failed: %s", PQerrorMessage(j->j_db));
		PQclear(res);
		return false;
	}
	total = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(after, sizeof(after), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	if (total < MIN_CANDLES)
		return job_fail(j, "Data Collection: %ld candles of %s on %s (%s) in the last %d "
		    "days; at least %d are needed: load some with tp-ohlcv", total, r->jr_symbol,
		    r->jr_exchange, r->jr_timeframe, r->jr_lookback_days, MIN_CANDLES);
	page = total / 10 + 1;
	snprintf(limit, sizeof(limit), "%ld", page);
	while (j->j_series.s_n < (size_t)total) {
		params[3] = after;
		params[4] = limit;
		res = query(j->j_db, "SELECT extract(epoch FROM ts)::int8, open, high, low, close,"
		    " volume FROM ohlcv_candles WHERE symbol = $1 AND exchange = $2 AND timeframe = $3"
		    " AND ts > to_timestamp($4::int8) ORDER BY ts LIMIT $5::int", 5, params);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			job_fail(j, "Data Collection: reading candles failed: %s",
			    PQerrorMessage(j->j_db));
			PQclear(res);
			return false;
		}
		rows = PQntuples(res);
		for (i = 0; i < rows; i++) {
			c.c_ts = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			c.c_open = strtod(PQgetvalue(res, i, 1), NULL);
			c.c_high = strtod(PQgetvalue(res, i, 2), NULL);
			c.c_low = strtod(PQgetvalue(res, i, 3), NULL);
			c.c_close = strtod(PQgetvalue(res, i, 4), NULL);
			c.c_volume = strtod(PQgetvalue(res, i, 5), NULL);
			if (series_push(&j->j_series, &c) == -1) {
				PQclear(res);
				return job_fail(j, "Data Collection: out of memory");
			}
		}
		if (rows > 0)
			snprintf(after, sizeof(after), "%s", PQgetvalue(res, rows - 1, 0));
		PQclear(res);
		if (rows == 0)
			break;
		u.fields = TP_UPD_STEP_PERCENTAGE;
		u.step_percentage = 100.0 * (double)j->j_series.s_n / (double)total;
		if (u.step_percentage > 100)
			u.step_percentage = 100;
		if (!tracked(j, tp_tracker_update(j->j_t, &u), "update"))
			return false;
	}
	snprintf(details, sizeof(details), "{\"symbol\": \"%s\", \"exchange\": \"%s\", "
	    "\"timeframe\": \"%s\", \"lookback_days\": %d, \"candles\": %zu}", r->jr_symbol,
	    r->jr_exchange, r->jr_timeframe, r->jr_lookback_days, j->j_series.s_n);
	u.fields = TP_UPD_DETAILS | TP_UPD_STEP_PERCENTAGE;
	u.details = details;
	u.step_percentage = 100;
	return tracked(j, tp_tracker_update(j->j_t, &u), "update");
}

/* Waits out the rest of an iteration's minimum length (--min-iteration-ms). */
static void
pace(const struct job *j, int64_t began)
{
	int64_t	 left = j->j_min_iter_ms - (mono_ms() - began);

	if (left > 0)
		pause_ms((long)left);
}

/* Step 2, Optimization: n_calls backtests, one progress update each. */
static bool
optimize(struct job *j)
{
	const struct jobreq	*r = &j->j_req;
	struct optimizer	*o;
	struct tp_update	 u;
	double			 x[OPT_MAX_DIMS], y;
	char			 details[256], err[256];
	int64_t			 began;
	int			 i;

	snprintf(details, sizeof(details), "{\"optimizer\": \"%s\", \"n_calls\": %d, "
	    "\"strategy\": \"%s\", \"seed\": %" PRIu64 "}", opt_kind_name(r->jr_optimizer),
	    r->jr_n_calls, STRATEGY_NAME, r->jr_seed);
	if (!start_step(j, "optimization", details))
		return false;
	if ((o = opt_new(r->jr_optimizer, &r->jr_space, r->jr_n_calls, r->jr_seed, err,
	    sizeof(err))) == NULL)
		return job_fail(j, "Optimization: %s", err);
	for (i = 1; opt_ask(o, x) == 1; i++) {
		began = mono_ms();
		j->j_iter = i;
		y = score_of(j, j->j_series.s_c, j->j_series.s_n, x);
		opt_tell(o, x, y);
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS |
		    TP_UPD_CURRENT_SCORE;
		u.step_percentage = 100.0 * i / r->jr_n_calls;
		u.iteration = i;
		u.total_iterations = r->jr_n_calls;
		u.current_score = y;
		if (!j->j_have_best || y > j->j_best_score) {
			j->j_have_best = true;
			j->j_best_score = y;
			memcpy(j->j_best, x, sizeof(j->j_best));
			params_json(&r->jr_space, x, j->j_best_json, sizeof(j->j_best_json));
			u.fields |= TP_UPD_BEST_SCORE | TP_UPD_BEST_PARAMS;
			u.best_score = y;
			u.best_params = j->j_best_json;
		}
		if (!tracked(j, tp_tracker_update(j->j_t, &u), "update")) {
			opt_free(o);
			return false;
		}
		pace(j, began);
	}
	opt_free(o);
	if (stopping)
		return false;
	/* A grid smaller than n_calls ends early: the step is done all the same. */
	memset(&u, 0, sizeof(u));
	u.fields = TP_UPD_STEP_PERCENTAGE;
	u.step_percentage = 100;
	return tracked(j, tp_tracker_update(j->j_t, &u), "update");
}

/*
 * Step 3, Validation: walk-forward.  In each window the optimizer searches
 * the train candles again (WF_CALLS calls at most) and its best point is
 * scored on the test candles that follow the gap: out-of-sample Sharpe.
 */
static bool
validate(struct job *j)
{
	const struct jobreq	*r = &j->j_req;
	struct wf_window	 w[WF_MAX];
	struct optimizer	*o;
	struct tp_update	 u;
	double			 x[OPT_MAX_DIMS], best[OPT_MAX_DIMS] = { 0 }, y, by, oos, sum = 0;
	char			 details[256], err[256];
	size_t			 n, k, used;
	size_t			 per_day = (size_t)(86400 / timeframe_seconds(r->jr_timeframe));
	int			 calls = r->jr_n_calls < WF_CALLS ? r->jr_n_calls : WF_CALLS;
	int			 positive = 0, wrote;
	int64_t			 began;

	n = wf_windows(j->j_series.s_n, (size_t)r->jr_train_days * per_day,
	    (size_t)r->jr_gap_days * per_day, (size_t)r->jr_test_days * per_day, w, WF_MAX);
	snprintf(details, sizeof(details), "{\"train_window_days\": %d, \"test_window_days\": %d, "
	    "\"gap_days\": %d, \"windows\": %zu}", r->jr_train_days, r->jr_test_days,
	    r->jr_gap_days, n);
	if (!start_step(j, "validation", details))
		return false;
	if (n == 0)
		return job_fail(j, "Validation: %zu candles are fewer than one window needs "
		    "(%d + %d + %d days)", j->j_series.s_n, r->jr_train_days, r->jr_gap_days,
		    r->jr_test_days);
	used = (size_t)snprintf(j->j_validation, sizeof(j->j_validation), "{\"windows\": [");
	for (k = 0; k < n; k++) {
		began = mono_ms();
		if ((o = opt_new(r->jr_optimizer, &r->jr_space, calls, r->jr_seed + k + 1, err,
		    sizeof(err))) == NULL)
			return job_fail(j, "Validation: %s", err);
		by = -INFINITY;
		while (!stopping && opt_ask(o, x) == 1) {
			y = score_of(j, j->j_series.s_c + w[k].w_train_from,
			    w[k].w_train_to - w[k].w_train_from, x);
			opt_tell(o, x, y);
			if (y > by) {
				by = y;
				memcpy(best, x, sizeof(best));
			}
		}
		opt_free(o);
		if (stopping)
			return false;
		oos = score_of(j, j->j_series.s_c + w[k].w_test_from,
		    w[k].w_test_to - w[k].w_test_from, best);
		sum += oos;
		positive += oos > 0;
		wrote = snprintf(j->j_validation + used, sizeof(j->j_validation) - used,
		    "%s{\"train_sharpe\": %.6g, \"test_sharpe\": %.6g}", k ? ", " : "", by, oos);
		if (wrote > 0 && (size_t)wrote < sizeof(j->j_validation) - used)
			used += (size_t)wrote;
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS |
		    TP_UPD_CURRENT_SCORE;
		u.step_percentage = 100.0 * (double)(k + 1) / (double)n;
		u.iteration = (int32_t)(k + 1);
		u.total_iterations = (int32_t)n;
		u.current_score = oos;
		if (!tracked(j, tp_tracker_update(j->j_t, &u), "update"))
			return false;
		pace(j, began);
	}
	snprintf(j->j_validation + used, sizeof(j->j_validation) - used,
	    "], \"mean_test_sharpe\": %.6g, \"positive_windows\": %d}", sum / (double)n, positive);
	return true;
}

/* Step 4, Save Configuration: the result, once per job. */
static bool
save(struct job *j)
{
	const struct jobreq	*r = &j->j_req;
	PGresult		*res;
	char			 score[32];
	const char		*params[8];
	bool			 ok;

	if (!start_step(j, "save_configuration", "{\"table\": \"trained_configurations\"}"))
		return false;
	snprintf(score, sizeof(score), "%.17g", j->j_best_score);
	params[0] = j->j_id;
	params[1] = STRATEGY_NAME;
	params[2] = r->jr_symbol;
	params[3] = r->jr_exchange;
	params[4] = r->jr_timeframe;
	params[5] = j->j_best_json;
	params[6] = score;
	params[7] = r->jr_validate ? j->j_validation : NULL;
	res = query(j->j_db, "INSERT INTO trained_configurations (job_id, strategy, symbol, exchange,"
	    " timeframe, params, score, validation) VALUES ($1, $2, $3, $4, $5, $6::jsonb,"
	    " $7::float8, $8::jsonb) ON CONFLICT (job_id) DO NOTHING", 8, params);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		job_fail(j, "Save Configuration: %s", PQerrorMessage(j->j_db));
	PQclear(res);
	return ok;
}

/*
 * Runs a claimed job to its end.  Returns 0 when it completed, 1 when it
 * failed or was cancelled.
 */
static int
run_job(PGconn *db, struct tp_publisher *pub, const char *job_id, const char *request,
    long min_iter_ms)
{
	struct job		 j;
	struct tp_options	 o;
	char			 field[128], err[256];
	enum tp_err		 e;
	int			 rc = 1;

	memset(&j, 0, sizeof(j));
	j.j_id = job_id;
	j.j_db = db;
	j.j_min_iter_ms = min_iter_ms;
	tp_options_init(&o);
	o.publisher = pub;
	if ((e = tp_tracker_open(&j.j_t, job_id, &o)) != TP_OK) {
		say("job %s: %s", job_id, tp_strerror(e));
		return 1;
	}
	/* Continue from the queued row that POST /jobs wrote (its seq, its state). */
	if ((e = tp_tracker_resume(j.j_t)) != TP_OK && e != TP_ENOTFOUND) {
		if (e == TP_EFINISHED || e == TP_ECANCELLED) {
			say("job %s: already finished (cancelled while queued?)", job_id);
			tp_tracker_close(j.j_t);
			return 1;
		}
		say("job %s: resume: %s", job_id, tp_strerror(e));
	}
	if (jobreq_parse(request, strlen(request), &j.j_req, field, sizeof(field), err,
	    sizeof(err)) == -1) {
		job_fail(&j, "the stored request cannot be read: %s: %s", field, err);
		goto failed;
	}
	j.j_per_year = 365.0 * 86400 / timeframe_seconds(j.j_req.jr_timeframe);
	if (!collect(&j) || !optimize(&j))
		goto failed;
	if (j.j_req.jr_validate && !validate(&j))
		goto failed;
	if (!save(&j))
		goto failed;
	e = tp_tracker_complete(j.j_t);
	if (e == TP_OK) {
		say("job %s: completed, best Sharpe %.4f with %s", job_id, j.j_best_score,
		    j.j_best_json);
		rc = 0;
	} else if (e == TP_ECANCELLED) {
		say("job %s: cancelled", job_id);
	} else {
		tracked(&j, e, "complete");
	}
	goto done;

failed:
	if (j.j_stop == TP_ECANCELLED) {
		say("job %s: cancelled: stopped at iteration %d", job_id, j.j_iter);
		goto done;
	}
	if (j.j_stop == TP_EFINISHED) {
		say("job %s: finished by someone else: stopped", job_id);
		goto done;
	}
	if (j.j_failure[0] == '\0')
		snprintf(j.j_failure, sizeof(j.j_failure), "tp-trainer was stopped (SIGTERM or "
		    "SIGINT) before the job finished; it is not requeued: start a new job");
	say("job %s: failed: %s", job_id, j.j_failure);
	e = tp_tracker_error(j.j_t, j.j_failure);
	if (e != TP_OK && e != TP_ECANCELLED)
		tracked(&j, e, "error");
done:
	series_free(&j.j_series);
	tp_tracker_close(j.j_t);
	return rc;
}

/* --- the worker -------------------------------------------------------------- */

/* A connection to the database, retried with backoff until it works or a stop. */
static PGconn *
connect_db(void)
{
	const char	*url = getenv("DATABASE_URL");
	PGconn		*db;
	long		 wait = 250;

	for (;;) {
		db = PQconnectdb(url ? url : "");
		if (PQstatus(db) == CONNECTION_OK)
			return db;
		say("cannot connect to the database: %s (again in %ld ms)",
		    PQerrorMessage(db), wait);
		PQfinish(db);
		if (stopping)
			return NULL;
		pause_ms(wait);
		if (stopping)
			return NULL;
		if (wait < 8000)
			wait *= 2;
	}
}

/*
 * Claims the oldest unclaimed queued job for `name`: 1 and its id and
 * request (malloc'd), 0 if there is none, -1 if the database failed.
 */
static int
claim(PGconn *db, const char *name, char **job_id, char **request)
{
	PGresult	*res;
	const char	*params[1] = { name };

	res = query(db, "UPDATE training_jobs AS j SET claimed_at = now(), claimed_by = $1"
	    " WHERE j.job_id = (SELECT q.job_id FROM training_jobs q"
	    "                   JOIN training_progress p ON p.job_id = q.job_id"
	    "                   WHERE q.claimed_at IS NULL AND p.status = 'queued'"
	    "                   ORDER BY q.created_at, q.job_id"
	    "                   LIMIT 1 FOR UPDATE OF q SKIP LOCKED)"
	    " AND j.claimed_at IS NULL"
	    " RETURNING j.job_id, j.request::text", 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		say("claiming a job: %s", PQerrorMessage(db));
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	*job_id = strdup(PQgetvalue(res, 0, 0));
	*request = strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (*job_id == NULL || *request == NULL) {
		free(*job_id);
		free(*request);
		return -1;
	}
	return 1;
}

/* LISTEN trainprog_jobs: false (said why) when the database refused. */
static bool
listen_jobs(PGconn *db)
{
	PGresult	*res = PQexec(db, "LISTEN trainprog_jobs");
	bool		 ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		say("LISTEN trainprog_jobs: %s", PQerrorMessage(db));
	PQclear(res);
	return ok;
}

/*
 * Takes jobs until stopped (or, with once / idle_exit, sooner).  One
 * publisher writes the progress of every job, on a connection of its own
 * that it keeps from one job to the next.
 */
static int
work(const char *name, long poll_ms, long min_iter_ms, bool once, bool idle_exit)
{
	struct tp_publisher	*pub;
	PGconn			*db = NULL;
	char			*job_id, *request;
	int			 got, rc = 0;
	enum tp_err		 e;

	if ((e = tp_publisher_open(&pub, NULL, 1)) != TP_OK) {
		say("%s: %s", name, tp_strerror(e));
		return 1;
	}
	say("%s: waiting for queued jobs", name);
	while (!stopping) {
		if (db == NULL || PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			if ((db = connect_db()) == NULL)
				break;
			/* Before the first look: a job queued after it wakes us. */
			if (!listen_jobs(db)) {
				PQfinish(db);
				db = NULL;
				pause_ms(DB_RETRY_MS);
				continue;
			}
		}
		got = claim(db, name, &job_id, &request);
		if (got == -1) {
			PQfinish(db);
			db = NULL;
			pause_ms(DB_RETRY_MS);
			continue;
		}
		if (got == 0) {
			if (idle_exit)
				break;
			if (pg_wait_notify(db, poll_ms, &stopping) == -1) {
				PQfinish(db);
				db = NULL;
			}
			continue;
		}
		say("%s: claimed job %s", name, job_id);
		rc = run_job(db, pub, job_id, request, min_iter_ms);
		free(job_id);
		free(request);
		if (once)
			break;
	}
	PQfinish(db);
	tp_publisher_close(pub);
	/* Stopped by a signal: a clean stop, whatever became of the job. */
	return once ? rc : 0;
}

/* --- --simulate: the four steps with a simulated optimizer ------------------ */

/* Reports a failed call; the training goes on: progress is not the job. */
static void
check(struct tp_tracker *t, enum tp_err err, const char *what)
{
	char	 problem[256];

	if (err == TP_OK)
		return;
	tp_tracker_problem(t, problem, sizeof(problem));
	say("%s: %s%s%s", what, tp_strerror(err), problem[0] ? ": " : "", problem);
}

/* Runs `chunks` chunks of simulated work in the current step. */
static int
simple_step(struct tp_tracker *t, int chunks, long ms)
{
	struct tp_update	 u = { 0 };
	int			 i;

	for (i = 1; i <= chunks && !stopping; i++) {
		pause_ms(ms);
		u.fields = TP_UPD_STEP_PERCENTAGE;
		u.step_percentage = 100.0 * i / chunks;
		check(t, tp_tracker_update(t, &u), "update");
	}
	return stopping ? -1 : 0;
}

static int
simulate(const char *job, long iterations, long ms, unsigned long seed,
    const char *fail_in, bool skip_validation)
{
	struct tp_tracker	*t = NULL;
	struct tp_update	 u;
	struct tp_tracker_stats	 st;
	char			 details[128], params[160];
	double			 best = -1e300, score, depth, spike;
	long			 i;
	int			 rc = 1;
	enum tp_err		 err;

	if ((err = tp_tracker_open(&t, job, NULL)) != TP_OK) {
		say("%s", tp_strerror(err));
		return 1;
	}
	check(t, tp_tracker_start(t, "data_collection", "{\"symbol\": \"BTC/USDT\", "
	    "\"exchange\": \"binanceus\", \"timeframe\": \"5m\", \"lookback_days\": 90}"), "start");
	if (fail_in && strcmp(fail_in, "data_collection") == 0)
		goto failed;
	if (simple_step(t, 10, ms) == -1)
		goto failed;

	snprintf(details, sizeof(details), "{\"optimizer\": \"simulated\", \"n_calls\": %ld}",
	    iterations);
	check(t, tp_tracker_start(t, "optimization", details), "start");
	for (i = 1; i <= iterations && !stopping; i++) {
		pause_ms(ms);
		depth = 0.05 + 0.2 * rnd(&seed);
		spike = 1.5 + 2.0 * rnd(&seed);
		score = 1.0 + rnd(&seed) + 0.5 * (double)i / (double)iterations;
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION |
		    TP_UPD_TOTAL_ITERATIONS | TP_UPD_CURRENT_SCORE;
		u.step_percentage = 100.0 * (double)i / (double)iterations;
		u.iteration = (int32_t)i;
		u.total_iterations = (int32_t)iterations;
		u.current_score = score;
		if (score > best) {
			best = score;
			snprintf(params, sizeof(params), "{\"pierce_depth\": %.3f, "
			    "\"volume_spike_threshold\": %.2f, \"reversal_candles\": %ld}",
			    depth, spike, 1 + i % 5);
			u.fields |= TP_UPD_BEST_SCORE | TP_UPD_BEST_PARAMS;
			u.best_score = best;
			u.best_params = params;
		}
		check(t, tp_tracker_update(t, &u), "update");
		if (fail_in && strcmp(fail_in, "optimization") == 0 && i == iterations / 2)
			goto failed;
	}
	if (stopping)
		goto failed;

	if (!skip_validation) {
		check(t, tp_tracker_start(t, "validation", "{\"train_window_days\": 60, "
		    "\"test_window_days\": 30, \"gap_days\": 7}"), "start");
		if (fail_in && strcmp(fail_in, "validation") == 0)
			goto failed;
		if (simple_step(t, 5, ms) == -1)
			goto failed;
	}

	check(t, tp_tracker_start(t, "save_configuration", NULL), "start");
	if (simple_step(t, 2, ms) == -1)
		goto failed;
	err = tp_tracker_complete(t);
	check(t, err, "complete");
	rc = err == TP_OK ? 0 : 1;
	goto done;

failed:
	err = tp_tracker_error(t, stopping ? "training interrupted by a signal" :
	    "simulated failure (--fail-in)");
	check(t, err, "error");
	rc = 3;
done:
	tp_tracker_stats(t, &st);
	printf("%s: job %s: %llu states, %llu writes, %llu coalesced, "
	    "%llu failed attempts\n", progname, job, (unsigned long long)st.ts_states,
	    (unsigned long long)st.ts_writes, (unsigned long long)st.ts_coalesced,
	    (unsigned long long)st.ts_failures);
	tp_tracker_close(t);
	return rc;
}

/* --- main ---------------------------------------------------------------------- */

static int
usage(void)
{
	fprintf(stderr,
	    "usage: %s [--name NAME] [--poll-ms MS] [--min-iteration-ms MS] [--once]\n"
	    "                  [--exit-when-idle]\n"
	    "       %s --simulate --job ID [--iterations N] [--iteration-ms MS]\n"
	    "                  [--skip-validation] [--fail-in STEP] [--seed N]\n"
	    "Trains the jobs queued by POST /api/v2/training/jobs (DATABASE_URL says where).\n"
	    "  --name NAME             who claims the jobs (default: host:pid)\n"
	    "  --poll-ms MS            the longest wait between looks for a queued job when none\n"
	    "                          is announced (default 10000)\n"
	    "  --min-iteration-ms MS   slow each optimizer iteration to at least MS, so that a\n"
	    "                          person can watch a short job (default 0)\n"
	    "  --once                  run one job, then exit: 0 completed, 1 failed or cancelled\n"
	    "  --exit-when-idle        exit when no job is queued\n"
	    "  --simulate --job ID     walk job ID's four steps with a simulated optimizer\n",
	    progname, progname);
	return 2;
}

/* A whole number in [lo, hi] from an option's argument, or -1 after a message. */
static long
number(const char *opt, const char *arg, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi) {
		say("%s: \"%s\" is not a whole number in %ld..%ld", opt, arg, lo, hi);
		return -1;
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char	*job = NULL, *fail_in = NULL, *name = NULL;
	char		 host[128], defname[192];
	long		 iterations = 50, ms = 100, poll_ms = 10000, min_iter_ms = 0, v;
	unsigned long	 seed = 1;
	bool		 sim = false, skip_validation = false, once = false, idle_exit = false;
	struct sigaction sa;
	int		 i;

	for (i = 1; i < argc; i++) {
		const char	*a = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--simulate") == 0)
			sim = true;
		else if (strcmp(a, "--skip-validation") == 0)
			skip_validation = true;
		else if (strcmp(a, "--once") == 0)
			once = true;
		else if (strcmp(a, "--exit-when-idle") == 0)
			idle_exit = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage();
			return 0;
		} else if (arg == NULL)
			return usage();
		else if (strcmp(a, "--job") == 0)
			job = argv[++i];
		else if (strcmp(a, "--fail-in") == 0)
			fail_in = argv[++i];
		else if (strcmp(a, "--name") == 0)
			name = argv[++i];
		else if (strcmp(a, "--seed") == 0) {
			if ((v = number(a, arg, 0, 2147483647)) == -1)
				return 2;
			seed = (unsigned long)v;
			i++;
		} else if (strcmp(a, "--iterations") == 0) {
			if ((iterations = number(a, arg, 1, 100000)) == -1)
				return 2;
			i++;
		} else if (strcmp(a, "--iteration-ms") == 0) {
			if ((ms = number(a, arg, 0, 60000)) == -1)
				return 2;
			i++;
		} else if (strcmp(a, "--poll-ms") == 0) {
			if ((poll_ms = number(a, arg, 10, 600000)) == -1)
				return 2;
			i++;
		} else if (strcmp(a, "--min-iteration-ms") == 0) {
			if ((min_iter_ms = number(a, arg, 0, 60000)) == -1)
				return 2;
			i++;
		} else
			return usage();
	}
	if (sim != (job != NULL)) {
		say(sim ? "--simulate needs --job ID" : "--job goes with --simulate");
		return usage();
	}
	if (!sim && (fail_in || skip_validation)) {
		say("--fail-in and --skip-validation go with --simulate");
		return usage();
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits end early */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (sim)
		return simulate(job, iterations, ms, seed, fail_in, skip_validation);
	if (name == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(defname, sizeof(defname), "%s:%ld", host, (long)getpid());
		name = defname;
	}
	return work(name, poll_ms, min_iter_ms, once, idle_exit);
}

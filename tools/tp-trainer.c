/*
 * tp-trainer.c: an example trainer.  It walks the four steps of a training
 * job with a simulated optimizer and publishes its progress through
 * libtrainprog, the way a real trainer would: read it as the worked example
 * of the tracker API (include/tp/tracker.h).  It links the shared library
 * and uses nothing but the public headers.
 *
 *   tp-trainer --job ID [--iterations N] [--iteration-ms MS]
 *              [--skip-validation] [--fail-in STEP] [--seed N]
 *
 * The connection string comes from $DATABASE_URL (deploy/dev-stack env).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tp/trainprog.h>
#include <tp/tracker.h>

static volatile sig_atomic_t	 interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
pause_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !interrupted)
		continue;
}

/* A deterministic pseudo-random number in [0, 1). */
static double
rnd(unsigned long *state)
{
	*state = *state * 6364136223846793005UL + 1442695040888963407UL;
	return (double)(*state >> 11) / 9007199254740992.0;
}

/* Reports a failed call; the training goes on: progress is not the job. */
static void
check(struct tp_tracker *t, enum tp_err err, const char *what)
{
	char	 problem[256];

	if (err == TP_OK)
		return;
	tp_tracker_problem(t, problem, sizeof(problem));
	fprintf(stderr, "tp-trainer: %s: %s%s%s\n", what, tp_strerror(err),
	    problem[0] ? ": " : "", problem);
}

/* Runs `chunks` chunks of simulated work in the current step. */
static int
simple_step(struct tp_tracker *t, int chunks, long ms)
{
	struct tp_update	 u = { 0 };
	int			 i;

	for (i = 1; i <= chunks && !interrupted; i++) {
		pause_ms(ms);
		u.fields = TP_UPD_STEP_PERCENTAGE;
		u.step_percentage = 100.0 * i / chunks;
		check(t, tp_tracker_update(t, &u), "update");
	}
	return interrupted ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct tp_tracker	*t = NULL;
	struct tp_update	 u;
	struct tp_tracker_stats	 st;
	const char		*job = NULL, *fail_in = NULL;
	char			 details[128], params[160];
	double			 best = -1e300, score, depth, spike;
	unsigned long		 seed = 1;
	long			 iterations = 50, ms = 100;
	int			 i, skip_validation = 0, rc = 1;
	enum tp_err		 err;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--job") == 0 && i + 1 < argc)
			job = argv[++i];
		else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
			iterations = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--iteration-ms") == 0 && i + 1 < argc)
			ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--fail-in") == 0 && i + 1 < argc)
			fail_in = argv[++i];
		else if (strcmp(argv[i], "--skip-validation") == 0)
			skip_validation = 1;
		else {
			fprintf(stderr, "usage: tp-trainer --job ID [--iterations N] "
			    "[--iteration-ms MS] [--skip-validation] [--fail-in STEP] [--seed N]\n");
			return 2;
		}
	}
	if (job == NULL || iterations < 1 || iterations > 100000 || ms < 0 || ms > 60000) {
		fprintf(stderr, "tp-trainer: --job is required; --iterations 1..100000, "
		    "--iteration-ms 0..60000\n");
		return 2;
	}
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);

	/* 1. Open: no network yet; the tracker connects when it has something to say. */
	if ((err = tp_tracker_open(&t, job, NULL)) != TP_OK) {
		fprintf(stderr, "tp-trainer: %s\n", tp_strerror(err));
		return 1;
	}

	/* 2. Data Collection. */
	check(t, tp_tracker_start(t, "data_collection", "{\"symbol\": \"BTC/USDT\", "
	    "\"exchange\": \"binanceus\", \"timeframe\": \"5m\", \"lookback_days\": 90}"), "start");
	if (fail_in && strcmp(fail_in, "data_collection") == 0)
		goto failed;
	if (simple_step(t, 10, ms) == -1)
		goto failed;

	/* 3. Optimization: one update per iteration, never waiting on the database. */
	snprintf(details, sizeof(details), "{\"optimizer\": \"bayesian\", \"n_calls\": %ld}",
	    iterations);
	check(t, tp_tracker_start(t, "optimization", details), "start");
	for (i = 1; i <= iterations && !interrupted; i++) {
		pause_ms(ms);
		depth = 0.05 + 0.2 * rnd(&seed);
		spike = 1.5 + 2.0 * rnd(&seed);
		score = 1.0 + rnd(&seed) + 0.5 * i / iterations;
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION |
		    TP_UPD_TOTAL_ITERATIONS | TP_UPD_CURRENT_SCORE;
		u.step_percentage = 100.0 * i / iterations;
		u.iteration = i;
		u.total_iterations = (int32_t)iterations;
		u.current_score = score;
		if (score > best) {
			best = score;
			snprintf(params, sizeof(params), "{\"pierce_depth\": %.3f, "
			    "\"volume_spike_threshold\": %.2f, \"reversal_candles\": %d}",
			    depth, spike, 1 + i % 5);
			u.fields |= TP_UPD_BEST_SCORE | TP_UPD_BEST_PARAMS;
			u.best_score = best;
			u.best_params = params;
		}
		check(t, tp_tracker_update(t, &u), "update");
		if (fail_in && strcmp(fail_in, "optimization") == 0 && i == iterations / 2)
			goto failed;
	}
	if (interrupted)
		goto failed;

	/* 4. Validation, which a job may skip. */
	if (!skip_validation) {
		check(t, tp_tracker_start(t, "validation", "{\"train_window_days\": 60, "
		    "\"test_window_days\": 30, \"gap_days\": 7}"), "start");
		if (fail_in && strcmp(fail_in, "validation") == 0)
			goto failed;
		if (simple_step(t, 5, ms) == -1)
			goto failed;
	}

	/* 5. Save Configuration, then complete: this one waits for the commit. */
	check(t, tp_tracker_start(t, "save_configuration", NULL), "start");
	if (simple_step(t, 2, ms) == -1)
		goto failed;
	err = tp_tracker_complete(t);
	check(t, err, "complete");
	rc = err == TP_OK ? 0 : 1;
	goto done;

failed:
	err = tp_tracker_error(t, interrupted ? "training interrupted by a signal" :
	    "simulated failure (--fail-in)");
	check(t, err, "error");
	rc = 3;
done:
	tp_tracker_stats(t, &st);
	printf("tp-trainer: job %s: %llu states, %llu writes, %llu coalesced, "
	    "%llu failed attempts\n", job, (unsigned long long)st.ts_states,
	    (unsigned long long)st.ts_writes, (unsigned long long)st.ts_coalesced,
	    (unsigned long long)st.ts_failures);
	/* 6. Close: flushes what is left, stops the sender, frees everything. */
	tp_tracker_close(t);
	return rc;
}

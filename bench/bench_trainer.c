/*
 * bench_trainer.c: what publishing progress costs a trainer.  The loop of
 * tp-trainer's Optimization step (ask the optimizer, backtest a year of
 * hourly candles, tell it the score, report the iteration), timed with and
 * without the tracker's update per iteration, in alternating rounds of the
 * same run, against the database of $DATABASE_URL.
 *
 *   bench_trainer [-n ITERATIONS] [-r ROUNDS] [-i MIN_WRITE_INTERVAL_MS]
 *
 * Prints TSV lines "trainer <metric> <value>" for bench/run: the median
 * seconds of a round's loop plain and tracked, the overhead (the median
 * over rounds of tracked / plain - 1, the two loops of a round run back to
 * back, so that the machine's slower moments fall on both sides of a
 * ratio), the writes the tracker made, and how long complete() waited
 * for its commit at the end of a tracked round (once a job, outside the
 * loop's time).  Asserts nothing about timings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tp/tracker.h>

#include "../tools/train/train.h"

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The ranges of POST /jobs's defaults, searched continuously: the default
 * steps leave 550 points, and a random search stops when it has tried them.
 */
static void
default_space(struct opt_space *sp)
{
	struct jobreq	 r;
	char		 field[64], err[256];
	int		 i;

	if (jobreq_parse("{}", 2, &r, field, sizeof(field), err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_trainer: jobreq_parse({}): %s: %s\n", field, err);
		exit(1);
	}
	*sp = r.jr_space;
	for (i = 0; i < sp->os_n; i++)
		if (!sp->os_dim[i].od_integer)
			sp->os_dim[i].od_step = 0;
}

/*
 * One round: n iterations of a random search over s; with a tracker (t not
 * NULL), an update per iteration as tp-trainer makes it.  Returns the
 * seconds of the loop; *done_ms gets how long complete() then waited (the
 * one synchronous commit of a job, not a cost per iteration).
 */
static double
round_of(const struct series *s, const struct opt_space *sp, int n, uint64_t seed,
    struct tp_tracker *t, double *sink, double *done_ms)
{
	struct optimizer	*o;
	struct sweep_params	 p;
	struct backtest_result	 r;
	struct tp_update	 u;
	double			 x[OPT_MAX_DIMS], best = -1e300, t0, t1;
	char			 err[256], params[256];
	int			 i;

	if ((o = opt_new(OPT_RANDOM, sp, n, seed, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_trainer: %s\n", err);
		exit(1);
	}
	t0 = now_s();
	if (t != NULL)
		tp_tracker_start(t, "optimization", "{\"optimizer\": \"random\"}");
	for (i = 1; opt_ask(o, x) == 1; i++) {
		p.sp_pierce_depth = x[0];
		p.sp_volume_spike = x[1];
		p.sp_reversal_candles = (int)(x[2] + 0.5);
		backtest_run(s->s_c, s->s_n, &p, 0.001, 8760, &r);
		opt_tell(o, x, r.br_sharpe);
		*sink += r.br_sharpe;
		if (t == NULL)
			continue;
		memset(&u, 0, sizeof(u));
		u.fields = TP_UPD_STEP_PERCENTAGE | TP_UPD_ITERATION | TP_UPD_TOTAL_ITERATIONS |
		    TP_UPD_CURRENT_SCORE;
		u.step_percentage = 100.0 * i / n;
		u.iteration = i;
		u.total_iterations = n;
		u.current_score = r.br_sharpe;
		if (r.br_sharpe > best) {
			best = r.br_sharpe;
			snprintf(params, sizeof(params), "{\"pierce_depth\": %.10g, "
			    "\"volume_spike_threshold\": %.10g, \"reversal_candles\": %d}",
			    x[0], x[1], p.sp_reversal_candles);
			u.fields |= TP_UPD_BEST_SCORE | TP_UPD_BEST_PARAMS;
			u.best_score = best;
			u.best_params = params;
		}
		tp_tracker_update(t, &u);
	}
	t1 = now_s();
	if (t != NULL) {
		tp_tracker_complete(t);
		*done_ms = (now_s() - t1) * 1000;
	}
	opt_free(o);
	return t1 - t0;
}

int
main(int argc, char **argv)
{
	struct series		 s = { 0 };
	struct opt_space	 sp;
	struct tp_publisher	*pub;
	struct tp_options	 o;
	struct tp_tracker	*t;
	struct tp_tracker_stats	 st;
	double			*plain, *tracked, *ratio, *done, sink = 0;
	char			 err[256], job[64];
	uint64_t		 writes = 0;
	int			 n = 2000, rounds = 7, interval = -1, c, k;
	enum tp_err		 e;

	while ((c = getopt(argc, argv, "n:r:i:")) != -1) {
		switch (c) {
		case 'i':
			interval = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench_trainer [-n ITERATIONS] [-r ROUNDS] "
			    "[-i MIN_WRITE_INTERVAL_MS]\n");
			return 2;
		}
	}
	if (n < 1 || n > 1000000 || rounds < 1 || rounds > 1000 || interval < -1 ||
	    interval > 60000) {
		fprintf(stderr, "bench_trainer: -n 1..1000000, -r 1..1000, -i 0..60000\n");
		return 2;
	}
	if (candles_synth(&s, "BTC/USDT", 1, 3600, 1735689600, 8760, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_trainer: %s\n", err);
		return 1;
	}
	default_space(&sp);
	/* As tp-trainer does: one publisher, whose connection outlives each job. */
	tp_options_init(&o);
	if (interval >= 0)
		o.min_write_interval_ms = interval;
	if ((e = tp_publisher_open(&pub, &o, 1)) != TP_OK) {
		fprintf(stderr, "bench_trainer: %s\n", tp_strerror(e));
		return 1;
	}
	o.publisher = pub;
	plain = calloc((size_t)rounds, sizeof(double));
	tracked = calloc((size_t)rounds, sizeof(double));
	ratio = calloc((size_t)rounds, sizeof(double));
	done = calloc((size_t)rounds, sizeof(double));
	if (plain == NULL || tracked == NULL || ratio == NULL || done == NULL)
		return 1;
	/*
	 * A first round of each warms the caches and the connection.  Then the
	 * two alternate, one first in a round and the other in the next (the
	 * second of two identical runs is the faster one), each round with a
	 * seed of its own.
	 */
	for (k = -1; k < rounds; k++) {
		double	 a = 0, b, d = 0;

		if (k % 2 == 0)
			a = round_of(&s, &sp, n, (uint64_t)k + 2, NULL, &sink, &d);
		snprintf(job, sizeof(job), "bench-trainer-%ld-%d", (long)getpid(), k + 1);
		if ((e = tp_tracker_open(&t, job, &o)) != TP_OK) {
			fprintf(stderr, "bench_trainer: %s\n", tp_strerror(e));
			return 1;
		}
		b = round_of(&s, &sp, n, (uint64_t)k + 2, t, &sink, &d);
		if (k % 2 != 0)
			a = round_of(&s, &sp, n, (uint64_t)k + 2, NULL, &sink, &d);
		tp_tracker_stats(t, &st);
		tp_tracker_close(t);
		if (k < 0)
			continue;
		plain[k] = a;
		tracked[k] = b;
		ratio[k] = b / a;
		done[k] = d;
		writes += st.ts_writes;
	}
	qsort(plain, (size_t)rounds, sizeof(double), cmp_double);
	qsort(tracked, (size_t)rounds, sizeof(double), cmp_double);
	qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
	qsort(done, (size_t)rounds, sizeof(double), cmp_double);
	printf("trainer\titerations\t%d\n", n);
	printf("trainer\trounds\t%d\n", rounds);
	printf("trainer\tinterval_ms\t%d\n", o.min_write_interval_ms);
	printf("trainer\tplain_s\t%.6f\n", plain[rounds / 2]);
	printf("trainer\ttracked_s\t%.6f\n", tracked[rounds / 2]);
	printf("trainer\toverhead\t%.6f\n", ratio[rounds / 2] - 1);
	printf("trainer\twrites_per_round\t%" PRIu64 "\n", writes / (uint64_t)rounds);
	printf("trainer\tcomplete_ms\t%.3f\n", done[rounds / 2]);
	/* Keeps the backtests from being optimised away. */
	if (sink == 12345.678)
		printf("#\n");
	tp_publisher_close(pub);
	series_free(&s);
	free(plain);
	free(tracked);
	free(ratio);
	free(done);
	return 0;
}

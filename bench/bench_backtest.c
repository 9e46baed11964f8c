/*
 * bench_backtest.c: the reference trainer's engine, measured.
 *
 *   1. backtest_run() over a year of hourly synthetic candles (8760):
 *      iterations a second, the median of 5 rounds of at least 0.5 s each.
 *   2. A whole 50-call optimisation of the strategy's three parameters
 *      (each call a backtest of the same year, scored by its Sharpe ratio),
 *      Bayesian and random: seconds, the median of 3 rounds.
 *
 * Prints one line per metric, tab-separated: "backtest\t<metric>\t<value>"
 * (backtest_per_s, bayesian50_s, random50_s).  --smoke: a tiny version
 * (500 candles, one short round, 10 calls) that only shows it works; the
 * metric names stay the same.  Timings are printed, never judged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tools/train/train.h"

#define END_TS	INT64_C(1735689600)	/* 2025-01-01T00:00:00Z */

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts it). */
static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The strategy's space, as POST /jobs's defaults describe it. */
static void
strategy_space(struct opt_space *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->os_n = 3;
	snprintf(sp->os_dim[0].od_name, OPT_NAME_MAX, "pierce_depth");
	sp->os_dim[0].od_min = 0.05;
	sp->os_dim[0].od_max = 1.0;
	snprintf(sp->os_dim[1].od_name, OPT_NAME_MAX, "volume_spike_threshold");
	sp->os_dim[1].od_min = 1.5;
	sp->os_dim[1].od_max = 5.0;
	snprintf(sp->os_dim[2].od_name, OPT_NAME_MAX, "reversal_candles");
	sp->os_dim[2].od_min = 1;
	sp->os_dim[2].od_max = 10;
	sp->os_dim[2].od_integer = true;
}

/* One whole optimisation of n_calls backtests; its seconds. */
static double
optimise(enum opt_kind kind, const struct series *s, int n_calls, uint64_t seed)
{
	struct opt_space	 sp;
	struct optimizer	*o;
	struct sweep_params	 p;
	struct backtest_result	 r;
	double			 x[OPT_MAX_DIMS], t0;
	char			 err[256];

	strategy_space(&sp);
	t0 = now();
	if ((o = opt_new(kind, &sp, n_calls, seed, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_backtest: %s\n", err);
		exit(1);
	}
	while (opt_ask(o, x)) {
		p.sp_pierce_depth = x[0];
		p.sp_volume_spike = x[1];
		p.sp_reversal_candles = (int)x[2];
		if (backtest_run(s->s_c, s->s_n, &p, 0.001, 8760, &r) == -1) {
			fprintf(stderr, "bench_backtest: backtest_run refused a point\n");
			exit(1);
		}
		opt_tell(o, x, r.br_sharpe);
	}
	opt_free(o);
	return now() - t0;
}

int
main(int argc, char **argv)
{
	struct series		 s = { 0 };
	struct sweep_params	 p = { 0.15, 2.5, 3 };
	struct backtest_result	 r;
	double			 v[5], t0, t;
	char			 err[256];
	bool			 smoke = false;
	int			 i, rounds, opt_rounds, n_calls;
	long			 it, min_it;
	size_t			 n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = true;
		else {
			fprintf(stderr, "usage: bench_backtest [--smoke]\n");
			return 2;
		}
	}
	n = smoke ? 500 : 8760;
	rounds = smoke ? 1 : 5;
	opt_rounds = smoke ? 1 : 3;
	n_calls = smoke ? 10 : 50;
	min_it = smoke ? 10 : 50;
	if (candles_synth(&s, "BTCUSDT", 1, 3600, END_TS, n, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_backtest: %s\n", err);
		return 1;
	}

	for (i = 0; i < rounds; i++) {
		t0 = now();
		it = 0;
		do {
			if (backtest_run(s.s_c, s.s_n, &p, 0.001, 8760, &r) == -1) {
				fprintf(stderr, "bench_backtest: backtest_run failed\n");
				return 1;
			}
			it++;
		} while (it < min_it || (!smoke && now() - t0 < 0.5));
		t = now() - t0;
		v[i] = (double)it / t;
	}
	printf("backtest\tbacktest_per_s\t%.1f\n", median(v, rounds));

	for (i = 0; i < opt_rounds; i++)
		v[i] = optimise(OPT_BAYESIAN, &s, n_calls, 7 + (uint64_t)i);
	printf("backtest\tbayesian50_s\t%.4f\n", median(v, opt_rounds));
	for (i = 0; i < opt_rounds; i++)
		v[i] = optimise(OPT_RANDOM, &s, n_calls, 7 + (uint64_t)i);
	printf("backtest\trandom50_s\t%.4f\n", median(v, opt_rounds));
	series_free(&s);
	return 0;
}

/* test_eta.c: lib/eta.c: the ETA estimator, on an injected clock. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <criterion/criterion.h>

#include "../../lib/lib.h"

#define S	INT64_C(1000000)	/* one second in microseconds */
#define T0	(INT64_C(1761199200) * S)

/* A small deterministic generator, so that "noise" is the same every run. */
static uint64_t	 rng = 88172645463325252ULL;

static double
uniform(double lo, double hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (hi - lo) * (double)(rng >> 11) / (double)(UINT64_C(1) << 53);
}

/* Relative error of an ETA: |eta - truth| over the time truly remaining. */
static double
rel_error(int64_t eta, int64_t truth, int64_t now)
{
	return fabs((double)(eta - truth)) / (double)(truth - now);
}

Test(eta, no_estimate_until_enough_data)
{
	struct eta	 e;
	int64_t		 out;

	eta_reset(&e);
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 25.0, T0, &out));
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 26.0, T0 + S / 2, &out),
	    "one sample is not enough");
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 27.0, T0 + S, &out));
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 28.0, T0 + 3 * S / 2, &out),
	    "three samples within 1.5 s are not enough: too short a span");
	cr_assert(eta_observe(&e, TP_STEP_OPTIMIZATION, 29.0, T0 + 2 * S, &out),
	    "four samples over 2 s are");
}

Test(eta, no_progress_no_estimate)
{
	struct eta	 e;
	int64_t		 out;
	int		 i;

	eta_reset(&e);
	for (i = 0; i < 20; i++)
		cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 25.0, T0 + i * S, &out));
}

/* Constant pace: once shown, the ETA is within 2 % of the truth. */
Test(eta, constant_pace_within_2_percent)
{
	struct eta	 e;
	int64_t		 out, now, truth;
	double		 pct, worst = 0;
	int		 i, shown = 0;

	eta_reset(&e);
	/* Optimization from 25 % at 1 % every 10 s: 100 % at T0 + 750 s. */
	truth = T0 + 750 * S;
	for (i = 0; i <= 50; i++) {
		now = T0 + i * 10 * S;
		pct = 25.0 + i;
		if (!eta_observe(&e, TP_STEP_OPTIMIZATION, pct, now, &out))
			continue;
		shown++;
		cr_assert_geq(out, now, "never in the past");
		if (rel_error(out, truth, now) > worst)
			worst = rel_error(out, truth, now);
	}
	cr_assert_geq(shown, 45, "shown from the third sample on (%d)", shown);
	cr_assert_leq(worst, 0.02, "worst error %.4f", worst);
}

/*
 * The pace halves half-way: the ETA follows the new pace to within 5 % in
 * a bounded number of updates, and stays there.
 */
Test(eta, pace_change_converges_within_12_updates)
{
	struct eta	 e;
	int64_t		 out, now = T0, truth;
	double		 pct = 25.0, err;
	int		 i, since_change = 0, converged_after = -1;

	eta_reset(&e);
	for (i = 0; i < 70 && pct < 100.0; i++) {
		bool slow = i >= 25;

		if (i > 0) {
			now += (slow ? 20 : 10) * S;
			pct += 1.0;
		}
		if (slow)
			since_change++;
		if (!eta_observe(&e, TP_STEP_OPTIMIZATION, pct, now, &out))
			continue;
		if (!slow)
			continue;
		truth = now + (int64_t)((100.0 - pct) * 20) * S;
		err = rel_error(out, truth, now);
		if (err <= 0.05 && converged_after == -1)
			converged_after = since_change;
		if (converged_after != -1)
			cr_assert_leq(err, 0.05, "left the 5 %% band again after %d updates", since_change);
	}
	cr_assert_neq(converged_after, -1, "never converged");
	cr_log_info("converged after %d updates", converged_after);
	cr_assert_leq(converged_after, 12, "converged after %d updates", converged_after);
}

/*
 * Noisy iteration times: each iteration adds 1 % and takes between 0.5x and
 * 1.5x the mean of 10 s, at random (a fixed seed).  The truth is when the
 * job really ends.  Two measures, from the tenth update on:
 *
 *   jitter: the largest move of the ETA from one update to the next, as a
 *           fraction of the job's length (a perfect ETA never moves);
 *   error:  the largest distance from the truth, as a fraction of the time
 *           then remaining, while at most 90 % is done (near the end a
 *           single iteration is a large fraction of what remains).
 *
 * Jitter stays under 6 % of the job and error under 25 %, where the naive
 * estimate (the last iteration's pace) moves by a third of the job.
 */
Test(eta, noisy_iteration_times_bounded_jitter)
{
	struct eta	 e;
	int64_t		 dts[80], out, prev = 0, now = T0, truth = T0, naive, naive_prev = 0;
	double		 pct = 25.0, jitter = 0, naive_jitter = 0, error = 0, j, length;
	int		 i;

	for (i = 0; i < 75; i++) {
		dts[i] = (int64_t)(uniform(5.0, 15.0) * (double)S);
		truth += dts[i];
	}
	length = (double)(truth - T0);
	eta_reset(&e);
	(void)eta_observe(&e, TP_STEP_OPTIMIZATION, pct, now, &out);
	for (i = 1; i < 75; i++) {
		now += dts[i - 1];
		pct += 1.0;
		if (!eta_observe(&e, TP_STEP_OPTIMIZATION, pct, now, &out))
			continue;
		cr_assert_geq(out, now, "never in the past");
		naive = now + (int64_t)((100.0 - pct) * (double)dts[i - 1]);
		if (i >= 10) {
			j = fabs((double)(out - prev)) / length;
			jitter = j > jitter ? j : jitter;
			j = fabs((double)(naive - naive_prev)) / length;
			naive_jitter = j > naive_jitter ? j : naive_jitter;
			if (pct <= 90.0) {
				j = rel_error(out, truth, now);
				error = j > error ? j : error;
			}
		}
		prev = out;
		naive_prev = naive;
	}
	cr_log_info("jitter %.3f (naive %.3f), error %.3f", jitter, naive_jitter, error);
	cr_assert_lt(jitter, 0.06, "jitter %.3f", jitter);
	cr_assert_lt(error, 0.25, "error %.3f", error);
	cr_assert_gt(naive_jitter, 0.3, "the naive estimate jumps as expected (%.3f)", naive_jitter);
}

Test(eta, each_step_starts_afresh)
{
	struct eta	 e;
	int64_t		 out;
	int		 i;

	eta_reset(&e);
	for (i = 0; i <= 10; i++)
		(void)eta_observe(&e, TP_STEP_DATA_COLLECTION, 2.5 * i, T0 + i * S, &out);
	cr_assert(eta_observe(&e, TP_STEP_DATA_COLLECTION, 25.0, T0 + 11 * S, &out));
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 25.0, T0 + 12 * S, &out),
	    "a new step has its own pace: no estimate until it has shown one");
}

Test(eta, clock_going_back_restarts)
{
	struct eta	 e;
	int64_t		 out;
	int		 i;

	eta_reset(&e);
	for (i = 0; i <= 10; i++)
		(void)eta_observe(&e, TP_STEP_OPTIMIZATION, 25.0 + i, T0 + i * S, &out);
	cr_assert_not(eta_observe(&e, TP_STEP_OPTIMIZATION, 36.0, T0, &out));
}

Test(eta, fast_updates_merge_into_samples)
{
	struct eta	 e;
	int64_t		 out = 0, now;
	double		 pct;
	int		 i;
	bool		 shown = false;

	/* 1000 updates a second, 0.001 % each: a steady 1 %/s. */
	eta_reset(&e);
	for (i = 0; i <= 5000; i++) {
		now = T0 + i * (S / 1000);
		pct = 25.0 + i * 0.001;
		shown = eta_observe(&e, TP_STEP_OPTIMIZATION, pct, now, &out);
	}
	cr_assert(shown);
	/* At 30 % after 5 s, 70 % to go at 1 %/s: 70 s ahead. */
	cr_assert_leq(rel_error(out, now + 70 * S, now), 0.02);
}

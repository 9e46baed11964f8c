/*
 * eta.c: the ETA estimator.  docs/ETA.md explains the method; in short:
 *
 * The pace is the ratio of two exponentially decayed sums, progress made
 * over time spent, taken over samples at least ETA_SAMPLE_US apart.  A ratio
 * of sums (rather than an average of per-interval rates) is what makes
 * uneven iteration times harmless: a long iteration and a short one weigh by
 * their length, as they do in the truth.  Two such paces are kept: a slow
 * one with a long memory, which the ETA uses, and a fast one with a short
 * memory, which only watches.  When the fast pace stays more than
 * ETA_CHANGE_RATIO away from the slow one, on the same side, for
 * ETA_CHANGE_SAMPLES samples in a row, the pace has really changed and the
 * slow pace adopts the fast one's memory.  Noise seldom survives that test;
 * a real change passes it within a few samples.  Steps have their own paces,
 * so each step starts afresh, and until it has given ETA_MIN_SAMPLES samples
 * over ETA_MIN_SPAN_US there is no estimate rather than a wild one.
 */
#include <string.h>

#include "lib.h"

/* Weight an older sample keeps at each new one: slow ~20 samples, fast ~2.5. */
#define ETA_DECAY_SLOW		0.95
#define ETA_DECAY_FAST		0.6
/* A change of pace: the fast pace this far off the slow one ... */
#define ETA_CHANGE_RATIO	0.30
/* ... on the same side, this many samples in a row. */
#define ETA_CHANGE_SAMPLES	5
/* Observations closer together than this are merged into one sample. */
#define ETA_SAMPLE_US		INT64_C(250000)
/* No estimate before this many samples ... */
#define ETA_MIN_SAMPLES		3
/* ... spread over at least this long. */
#define ETA_MIN_SPAN_US		INT64_C(2000000)
/* Estimates further out than this are noise, not news: none is given. */
#define ETA_MAX_AHEAD_US	(INT64_C(366) * 24 * 3600 * 1000000)

void
eta_reset(struct eta *e)
{
	memset(e, 0, sizeof(*e));
	e->e_step = TP_STEP_NONE;
}

/* Forgets the samples, not how to estimate without them. */
static void
eta_restart(struct eta *e)
{
	bool	 fallback = e->e_pace_fallback;

	eta_reset(e);
	e->e_pace_fallback = fallback;
}

/* Takes one sample of dp percent over dt microseconds. */
static void
eta_sample(struct eta *e, double dp, double dt)
{
	double	 slow, fast, off;
	int	 side;

	e->e_slow_pct = ETA_DECAY_SLOW * e->e_slow_pct + dp;
	e->e_slow_us = ETA_DECAY_SLOW * e->e_slow_us + dt;
	e->e_fast_pct = ETA_DECAY_FAST * e->e_fast_pct + dp;
	e->e_fast_us = ETA_DECAY_FAST * e->e_fast_us + dt;
	e->e_samples++;

	slow = e->e_slow_pct / e->e_slow_us;
	fast = e->e_fast_pct / e->e_fast_us;
	side = 0;
	if (slow > 0.0) {
		off = (fast - slow) / slow;
		side = off > ETA_CHANGE_RATIO ? 1 : off < -ETA_CHANGE_RATIO ? -1 : 0;
	} else if (fast > 0.0)
		side = 1;
	if (side != 0 && side == e->e_side)
		e->e_streak++;
	else {
		e->e_side = side;
		e->e_streak = side != 0;
	}
	if (e->e_streak >= ETA_CHANGE_SAMPLES) {
		e->e_slow_pct = e->e_fast_pct;
		e->e_slow_us = e->e_fast_us;
		e->e_side = 0;
		e->e_streak = 0;
	}
}

bool
eta_observe(struct eta *e, enum tp_step step, double pct, int64_t now_us,
    int64_t *eta_us)
{
	double	 rate, ahead;
	int64_t	 dt;

	/* A new step, a first observation, or a clock that went back: start over. */
	if (step != e->e_step || e->e_first_us == 0 || now_us < e->e_last_us) {
		eta_restart(e);
		e->e_step = step;
		e->e_first_us = now_us != 0 ? now_us : 1;
		e->e_last_us = now_us;
		e->e_last_pct = pct;
		return false;
	}
	dt = now_us - e->e_last_us;
	if (dt >= ETA_SAMPLE_US) {
		eta_sample(e, pct > e->e_last_pct ? pct - e->e_last_pct : 0.0, (double)dt);
		e->e_last_us = now_us;
		e->e_last_pct = pct;
	}
	if (e->e_samples < ETA_MIN_SAMPLES || now_us - e->e_first_us < ETA_MIN_SPAN_US ||
	    e->e_slow_pct <= 0.0 || e->e_slow_us <= 0.0 || pct >= 100.0)
		return false;
	rate = e->e_slow_pct / e->e_slow_us;		/* percent per microsecond */
	ahead = (100.0 - pct) / rate;
	if (!(ahead >= 0.0) || ahead > (double)ETA_MAX_AHEAD_US)
		return false;
	*eta_us = now_us + (int64_t)ahead;
	return true;
}

bool
eta_from_step_start(enum tp_step step, double pct, int64_t step_started_us,
    int64_t now_us, int64_t *eta_us)
{
	double	 p0 = tp_progress_percentage(step, 0.0), rate, ahead;

	if (p0 < 0 || step_started_us <= 0 || now_us - step_started_us < ETA_MIN_SPAN_US ||
	    pct <= p0 || pct >= 100.0)
		return false;
	rate = (pct - p0) / (double)(now_us - step_started_us);
	ahead = (100.0 - pct) / rate;
	if (!(ahead >= 0.0) || ahead > (double)ETA_MAX_AHEAD_US)
		return false;
	*eta_us = now_us + (int64_t)ahead;
	return true;
}

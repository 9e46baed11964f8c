/*
 * backtest.c: the liquidity-sweep reversal strategy (train.h) over a
 * series, and its score.
 *
 * The exact rules, so that a trade can be computed by hand.  W is
 * SWEEP_WINDOW, H SWEEP_HOLD, R sp_reversal_candles, d sp_pierce_depth / 100,
 * v sp_volume_spike, f the fee; candles c[0..n), taken to be sane
 * (candle_problem(): as the CSV reader and the synthesis make them).
 *
 *  1. Sweeps.  A candle i >= W, while no position is open, is looked at
 *     against its window c[i-W..i-1]: L the lowest low, Hh the highest
 *     high, V the mean volume.  It sweeps the lows when
 *     low_i <= L * (1 - d) and volume_i >= v * V; it sweeps the highs when
 *     high_i >= Hh * (1 + d) and volume_i >= v * V.  A candle that sweeps
 *     both is ambiguous and is neither.  A new sweep replaces a pending one.
 *  2. Entry.  After a sweep of the lows at candle i (the swept level L, the
 *     extreme low_i), the first candle j in i .. i+R-1 whose close is above
 *     L opens a long at close_j; after a sweep of the highs, the first
 *     whose close is below Hh opens a short (extreme high_i).  No entry is
 *     made on the last candle (it could not be closed), and a sweep that
 *     sees no such close within R candles lapses.  Candles i+1 .. j are
 *     also looked at for sweeps (rule 1) while the entry is pending.
 *  3. Exit, at a close, on the first candle k > j where: the close reaches
 *     the extreme (long: close_k <= extreme; short: close_k >= extreme),
 *     or k = j + H, or k = n - 1.  Sweeps are looked for again from k + 1.
 *  4. Money.  Equity starts at 1.  Entering multiplies it by (1 - f);
 *     while a position is open its equity at the close of candle k is
 *     E_in * close_k / entry for a long and E_in * (2 - close_k / entry)
 *     for a short (a short of a fixed quantity), E_in the equity just after
 *     the entry fee; leaving multiplies by (1 - f) again.  A trade is a win
 *     when the equity after it is above the equity before it.  A short
 *     whose equity would reach 0 or less is closed there at 0, and nothing
 *     more is traded.
 *  5. Score.  The equity curve e_0 .. e_{n-1} (e_k at the close of candle
 *     k, after any fee paid there); per-candle returns r_k = e_k / e_{k-1}
 *     - 1 for k = 1 .. n-1 (0 once the equity is 0).  br_return is
 *     e_{n-1} - 1; br_sharpe is mean(r) / sd(r) * sqrt(periods_per_year)
 *     with the sample standard deviation (n - 2 in the denominator), 0 when
 *     there was no trade, n <= W, or sd is 0; br_max_drawdown is the largest
 *     (peak - e_k) / peak over the curve.
 */
#include <math.h>
#include <stdlib.h>

#include "train.h"

enum side { FLAT, LONG, SHORT };

/*
 * The volume of the SWEEP_WINDOW candles from c, summed in four
 * interleaved parts (independent additions: about four times faster).
 */
static double
window_volume(const struct candle *c)
{
	double	 s[4] = { 0, 0, 0, 0 };
	int	 k;

	for (k = 0; k + 4 <= SWEEP_WINDOW; k += 4) {
		s[0] += c[k].c_volume;
		s[1] += c[k + 1].c_volume;
		s[2] += c[k + 2].c_volume;
		s[3] += c[k + 3].c_volume;
	}
	for (; k < SWEEP_WINDOW; k++)
		s[0] += c[k].c_volume;
	return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Runs the strategy over c[0..n) (the rules at the top of the file). */
int
backtest_run(const struct candle *c, size_t n, const struct sweep_params *p, double fee,
    double periods_per_year, struct backtest_result *r)
{
	enum side	 pending = FLAT, pos = FLAT;
	size_t		 i, k, pend_until = 0, entry_at = 0, m = 0;
	double		 d, level = 0, pend_extreme = 0, extreme = 0, entry = 0, e = 1, e_prev,
			 e_in = 0, e_before = 0, lo, hi, vsum, peak = 1, dd, sum = 0, sumsq = 0,
			 ret, mean, var;
	bool		 ruined = false, sweep_lo, sweep_hi, close_now;

	if (r == NULL || p == NULL || (c == NULL && n > 0))
		return -1;
	if (!isfinite(p->sp_pierce_depth) || p->sp_pierce_depth < 0 ||
	    !isfinite(p->sp_volume_spike) || p->sp_volume_spike < 0 ||
	    p->sp_reversal_candles < 1 || !isfinite(fee) || fee < 0 || fee >= 1 ||
	    !isfinite(periods_per_year) || periods_per_year <= 0)
		return -1;
	r->br_trades = r->br_wins = 0;
	r->br_return = r->br_sharpe = r->br_max_drawdown = 0;
	if (n <= SWEEP_WINDOW)
		return 0;
	d = p->sp_pierce_depth / 100.0;

	for (i = 0; i < n; i++) {
		e_prev = e;
		/* 3: the open position, valued at this close, maybe closed. */
		if (pos != FLAT && i > entry_at) {
			if (pos == LONG) {
				e = e_in * c[i].c_close / entry;
				close_now = c[i].c_close <= extreme;
			} else {
				e = e_in * (2.0 - c[i].c_close / entry);
				close_now = c[i].c_close >= extreme;
			}
			if (e <= 0) {
				e = 0;
				ruined = true;
				pos = FLAT;
				pending = FLAT;
			} else if (close_now || i == entry_at + SWEEP_HOLD || i == n - 1) {
				e *= 1.0 - fee;
				if (e > e_before)
					r->br_wins++;
				pos = FLAT;
			}
		} else if (pos == FLAT && !ruined && i >= SWEEP_WINDOW && i > entry_at) {
			/* 1: is this candle a sweep?  (The volume first: it rules most out.) */
			vsum = window_volume(c + i - SWEEP_WINDOW) / SWEEP_WINDOW;
			sweep_lo = sweep_hi = false;
			if (c[i].c_volume >= p->sp_volume_spike * vsum) {
				lo = c[i - SWEEP_WINDOW].c_low;
				hi = c[i - SWEEP_WINDOW].c_high;
				for (k = i - SWEEP_WINDOW + 1; k < i; k++) {
					if (c[k].c_low < lo)
						lo = c[k].c_low;
					if (c[k].c_high > hi)
						hi = c[k].c_high;
				}
				sweep_lo = c[i].c_low <= lo * (1.0 - d);
				sweep_hi = c[i].c_high >= hi * (1.0 + d);
			}
			if (sweep_lo != sweep_hi) {
				pending = sweep_lo ? LONG : SHORT;
				level = sweep_lo ? lo : hi;
				pend_extreme = sweep_lo ? c[i].c_low : c[i].c_high;
				pend_until = i + (size_t)p->sp_reversal_candles - 1;
			}
			/* 2: does this close come back inside? */
			if (pending != FLAT && i > pend_until)
				pending = FLAT;
			if (pending != FLAT && i < n - 1 &&
			    (pending == LONG ? c[i].c_close > level : c[i].c_close < level)) {
				pos = pending;
				pending = FLAT;
				extreme = pend_extreme;
				entry = c[i].c_close;
				entry_at = i;
				e_before = e;
				e *= 1.0 - fee;
				e_in = e;
				r->br_trades++;
			}
		}
		/* 5: the curve's returns and drawdown. */
		if (i > 0) {
			/*
			 * Plain sums: the first SWEEP_WINDOW returns are 0, so with a
			 * trade the variance is never a difference of near-equals.
			 */
			ret = e_prev > 0 && e != e_prev ? e / e_prev - 1.0 : 0;
			m++;
			sum += ret;
			sumsq += ret * ret;
		}
		if (e > peak)
			peak = e;
		dd = (peak - e) / peak;
		if (dd > r->br_max_drawdown)
			r->br_max_drawdown = dd;
	}
	r->br_return = e - 1.0;
	if (r->br_trades > 0 && m >= 2) {
		mean = sum / (double)m;
		var = (sumsq - sum * mean) / (double)(m - 1);
		if (var > 0 && isfinite(var))
			r->br_sharpe = mean / sqrt(var) * sqrt(periods_per_year);
	}
	return 0;
}

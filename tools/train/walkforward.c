/*
 * walkforward.c: the windows of walk-forward validation (train.h).
 *
 * Window k (from 0) trains on [k * test, k * test + train), skips gap
 * candles, and tests on the next test candles; windows are made while the
 * test part ends at or before n.  A zero train or test length makes none.
 */
#include "train.h"

/* The walk-forward windows over n candles; how many fit. */
size_t
wf_windows(size_t n, size_t train, size_t gap, size_t test, struct wf_window *w, size_t max)
{
	size_t	 count = 0, from = 0, span;

	if (train == 0 || test == 0)
		return 0;
	/* train + gap + test, without overflowing */
	if (train > SIZE_MAX - gap || train + gap > SIZE_MAX - test)
		return 0;
	span = train + gap + test;
	while (span <= n && from <= n - span) {
		if (w != NULL && count < max) {
			w[count].w_train_from = from;
			w[count].w_train_to = from + train;
			w[count].w_test_from = from + train + gap;
			w[count].w_test_to = from + span;
		}
		count++;
		from += test;
	}
	return count;
}

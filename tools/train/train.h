/*
 * train.h: the reference trainer's engine (tp-trainer, tp-ohlcv): candles,
 * a liquidity-sweep reversal strategy and its backtest, three optimizers,
 * walk-forward validation, and the job request that POST /jobs accepts.
 *
 * Nothing here touches the network or the database: the programs do, and
 * the unit tests (t/unit/test_train.c, test_jobreq.c) drive these directly.
 * Every function that can fail writes a sentence into `err` (when given)
 * and returns -1; nothing here prints or exits.
 */
#ifndef TP_TRAIN_H
#define TP_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tp/notify.h>

/* --- candles (candles.c) ----------------------------------------------- */

struct candle {
	int64_t		 c_ts;		/* start, seconds since the epoch, UTC */
	double		 c_open, c_high, c_low, c_close, c_volume;
};

struct series {
	struct candle	*s_c;
	size_t		 s_n, s_cap;
};

void	 series_free(struct series *s);
/* Appends one candle (growing the array).  -1 on ENOMEM. */
int	 series_push(struct series *s, const struct candle *c);
/*
 * Is the candle sane: finite, low > 0, low <= min(open, close),
 * high >= max(open, close), volume >= 0?  NULL if so, else why not.
 */
const char *candle_problem(const struct candle *c);

/* Seconds in a timeframe ("1m" 60 ... "1d" 86400); 0 if not one we know:
   1m 5m 15m 30m 1h 4h 1d. */
int	 timeframe_seconds(const char *tf);

/*
 * Parses CSV candles: a header line naming the columns (any order, case
 * insensitive): timestamp (or time, date, ts), open, high, low, close,
 * volume; extra columns are ignored.  A timestamp is Unix seconds, Unix
 * milliseconds (13 digits), or ISO 8601 UTC ("2024-01-31T13:00:00Z", also
 * with a space for the T and without the Z).  Blank lines and a UTF-8 BOM
 * are skipped, CRLF is accepted, fields may be double-quoted.  Rows must
 * come in increasing time order with no duplicates, every candle sane
 * (candle_problem).  Appends to `out`.  On error: -1, and `err` names the
 * line ("line 7: high is below close").  Untrusted bytes: fuzzed
 * (t/fuzz/fuzz_csv.c).
 */
int	 candles_parse_csv(const char *buf, size_t len, struct series *out,
	    char *err, size_t errsz);

/*
 * A synthetic but realistic series: geometric Brownian motion whose
 * volatility clusters (GARCH(1,1)-like), with occasional volume spikes that
 * come with wicks through recent lows or highs, so the strategy below has
 * something to find.  Deterministic for a given (symbol, seed): the start
 * price derives from the symbol.  `n` candles of `tf_seconds` each, the
 * last one starting at `end_ts` (rounded down to the timeframe).
 */
int	 candles_synth(struct series *out, const char *symbol, uint64_t seed,
	    int tf_seconds, int64_t end_ts, size_t n, char *err, size_t errsz);

/* --- the strategy and its backtest (backtest.c) ------------------------- */

/*
 * Liquidity-sweep reversal, long and short.  Over the last SWEEP_WINDOW
 * candles, a candle whose low pierces the window's lowest low by at least
 * pierce_depth percent of that low, on volume at least
 * volume_spike_threshold times the window's mean volume, is a sweep; if a
 * close comes back above the swept low within reversal_candles candles
 * (counting the sweep itself), go long at that close.  Mirror image for a
 * sweep of the highs: short.  A position is closed at the close when the
 * price reaches the sweep's extreme (stop), or after SWEEP_HOLD candles,
 * or at the last candle.  One position at a time.  Fees are paid on entry
 * and exit, as a fraction of the traded value.
 */
#define SWEEP_WINDOW	20
#define SWEEP_HOLD	12

struct sweep_params {
	double		 sp_pierce_depth;	/* percent, e.g. 0.15 */
	double		 sp_volume_spike;	/* times the mean volume, e.g. 2.5 */
	int		 sp_reversal_candles;	/* 1.. */
};

struct backtest_result {
	int		 br_trades;
	int		 br_wins;
	double		 br_return;		/* compounded, 0.12 = +12 % */
	double		 br_sharpe;		/* annualised, of per-candle returns */
	double		 br_max_drawdown;	/* 0.2 = 20 % from a peak */
};

/*
 * Runs the strategy over c[0..n) with fee `fee` (0.001 = 0.1 % a side),
 * annualising with `periods_per_year` candles.  A series too short for
 * the window, or with no trade, scores a Sharpe of 0.
 */
int	 backtest_run(const struct candle *c, size_t n, const struct sweep_params *p,
	    double fee, double periods_per_year, struct backtest_result *r);

/* --- optimizers (optimize.c) ----------------------------------------------- */

#define OPT_MAX_DIMS	8
#define OPT_NAME_MAX	32

struct opt_dim {
	char		 od_name[OPT_NAME_MAX];
	double		 od_min, od_max;
	double		 od_step;	/* > 0: values min + k * step only; 0: continuous */
	bool		 od_integer;	/* integers only (step 1 if od_step is 0) */
};

struct opt_space {
	struct opt_dim	 os_dim[OPT_MAX_DIMS];
	int		 os_n;
};

enum opt_kind { OPT_GRID, OPT_RANDOM, OPT_BAYESIAN };

/* "grid" / "random" / "bayesian"; -1 for none of those. */
int		 opt_kind_parse(const char *name);
const char	*opt_kind_name(enum opt_kind k);

struct optimizer;

/*
 * An ask/tell optimizer that maximises.  grid: an even grid over the space
 * with at most n_calls points (per dimension as many as fit, honouring
 * steps), visited in an order that covers the space early; random: uniform
 * samples; bayesian: a few random points, then a Gaussian process (RBF
 * kernel on the unit cube, hyperparameters by marginal likelihood over a
 * small set) choosing the point of maximum expected improvement among
 * candidates.  Points already tried are not asked again when the space
 * has untried points.  Deterministic for a seed.
 */
struct optimizer *opt_new(enum opt_kind kind, const struct opt_space *space, int n_calls,
	    uint64_t seed, char *err, size_t errsz);
/* The next point into x[0..os_n); 0 when the budget is spent, else 1. */
int	 opt_ask(struct optimizer *o, double *x);
/* The score of the point last asked. */
void	 opt_tell(struct optimizer *o, const double *x, double y);
/* Best so far: its score, its point into x (may be NULL); -1 if none yet. */
int	 opt_best(const struct optimizer *o, double *x, double *y);
int	 opt_calls(const struct optimizer *o);	/* points told so far */
void	 opt_free(struct optimizer *o);

/* --- walk-forward validation (walkforward.c) ------------------------------- */

struct wf_window {
	size_t		 w_train_from, w_train_to;	/* [from, to) candle indices */
	size_t		 w_test_from, w_test_to;
};

/*
 * The windows over n candles: train, gap, test, the next window starting
 * `test` candles later; as many as fit, the last one ending at or before n.
 * Returns how many (0 if not even one fits); at most `max` are written.
 */
size_t	 wf_windows(size_t n, size_t train, size_t gap, size_t test,
	    struct wf_window *w, size_t max);

/* --- the job request of POST /jobs (jobreq.c) ------------------------------ */

#define JOBREQ_SYMBOL_MAX	32
#define JOBREQ_EXCHANGE_MAX	32

/* A notification target asked for with the job ("notify" in POST /jobs). */
#define JOBREQ_NOTIFY_MAX	8
struct jobreq_notify {
	char		 jn_kind[8];		/* webhook, slack, email */
	char		 jn_address[TP_TARGET_URL_MAX + 1];	/* a URL, or an email address */
	char		 jn_secret[TP_TARGET_SECRET_MAX + 1];	/* "" : none (webhook only) */
};

struct jobreq {
	char		 jr_job_id[256];	/* "" when the client chose none */
	char		 jr_symbol[JOBREQ_SYMBOL_MAX + 1];
	char		 jr_exchange[JOBREQ_EXCHANGE_MAX + 1];
	char		 jr_timeframe[8];
	int		 jr_lookback_days;
	enum opt_kind	 jr_optimizer;
	int		 jr_n_calls;
	uint64_t	 jr_seed;
	double		 jr_fee;		/* a side, fraction */
	struct opt_space jr_space;		/* the strategy's three parameters */
	bool		 jr_validate;
	int		 jr_train_days, jr_test_days, jr_gap_days;
	/* Targets for this job's end: not part of the canonical request (a
	   request sent again is the same job whatever its targets say). */
	int		 jr_nnotify;
	struct jobreq_notify jr_notify[JOBREQ_NOTIFY_MAX];
};

/*
 * Parses a request body (JSON, cJSON's grammar) into r, every absent field
 * at its documented default (docs/API.md).  On a bad field: -1, `field`
 * gets its path ("params.pierce_depth.min") and `err` a sentence.
 */
int	 jobreq_parse(const char *body, size_t len, struct jobreq *r,
	    char *field, size_t fieldsz, char *err, size_t errsz);
/*
 * The canonical request as JSON (every field, fixed order, no job_id),
 * malloc'd: stored in training_jobs.request, hashed for idempotency, and
 * what the trainer parses back with jobreq_parse.  NULL on ENOMEM.
 */
char	*jobreq_canonical(const struct jobreq *r);

#endif /* TP_TRAIN_H */

/*
 * optimize.c: ask/tell optimizers that maximise (train.h): grid, random
 * and Bayesian (a Gaussian process with expected improvement).
 *
 * Every point asked is snapped: a dimension with a step (or integers, step
 * 1 when none is given) takes the values min + k * step only, k from 0 to
 * (max - min) / step (a step larger than max - min: min alone); a
 * continuous one any value in [min, max] (so is a non-integer one whose
 * step is below 1e-15 of its range).  The optimizers work in the unit
 * cube, u = (x - min) / (max - min).
 *
 * No point is asked twice while the space has untried points: a random
 * sample that was asked before is drawn again (up to 64 times), and when
 * that keeps failing on a finite space the untried points are walked from a
 * random place.  When a finite space (every dimension stepped) has been
 * asked in full, opt_ask() returns 0 even if budget is left: asking a point
 * again could only repeat its score.
 *
 * grid: per dimension as many even levels as fit with the product at most
 * n_calls (levels added one at a time to the dimension with fewest; a
 * stepped dimension has at most its number of values), ends included (one
 * level: the middle).  Points are visited coarse to fine: each dimension's
 * levels are ranked both ends first, then in van der Corput order (1/2,
 * 1/4, 3/4, 1/8, ...), and points sorted by their largest rank, then the
 * sum of their ranks: the corners and the middle come first.
 *
 * bayesian: the first max(3, min(10, n_calls / 5)) points are random; then
 * a Gaussian process on the unit cube, RBF kernel of signal variance 1 on
 * the scores normalised to mean 0 and standard deviation 1, noise variance
 * 1e-6 (raised to 1e-4, 1e-2 if the Cholesky factorisation fails), the
 * length scale the one of GP_SCALES with the highest log marginal
 * likelihood.  The next point is the one of highest expected improvement
 * (xi 0.001, in units of the normalised score) among GP_RANDOM (1000)
 * uniform candidates and GP_LOCAL (300) Gaussian perturbations of the best
 * point so far (standard deviation 0.002 to 0.2 of the range,
 * log-uniform), snapped, leaving out points asked before.
 * Cost is kept bounded: the process is fitted to at most GP_MAX (120)
 * points (the GP_MAX / 2 best and the most recent others), so an ask costs
 * at most O(GP_MAX^3) for the factorisations plus O(GP_MAX^2) per
 * candidate, whatever n_calls; the length scale is chosen again at every
 * ask up to GP_REFIT_ALL points told, and every GP_REFIT_EVERY asks after
 * that (the factorisation for the chosen scale is still done at each ask).
 * Candidates are looked at in the order of an upper bound of their
 * expected improvement (the mean's, with the prior's standard deviation),
 * stopping when it cannot beat the best found.  A few milliseconds an ask
 * at GP_MAX points: 1000 calls in well under 10 s of optimizer time.
 *
 * Everything random comes from xoshiro256** seeded from the seed through
 * splitmix64: the same seed, space and scores give the same points.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "train.h"

#define N_CALLS_MAX	100000
#define GP_MAX		120
#define GP_RANDOM	1000
#define GP_LOCAL	300
#define GP_REFIT_ALL	60
#define GP_REFIT_EVERY	5
#define GP_XI		0.001
#define RETRIES		64
/* Walk the untried points of a finite space only up to this size. */
#define WALK_MAX	1e7

static const double GP_SCALES[] = { 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0 };
#define N_SCALES	(sizeof(GP_SCALES) / sizeof(GP_SCALES[0]))

struct optimizer {
	enum opt_kind	 o_kind;
	struct opt_space o_space;
	int		 o_dims;
	int		 o_n_calls;
	struct rng	 o_rng;
	double		 o_step[OPT_MAX_DIMS];		/* 0: continuous */
	double		 o_levels[OPT_MAX_DIMS];	/* values of a stepped dimension */
	double		 o_size;			/* points in the space, or INFINITY */
	double		*o_asked;			/* o_n_asked points, dims each */
	int		 o_n_asked;
	double		*o_x;				/* told points and scores */
	double		*o_y;
	int		 o_n_told, o_cap_told;
	double		 o_last[OPT_MAX_DIMS];
	bool		 o_have_last;
	/* grid */
	double		*o_grid;			/* o_n_grid points in visiting order */
	int		 o_n_grid;
	/* bayesian */
	int		 o_n_init;
	double		 o_scale;			/* the chosen length scale */
	int		 o_since_fit;			/* asks since it was chosen */
};

/* Standard normal (Box-Muller, one of the pair). */
static double
rng_normal(struct rng *r)
{
	double	 u = 1.0 - rng_unit(r), v = rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Writes a message into err (when given). */
static void
set_err(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* The optimizer a name says, or -1. */
int
opt_kind_parse(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "grid") == 0)
		return OPT_GRID;
	if (strcmp(name, "random") == 0)
		return OPT_RANDOM;
	if (strcmp(name, "bayesian") == 0)
		return OPT_BAYESIAN;
	return -1;
}

/* An optimizer's name. */
const char *
opt_kind_name(enum opt_kind k)
{
	switch (k) {
	case OPT_GRID:
		return "grid";
	case OPT_RANDOM:
		return "random";
	case OPT_BAYESIAN:
		return "bayesian";
	}
	return "unknown";
}

/* A dimension's name for a message: its own, or its number. */
static void
dim_label(const struct opt_dim *d, int i, char *out, size_t outsz)
{
	if (memchr(d->od_name, '\0', sizeof(d->od_name)) != NULL && d->od_name[0] != '\0')
		snprintf(out, outsz, "\"%.31s\"", d->od_name);
	else
		snprintf(out, outsz, "%d", i + 1);
}

/* Checks the space and works out each dimension's step and values. */
static int
check_space(struct optimizer *o, char *err, size_t errsz)
{
	const struct opt_dim	*d;
	char			 lab[48];
	double			 range, levels;
	int			 i;

	if (o->o_space.os_n < 1 || o->o_space.os_n > OPT_MAX_DIMS) {
		set_err(err, errsz, "the space has %d dimensions: 1 to %d are possible",
		    o->o_space.os_n, OPT_MAX_DIMS);
		return -1;
	}
	o->o_dims = o->o_space.os_n;
	o->o_size = 1;
	for (i = 0; i < o->o_dims; i++) {
		d = &o->o_space.os_dim[i];
		dim_label(d, i, lab, sizeof(lab));
		if (memchr(d->od_name, '\0', sizeof(d->od_name)) == NULL) {
			set_err(err, errsz, "dimension %s: the name is not terminated", lab);
			return -1;
		}
		if (!isfinite(d->od_min) || !isfinite(d->od_max) || !(d->od_min < d->od_max)) {
			set_err(err, errsz, "dimension %s: min and max must be finite with "
			    "min < max", lab);
			return -1;
		}
		range = d->od_max - d->od_min;
		if (!isfinite(range)) {
			set_err(err, errsz, "dimension %s: the range is too large", lab);
			return -1;
		}
		if (!isfinite(d->od_step) || d->od_step < 0) {
			set_err(err, errsz, "dimension %s: the step must be a finite number >= 0",
			    lab);
			return -1;
		}
		o->o_step[i] = d->od_step;
		if (d->od_integer) {
			if (fabs(d->od_min) > 1e15 || fabs(d->od_max) > 1e15 ||
			    d->od_min != floor(d->od_min) || d->od_max != floor(d->od_max)) {
				set_err(err, errsz, "dimension %s: an integer dimension needs "
				    "whole min and max (at most 1e15)", lab);
				return -1;
			}
			if (d->od_step != floor(d->od_step)) {
				set_err(err, errsz, "dimension %s: an integer dimension needs a "
				    "whole step", lab);
				return -1;
			}
			if (o->o_step[i] == 0)
				o->o_step[i] = 1;
		}
		/* A step finer than 1e-15 of the range is no step a double can keep. */
		if (o->o_step[i] > 0 && !d->od_integer && range / o->o_step[i] > 1e15)
			o->o_step[i] = 0;
		if (o->o_step[i] > 0) {
			/* (A step larger than the range leaves min alone.) */
			levels = floor(range / o->o_step[i] * (1 + 1e-12)) + 1;
			o->o_levels[i] = levels;
			o->o_size *= levels;
		} else {
			o->o_levels[i] = 0;
			o->o_size = INFINITY;
		}
	}
	return 0;
}

/* The k-th value (from 0) of stepped dimension i. */
static double
level_value(const struct optimizer *o, int i, double k)
{
	const struct opt_dim	*d = &o->o_space.os_dim[i];
	double			 x = d->od_min + k * o->o_step[i];

	if (d->od_integer)
		x = floor(x + 0.5);
	return x > d->od_max ? d->od_max : x;
}

/* Dimension i's value for unit coordinate u, snapped to its step. */
static double
snap(const struct optimizer *o, int i, double u)
{
	const struct opt_dim	*d = &o->o_space.os_dim[i];
	double			 k, x;

	if (!(u >= 0))
		u = 0;
	if (u > 1)
		u = 1;
	if (o->o_step[i] > 0) {
		k = floor(u * (d->od_max - d->od_min) / o->o_step[i] + 0.5);
		if (k > o->o_levels[i] - 1)
			k = o->o_levels[i] - 1;
		return level_value(o, i, k);
	}
	x = d->od_min + u * (d->od_max - d->od_min);
	return x > d->od_max ? d->od_max : x;
}

/* Unit coordinate of value x in dimension i. */
static double
unit(const struct optimizer *o, int i, double x)
{
	const struct opt_dim	*d = &o->o_space.os_dim[i];

	return (x - d->od_min) / (d->od_max - d->od_min);
}

/* Has point x been asked before? */
static bool
was_asked(const struct optimizer *o, const double *x)
{
	const double	*a;
	int		 i, j;

	for (i = 0; i < o->o_n_asked; i++) {
		a = o->o_asked + (size_t)i * OPT_MAX_DIMS;
		for (j = 0; j < o->o_dims; j++)
			if (a[j] != x[j])
				break;
		if (j == o->o_dims)
			return true;
	}
	return false;
}

/* A uniform random point, snapped, into x. */
static void
random_point(struct optimizer *o, double *x)
{
	int	 i;

	for (i = 0; i < o->o_dims; i++)
		x[i] = snap(o, i, rng_unit(&o->o_rng));
}

/*
 * An untried point into x: random ones until one was not asked; on a
 * finite space where that keeps failing, the first untried point walking
 * from a random one.  -1 when a finite space has no untried point left.
 */
static int
random_untried(struct optimizer *o, double *x)
{
	double	 start, t, k, rest;
	int	 tries, i;

	if (o->o_n_asked >= o->o_size)
		return -1;
	for (tries = 0; tries < RETRIES; tries++) {
		random_point(o, x);
		if (!was_asked(o, x))
			return 0;
	}
	if (!(o->o_size <= WALK_MAX)) {
		/* Most of a large space is untried: keep drawing. */
		do
			random_point(o, x);
		while (was_asked(o, x));
		return 0;
	}
	start = floor(rng_unit(&o->o_rng) * o->o_size);
	for (t = 0; t < o->o_size; t++) {
		rest = fmod(start + t, o->o_size);
		for (i = 0; i < o->o_dims; i++) {
			k = fmod(rest, o->o_levels[i]);
			rest = floor(rest / o->o_levels[i]);
			x[i] = level_value(o, i, k);
		}
		if (!was_asked(o, x))
			return 0;
	}
	return -1;
}

/* --- grid ----------------------------------------------------------------- */

/* A grid point while sorting: its ranks and where it was made. */
struct gpoint {
	int	 g_max, g_sum, g_index;
};

/* Coarse before fine: largest rank, sum of ranks, then the making order. */
static int
gpoint_cmp(const void *a, const void *b)
{
	const struct gpoint	*p = a, *q = b;

	if (p->g_max != q->g_max)
		return p->g_max < q->g_max ? -1 : 1;
	if (p->g_sum != q->g_sum)
		return p->g_sum < q->g_sum ? -1 : 1;
	return (p->g_index > q->g_index) - (p->g_index < q->g_index);
}

/* The van der Corput radical inverse of m in base 2. */
static double
vdc(unsigned m)
{
	double	 v = 0, f = 0.5;

	for (; m != 0; m >>= 1, f /= 2)
		if (m & 1)
			v += f;
	return v;
}

/* Makes the grid: levels per dimension, the points, their visiting order. */
static int
make_grid(struct optimizer *o)
{
	int		 k[OPT_MAX_DIMS], *rank[OPT_MAX_DIMS] = { NULL }, i, j, idx, n, best,
			 rest, seen;
	double		 prod, cap, *vals[OPT_MAX_DIMS] = { NULL }, *pts = NULL, pos;
	struct gpoint	*gp = NULL;
	unsigned	 m;
	int		 rc = -1;

	for (i = 0; i < o->o_dims; i++)
		k[i] = 1;
	prod = 1;
	for (;;) {
		best = -1;
		for (i = 0; i < o->o_dims; i++) {
			cap = o->o_levels[i] > 0 ? o->o_levels[i] : INFINITY;
			if (k[i] + 1 > cap || prod / k[i] * (k[i] + 1) > o->o_n_calls)
				continue;
			if (best < 0 || k[i] < k[best])
				best = i;
		}
		if (best < 0)
			break;
		prod = prod / k[best] * (k[best] + 1);
		k[best]++;
	}
	n = (int)prod;
	for (i = 0; i < o->o_dims; i++) {
		if ((vals[i] = calloc((size_t)k[i], sizeof(double))) == NULL ||
		    (rank[i] = calloc((size_t)k[i], sizeof(int))) == NULL)
			goto out;
		for (j = 0; j < k[i]; j++) {
			pos = k[i] == 1 ? 0.5 : (double)j / (k[i] - 1);
			if (o->o_levels[i] > 0)
				vals[i][j] = level_value(o, i,
				    floor(pos * (o->o_levels[i] - 1) + 0.5));
			else
				vals[i][j] = o->o_space.os_dim[i].od_min + pos *
				    (o->o_space.os_dim[i].od_max - o->o_space.os_dim[i].od_min);
			rank[i][j] = -1;
		}
		/* Ranks: both ends, then van der Corput order (the middle, the quarters, ...). */
		for (m = 0, seen = 0; seen < k[i]; m++) {
			pos = m == 0 ? 0 : m == 1 ? 1 : vdc(m - 1);
			j = (int)floor(pos * (k[i] - 1) + 0.5);
			if (rank[i][j] < 0)
				rank[i][j] = seen++;
		}
	}
	if ((gp = calloc((size_t)n, sizeof(*gp))) == NULL ||
	    (pts = calloc((size_t)n * OPT_MAX_DIMS, sizeof(double))) == NULL)
		goto out;
	for (idx = 0; idx < n; idx++) {
		gp[idx].g_index = idx;
		for (i = 0, rest = idx; i < o->o_dims; i++) {
			j = rest % k[i];
			rest /= k[i];
			if (rank[i][j] > gp[idx].g_max)
				gp[idx].g_max = rank[i][j];
			gp[idx].g_sum += rank[i][j];
		}
	}
	qsort(gp, (size_t)n, sizeof(*gp), gpoint_cmp);
	for (idx = 0; idx < n; idx++)
		for (i = 0, rest = gp[idx].g_index; i < o->o_dims; i++) {
			pts[(size_t)idx * OPT_MAX_DIMS + i] = vals[i][rest % k[i]];
			rest /= k[i];
		}
	o->o_grid = pts;
	o->o_n_grid = n;
	pts = NULL;
	rc = 0;
out:
	for (i = 0; i < o->o_dims; i++) {
		free(vals[i]);
		free(rank[i]);
	}
	free(gp);
	free(pts);
	return rc;
}

/* --- the Gaussian process ------------------------------------------------- */

/* The data the process is fitted to, in the unit cube, scores normalised. */
struct gp {
	int	 g_n;
	double	*g_u;		/* g_n points, OPT_MAX_DIMS each */
	double	*g_y;
	double	*g_l;		/* Cholesky factor, g_n x g_n, lower */
	double	*g_alpha;	/* K^-1 y */
	double	*g_v;		/* scratch, g_n */
	double	 g_best;	/* the best normalised score */
};

/* Squared distance of two points in the unit cube. */
static double
dist2(const double *a, const double *b, int dims)
{
	double	 s = 0, t;
	int	 i;

	for (i = 0; i < dims; i++) {
		t = a[i] - b[i];
		s += t * t;
	}
	return s;
}

/* The dot product of a[0..n) and b[0..n), in four interleaved sums (faster). */
static double
dot(const double *a, const double *b, int n)
{
	double	 s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int	 k;

	for (k = 0; k + 4 <= n; k += 4) {
		s0 += a[k] * b[k];
		s1 += a[k + 1] * b[k + 1];
		s2 += a[k + 2] * b[k + 2];
		s3 += a[k + 3] * b[k + 3];
	}
	for (; k < n; k++)
		s0 += a[k] * b[k];
	return (s0 + s1) + (s2 + s3);
}

/*
 * Factorises K + noise I for length scale ell into g->g_l, solves for
 * g->g_alpha, and returns the log marginal likelihood; -INFINITY when K is
 * not positive definite even with the largest noise.
 */
static double
gp_fit(struct gp *g, int dims, double ell)
{
	static const double noise[] = { 1e-6, 1e-4, 1e-2 };
	double		 s, ll, *L = g->g_l;
	int		 n = g->g_n, i, j, k;
	size_t		 t;
	bool		 ok = false;

	for (t = 0; t < sizeof(noise) / sizeof(noise[0]) && !ok; t++) {
		ok = true;
		for (i = 0; i < n && ok; i++) {
			for (j = 0; j <= i; j++) {
				s = exp(-dist2(g->g_u + (size_t)i * OPT_MAX_DIMS,
				    g->g_u + (size_t)j * OPT_MAX_DIMS, dims) / (2 * ell * ell));
				if (i == j)
					s += noise[t];
				s -= dot(L + (size_t)i * n, L + (size_t)j * n, j);
				if (i == j) {
					if (!(s > 0)) {
						ok = false;
						break;
					}
					L[(size_t)i * n + i] = sqrt(s);
				} else
					L[(size_t)i * n + j] = s / L[(size_t)j * n + j];
			}
		}
	}
	if (!ok)
		return -INFINITY;
	/* alpha = L^-T L^-1 y */
	for (i = 0; i < n; i++)
		g->g_v[i] = (g->g_y[i] - dot(L + (size_t)i * n, g->g_v, i)) / L[(size_t)i * n + i];
	for (i = n - 1; i >= 0; i--) {
		s = g->g_v[i];
		for (k = i + 1; k < n; k++)
			s -= L[(size_t)k * n + i] * g->g_alpha[k];
		g->g_alpha[i] = s / L[(size_t)i * n + i];
	}
	ll = 0;
	for (i = 0; i < n; i++)
		ll += -0.5 * g->g_y[i] * g->g_alpha[i] - log(L[(size_t)i * n + i]);
	return ll - 0.5 * n * log(2 * M_PI);
}

/* Expected improvement over best + GP_XI of a normal (mu, sd) score. */
static double
expected_improvement(double mu, double sd, double best)
{
	double	 imp = mu - best - GP_XI, z = imp / sd;

	return imp * 0.5 * erfc(-z / M_SQRT2) + sd * exp(-0.5 * z * z) / sqrt(2 * M_PI);
}

/*
 * The process's mean at unit point u; the kernel vector k(u, data) is left
 * in g->g_v.
 */
static double
gp_mean(struct gp *g, int dims, double ell, const double *u)
{
	double	 mu = 0;
	int	 i;

	for (i = 0; i < g->g_n; i++) {
		g->g_v[i] = exp(-dist2(u, g->g_u + (size_t)i * OPT_MAX_DIMS, dims) /
		    (2 * ell * ell));
		mu += g->g_v[i] * g->g_alpha[i];
	}
	return mu;
}

/* Expected improvement at unit point u. */
static double
gp_ei(struct gp *g, int dims, double ell, const double *u)
{
	double	 mu, var = 1, sd;
	int	 n = g->g_n, i;

	mu = gp_mean(g, dims, ell, u);
	/* v = L^-1 k, in place; var = 1 - v.v */
	for (i = 0; i < n; i++) {
		g->g_v[i] = (g->g_v[i] - dot(g->g_l + (size_t)i * n, g->g_v, i)) /
		    g->g_l[(size_t)i * n + i];
		var -= g->g_v[i] * g->g_v[i];
	}
	sd = var > 1e-18 ? sqrt(var) : 1e-9;
	return expected_improvement(mu, sd, g->g_best);
}

/* A candidate point: its values, unit coordinates, and a bound on its EI. */
struct cand {
	double	 c_x[OPT_MAX_DIMS];
	double	 c_u[OPT_MAX_DIMS];
	double	 c_bound;
	int	 c_index;
};

/* Highest bound first, then the order they were drawn in. */
static int
by_bound(const void *a, const void *b)
{
	const struct cand	*p = a, *q = b;

	if (p->c_bound != q->c_bound)
		return p->c_bound > q->c_bound ? -1 : 1;
	return (p->c_index > q->c_index) - (p->c_index < q->c_index);
}

/* Orders told indices by score (the array arg), best first. */
static int
by_score(const void *a, const void *b, void *arg)
{
	const double	*sy = arg;
	double		 p = sy[*(const int *)a], q = sy[*(const int *)b];

	if (p != q)
		return p > q ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

/* A score as the process sees it: not finite becomes the worst finite one. */
static double
gp_score(double y, double worst)
{
	return isfinite(y) ? y : worst;
}

/*
 * The next Bayesian point into x: 0, or -1 if the process could not be
 * fitted or every candidate was asked before (the caller then draws one).
 */
static int
bayes_point(struct optimizer *o, double *x)
{
	struct gp	 g = { 0 };
	int		*idx = NULL, *pick = NULL, n, i, j, c, nc, dims = o->o_dims, best_i = -1,
			 best_c = -1;
	double		 worst = INFINITY, mean = 0, sd = 0, ll, best_ll, ei, best_ei = -INFINITY,
			 u[OPT_MAX_DIMS], bu[OPT_MAX_DIMS], scale;
	struct cand	*cd = NULL;
	bool		*used = NULL;
	double		*sy = NULL;
	int		 rc = -1;
	size_t		 s;

	for (i = 0; i < o->o_n_told; i++)
		if (isfinite(o->o_y[i]) && o->o_y[i] < worst)
			worst = o->o_y[i];
	if (!isfinite(worst))
		return -1;
	n = o->o_n_told < GP_MAX ? o->o_n_told : GP_MAX;
	if ((idx = calloc((size_t)o->o_n_told, sizeof(int))) == NULL ||
	    (pick = calloc((size_t)n, sizeof(int))) == NULL ||
	    (used = calloc((size_t)o->o_n_told, sizeof(bool))) == NULL ||
	    (sy = calloc((size_t)o->o_n_told, sizeof(double))) == NULL ||
	    (cd = calloc(GP_RANDOM + GP_LOCAL, sizeof(*cd))) == NULL ||
	    (g.g_u = calloc((size_t)n * OPT_MAX_DIMS, sizeof(double))) == NULL ||
	    (g.g_y = calloc((size_t)n, sizeof(double))) == NULL ||
	    (g.g_l = calloc((size_t)n * n, sizeof(double))) == NULL ||
	    (g.g_alpha = calloc((size_t)n, sizeof(double))) == NULL ||
	    (g.g_v = calloc((size_t)n, sizeof(double))) == NULL)
		goto out;
	/* The points: all, or the best half of GP_MAX and the most recent others. */
	if (o->o_n_told <= GP_MAX) {
		for (i = 0; i < n; i++)
			pick[i] = i;
	} else {
		for (i = 0; i < o->o_n_told; i++) {
			idx[i] = i;
			sy[i] = gp_score(o->o_y[i], worst);
		}
		qsort_r(idx, (size_t)o->o_n_told, sizeof(int), by_score, sy);
		for (i = 0; i < GP_MAX / 2; i++) {
			pick[i] = idx[i];
			used[idx[i]] = true;
		}
		for (j = o->o_n_told - 1; i < n && j >= 0; j--)
			if (!used[j])
				pick[i++] = j;
	}
	g.g_n = n;
	for (i = 0; i < n; i++) {
		for (j = 0; j < dims; j++)
			g.g_u[(size_t)i * OPT_MAX_DIMS + j] = unit(o, j,
			    o->o_x[(size_t)pick[i] * OPT_MAX_DIMS + j]);
		g.g_y[i] = gp_score(o->o_y[pick[i]], worst);
		mean += g.g_y[i];
	}
	mean /= n;
	for (i = 0; i < n; i++)
		sd += (g.g_y[i] - mean) * (g.g_y[i] - mean);
	sd = sqrt(sd / n);
	if (!(sd > 0) || !isfinite(sd))
		sd = 1;
	g.g_best = -INFINITY;
	for (i = 0; i < n; i++) {
		g.g_y[i] = (g.g_y[i] - mean) / sd;
		if (g.g_y[i] > g.g_best) {
			g.g_best = g.g_y[i];
			best_i = pick[i];
		}
	}
	/* The length scale: of highest marginal likelihood, now and then. */
	if (o->o_scale == 0 || o->o_n_told <= GP_REFIT_ALL || o->o_since_fit >= GP_REFIT_EVERY) {
		best_ll = -INFINITY;
		scale = 0;
		for (s = 0; s < N_SCALES; s++) {
			ll = gp_fit(&g, dims, GP_SCALES[s]);
			if (ll > best_ll) {
				best_ll = ll;
				scale = GP_SCALES[s];
			}
		}
		if (scale == 0)
			goto out;
		o->o_scale = scale;
		o->o_since_fit = 0;
	}
	o->o_since_fit++;
	if (gp_fit(&g, dims, o->o_scale) == -INFINITY)
		goto out;
	/*
	 * Candidates: uniform, and around the best point.  The variance costs
	 * O(n^2) a candidate, the mean O(n): since the expected improvement
	 * grows with the standard deviation, which is at most 1, EI(mean, 1)
	 * bounds it, and candidates are looked at in the order of that bound
	 * until it falls below the best found: the same choice as looking at
	 * all of them, for less.
	 */
	for (j = 0; j < dims; j++)
		bu[j] = unit(o, j, o->o_x[(size_t)best_i * OPT_MAX_DIMS + j]);
	for (c = 0, nc = 0; c < GP_RANDOM + GP_LOCAL; c++) {
		scale = 0.002 * exp(log(100.0) * rng_unit(&o->o_rng));
		for (j = 0; j < dims; j++) {
			if (c < GP_RANDOM)
				u[j] = rng_unit(&o->o_rng);
			else
				u[j] = bu[j] + scale * rng_normal(&o->o_rng);
			cd[nc].c_x[j] = snap(o, j, u[j]);
			cd[nc].c_u[j] = unit(o, j, cd[nc].c_x[j]);
		}
		if (was_asked(o, cd[nc].c_x))
			continue;
		cd[nc].c_bound = expected_improvement(gp_mean(&g, dims, o->o_scale, cd[nc].c_u),
		    1.0, g.g_best);
		cd[nc].c_index = c;
		nc++;
	}
	qsort(cd, (size_t)nc, sizeof(*cd), by_bound);
	for (c = 0; c < nc && cd[c].c_bound > best_ei; c++) {
		ei = gp_ei(&g, dims, o->o_scale, cd[c].c_u);
		if (ei > best_ei || (ei == best_ei && cd[c].c_index < best_c)) {
			best_ei = ei;
			best_c = cd[c].c_index;
			memcpy(x, cd[c].c_x, sizeof(double) * (size_t)dims);
		}
	}
	if (best_ei > -INFINITY)
		rc = 0;
out:
	free(idx);
	free(pick);
	free(used);
	free(sy);
	free(cd);
	free(g.g_u);
	free(g.g_y);
	free(g.g_l);
	free(g.g_alpha);
	free(g.g_v);
	return rc;
}

/* --- the interface ---------------------------------------------------------- */

/* A new optimizer over a checked space, or NULL with err set. */
struct optimizer *
opt_new(enum opt_kind kind, const struct opt_space *space, int n_calls, uint64_t seed,
    char *err, size_t errsz)
{
	struct optimizer	*o;
	uint64_t		 x = seed;

	if (kind != OPT_GRID && kind != OPT_RANDOM && kind != OPT_BAYESIAN) {
		set_err(err, errsz, "unknown optimizer %d", (int)kind);
		return NULL;
	}
	if (space == NULL) {
		set_err(err, errsz, "no space");
		return NULL;
	}
	if (n_calls < 1 || n_calls > N_CALLS_MAX) {
		set_err(err, errsz, "n_calls is %d: 1 to %d are possible", n_calls, N_CALLS_MAX);
		return NULL;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		set_err(err, errsz, "out of memory");
		return NULL;
	}
	o->o_kind = kind;
	o->o_space = *space;
	o->o_n_calls = n_calls;
	if (check_space(o, err, errsz) == -1) {
		free(o);
		return NULL;
	}
	rng_seed(&o->o_rng, &x);
	o->o_n_init = n_calls / 5 < 10 ? n_calls / 5 : 10;
	if (o->o_n_init < 3)
		o->o_n_init = 3;
	o->o_cap_told = n_calls;
	if ((o->o_asked = calloc((size_t)n_calls * OPT_MAX_DIMS, sizeof(double))) == NULL ||
	    (o->o_x = calloc((size_t)o->o_cap_told * OPT_MAX_DIMS, sizeof(double))) == NULL ||
	    (o->o_y = calloc((size_t)o->o_cap_told, sizeof(double))) == NULL ||
	    (kind == OPT_GRID && make_grid(o) == -1)) {
		set_err(err, errsz, "out of memory");
		opt_free(o);
		return NULL;
	}
	return o;
}

/* The next point to try into x: 1, or 0 when there is none left. */
int
opt_ask(struct optimizer *o, double *x)
{
	double	 p[OPT_MAX_DIMS];

	if (o->o_n_asked >= o->o_n_calls)
		return 0;
	switch (o->o_kind) {
	case OPT_GRID:
		if (o->o_n_asked >= o->o_n_grid)
			return 0;
		memcpy(p, o->o_grid + (size_t)o->o_n_asked * OPT_MAX_DIMS, sizeof(p));
		break;
	case OPT_BAYESIAN:
		if (o->o_n_asked >= o->o_n_init && o->o_n_told >= 2 && bayes_point(o, p) == 0)
			break;
		/* FALLTHROUGH */
	case OPT_RANDOM:
		if (random_untried(o, p) == -1)
			return 0;
		break;
	}
	memcpy(o->o_asked + (size_t)o->o_n_asked * OPT_MAX_DIMS, p, sizeof(p));
	o->o_n_asked++;
	memcpy(o->o_last, p, sizeof(p));
	o->o_have_last = true;
	memcpy(x, p, sizeof(double) * (size_t)o->o_dims);
	return 1;
}

/* Records the score of a point (x, or the last asked when x is NULL). */
void
opt_tell(struct optimizer *o, const double *x, double y)
{
	double	*nx, *ny;
	int	 cap;

	if (x == NULL && !o->o_have_last)
		return;
	if (o->o_n_told == o->o_cap_told) {
		cap = o->o_cap_told * 2;
		if ((nx = realloc(o->o_x, (size_t)cap * OPT_MAX_DIMS * sizeof(double))) == NULL)
			return;
		o->o_x = nx;
		if ((ny = realloc(o->o_y, (size_t)cap * sizeof(double))) == NULL)
			return;
		o->o_y = ny;
		o->o_cap_told = cap;
	}
	memset(o->o_x + (size_t)o->o_n_told * OPT_MAX_DIMS, 0, OPT_MAX_DIMS * sizeof(double));
	memcpy(o->o_x + (size_t)o->o_n_told * OPT_MAX_DIMS, x != NULL ? x : o->o_last,
	    sizeof(double) * (size_t)o->o_dims);
	o->o_y[o->o_n_told++] = y;
}

/* The best score told so far and its point: 0, or -1 if none. */
int
opt_best(const struct optimizer *o, double *x, double *y)
{
	int	 i, b = -1;

	for (i = 0; i < o->o_n_told; i++)
		if (!isnan(o->o_y[i]) && (b < 0 || o->o_y[i] > o->o_y[b]))
			b = i;
	if (b < 0)
		return -1;
	if (x != NULL)
		memcpy(x, o->o_x + (size_t)b * OPT_MAX_DIMS, sizeof(double) * (size_t)o->o_dims);
	if (y != NULL)
		*y = o->o_y[b];
	return 0;
}

/* How many scores were told. */
int
opt_calls(const struct optimizer *o)
{
	return o->o_n_told;
}

/* Frees an optimizer. */
void
opt_free(struct optimizer *o)
{
	if (o == NULL)
		return;
	free(o->o_asked);
	free(o->o_x);
	free(o->o_y);
	free(o->o_grid);
	free(o);
}

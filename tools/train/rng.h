/*
 * rng.h: the engine's random numbers (candles.c's synthetic series, the
 * optimizers): xoshiro256** seeded through splitmix64, so that a seed gives
 * the same numbers on every machine.  Internal to tools/train/.
 */
#ifndef TP_TRAIN_RNG_H
#define TP_TRAIN_RNG_H

#include <stdint.h>

struct rng {
	uint64_t	 s[4];
};

/* splitmix64: advances *x and returns the next value (for seeding, and hashes). */
uint64_t	 rng_splitmix64(uint64_t *x);
/* Seeds r with four splitmix64 steps from *x. */
void		 rng_seed(struct rng *r, uint64_t *x);
/* Rotates x left by k bits (0 < k < 64). */
uint64_t	 rng_rotl(uint64_t x, int k);
/* The next 64 random bits. */
uint64_t	 rng_next(struct rng *r);
/* Uniform in [0, 1). */
double		 rng_unit(struct rng *r);
/* Uniform in (0, 1): never 0, for logarithms. */
double		 rng_open(struct rng *r);

#endif /* TP_TRAIN_RNG_H */

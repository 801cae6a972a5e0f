/*
 * The random generator every jitter draw comes from: xoshiro256** (Blackman
 * and Vigna), seeded by running splitmix64 over the 64-bit seed so that
 * nearby seeds still give unrelated states and the state is never all zero.
 */
#include "config.h"

#include <tether/policy.h>

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

TETHER_EXPORT void tether_rng_seed(struct tether_rng *rng, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

TETHER_EXPORT uint64_t tether_rng_next(struct tether_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

TETHER_EXPORT double tether_rng_uniform(struct tether_rng *rng)
{
	return (double)(tether_rng_next(rng) >> 11) * 0x1.0p-53;
}

TETHER_EXPORT uint64_t tether_rng_range(struct tether_rng *rng, uint64_t lo,
					uint64_t hi)
{
	uint64_t n, limit, r;

	if (hi <= lo)
		return lo;
	n = hi - lo + 1;
	if (n == 0) /* the whole 64-bit range */
		return tether_rng_next(rng);
	/*
	 * Reject the draws below 2^64 mod n: what remains is a whole number
	 * of copies of [0, n), so r % n is exactly uniform.
	 */
	limit = (0 - n) % n;
	do
		r = tether_rng_next(rng);
	while (r < limit);
	return lo + r % n;
}

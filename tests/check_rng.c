/* The seedable generator: reproducibility, ranges, lack of bias. */
#include "config.h"

#include <tether/policy.h>

#include "check-int.h"

START_TEST(test_rng_seed_uses_splitmix64)
{
	struct tether_rng r;

	/* splitmix64's first output for seed 0 is a published constant */
	tether_rng_seed(&r, 0);
	ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafULL);
	ck_assert(r.s[1] || r.s[2] || r.s[3]);
}
END_TEST

START_TEST(test_rng_same_seed_same_sequence)
{
	struct tether_rng a, b;

	tether_rng_seed(&a, 42);
	tether_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(tether_rng_next(&a), tether_rng_next(&b));
}
END_TEST

START_TEST(test_rng_different_seed_different_sequence)
{
	struct tether_rng a, b;
	int same = 0;

	tether_rng_seed(&a, 1);
	tether_rng_seed(&b, 2);
	for (int i = 0; i < 100; i++)
		same += tether_rng_next(&a) == tether_rng_next(&b);
	ck_assert_int_eq(same, 0);
}
END_TEST

START_TEST(test_rng_uniform_in_unit_interval)
{
	struct tether_rng r;
	double sum = 0;
	const int n = 100000;

	tether_rng_seed(&r, 7);
	for (int i = 0; i < n; i++) {
		double u = tether_rng_uniform(&r);

		ck_assert(u >= 0.0 && u < 1.0);
		sum += u;
	}
	ck_assert_double_eq_tol(sum / n, 0.5, 0.005);
}
END_TEST

START_TEST(test_rng_range_bounds)
{
	struct tether_rng r;
	int seen[11] = {0};

	tether_rng_seed(&r, 9);
	ck_assert_uint_eq(tether_rng_range(&r, 5, 5), 5);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = tether_rng_range(&r, 10, 20);

		ck_assert_uint_ge(v, 10);
		ck_assert_uint_le(v, 20);
		seen[v - 10]++;
	}
	for (int i = 0; i < 11; i++)
		ck_assert_int_gt(seen[i], 800); /* expected 909 each */
	(void)tether_rng_range(&r, 0, UINT64_MAX);
}
END_TEST

START_TEST(test_rng_range_unbiased_for_large_span)
{
	struct tether_rng r;
	const uint64_t n = 0xC000000000000000ULL; /* 3/4 of 2^64 */
	int low = 0;
	const int draws = 30000;

	/*
	 * With a plain modulo the first third of [0, n) would come up half
	 * of the time instead of a third.
	 */
	tether_rng_seed(&r, 11);
	for (int i = 0; i < draws; i++) {
		uint64_t v = tether_rng_range(&r, 0, n - 1);

		ck_assert_uint_lt(v, n);
		low += v < n / 3;
	}
	ck_assert_double_eq_tol((double)low / draws, 1.0 / 3, 0.015);
}
END_TEST

static Suite *rng_suite(void)
{
	Suite *s = suite_create("rng");
	TCase *tc = tcase_create("seeding");

	tcase_add_test(tc, test_rng_seed_uses_splitmix64);
	tcase_add_test(tc, test_rng_same_seed_same_sequence);
	tcase_add_test(tc, test_rng_different_seed_different_sequence);
	suite_add_tcase(s, tc);
	tc = tcase_create("distribution");
	tcase_add_test(tc, test_rng_uniform_in_unit_interval);
	tcase_add_test(tc, test_rng_range_bounds);
	tcase_add_test(tc, test_rng_range_unbiased_for_large_span);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(rng_suite)

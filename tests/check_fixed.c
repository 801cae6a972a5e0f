/* The fixed policy: constant interval, jitter band, give-up rules. */
#include "config.h"

#include <stdint.h>

#include "check-int.h"
#include "policy-test.h"

START_TEST(test_fixed_default_interval)
{
	tether_policy *pol = pt_make("f.yaml", "type: fixed\n");
	struct tether_rng rng;
	char buf[128];

	tether_rng_seed(&rng, 1);
	for (uint32_t a = 1; a < 50; a++) {
		struct tether_policy_decision d = pt_ask(pol, a, 0, &rng);

		ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
		ck_assert_uint_eq(d.delay_ms, 5000);
	}
	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "fixed interval=5s jitter=0 max_attempts=0 "
			      "max_elapsed=0");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_jitter_band)
{
	tether_policy *pol =
	    pt_make("f.yaml", "{type: fixed, interval: 2s, jitter: 0.25}");
	struct tether_rng rng;
	struct pt_stats st;

	tether_rng_seed(&rng, 3);
	pt_draw(pol, 1, 10000, 1500, 2500, &rng, &st);
	ck_assert_double_eq_tol(pt_stats_mean(&st), 2000, 2000 * 0.02);
	ck_assert_uint_lt(st.lo, 1520);
	ck_assert_uint_gt(st.hi, 2480);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_max_attempts)
{
	tether_policy *pol = pt_make("f.yaml", "{type: fixed, interval: 1s, "
					       "max_attempts: 3}");
	struct tether_rng rng;

	tether_rng_seed(&rng, 1);
	ck_assert_int_eq(pt_ask(pol, 1, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(pt_ask(pol, 2, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	pt_expect_give_up(pol, 3, 0, "max_attempts reached", &rng);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_max_elapsed)
{
	tether_policy *pol = pt_make("f.yaml", "{type: fixed, interval: 10s, "
					       "max_elapsed: 1m}");
	struct tether_rng rng;

	tether_rng_seed(&rng, 1);
	ck_assert_uint_eq(pt_ask(pol, 1, 0, &rng).delay_ms, 10000);
	/* the last retry is pulled in to happen by max_elapsed */
	ck_assert_uint_eq(pt_ask(pol, 6, 55000, &rng).delay_ms, 5000);
	pt_expect_give_up(pol, 7, 60000, "max_elapsed reached", &rng);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_bad_params)
{
	char err[512];

	ck_assert_int_eq(pt_try_new("f.yaml",
				    "{type: fixed, interval: 0, jitter: 1.5}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "f.yaml:1:25: interval: expected a duration "
			      "between 1ms and 24h, found '0'\n"
			      "f.yaml:1:36: jitter: expected a number between "
			      "0 and 1, found '1.5'");
}
END_TEST

static Suite *fixed_suite(void)
{
	Suite *s = suite_create("fixed");
	TCase *tc = tcase_create("delays");

	tcase_add_test(tc, test_fixed_default_interval);
	tcase_add_test(tc, test_fixed_jitter_band);
	suite_add_tcase(s, tc);
	tc = tcase_create("give_up");
	tcase_add_test(tc, test_fixed_max_attempts);
	tcase_add_test(tc, test_fixed_max_elapsed);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_fixed_bad_params);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(fixed_suite)

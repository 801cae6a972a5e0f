/* The fixed policy: constant interval, jitter band, give-up rules. */
#include "config.h"

#include <string.h>

#include <tether/policy.h>

#include "check-int.h"
#include "params-int.h"

static const struct tether_reason transient = {.cls = TETHER_CLASS_TRANSIENT};

static tether_policy *make(const char *text)
{
	tether_params *y = NULL;
	tether_policy *pol = NULL;
	char err[512];

	ck_assert_int_eq(tth_params_from_yaml(text, strlen(text), "f.yaml", &y,
					      err, sizeof(err)),
			 0);
	ck_assert_msg(tether_policy_new(y, &pol, err, sizeof(err)) == 0, "%s",
		      err);
	tether_params_free(y);
	return pol;
}

static struct tether_policy_decision ask(tether_policy *pol, uint32_t attempt,
					 uint64_t elapsed,
					 struct tether_rng *rng)
{
	struct tether_policy_input in = {.attempt = attempt,
					 .now_ms = elapsed,
					 .elapsed_ms = elapsed,
					 .reason = &transient};
	struct tether_policy_decision d;

	tether_policy_next(pol, &in, rng, &d);
	return d;
}

START_TEST(test_fixed_default_interval)
{
	tether_policy *pol = make("type: fixed\n");
	struct tether_rng rng;
	char buf[128];

	tether_rng_seed(&rng, 1);
	for (uint32_t a = 1; a < 50; a++) {
		struct tether_policy_decision d = ask(pol, a, 0, &rng);

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
	tether_policy *pol = make("{type: fixed, interval: 2s, jitter: 0.25}");
	struct tether_rng rng;
	double sum = 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	const int n = 10000;

	tether_rng_seed(&rng, 3);
	for (int i = 0; i < n; i++) {
		uint64_t d = ask(pol, 1, 0, &rng).delay_ms;

		ck_assert_uint_ge(d, 1500);
		ck_assert_uint_le(d, 2500);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		sum += (double)d;
	}
	ck_assert_double_eq_tol(sum / n, 2000, 2000 * 0.02);
	ck_assert_uint_lt(lo, 1520);
	ck_assert_uint_gt(hi, 2480);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_max_attempts)
{
	tether_policy *pol = make("{type: fixed, interval: 1s, "
				  "max_attempts: 3}");
	struct tether_rng rng;
	struct tether_policy_decision d;

	tether_rng_seed(&rng, 1);
	ck_assert_int_eq(ask(pol, 1, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(ask(pol, 2, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	d = ask(pol, 3, 0, &rng);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_GIVE_UP);
	ck_assert_str_eq(d.why, "max_attempts reached");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_max_elapsed)
{
	tether_policy *pol = make("{type: fixed, interval: 10s, "
				  "max_elapsed: 1m}");
	struct tether_rng rng;
	struct tether_policy_decision d;

	tether_rng_seed(&rng, 1);
	ck_assert_uint_eq(ask(pol, 1, 0, &rng).delay_ms, 10000);
	/* the last retry is pulled in to happen by max_elapsed */
	ck_assert_uint_eq(ask(pol, 6, 55000, &rng).delay_ms, 5000);
	d = ask(pol, 7, 60000, &rng);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_GIVE_UP);
	ck_assert_str_eq(d.why, "max_elapsed reached");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_fixed_bad_params)
{
	tether_params *y = NULL;
	tether_policy *pol;
	char err[512];
	const char *text = "{type: fixed, interval: 0, jitter: 1.5}";

	tth_params_from_yaml(text, strlen(text), "f.yaml", &y, err,
			     sizeof(err));
	ck_assert_int_eq(tether_policy_new(y, &pol, err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "f.yaml:1:25: interval: expected a duration "
			      "between 1ms and 24h, found '0'\n"
			      "f.yaml:1:36: jitter: expected a number between "
			      "0 and 1, found '1.5'");
	tether_params_free(y);
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

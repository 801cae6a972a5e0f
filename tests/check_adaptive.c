/* The adaptive policy: RTO from samples, health penalty, overload, bounds. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "check-int.h"
#include "policy-test.h"

static struct tether_reason transient = {.cls = TETHER_CLASS_TRANSIENT};
static struct tether_reason overload = {.cls = TETHER_CLASS_OVERLOAD};

static void sample(tether_policy *pol, enum tether_sample_type t,
		   uint64_t value)
{
	struct tether_policy_sample s = {.type = t, .value = value};

	tether_policy_observe(pol, &s);
}

/*
 * Over many fresh instances (so the outcome ring stays as prepared), the
 * first delay must cover exactly [cap - cap/2, cap].
 */
static void expect_cap(const char *text, const uint64_t *rtts, size_t nrtt,
		       int prior_failures, const struct tether_reason *r,
		       uint64_t cap)
{
	struct pt_stats st;
	struct tether_rng rng;

	pt_stats_init(&st);
	tether_rng_seed(&rng, cap);
	for (int i = 0; i < 400; i++) {
		tether_policy *pol = pt_make("a.yaml", text);

		for (size_t k = 0; k < nrtt; k++)
			sample(pol, TETHER_SAMPLE_RTT, rtts[k]);
		for (int k = 0; k < prior_failures; k++)
			pt_retry(pol, 1, &transient, &rng);
		pt_stats_add(&st, pt_retry(pol, 1, r, &rng));
		tether_policy_free(pol);
	}
	ck_assert_uint_ge(st.lo, cap - cap / 2);
	ck_assert_uint_le(st.hi, cap);
	/* and the draws do reach both ends of the band */
	ck_assert_uint_le(st.lo, cap - cap / 2 + cap / 40 + 1);
	ck_assert_uint_ge(st.hi, cap - cap / 40 - 1);
}

START_TEST(test_adaptive_initial_without_rtt)
{
	expect_cap("type: adaptive\n", NULL, 0, 0, &transient, 1000);
}
END_TEST

START_TEST(test_adaptive_rto_from_first_sample)
{
	static const uint64_t r[] = {100};

	/* SRTT 100, RTTVAR 50: RTO = 100 + 4*50 */
	expect_cap("{type: adaptive, min: 1ms}", r, 1, 0, &transient, 300);
}
END_TEST

START_TEST(test_adaptive_rto_smoothing)
{
	static const uint64_t r[] = {100, 200};

	/* RTTVAR = 37.5 + 25 = 62.5, SRTT = 87.5 + 25 = 112.5; 362.5 */
	expect_cap("{type: adaptive, min: 1ms}", r, 2, 0, &transient, 363);
}
END_TEST

START_TEST(test_adaptive_rto_clamped_to_min)
{
	static const uint64_t r[] = {10};

	expect_cap("{type: adaptive, min: 200ms}", r, 1, 0, &transient, 200);
}
END_TEST

START_TEST(test_adaptive_health_penalty)
{
	/* four failures in the ring: h = 1, cap = 4 * base */
	expect_cap("type: adaptive\n", NULL, 0, 0, &transient, 1000);
	expect_cap("type: adaptive\n", NULL, 0, 4, &transient, 4000);
}
END_TEST

START_TEST(test_adaptive_health_counts_successes)
{
	tether_policy *pol =
	    pt_make("a.yaml", "{type: adaptive, multiplier: 1}");
	struct tether_rng rng;
	uint64_t hi = 0;

	tether_rng_seed(&rng, 8);
	/* fail, up, fail, up: h = 0.5, cap = 2.5 * base */
	for (int k = 0; k < 2; k++) {
		pt_retry(pol, 1, &transient, &rng);
		sample(pol, TETHER_SAMPLE_UP, 0);
	}
	for (int i = 0; i < 200; i++) {
		uint64_t d;

		d = pt_retry(pol, 1, &transient, &rng);
		/* back to half failures */
		sample(pol, TETHER_SAMPLE_UP, 0);
		ck_assert_uint_ge(d, 1250);
		ck_assert_uint_le(d, 2500);
		hi = d > hi ? d : hi;
	}
	ck_assert_uint_gt(hi, 2400);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_adaptive_link_up_forgets_outage)
{
	tether_policy *pol = pt_make("a.yaml", "type: adaptive\n");
	struct tether_rng rng;

	tether_rng_seed(&rng, 8);
	for (int k = 0; k < 6; k++)
		pt_retry(pol, 1, &transient, &rng);
	sample(pol, TETHER_SAMPLE_LINK, 0);
	ck_assert_uint_ge(pt_retry(pol, 1, &transient, &rng), 2000);
	sample(pol, TETHER_SAMPLE_LINK, 1);
	ck_assert_uint_le(pt_retry(pol, 1, &transient, &rng), 1000);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_adaptive_overload_doubles)
{
	expect_cap("type: adaptive\n", NULL, 0, 0, &overload, 2000);
}
END_TEST

START_TEST(test_adaptive_growth_and_max)
{
	tether_policy *pol = pt_make("a.yaml", "{type: adaptive, max: 30s}");
	struct tether_rng rng;
	char buf[160];

	tether_rng_seed(&rng, 4);
	for (uint32_t a = 1; a < 200; a++) {
		uint64_t d = pt_retry(pol, a, &transient, &rng);

		ck_assert_uint_le(d, 30000);
		if (a > 12)
			ck_assert_uint_ge(d, 15000);
	}
	/* it never gives up */
	ck_assert_uint_le(pt_retry(pol, UINT32_MAX, &overload, &rng), 30000);
	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "adaptive initial=1s min=100ms max=30s "
			      "multiplier=2 window=16");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_adaptive_bad_params)
{
	char err[512];

	ck_assert_int_eq(pt_try_new("a.yaml",
				    "{type: adaptive, min: 2s, max: 1s, "
				    "window: 2}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "a.yaml:1:32: max: expected at least min (2s), "
			      "found '1s'\n"
			      "a.yaml:1:44: window: expected a whole number "
			      "between 4 and 256, found '2'");
}
END_TEST

static Suite *adaptive_suite(void)
{
	Suite *s = suite_create("adaptive");
	TCase *tc = tcase_create("rtt");

	tcase_add_test(tc, test_adaptive_initial_without_rtt);
	tcase_add_test(tc, test_adaptive_rto_from_first_sample);
	tcase_add_test(tc, test_adaptive_rto_smoothing);
	tcase_add_test(tc, test_adaptive_rto_clamped_to_min);
	suite_add_tcase(s, tc);
	tc = tcase_create("health");
	tcase_add_test(tc, test_adaptive_health_penalty);
	tcase_add_test(tc, test_adaptive_health_counts_successes);
	tcase_add_test(tc, test_adaptive_link_up_forgets_outage);
	tcase_add_test(tc, test_adaptive_overload_doubles);
	suite_add_tcase(s, tc);
	tc = tcase_create("bounds");
	tcase_add_test(tc, test_adaptive_growth_and_max);
	tcase_add_test(tc, test_adaptive_bad_params);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(adaptive_suite)

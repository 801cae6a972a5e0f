/* The breaker: its three states, both triggers, and its inner policy. */
#include "config.h"

#include <stdint.h>

#include "check-int.h"
#include "policy-test.h"
#include "registry-int.h"
#include "../policies/builtin.h"

enum { CLOSED = 0, OPEN = 1, HALF_OPEN = 2 };

static struct tether_rng rng;

/* Each policy starts from the same random sequence. */
static tether_policy *make(const char *text)
{
	tether_rng_seed(&rng, 1);
	return pt_make("b.yaml", text);
}

static struct tether_policy_decision fail_at(tether_policy *pol,
					     uint32_t attempt, uint64_t now)
{
	return pt_ask_at(pol, attempt, now, &rng);
}

static int state(const tether_policy *pol, uint64_t now)
{
	return tth_breaker_state(pol->state, now);
}

#define SIMPLE                                                                 \
	"{type: breaker, failures: 3, open_for: 10s, "                         \
	"inner: {type: fixed, interval: 1s}}"

START_TEST(test_breaker_opens_after_consecutive_failures)
{
	tether_policy *pol = make(SIMPLE);
	struct tether_policy_decision d;

	ck_assert_int_eq(state(pol, 0), CLOSED);
	d = fail_at(pol, 1, 1000);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	ck_assert_uint_eq(d.delay_ms, 1000);
	ck_assert_uint_eq(fail_at(pol, 2, 2000).delay_ms, 1000);
	d = fail_at(pol, 3, 3000);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_SUSPEND);
	ck_assert_uint_eq(d.delay_ms, 10000);
	ck_assert_str_eq(d.why, "breaker open");
	ck_assert_int_eq(state(pol, 3000), OPEN);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_success_resets_count)
{
	tether_policy *pol = make(SIMPLE);

	fail_at(pol, 1, 0);
	fail_at(pol, 2, 0);
	tether_policy_on_success(pol, 100);
	ck_assert_int_eq(fail_at(pol, 1, 200).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(fail_at(pol, 2, 300).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(state(pol, 300), CLOSED);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_half_open_after_open_for)
{
	tether_policy *pol = make(SIMPLE);

	for (uint32_t a = 1; a <= 3; a++)
		fail_at(pol, a, 5000);
	ck_assert_int_eq(state(pol, 14999), OPEN);
	ck_assert_int_eq(state(pol, 15000), HALF_OPEN);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_closes_after_probe)
{
	tether_policy *pol = make(SIMPLE);
	struct tether_policy_decision d;

	for (uint32_t a = 1; a <= 3; a++)
		fail_at(pol, a, 0);
	tether_policy_on_success(pol, 10500);
	ck_assert_int_eq(state(pol, 10500), CLOSED);
	/* counters were reset: two more failures do not open it */
	d = fail_at(pol, 1, 20000);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(fail_at(pol, 2, 21000).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(fail_at(pol, 3, 22000).verdict,
			 TETHER_VERDICT_SUSPEND);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_needs_all_probes)
{
	tether_policy *pol = make("{type: breaker, failures: 1, open_for: 5s, "
				  "half_open_probes: 2}");

	ck_assert_int_eq(fail_at(pol, 1, 0).verdict, TETHER_VERDICT_SUSPEND);
	tether_policy_on_success(pol, 5000);
	ck_assert_int_eq(state(pol, 5000), HALF_OPEN);
	tether_policy_on_success(pol, 6000);
	ck_assert_int_eq(state(pol, 6000), CLOSED);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_reopens_on_probe_failure)
{
	tether_policy *pol = make(SIMPLE);
	struct tether_policy_decision d;

	for (uint32_t a = 1; a <= 3; a++)
		fail_at(pol, a, 0);
	ck_assert_int_eq(state(pol, 10000), HALF_OPEN);
	d = fail_at(pol, 4, 10300);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_SUSPEND);
	ck_assert_uint_eq(d.delay_ms, 10000);
	ck_assert_str_eq(d.why, "breaker open (probe failed)");
	ck_assert_int_eq(state(pol, 10300), OPEN);
	ck_assert_int_eq(state(pol, 20300), HALF_OPEN);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_failure_rate_trigger)
{
	tether_policy *pol = make("{type: breaker, failures: 100, "
				  "failure_rate: 0.5, window: 10, "
				  "min_samples: 6, open_for: 1s, "
				  "inner: {type: fixed, interval: 1s}}");
	struct tether_policy_decision d;

	/* F S F S F: 3/5 failing, but fewer than min_samples outcomes */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(fail_at(pol, 1, 0).verdict,
				 TETHER_VERDICT_RETRY);
		tether_policy_on_success(pol, 0);
	}
	ck_assert_int_eq(fail_at(pol, 1, 0).verdict, TETHER_VERDICT_RETRY);
	/* S then F: 6 outcomes, 4 of them failures */
	tether_policy_on_success(pol, 0);
	d = fail_at(pol, 1, 0);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_SUSPEND);
	ck_assert_str_eq(d.why, "breaker open");
	ck_assert_int_eq(state(pol, 0), OPEN);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_failure_rate_below_threshold)
{
	tether_policy *pol = make("{type: breaker, failures: 100, "
				  "failure_rate: 0.5, window: 10, "
				  "min_samples: 4}");

	/* S S F: 1/3 ... then S S F...: stays at or below a third */
	for (int i = 0; i < 20; i++) {
		tether_policy_on_success(pol, 0);
		tether_policy_on_success(pol, 0);
		ck_assert_int_eq(fail_at(pol, 1, 0).verdict,
				 TETHER_VERDICT_RETRY);
	}
	ck_assert_int_eq(state(pol, 0), CLOSED);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_inner_give_up_passes_through)
{
	tether_policy *pol = make("{type: breaker, failures: 10, "
				  "inner: {type: exponential, jitter: none, "
				  "max_attempts: 2}}");
	struct tether_policy_decision d;

	d = fail_at(pol, 1, 0);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	ck_assert_uint_eq(d.delay_ms, 1000);
	d = fail_at(pol, 2, 0);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_GIVE_UP);
	ck_assert_str_eq(d.why, "max_attempts reached");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_inner_errors_have_path)
{
	char err[1024];

	ck_assert_int_eq(pt_try_new("b.yaml",
				    "type: breaker\n"
				    "failures: 0\n"
				    "inner:\n"
				    "  type: exponential\n"
				    "  multiplier: 0.5\n"
				    "  intial: 2s\n",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err,
			 "b.yaml:5:15: inner.multiplier: expected a number "
			 "between 1 and 100, found '0.5'\n"
			 "b.yaml:6:11: unknown key 'inner.intial' for policy "
			 "'exponential' (did you mean 'inner.initial'?)\n"
			 "b.yaml:2:11: failures: expected a whole number "
			 "between 1 and 1000000, found '0'");
}
END_TEST

START_TEST(test_breaker_inner_unknown_type)
{
	char err[1024];

	ck_assert_int_eq(pt_try_new("b.yaml",
				    "{type: breaker, inner: {type: fixd}}", err,
				    sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "b.yaml:1:31: inner.type: expected a policy "
			      "type (one of: fixed, exponential, adaptive, "
			      "breaker), found 'fixd' (did you mean "
			      "'fixed'?)");
	ck_assert_int_eq(pt_try_new("b.yaml", "{type: breaker, inner: fixd}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "b.yaml:1:24: inner: expected a mapping or a "
			      "policy type (one of: fixed, exponential, "
			      "adaptive, breaker), found 'fixd' (did you mean "
			      "'fixed'?)");
}
END_TEST

START_TEST(test_breaker_describe_and_default_inner)
{
	tether_policy *pol = make("type: breaker\n");
	char buf[512];

	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "breaker failures=5 failure_rate=0 window=20 "
			      "min_samples=10 open_for=30s "
			      "half_open_probes=1 inner.type=exponential "
			      "inner.initial=1s inner.multiplier=2 "
			      "inner.max=1m inner.jitter=full "
			      "inner.max_attempts=0 inner.max_elapsed=0");
	tether_policy_free(pol);
	pol = make("{type: breaker, inner: fixed, open_for: 5m}");
	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "breaker failures=5 failure_rate=0 window=20 "
			      "min_samples=10 open_for=5m "
			      "half_open_probes=1 inner.type=fixed "
			      "inner.interval=5s inner.jitter=0 "
			      "inner.max_attempts=0 inner.max_elapsed=0");
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_breaker_observe_reaches_inner)
{
	tether_policy *pol = make("{type: breaker, inner: {type: adaptive, "
				  "min: 1ms}}");
	struct tether_policy_sample s = {.type = TETHER_SAMPLE_RTT,
					 .value = 100};

	tether_policy_observe(pol, &s);
	/* the inner adaptive now bases its delay on RTO = 300ms */
	ck_assert_uint_le(fail_at(pol, 1, 0).delay_ms, 300);
	tether_policy_free(pol);
}
END_TEST

static Suite *breaker_suite(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("states");

	tcase_add_test(tc, test_breaker_opens_after_consecutive_failures);
	tcase_add_test(tc, test_breaker_success_resets_count);
	tcase_add_test(tc, test_breaker_half_open_after_open_for);
	tcase_add_test(tc, test_breaker_closes_after_probe);
	tcase_add_test(tc, test_breaker_needs_all_probes);
	tcase_add_test(tc, test_breaker_reopens_on_probe_failure);
	suite_add_tcase(s, tc);
	tc = tcase_create("rate");
	tcase_add_test(tc, test_breaker_failure_rate_trigger);
	tcase_add_test(tc, test_breaker_failure_rate_below_threshold);
	suite_add_tcase(s, tc);
	tc = tcase_create("inner");
	tcase_add_test(tc, test_breaker_inner_give_up_passes_through);
	tcase_add_test(tc, test_breaker_inner_errors_have_path);
	tcase_add_test(tc, test_breaker_inner_unknown_type);
	tcase_add_test(tc, test_breaker_describe_and_default_inner);
	tcase_add_test(tc, test_breaker_observe_reaches_inner);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(breaker_suite)

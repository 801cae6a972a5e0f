/* The exponential policy: schedule, give-up rules, jitter statistics. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "check-int.h"
#include "policy-test.h"

#define DRAWS 10000

/* ----------------------------------------------------------- schedule */

START_TEST(test_exponential_schedule_without_jitter)
{
	static const uint64_t want[] = {1000,  2000,  4000,  8000, 16000,
					32000, 60000, 60000, 60000};
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: none}");
	struct tether_rng rng;

	tether_rng_seed(&rng, 1);
	for (uint32_t a = 1; a <= 9; a++) {
		struct tether_policy_decision d = pt_ask(pol, a, 0, &rng);

		ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
		ck_assert_uint_eq(d.delay_ms, want[a - 1]);
	}
	/* no overflow however long the streak */
	ck_assert_uint_eq(pt_ask(pol, UINT32_MAX, 0, &rng).delay_ms, 60000);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_schedule_custom)
{
	static const uint64_t want[] = {250, 375, 563, 844, 1266, 1898, 2000};
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: none, "
			      "initial: 250ms, multiplier: 1.5, max: 2s}");
	struct tether_rng rng;
	char buf[160];

	tether_rng_seed(&rng, 1);
	for (uint32_t a = 1; a <= 7; a++)
		ck_assert_uint_eq(pt_ask(pol, a, 0, &rng).delay_ms,
				  want[a - 1]);
	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_str_eq(buf, "exponential initial=250ms multiplier=1.5 "
			      "max=2s jitter=none max_attempts=0 "
			      "max_elapsed=0");
	tether_policy_free(pol);
}
END_TEST

/* ------------------------------------------------------------ give up */

START_TEST(test_exponential_max_attempts)
{
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, max_attempts: 3}");
	struct tether_rng rng;

	tether_rng_seed(&rng, 1);
	ck_assert_int_eq(pt_ask(pol, 1, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	ck_assert_int_eq(pt_ask(pol, 2, 0, &rng).verdict, TETHER_VERDICT_RETRY);
	pt_expect_give_up(pol, 3, 0, "max_attempts reached", &rng);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_max_elapsed)
{
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: none, "
			      "max_elapsed: 10s}");
	struct tether_rng rng;
	struct tether_policy_decision d;

	tether_rng_seed(&rng, 1);
	ck_assert_uint_eq(pt_ask(pol, 2, 1000, &rng).delay_ms, 2000);
	/* cap would be 16s: the retry is pulled in to happen at 10s */
	d = pt_ask(pol, 5, 9000, &rng);
	ck_assert_int_eq(d.verdict, TETHER_VERDICT_RETRY);
	ck_assert_uint_eq(d.delay_ms, 1000);
	pt_expect_give_up(pol, 6, 10000, "max_elapsed reached", &rng);
	tether_policy_free(pol);
}
END_TEST

/* ------------------------------------------------------------- jitter */

START_TEST(test_exponential_full_jitter_uniform)
{
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: full}");
	struct tether_rng rng;
	struct pt_stats st;
	const uint64_t cap = 8000; /* attempt 4 */

	tether_rng_seed(&rng, 2024);
	pt_draw(pol, 4, DRAWS, 0, cap, &rng, &st);
	ck_assert_double_eq_tol(pt_stats_mean(&st), cap / 2.0,
				cap / 2.0 * 0.02);
	for (int i = 0; i < 10; i++)
		ck_assert_msg(st.decile[i] > 920 && st.decile[i] < 1080,
			      "decile %d has %d draws", i, st.decile[i]);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_equal_jitter)
{
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: equal}");
	struct tether_rng rng;
	struct pt_stats st;
	const uint64_t cap = 8000;

	tether_rng_seed(&rng, 77);
	pt_draw(pol, 4, DRAWS, cap / 2, cap, &rng, &st);
	ck_assert_double_eq_tol(pt_stats_mean(&st), 0.75 * cap,
				0.75 * cap * 0.02);
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_proportional_jitter)
{
	tether_policy *pol = pt_make("e.yaml", "{type: exponential, "
					       "jitter: 'proportional:0.2'}");
	struct tether_rng rng;
	struct pt_stats st;
	const uint64_t cap = 8000;
	char buf[160];

	tether_rng_seed(&rng, 5);
	pt_draw(pol, 4, DRAWS, 6400, 9600, &rng, &st);
	ck_assert_double_eq_tol(pt_stats_mean(&st), cap, cap * 0.02);
	/* near max the band is clamped */
	pt_draw(pol, 20, 1000, 0, 60000, &rng, &st);
	tether_policy_describe(pol, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, " jitter=proportional:0.2 "));
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_decorrelated_jitter)
{
	tether_policy *pol =
	    pt_make("e.yaml", "{type: exponential, jitter: decorrelated, "
			      "initial: 1s, max: 30s}");
	struct tether_rng rng;
	uint64_t prev = 0, top = 0;

	tether_rng_seed(&rng, 99);
	for (int i = 0; i < DRAWS; i++) {
		uint32_t attempt = (uint32_t)(i % 20) + 1;
		uint64_t d = pt_ask(pol, attempt, 0, &rng).delay_ms;
		/* the streak restarts from initial at attempt 1 */
		uint64_t bound = attempt == 1 ? 3000 : 3 * prev;

		ck_assert_uint_ge(d, 1000);
		ck_assert_uint_le(d, 30000);
		ck_assert_uint_le(d, bound < 30000 ? bound : 30000);
		prev = d;
		top = d > top ? d : top;
	}
	ck_assert_uint_eq(top, 30000); /* long streaks do reach max */
	/* on_success also restarts the streak */
	for (int i = 0; i < 100; i++) {
		pt_ask(pol, 15, 0, &rng);
		pt_ask(pol, 16, 0, &rng);
		tether_policy_on_success(pol, 0);
		ck_assert_uint_le(pt_ask(pol, 2, 0, &rng).delay_ms, 3000);
	}
	tether_policy_free(pol);
}
END_TEST

START_TEST(test_exponential_same_seed_same_sequence)
{
	tether_policy *a = pt_make("e.yaml", "{type: exponential}");
	tether_policy *b = pt_make("e.yaml", "{type: exponential}");
	struct tether_rng ra, rb;
	int same = 0;

	tether_rng_seed(&ra, 123);
	tether_rng_seed(&rb, 123);
	for (uint32_t i = 1; i <= 100; i++)
		ck_assert_uint_eq(pt_ask(a, i % 8 + 1, 0, &ra).delay_ms,
				  pt_ask(b, i % 8 + 1, 0, &rb).delay_ms);
	tether_rng_seed(&ra, 123);
	tether_rng_seed(&rb, 124);
	for (uint32_t i = 1; i <= 100; i++)
		same += pt_ask(a, 6, 0, &ra).delay_ms ==
			pt_ask(b, 6, 0, &rb).delay_ms;
	ck_assert_int_lt(same, 5);
	tether_policy_free(a);
	tether_policy_free(b);
}
END_TEST

/* ------------------------------------------------------------- config */

START_TEST(test_exponential_max_below_initial)
{
	char err[512];

	ck_assert_int_eq(pt_try_new("e.yaml",
				    "{type: exponential, initial: 1m, "
				    "max: 30s}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "e.yaml:1:39: max: expected at least initial "
			      "(1m), found '30s'");
}
END_TEST

START_TEST(test_exponential_bad_jitter)
{
	char err[512];

	ck_assert_int_eq(pt_try_new("e.yaml",
				    "{type: exponential, jitter: ful}", err,
				    sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "e.yaml:1:29: jitter: expected one of none, "
			      "full, equal, decorrelated, "
			      "proportional:<value>, found 'ful' (did you "
			      "mean 'full'?)");
	ck_assert_int_eq(pt_try_new("e.yaml",
				    "{type: exponential, "
				    "jitter: 'proportional:1.5'}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "e.yaml:1:29: jitter: expected a fraction in "
			      "(0, 1] after 'proportional:', found '1.5'");
	ck_assert_int_eq(pt_try_new("e.yaml",
				    "{type: exponential, "
				    "jitter: 'proportional:x'}",
				    err, sizeof(err)),
			 TETHER_ECONFIG);
	ck_assert_str_eq(err, "e.yaml:1:29: jitter: expected a fraction in "
			      "(0, 1] after 'proportional:', found 'x'");
}
END_TEST

static Suite *exponential_suite(void)
{
	Suite *s = suite_create("exponential");
	TCase *tc = tcase_create("schedule");

	tcase_add_test(tc, test_exponential_schedule_without_jitter);
	tcase_add_test(tc, test_exponential_schedule_custom);
	suite_add_tcase(s, tc);
	tc = tcase_create("give_up");
	tcase_add_test(tc, test_exponential_max_attempts);
	tcase_add_test(tc, test_exponential_max_elapsed);
	suite_add_tcase(s, tc);
	tc = tcase_create("jitter");
	tcase_add_test(tc, test_exponential_full_jitter_uniform);
	tcase_add_test(tc, test_exponential_equal_jitter);
	tcase_add_test(tc, test_exponential_proportional_jitter);
	tcase_add_test(tc, test_exponential_decorrelated_jitter);
	tcase_add_test(tc, test_exponential_same_seed_same_sequence);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_exponential_max_below_initial);
	tcase_add_test(tc, test_exponential_bad_jitter);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(exponential_suite)

/*
 * Storms on virtual time through the public simulator: reproducibility,
 * lock-step waves without jitter, spread with jitter, and the manager
 * limiter holding its rate while 10,000 connections come back.
 */
#include <string.h>

#include <tether/sim.h>

#include "check-int.h"
#include "util-int.h"

static tether_params *policy(const char *type, const char *jitter)
{
	tether_params *p = tether_params_new("test");
	tether_params_set(p, "type", type, NULL);
	if (jitter)
		tether_params_set(p, "jitter", jitter, NULL);
	return p;
}

static void run(struct tether_sim_config *cfg, struct tether_sim_summary *s)
{
	tether_sim *sim = NULL;
	char err[512];
	int rc = tether_sim_run(cfg, &sim, err, sizeof err);
	ck_assert_msg(rc == 0, "sim failed: %s", err);
	tether_sim_summarize(sim, s);
	tether_sim_free(sim);
}

START_TEST(test_sim_same_seed_same_storm)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary a, b, c;

	tether_sim_config_init(&cfg);
	cfg.clients = 500;
	cfg.policy = policy("exponential", "full");
	run(&cfg, &a);
	run(&cfg, &b);
	cfg.seed = 2;
	run(&cfg, &c);
	ck_assert_uint_eq(a.attempts, b.attempts);
	ck_assert_uint_eq(a.peak_100ms, b.peak_100ms);
	ck_assert_uint_eq(a.reconnect_p100_ms, b.reconnect_p100_ms);
	ck_assert(a.attempts != c.attempts ||
		  a.reconnect_p100_ms != c.reconnect_p100_ms);
	tether_params_free(cfg.policy);
}
END_TEST

START_TEST(test_sim_no_jitter_is_lock_step)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary s;

	tether_sim_config_init(&cfg);
	cfg.clients = 2000;
	cfg.outage_ms = 10000;
	cfg.policy = policy("exponential", "none");
	run(&cfg, &s);
	/* 1, 2, 4 s: every client retries in the same millisecond, so
	   every wave is all N at once; back at 10 s, reconnect at 15 s */
	ck_assert_uint_eq(s.peak_100ms, 2000);
	ck_assert_uint_eq(s.attempts_during_outage, 3 * 2000);
	ck_assert_uint_eq(s.reconnected, 2000);
	ck_assert_uint_eq(s.reconnect_p50_ms, s.reconnect_p100_ms);
	ck_assert_str_eq(s.policy, "exponential initial=1s multiplier=2 max=1m jitter=none max_attempts=0 max_elapsed=0");
	tether_params_free(cfg.policy);
}
END_TEST

START_TEST(test_sim_full_jitter_spreads_the_storm_4x)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary full, none;

	tether_sim_config_init(&cfg);
	cfg.clients = 10000;
	cfg.outage_ms = 30000;
	cfg.policy = policy("exponential", "full");
	run(&cfg, &full);
	tether_params_free(cfg.policy);
	cfg.policy = policy("exponential", "none");
	run(&cfg, &none);
	tether_params_free(cfg.policy);
	ck_assert_msg(full.peak_100ms * 4 <= none.peak_100ms,
		      "full jitter peak %llu per 100 ms vs none %llu",
		      (unsigned long long)full.peak_100ms,
		      (unsigned long long)none.peak_100ms);
	ck_assert_uint_eq(full.reconnected, 10000);
	ck_assert_uint_eq(none.reconnected, 10000);
}
END_TEST

/* Most attempts in any window of w ms, from the recorded attempts. */
static uint64_t peak(const tether_sim *sim, uint64_t w)
{
	size_t n = tether_sim_attempt_count(sim), lo = 0;
	uint64_t best = 0, tlo, thi;
	for (size_t hi = 0; hi < n; hi++) {
		tether_sim_attempt(sim, hi, &thi, NULL);
		for (;;) {
			tether_sim_attempt(sim, lo, &tlo, NULL);
			if (thi - tlo < w)
				break;
			lo++;
		}
		if (hi - lo + 1 > best)
			best = hi - lo + 1;
	}
	return best;
}

START_TEST(test_sim_limiter_holds_its_rate_in_a_10000_storm)
{
	static const struct {
		double rate;
		uint32_t burst, max_connecting;
	} limits[] = {{200, 50, 64}, {1000, 1, 0}, {500, 100, 8}};
	for (size_t i = 0; i < 3; i++) {
		struct tether_sim_config cfg;
		tether_sim *sim = NULL;
		char err[256];

		tether_sim_config_init(&cfg);
		cfg.clients = 10000;
		cfg.outage_ms = 10000;
		cfg.policy = policy("exponential", "none"); /* worst case */
		cfg.connects_per_second = limits[i].rate;
		cfg.burst = limits[i].burst;
		cfg.max_connecting = limits[i].max_connecting;
		ck_assert_int_eq(tether_sim_run(&cfg, &sim, err, sizeof err), 0);
		uint64_t p1 = peak(sim, 1000), p100 = peak(sim, 100);
		ck_assert_msg(p1 <= limits[i].burst + limits[i].rate,
			      "rate %g burst %u: %llu in 1 s", limits[i].rate,
			      limits[i].burst, (unsigned long long)p1);
		ck_assert_msg(p100 <= limits[i].burst + limits[i].rate / 10,
			      "rate %g burst %u: %llu in 100 ms",
			      limits[i].rate, limits[i].burst,
			      (unsigned long long)p100);
		struct tether_sim_summary s;
		tether_sim_summarize(sim, &s);
		ck_assert_uint_eq(s.reconnected, 10000);
		/* and it is not slower than the rate allows */
		ck_assert_uint_le(s.reconnect_p100_ms,
				  (uint64_t)(10000 / limits[i].rate * 1000) + 8000);
		tether_sim_free(sim);
		tether_params_free(cfg.policy);
	}
}
END_TEST

START_TEST(test_sim_blackhole_ends_attempts_at_connect_timeout)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary s;

	tether_sim_config_init(&cfg);
	cfg.clients = 10;
	cfg.outage_ms = 20000;
	cfg.fault = TETHER_SIM_BLACKHOLE;
	cfg.connect_timeout_ms = 3000;
	cfg.policy = policy("fixed", NULL);
	tether_params_set(cfg.policy, "interval", "1s", NULL);
	run(&cfg, &s);
	/* each cycle: 1 s wait + 3 s hanging attempt = 4 s: 5 per 20 s */
	ck_assert_uint_eq(s.attempts_during_outage, 10 * 5);
	ck_assert_uint_eq(s.reconnected, 10);
	tether_params_free(cfg.policy);
}
END_TEST

START_TEST(test_sim_give_up_is_counted)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary s;

	tether_sim_config_init(&cfg);
	cfg.clients = 20;
	cfg.outage_ms = 60000;
	cfg.policy = policy("exponential", "none");
	tether_params_set(cfg.policy, "max_attempts", "3", NULL);
	run(&cfg, &s);
	ck_assert_uint_eq(s.gave_up, 20);
	ck_assert_uint_eq(s.reconnected, 0);
	ck_assert_uint_eq(s.reconnect_p50_ms, UINT64_MAX);
	tether_params_free(cfg.policy);
}
END_TEST

START_TEST(test_sim_rejects_bad_input)
{
	struct tether_sim_config cfg;
	tether_sim *sim = (tether_sim *)&cfg;
	char err[512];

	tether_sim_config_init(&cfg);
	ck_assert_int_eq(tether_sim_run(&cfg, &sim, err, sizeof err), TETHER_EINVAL);
	ck_assert_ptr_null(sim);
	ck_assert_str_eq(err, "need at least one client and a policy");
	cfg.policy = policy("exponential", "fulll");
	ck_assert_int_eq(tether_sim_run(&cfg, &sim, err, sizeof err), TETHER_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "jitter"));
	ck_assert_ptr_nonnull(strstr(err, "fulll"));
	tether_params_free(cfg.policy);
}
END_TEST

/* The targets, on virtual time: 2,000 clients of the default
 * policy, outages of 10, 30 and 45 s, the manager's default limiter. */
START_TEST(test_sim_coordinated_meets_the_targets)
{
	static const uint64_t outages[] = {10000, 30000, 45000};

	for (size_t i = 0; i < TTH_ARRAY_LEN(outages); i++) {
		struct tether_sim_config cfg;
		struct tether_sim_summary on, off;

		tether_sim_config_init(&cfg);
		cfg.clients = 2000;
		cfg.outage_ms = outages[i];
		cfg.connects_per_second = TETHER_DEFAULT_CONNECTS_PER_SECOND;
		cfg.burst = TETHER_DEFAULT_BURST;
		cfg.policy = policy("exponential", NULL);
		cfg.coordinated = 1;
		run(&cfg, &on);
		cfg.coordinated = 0;
		run(&cfg, &off);
		tether_params_free(cfg.policy);
		/* one attempt at a time during the outage, about two per
		   probe interval at most */
		ck_assert_uint_eq(on.max_in_flight_outage, 1);
		ck_assert_uint_le(on.attempts_during_outage,
				  2 * outages[i] / 1000 + 2);
		ck_assert_uint_le(on.attempts_during_outage * 10, on.clients);
		ck_assert_uint_ge(on.held, 1999);
		ck_assert_uint_le(on.peak_1s, TETHER_DEFAULT_CONNECTS_PER_SECOND);
		ck_assert_uint_eq(on.reconnected, 2000);
		ck_assert_msg(on.reconnect_p100_ms <= 3000,
			      "outage %llu ms: 100%% back after %llu ms",
			      (unsigned long long)outages[i],
			      (unsigned long long)on.reconnect_p100_ms);
		/* what it saves */
		ck_assert_uint_gt(off.attempts_during_outage,
				  20 * on.attempts_during_outage);
		ck_assert_uint_gt(off.reconnect_p100_ms,
				  10 * on.reconnect_p100_ms);
		ck_assert_uint_eq(off.held, 0);
	}
}
END_TEST

START_TEST(test_sim_coordinated_blackhole_probes_one_at_a_time)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary s;

	tether_sim_config_init(&cfg);
	cfg.clients = 1000;
	cfg.outage_ms = 30000;
	cfg.fault = TETHER_SIM_BLACKHOLE;
	cfg.connect_timeout_ms = 3000;
	cfg.connects_per_second = 1000;
	cfg.policy = policy("exponential", NULL);
	cfg.coordinated = 1;
	run(&cfg, &s);
	/* each probe hangs until its timeout: at most one per 3 s */
	ck_assert_uint_eq(s.max_in_flight_outage, 1);
	ck_assert_uint_le(s.attempts_during_outage, 30000 / 3000 + 1);
	ck_assert_uint_eq(s.reconnected, 1000);
	/* the probe in flight at recovery hangs: timeout + interval +
	   release at 1000/s */
	ck_assert_uint_le(s.reconnect_p100_ms, 3000 + 1000 + 1000 + 100);
	tether_params_free(cfg.policy);
}
END_TEST

/* Alone on its endpoint, a coordinated client is the old one: its probes
 * are its own attempts, on its own policy. */
START_TEST(test_sim_coordinated_alone_is_unchanged)
{
	struct tether_sim_config cfg;
	tether_sim *a = NULL, *b = NULL;
	char err[256];

	tether_sim_config_init(&cfg);
	cfg.clients = 1;
	cfg.outage_ms = 60000;
	cfg.policy = policy("exponential", "full");
	ck_assert_int_eq(tether_sim_run(&cfg, &a, err, sizeof err), 0);
	cfg.coordinated = 1;
	ck_assert_int_eq(tether_sim_run(&cfg, &b, err, sizeof err), 0);
	ck_assert_uint_gt(tether_sim_attempt_count(a), 3);
	ck_assert_uint_eq(tether_sim_attempt_count(a),
			  tether_sim_attempt_count(b));
	for (size_t i = 0; i < tether_sim_attempt_count(a); i++) {
		uint64_t ta, tb;
		tether_sim_attempt(a, i, &ta, NULL);
		tether_sim_attempt(b, i, &tb, NULL);
		ck_assert_uint_eq(ta, tb);
	}
	ck_assert_uint_eq(tether_sim_reconnect_ms(a, 0),
			  tether_sim_reconnect_ms(b, 0));
	tether_sim_free(a);
	tether_sim_free(b);
	tether_params_free(cfg.policy);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("storms");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sim_same_seed_same_storm);
	tcase_add_test(tc, test_sim_no_jitter_is_lock_step);
	tcase_add_test(tc, test_sim_full_jitter_spreads_the_storm_4x);
	tcase_add_test(tc, test_sim_limiter_holds_its_rate_in_a_10000_storm);
	tcase_add_test(tc, test_sim_blackhole_ends_attempts_at_connect_timeout);
	tcase_add_test(tc, test_sim_give_up_is_counted);
	tcase_add_test(tc, test_sim_rejects_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("coordinated");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sim_coordinated_meets_the_targets);
	tcase_add_test(tc, test_sim_coordinated_blackhole_probes_one_at_a_time);
	tcase_add_test(tc, test_sim_coordinated_alone_is_unchanged);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(sim_suite)

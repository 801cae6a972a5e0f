/* Unit tests for the global connect limiter (core/sansio/limiter.c). */
#include <stdint.h>
#include <stdlib.h>

#include "check-int.h"
#include "limiter-int.h"
#include "util-int.h"

#define NWAITERS 16

static struct tth_limiter lim;
static struct tth_waiter ws[NWAITERS];

static void setup(void)
{
	size_t i;

	for (i = 0; i < NWAITERS; i++)
		tth_limiter_waiter_init(&ws[i]);
}

/* Which of ws[] was granted, or -1 for none. */
static int granted_index(uint64_t now_ms)
{
	struct tth_waiter *w = tth_limiter_grant_next(&lim, now_ms);

	return w ? (int)(w - ws) : -1;
}

/* --- bucket ------------------------------------------------------------ */

START_TEST(test_limiter_immediate_grants_up_to_burst)
{
	int i;

	tth_limiter_init(&lim, 10, 5, 0, 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[5], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[6], 0), 0);
	ck_assert(ws[5].queued);
	ck_assert(!ws[4].queued);
	ck_assert_uint_eq(lim.waiting, 2);
	ck_assert_uint_eq(lim.granted_total, 5);
	ck_assert_uint_eq(lim.queued_total, 2);
	ck_assert_uint_eq(lim.connecting, 5);
	ck_assert_int_eq(granted_index(0), -1);
}
END_TEST

START_TEST(test_limiter_unlimited_rate_grants_everything)
{
	int i;

	tth_limiter_init(&lim, 0, 1, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 0);
	for (i = 0; i < NWAITERS; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	ck_assert_uint_eq(lim.granted_total, NWAITERS);
	ck_assert_uint_eq(lim.queued_total, 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), TTH_NEVER);
}
END_TEST

START_TEST(test_limiter_next_ms_one_token_per_100ms)
{
	tth_limiter_init(&lim, 10, 1, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 10000);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), TTH_NEVER);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 100);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 37), 100);
	ck_assert_int_eq(granted_index(99), -1);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 99), 100);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 100), 100);
	ck_assert_int_eq(granted_index(100), 1);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 100), 200);
	/* Served 50 ms late: with burst 1 the bucket was already full, so
	 * the late 50 ms are not banked and the next token is 100 ms away. */
	ck_assert_int_eq(granted_index(250), 2);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 250), TTH_NEVER);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[3], 250), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 250), 350);
}
END_TEST

START_TEST(test_limiter_next_ms_rounds_up)
{
	/* 3/s: a token takes 333.3 ms, so it is there at 334, not 333. */
	tth_limiter_init(&lim, 3, 2, 0, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[3], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[4], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 334);
	ck_assert_int_eq(granted_index(333), -1);
	ck_assert_int_eq(granted_index(334), 2);
	/* The 2,000 micro-tokens over carry into the next period, so three
	 * tokens take exactly 1000 ms. */
	ck_assert_uint_eq(lim.tokens_u, 2000);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 334), 667);
	ck_assert_int_eq(granted_index(667), 3);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 667), 1000);
	ck_assert_int_eq(granted_index(999), -1);
	ck_assert_int_eq(granted_index(1000), 4);
	ck_assert_uint_eq(lim.tokens_u, 0);
}
END_TEST

START_TEST(test_limiter_fractional_rate)
{
	tth_limiter_init(&lim, 0.5, 1, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 500);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 2000);
	ck_assert_int_eq(granted_index(1999), -1);
	ck_assert_int_eq(granted_index(2000), 1);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 2000), 4000);
	ck_assert_int_eq(granted_index(4000), 2);

	/* 2.5/s: exactly one token per 400 ms. */
	tth_limiter_init(&lim, 2.5, 2, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 2500);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[3], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[4], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[5], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 400);
}
END_TEST

START_TEST(test_limiter_tiny_rate_stays_limited)
{
	/* 0.0001/s rounds to 0 per 1000 s; it must not mean "unlimited". */
	tth_limiter_init(&lim, 0.0001, 1, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 1000000);
	tth_limiter_init(&lim, -3, 1, 0, 0);
	ck_assert_uint_eq(lim.rate_milli, 0);
	tth_limiter_init(&lim, 1, 0, 0, 0);
	ck_assert_uint_eq(lim.burst, 1);
}
END_TEST

START_TEST(test_limiter_refill_caps_at_burst)
{
	int i;

	tth_limiter_init(&lim, 1000, 3, 0, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	ck_assert_uint_eq(lim.tokens_u, 0);
	/* A huge gap: elapsed * rate would overflow 64 bits if not capped. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[3], 1ull << 62), 1);
	ck_assert_uint_eq(lim.tokens_u, 2000000);
	ck_assert_uint_eq(lim.last_ms, 1ull << 62);
	/* A clock stepping back credits nothing. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[4], 5), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[5], 5), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[6], 5), 0);
	ck_assert_uint_eq(lim.tokens_u, 0);
}
END_TEST

/* --- queue ------------------------------------------------------------- */

START_TEST(test_limiter_fifo_order)
{
	int i;
	uint64_t t = 0;

	tth_limiter_init(&lim, 10, 2, 0, 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), i < 2);
	for (i = 2; i < 10; i++) {
		t = tth_limiter_next_ms(&lim, t);
		ck_assert_uint_eq(t, (uint64_t)(i - 1) * 100);
		ck_assert_int_eq(granted_index(t), i);
		ck_assert_int_eq(granted_index(t), -1);
	}
	ck_assert_uint_eq(lim.waiting, 0);
	ck_assert_uint_eq(lim.granted_total, 10);
	ck_assert_uint_eq(lim.queued_total, 8);
}
END_TEST

START_TEST(test_limiter_acquire_queues_behind_waiters)
{
	tth_limiter_init(&lim, 10, 1, 0, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	/* A token is there at 100 but ws[1] came first. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 100), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 100), 100);
	ck_assert_int_eq(granted_index(100), 1);
	ck_assert_int_eq(granted_index(199), -1);
	ck_assert_int_eq(granted_index(200), 2);
}
END_TEST

START_TEST(test_limiter_cancel_from_middle)
{
	int i;

	tth_limiter_init(&lim, 0, 1, 1, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	for (i = 1; i <= 5; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 0);
	tth_limiter_cancel(&lim, &ws[3]);
	ck_assert(!ws[3].queued);
	ck_assert_uint_eq(lim.waiting, 4);
	tth_limiter_cancel(&lim, &ws[3]); /* not queued: no-op */
	tth_limiter_cancel(&lim, &ws[0]); /* granted: no-op */
	ck_assert_uint_eq(lim.waiting, 4);
	/* The head and the tail too. */
	tth_limiter_cancel(&lim, &ws[1]);
	tth_limiter_cancel(&lim, &ws[5]);
	ck_assert_uint_eq(lim.waiting, 2);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[6], 0), 0);
	/* A cancelled waiter may queue again, at the tail. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), 2);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), 4);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), 6);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), 1);
	ck_assert_uint_eq(lim.waiting, 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), TTH_NEVER);
	ck_assert_uint_eq(lim.queued_total, 7);
	ck_assert_uint_eq(lim.granted_total, 5);
}
END_TEST

/* --- max_connecting ---------------------------------------------------- */

START_TEST(test_limiter_max_connecting_blocks_until_release)
{
	int i;

	tth_limiter_init(&lim, 0, 1, 2, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 1);
	for (i = 2; i < 6; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 0);
	ck_assert_uint_eq(lim.connecting, 2);
	/* Only a release makes progress; no timer would help. */
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), TTH_NEVER);
	ck_assert_int_eq(granted_index(10000), -1);
	tth_limiter_release(&lim);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 10), 10);
	ck_assert_int_eq(granted_index(10), 2);
	ck_assert_int_eq(granted_index(10), -1);
	tth_limiter_release(&lim);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(20), 3);
	ck_assert_int_eq(granted_index(20), 4);
	ck_assert_int_eq(granted_index(20), -1);
	ck_assert_uint_eq(lim.connecting, 2);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(30), 5);
	ck_assert_uint_eq(lim.waiting, 0);
}
END_TEST

START_TEST(test_limiter_max_connecting_with_rate)
{
	tth_limiter_init(&lim, 10, 1, 1, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[0], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[1], 0), 0);
	/* Short of a token: its time is the next look. */
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 100);
	/* A token but no slot: wait for the release. */
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 100), TTH_NEVER);
	ck_assert_int_eq(granted_index(150), -1);
	tth_limiter_release(&lim);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 150), 150);
	ck_assert_int_eq(granted_index(150), 1);
	/* A slot freed before the token: the token time again. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 150), 0);
	tth_limiter_release(&lim);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 160), 250);
	ck_assert_int_eq(granted_index(250), 2);
	/* A release with nothing in flight does not make a free slot. */
	tth_limiter_release(&lim);
	tth_limiter_release(&lim);
	ck_assert_uint_eq(lim.connecting, 0);
}
END_TEST

/* --- configure --------------------------------------------------------- */

START_TEST(test_limiter_configure_rate_live)
{
	int i;

	tth_limiter_init(&lim, 1, 10, 0, 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[10], 0), 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[11], 0), 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 1000);
	/* 50 ms at 1/s earned 50,000 micro-tokens; the rest comes at 10/s. */
	tth_limiter_configure(&lim, 10, 10, 0, 50);
	ck_assert_uint_eq(lim.tokens_u, 50000);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 50), 145);
	ck_assert_int_eq(granted_index(145), 10);
	/* Lifting the rate limit lets the queue drain at once. */
	tth_limiter_configure(&lim, 0, 10, 0, 146);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 146), 146);
	ck_assert_int_eq(granted_index(146), 11);
	ck_assert_uint_eq(lim.waiting, 0);
}
END_TEST

START_TEST(test_limiter_configure_clamps_tokens_to_burst)
{
	int i;

	tth_limiter_init(&lim, 10, 10, 0, 0);
	ck_assert_uint_eq(lim.tokens_u, 10000000);
	tth_limiter_configure(&lim, 10, 2, 0, 0);
	ck_assert_uint_eq(lim.tokens_u, 2000000);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[2], 0), 0);
	/* A bigger bucket fills up over time, not at once. */
	tth_limiter_configure(&lim, 10, 20, 0, 0);
	ck_assert_uint_eq(lim.tokens_u, 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 100);
	ck_assert_int_eq(granted_index(100), 2);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[3], 2100), 1);
	ck_assert_uint_eq(lim.tokens_u, 19000000);
}
END_TEST

START_TEST(test_limiter_configure_max_connecting_live)
{
	int i;

	tth_limiter_init(&lim, 0, 1, 0, 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[i], 0), 1);
	/* A cap below what is in flight holds new grants back... */
	tth_limiter_configure(&lim, 0, 1, 2, 0);
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[4], 0), 0);
	tth_limiter_release(&lim);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), -1);
	tth_limiter_release(&lim);
	ck_assert_int_eq(granted_index(0), 4);
	/* ...and raising it frees slots at once. */
	ck_assert_int_eq(tth_limiter_acquire(&lim, &ws[5], 0), 0);
	tth_limiter_configure(&lim, 0, 1, 3, 0);
	ck_assert_uint_eq(tth_limiter_next_ms(&lim, 0), 0);
	ck_assert_int_eq(granted_index(0), 5);
}
END_TEST

/* --- storm ------------------------------------------------------------- */

#define STORM_N 10000

struct storm_cfg {
	double rate;
	uint64_t burst;
	uint32_t max_connecting;
	int rate_bound; /* the bucket, not the cap, sets the pace */
};

struct storm {
	struct tth_limiter l;
	struct tth_waiter *w;
	uint64_t *grant_ms;
	uint64_t *release_ms; /* attempts in flight */
	size_t granted, inflight, max_inflight;
	uint64_t rng;
};

static uint64_t storm_rand(struct storm *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static void storm_granted(struct storm *s, const struct storm_cfg *c,
			  const struct tth_waiter *w, uint64_t now)
{
	/* FIFO: the n-th grant goes to the n-th waiter that asked. */
	ck_assert_uint_eq((size_t)(w - s->w), s->granted);
	s->grant_ms[s->granted++] = now;
	s->release_ms[s->inflight++] = now + 1 + storm_rand(s) % 50;
	if (c->max_connecting)
		ck_assert_uint_le(s->inflight, c->max_connecting);
	ck_assert_uint_eq(s->inflight, s->l.connecting);
	if (s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
}

/* Releases the attempts finished by now. */
static void storm_release_due(struct storm *s, uint64_t now)
{
	size_t i = 0;

	while (i < s->inflight) {
		if (s->release_ms[i] <= now) {
			tth_limiter_release(&s->l);
			s->release_ms[i] = s->release_ms[--s->inflight];
		} else {
			i++;
		}
	}
}

static uint64_t storm_next_release(const struct storm *s)
{
	uint64_t next = TTH_NEVER;
	size_t i;

	for (i = 0; i < s->inflight; i++)
		if (s->release_ms[i] < next)
			next = s->release_ms[i];
	return next;
}

/* Over every window [t, t + w_ms) the grants stay within the bucket's
 * promise; windows starting at a grant are the fullest ones. */
static void storm_check_windows(const struct storm *s, uint64_t w_ms)
{
	size_t i, j = 0, most = 0;

	for (i = 0; i < STORM_N; i++) {
		while (j < STORM_N && s->grant_ms[j] < s->grant_ms[i] + w_ms)
			j++;
		if (j - i > most)
			most = j - i;
	}
	ck_assert_uint_le((uint64_t)most * 1000000u,
			  s->l.burst * 1000000u + s->l.rate_milli * w_ms);
}

static void run_storm(const struct storm_cfg *c)
{
	struct storm s = {.rng = 0x2545f4914f6cdd1dull};
	uint64_t now = 0, next_lim, next_rel, ideal_ms, last, at_once;
	struct tth_waiter *g;
	size_t i;

	s.w = calloc(STORM_N, sizeof(*s.w));
	s.grant_ms = calloc(STORM_N, sizeof(*s.grant_ms));
	s.release_ms = calloc(STORM_N, sizeof(*s.release_ms));
	ck_assert(s.w && s.grant_ms && s.release_ms);

	tth_limiter_init(&s.l, c->rate, c->burst, c->max_connecting, 0);
	for (i = 0; i < STORM_N; i++) {
		tth_limiter_waiter_init(&s.w[i]);
		if (tth_limiter_acquire(&s.l, &s.w[i], 0))
			storm_granted(&s, c, &s.w[i], 0);
	}
	/* At t=0 the bucket and the cap both bound the first wave. */
	at_once = c->burst;
	if (c->max_connecting && c->max_connecting < at_once)
		at_once = c->max_connecting;
	ck_assert_uint_eq(s.granted, at_once);

	for (;;) {
		storm_release_due(&s, now);
		while ((g = tth_limiter_grant_next(&s.l, now)))
			storm_granted(&s, c, g, now);
		/* Work-conserving: whoever waits lacks a token or a slot. */
		ck_assert(
		    s.l.waiting == 0 || s.l.tokens_u < 1000000u ||
		    (c->max_connecting && s.l.connecting >= c->max_connecting));
		if (s.granted == STORM_N)
			break;
		next_lim = tth_limiter_next_ms(&s.l, now);
		next_rel = storm_next_release(&s);
		if (next_lim < next_rel)
			next_rel = next_lim;
		ck_assert_uint_ne(next_rel, TTH_NEVER);
		ck_assert_uint_gt(next_rel, now);
		now = next_rel;
	}
	ck_assert_uint_eq(s.l.waiting, 0);
	ck_assert_uint_eq(s.l.granted_total, STORM_N);
	ck_assert_uint_eq(s.l.queued_total, STORM_N - at_once);

	storm_check_windows(&s, 1000);
	storm_check_windows(&s, 100);

	last = s.grant_ms[STORM_N - 1];
	if (c->rate_bound) {
		ideal_ms = (STORM_N - c->burst) * 1000000u / s.l.rate_milli;
		ck_assert_uint_ge(last * 100, ideal_ms * 99);
		ck_assert_uint_le(last * 100, ideal_ms * 101);
	} else {
		/* The cap sets the pace: slots were kept full. */
		ck_assert_uint_eq(s.max_inflight, c->max_connecting);
	}

	free(s.w);
	free(s.grant_ms);
	free(s.release_ms);
}

START_TEST(test_limiter_storm_rate200_burst50_cap64)
{
	static const struct storm_cfg c = {200, 50, 64, 1};

	run_storm(&c);
}
END_TEST

START_TEST(test_limiter_storm_rate1000_burst1_nocap)
{
	static const struct storm_cfg c = {1000, 1, 0, 1};

	run_storm(&c);
}
END_TEST

START_TEST(test_limiter_storm_fractional_rate)
{
	static const struct storm_cfg c = {333.333, 10, 16, 1};

	run_storm(&c);
}
END_TEST

START_TEST(test_limiter_storm_tight_cap)
{
	static const struct storm_cfg c = {50, 5, 4, 1};

	run_storm(&c);
}
END_TEST

START_TEST(test_limiter_storm_cap_bound)
{
	static const struct storm_cfg c = {1000, 100, 8, 0};

	run_storm(&c);
}
END_TEST

static Suite *limiter_suite(void)
{
	Suite *s = suite_create("limiter");
	TCase *tc;

	tc = tcase_create("bucket");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_limiter_immediate_grants_up_to_burst);
	tcase_add_test(tc, test_limiter_unlimited_rate_grants_everything);
	tcase_add_test(tc, test_limiter_next_ms_one_token_per_100ms);
	tcase_add_test(tc, test_limiter_next_ms_rounds_up);
	tcase_add_test(tc, test_limiter_fractional_rate);
	tcase_add_test(tc, test_limiter_tiny_rate_stays_limited);
	tcase_add_test(tc, test_limiter_refill_caps_at_burst);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_limiter_fifo_order);
	tcase_add_test(tc, test_limiter_acquire_queues_behind_waiters);
	tcase_add_test(tc, test_limiter_cancel_from_middle);
	suite_add_tcase(s, tc);

	tc = tcase_create("max_connecting");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_limiter_max_connecting_blocks_until_release);
	tcase_add_test(tc, test_limiter_max_connecting_with_rate);
	suite_add_tcase(s, tc);

	tc = tcase_create("configure");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_limiter_configure_rate_live);
	tcase_add_test(tc, test_limiter_configure_clamps_tokens_to_burst);
	tcase_add_test(tc, test_limiter_configure_max_connecting_live);
	suite_add_tcase(s, tc);

	tc = tcase_create("storm");
	/* Under valgrind the storms take a while. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_limiter_storm_rate200_burst50_cap64);
	tcase_add_test(tc, test_limiter_storm_rate1000_burst1_nocap);
	tcase_add_test(tc, test_limiter_storm_fractional_rate);
	tcase_add_test(tc, test_limiter_storm_tight_cap);
	tcase_add_test(tc, test_limiter_storm_cap_bound);
	suite_add_tcase(s, tc);

	return s;
}

TTH_CHECK_MAIN(limiter_suite)

/*
 * adaptive: a backoff that uses what the connection has seen.
 *
 * State
 *   - SRTT and RTTVAR from TETHER_SAMPLE_RTT, as TCP does (RFC 6298 §2):
 *     first sample R: SRTT = R, RTTVAR = R/2; later ones:
 *     RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R;
 *     RTO = SRTT + max(1ms, 4 RTTVAR).
 *   - a ring of the last `window` outcomes: a failure for every next(), a
 *     success for every TETHER_SAMPLE_UP.
 *   - TETHER_SAMPLE_LINK with value 1 (the link came back) removes the
 *     trailing run of failures from the ring: the attempts that failed
 *     while the network itself was gone say nothing about the server.
 *     A link-down sample changes nothing.
 *
 * Delay for the n-th failed round of a streak
 *   base = RTO if there is an RTT sample, else initial; clamped to [min, max]
 *   h    = failures / entries in the ring before this failure (0 if empty)
 *   cap  = min(max, base * multiplier^(n-1) * (1 + 3h))
 *   cap  = min(max, 2 cap)            when the reason's class is overload
 *   delay = cap/2 + U[0, cap/2]       (equal jitter)
 *
 * Why
 *   - Retrying sooner than one RTO cannot help: the previous attempt's
 *     packets may still be in flight, and a path that needs SRTT + 4 RTTVAR
 *     to answer will not answer faster because we asked again. The RTO is
 *     also the natural unit of "soon" for this particular server: 40ms on a
 *     LAN, seconds over a satellite link, where a fixed `initial` is wrong
 *     on one of the two.
 *   - A server that recently failed most attempts is probably down or
 *     overloaded, so wait longer: up to 4x the usual cap when every recent
 *     outcome was a failure. A flaky link that mostly connects keeps h low
 *     and so keeps short delays. An overload reason (server busy, quota,
 *     HTTP 503) says so explicitly, and doubles the cap.
 *   - Equal jitter keeps clients apart (a herd that failed together spreads
 *     over half the cap) while keeping a floor of cap/2, so no client
 *     retries immediately; full jitter would let some retry at ~0ms, which
 *     is what makes a storm.
 *   - It never gives up (there is no max_attempts or max_elapsed): wrap it
 *     in a breaker, or use exponential, for a bounded policy.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

#define HOUR_MS 3600000ULL
#define MAX_WINDOW 256

struct adaptive {
	uint64_t initial, min, max;
	double multiplier;
	uint32_t window;

	int have_rtt;
	double srtt, rttvar; /* ms */

	uint8_t ring[MAX_WINDOW]; /* 1 failure, 0 success */
	uint32_t head;		  /* index of the oldest entry */
	uint32_t count;
};

static const struct tether_option adaptive_options[] = {
    {.name = "initial", .type = TETHER_OPTION_DURATION, .def = "1s",
     .doc = "the delay before any RTT is known",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 24 * HOUR_MS},
    {.name = "min", .type = TETHER_OPTION_DURATION, .def = "100ms",
     .doc = "the smallest delay", .reload = TETHER_OPTION_LIVE, .min = 1,
     .max = 24 * HOUR_MS},
    {.name = "max", .type = TETHER_OPTION_DURATION, .def = "1m",
     .doc = "the largest delay (at least min)",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 24 * HOUR_MS},
    {.name = "multiplier", .type = TETHER_OPTION_DOUBLE, .def = "2",
     .doc = "how much the delay grows per failed round",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 100},
    {.name = "window", .type = TETHER_OPTION_UINT, .def = "16",
     .doc = "how many recent outcomes the health penalty looks at",
     .reload = TETHER_OPTION_LIVE, .min = 4, .max = MAX_WINDOW},
    {.name = NULL},
};

static int adaptive_create(tether_params *p, void **state)
{
	const struct tether_option *t = adaptive_options;
	union tether_option_value v;
	struct adaptive *a;
	uint64_t initial, min, max, window;
	double multiplier;
	int rc = 0, bounds_ok = 1;

	if (tether_params_option(p, t, "initial", &v))
		rc = TETHER_ECONFIG;
	initial = v.u;
	if (tether_params_option(p, t, "min", &v)) {
		rc = TETHER_ECONFIG;
		bounds_ok = 0;
	}
	min = v.u;
	if (tether_params_option(p, t, "max", &v)) {
		rc = TETHER_ECONFIG;
		bounds_ok = 0;
	}
	max = v.u;
	if (bounds_ok && max < min) {
		char a1[32], a2[32];

		tether_duration_format(min, a1, sizeof(a1));
		tether_duration_format(max, a2, sizeof(a2));
		rc = tether_params_fail(p, "max",
					"expected at least min (%s), found "
					"'%s'",
					a1, a2);
	}
	if (tether_params_option(p, t, "multiplier", &v))
		rc = TETHER_ECONFIG;
	multiplier = v.d;
	if (tether_params_option(p, t, "window", &v))
		rc = TETHER_ECONFIG;
	window = v.u;
	if (rc)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a)
		return TETHER_ENOMEM;
	a->initial = initial;
	a->min = min;
	a->max = max;
	a->multiplier = multiplier;
	a->window = (uint32_t)window;
	*state = a;
	return 0;
}

static void adaptive_destroy(void *state)
{
	free(state);
}

static void ring_push(struct adaptive *a, uint8_t failed)
{
	if (a->count < a->window) {
		a->ring[(a->head + a->count) % a->window] = failed;
		a->count++;
	} else {
		a->ring[a->head] = failed;
		a->head = (a->head + 1) % a->window;
	}
}

static double health_penalty(const struct adaptive *a)
{
	uint32_t fails = 0;

	if (!a->count)
		return 0;
	for (uint32_t i = 0; i < a->count; i++)
		fails += a->ring[(a->head + i) % a->window];
	return (double)fails / a->count;
}

static uint64_t rto(const struct adaptive *a)
{
	double var = 4 * a->rttvar;

	return (uint64_t)llround(a->srtt + (var > 1 ? var : 1));
}

static void adaptive_next(void *state, const struct tether_policy_input *in,
			  struct tether_rng *rng,
			  struct tether_policy_decision *out)
{
	struct adaptive *a = state;
	uint64_t base, cap;
	double h, c;

	base = a->have_rtt ? rto(a) : a->initial;
	if (base < a->min)
		base = a->min;
	if (base > a->max)
		base = a->max;
	h = health_penalty(a);
	ring_push(a, 1);
	c = (double)base * (1 + 3 * h);
	if (in->attempt > 1)
		c *= pow(a->multiplier, (double)(in->attempt - 1));
	if (in->reason && in->reason->cls == TETHER_CLASS_OVERLOAD)
		c *= 2;
	cap =
	    !isfinite(c) || c >= (double)a->max ? a->max : (uint64_t)llround(c);
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = tether_rng_range(rng, cap - cap / 2, cap);
	out->why = NULL;
}

static void adaptive_on_success(void *state, uint64_t now_ms)
{
	/*
	 * The outcome history is the point of this policy: a stable
	 * connection does not erase it (SAMPLE_UP already counted).
	 */
	(void)state;
	(void)now_ms;
}

static void adaptive_observe(void *state, const struct tether_policy_sample *s)
{
	struct adaptive *a = state;
	double r = (double)s->value;

	switch (s->type) {
	case TETHER_SAMPLE_RTT:
		if (!a->have_rtt) {
			a->srtt = r;
			a->rttvar = r / 2;
			a->have_rtt = 1;
		} else {
			a->rttvar = 0.75 * a->rttvar + 0.25 * fabs(a->srtt - r);
			a->srtt = 0.875 * a->srtt + 0.125 * r;
		}
		break;
	case TETHER_SAMPLE_UP:
		ring_push(a, 0);
		break;
	case TETHER_SAMPLE_LINK:
		if (s->value != 1)
			break;
		while (a->count &&
		       a->ring[(a->head + a->count - 1) % a->window])
			a->count--;
		break;
	}
}

static int adaptive_describe(void *state, char *buf, size_t len)
{
	const struct adaptive *a = state;
	char in[32], mn[32], mx[32];

	tether_duration_format(a->initial, in, sizeof(in));
	tether_duration_format(a->min, mn, sizeof(mn));
	tether_duration_format(a->max, mx, sizeof(mx));
	return snprintf(buf, len,
			"initial=%s min=%s max=%s multiplier=%g window=%u", in,
			mn, mx, a->multiplier, a->window);
}

const struct tether_policy_ops tth_policy_adaptive = {
    .abi = TETHER_POLICY_ABI,
    .name = "adaptive",
    .summary = "backoff from the RTT estimate and recent failure rate",
    .create = adaptive_create,
    .destroy = adaptive_destroy,
    .next = adaptive_next,
    .on_success = adaptive_on_success,
    .observe = adaptive_observe,
    .describe = adaptive_describe,
    .options = adaptive_options,
};

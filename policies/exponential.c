/*
 * exponential: cap(n) = min(max, initial * multiplier^(n-1)) for the n-th
 * failed round, spread by one of five jitter modes:
 *
 *   none          cap
 *   full          U[0, cap]
 *   equal         cap/2 + U[0, cap/2]
 *   decorrelated  d = min(max, U[initial, 3 * prev]), prev = d; prev starts
 *                 at initial for every streak (AWS "decorrelated jitter")
 *   proportional  cap * (1 + U[-P, +P]), clamped to [0, max]
 *
 * It gives up after max_attempts rounds or once max_elapsed has passed, and
 * never schedules a retry later than max_elapsed.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

#define HOUR_MS 3600000ULL

enum jitter { J_NONE, J_FULL, J_EQUAL, J_DECORRELATED, J_PROPORTIONAL };

static const char *const jitter_names[] = {
    "none", "full", "equal", "decorrelated", "proportional:", NULL,
};

static const struct tether_option expo_options[] = {
    {.name = "initial", .type = TETHER_OPTION_DURATION, .def = "1s",
     .doc = "the cap of the first failed round's delay",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 24 * HOUR_MS},
    {.name = "multiplier", .type = TETHER_OPTION_DOUBLE, .def = "2",
     .doc = "how much the cap grows per failed round",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 100},
    {.name = "max", .type = TETHER_OPTION_DURATION, .def = "1m",
     .doc = "the largest cap (at least initial)",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 24 * HOUR_MS},
    {.name = "jitter", .type = TETHER_OPTION_CHOICE, .def = "full",
     .doc = "how a delay is drawn under the cap: none, full, equal, "
	    "decorrelated or proportional:P (P in (0, 1])",
     .reload = TETHER_OPTION_LIVE, .choices = jitter_names},
    TTH_OPT_MAX_ATTEMPTS,
    TTH_OPT_MAX_ELAPSED,
    {.name = NULL},
};

struct expo {
	uint64_t initial;
	double multiplier;
	uint64_t max;
	enum jitter jitter;
	double spread; /* P of proportional:P */
	uint64_t max_attempts;
	uint64_t max_elapsed;
	uint64_t prev; /* decorrelated: the previous delay of this streak */
};

static int expo_create(tether_params *p, void **state)
{
	const struct tether_option *t = expo_options;
	union tether_option_value v;
	struct expo e = {0};
	struct expo *s;
	char *end;
	int rc = 0, initial_ok = 1;

	if (tether_params_option(p, t, "initial", &v)) {
		initial_ok = 0;
		rc = TETHER_ECONFIG;
	}
	e.initial = v.u;
	if (tether_params_option(p, t, "multiplier", &v))
		rc = TETHER_ECONFIG;
	e.multiplier = v.d;
	if (tether_params_option(p, t, "max", &v))
		rc = TETHER_ECONFIG;
	else if (initial_ok && v.u < e.initial) {
		char a[32], b[32];

		tether_duration_format(v.u, a, sizeof(a));
		tether_duration_format(e.initial, b, sizeof(b));
		rc = tether_params_fail(p, "max",
					"expected at least initial (%s), "
					"found '%s'",
					b, a);
	}
	e.max = v.u;
	if (tether_params_option(p, t, "jitter", &v))
		rc = TETHER_ECONFIG;
	e.jitter = (enum jitter)v.choice.index;
	if (e.jitter == J_PROPORTIONAL) {
		e.spread = strtod(v.choice.arg, &end);
		if (*end || !(e.spread > 0 && e.spread <= 1))
			rc = tether_params_fail(p, "jitter",
						"expected a fraction in (0, 1] "
						"after 'proportional:', found "
						"'%s'",
						v.choice.arg);
	}
	if (tether_params_option(p, t, "max_attempts", &v))
		rc = TETHER_ECONFIG;
	e.max_attempts = v.u;
	if (tether_params_option(p, t, "max_elapsed", &v))
		rc = TETHER_ECONFIG;
	e.max_elapsed = v.u;
	if (rc)
		return rc;
	s = malloc(sizeof(*s));
	if (!s)
		return TETHER_ENOMEM;
	e.prev = e.initial;
	*s = e;
	*state = s;
	return 0;
}

static void expo_destroy(void *state)
{
	free(state);
}

/* min(max, initial * multiplier^(n-1)) without overflowing on large n */
static uint64_t expo_cap(const struct expo *e, uint32_t attempt)
{
	double c;

	if (attempt <= 1 || e->multiplier == 1)
		return e->initial;
	c = (double)e->initial * pow(e->multiplier, (double)(attempt - 1));
	if (!isfinite(c) || c >= (double)e->max)
		return e->max;
	return (uint64_t)llround(c);
}

static void expo_next(void *state, const struct tether_policy_input *in,
		      struct tether_rng *rng,
		      struct tether_policy_decision *out)
{
	struct expo *e = state;
	uint64_t cap, delay;
	double d;

	out->delay_ms = 0;
	if (e->max_attempts && in->attempt >= e->max_attempts) {
		out->verdict = TETHER_VERDICT_GIVE_UP;
		out->why = "max_attempts reached";
		return;
	}
	if (e->max_elapsed && in->elapsed_ms >= e->max_elapsed) {
		out->verdict = TETHER_VERDICT_GIVE_UP;
		out->why = "max_elapsed reached";
		return;
	}
	cap = expo_cap(e, in->attempt);
	switch (e->jitter) {
	case J_NONE:
		delay = cap;
		break;
	case J_FULL:
		delay = tether_rng_range(rng, 0, cap);
		break;
	case J_EQUAL:
		delay = tether_rng_range(rng, cap - cap / 2, cap);
		break;
	case J_DECORRELATED:
		if (in->attempt <= 1)
			e->prev = e->initial;
		delay = tether_rng_range(rng, e->initial, 3 * e->prev);
		if (delay > e->max)
			delay = e->max;
		e->prev = delay;
		break;
	case J_PROPORTIONAL:
	default:
		d = (double)cap *
		    (1 + e->spread * (2 * tether_rng_uniform(rng) - 1));
		delay = d > 0 ? (uint64_t)llround(d) : 0;
		if (delay > e->max)
			delay = e->max;
		break;
	}
	if (e->max_elapsed && delay > e->max_elapsed - in->elapsed_ms)
		delay = e->max_elapsed - in->elapsed_ms;
	out->verdict = TETHER_VERDICT_RETRY;
	out->delay_ms = delay;
	out->why = NULL;
}

static void expo_on_success(void *state, uint64_t now_ms)
{
	struct expo *e = state;

	(void)now_ms;
	e->prev = e->initial;
}

static int expo_describe(void *state, char *buf, size_t len)
{
	const struct expo *e = state;
	char in[32], mx[32], me[32], jit[48];

	tether_duration_format(e->initial, in, sizeof(in));
	tether_duration_format(e->max, mx, sizeof(mx));
	tether_duration_format(e->max_elapsed, me, sizeof(me));
	if (e->jitter == J_PROPORTIONAL)
		snprintf(jit, sizeof(jit), "proportional:%g", e->spread);
	else
		snprintf(jit, sizeof(jit), "%s", jitter_names[e->jitter]);
	return snprintf(buf, len,
			"initial=%s multiplier=%g max=%s jitter=%s "
			"max_attempts=%llu max_elapsed=%s",
			in, e->multiplier, mx, jit,
			(unsigned long long)e->max_attempts, me);
}

const struct tether_policy_ops tth_policy_exponential = {
    .abi = TETHER_POLICY_ABI,
    .name = "exponential",
    .summary = "initial * multiplier^n up to max, with jitter",
    .create = expo_create,
    .destroy = expo_destroy,
    .next = expo_next,
    .on_success = expo_on_success,
    .observe = NULL,
    .describe = expo_describe,
    .options = expo_options,
};

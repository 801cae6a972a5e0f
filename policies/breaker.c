/*
 * breaker: a circuit breaker around any other policy.
 *
 * CLOSED     failures are counted; the inner policy chooses the delays.
 *            After `failures` in a row, or a failure rate >= `failure_rate`
 *            over the last `window` outcomes (once `min_samples` are in),
 *            it opens: SUSPEND for open_for.
 * OPEN       the connection waits open_for, then makes one probe attempt:
 *            from opened_at + open_for on the breaker is HALF_OPEN.
 * HALF_OPEN  `half_open_probes` successes close it again; a failure (any
 *            next() while OPEN or HALF_OPEN) opens it for open_for again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

#define HOUR_MS 3600000ULL
#define MAX_WINDOW 1000

enum bstate { B_CLOSED = 0, B_OPEN = 1, B_HALF_OPEN = 2 };

struct breaker {
	tether_policy *inner;
	uint64_t failures;
	double failure_rate;
	uint64_t window;
	uint64_t min_samples;
	uint64_t open_for;
	uint64_t half_open_probes;

	enum bstate state;
	uint64_t opened_at;
	uint64_t consecutive;
	uint64_t probes_ok;
	uint32_t head, count; /* ring of outcomes, 1 = failure */
	uint8_t ring[];
};

static const struct tether_option breaker_options[] = {
    {.name = "inner", .type = TETHER_OPTION_POLICY, .def = "exponential",
     .doc = "the policy that chooses the delays while closed: a mapping, "
	    "a type name or a name from policies:",
     .reload = TETHER_OPTION_LIVE},
    {.name = "failures", .type = TETHER_OPTION_UINT, .def = "5",
     .doc = "failed rounds in a row that open it",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 1000000},
    {.name = "failure_rate", .type = TETHER_OPTION_DOUBLE, .def = "0",
     .doc = "a failure rate over window that opens it (0: off)",
     .reload = TETHER_OPTION_LIVE, .min = 0, .max = 1},
    {.name = "window", .type = TETHER_OPTION_UINT, .def = "20",
     .doc = "the outcomes failure_rate looks at",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = MAX_WINDOW},
    {.name = "min_samples", .type = TETHER_OPTION_UINT, .def = "10",
     .doc = "outcomes needed before failure_rate counts (at most window)",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = MAX_WINDOW},
    {.name = "open_for", .type = TETHER_OPTION_DURATION, .def = "30s",
     .doc = "how long it stays open before a probe",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 24 * HOUR_MS},
    {.name = "half_open_probes", .type = TETHER_OPTION_UINT, .def = "1",
     .doc = "successful probes that close it again",
     .reload = TETHER_OPTION_LIVE, .min = 1, .max = 1000},
    {.name = NULL},
};

static void breaker_destroy(void *state)
{
	struct breaker *b = state;

	if (!b)
		return;
	tether_policy_free(b->inner);
	free(b);
}

/* The inner policy: the nested set, a type name, or exponential. */
static int make_inner(tether_params *p, tether_policy **inner)
{
	union tether_option_value v;
	tether_params *child, *def;
	int rc;

	*inner = NULL;
	if (tether_params_option(p, breaker_options, "inner", &v))
		return TETHER_ECONFIG;
	child = v.child;
	if (child) {
		/* its errors are recorded in child, read as "inner.<key>" */
		rc = tether_policy_new(child, inner, NULL, 0);
		return rc == TETHER_ENOMEM ? rc : rc ? TETHER_ECONFIG : 0;
	}
	def = tether_params_new(NULL);
	if (!def || tether_params_set(def, "type", "exponential", NULL)) {
		tether_params_free(def);
		return TETHER_ENOMEM;
	}
	rc = tether_policy_new(def, inner, NULL, 0);
	tether_params_free(def);
	return rc;
}

static int breaker_create(tether_params *p, void **state)
{
	const struct tether_option *t = breaker_options;
	union tether_option_value v;
	struct breaker *b;
	tether_policy *inner;
	uint64_t failures, window, min_samples, open_for, probes;
	double rate;
	int rc, window_ok = 1;

	rc = make_inner(p, &inner);
	if (rc == TETHER_ENOMEM)
		return rc;
	if (tether_params_option(p, t, "failures", &v))
		rc = TETHER_ECONFIG;
	failures = v.u;
	if (tether_params_option(p, t, "failure_rate", &v))
		rc = TETHER_ECONFIG;
	rate = v.d;
	if (tether_params_option(p, t, "window", &v)) {
		rc = TETHER_ECONFIG;
		window_ok = 0;
	}
	window = v.u;
	if (tether_params_option(p, t, "min_samples", &v))
		rc = TETHER_ECONFIG;
	else if (window_ok && rate > 0 && v.u > window)
		rc = tether_params_fail(p, "min_samples",
					"expected at most window (%llu), "
					"found '%llu'",
					(unsigned long long)window,
					(unsigned long long)v.u);
	min_samples = v.u;
	if (tether_params_option(p, t, "open_for", &v))
		rc = TETHER_ECONFIG;
	open_for = v.u;
	if (tether_params_option(p, t, "half_open_probes", &v))
		rc = TETHER_ECONFIG;
	probes = v.u;
	if (rc) {
		tether_policy_free(inner);
		return rc;
	}
	b = calloc(1, sizeof(*b) + window);
	if (!b) {
		tether_policy_free(inner);
		return TETHER_ENOMEM;
	}
	b->inner = inner;
	b->failures = failures;
	b->failure_rate = rate;
	b->window = window;
	b->min_samples = min_samples;
	b->open_for = open_for;
	b->half_open_probes = probes;
	*state = b;
	return 0;
}

static enum bstate position(const struct breaker *b, uint64_t now)
{
	if (b->state == B_OPEN && now >= b->opened_at + b->open_for)
		return B_HALF_OPEN;
	return b->state;
}

int tth_breaker_state(const void *state, uint64_t now_ms)
{
	return (int)position(state, now_ms);
}

static void ring_push(struct breaker *b, uint8_t failed)
{
	if (b->count < b->window) {
		b->ring[(b->head + b->count) % b->window] = failed;
		b->count++;
	} else {
		b->ring[b->head] = failed;
		b->head = (uint32_t)((b->head + 1) % b->window);
	}
}

static int rate_tripped(const struct breaker *b)
{
	uint64_t fails = 0;

	if (b->failure_rate <= 0 || b->count < b->min_samples)
		return 0;
	for (uint32_t i = 0; i < b->count; i++)
		fails += b->ring[(b->head + i) % b->window];
	return (double)fails >= b->failure_rate * (double)b->count;
}

static void trip(struct breaker *b, uint64_t now,
		 struct tether_policy_decision *out, const char *why)
{
	b->state = B_OPEN;
	b->opened_at = now;
	b->probes_ok = 0;
	out->verdict = TETHER_VERDICT_SUSPEND;
	out->delay_ms = b->open_for;
	out->why = why;
}

static void breaker_next(void *state, const struct tether_policy_input *in,
			 struct tether_rng *rng,
			 struct tether_policy_decision *out)
{
	struct breaker *b = state;

	if (b->state != B_CLOSED) {
		/* a failure while not closed is the probe failing */
		ring_push(b, 1);
		trip(b, in->now_ms, out, "breaker open (probe failed)");
		return;
	}
	b->consecutive++;
	ring_push(b, 1);
	if (b->consecutive >= b->failures || rate_tripped(b)) {
		trip(b, in->now_ms, out, "breaker open");
		return;
	}
	tether_policy_next(b->inner, in, rng, out);
}

static void breaker_on_success(void *state, uint64_t now_ms)
{
	struct breaker *b = state;

	if (b->state != B_CLOSED) {
		b->state = B_HALF_OPEN;
		if (++b->probes_ok < b->half_open_probes)
			return;
		b->state = B_CLOSED;
		b->head = b->count = 0;
	} else {
		ring_push(b, 0);
	}
	b->consecutive = 0;
	b->probes_ok = 0;
	tether_policy_on_success(b->inner, now_ms);
}

static void breaker_observe(void *state, const struct tether_policy_sample *s)
{
	struct breaker *b = state;

	tether_policy_observe(b->inner, s);
}

static int breaker_describe(void *state, char *buf, size_t len)
{
	const struct breaker *b = state;
	char of[32], inner[512], *tok, *save = NULL;
	size_t used;
	int n;

	tether_duration_format(b->open_for, of, sizeof(of));
	n = snprintf(buf, len,
		     "failures=%llu failure_rate=%g window=%llu "
		     "min_samples=%llu open_for=%s half_open_probes=%llu",
		     (unsigned long long)b->failures, b->failure_rate,
		     (unsigned long long)b->window,
		     (unsigned long long)b->min_samples, of,
		     (unsigned long long)b->half_open_probes);
	/* the inner's "type k=v ..." as "inner.type=type inner.k=v ..." */
	tether_policy_describe(b->inner, inner, sizeof(inner));
	for (tok = strtok_r(inner, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		int first = tok == inner;

		used = (size_t)n < len ? (size_t)n : len;
		n += snprintf(len > used ? buf + used : NULL,
			      len > used ? len - used : 0, " inner.%s%s",
			      first ? "type=" : "", tok);
	}
	return n;
}

const struct tether_policy_ops tth_policy_breaker = {
    .abi = TETHER_POLICY_ABI,
    .name = "breaker",
    .summary = "circuit breaker around another policy",
    .create = breaker_create,
    .destroy = breaker_destroy,
    .next = breaker_next,
    .on_success = breaker_on_success,
    .observe = breaker_observe,
    .describe = breaker_describe,
    .options = breaker_options,
};

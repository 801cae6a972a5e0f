/*
 * The built-in policies (registered by core/base/builtins.c). Like any plug-in,
 * they build against include/ alone.
 */
#ifndef TETHER_POLICIES_BUILTIN_H
#define TETHER_POLICIES_BUILTIN_H

#include <stdint.h>

#include <tether/policy.h>

#define TTH_HOUR_MS 3600000ULL

/* The give-up options fixed and exponential share (option tables). */
#define TTH_OPT_MAX_ATTEMPTS                                                   \
	{.name = "max_attempts", .type = TETHER_OPTION_UINT, .def = "0",       \
	 .doc = "give up after this many failed rounds (0: never)",            \
	 .reload = TETHER_OPTION_LIVE, .min = 0, .max = UINT32_MAX}
#define TTH_OPT_MAX_ELAPSED                                                    \
	{.name = "max_elapsed", .type = TETHER_OPTION_DURATION, .def = "0",    \
	 .doc = "give up after failing this long (0: never)",                  \
	 .reload = TETHER_OPTION_LIVE, .min = 0, .max = 720 * TTH_HOUR_MS}

extern const struct tether_policy_ops tth_policy_fixed;
extern const struct tether_policy_ops tth_policy_exponential;
extern const struct tether_policy_ops tth_policy_adaptive;
extern const struct tether_policy_ops tth_policy_breaker;

/* For tests: a breaker state's position: 0 closed, 1 open, 2 half-open. */
int tth_breaker_state(const void *state, uint64_t now_ms);

#endif

/*
 * The built-in policies (registered by core/base/builtins.c). Like any plug-in,
 * they build against include/ alone.
 */
#ifndef TETHER_POLICIES_BUILTIN_H
#define TETHER_POLICIES_BUILTIN_H

#include <stdint.h>

#include <tether/policy.h>

extern const struct tether_policy_ops tth_policy_fixed;
extern const struct tether_policy_ops tth_policy_exponential;
extern const struct tether_policy_ops tth_policy_adaptive;
extern const struct tether_policy_ops tth_policy_breaker;

/* For tests: a breaker state's position: 0 closed, 1 open, 2 half-open. */
int tth_breaker_state(const void *state, uint64_t now_ms);

#endif

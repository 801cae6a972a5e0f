/*
 * The built-in policies and transports. They are plug-ins like a third
 * party's (policies/ and transports/ build against include/ alone) and are
 * registered the same way, through tether_policy_register() and
 * tether_transport_register(), once, before the registries are first used.
 */
#include "config.h"

#include <pthread.h>

#include <tether/transport.h>

#include "registry-int.h"
#include "util-int.h"
#include "policies/builtin.h"
#include "transports/builtin.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

/*
 * Set on the thread that runs register_all(): the register functions it
 * calls call tth_builtins_register() in turn, which must not wait on the
 * very once it runs inside. Other threads do wait, and so see every
 * built-in.
 */
static _Thread_local int registering;

static void register_all(void)
{
	static const struct tether_policy_ops *const policies[] = {
	    &tth_policy_fixed, &tth_policy_exponential, &tth_policy_adaptive,
	    &tth_policy_breaker};
	static const struct tether_transport_ops *const transports[] = {
	    &tth_transport_mqtt, &tth_transport_ws};

	registering = 1;
	/* Neither can fail: the registries are empty and hold this many
	 * entries without allocating. */
	for (size_t i = 0; i < TTH_ARRAY_LEN(policies); i++)
		(void)tether_policy_register(policies[i]);
	for (size_t i = 0; i < TTH_ARRAY_LEN(transports); i++)
		(void)tether_transport_register(transports[i]);
	registering = 0;
}

void tth_builtins_register(void)
{
	if (!registering)
		pthread_once(&once, register_all);
}

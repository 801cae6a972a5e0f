/* The transport registry: the two built-in transports (registered by
 * builtins.c) plus third parties. */
#include "config.h"

#include <tether/transport.h>

#include "registry-int.h"

static struct tth_registry transports = TTH_REGISTRY_INIT;

TETHER_EXPORT const struct tether_transport_ops *
tether_transport_lookup(const char *name)
{
	if (!name)
		return NULL;
	tth_builtins_register();
	return tth_registry_find(&transports, name);
}

TETHER_EXPORT int tether_transport_register(const struct tether_transport_ops *ops)
{
	if (!ops)
		return TETHER_EINVAL;
	if (ops->abi != TETHER_TRANSPORT_ABI)
		return TETHER_EABI;
	if (!ops->name || !*ops->name || !ops->schemes || !ops->ctx_new ||
	    !ops->ctx_free || !ops->link_new || !ops->link_free ||
	    !ops->connect || !ops->abort || !ops->close || !ops->send)
		return TETHER_EINVAL;
	tth_builtins_register();
	return tth_registry_add(&transports, ops->name, ops);
}

/* The transport registry: the two built-in transports (registered by
 * builtins.c) plus third parties, and the reading of their ABI 2 fields
 * (an ABI 1 vtable is shorter: those fields must not be read there). */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

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
	if (ops->abi < 1 || ops->abi > TETHER_TRANSPORT_ABI)
		return TETHER_EABI;
	if (!ops->name || !*ops->name || !ops->schemes || !ops->ctx_new ||
	    !ops->ctx_free || !ops->link_new || !ops->link_free ||
	    !ops->connect || !ops->abort || !ops->close || !ops->send)
		return TETHER_EINVAL;
	tth_builtins_register();
	return tth_registry_add(&transports, ops->name, ops);
}

TETHER_EXPORT const struct tether_transport_ops *tether_transport_at(size_t i)
{
	tth_builtins_register();
	return tth_registry_at(&transports, i);
}

/* Whether ops has ABI 2's fields (an ABI 1 vtable ends before them). */
static int has_v2(const struct tether_transport_ops *ops)
{
	return ops && ops->abi >= 2;
}

TETHER_EXPORT const struct tether_option *
tether_transport_options(const struct tether_transport_ops *ops)
{
	return has_v2(ops) ? ops->options : NULL;
}

TETHER_EXPORT const char *
tether_transport_section(const struct tether_transport_ops *ops)
{
	if (!ops)
		return NULL;
	return has_v2(ops) && ops->yaml_section ? ops->yaml_section
						 : ops->name;
}

TETHER_EXPORT unsigned
tether_transport_default_port(const struct tether_transport_ops *ops,
			      const char *scheme, size_t len)
{
	const struct tether_default_port *d =
	    has_v2(ops) ? ops->default_ports : NULL;

	for (; d && scheme && d->scheme; d++)
		if (strlen(d->scheme) == len &&
		    strncasecmp(d->scheme, scheme, len) == 0)
			return d->port;
	return 0;
}

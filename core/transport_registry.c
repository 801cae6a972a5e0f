/* The transport registry: the two built-in transports plus third parties. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../transports/transports-int.h"

#define MAX_TRANSPORTS 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct tether_transport_ops *extra[MAX_TRANSPORTS];
static size_t nextra;

static const struct tether_transport_ops *builtin(const char *name)
{
	if (strcmp(name, tth_transport_mqtt.name) == 0)
		return &tth_transport_mqtt;
	if (strcmp(name, tth_transport_ws.name) == 0)
		return &tth_transport_ws;
	return NULL;
}

TETHER_EXPORT const struct tether_transport_ops *
tether_transport_lookup(const char *name)
{
	const struct tether_transport_ops *ops;

	if (!name)
		return NULL;
	ops = builtin(name);
	if (ops)
		return ops;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nextra && !ops; i++)
		if (strcmp(extra[i]->name, name) == 0)
			ops = extra[i];
	pthread_mutex_unlock(&lock);
	return ops;
}

TETHER_EXPORT int tether_transport_register(const struct tether_transport_ops *ops)
{
	int rc = 0;

	if (!ops)
		return TETHER_EINVAL;
	if (ops->abi != TETHER_TRANSPORT_ABI)
		return TETHER_EABI;
	if (!ops->name || !*ops->name || !ops->schemes || !ops->ctx_new ||
	    !ops->ctx_free || !ops->link_new || !ops->link_free ||
	    !ops->connect || !ops->abort || !ops->close || !ops->send)
		return TETHER_EINVAL;
	if (tether_transport_lookup(ops->name))
		return TETHER_EEXIST;
	pthread_mutex_lock(&lock);
	if (nextra == MAX_TRANSPORTS)
		rc = TETHER_EFULL;
	else
		extra[nextra++] = ops;
	pthread_mutex_unlock(&lock);
	return rc;
}

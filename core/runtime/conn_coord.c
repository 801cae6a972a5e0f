/*
 * A connection's part in coordinated recovery (tether_conn_set_coordinated
 * and the endpoint keys handed to the engine); the mechanism is in
 * core/sansio/coord.c. Kept out of conn.c: it needs nothing of the runtime but the
 * connection's fields.
 */
#include "config.h"

#include <stdlib.h>

#include "mgr-int.h"

TETHER_EXPORT int tether_conn_set_coordinated(tether_conn *c, int on)
{
	if (!c)
		return TETHER_EINVAL;
	if (c->inited)
		return TETHER_ESTATE;
	c->set.uncoordinated = !on;
	return 0;
}

/* Keys per endpoint: the transport and host:port. Left uncoordinated
 * when out of memory (it only loses the sharing). */
void tth_conn_coordinate(tether_conn *c)
{
	char **keys;

	if (c->set.uncoordinated || c->set.n_endpoints == 0)
		return;
	keys = calloc(c->set.n_endpoints, sizeof(*keys));
	if (!keys)
		return;
	for (uint32_t i = 0; i < c->set.n_endpoints; i++) {
		keys[i] = malloc(TTH_KEY_MAX);
		if (!keys[i] ||
		    tth_endpoint_key(c->tops->name, c->set.endpoints[i], keys[i],
				     TTH_KEY_MAX) != 0) {
			free(keys[i]);
			keys[i] = NULL;
		}
	}
	tth_econn_set_keys(&c->ec, (const char *const *)keys, c->set.n_endpoints);
	for (uint32_t i = 0; i < c->set.n_endpoints; i++)
		free(keys[i]);
	free(keys);
}

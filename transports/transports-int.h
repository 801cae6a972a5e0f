/* The built-in transports (registered by core/transport_registry.c). */
#ifndef TETHER_TRANSPORTS_INT_H
#define TETHER_TRANSPORTS_INT_H

#include <tether/transport.h>

extern const struct tether_transport_ops tth_transport_mqtt;
extern const struct tether_transport_ops tth_transport_ws;

#endif

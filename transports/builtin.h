/*
 * The built-in transports (registered by core/base/builtins.c). Like any
 * plug-in, they build against include/ alone.
 */
#ifndef TETHER_TRANSPORTS_BUILTIN_H
#define TETHER_TRANSPORTS_BUILTIN_H

#include <tether/transport.h>

extern const struct tether_transport_ops tth_transport_mqtt;
extern const struct tether_transport_ops tth_transport_ws;

#endif

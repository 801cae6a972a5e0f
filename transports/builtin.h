/*
 * The built-in transports (registered by core/base/builtins.c). Like any
 * plug-in, they build against include/ alone.
 */
#ifndef TETHER_TRANSPORTS_BUILTIN_H
#define TETHER_TRANSPORTS_BUILTIN_H

#include <tether/transport.h>

extern const struct tether_transport_ops tth_transport_mqtt;
extern const struct tether_transport_ops tth_transport_ws;

/* The most ALPN wire bytes a transport accepts for its `alpn` option. */
#define TTH_ALPN_MAX 512
/*
 * An `alpn` option ("a,b": names of 1 to 255 visible bytes, no spaces)
 * in the TLS wire format into out (cap bytes), its length in *len.
 * Returns 0, or -1 when the list is malformed or does not fit.
 */
int tth_alpn_wire(const char *list, unsigned char *out, size_t cap,
		  size_t *len);

/* An HTTP CONNECT proxy URI "http://HOST:PORT" (no credentials): 0 and
 * its host and port, or -1 when malformed. */
int tth_proxy_parse(const char *uri, char *host, size_t cap, unsigned *port);
/*
 * The proxy for a connection to host (tls: a TLS endpoint) given the
 * `proxy` option opt (NULL: none; "env": https_proxy / http_proxy and
 * no_proxy). 0 with phost "" for none, 0 with phost and *pport set, or
 * -1 when the proxy URI (the option's, or the variable's) is malformed.
 */
int tth_proxy_for(const char *opt, const char *host, int tls, char *phost,
		  size_t cap, unsigned *pport);

#endif

/* Debian's haproxy as a TLS front on loopback (tests only): it ends TLS
 * with the given bind options (certificate, ALPN, client certificates,
 * versions) and relays the bytes to a backend port, so the tests meet a
 * TLS server nobody here wrote. */
#ifndef TETHER_HARNESS_HAPROXY_H
#define TETHER_HARNESS_HAPROXY_H

#include <stdint.h>

struct th_haproxy;

/* Start haproxy on a free 127.0.0.1 port: "bind ... <bind_opts>", the
 * frontend's extra lines `rules` (may be NULL), relaying to
 * 127.0.0.1:backend. crt_pem: the server's certificate and key, which
 * are joined into the one file haproxy wants (its path is appended to
 * bind_opts as "crt FILE"). Returns 0, -ENOENT (haproxy not installed),
 * or another -errno (the log's tail on stderr). */
int th_haproxy_start(const char *cert, const char *key, const char *bind_opts,
		     const char *rules, uint16_t backend,
		     struct th_haproxy **out);

uint16_t th_haproxy_port(const struct th_haproxy *h);

/* Stop it (SIGTERM, then SIGKILL), reap it, remove its files. NULL: no-op. */
void th_haproxy_free(struct th_haproxy *h);

#endif

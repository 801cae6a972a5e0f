/* Throwaway certificates for the TLS tests, made with the `openssl`
 * command in a private temporary directory (tests only; docs/architecture.md).
 *
 * th_tls_new makes:
 * - a CA (self-signed, CN "tether test CA"),
 * - a server key and certificate for CN=localhost with subjectAltName
 *   DNS:localhost and IP:127.0.0.1, signed by that CA (usable as a
 *   client certificate too: serverAuth and clientAuth),
 * - a second server certificate signed by the same CA but named only
 *   "wrong.invalid" (for host name checks; same key as the first),
 * - an unrelated CA ("the wrong CA") that signed nothing we serve.
 * All are PEM, RSA 2048, valid for two days. Not thread-safe: one thread
 * uses a th_tls. */
#ifndef TETHER_HARNESS_TLS_H
#define TETHER_HARNESS_TLS_H

struct th_tls;

/* Make the files (a few hundred ms). Returns 0 and *out, -ENOENT when
 * `openssl` is not installed, or another -errno; on failure openssl's
 * output goes to stderr. */
int th_tls_new(struct th_tls **out);

/* Paths of the files, valid until th_tls_free. */
const char *th_tls_ca(const struct th_tls *t);        /* the right CA */
const char *th_tls_other_ca(const struct th_tls *t);  /* unrelated CA */
const char *th_tls_cert(const struct th_tls *t);      /* localhost cert */
const char *th_tls_key(const struct th_tls *t);       /* its key */
const char *th_tls_misnamed_cert(const struct th_tls *t); /* wrong.invalid */
const char *th_tls_dir(const struct th_tls *t);

/* Remove the directory and free. NULL is a no-op. */
void th_tls_free(struct th_tls *t);

#endif

/*
 * Why an MQTT TLS connect failed, when Paho cannot say
 * (docs/transport-mqtt.md, "TLS").
 *
 * Paho 1.3.12 reports a refused TCP connect and a TLS handshake that
 * failed its host-name check with the same words ("TCP/TLS connect
 * failure") and no OpenSSL error, so a certificate made for another name
 * looked like a refused connection and was retried forever. A short
 * handshake of our own against the same server, with the same CA and the
 * same host name, tells them apart: refused, a certificate that does not
 * verify (and for a name mismatch, the names it does carry), or a
 * handshake that fails. It runs on Paho's thread, in the failure
 * callback, bounded by MQTT_DIAG_MS in all (DNS aside: Paho resolved the
 * same name a moment ago).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mqtt_options.h"

#define MQTT_DIAG_MS 2000
#define MQTT_DIAG_NAMES 8 /* certificate names listed, at most */

static uint64_t diag_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for ev on fd until deadline: 1 ready, 0 timed out or failed. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	uint64_t now = diag_now_ms();
	int rc;

	if (now >= deadline)
		return 0;
	do
		rc = poll(&p, 1, (int)(deadline - now));
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}

/* "ssl://host:port/..." into host and port (the scheme's default port). */
static int split_uri(const char *uri, char *host, size_t hlen, char *port,
		     size_t plen)
{
	const char *h = strstr(uri, "://"), *end, *colon;

	if (!h)
		return -1;
	h += 3;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end || (size_t)(end - h - 1) >= hlen)
			return -1;
		snprintf(host, hlen, "%.*s", (int)(end - h - 1), h + 1);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		size_t n = strcspn(h, ":/?#");

		if (n == 0 || n >= hlen)
			return -1;
		snprintf(host, hlen, "%.*s", (int)n, h);
		colon = h[n] == ':' ? h + n : NULL;
	}
	if (colon)
		snprintf(port, plen, "%.*s", (int)strcspn(colon + 1, "/?#"),
			 colon + 1);
	else
		snprintf(port, plen, "%s",
			 strncmp(uri, "wss", 3) == 0 ? "443" : "8883");
	return port[0] ? 0 : -1;
}

/* A TCP connection to host:port before deadline; -1 with *err set. */
static int dial(const char *host, const char *port, uint64_t deadline,
		int *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int fd = -1;

	*err = EHOSTUNREACH;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		socklen_t sl = sizeof(*err);

		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		*err = errno;
		if (*err == EINPROGRESS) {
			*err = ETIMEDOUT;
			if (wait_fd(fd, POLLOUT, deadline) &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) == 0 &&
			    *err == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Append s to buf (len bytes), control bytes as '?' (a hostile
 * certificate's names land in logs). */
static void put_name(char *buf, size_t len, const char *s, size_t n)
{
	size_t at = strlen(buf);

	if (at && at + 2 < len) {
		memcpy(buf + at, ", ", 3);
		at += 2;
	}
	for (size_t i = 0; i < n && at + 1 < len; i++)
		buf[at++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[at] = '\0';
}

/* The names the certificate is for: its subjectAltNames, else its CN. */
static void cert_names(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	buf[0] = '\0';
	for (int i = 0; i < n && i < MQTT_DIAG_NAMES; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN];
		const unsigned char *d;
		int dl;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			dl = ASN1_STRING_length(g->d.dNSName);
			put_name(buf, len, (const char *)d, (size_t)dl);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			dl = ASN1_STRING_length(g->d.iPAddress);
			if ((dl == 4 && inet_ntop(AF_INET, d, ip, sizeof(ip))) ||
			    (dl == 16 && inet_ntop(AF_INET6, d, ip, sizeof(ip))))
				put_name(buf, len, ip, strlen(ip));
		}
	}
	GENERAL_NAMES_free(gens);
	if (!buf[0]) {
		char cn[256];
		int l = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
						  NID_commonName, cn,
						  sizeof(cn));
		if (l > 0)
			put_name(buf, len, cn, strlen(cn));
	}
	if (!buf[0])
		snprintf(buf, len, "no name");
}

/* Our handshake on fd; the verdict in d. */
static void handshake(int fd, const char *host, const char *ca_file,
		      const char *ca_dir, uint64_t deadline,
		      struct tth_mqtt_diag *d)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	int ip = inet_pton(AF_INET, host, &a4) == 1 ||
		 inet_pton(AF_INET6, host, &a6) == 1;
	int rc = 0;
	long v;

	if (!ctx)
		return;
	if (ca_file || ca_dir)
		SSL_CTX_load_verify_locations(ctx, ca_file, ca_dir);
	else
		SSL_CTX_set_default_verify_paths(ctx);
	/* the result is read afterwards, whatever it is */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd))
		goto out;
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else if (!SSL_set1_host(ssl, host) ||
		 !SSL_set_tlsext_host_name(ssl, host))
		goto out;
	for (;;) {
		int e;

		rc = SSL_connect(ssl);
		if (rc == 1)
			break;
		e = SSL_get_error(ssl, rc);
		if (!((e == SSL_ERROR_WANT_READ &&
		       wait_fd(fd, POLLIN, deadline)) ||
		      (e == SSL_ERROR_WANT_WRITE &&
		       wait_fd(fd, POLLOUT, deadline))))
			break;
	}
	if (rc != 1) {
		d->verdict = TTH_MQTT_DIAG_HANDSHAKE;
		snprintf(d->text, sizeof(d->text),
			 "TLS handshake failed (a handshake of tether's own "
			 "with the same server failed too)");
		goto out;
	}
	v = SSL_get_verify_result(ssl);
	if (v == X509_V_OK) {
		d->verdict = TTH_MQTT_DIAG_UNKNOWN; /* not the certificate */
	} else if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
		   v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		X509 *cert = SSL_get1_peer_certificate(ssl);
		char names[200] = "no certificate";

		if (cert)
			cert_names(cert, names, sizeof(names));
		X509_free(cert);
		d->verdict = TTH_MQTT_DIAG_VERIFY;
		snprintf(d->text, sizeof(d->text),
			 "TLS: the server's certificate is not for '%s' (it is "
			 "for: %s)",
			 host, names);
	} else {
		d->verdict = TTH_MQTT_DIAG_VERIFY;
		snprintf(d->text, sizeof(d->text),
			 "TLS: server certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error(); /* the thread's queue is Paho's too */
}

void tth_mqtt_tls_diagnose(const char *uri, const char *ca_file,
			   const char *ca_dir, struct tth_mqtt_diag *d)
{
	char host[256], port[16];
	uint64_t deadline = diag_now_ms() + MQTT_DIAG_MS;
	int fd, err;

	d->verdict = TTH_MQTT_DIAG_UNKNOWN;
	d->text[0] = '\0';
	if (split_uri(uri, host, sizeof(host), port, sizeof(port)) != 0)
		return;
	fd = dial(host, port, deadline, &err);
	if (fd < 0) {
		if (err == ECONNREFUSED)
			d->verdict = TTH_MQTT_DIAG_REFUSED;
		return;
	}
	handshake(fd, host, ca_file, ca_dir, deadline, d);
	close(fd);
}

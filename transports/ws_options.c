/*
 * The WebSocket transport's options: reading a link's tether_params into
 * its settings, with their validation. See docs/transport-ws.md.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "builtin.h"
#include "ws_lws.h"

#define WS_DEFAULT_MAX_MESSAGE (1024u * 1024u)
#define WS_MIN_MAX_MESSAGE 125u
#define WS_MAX_MAX_MESSAGE (1u << 30)

static const char *const tls_versions[] = {"1.2", "1.3", NULL};

/* The options, in the order `tether check` prints them (docs/transport-
 * ws.md). Every one is part of the handshake, so a reload restarts. */
const struct tether_option tth_ws_options[] = {
    {.name = "subprotocol", .type = TETHER_OPTION_TEXT,
     .doc = "Sec-WebSocket-Protocol to ask for"},
    {.name = "origin", .type = TETHER_OPTION_TEXT,
     .doc = "Origin header of the handshake"},
    {.name = "max_message", .type = TETHER_OPTION_SIZE, .def = "1MiB",
     .min = WS_MIN_MAX_MESSAGE, .max = WS_MAX_MAX_MESSAGE,
     .doc = "largest inbound message"},
    {.name = "header", .type = TETHER_OPTION_MAP, .yaml_key = "headers",
     .doc = "extra handshake headers (header.<Name>, or a secret value "
	    "from header.<Name>_env / header.<Name>_file)"},
    {.name = "ca_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "CA certificates (PEM file)"},
    {.name = "proxy", .type = TETHER_OPTION_TEXT,
     .doc = "HTTP CONNECT proxy: http://HOST:PORT, or env (https_proxy / "
	    "http_proxy, no_proxy)"},
    {.name = "cert_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "client certificate (PEM)"},
    {.name = "key_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "client key (PEM)"},
    {.name = "key_password", .type = TETHER_OPTION_TEXT, .secret = 1,
     .place = TETHER_OPTION_TLS, .doc = "the client key's password"},
    {.name = "alpn", .type = TETHER_OPTION_TEXT, .place = TETHER_OPTION_TLS,
     .doc = "ALPN protocols to offer, comma-separated (default http/1.1)"},
    {.name = "min_tls", .type = TETHER_OPTION_CHOICE, .choices = tls_versions,
     .place = TETHER_OPTION_TLS,
     .doc = "lowest TLS version to accept: 1.2 or 1.3 (default: "
	    "OpenSSL's)"},
    {.name = "verify", .type = TETHER_OPTION_BOOL, .def = "true",
     .place = TETHER_OPTION_TLS, .doc = "verify the server's certificate"},
    {.name = NULL},
};

const struct tether_default_port tth_ws_default_ports[] = {
    {"ws", 80}, {"wss", 443}, {NULL, 0},
};

static int header_name_ok(const char *n)
{
	static const char *const reserved[] = {
	    "host", "upgrade", "connection", "origin", "sec-websocket-key",
	    "sec-websocket-version", "sec-websocket-protocol",
	    "sec-websocket-extensions"};

	if (!*n)
		return 0;
	for (const char *q = n; *q; q++)
		if (*q <= 32 || *q >= 127 || strchr("()<>@,;:\\\"/[]?={}", *q))
			return 0;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(n, reserved[i]) == 0)
			return 0;
	return 1;
}

static int read_text(tether_params *p, const char *key, const char *what,
		     char **out)
{
	const char *v = NULL;
	int rc = tether_params_string(p, key, what, NULL, &v);

	*out = NULL;
	if (rc == 0 && v) {
		if (!*v)
			return tether_params_fail(p, key, "expected %s, found ''",
						  what);
		*out = strdup(v);
		if (!*out)
			return TETHER_ENOMEM;
	}
	return rc;
}

/*
 * header.NAME, or header.NAME_env / header.NAME_file (a secret: the
 * variable or the file's first line, read now, as for a password). So a
 * header whose own name ends in _env or _file cannot be set.
 */
static int read_headers(struct ws_options *o, tether_params *p)
{
	static const char pfx[] = "header.";
	size_t n = tether_params_count(p);
	int rc = 0;

	o->headers = calloc(n ? n : 1, sizeof(*o->headers));
	if (!o->headers)
		return TETHER_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *key = tether_params_key(p, i), *name;
		char base[256];
		char *v = NULL;
		size_t len;
		int suffix = 0; /* 1 _env, 2 _file */
		struct ws_header *h;

		if (!key || strncmp(key, pfx, sizeof(pfx) - 1) != 0)
			continue;
		name = key + sizeof(pfx) - 1;
		len = strlen(name);
		if (len > 4 && strcmp(name + len - 4, "_env") == 0) {
			len -= 4;
			suffix = 1;
		} else if (len > 5 && strcmp(name + len - 5, "_file") == 0) {
			len -= 5;
			suffix = 2;
		}
		if (len + sizeof(pfx) + 5 > sizeof(base)) {
			rc = tether_params_fail(p, key, "header name too long");
			continue;
		}
		/* one read per header: by its first key of NAME, NAME_env,
		   NAME_file (the read reports two of them given at once) */
		snprintf(base, sizeof(base), "%s%.*s", pfx, (int)len, name);
		if (suffix >= 1 && tether_params_get(p, base))
			continue;
		if (suffix == 2) {
			char env[sizeof(base) + 4];

			snprintf(env, sizeof(env), "%s_env", base);
			if (tether_params_get(p, env))
				continue;
		}
		if (tether_params_secret(p, base, "a header value", &v) != 0) {
			rc = TETHER_ECONFIG;
			continue;
		}
		h = &o->headers[o->nheaders];
		h->name = strndup(name, len);
		if (!h->name) {
			tether_secret_free(v);
			return TETHER_ENOMEM;
		}
		if (!header_name_ok(h->name)) {
			rc = tether_params_fail(
			    p, key,
			    "'%s' is not a header name tether may set (a "
			    "token, not Host/Upgrade/Connection/Origin/"
			    "Sec-WebSocket-*: see 'origin', 'subprotocol')",
			    h->name);
			free(h->name);
			h->name = NULL;
			tether_secret_free(v);
			continue;
		}
		if (!v || strpbrk(v, "\r\n")) {
			rc = tether_params_fail(
			    p, key, "expected a header value on one line");
			free(h->name);
			h->name = NULL;
			tether_secret_free(v);
			continue;
		}
		h->value = strdup(v);
		tether_secret_free(v);
		if (!h->value) {
			free(h->name);
			h->name = NULL;
			return TETHER_ENOMEM;
		}
		o->nheaders++;
	}
	return rc;
}

/* min_tls: 0 when not given, else 12 or 13. */
static int read_min_tls(tether_params *p, int *out)
{
	int i = -1, rc;

	*out = 0;
	rc = tether_params_choice(p, "min_tls", tls_versions, -1, &i, NULL);
	if (rc == 0 && i >= 0)
		*out = i == 1 ? 13 : 12;
	return rc;
}

int tth_ws_options_read(struct ws_options *o, tether_params *opts)
{
	unsigned char wire[TTH_ALPN_MAX];
	size_t wire_len;
	uint64_t max = WS_DEFAULT_MAX_MESSAGE;
	int rc = 0, enomem = 0, r;

	o->verify = 1;
	o->max_message = WS_DEFAULT_MAX_MESSAGE;
	if (!opts)
		return 0;

#define ACC(expr)                                                              \
	do {                                                                   \
		r = (expr);                                                    \
		if (r == TETHER_ENOMEM)                                        \
			enomem = 1;                                            \
		else if (r)                                                    \
			rc = TETHER_ECONFIG;                                   \
	} while (0)
	ACC(read_text(opts, "subprotocol", "a WebSocket subprotocol name",
		      &o->subprotocol));
	ACC(read_text(opts, "origin", "an Origin header value", &o->origin));
	ACC(read_text(opts, "ca_file", "a PEM CA file path", &o->ca_file));
	ACC(read_text(opts, "cert_file", "a PEM certificate file path",
		      &o->cert_file));
	ACC(read_text(opts, "key_file", "a PEM key file path", &o->key_file));
	ACC(tether_params_secret(opts, "key_password", "a password",
				 &o->key_password));
	ACC(read_text(opts, "alpn", "ALPN protocol names", &o->alpn));
	ACC(read_min_tls(opts, &o->min_tls));
	ACC(read_text(opts, "proxy", "a proxy URI or env", &o->proxy));
	ACC(tether_params_bool(opts, "verify", 1, &o->verify));
	ACC(tether_params_size(opts, "max_message", WS_DEFAULT_MAX_MESSAGE,
			       WS_MIN_MAX_MESSAGE, WS_MAX_MAX_MESSAGE, &max));
	o->max_message = (size_t)max;
	ACC(read_headers(o, opts));
#undef ACC
	if (o->ca_file && access(o->ca_file, R_OK) != 0)
		rc = tether_params_fail(opts, "ca_file", "cannot read '%s': %s",
					o->ca_file, strerror(errno));
	if (!!o->cert_file != !!o->key_file)
		rc = tether_params_fail(opts, o->cert_file ? "cert_file"
							   : "key_file",
					"a client certificate needs both "
					"cert_file and key_file");
	if (o->key_password && !o->key_file)
		rc = tether_params_fail(opts, "key_password",
					"key_password needs key_file");
	if (o->cert_file && access(o->cert_file, R_OK) != 0)
		rc = tether_params_fail(opts, "cert_file",
					"cannot read '%s': %s", o->cert_file,
					strerror(errno));
	if (o->key_file && access(o->key_file, R_OK) != 0)
		rc = tether_params_fail(opts, "key_file",
					"cannot read '%s': %s", o->key_file,
					strerror(errno));
	if (o->alpn &&
	    tth_alpn_wire(o->alpn, wire, sizeof(wire), &wire_len) != 0)
		rc = tether_params_fail(
		    opts, "alpn",
		    "expected protocol names (1 to 255 printable bytes each, "
		    "no spaces) separated by commas, e.g. \"http/1.1\"");
	if (o->proxy && strcmp(o->proxy, "env") != 0) {
		char h[256];
		unsigned port;

		if (tth_proxy_parse(o->proxy, h, sizeof(h), &port) != 0)
			rc = tether_params_fail(
			    opts, "proxy",
			    "expected http://HOST:PORT (no credentials) or env");
	}
	if (enomem || rc)
		return enomem ? TETHER_ENOMEM : TETHER_ECONFIG;
	return 0;
}

void tth_ws_options_cleanup(struct ws_options *o)
{
	for (size_t i = 0; i < o->nheaders; i++) {
		free(o->headers[i].name);
		/* a header value may be a secret (a bearer token) */
		if (o->headers[i].value)
			explicit_bzero(o->headers[i].value,
				       strlen(o->headers[i].value));
		free(o->headers[i].value);
	}
	free(o->headers);
	free(o->subprotocol);
	free(o->origin);
	free(o->ca_file);
	free(o->cert_file);
	free(o->key_file);
	tether_secret_free(o->key_password);
	free(o->alpn);
	free(o->proxy);
}

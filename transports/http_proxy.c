/*
 * The `proxy` option of both transports: an HTTP CONNECT proxy given as
 * "http://HOST:PORT", or "env" for the usual variables (https_proxy for
 * TLS endpoints, http_proxy otherwise, each also in capitals; no_proxy
 * lists hosts that go direct). The environment is read only when the
 * option says "env" (docs/transport-ws.md, docs/transport-mqtt.md).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builtin.h"

/* "http://HOST:PORT" (an optional trailing '/'): host into host (cap
 * bytes), the port into *port. 0, or -1 when it is not of that form. */
int tth_proxy_parse(const char *uri, char *host, size_t cap, unsigned *port)
{
	const char *h, *colon, *end;
	char *stop;
	unsigned long p;
	size_t n;

	if (strncasecmp(uri, "http://", 7) != 0)
		return -1;
	h = uri + 7;
	if (strchr(h, '@'))
		return -1; /* credentials: not supported */
	end = h + strlen(h);
	if (end > h && end[-1] == '/')
		end--;
	colon = memchr(h, ':', (size_t)(end - h));
	if (!colon || colon == h)
		return -1;
	n = (size_t)(colon - h);
	if (n >= cap || memchr(h, '/', n))
		return -1;
	p = strtoul(colon + 1, &stop, 10);
	if (stop != end || p == 0 || p > 65535)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (unsigned)p;
	return 0;
}

static const char *env2(const char *lower, const char *upper)
{
	const char *v = getenv(lower);

	return v && *v ? v : getenv(upper);
}

/* Whether host is listed in no_proxy ("*", or names that match it or a
 * domain it is in; a leading '.' is allowed; ports are not compared). */
static int no_proxy_for(const char *host)
{
	const char *list = env2("no_proxy", "NO_PROXY");
	size_t hl = strlen(host);

	while (list && *list) {
		const char *e = strchr(list, ',');
		size_t n = e ? (size_t)(e - list) : strlen(list);
		const char *item = list;

		while (n && (*item == ' ' || *item == '.')) {
			item++;
			n--;
		}
		while (n && item[n - 1] == ' ')
			n--;
		if (n == 1 && *item == '*')
			return 1;
		if (n && n <= hl && strncasecmp(host + hl - n, item, n) == 0 &&
		    (n == hl || host[hl - n - 1] == '.'))
			return 1;
		list = e ? e + 1 : NULL;
	}
	return 0;
}

int tth_proxy_for(const char *opt, const char *host, int tls, char *phost,
		  size_t cap, unsigned *pport)
{
	const char *uri = opt;

	phost[0] = '\0';
	*pport = 0;
	if (!opt)
		return 0;
	if (strcmp(opt, "env") == 0) {
		uri = tls ? env2("https_proxy", "HTTPS_PROXY")
			  : env2("http_proxy", "HTTP_PROXY");
		if (!uri || !*uri || no_proxy_for(host))
			return 0;
	}
	return tth_proxy_parse(uri, phost, cap, pport);
}

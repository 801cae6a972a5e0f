/*
 * Reasons and their classes. Classification is data: the built-in table
 * below (docs/architecture.md), consulted after any per-connection overrides.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reason-int.h"
#include "util-int.h"

#define R(kind, lo, hi, peer, cls)                                             \
	{ TETHER_KIND_##kind, lo, hi, peer, TETHER_CLASS_##cls }

/*
 * First matching row wins, so specific rows come before the catch-all row
 * of each kind. The choices that are not obvious are explained inline.
 */
const struct tth_class_rule tth_default_rules[] = {
	/* tether itself */
	R(LOCAL, TETHER_LOCAL_USER_CLOSE, TETHER_LOCAL_USER_CLOSE, -1, NORMAL),
	R(LOCAL, TETHER_LOCAL_CONNECT_TIMEOUT, TETHER_LOCAL_KEEPALIVE_TIMEOUT,
	  -1, TIMEOUT),
	R(LOCAL, TETHER_LOCAL_CLOSE_TIMEOUT, TETHER_LOCAL_CLOSE_TIMEOUT, -1,
	  TIMEOUT),
	R(LOCAL, TETHER_LOCAL_FAILBACK, TETHER_LOCAL_FAILBACK, -1, NORMAL),
	/* A URI that cannot be parsed will not parse better next time. */
	R(LOCAL, TETHER_LOCAL_BAD_ENDPOINT, TETHER_LOCAL_BAD_ENDPOINT, -1,
	  FATAL),
	/* options the transport refused stay refused until someone changes
	   them: a connection is not retried on them */
	R(LOCAL, TETHER_LOCAL_BAD_OPTIONS, TETHER_LOCAL_BAD_OPTIONS, -1,
	  FATAL),
	R(LOCAL, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* sockets: refused, reset, EOF (0), unreachable... all come back */
	R(SOCKET, ETIMEDOUT, ETIMEDOUT, -1, TIMEOUT),
	R(SOCKET, INT32_MIN, INT32_MAX, -1, TRANSIENT),
	/* DNS: even "no such name" may be a resolver having a bad minute */
	R(DNS, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* TLS: a certificate that does not verify is not a network problem */
	R(TLS, TETHER_TLS_VERIFY, TETHER_TLS_VERIFY, -1, FATAL),
	R(TLS, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* HTTP status of a refused WebSocket upgrade */
	R(HTTP, 300, 399, -1, REDIRECT),
	R(HTTP, 408, 408, -1, TIMEOUT),
	R(HTTP, 429, 429, -1, OVERLOAD),
	/* 404 is what a proxy or load balancer answers while the service
	   behind it is being deployed: retried, but never sooner than the
	   overload floor (fatal only by a classify rule "http:404") */
	R(HTTP, 404, 404, -1, OVERLOAD),
	R(HTTP, 400, 499, -1, FATAL), /* 400, 401, 403, 426...: our fault */
	R(HTTP, 503, 503, -1, OVERLOAD),
	R(HTTP, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* WebSocket close codes (RFC 6455 §7.4.1, IANA registry) */
	R(WS_CLOSE, 1000, 1000, 0, NORMAL),
	/* a server that says goodbye is restarting; a gateway wants it back
	   (make it terminal per connection with an override "peer:ws:1000") */
	R(WS_CLOSE, 1000, 1000, 1, TRANSIENT),
	R(WS_CLOSE, 1002, 1003, -1, FATAL), /* protocol error, unsupported data */
	R(WS_CLOSE, 1007, 1008, -1, FATAL), /* invalid payload, policy */
	R(WS_CLOSE, 1010, 1010, -1, FATAL), /* extension not negotiated */
	R(WS_CLOSE, 1013, 1013, -1, OVERLOAD), /* try again later */
	/* IANA 3000 Unauthorized, 3003 Forbidden */
	R(WS_CLOSE, 3000, 3000, -1, FATAL),
	R(WS_CLOSE, 3003, 3003, -1, FATAL),
	/* 4000-4999 are the application's own: tether cannot know what they
	   mean, so it retries, never sooner than the overload floor (a server
	   that closes with one at once is not asked again every second);
	   classify rules make one fatal, e.g. "ws:4403: fatal" */
	R(WS_CLOSE, 4000, 4999, -1, OVERLOAD),
	R(WS_CLOSE, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* MQTT 3.1.1 CONNACK return codes */
	R(MQTT3, 1, 2, -1, FATAL), /* protocol version, identifier rejected */
	R(MQTT3, 3, 3, -1, TRANSIENT), /* server unavailable */
	R(MQTT3, 4, 5, -1, FATAL),     /* bad user name or password, not
					  authorized */
	R(MQTT3, INT32_MIN, INT32_MAX, -1, TRANSIENT),

	/* MQTT 5 reason codes (CONNACK and DISCONNECT) */
	R(MQTT5, 0x00, 0x00, 0, NORMAL),
	R(MQTT5, 0x00, 0x00, 1, TRANSIENT), /* server-sent normal disconnect */
	R(MQTT5, 0x84, 0x87, -1, FATAL), /* version, client id, credentials,
					    not authorized */
	R(MQTT5, 0x89, 0x89, -1, OVERLOAD), /* server busy */
	R(MQTT5, 0x8A, 0x8A, -1, FATAL),    /* banned */
	R(MQTT5, 0x8C, 0x8C, -1, FATAL),    /* bad authentication method */
	R(MQTT5, 0x8D, 0x8D, -1, TIMEOUT),  /* keep alive timeout */
	/* Session taken over: another client uses our client id. Retrying
	   would make the two take the session from each other forever. */
	R(MQTT5, 0x8E, 0x8E, -1, FATAL),
	R(MQTT5, 0x96, 0x97, -1, OVERLOAD), /* message rate, quota exceeded */
	R(MQTT5, 0x9C, 0x9D, -1, REDIRECT), /* use another server, moved */
	R(MQTT5, 0x9F, 0x9F, -1, OVERLOAD), /* connection rate exceeded */
	R(MQTT5, INT32_MIN, INT32_MAX, -1, TRANSIENT),
};
const size_t tth_default_rules_len = TTH_ARRAY_LEN(tth_default_rules);

#undef R

static int rule_matches(const struct tth_class_rule *r,
			enum tether_reason_kind kind, int code, int by_peer)
{
	return r->kind == kind && code >= r->lo && code <= r->hi &&
	       (r->by_peer < 0 || r->by_peer == (by_peer ? 1 : 0));
}

enum tether_reason_class tether_reason_default_class(enum tether_reason_kind kind,
						     int code, int by_peer)
{
	for (size_t i = 0; i < tth_default_rules_len; i++)
		if (rule_matches(&tth_default_rules[i], kind, code, by_peer))
			return tth_default_rules[i].cls;
	return TETHER_CLASS_TRANSIENT;
}

static const char *const class_names[TETHER_CLASS_COUNT] = {
	"normal", "transient", "overload", "timeout", "redirect", "fatal",
};

const char *tether_class_name(enum tether_reason_class c)
{
	return (unsigned)c < TETHER_CLASS_COUNT ? class_names[c] : "?";
}

int tether_class_parse(const char *name, enum tether_reason_class *out)
{
	if (!name || !out)
		return TETHER_EINVAL;
	for (int i = 0; i < TETHER_CLASS_COUNT; i++)
		if (strcmp(name, class_names[i]) == 0) {
			*out = (enum tether_reason_class)i;
			return 0;
		}
	return TETHER_EINVAL;
}

static const char *const kind_names[TETHER_KIND_COUNT] = {
	"local", "socket", "dns", "tls", "http", "ws", "mqtt3", "mqtt5",
};

const char *tether_kind_name(enum tether_reason_kind k)
{
	return (unsigned)k < TETHER_KIND_COUNT ? kind_names[k] : "?";
}

static const char *const local_names[] = {
	"closed by the application", "connect timeout", "heartbeat timeout",
	"keepalive timeout", "close timeout", "failback", "link down",
	"protocol error", "bad endpoint", "redirect loop", "bad options",
};

int tether_reason_format(const struct tether_reason *r, char *buf, size_t len)
{
	char code[64];

	if (!r)
		return snprintf(buf, len, "(no reason)");
	switch (r->kind) {
	case TETHER_KIND_LOCAL:
		snprintf(code, sizeof code, "%s",
			 (unsigned)r->code < TTH_ARRAY_LEN(local_names)
				 ? local_names[r->code]
				 : "local");
		break;
	case TETHER_KIND_SOCKET:
		if (r->code == 0)
			snprintf(code, sizeof code, "end of stream");
		else
			snprintf(code, sizeof code, "%s", strerror(r->code));
		break;
	case TETHER_KIND_MQTT5:
		snprintf(code, sizeof code, "mqtt5 reason 0x%02X", r->code);
		break;
	case TETHER_KIND_MQTT3:
		snprintf(code, sizeof code, "mqtt connack %d", r->code);
		break;
	case TETHER_KIND_WS_CLOSE:
		snprintf(code, sizeof code, "ws close %d", r->code);
		break;
	case TETHER_KIND_HTTP:
		snprintf(code, sizeof code, "http %d", r->code);
		break;
	case TETHER_KIND_DNS:
		snprintf(code, sizeof code, "dns error %d", r->code);
		break;
	case TETHER_KIND_TLS:
		snprintf(code, sizeof code, "tls %s",
			 r->code == TETHER_TLS_VERIFY ? "verification failed"
						      : "handshake failed");
		break;
	default:
		snprintf(code, sizeof code, "code %d", r->code);
		break;
	}
	if (r->retry_after_ms) {
		size_t n = strlen(code);

		snprintf(code + n, sizeof code - n, ", retry after %llu ms",
			 (unsigned long long)r->retry_after_ms);
	}
	return snprintf(buf, len, "%s: %s%s%s%s%s%s", tether_class_name(r->cls),
			code, r->by_peer ? " (peer)" : "",
			r->text && *r->text ? ": " : "",
			r->text ? r->text : "",
			r->server_ref ? " -> " : "",
			r->server_ref ? r->server_ref : "");
}

/* ------------------------------------------------------------ overrides */

struct tether_classifier {
	struct tth_class_rule *rules;
	size_t n, cap;
};

tether_classifier *tether_classifier_new(void)
{
	return calloc(1, sizeof(tether_classifier));
}

void tether_classifier_free(tether_classifier *c)
{
	if (!c)
		return;
	free(c->rules);
	free(c);
}

int tether_classifier_add(tether_classifier *c, enum tether_reason_kind kind,
			  int lo, int hi, int by_peer,
			  enum tether_reason_class cls)
{
	if (!c || (unsigned)kind >= TETHER_KIND_COUNT || lo > hi ||
	    by_peer < -1 || by_peer > 1 || (unsigned)cls >= TETHER_CLASS_COUNT)
		return TETHER_EINVAL;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		struct tth_class_rule *nr =
			realloc(c->rules, ncap * sizeof(*nr));
		if (!nr)
			return TETHER_ENOMEM;
		c->rules = nr;
		c->cap = ncap;
	}
	c->rules[c->n++] = (struct tth_class_rule){kind, lo, hi, by_peer, cls};
	return 0;
}

static int parse_code(const char *s, const char **end, long *out)
{
	char *e;

	errno = 0;
	*out = strtol(s, &e, 0); /* decimal, or 0x.. for MQTT reason codes */
	if (e == s || errno)
		return -1;
	*end = e;
	return 0;
}

int tether_classifier_add_rule(tether_classifier *c, const char *key,
			       const char *cls_name, char *err, size_t errlen)
{
	enum tether_reason_class cls;
	int by_peer = -1, kind = -1;
	const char *p = key, *e;
	long lo, hi;

	if (err && errlen)
		err[0] = '\0';
	if (!c || !key || !cls_name)
		return TETHER_EINVAL;
	if (tether_class_parse(cls_name, &cls) != 0) {
		if (err)
			snprintf(err, errlen,
				 "expected a class (normal, transient, overload, "
				 "timeout, redirect, fatal), found '%s'",
				 cls_name);
		return TETHER_EINVAL;
	}
	if (strncmp(p, "peer:", 5) == 0) {
		by_peer = 1;
		p += 5;
	} else if (strncmp(p, "local:", 6) == 0) {
		by_peer = 0;
		p += 6;
	}
	for (int k = 0; k < TETHER_KIND_COUNT; k++) {
		size_t n = strlen(kind_names[k]);
		if (strncmp(p, kind_names[k], n) == 0 && p[n] == ':') {
			kind = k;
			p += n + 1;
			break;
		}
	}
	if (kind < 0 || parse_code(p, &e, &lo) != 0)
		goto bad;
	hi = lo;
	if (*e == '-') {
		if (parse_code(e + 1, &e, &hi) != 0)
			goto bad;
	}
	if (*e != '\0' || lo > hi || lo < INT32_MIN || hi > INT32_MAX)
		goto bad;
	return tether_classifier_add(c, (enum tether_reason_kind)kind, (int)lo,
				     (int)hi, by_peer, cls);
bad:
	if (err)
		snprintf(err, errlen,
			 "expected a reason key such as ws:1013, mqtt5:0x89, "
			 "http:500-599 or peer:ws:1000, found '%s'",
			 key);
	return TETHER_EINVAL;
}

enum tether_reason_class tether_classify(const tether_classifier *c,
					 enum tether_reason_kind kind, int code,
					 int by_peer)
{
	if (c)
		for (size_t i = c->n; i-- > 0;)
			if (rule_matches(&c->rules[i], kind, code, by_peer))
				return c->rules[i].cls;
	return tether_reason_default_class(kind, code, by_peer);
}

tether_classifier *tth_classifier_dup(const tether_classifier *c)
{
	tether_classifier *d = tether_classifier_new();

	if (!d || !c || !c->n)
		return d;
	d->rules = malloc(c->n * sizeof(*d->rules));
	if (!d->rules) {
		free(d);
		return NULL;
	}
	memcpy(d->rules, c->rules, c->n * sizeof(*d->rules));
	d->n = d->cap = c->n;
	return d;
}

int tth_classifier_equal(const tether_classifier *a, const tether_classifier *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;

	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		const struct tth_class_rule *x = &a->rules[i], *y = &b->rules[i];
		if (x->kind != y->kind || x->lo != y->lo || x->hi != y->hi ||
		    x->by_peer != y->by_peer || x->cls != y->cls)
			return 0;
	}
	return 1;
}

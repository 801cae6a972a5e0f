/*
 * Coordinated recovery: connections of one engine that share an endpoint
 * (same transport and host:port) share its health. See engine-int.h
 * (struct tth_group) and docs/state-machine.md, "Coordinated recovery".
 *
 * A group is healthy until an attempt on its endpoint fails with a class
 * that says the endpoint is unreachable or busy (transient, timeout,
 * overload). From then on it is failing: the connection that failed is
 * its prober and keeps attempting on its own policy; every other
 * connection that wants to attempt the endpoint is fed HOLD and waits in
 * SUSPENDED(probe), FIFO, spending nothing. An attempt that gets an answer
 * (up, or a fatal or redirect refusal: the server spoke) makes the group
 * healthy and feeds RESUME to every waiter; they then queue for the
 * limiter, which spaces them at its rate. A fatal refusal is per
 * connection (credentials): it ends only that connection and never
 * suspends the others.
 *
 * The engine calls in here from step() (resolve, waiting, after), from
 * the ACQUIRE / WAIT / CANCEL_WAIT actions and from leave() (RESUME).
 * Inputs for other connections are never fed from here: they go on the
 * engine's ready list, fed once the current machine's actions are done.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tether/transport.h>

#include "engine-int.h"
#include "util-int.h"

/* ------------------------------------------------------------- keys */

/* The port of a URI without one: the transport's table says (its
 * default_ports), else the web's own, which a redirect may name. */
static unsigned default_port(const char *transport, const char *scheme,
			     size_t len)
{
	unsigned port = tether_transport_default_port(
	    tether_transport_lookup(transport), scheme, len);

	if (port)
		return port;
	if (len == 4 && strncasecmp(scheme, "http", 4) == 0)
		return 80;
	if (len == 5 && strncasecmp(scheme, "https", 5) == 0)
		return 443;
	return 0;
}

int tth_endpoint_key(const char *transport, const char *uri, char *out,
		     size_t len)
{
	const char *sep, *auth, *end, *at, *host_end, *port = NULL;
	size_t scheme_len, host_len, port_len = 0;
	char host[256], defport[12];
	int n;

	if (!out || len == 0)
		return TETHER_EINVAL;
	out[0] = '\0';
	if (!transport || !uri || !(sep = strstr(uri, "://")))
		return 0;
	scheme_len = (size_t)(sep - uri);
	auth = sep + 3;
	end = auth + strcspn(auth, "/?#");
	/* userinfo is per connection, not part of the endpoint */
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at)
		auth = at + 1;
	if (auth == end)
		return 0;
	if (*auth == '[') {
		host_end = memchr(auth, ']', (size_t)(end - auth));
		if (!host_end)
			return 0;
		host_end++;
	} else {
		host_end = memchr(auth, ':', (size_t)(end - auth));
		if (!host_end)
			host_end = end;
	}
	if (host_end < end && *host_end == ':') {
		port = host_end + 1;
		port_len = (size_t)(end - port);
	}
	host_len = (size_t)(host_end - auth);
	if (host_len >= sizeof(host))
		return TETHER_EINVAL;
	for (size_t i = 0; i < host_len; i++)
		host[i] = (char)tolower((unsigned char)auth[i]);
	host[host_len] = '\0';
	if (!port || port_len == 0) {
		unsigned dp = default_port(transport, uri, scheme_len);

		defport[0] = '\0';
		if (dp)
			snprintf(defport, sizeof(defport), "%u", dp);
		port = defport;
		port_len = strlen(defport);
	}
	n = snprintf(out, len, "%s %.*s://%s:%.*s", transport,
		     (int)scheme_len, uri, host, (int)port_len, port);
	if (n < 0 || (size_t)n >= len) {
		out[0] = '\0';
		return TETHER_EINVAL;
	}
	for (size_t i = strlen(transport) + 1;
	     i < strlen(transport) + 1 + scheme_len; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

int tth_econn_set_keys(struct tth_econn *c, const char *const *keys,
		       uint32_t n)
{
	char **v;

	if (c->keys || n == 0)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return TETHER_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (!keys[i] || !keys[i][0])
			continue;
		v[i] = strdup(keys[i]);
		if (!v[i]) {
			for (uint32_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return TETHER_ENOMEM;
		}
	}
	c->keys = v;
	c->nkeys = n;
	return 0;
}

/* ----------------------------------------------------------- groups */

static void kick_fire(struct tth_engine *e, struct tth_etimer *et);

static struct tth_group *find(const struct tth_engine *e, const char *key)
{
	for (struct tth_group *g = e->groups; g; g = g->next)
		if (strcmp(g->key, key) == 0)
			return g;
	return NULL;
}

const struct tth_group *tth_engine_group(const struct tth_engine *e,
					 const char *key)
{
	return key ? find(e, key) : NULL;
}

static struct tth_group *group_get(struct tth_engine *e, const char *key)
{
	struct tth_group *g = find(e, key);

	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->key = strdup(key);
	if (!g->key) {
		free(g);
		return NULL;
	}
	tth_etimer_init(&g->kick, kick_fire);
	g->next = e->groups;
	e->groups = g;
	return g;
}

static void free_keys(struct tth_econn *c)
{
	for (uint32_t i = 0; i < c->nkeys; i++)
		free(c->keys[i]);
	free(c->keys);
	free(c->groups);
	c->keys = NULL;
	c->groups = NULL;
	c->nkeys = 0;
}

/* Whether endpoint i is the first of c's endpoints in its group. */
static int first_of(const struct tth_econn *c, uint32_t i)
{
	for (uint32_t j = 0; j < i; j++)
		if (c->groups[j] == c->groups[i])
			return 0;
	return 1;
}

void tth_coord_resolve(struct tth_engine *e, struct tth_econn *c)
{
	struct tth_group **v = calloc(c->nkeys, sizeof(*v));
	int any = 0;

	for (uint32_t i = 0; v && i < c->nkeys; i++) {
		if (!c->keys[i])
			continue;
		v[i] = group_get(e, c->keys[i]);
		if (!v[i]) {
			free(v);
			v = NULL;
			break;
		}
		any = 1;
	}
	if (!v || !any) {
		/* Works on, uncoordinated. */
		if (!v)
			e->coord_lost++;
		free(v);
		free_keys(c);
		return;
	}
	c->groups = v;
	for (uint32_t i = 0; i < c->nkeys; i++)
		if (v[i] && first_of(c, i))
			v[i]->members++;
}

static struct tth_group *group_of(const struct tth_econn *c, uint32_t ep)
{
	if (!c->groups || ep >= c->nkeys)
		return NULL;
	return c->groups[ep];
}

uint32_t tth_coord_waiting(const struct tth_econn *c)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->nkeys; i++) {
		const struct tth_group *g = c->groups[i];
		if (g && g->prober == c && g->nwait > n)
			n = g->nwait;
	}
	return n;
}

/* ------------------------------------------------------ the waiters */

static void wait_add(struct tth_group *g, struct tth_econn *c)
{
	c->held = g;
	c->hnext = NULL;
	c->hprev = g->tail;
	if (g->tail)
		g->tail->hnext = c;
	else
		g->head = c;
	g->tail = c;
	g->nwait++;
	g->holds++;
}

static void wait_unlink(struct tth_econn *c)
{
	struct tth_group *g = c->held;

	if (!g)
		return;
	if (c->hprev)
		c->hprev->hnext = c->hnext;
	else
		g->head = c->hnext;
	if (c->hnext)
		c->hnext->hprev = c->hprev;
	else
		g->tail = c->hprev;
	c->hnext = c->hprev = NULL;
	c->held = NULL;
	g->nwait--;
}

/* The probe passes to the longest waiter (or to whoever asks next). */
static void hand_on(struct tth_engine *e, struct tth_group *g)
{
	struct tth_econn *w = g->head;

	g->prober = NULL;
	if (!g->failing || !w)
		return;
	wait_unlink(w);
	g->prober = w;
	tth_engine_ready_push(e, w, TTH_PEND_RESUME);
}

static void kick_fire(struct tth_engine *e, struct tth_etimer *et)
{
	struct tth_group *g = TTH_CONTAINER_OF(et, struct tth_group, kick);

	if (!g->prober)
		hand_on(e, g);
}

static void group_healthy(struct tth_engine *e, struct tth_group *g)
{
	g->failing = 0;
	g->prober = NULL;
	/* All at once into the limiter's FIFO: it spaces them. */
	while (g->head) {
		struct tth_econn *w = g->head;
		wait_unlink(w);
		g->releases++;
		tth_engine_ready_push(e, w, TTH_PEND_RESUME);
	}
}

/* Connections queued for a token on g's endpoint wait for the probe too
 * (a release in progress when the endpoint fails again). */
static void pull_back(struct tth_engine *e, struct tth_group *g)
{
	struct tth_waiter *w = e->lim.head.next, *next;

	for (; w != &e->lim.head; w = next) {
		struct tth_econn *c =
			TTH_CONTAINER_OF(w, struct tth_econn, waiter);
		next = w->next;
		if (c == g->prober || c->ready ||
		    group_of(c, c->m.endpoint) != g ||
		    c->m.state != TETHER_STATE_SUSPENDED ||
		    c->m.cause != TTH_SUSP_TOKEN)
			continue;
		tth_limiter_cancel(&e->lim, w);
		tth_engine_ready_push(e, c, TTH_PEND_HOLD);
	}
}

static void group_failing(struct tth_engine *e, struct tth_group *g,
			  struct tth_econn *c)
{
	if (!g->prober)
		g->prober = c;
	if (g->failing)
		return;
	g->failing = 1;
	g->outages++;
	pull_back(e, g);
}

/* ----------------------------------------------------- engine hooks */

int tth_coord_gate(struct tth_engine *e, struct tth_econn *c)
{
	struct tth_group *g = group_of(c, c->m.endpoint);

	(void)e;
	if (!g || !g->failing || c->pass)
		return 0;
	if (!g->prober)
		g->prober = c;
	return g->prober != c;
}

int tth_coord_resume_ok(struct tth_engine *e, struct tth_econn *c)
{
	struct tth_group *g = group_of(c, c->m.endpoint);

	(void)e;
	if (!g || !g->failing)
		return 1;
	if (!g->prober)
		g->prober = c;
	if (g->prober == c)
		return 1;
	wait_add(g, c);
	return 0;
}

void tth_coord_wait(struct tth_engine *e, struct tth_econn *c,
		    uint32_t endpoint)
{
	struct tth_group *g = group_of(c, endpoint);

	if (!g || !g->failing || !g->prober || g->prober == c) {
		/* nothing to wait for (any more) */
		tth_engine_ready_push(e, c, TTH_PEND_RESUME);
		return;
	}
	wait_add(g, c);
}

void tth_coord_cancel_wait(struct tth_engine *e, struct tth_econn *c)
{
	wait_unlink(c);
	if (c->ready && c->pend == TTH_PEND_RESUME)
		/* released but not yet resumed */
		tth_engine_ready_unlink(e, c);
}

/* Whether c, the prober of some group, is still on its way to attempt. */
static int still_trying(const struct tth_econn *c)
{
	switch (c->m.state) {
	case TETHER_STATE_CONNECTING:
	case TETHER_STATE_BACKOFF:
		return 1;
	case TETHER_STATE_SUSPENDED:
		return c->m.cause == TTH_SUSP_TOKEN ||
		       c->m.cause == TTH_SUSP_POLICY;
	default:
		return 0;
	}
}

static int says_unreachable(const struct tth_econn *c)
{
	if (!c->m.has_reason)
		return 0;
	switch (c->m.reason.cls) {
	case TETHER_CLASS_TRANSIENT:
	case TETHER_CLASS_OVERLOAD:
	case TETHER_CLASS_TIMEOUT:
		return 1;
	default:
		return 0;
	}
}

void tth_coord_after(struct tth_engine *e, struct tth_econn *c,
		     enum tether_state old_state, uint32_t old_endpoint)
{
	struct tth_group *g = group_of(c, old_endpoint);

	if (g && old_state == TETHER_STATE_CONNECTING &&
	    c->m.state != TETHER_STATE_CONNECTING) {
		if (c->m.state == TETHER_STATE_ONLINE ||
		    (c->m.has_reason &&
		     (c->m.reason.cls == TETHER_CLASS_FATAL ||
		      c->m.reason.cls == TETHER_CLASS_REDIRECT)))
			/* The server answered: it is up. */
			group_healthy(e, g);
		else if (says_unreachable(c))
			group_failing(e, g, c);
	} else if (g && old_state == TETHER_STATE_ONLINE &&
		   c->m.state != TETHER_STATE_ONLINE &&
		   c->m.state != TETHER_STATE_CLOSING && says_unreachable(c)) {
		/* A lost link makes the endpoint suspect: the next attempt
		   on it is a probe. Without this, a server that stops
		   answering (blackhole) would see one attempt from every
		   connection before the first connect timeout says so. */
		group_failing(e, g, c);
	}
	if (still_trying(c))
		return;
	for (uint32_t i = 0; i < c->nkeys; i++) {
		g = c->groups[i];
		if (!g || g->prober != c)
			continue;
		if (c->m.state == TETHER_STATE_SUSPENDED &&
		    c->m.cause == TTH_SUSP_LINK) {
			/* The network went away: the others are about to
			   hear it too. Hand on at the next run of the
			   timers, so none of them attempts meanwhile. */
			g->prober = NULL;
			tth_engine_arm(e, &g->kick, e->now_ms);
		} else {
			hand_on(e, g);
		}
	}
}

void tth_coord_detach(struct tth_engine *e, struct tth_econn *c)
{
	wait_unlink(c);
	for (uint32_t i = 0; c->groups && i < c->nkeys; i++) {
		struct tth_group *g = c->groups[i];
		/* once per group, however many endpoints share it */
		if (!g || !first_of(c, i))
			continue;
		g->members--;
		if (g->prober == c) {
			/* Not from here: detach runs outside the engine's
			   calls. The next run of timers hands it on. */
			g->prober = NULL;
			if (g->failing && g->head)
				tth_engine_arm(e, &g->kick, e->now_ms);
		}
	}
	free_keys(c);
}

void tth_coord_cleanup(struct tth_engine *e)
{
	struct tth_group *g = e->groups, *next;

	for (; g; g = next) {
		next = g->next;
		tth_heap_cancel(&e->heap, &g->kick.t);
		free(g->key);
		free(g);
	}
	e->groups = NULL;
}

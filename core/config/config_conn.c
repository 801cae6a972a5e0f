/*
 * The connections of a configuration file (tether.yaml(5)): each entry of
 * `connections:` checked against the schema into a cfg_conn (endpoints,
 * policy, heartbeat, timings, classify, the mqtt/ws/tls sections), and
 * the secrets: `*_env` / `*_file` read at load time, never accepted
 * inline, wiped when freed and scrubbed from every message.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tether/transport.h>

#include "config-int.h"
#include "secret-int.h"
#include "params-int.h"

#define DAY_MS (24ull * 3600000)

/* ------------------------------------------------------------- helpers */

/* The dotted path of key in p ("connections.0.mqtt.keepalive"). */
static void path_of(const tether_params *p, const char *key, char *buf,
		    size_t len)
{
	char up[256] = "";

	if (p && p->parent)
		path_of(p->parent, p->pkey, up, sizeof(up));
	else if (p && p->pkey)
		snprintf(up, sizeof(up), "%s", p->pkey);
	snprintf(buf, len, "%s%s%s", up, up[0] && key ? "." : "",
		 key ? key : "");
}

__attribute__((format(printf, 4, 5))) static void
warn(struct lctx *lc, tether_params *p, const char *key, const char *fmt, ...)
{
	char path[300], msg[512], *w;
	const char *where = tth_params_where(p, key);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_of(p, key, path, sizeof(path));
	tth_escape_controls(msg, sizeof(msg));
	tth_escape_controls(path, sizeof(path));
	if (asprintf(&w, "%s%s%s%s: %s\n", lc->warn ? lc->warn : "",
		     where ? where : "", where ? ": " : "", path, msg) < 0) {
		lc->oom = 1;
		return;
	}
	free(lc->warn);
	lc->warn = w;
}

static struct cfg_opt *add_opt(struct lctx *lc, struct cfg_conn *cc,
			       enum cfg_section sec, tether_params *src,
			       const char *ykey, const char *value,
			       const char *okey, const char *ovalue, int secret)
{
	struct cfg_opt *v = realloc(cc->opts, (cc->nopts + 1) * sizeof(*v)), *o;

	if (!v) {
		lc->oom = 1;
		return NULL;
	}
	cc->opts = v;
	o = &v[cc->nopts++];
	memset(o, 0, sizeof(*o));
	o->sec = sec;
	o->src = src;
	o->secret = secret;
	o->ykey = tth_cfg_strdup(lc, ykey);
	o->value = tth_cfg_strdup(lc, value);
	o->okey = tth_cfg_strdup(lc, okey);
	o->ovalue = tth_cfg_strdup(lc, ovalue);
	return o;
}

/* Plain text options of a section, passed on as they are. */
static void text_opts(struct lctx *lc, struct cfg_conn *cc,
		      enum cfg_section sec, tether_params *set,
		      const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		const char *v = tth_cfg_scalar(set, keys[i], "a value");

		if (v)
			add_opt(lc, cc, sec, set, keys[i], v, keys[i], v, 0);
	}
}

/* ------------------------------------------------------------- secrets */

/* `<base>` inline is refused; `<base>_env` / `<base>_file` are read now. */
static void secret_opts(struct lctx *lc, struct cfg_conn *cc,
			enum cfg_section sec, tether_params *set,
			const char *base, const char *okey)
{
	char ek[64], fk[64];
	const char *env, *file;

	snprintf(ek, sizeof(ek), "%s_env", base);
	snprintf(fk, sizeof(fk), "%s_file", base);
	if (tth_params_ask(set, base))
		tth_params_add_error(set, base,
				     "a secret is not accepted inline: use "
				     "%s (an environment variable) or %s (a "
				     "file only you can read)",
				     ek, fk);
	env = tth_cfg_scalar(set, ek, "an environment variable name");
	file = tth_cfg_scalar(set, fk, "a file name");
	if (env && file) {
		tth_params_add_error(set, fk, "give only one of %s and %s", ek,
				     fk);
		return;
	}
	if (env) {
		const char *v = getenv(env);

		if (!v)
			tth_params_add_error(
			    set, ek, "environment variable '%s' is not set",
			    env);
		else
			add_opt(lc, cc, sec, set, ek, env, okey, v, 1);
	}
	if (file) {
		char *v = NULL;
		mode_t mode = 0;
		int err = tth_secret_read_file(file, &v, &mode);

		if (err) {
			tth_params_add_error(set, fk, "cannot read '%s': %s",
					     file, strerror(err));
			return;
		}
		if (mode & (S_IRGRP | S_IROTH))
			warn(lc, set, fk,
			     "'%s' is readable by group or others (chmod 600 "
			     "it)",
			     file);
		add_opt(lc, cc, sec, set, fk, file, okey, v, 1);
		tether_secret_free(v);
	}
}

/* --------------------------------------------------------- connections */

static const char *const mqtt_keys[] = {"version",  "client_id",
					"clean_start", "keepalive",
					"session_expiry", "username", NULL};
static const char *const ws_keys[] = {"subprotocol", "origin", "max_message",
				      NULL};
static const char *const tls_keys[] = {"ca_file", "ca_dir", "cert_file",
				       "key_file", "verify", NULL};

static void load_subs(struct lctx *lc, struct cfg_conn *cc, tether_params *set)
{
	tether_params *seq = tth_cfg_nested(set, "subscriptions", 1,
					    "a sequence of {topic, qos}");

	if (!seq)
		return;
	tth_params_mark_checked(seq);
	cc->subs = calloc(seq->n ? seq->n : 1, sizeof(*cc->subs));
	if (!cc->subs) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < seq->n; i++) {
		tether_params *s = tth_cfg_nested(seq, seq->v[i].key, 0,
						  "a mapping {topic, qos}");
		const char *topic;
		uint64_t qos;

		if (!s)
			continue;
		topic = tth_cfg_scalar(s, "topic", "a topic filter");
		if (!tth_cfg_entry(s, "topic"))
			tth_cfg_missing(s, "topic", "a topic filter");
		tth_cfg_whole(s, "qos", 0, 0, 2, &qos);
		tth_params_check_unknown(s, "a subscription");
		if (topic) {
			cc->subs[cc->nsubs].topic = tth_cfg_strdup(lc, topic);
			cc->subs[cc->nsubs++].qos = (int)qos;
		}
	}
}

/* A transport section: mqtt:, ws: or tls:. */
static tether_params *section(struct cfg_conn *cc, const char *key,
			      const char *only)
{
	char what[64];
	tether_params *set;

	snprintf(what, sizeof(what), "a mapping (the %s options)", key);
	set = tth_cfg_nested(cc->src, key, 0, what);
	if (!set)
		return NULL;
	if (only && cc->transport && strcmp(cc->transport, only) != 0) {
		tth_params_add_error(cc->src, key,
				     "only for transport %s (this connection's "
				     "transport is '%s')",
				     only, cc->transport);
		tth_params_mark_checked(set);
		return NULL;
	}
	return set;
}

static void load_transport(struct lctx *lc, struct cfg_conn *cc)
{
	tether_params *set;

	set = section(cc, "mqtt", "mqtt");
	if (set) {
		text_opts(lc, cc, SEC_MQTT, set, mqtt_keys);
		secret_opts(lc, cc, SEC_MQTT, set, "password", "password");
		load_subs(lc, cc, set);
		tth_params_check_unknown(set, "the mqtt section");
	}
	set = section(cc, "ws", "ws");
	if (set) {
		tether_params *h;

		text_opts(lc, cc, SEC_WS, set, ws_keys);
		h = tth_cfg_nested(set, "headers", 0,
				   "a mapping of header names to values");
		for (size_t i = 0; h && i < h->n; i++) {
			const char *v =
			    tth_cfg_scalar(h, h->v[i].key, "a header value");
			char okey[300];

			snprintf(okey, sizeof(okey), "header.%s", h->v[i].key);
			if (v)
				add_opt(lc, cc, SEC_HEADERS, h, h->v[i].key, v,
					okey, v, 0);
		}
		tth_params_mark_checked(h);
		tth_params_check_unknown(set, "the ws section");
	}
	set = section(cc, "tls", NULL);
	if (set) {
		text_opts(lc, cc, SEC_TLS, set, tls_keys);
		secret_opts(lc, cc, SEC_TLS, set, "key_password",
			    "key_password");
		tth_params_check_unknown(set, "the tls section");
	}
}

static void load_heartbeat(struct cfg_conn *cc)
{
	tether_params *hb;
	uint64_t misses;

	if (cc->transport && strcmp(cc->transport, "mqtt") == 0 &&
	    tth_params_ask(cc->src, "heartbeat")) {
		struct tth_param *e = tth_cfg_entry(cc->src, "heartbeat");

		tth_params_add_error(cc->src, "heartbeat",
				     "not for transport mqtt: MQTT uses its "
				     "keepalive (set mqtt.keepalive)");
		tth_params_mark_checked(e->child);
		return;
	}
	hb = tth_cfg_nested(cc->src, "heartbeat", 0,
			    "a mapping {interval, timeout, misses}");
	cc->hb_timeout = 5000;
	cc->hb_misses = 2;
	if (!hb)
		return;
	cc->hb_set = 1;
	tth_cfg_duration(hb, "interval", 0, 0, DAY_MS, &cc->hb_interval);
	tth_cfg_duration(hb, "timeout", 5000, 1, 3600000, &cc->hb_timeout);
	tth_cfg_whole(hb, "misses", 2, 1, 100, &misses);
	cc->hb_misses = (uint32_t)misses;
	tth_params_check_unknown(hb, "heartbeat");
}

static void load_classify(struct lctx *lc, struct cfg_conn *cc)
{
	tether_params *set = tth_cfg_nested(
	    cc->src, "classify", 0, "a mapping of reason keys to classes");

	if (!set)
		return;
	tth_params_mark_checked(set);
	cc->rules = calloc(set->n ? set->n : 1, sizeof(*cc->rules));
	if (!cc->rules) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		const char *cls =
		    tth_cfg_scalar(set, set->v[i].key,
				   "a class (normal, transient, "
				   "overload, timeout, redirect, fatal)");
		struct cfg_rule *r = &cc->rules[cc->nrules];

		if (!cls)
			continue;
		r->key = tth_cfg_strdup(lc, set->v[i].key);
		r->cls = tth_cfg_strdup(lc, cls);
		r->src = set;
		cc->nrules++;
	}
}

static void load_endpoints(struct lctx *lc, struct cfg_conn *cc)
{
	tether_params *seq =
	    tth_cfg_nested(cc->src, "endpoints", 1, "a sequence of URIs");

	if (!tth_cfg_entry(cc->src, "endpoints"))
		tth_cfg_missing(cc->src, "endpoints", "a sequence of URIs");
	if (!seq) {
		cc->bad = 1;
		return;
	}
	tth_params_mark_checked(seq);
	if (seq->n == 0) {
		tth_params_add_error(cc->src, "endpoints",
				     "expected at least one URI, found an "
				     "empty sequence");
		cc->bad = 1;
		return;
	}
	cc->endpoints = calloc(seq->n, sizeof(*cc->endpoints));
	if (!cc->endpoints) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < seq->n; i++) {
		const char *uri = tth_cfg_scalar(seq, seq->v[i].key, "a URI");

		if (uri)
			cc->endpoints[cc->nendpoints++] =
			    tth_cfg_strdup(lc, uri);
		else
			cc->bad = 1;
	}
}

const char *const tth_cfg_overflows[] = {"drop_oldest", "drop_newest",
					 "reject", NULL};
const char *const tth_cfg_fsyncs[] = {"always", "interval", "never", NULL};

/* `queue:` (tether.yaml(5)): bounds, overflow, TTL, the spool. */
static void load_queue(struct lctx *lc, struct cfg_conn *cc)
{
	tether_params *q;
	uint64_t v;
	int idx;
	const char *spool;

	tether_queue_cfg_defaults(&cc->q);
	q = tth_cfg_nested(cc->src, "queue", 0,
			   "a mapping {max_messages, max_bytes, overflow, "
			   "ttl, spool, fsync, fsync_interval, spool_max_bytes}");
	if (!q)
		return;
	cc->q_set = 1;
	if (tth_cfg_whole(q, "max_messages", cc->q.max_messages, 1, 100000000,
			  &v) == 0)
		cc->q.max_messages = (uint32_t)v;
	tether_params_size(q, "max_bytes", cc->q.max_bytes, 1, 1ull << 40,
			   &cc->q.max_bytes);
	if (tether_params_choice(q, "overflow", tth_cfg_overflows, 0, &idx,
				 NULL) == 0)
		cc->q.overflow = (enum tether_overflow)idx;
	tth_cfg_duration(q, "ttl", 0, 0, 365 * DAY_MS, &cc->q.ttl_ms);
	spool = tth_cfg_scalar(q, "spool", "a directory path");
	if (spool && !*spool)
		tth_params_add_error(q, "spool",
				     "expected a directory path, found an "
				     "empty string");
	else if (spool)
		cc->spool = tth_cfg_strdup(lc, spool);
	cc->q.spool_dir = cc->spool;
	if (tether_params_choice(q, "fsync", tth_cfg_fsyncs, 0, &idx, NULL) ==
	    0)
		cc->q.fsync = (enum tether_fsync)idx;
	tth_cfg_duration(q, "fsync_interval", cc->q.fsync_interval_ms, 1,
			 DAY_MS, &cc->q.fsync_interval_ms);
	tether_params_size(q, "spool_max_bytes", cc->q.spool_max_bytes, 4096,
			   1ull << 44, &cc->q.spool_max_bytes);
	tth_params_check_unknown(q, "queue");
}

static void load_conn(struct lctx *lc, struct cfg_conn *cc, tether_params *it)
{
	static const char *const transports[] = {"mqtt", "ws", NULL};
	tether_config *cfg = lc->cfg;
	const char *name, *tr;
	int idx;

	cc->src = it;
	memcpy(cc->timing, tth_cfg_timing_defaults, sizeof(cc->timing));
	name = tth_cfg_scalar(it, "name", "the connection's name");
	if (!tth_cfg_entry(it, "name"))
		tth_cfg_missing(it, "name", "the connection's name");
	for (size_t i = 0; name && cfg->conns + i < cc; i++) {
		if (cfg->conns[i].name &&
		    strcmp(cfg->conns[i].name, name) == 0) {
			tth_params_add_error(
			    it, "name",
			    "duplicate connection name '%s' (first at %s)",
			    name, tth_params_where(cfg->conns[i].src, "name"));
			cc->bad = 1;
			name = NULL;
		}
	}
	cc->name = tth_cfg_strdup(lc, name);
	tr = tth_cfg_scalar(it, "transport", "a transport (mqtt or ws)");
	if (!tth_cfg_entry(it, "transport"))
		tth_cfg_missing(it, "transport", "a transport (mqtt or ws)");
	if (tr && !tether_transport_lookup(tr)) {
		tether_params_choice(it, "transport", transports, 0, &idx,
				     NULL);
		tr = NULL;
	}
	cc->transport = tth_cfg_strdup(lc, tr);
	if (!cc->name || !cc->transport)
		cc->bad = 1;
	load_endpoints(lc, cc);
	tth_cfg_conn_policy(lc, cc);
	load_heartbeat(cc);
	for (int i = 0; i < CFG_TIMINGS; i++)
		tth_cfg_duration(it, tth_cfg_timing_keys[i],
				 tth_cfg_timing_defaults[i], i == 0 ? 1 : 0,
				 DAY_MS, &cc->timing[i]);
	tether_params_bool(it, "coordinated", 1, &cc->coordinated);
	load_classify(lc, cc);
	load_transport(lc, cc);
	load_queue(lc, cc);
	tth_params_check_unknown(it, "a connection");
}

void tth_cfg_load_connections(struct lctx *lc, tether_params *root)
{
	tether_params *seq =
	    tth_cfg_nested(root, "connections", 1, "a sequence of connections");
	tether_config *cfg = lc->cfg;

	if (!tth_cfg_entry(root, "connections"))
		tth_cfg_missing(root, "connections",
				"a sequence of connections");
	if (!seq)
		return;
	tth_params_mark_checked(seq);
	cfg->conns = calloc(seq->n ? seq->n : 1, sizeof(*cfg->conns));
	if (!cfg->conns) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < seq->n; i++) {
		tether_params *it = tth_cfg_nested(seq, seq->v[i].key, 0,
						   "a mapping (a connection)");

		if (it)
			load_conn(lc, &cfg->conns[cfg->nconns++], it);
	}
}

/* ---------------------------------------------------------------- free */

void tth_cfg_conn_free(struct cfg_conn *cc)
{
	free(cc->spool);
	free(cc->name);
	free(cc->transport);
	for (size_t i = 0; i < cc->nendpoints; i++)
		free(cc->endpoints[i]);
	free(cc->endpoints);
	free(cc->policy_ref);
	tether_params_free(cc->policy);
	free(cc->policy_desc);
	for (size_t i = 0; i < cc->nrules; i++) {
		free(cc->rules[i].key);
		free(cc->rules[i].cls);
	}
	free(cc->rules);
	for (size_t i = 0; i < cc->nopts; i++) {
		free(cc->opts[i].ykey);
		free(cc->opts[i].value);
		free(cc->opts[i].okey);
		if (cc->opts[i].secret)
			tether_secret_free(cc->opts[i].ovalue);
		else
			free(cc->opts[i].ovalue);
	}
	free(cc->opts);
	for (size_t i = 0; i < cc->nsubs; i++)
		free(cc->subs[i].topic);
	free(cc->subs);
}

/* Replace every secret of cfg found in text by "***" (belt and braces:
 * no message is built from a secret in the first place). */
void tth_cfg_scrub(const tether_config *cfg, char *text)
{
	for (size_t i = 0; text && i < cfg->nconns; i++)
		for (size_t j = 0; j < cfg->conns[i].nopts; j++) {
			const struct cfg_opt *o = &cfg->conns[i].opts[j];
			size_t l = o->ovalue ? strlen(o->ovalue) : 0;
			char *hit;

			if (!o->secret || l < 3)
				continue;
			while ((hit = strstr(text, o->ovalue)) != NULL) {
				memcpy(hit, "***", 3);
				memmove(hit + 3, hit + l, strlen(hit + l) + 1);
			}
		}
}

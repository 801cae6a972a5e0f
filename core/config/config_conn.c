/*
 * The connections of a configuration file (tether.yaml(5)): each entry of
 * `connections:` checked against the schema into a cfg_conn (endpoints,
 * policy, heartbeat, timings, classify, the transport's section and
 * `tls:`, both read from its option table), and
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
	struct cfg_opt *v = cc->opts, *o;

	/* the block holds the next power of two: linear over 40,000
	   headers */
	if ((cc->nopts & (cc->nopts - 1)) == 0) {
		v = realloc(v, (cc->nopts ? 2 * cc->nopts : 1) * sizeof(*v));
		if (!v) {
			lc->oom = 1;
			return NULL;
		}
		cc->opts = v;
	}
	o = &v[cc->nopts++];
	memset(o, 0, sizeof(*o));
	o->sec = sec;
	o->src = src;
	o->secret = secret;
	o->ykey = tth_cfg_strdup(lc, ykey);
	o->value = tth_cfg_strdup(lc, value);
	o->okey = tth_cfg_strdup(lc, okey);
	o->ovalue = tth_cfg_strdup(lc, ovalue);
	/* into the settings, located where it was written */
	if (cc->set_ok && o->okey && o->ovalue &&
	    tth_params_set_from(cc->set.opts, o->okey, o->ovalue, src, ykey))
		lc->oom = 1;
	return o;
}

/* ------------------------------------------------------------- secrets */

/* `<base>` inline is refused; `<base>_env` / `<base>_file` are read now. */
static void secret_opts(struct lctx *lc, struct cfg_conn *cc,
			enum cfg_section sec, tether_params *set,
			const struct tether_option *t)
{
	const char *base = t->name, *okey = t->name;
	struct cfg_opt *o;
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
		else if ((o = add_opt(lc, cc, sec, set, ek, env, okey, v, 1)))
			o->topt = t;
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
		if ((o = add_opt(lc, cc, sec, set, fk, file, okey, v, 1)))
			o->topt = t;
		tether_secret_free(v);
	}
}

/* --------------------------------------------------------- connections */

static void load_subs(struct lctx *lc, struct cfg_conn *cc, tether_params *set)
{
	tether_params *seq = tth_cfg_nested(
	    set, "subscriptions", 1,
	    "a sequence of {topic, qos, no_local, retain_as_published, "
	    "retain_handling}");

	if (!seq)
		return;
	tth_params_mark_checked(seq);
	for (size_t i = 0; i < seq->n; i++) {
		tether_params *s = tth_cfg_nested(seq, seq->v[i].key, 0,
						  "a mapping {topic, qos}");
		struct tether_subscription sub = {.size = sizeof(sub)};
		const char *topic;
		uint64_t qos, rh;

		if (!s)
			continue;
		topic = tth_cfg_scalar(s, "topic", "a topic filter");
		if (!tth_cfg_entry(s, "topic"))
			tth_cfg_missing(s, "topic", "a topic filter");
		tth_cfg_whole(s, "qos", 0, 0, 2, &qos);
		/* MQTT 5 subscription options; a 3.1.1 link refuses them at
		   run time with a SUBSCRIBE_FAILED event */
		tether_params_bool(s, "no_local", 0, &sub.no_local);
		tether_params_bool(s, "retain_as_published", 0,
				   &sub.retain_as_published);
		tth_cfg_whole(s, "retain_handling", 0, 0, 2, &rh);
		tth_params_check_unknown(s, "a subscription");
		sub.topic = topic;
		sub.qos = (int)qos;
		sub.retain_handling = (enum tether_retain_handling)rh;
		if (topic && *topic && cc->set_ok &&
		    tth_settings_subscribe(&cc->set, &sub) == TETHER_ENOMEM)
			lc->oom = 1;
	}
}

/* ----------------------------------------------- transport sections */

/*
 * A transport's sections come from its option table (transport.h): its
 * own (`yaml_section`), holding the options placed there, and `tls:`,
 * holding those placed there. Each value is checked against its entry
 * (type, range, choices) where it was written; what involves several
 * options is the transport's check() (tth_cfg_check_options).
 */

void tth_cfg_transport_names(char *buf, size_t len, const char *sep,
			     const char *last)
{
	const struct tether_transport_ops *t;
	size_t n = 0, used;

	buf[0] = '\0';
	while (tether_transport_at(n))
		n++;
	for (size_t i = 0; i < n && (t = tether_transport_at(i)); i++) {
		used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s",
			 i == 0 ? "" : i + 1 == n ? last : sep, t->name);
	}
}

/* One option of the table read from set (a section) as written, checked
 * against its entry (tether_params_option); kept only when it passes. */
static void table_opt(struct lctx *lc, struct cfg_conn *cc,
		      enum cfg_section sec, tether_params *set,
		      const struct tether_option *t)
{
	union tether_option_value v;
	struct tth_param *e;
	struct cfg_opt *o;

	if (t->secret) {
		secret_opts(lc, cc, sec, set, t);
		return;
	}
	if (t->type == TETHER_OPTION_TEXT) {
		/* any scalar; a mapping or a sequence is reported as such */
		if (!tth_cfg_scalar(set, t->name, "a value"))
			return;
	} else if (tether_params_option(set, t, t->name, &v) != 0) {
		return; /* t is the first entry of the table starting at t */
	}
	e = tth_cfg_entry(set, t->name);
	if (!e || !e->value)
		return;
	o = add_opt(lc, cc, sec, set, t->name, e->value, t->name, e->value, 0);
	if (o)
		o->topt = t;
}

/* A TETHER_OPTION_MAP: `<yaml_key>: {k: v}`, each "<name>.<k>". */
static void map_opt(struct lctx *lc, struct cfg_conn *cc, tether_params *set,
		    const struct tether_option *t)
{
	const char *ykey = t->yaml_key ? t->yaml_key : t->name;
	tether_params *h =
	    tth_cfg_nested(set, ykey, 0, "a mapping of names to values");

	for (size_t i = 0; h && i < h->n; i++) {
		const char *v = tth_cfg_scalar(h, h->v[i].key, "a text value");
		char okey[300];
		struct cfg_opt *o;

		snprintf(okey, sizeof(okey), "%s.%s", t->name, h->v[i].key);
		if (v && (o = add_opt(lc, cc, SEC_MAP, h, h->v[i].key, v, okey,
				      v, 0)))
			o->topt = t;
	}
	tth_params_mark_checked(h);
}

/* Whether another registered transport places key in `tls:`. */
static const char *tls_key_elsewhere(const struct tether_transport_ops *own,
				     const char *key)
{
	const struct tether_transport_ops *t;

	for (size_t i = 0; (t = tether_transport_at(i)); i++) {
		const struct tether_option *o = tether_transport_options(t);

		for (; t != own && o && o->name; o++)
			if (o->place == TETHER_OPTION_TLS &&
			    strcmp(o->name, key) == 0)
				return t->name;
	}
	return NULL;
}

/* Whether t places key in `tls:`. */
static int own_tls_key(const struct tether_transport_ops *t, const char *key)
{
	for (const struct tether_option *o = tether_transport_options(t);
	     o && o->name; o++)
		if (o->place == TETHER_OPTION_TLS && strcmp(o->name, key) == 0)
			return 1;
	return 0;
}

/* Whether some registered transport places key in `tls:`. */
static int tls_key(const struct tether_transport_ops *own, const char *key)
{
	return own_tls_key(own, key) || tls_key_elsewhere(own, key) != NULL;
}

/* key without a secret's "_env" (or, with strip_file, "_file") suffix, in
 * base (len bytes; a longer key is cut, and then matches no option). */
static void secret_base(const char *key, char *base, size_t len,
			int strip_file)
{
	size_t l = strlen(key), cut = l;

	if (l > 4 && strcmp(key + l - 4, "_env") == 0)
		cut = l - 4;
	else if (strip_file && l > 5 && strcmp(key + l - 5, "_file") == 0)
		cut = l - 5;
	snprintf(base, len, "%.*s", (int)(cut < len ? cut : len - 1), key);
}

/*
 * TLS settings written in a transport's section ("ws: {ca_file: ...}"):
 * they are shared by the transports and live in `tls:`; say so, rather
 * than "unknown key".
 */
static void misplaced_tls_keys(const struct tether_transport_ops *t,
			       tether_params *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const char *key = set->v[i].key;
		char base[64];

		if (set->v[i].known)
			continue;
		secret_base(key, base, sizeof(base), !tls_key(t, key));
		if (!tls_key(t, key) && !tls_key(t, base))
			continue;
		tth_params_ask(set, key);
		if (own_tls_key(t, key) || own_tls_key(t, base))
			tth_params_add_error(set, key,
					     "a TLS setting: write it in the "
					     "connection's tls: section (tls: "
					     "{%s: ...}), not in %s:",
					     key, tether_transport_section(t));
		else
			tth_params_add_error(set, key,
					     "a TLS setting (of the tls: "
					     "section), which transport '%s' "
					     "does not support",
					     t->name);
	}
}

static void load_section(struct lctx *lc, struct cfg_conn *cc,
			 const struct tether_transport_ops *t,
			 tether_params *set)
{
	char what[80];

	for (const struct tether_option *o = tether_transport_options(t);
	     o && o->name; o++) {
		if (o->place != TETHER_OPTION_SECTION)
			continue;
		if (o->type == TETHER_OPTION_MAP)
			map_opt(lc, cc, set, o);
		else
			table_opt(lc, cc, SEC_OWN, set, o);
	}
	/* subscriptions are the connection's (tether_conn_subscribe), in
	   the section of a transport that can subscribe */
	if (t->subscribe)
		load_subs(lc, cc, set);
	snprintf(what, sizeof(what), "the %s section",
		 tether_transport_section(t));
	misplaced_tls_keys(t, set);
	tth_params_check_unknown(set, what);
}

static void load_tls(struct lctx *lc, struct cfg_conn *cc,
		     const struct tether_transport_ops *own, tether_params *set)
{
	for (const struct tether_option *o = tether_transport_options(own);
	     o && o->name; o++)
		if (o->place == TETHER_OPTION_TLS)
			table_opt(lc, cc, SEC_TLS, set, o);
	for (size_t i = 0; i < set->n; i++) {
		const char *key = set->v[i].key;
		char base[64];

		if (set->v[i].known)
			continue;
		/* a secret of another transport: "<name>_env", "_file" */
		secret_base(key, base, sizeof(base), 1);
		if (!tls_key_elsewhere(own, key) &&
		    !tls_key_elsewhere(own, base))
			continue;
		tth_params_ask(set, key);
		if (own)
			tth_params_add_error(set, key,
					     "not supported by transport '%s'",
					     own->name);
	}
	tth_params_check_unknown(set, "the tls section");
}

static void load_transport(struct lctx *lc, struct cfg_conn *cc)
{
	const struct tether_transport_ops *own =
	    cc->transport ? tether_transport_lookup(cc->transport) : NULL;
	const struct tether_transport_ops *t;
	tether_params *set;
	char what[80];

	for (size_t i = 0; (t = tether_transport_at(i)); i++) {
		const char *key = tether_transport_section(t);

		if (!tether_transport_options(t))
			continue;
		snprintf(what, sizeof(what), "a mapping (the %s options)", key);
		set = tth_cfg_nested(cc->src, key, 0, what);
		if (!set)
			continue;
		/* an unknown transport (reported): its sections still load,
		   so their own mistakes are found too */
		if (own && own != t) {
			tth_params_add_error(cc->src, key,
					     "only for transport %s (this "
					     "connection's transport is '%s')",
					     t->name, cc->transport);
			tth_params_mark_checked(set);
			continue;
		}
		load_section(lc, cc, t, set);
	}
	snprintf(what, sizeof(what), "a mapping (the %s options)", "tls");
	set = tth_cfg_nested(cc->src, "tls", 0, what);
	if (set)
		load_tls(lc, cc, own, set);
}

static void load_heartbeat(struct cfg_conn *cc)
{
	tether_params *hb;
	uint64_t interval = 0, timeout, misses;

	const struct tether_transport_ops *t =
	    cc->transport ? tether_transport_lookup(cc->transport) : NULL;

	/* tether's heartbeat pings: a transport without ping keeps its
	   link alive itself (MQTT's keepalive) */
	if (t && !t->ping && tth_params_ask(cc->src, "heartbeat")) {
		struct tth_param *e = tth_cfg_entry(cc->src, "heartbeat");
		char hint[120] = "";

		for (const struct tether_option *o = tether_transport_options(t);
		     o && o->name; o++)
			if (strcmp(o->name, "keepalive") == 0)
				snprintf(hint, sizeof(hint),
					 " (set %s.keepalive)",
					 tether_transport_section(t));
		tth_params_add_error(cc->src, "heartbeat",
				     "not for transport %s: its protocol keeps "
				     "the link alive%s",
				     t->name, hint);
		tth_params_mark_checked(e->child);
		return;
	}
	hb = tth_cfg_nested(cc->src, "heartbeat", 0,
			    "a mapping {interval, timeout, misses}");
	if (!hb)
		return;
	cc->hb_set = 1;
	tth_cfg_duration(hb, "interval", 0, 0, DAY_MS, &interval);
	tth_cfg_duration(hb, "timeout", 5000, 1, 3600000, &timeout);
	tth_cfg_whole(hb, "misses", 2, 1, 100, &misses);
	tth_params_check_unknown(hb, "heartbeat");
	/* in range, so the value is accepted */
	if (cc->set_ok)
		tth_settings_set_heartbeat(&cc->set, interval, timeout,
					   (uint32_t)misses);
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
		if (cc->set_ok) {
			char err[300];
			int rc = tth_settings_classify(&cc->set, set->v[i].key,
						       cls, err, sizeof(err));

			if (rc == TETHER_ENOMEM)
				lc->oom = 1;
			else if (rc != 0)
				tth_params_add_error(set, set->v[i].key, "%s",
						     err[0] ? err
							    : tether_strerror(rc));
		}
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
	for (size_t i = 0; i < seq->n; i++) {
		const char *uri = tth_cfg_scalar(seq, seq->v[i].key, "a URI");
		char err[400];
		int rc;

		if (!uri) {
			cc->bad = 1;
			continue;
		}
		if (!cc->set_ok)
			continue;
		rc = tth_settings_add_endpoint(&cc->set, uri, err, sizeof(err));
		if (rc == TETHER_ENOMEM)
			lc->oom = 1;
		else if (rc != 0)
			tth_params_add_error(seq, seq->v[i].key,
					     "%s, found '%s'", err, uri);
	}
}

const char *const tth_cfg_overflows[] = {"drop_oldest", "drop_newest",
					 "reject", NULL};
const char *const tth_cfg_fsyncs[] = {"always", "interval", "never", NULL};

/* `queue:` (tether.yaml(5)): bounds, overflow, TTL, the spool. */
static void load_queue(struct lctx *lc, struct cfg_conn *cc)
{
	struct tether_queue_cfg qc;
	tether_params *q;
	uint64_t v;
	int idx, rc;
	const char *spool;

	tether_queue_cfg_defaults(&qc);
	q = tth_cfg_nested(cc->src, "queue", 0,
			   "a mapping {max_messages, max_bytes, overflow, "
			   "ttl, spool, fsync, fsync_interval, spool_max_bytes}");
	if (!q)
		return;
	cc->q_set = 1;
	if (tth_cfg_whole(q, "max_messages", qc.max_messages, 1, 100000000,
			  &v) == 0)
		qc.max_messages = (uint32_t)v;
	tether_params_size(q, "max_bytes", qc.max_bytes, 1, 1ull << 40,
			   &qc.max_bytes);
	if (tether_params_choice(q, "overflow", tth_cfg_overflows, 0, &idx,
				 NULL) == 0)
		qc.overflow = (enum tether_overflow)idx;
	tth_cfg_duration(q, "ttl", 0, 0, 365 * DAY_MS, &qc.ttl_ms);
	spool = tth_cfg_scalar(q, "spool", "a directory path");
	if (spool && !*spool)
		tth_params_add_error(q, "spool",
				     "expected a directory path, found an "
				     "empty string");
	else if (spool)
		qc.spool_dir = spool;
	if (tether_params_choice(q, "fsync", tth_cfg_fsyncs, 0, &idx, NULL) ==
	    0)
		qc.fsync = (enum tether_fsync)idx;
	tth_cfg_duration(q, "fsync_interval", qc.fsync_interval_ms, 1,
			 DAY_MS, &qc.fsync_interval_ms);
	tether_params_size(q, "spool_max_bytes", qc.spool_max_bytes, 4096,
			   1ull << 44, &qc.spool_max_bytes);
	tth_params_check_unknown(q, "queue");
	if (!cc->set_ok)
		return;
	rc = tth_settings_set_queue(&cc->set, &qc);
	if (rc == TETHER_ENOMEM)
		lc->oom = 1;
	else if (rc != 0)
		tth_params_add_error(cc->src, "queue", "%s",
				     tether_strerror(rc));
}

/* `inbound:` (tether.yaml(5)): the bound on received messages held for
   the application (tether_conn_set_inbound). */
static void load_inbound(struct cfg_conn *cc)
{
	tether_params *q;
	uint64_t msgs = TETHER_INBOUND_DEFAULT_MESSAGES;
	uint64_t bytes = TETHER_INBOUND_DEFAULT_BYTES;

	q = tth_cfg_nested(cc->src, "inbound", 0,
			   "a mapping {max_messages, max_bytes}");
	if (!q)
		return;
	tth_cfg_whole(q, "max_messages", msgs, 1, 100000000, &msgs);
	tether_params_size(q, "max_bytes", bytes, 1, 1ull << 40, &bytes);
	tth_params_check_unknown(q, "inbound");
	if (!cc->set_ok)
		return;
	cc->set.in_max_messages = (uint32_t)msgs;
	cc->set.in_max_bytes = bytes;
}

/* "expected one of mqtt, ws, found 'wss' (did you mean 'ws'?)": the
 * registered transports are the choices. */
static void unknown_transport(tether_params *it)
{
	const struct tether_transport_ops *t;
	const char *names[65];
	size_t n = 0;
	int idx;

	while (n < 64 && (t = tether_transport_at(n)) != NULL)
		names[n++] = t->name;
	names[n] = NULL;
	tether_params_choice(it, "transport", names, 0, &idx, NULL);
}

static void load_conn(struct lctx *lc, struct cfg_conn *cc, tether_params *it)
{
	tether_config *cfg = lc->cfg;
	const char *name, *tr;
	char names[300], what[340];
	int coordinated;

	cc->src = it;
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
	tth_cfg_transport_names(names, sizeof(names), ", ", " or ");
	snprintf(what, sizeof(what), "a transport (%s)", names);
	tr = tth_cfg_scalar(it, "transport", what);
	if (!tth_cfg_entry(it, "transport"))
		tth_cfg_missing(it, "transport", what);
	if (tr && !tether_transport_lookup(tr)) {
		unknown_transport(it);
		tr = NULL;
	}
	cc->transport = tth_cfg_strdup(lc, tr);
	if (!cc->name || !cc->transport)
		cc->bad = 1;
	/* the settings value, filled as the file is read */
	if (tr) {
		if (tth_settings_init(&cc->set, tether_transport_lookup(tr)))
			lc->oom = 1;
		else
			cc->set_ok = 1;
	}
	load_endpoints(lc, cc);
	tth_cfg_conn_policy(lc, cc);
	if (cc->set_ok && cc->policy &&
	    tth_settings_set_policy(&cc->set, cc->policy) != 0)
		lc->oom = 1;
	load_heartbeat(cc);
	for (int i = 0; i < CFG_TIMINGS; i++) {
		uint64_t ms;

		/* known keys, in range: accepted */
		if (tth_cfg_duration(it, tth_cfg_timing_keys[i],
				     tth_cfg_timing_defaults[i], i == 0 ? 1 : 0,
				     DAY_MS, &ms) == 0 &&
		    cc->set_ok)
			tth_settings_set_timing(&cc->set, tth_cfg_timing_keys[i],
						ms, NULL, 0);
	}
	if (tether_params_bool(it, "coordinated", 1, &coordinated) == 0)
		cc->set.uncoordinated = !coordinated;
	load_classify(lc, cc);
	load_transport(lc, cc);
	load_queue(lc, cc);
	load_inbound(cc);
	tth_params_check_unknown(it, "a connection");
	if (!cc->bad && cc->set_ok)
		tth_cfg_check_options(lc, cc);
}

/* Where cc wrote its client_id, and its value; NULL when it has none
 * (the default, "tether-<name>", differs from connection to connection). */
static const struct cfg_opt *client_id_of(const struct cfg_conn *cc)
{
	for (size_t i = 0; i < cc->nopts; i++)
		if (strcmp(cc->opts[i].okey, "client_id") == 0)
			return &cc->opts[i];
	return NULL;
}

/* "host:port" of uri, with the scheme's default port when it has none
 * (the transport's table); "" when it cannot tell. */
static void server_key(const struct tether_transport_ops *t, const char *uri,
		       char *key, size_t len)
{
	const char *h = strstr(uri, "://"), *end, *colon;
	size_t hl;

	key[0] = '\0';
	if (!h)
		return;
	h += 3;
	end = h + strcspn(h, "/?#");
	colon = *h == '[' ? strstr(h, "]:") : strchr(h, ':');
	if (colon && colon < end) {
		if (*h == '[')
			colon++;
		snprintf(key, len, "%.*s", (int)(end - h), h);
		return;
	}
	hl = (size_t)(end - h);
	snprintf(key, len, "%.*s:%u", (int)hl, h,
		 tether_transport_default_port(t, uri,
					       (size_t)(strstr(uri, "://") -
							uri)));
}

/* Whether a and b have an endpoint on the same server. */
static int share_server(const struct cfg_conn *a, const struct cfg_conn *b)
{
	char ka[300], kb[300];

	for (uint32_t i = 0; i < a->set.n_endpoints; i++) {
		server_key(a->set.tops, a->set.endpoints[i], ka, sizeof(ka));
		for (uint32_t j = 0; ka[0] && j < b->set.n_endpoints; j++) {
			server_key(b->set.tops, b->set.endpoints[j], kb,
				   sizeof(kb));
			if (strcmp(ka, kb) == 0)
				return 1;
		}
	}
	return 0;
}

/* Two connections of one transport with one client id on one server take
 * the session from each other: the later one is warned about. */
static void warn_client_ids(struct lctx *lc)
{
	const tether_config *cfg = lc->cfg;

	for (size_t i = 0; i < cfg->nconns; i++) {
		const struct cfg_conn *b = &cfg->conns[i];
		const struct cfg_opt *ob = client_id_of(b);

		for (size_t j = 0; ob && j < i; j++) {
			const struct cfg_conn *a = &cfg->conns[j];
			const struct cfg_opt *oa = client_id_of(a);

			if (!oa || !a->set_ok || !b->set_ok ||
			    a->set.tops != b->set.tops ||
			    strcmp(oa->ovalue, ob->ovalue) != 0 ||
			    !share_server(a, b))
				continue;
			warn(lc, ob->src, ob->ykey,
			     "'%s' is also the client id of connection '%s' "
			     "(%s): a broker lets one of them in at a time, "
			     "and they take the session from each other",
			     ob->ovalue, a->name ? a->name : "?",
			     tth_params_where(oa->src, oa->ykey));
			break;
		}
	}
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
	warn_client_ids(lc);
}

/* ---------------------------------------------------------------- free */

void tth_cfg_conn_free(struct cfg_conn *cc)
{
	if (cc->set_ok)
		tth_settings_cleanup(&cc->set);
	free(cc->name);
	free(cc->transport);
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

/*
 * tether_config_dump: the effective configuration as YAML that loads
 * again to the same configuration (and the same dump). Defaults are
 * written out; secrets never are (only where they come from), and header
 * values that look like credentials are masked.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-int.h"
#include "params-int.h"

static void scalar(FILE *f, const char *s)
{
	int plain = *s && *s != '-' && *s != '.';

	for (const char *p = s; *p && plain; p++)
		plain = isalnum((unsigned char)*p) || strchr("_./-", *p);
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* A parameter set as a flow mapping (a policy without `describe`). */
static void flow_params(FILE *f, const tether_params *p)
{
	fputc('{', f);
	for (size_t i = 0; i < p->n; i++) {
		fprintf(f, "%s", i ? ", " : "");
		scalar(f, p->v[i].key);
		fputs(": ", f);
		if (p->v[i].child)
			flow_params(f, p->v[i].child);
		else
			scalar(f, p->v[i].value);
	}
	fputc('}', f);
}

struct kv {
	char *k, *v;
};

/* Pairs whose key starts with prefix, as a flow mapping; dotted keys
 * ("inner.initial") become nested mappings. */
static void flow_pairs(FILE *f, const struct kv *v, size_t n,
		       const char *prefix, const char *inner_ref)
{
	size_t pl = strlen(prefix);
	const char *last = NULL;
	size_t lastlen = 0;
	int first = 1;

	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		const char *k = v[i].k, *dot;
		size_t seg;

		if (strncmp(k, prefix, pl) != 0)
			continue;
		k += pl;
		dot = strchr(k, '.');
		seg = dot ? (size_t)(dot - k) : strlen(k);
		if (last && seg == lastlen && strncmp(k, last, seg) == 0)
			continue;
		last = k;
		lastlen = seg;
		fprintf(f, "%s%.*s: ", first ? "" : ", ", (int)seg, k);
		first = 0;
		if (!dot) {
			scalar(f, v[i].v);
		} else if (!pl && inner_ref && strncmp(k, "inner.", 6) == 0) {
			scalar(f, inner_ref);
		} else {
			char sub[256];

			snprintf(sub, sizeof(sub), "%s%.*s.", prefix,
				 (int)seg, k);
			flow_pairs(f, v, n, sub, NULL);
		}
	}
	fputc('}', f);
}

/* "type k=v a.b=c" (tether_policy_describe) as a flow mapping. */
static void flow_policy(FILE *f, const char *desc, const char *inner_ref,
			const tether_params *set)
{
	struct kv v[64];
	size_t n = 0;
	char *copy = strdup(desc), *tok, *save = NULL;

	if (!copy || !strchr(desc, '=')) {
		flow_params(f, set);
		free(copy);
		return;
	}
	for (tok = strtok_r(copy, " ", &save); tok && n < 64;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (tok == copy) {
			v[n++] = (struct kv){"type", tok};
		} else if (eq) {
			*eq = '\0';
			v[n++] = (struct kv){tok, eq + 1};
		}
	}
	flow_pairs(f, v, n, "", inner_ref);
	free(copy);
}

static const struct cfg_opt *opt(const struct cfg_conn *cc,
				 enum cfg_section sec, const char *ykey)
{
	for (size_t i = 0; i < cc->nopts; i++)
		if (cc->opts[i].sec == sec &&
		    strcmp(cc->opts[i].ykey, ykey) == 0)
			return &cc->opts[i];
	return NULL;
}

struct dkey {
	const char *key, *def;
};

static void section(FILE *f, const struct cfg_conn *cc, enum cfg_section sec,
		    const struct dkey *keys)
{
	for (size_t i = 0; keys[i].key; i++) {
		const struct cfg_opt *o = opt(cc, sec, keys[i].key);
		char def[300];

		if (!o && !keys[i].def)
			continue;
		fprintf(f, "      %s: ", keys[i].key);
		if (o) {
			scalar(f, o->value);
		} else if (strcmp(keys[i].def, "@id") == 0) {
			snprintf(def, sizeof(def), "tether-%s", cc->name);
			scalar(f, def);
		} else {
			scalar(f, keys[i].def);
		}
		fputc('\n', f);
	}
}

static int credential_header(const char *name)
{
	static const char *const words[] = {"auth", "token", "secret", "key",
					    "password", "cookie", NULL};

	for (size_t i = 0; words[i]; i++)
		for (const char *p = name; *p; p++)
			if (strncasecmp(p, words[i], strlen(words[i])) == 0)
				return 1;
	return 0;
}

static const struct dkey mqtt_dkeys[] = {
    {"version", "3.1.1"},   {"client_id", "@id"}, {"clean_start", "true"},
    {"keepalive", "30s"},   {"session_expiry", NULL},
    {"username", NULL},     {"password_env", NULL},
    {"password_file", NULL}, {NULL, NULL}};
static const struct dkey ws_dkeys[] = {{"subprotocol", NULL},
				       {"origin", NULL},
				       {"max_message", "1MiB"},
				       {NULL, NULL}};
static const struct dkey tls_dkeys[] = {
    {"ca_file", NULL},		{"ca_dir", NULL},
    {"cert_file", NULL},	{"key_file", NULL},
    {"key_password_env", NULL}, {"key_password_file", NULL},
    {"verify", "true"},		{NULL, NULL}};

static void dump_queue(FILE *f, const struct tether_queue_cfg *q)
{
	char b[32], t[32];

	tth_fmt_size(b, sizeof(b), q->max_bytes);
	tether_duration_format(q->ttl_ms, t, sizeof(t));
	fprintf(f, "    queue:\n      max_messages: %u\n      max_bytes: %s\n"
		   "      overflow: %s\n      ttl: %s\n",
		(unsigned)q->max_messages, b, tth_cfg_overflows[q->overflow], t);
	if (!q->spool_dir)
		return;
	fputs("      spool: ", f);
	scalar(f, q->spool_dir);
	tth_fmt_size(b, sizeof(b), q->spool_max_bytes);
	tether_duration_format(q->fsync_interval_ms, t, sizeof(t));
	fprintf(f, "\n      fsync: %s\n      fsync_interval: %s\n"
		   "      spool_max_bytes: %s\n",
		tth_cfg_fsyncs[q->fsync], t, b);
}

static void dump_conn(FILE *f, const tether_config *cfg,
		      const struct cfg_conn *cc)
{
	char d[32], i2[32], t2[32];
	int is_mqtt = strcmp(cc->transport, "mqtt") == 0;
	int is_ws = strcmp(cc->transport, "ws") == 0;

	(void)cfg;
	fputs("  - name: ", f);
	scalar(f, cc->name);
	fputs("\n    transport: ", f);
	scalar(f, cc->transport);
	fputs("\n    endpoints:\n", f);
	for (size_t i = 0; i < cc->nendpoints; i++) {
		fputs("      - ", f);
		scalar(f, cc->endpoints[i]);
		fputc('\n', f);
	}
	fputs("    policy: ", f);
	if (cc->policy_ref)
		scalar(f, cc->policy_ref);
	else
		flow_policy(f, cc->policy_desc, NULL, cc->policy);
	fputc('\n', f);
	for (int i = 0; i < CFG_TIMINGS; i++) {
		tether_duration_format(cc->timing[i], d, sizeof(d));
		fprintf(f, "    %s: %s\n", tth_cfg_timing_keys[i], d);
	}
	fprintf(f, "    coordinated: %s\n", cc->coordinated ? "true" : "false");
	if (!is_mqtt) {
		tether_duration_format(cc->hb_interval, i2, sizeof(i2));
		tether_duration_format(cc->hb_timeout, t2, sizeof(t2));
		fprintf(f,
			"    heartbeat: {interval: %s, timeout: %s, misses: "
			"%u}\n",
			i2, t2, (unsigned)cc->hb_misses);
	}
	fputs("    classify: {", f);
	for (size_t i = 0; i < cc->nrules; i++) {
		fputs(i ? ", " : "", f);
		scalar(f, cc->rules[i].key);
		fputs(": ", f);
		scalar(f, cc->rules[i].cls);
	}
	fputs("}\n", f);
	dump_queue(f, &cc->q);
	if (is_mqtt) {
		fputs("    mqtt:\n", f);
		section(f, cc, SEC_MQTT, mqtt_dkeys);
		fputs("      subscriptions:", f);
		if (!cc->nsubs)
			fputs(" []", f);
		fputc('\n', f);
		for (size_t i = 0; i < cc->nsubs; i++) {
			fputs("        - {topic: ", f);
			scalar(f, cc->subs[i].topic);
			fprintf(f, ", qos: %d}\n", cc->subs[i].qos);
		}
	}
	if (is_ws) {
		int any = 0;

		fputs("    ws:\n", f);
		section(f, cc, SEC_WS, ws_dkeys);
		fputs("      headers: {", f);
		for (size_t i = 0; i < cc->nopts; i++) {
			const struct cfg_opt *o = &cc->opts[i];

			if (o->sec != SEC_HEADERS)
				continue;
			fputs(any++ ? ", " : "", f);
			scalar(f, o->ykey);
			fputs(": ", f);
			scalar(f, credential_header(o->ykey) ? "***"
							     : o->value);
		}
		fputs("}\n", f);
	}
	fputs("    tls:\n", f);
	section(f, cc, SEC_TLS, tls_dkeys);
}

TETHER_EXPORT char *tether_config_dump(const tether_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!cfg)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("# effective configuration: defaults filled in, secrets "
	      "masked\n",
	      f);
	fputs("version: 1\nlimits:\n", f);
	fprintf(f, "  connects_per_second: %g\n", cfg->rate);
	fprintf(f, "  burst: %llu\n", (unsigned long long)cfg->burst);
	fprintf(f, "  max_connecting: %llu\n",
		(unsigned long long)cfg->max_connecting);
	fputs(cfg->npols ? "policies:\n" : "policies: {}\n", f);
	for (size_t i = 0; i < cfg->npols; i++) {
		fputs("  ", f);
		scalar(f, cfg->pols[i].name);
		fputs(": ", f);
		flow_policy(f, cfg->pols[i].desc, cfg->pols[i].inner_ref,
			    cfg->pols[i].set);
		fputc('\n', f);
	}
	fputs(cfg->nconns ? "connections:\n" : "connections: []\n", f);
	for (size_t i = 0; i < cfg->nconns; i++)
		dump_conn(f, cfg, &cfg->conns[i]);
	fprintf(f, "log: {format: %s, level: %s}\n",
		tth_cfg_log_formats[cfg->log_format],
		tth_cfg_log_levels[cfg->log_level]);
	if (cfg->metrics_listen) {
		fputs("metrics: {listen: ", f);
		scalar(f, cfg->metrics_listen);
		fputs("}\n", f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

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

/* A section being written: its "    name:" line comes before its first
 * key, and "    name: {}" stands for one with none. */
struct sec_out {
	FILE *f;
	const char *name;
	int open;
};

static void sec_open(struct sec_out *so)
{
	if (!so->open++)
		fprintf(so->f, "    %s:\n", so->name);
}

static void sec_close(struct sec_out *so)
{
	if (!so->open)
		fprintf(so->f, "    %s: {}\n", so->name);
}

/* "tether-${name}" -> "tether-gw" */
static void dump_default(FILE *f, const struct cfg_conn *cc, const char *def)
{
	const char *var = strstr(def, "${name}");
	char buf[300];

	if (!var) {
		scalar(f, def);
		return;
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(var - def), def, cc->name,
		 var + 7);
	scalar(f, buf);
}

/* "      key: value" as written, else the default, else nothing. */
static void section_key(struct sec_out *so, const struct cfg_conn *cc,
			enum cfg_section sec, const char *key, const char *def)
{
	const struct cfg_opt *o = opt(cc, sec, key);

	if (!o && !def)
		return;
	sec_open(so);
	fprintf(so->f, "      %s: ", key);
	if (o)
		scalar(so->f, o->value);
	else
		dump_default(so->f, cc, def);
	fputc('\n', so->f);
}

/* A mapping option; a value is "***" when the option is a secret or its
 * key looks like a credential ("Authorization: Bearer ..."). */
static void dump_map(struct sec_out *so, const struct cfg_conn *cc,
		     const struct tether_option *t)
{
	FILE *f = so->f;
	int any = 0;

	sec_open(so);
	fprintf(f, "      %s: {", t->yaml_key ? t->yaml_key : t->name);
	for (size_t i = 0; i < cc->nopts; i++) {
		const struct cfg_opt *o = &cc->opts[i];

		if (o->sec != SEC_MAP || o->topt != t)
			continue;
		fputs(any++ ? ", " : "", f);
		scalar(f, o->ykey);
		fputs(": ", f);
		scalar(f, t->secret || credential_header(o->ykey) ? "***"
								   : o->value);
	}
	fputs("}\n", f);
}

/* The options of table placed at place, in the table's order: as written,
 * else the default; a secret only as where it comes from. */
static void dump_options(struct sec_out *so, const struct cfg_conn *cc,
			 const struct tether_option *table,
			 enum tether_option_place place)
{
	enum cfg_section sec = place == TETHER_OPTION_TLS ? SEC_TLS : SEC_OWN;

	for (const struct tether_option *t = table; t && t->name; t++) {
		char k[80];

		if (t->place != place)
			continue;
		if (t->type == TETHER_OPTION_MAP) {
			dump_map(so, cc, t);
		} else if (t->secret) {
			snprintf(k, sizeof(k), "%s_env", t->name);
			section_key(so, cc, sec, k, NULL);
			snprintf(k, sizeof(k), "%s_file", t->name);
			section_key(so, cc, sec, k, NULL);
		} else {
			section_key(so, cc, sec, t->name, t->def);
		}
	}
}

/* Whether table places an option at place. */
static int has_place(const struct tether_option *table,
		     enum tether_option_place place)
{
	for (const struct tether_option *t = table; t && t->name; t++)
		if (t->place == place)
			return 1;
	return 0;
}

static void dump_subs(FILE *f, const struct cfg_conn *cc)
{
	fputs("      subscriptions:", f);
	if (!cc->set.nsubs)
		fputs(" []", f);
	fputc('\n', f);
	for (size_t i = 0; i < cc->set.nsubs; i++) {
		fputs("        - {topic: ", f);
		scalar(f, cc->set.subs[i].topic);
		fprintf(f, ", qos: %d", cc->set.subs[i].qos);
		if (tth_sub_has_options(&cc->set.subs[i]))
			fprintf(f,
				", no_local: %s, retain_as_published: %s, "
				"retain_handling: %d",
				cc->set.subs[i].no_local ? "true" : "false",
				cc->set.subs[i].retain_as_published ? "true"
								    : "false",
				cc->set.subs[i].retain_handling);
		fputs("}\n", f);
	}
}

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
	const struct tether_transport_ops *t =
	    tether_transport_lookup(cc->transport);
	const struct tether_option *table = tether_transport_options(t);

	(void)cfg;
	fputs("  - name: ", f);
	scalar(f, cc->name);
	fputs("\n    transport: ", f);
	scalar(f, cc->transport);
	fputs("\n    endpoints:\n", f);
	for (size_t i = 0; i < cc->set.n_endpoints; i++) {
		fputs("      - ", f);
		scalar(f, cc->set.endpoints[i]);
		fputc('\n', f);
	}
	fputs("    policy: ", f);
	if (cc->policy_ref)
		scalar(f, cc->policy_ref);
	else
		flow_policy(f, cc->policy_desc, NULL, cc->policy);
	fputc('\n', f);
	for (int i = 0; i < CFG_TIMINGS; i++) {
		tether_duration_format(
		    tth_settings_timing(&cc->set, tth_cfg_timing_keys[i]), d,
		    sizeof(d));
		fprintf(f, "    %s: %s\n", tth_cfg_timing_keys[i], d);
	}
	fprintf(f, "    coordinated: %s\n", cc->set.uncoordinated ? "false" : "true");
	if (!t || t->ping) { /* else its protocol keeps the link alive */
		/* not written: off, the rest the defaults */
		tether_duration_format(cc->set.hb_interval, i2, sizeof(i2));
		tether_duration_format(cc->hb_set ? cc->set.hb_timeout : 5000,
				       t2, sizeof(t2));
		fprintf(f,
			"    heartbeat: {interval: %s, timeout: %s, misses: "
			"%u}\n",
			i2, t2, cc->hb_set ? (unsigned)cc->set.hb_misses : 2);
	}
	fputs("    classify: {", f);
	for (size_t i = 0; i < cc->nrules; i++) {
		fputs(i ? ", " : "", f);
		scalar(f, cc->rules[i].key);
		fputs(": ", f);
		scalar(f, cc->rules[i].cls);
	}
	fputs("}\n", f);
	dump_queue(f, &cc->set.qcfg);
	{
		char b[32];

		tth_fmt_size(b, sizeof(b), cc->set.in_max_bytes);
		fprintf(f, "    inbound: {max_messages: %u, max_bytes: %s}\n",
			(unsigned)cc->set.in_max_messages, b);
	}
	if (table) {
		struct sec_out so = {f, tether_transport_section(t), 0};

		dump_options(&so, cc, table, TETHER_OPTION_SECTION);
		if (t->subscribe) {
			sec_open(&so);
			dump_subs(f, cc);
		}
		sec_close(&so);
	}
	if (has_place(table, TETHER_OPTION_TLS)) {
		struct sec_out so = {f, "tls", 0};

		dump_options(&so, cc, table, TETHER_OPTION_TLS);
		sec_close(&so);
	}
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

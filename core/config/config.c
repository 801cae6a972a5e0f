/*
 * The configuration file (tether.yaml(5)): load it into a tether_params tree
 * (params_yaml.c), check every key against the schema with the params
 * getters (so every error has its file:line:column, its key path and a
 * "did you mean"), resolve named policies, load the connections and read
 * their secrets into each connection's settings value, through the
 * settings' own checked setters and the transports' option tables and
 * check() (config_conn.c, config_apply.c). Nothing starts. A file that
 * loads can therefore be applied to a real manager without surprises.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config-int.h"
#include "params-int.h"
#include "registry-int.h"

const char *const tth_cfg_timing_keys[CFG_TIMINGS] = {
    "connect_timeout", "close_timeout", "stable_after", "overload_floor",
    "failback_after", "probe_interval", "flap_window", "retry_after_max"};
const uint64_t tth_cfg_timing_defaults[CFG_TIMINGS] = {
    10000, 2000, 5000, 5000, 0, 1000, 10000, 60000};


/* ------------------------------------------------------------- helpers */

struct tth_param *tth_cfg_entry(tether_params *p, const char *key)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}

static int is_seq(const tether_params *s)
{
	return s && s->is_seq;
}

static const char *found(const struct tth_param *e, char *buf, size_t len)
{
	if (e->value) {
		snprintf(buf, len, "'%s'", e->value);
		return buf;
	}
	return is_seq(e->child) ? "a sequence" : "a mapping";
}

const char *tth_cfg_scalar(tether_params *p, const char *key, const char *what)
{
	struct tth_param *e = tth_params_ask(p, key);
	char fb[300];

	if (!e)
		return NULL;
	if (e->value)
		return e->value;
	tth_params_add_error(p, key, "expected %s, found %s", what,
			     found(e, fb, sizeof(fb)));
	if (e->child)
		tth_params_mark_checked(e->child);
	return NULL;
}

tether_params *tth_cfg_nested(tether_params *p, const char *key, int want_seq,
			      const char *what)
{
	struct tth_param *e = tth_params_ask(p, key);
	char fb[300];

	if (!e)
		return NULL;
	if (e->child && is_seq(e->child) == want_seq)
		return e->child;
	tth_params_add_error(p, key, "expected %s, found %s", what,
			     found(e, fb, sizeof(fb)));
	if (e->child)
		tth_params_mark_checked(e->child);
	return NULL;
}

/* Whether key is absent or a scalar; a nested value is recorded. */
static int plain(tether_params *p, const char *key, const char *what)
{
	struct tth_param *e = tth_params_ask(p, key);

	if (!e || e->value)
		return 1;
	tth_cfg_scalar(p, key, what);
	return 0;
}

void tth_cfg_missing(tether_params *p, const char *key, const char *what)
{
	tth_params_ask(p, key);
	tth_params_add_error(p, key, "missing, expected %s", what);
}

int tth_cfg_duration(tether_params *p, const char *key, uint64_t def,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	*out = def;
	if (!plain(p, key, "a duration such as 250ms, 10s, 5m or 1h"))
		return TETHER_ECONFIG;
	return tether_params_duration(p, key, def, min, max, out);
}

int tth_cfg_whole(tether_params *p, const char *key, uint64_t def, uint64_t min,
		  uint64_t max, uint64_t *out)
{
	*out = def;
	if (!plain(p, key, "a whole number"))
		return TETHER_ECONFIG;
	return tether_params_uint(p, key, def, min, max, out);
}

char *tth_cfg_strdup(struct lctx *lc, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		lc->oom = 1;
	return d;
}

/* ------------------------------------------------------------ policies */

static struct cfg_policy *find_policy(tether_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->npols; i++)
		if (strcmp(cfg->pols[i].name, name) == 0)
			return &cfg->pols[i];
	return NULL;
}

static void policy_names(const tether_config *cfg, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->npols && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? ", " : "", cfg->pols[i].name);
	if (!cfg->npols)
		snprintf(buf, len, "none defined");
}

static const char *near_policy(const tether_config *cfg, const char *name)
{
	const char *best = NULL;
	int bestd = 3;

	for (size_t i = 0; i < cfg->npols; i++) {
		int d = tth_edit_distance(name, cfg->pols[i].name, 2);

		if (d < bestd) {
			bestd = d;
			best = cfg->pols[i].name;
		}
	}
	return best ? best : tth_policy_suggest(name);
}

static void unknown_policy(struct lctx *lc, tether_params *p, const char *key,
			   const char *name)
{
	char names[256], types[256];
	const char *near = near_policy(lc->cfg, name);

	policy_names(lc->cfg, names, sizeof(names));
	tth_policy_names(types, sizeof(types));
	if (near)
		tth_params_add_error(
		    p, key,
		    "expected a name from policies: (%s), a policy type (%s) "
		    "or a mapping, found '%s' (did you mean '%s'?)",
		    names, types, name, near);
	else
		tth_params_add_error(
		    p, key,
		    "expected a name from policies: (%s), a policy type (%s) "
		    "or a mapping, found '%s'",
		    names, types, name);
}

static int resolve_named(struct lctx *lc, struct cfg_policy *pol,
			 tether_params *from, const char *key);

/* Replace `inner: NAME` (at any depth) by a copy of policies.NAME. */
static int resolve_set(struct lctx *lc, tether_params *set)
{
	struct tth_param *e = tth_cfg_entry(set, "inner");
	struct cfg_policy *ref;
	tether_params *copy;

	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].child && is_seq(set->v[i].child)) {
			tth_params_add_error(
			    set, set->v[i].key,
			    "expected a value or a mapping, found a sequence");
			tth_params_mark_checked(set);
			return -1;
		}
	if (!e)
		return 0;
	if (e->child)
		return resolve_set(lc, e->child);
	ref = find_policy(lc->cfg, e->value);
	if (!ref) {
		if (tether_policy_lookup(e->value))
			return 0;
		unknown_policy(lc, set, "inner", e->value);
		tth_params_mark_checked(set);
		return -1;
	}
	if (resolve_named(lc, ref, set, "inner") < 0) {
		tth_params_mark_checked(set);
		return -1;
	}
	copy = tether_params_dup(ref->set);
	if (!copy || tether_params_set_child(set, "inner", copy) != 0) {
		lc->oom = 1;
		return -1;
	}
	return 0;
}

/* Create the policy once: checks it, and gives its effective settings. */
static int describe(struct lctx *lc, tether_params *set, char **out)
{
	tether_policy *pol = NULL;
	int rc, n;

	rc = tether_policy_new(set, &pol, NULL, 0);
	if (rc == TETHER_ENOMEM)
		lc->oom = 1;
	if (rc != 0)
		return -1;
	n = tether_policy_describe(pol, NULL, 0);
	*out = malloc((size_t)n + 1);
	if (*out)
		tether_policy_describe(pol, *out, (size_t)n + 1);
	else
		lc->oom = 1;
	tether_policy_free(pol);
	return *out ? 0 : -1;
}

static int resolve_named(struct lctx *lc, struct cfg_policy *pol,
			 tether_params *from, const char *key)
{
	struct tth_param *e;

	if (pol->state == 1) {
		char cycle[512] = "";
		size_t used = 0, i = 0;

		while (i < lc->nchain && strcmp(lc->chain[i], pol->name) != 0)
			i++;
		for (; i < lc->nchain && used < sizeof(cycle); i++)
			used += (size_t)snprintf(cycle + used,
						 sizeof(cycle) - used, "%s -> ",
						 lc->chain[i]);
		tth_params_add_error(from, key,
				     "policy references make a cycle: %s%s",
				     cycle, pol->name);
		return -1;
	}
	if (pol->state >= 2)
		return pol->state == 2 ? 0 : -1;
	if (lc->nchain == sizeof(lc->chain) / sizeof(lc->chain[0])) {
		tth_params_add_error(from, key, "policy references nested "
						"too deeply");
		return -1;
	}
	lc->chain[lc->nchain++] = pol->name;
	pol->state = 1;
	e = tth_cfg_entry(pol->set, "inner");
	if (e && e->value && find_policy(lc->cfg, e->value)) {
		pol->inner_ref = tth_cfg_strdup(lc, e->value);
	}
	pol->state = resolve_set(lc, pol->set) < 0 ||
			     describe(lc, pol->set, &pol->desc) < 0
			 ? 3
			 : 2;
	lc->nchain--;
	return pol->state == 2 ? 0 : -1;
}

static void load_policies(struct lctx *lc, tether_params *root)
{
	tether_params *ps = tth_cfg_nested(
	    root, "policies", 0, "a mapping of policy names to policies");
	tether_config *cfg = lc->cfg;

	if (!ps)
		return;
	tth_params_mark_checked(ps);
	cfg->pols = calloc(ps->n ? ps->n : 1, sizeof(*cfg->pols));
	if (!cfg->pols) {
		lc->oom = 1;
		return;
	}
	for (size_t i = 0; i < ps->n; i++) {
		struct tth_param *e = &ps->v[i];
		struct cfg_policy *pol = &cfg->pols[cfg->npols++];
		char fb[300];

		tth_params_ask(ps, e->key);
		pol->name = tth_cfg_strdup(lc, e->key);
		pol->set = e->child;
		if (!e->child || is_seq(e->child)) {
			tth_params_add_error(
			    ps, e->key,
			    "expected a policy mapping such as {type: "
			    "exponential, initial: 1s}, found %s",
			    found(e, fb, sizeof(fb)));
			pol->set = NULL;
			pol->state = 3;
		}
	}
	for (size_t i = 0; i < cfg->npols; i++)
		if (cfg->pols[i].set)
			resolve_named(lc, &cfg->pols[i], ps, cfg->pols[i].name);
	/* keep copies: the tree is the file, the entries are what runs */
	for (size_t i = 0; i < cfg->npols; i++) {
		struct cfg_policy *pol = &cfg->pols[i];

		pol->set = pol->state == 2 ? tether_params_dup(pol->set) : NULL;
		if (pol->state == 2 && !pol->set)
			lc->oom = 1;
	}
}

/* A connection's `policy:`: a name, a type, a mapping, or the default. */
void tth_cfg_conn_policy(struct lctx *lc, struct cfg_conn *cc)
{
	struct tth_param *e = tth_params_ask(cc->src, "policy");
	struct cfg_policy *ref;
	tether_params *set = NULL;

	if (e && e->value) {
		ref = find_policy(lc->cfg, e->value);
		if (ref) {
			cc->policy_ref = tth_cfg_strdup(lc, ref->name);
			if (ref->state == 2) {
				cc->policy = tether_params_dup(ref->set);
				cc->policy_desc = tth_cfg_strdup(lc, ref->desc);
			}
			/* a broken entry is reported where it is defined */
			return;
		}
		if (!tether_policy_lookup(e->value)) {
			unknown_policy(lc, cc->src, "policy", e->value);
			return;
		}
	} else if (e && e->child && !is_seq(e->child)) {
		if (resolve_set(lc, e->child) < 0 ||
		    describe(lc, e->child, &cc->policy_desc) < 0)
			return;
		cc->policy = tether_params_dup(e->child);
		if (!cc->policy)
			lc->oom = 1;
		return;
	} else if (e) {
		tth_params_add_error(cc->src, "policy",
				     "expected a name from policies:, a policy "
				     "type or a mapping, found a sequence");
		tth_params_mark_checked(e->child);
		return;
	}
	set = tether_params_new(NULL);
	if (!set || tether_params_set(set, "type",
				      e ? e->value : "exponential", NULL)) {
		tether_params_free(set);
		lc->oom = 1;
		return;
	}
	if (describe(lc, set, &cc->policy_desc) < 0) {
		tether_params_free(set);
		return;
	}
	cc->policy = set;
}

const char *const tth_cfg_log_formats[] = {"text", "json", NULL};
const char *const tth_cfg_log_levels[] = {"info", "debug", "warn", NULL};

/* "PORT", "HOST:PORT" or "[V6]:PORT" in form (tether run checks the
 * address itself when it binds). */
static int listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':'), *port = colon ? colon + 1 : s;
	char *end;
	long p;

	if (colon && (colon == s || (memchr(s, ':', (size_t)(colon - s)) &&
				     (s[0] != '[' || colon[-1] != ']'))))
		return 0;
	if (!*port)
		return 0;
	p = strtol(port, &end, 10);
	return *end == '\0' && p >= 0 && p <= 65535;
}

/* `log:` and `metrics:`, read by the program that runs the file. */
static void load_log_metrics(struct lctx *lc, tether_params *root)
{
	tether_config *cfg = lc->cfg;
	tether_params *p;
	const char *v;

	p = tth_cfg_nested(root, "log", 0, "a mapping {format, level}");
	if (p) {
		tether_params_choice(p, "format", tth_cfg_log_formats, 0,
				     &cfg->log_format, NULL);
		tether_params_choice(p, "level", tth_cfg_log_levels, 0,
				     &cfg->log_level, NULL);
		tth_params_check_unknown(p, "log");
	}
	p = tth_cfg_nested(root, "metrics", 0, "a mapping {listen}");
	if (!p)
		return;
	v = tth_cfg_scalar(p, "listen", "an address: PORT or HOST:PORT");
	if (!tth_cfg_entry(p, "listen"))
		tth_cfg_missing(p, "listen",
				"an address: PORT or HOST:PORT (127.0.0.1:9464)");
	else if (v && !listen_ok(v))
		tth_params_add_error(p, "listen",
				     "expected PORT or HOST:PORT "
				     "(127.0.0.1:9464, [::1]:9464), found '%s'",
				     v);
	else if (v)
		cfg->metrics_listen = tth_cfg_strdup(lc, v);
	tth_params_check_unknown(p, "metrics");
}

TETHER_EXPORT const char *tether_config_log_format(const tether_config *cfg)
{
	return tth_cfg_log_formats[cfg ? cfg->log_format : 0];
}

TETHER_EXPORT const char *tether_config_log_level(const tether_config *cfg)
{
	return tth_cfg_log_levels[cfg ? cfg->log_level : 0];
}

TETHER_EXPORT const char *tether_config_metrics_listen(const tether_config *cfg)
{
	return cfg ? cfg->metrics_listen : NULL;
}

static void load_root(struct lctx *lc, tether_params *root)
{
	tether_config *cfg = lc->cfg;
	tether_params *lim;
	const char *v;
	char fb[300];

	v = tth_cfg_scalar(root, "version", "1");
	if (!tth_cfg_entry(root, "version"))
		tth_cfg_missing(root, "version",
				"1 (the version of the file format)");
	else if (v && strcmp(v, "1") != 0)
		tth_params_add_error(
		    root, "version",
		    "expected 1 (the only version this "
		    "tether supports), found %s",
		    found(tth_cfg_entry(root, "version"), fb, sizeof(fb)));
	cfg->rate = TETHER_DEFAULT_CONNECTS_PER_SECOND;
	cfg->burst = TETHER_DEFAULT_BURST;
	lim = tth_cfg_nested(
	    root, "limits", 0,
	    "a mapping {connects_per_second, burst, max_connecting}");
	if (lim) {
		if (plain(lim, "connects_per_second", "a number"))
			tether_params_double(lim, "connects_per_second",
					     TETHER_DEFAULT_CONNECTS_PER_SECOND,
					     0, 1e6, &cfg->rate);
		tth_cfg_whole(lim, "burst", TETHER_DEFAULT_BURST, 1, 1000000,
			      &cfg->burst);
		tth_cfg_whole(lim, "max_connecting", 0, 0, 1000000,
			      &cfg->max_connecting);
		tth_params_check_unknown(lim, "limits");
	}
	load_policies(lc, root);
	tth_cfg_load_connections(lc, root);
	load_log_metrics(lc, root);
	tth_params_check_unknown(root, "the configuration");
}

/* ---------------------------------------------------------------- load */

TETHER_EXPORT void tether_config_free(tether_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nconns; i++)
		tth_cfg_conn_free(&cfg->conns[i]);
	free(cfg->conns);
	for (size_t i = 0; i < cfg->npols; i++) {
		free(cfg->pols[i].name);
		tether_params_free(cfg->pols[i].set);
		free(cfg->pols[i].desc);
		free(cfg->pols[i].inner_ref);
	}
	free(cfg->pols);
	free(cfg->warnings);
	free(cfg->metrics_listen);
	tether_params_free(cfg->root);
	free(cfg->name);
	free(cfg);
}

struct eline {
	const char *s;
	size_t len, idx;
	unsigned long line, col;
};

static int by_pos(const void *a, const void *b)
{
	const struct eline *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The errors in file order (they were found schema section by section). */
static char *sorted_errors(const char *all, const char *file)
{
	struct eline *v;
	size_t n = 1, k = 0, flen = strlen(file), used = 0;
	char *out;

	for (const char *p = all; *p; p++)
		n += *p == '\n';
	v = calloc(n, sizeof(*v));
	out = malloc(strlen(all) + 2);
	if (!v || !out) {
		free(v);
		free(out);
		return NULL;
	}
	for (const char *p = all; *p; k++) {
		size_t len = strcspn(p, "\n");

		v[k] = (struct eline){.s = p, .len = len, .idx = k};
		if (strncmp(p, file, flen) == 0 && p[flen] == ':')
			sscanf(p + flen + 1, "%lu:%lu", &v[k].line,
			       &v[k].col);
		p += len + (p[len] == '\n');
	}
	qsort(v, k, sizeof(*v), by_pos);
	for (size_t i = 0; i < k; i++) {
		memcpy(out + used, v[i].s, v[i].len);
		used += v[i].len;
		out[used++] = '\n';
	}
	out[used] = '\0';
	free(v);
	return out;
}

static int set_errors(char **errors, const char *text)
{
	if (errors) {
		*errors = strdup(text);
		if (!*errors)
			return TETHER_ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------ caps */

struct load_caps {
	uint64_t bytes;
	uint64_t entries;
};

static int caps_error(char **errors, const char *fmt, const char *var,
		      const char *found)
{
	char *msg;

	if (asprintf(&msg, fmt, var, found) < 0)
		return TETHER_ENOMEM;
	tth_escape_controls(msg, strlen(msg) + 1);
	if (errors) {
		char *line;

		if (asprintf(&line, "%s\n", msg) < 0) {
			free(msg);
			return TETHER_ENOMEM;
		}
		*errors = line;
	}
	free(msg);
	return TETHER_ECONFIG;
}

/* The caps of config.h, or the environment's (a bad value is an error:
   a cap silently ignored would be worse). */
static int load_caps(struct load_caps *c, char **errors)
{
	const char *b = getenv("TETHER_CONFIG_MAX_BYTES");
	const char *e = getenv("TETHER_CONFIG_MAX_ENTRIES");

	c->bytes = TETHER_CONFIG_MAX_BYTES;
	c->entries = TETHER_CONFIG_MAX_ENTRIES;
	if (b && (tth_parse_size(b, &c->bytes) != 0 || c->bytes == 0 ||
		  c->bytes >= SIZE_MAX / 2))
		return caps_error(errors,
				  "%s: expected a size such as 64MiB, "
				  "found '%s'",
				  "TETHER_CONFIG_MAX_BYTES", b);
	if (e) {
		char *end;

		errno = 0;
		c->entries = strtoull(e, &end, 10);
		if (errno || end == e || *end || *e == '-' || c->entries == 0 ||
		    c->entries >= SIZE_MAX / 2)
			return caps_error(errors,
					  "%s: expected a whole number such "
					  "as 500000, found '%s'",
					  "TETHER_CONFIG_MAX_ENTRIES", e);
	}
	return 0;
}

/* "<name>: the file holds more than <cap> bytes ..." */
static int too_big(char **errors, const char *name, uint64_t cap)
{
	char capt[32], *msg;

	tth_fmt_size(capt, sizeof(capt), cap);
	if (asprintf(&msg,
		     "%s: larger than %s, the limit of a configuration file "
		     "(TETHER_CONFIG_MAX_BYTES: set that environment variable "
		     "to raise it)\n",
		     name, capt) < 0)
		return TETHER_ENOMEM;
	if (errors)
		*errors = msg;
	else
		free(msg);
	return TETHER_ECONFIG;
}

static int load_capped(const char *text, size_t len, const char *name,
		       const struct load_caps *caps, tether_config **out,
		       char **errors);

TETHER_EXPORT int tether_config_load_string(const char *text, size_t len,
					    const char *name,
					    tether_config **out, char **errors)
{
	struct load_caps caps;
	int rc;

	if (errors)
		*errors = NULL;
	if (!out || (!text && len))
		return TETHER_EINVAL;
	*out = NULL;
	rc = load_caps(&caps, errors);
	if (rc != 0)
		return rc;
	return load_capped(text, len, name, &caps, out, errors);
}

static int load_capped(const char *text, size_t len, const char *name,
		       const struct load_caps *caps, tether_config **out,
		       char **errors)
{
	struct lctx lc = {0};
	tether_config *cfg;
	const char *all;
	char err[800], *sorted;
	int rc;

	if (len > caps->bytes)
		return too_big(errors, name ? name : "<config>", caps->bytes);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return TETHER_ENOMEM;
	cfg->name = strdup(name ? name : "<config>");
	if (!cfg->name) {
		free(cfg);
		return TETHER_ENOMEM;
	}
	rc = tth_params_from_yaml_opts(text ? text : "", len, cfg->name,
				       TTH_YAML_SEQUENCES | TTH_YAML_CONFIG,
				       (size_t)caps->entries, &cfg->root, err,
				       sizeof(err));
	if (rc != 0) {
		tether_config_free(cfg);
		strcat(err, "\n");
		return set_errors(errors, err) ? TETHER_ENOMEM : rc;
	}
	lc.cfg = cfg;
	load_root(&lc, cfg->root);
	if (lc.oom) {
		free(lc.warn);
		tether_config_free(cfg);
		return TETHER_ENOMEM;
	}
	all = tether_params_errors(cfg->root);
	if (all) {
		sorted = sorted_errors(all, cfg->name);
		tth_cfg_scrub(cfg, sorted);
		rc = sorted ? set_errors(errors, sorted) : TETHER_ENOMEM;
		free(sorted);
		free(lc.warn);
		tether_config_free(cfg);
		return rc ? rc : TETHER_ECONFIG;
	}
	tth_cfg_scrub(cfg, lc.warn);
	cfg->warnings = lc.warn;
	*out = cfg;
	return 0;
}

TETHER_EXPORT int tether_config_load_file(const char *path,
					  tether_config **out, char **errors)
{
	struct load_caps caps;
	struct stat st;
	FILE *f;
	char *buf = NULL, *msg;
	size_t len = 0, cap = 0, n;
	int rc;

	if (errors)
		*errors = NULL;
	if (!path || !out)
		return TETHER_EINVAL;
	*out = NULL;
	rc = load_caps(&caps, errors);
	if (rc != 0)
		return rc;
	f = fopen(path, "re");
	/* a regular file too large is refused before it is read; anything
	   else (a pipe) is read up to the cap and one byte more */
	if (f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > caps.bytes) {
		fclose(f);
		return too_big(errors, path, caps.bytes);
	}
	if (f) {
		for (;;) {
			if (len > caps.bytes) {
				free(buf);
				fclose(f);
				return too_big(errors, path, caps.bytes);
			}
			if (len == cap) {
				char *b = realloc(buf, cap ? 2 * cap : 8192);

				if (!b) {
					free(buf);
					fclose(f);
					return TETHER_ENOMEM;
				}
				buf = b;
				cap = cap ? 2 * cap : 8192;
			}
			n = fread(buf + len, 1, cap - len, f);
			len += n;
			if (n == 0)
				break;
		}
		if (ferror(f)) {
			free(buf);
			buf = NULL;
		}
		fclose(f);
	}
	if (!f || !buf) {
		if (asprintf(&msg, "%s: cannot read: %s\n", path,
			     strerror(errno)) < 0)
			return TETHER_ENOMEM;
		if (errors)
			*errors = msg;
		else
			free(msg);
		return TETHER_EIO;
	}
	rc = load_capped(buf, len, path, &caps, out, errors);
	free(buf);
	return rc;
}

/* ----------------------------------------------------------- accessors */

TETHER_EXPORT const char *tether_config_warnings(const tether_config *cfg)
{
	return cfg ? cfg->warnings : NULL;
}

TETHER_EXPORT size_t tether_config_count(const tether_config *cfg)
{
	return cfg ? cfg->nconns : 0;
}

TETHER_EXPORT const char *tether_config_name(const tether_config *cfg,
					     size_t i)
{
	return cfg && i < cfg->nconns ? cfg->conns[i].name : NULL;
}

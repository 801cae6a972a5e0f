/* Internal side of tether_config: the loaded form, shared by config.c,
 * config_conn.c, config_apply.c and config_dump.c. */
#ifndef TETHER_CONFIG_INT_H
#define TETHER_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/config.h>
#include <tether/policy.h>
#include <tether/transport.h>

#include "settings-int.h"

/* Where a transport option of a connection is written: the transport's
 * own section (the table's yaml_section), an entry of one of its mappings
 * (TETHER_OPTION_MAP: `ws: {headers: {...}}`), or `tls:`. */
enum cfg_section { SEC_OWN = 0, SEC_MAP, SEC_TLS };

/* One transport option: how it was written (for the dump) and what is
 * handed to tether_conn_set_option (for a secret: the value read). */
struct cfg_opt {
	enum cfg_section sec;
	const struct tether_option *topt; /* its entry in the transport's table */
	char *ykey;   /* key in its YAML section ("keepalive", "password_env") */
	char *value;  /* as written; what the dump prints */
	char *okey;   /* option key ("keepalive", "password", "header.X") */
	char *ovalue; /* option value: the secret itself for *_env / *_file */
	int secret;   /* ovalue is a secret: wipe it, never print it */
	tether_params *src; /* load only: where it was written */
};

struct cfg_rule {
	char *key, *cls;
	tether_params *src; /* load only */
};

#define CFG_TIMINGS 8
extern const char *const tth_cfg_timing_keys[CFG_TIMINGS];
extern const uint64_t tth_cfg_timing_defaults[CFG_TIMINGS];

/* A connection of the file: its settings value, made by the load through
 * the settings' own checked setters (settings-int.h), and what the dump
 * prints as written (policy reference, rules, options and their places). */
struct cfg_conn {
	char *name, *transport;
	struct tth_conn_settings set; /* valid when set_ok */
	int set_ok;
	char *policy_ref;      /* a name from policies:, or NULL */
	tether_params *policy; /* resolved (no references left) */
	char *policy_desc;     /* "type k=v ..." with defaults */
	int hb_set; /* heartbeat: written (ws only) */
	struct cfg_rule *rules;
	size_t nrules;
	struct cfg_opt *opts;
	size_t nopts;
	int q_set;                  /* `queue:` written */
	tether_params *src; /* load only: the connection's mapping */
	int bad;            /* load only: not worth a transport check */
};

struct cfg_policy {
	char *name;
	tether_params *set; /* resolved */
	char *desc;         /* "type k=v ..." with defaults */
	char *inner_ref;    /* `inner:` named another entry, or NULL */
	int state;          /* load only: 0 new, 1 resolving, 2 ok, 3 bad */
};

struct tether_config {
	char *name;
	double rate;
	uint64_t burst, max_connecting;
	struct cfg_policy *pols;
	size_t npols;
	struct cfg_conn *conns;
	size_t nconns;
	char *warnings;
	int log_format, log_level; /* indexes in tth_cfg_log_formats/levels */
	char *metrics_listen;      /* `metrics: {listen}`, or NULL */
	tether_params *root; /* the parsed file (no secrets in it) */
};

extern const char *const tth_cfg_log_formats[];
extern const char *const tth_cfg_log_levels[];
extern const char *const tth_cfg_overflows[];
extern const char *const tth_cfg_fsyncs[];

/* State of one load (config.c), shared with the API check. */
struct lctx {
	tether_config *cfg;
	char *warn;
	int oom;
	const char *chain[32]; /* named policies being resolved */
	size_t nchain;
};

/* The entry of key in p, or NULL. */
struct tth_param *tth_cfg_entry(tether_params *p, const char *key);

/* The cross-field checks of cc's transport (its check() op, conn NULL) on
 * the options of its settings, each error where its option was written
 * (config_apply.c). */
void tth_cfg_check_options(struct lctx *lc, struct cfg_conn *cc);

/* The registered transports' names joined by sep, the last by last
 * ("mqtt, ws" or "mqtt or ws"), in buf (config_conn.c). */
void tth_cfg_transport_names(char *buf, size_t len, const char *sep,
			     const char *last);

/* Schema helpers (config.c). Each records what is wrong where it was
 * written; a set read from a YAML sequence is one (is_seq). */

/* key's text, or NULL (absent, or not a scalar: recorded). */
const char *tth_cfg_scalar(tether_params *p, const char *key, const char *what);

/* key's nested set if it is of the wanted kind, or NULL (recorded). */
tether_params *tth_cfg_nested(tether_params *p, const char *key, int want_seq,
			      const char *what);

/* Record "missing, expected <what>" for key. */
void tth_cfg_missing(tether_params *p, const char *key, const char *what);

/* A duration or a whole number in [min, max], def when absent. */
int tth_cfg_duration(tether_params *p, const char *key, uint64_t def,
		     uint64_t min, uint64_t max, uint64_t *out);
int tth_cfg_whole(tether_params *p, const char *key, uint64_t def, uint64_t min,
		  uint64_t max, uint64_t *out);

/* strdup(s), NULL for NULL; a failure sets lc->oom. */
char *tth_cfg_strdup(struct lctx *lc, const char *s);

/* A connection's `policy:`: a name, a type, a mapping, or the default
 * (config.c, with the named policies). */
void tth_cfg_conn_policy(struct lctx *lc, struct cfg_conn *cc);

/* Connections and secrets (config_conn.c). */

/* Load `connections:` of root into lc->cfg->conns, reading secrets. */
void tth_cfg_load_connections(struct lctx *lc, tether_params *root);

/* Free what cc holds (not cc), wiping its secrets. */
void tth_cfg_conn_free(struct cfg_conn *cc);

/* Replace every secret of cfg found in text by "***". */
void tth_cfg_scrub(const tether_config *cfg, char *text);

#endif

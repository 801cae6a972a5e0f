/* Internal side of tether_params: usage tracking, YAML loading, helpers. */
#ifndef TETHER_PARAMS_INT_H
#define TETHER_PARAMS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/policy.h>

/* The set's layout, shared by params.c and params_get.c only. */

struct tth_param {
	char *key;
	char *value;		/* text, or NULL when child is set */
	char *where;		/* location of the value; may be NULL */
	tether_params *child;	/* nested set */
	tether_params *derived; /* {type: value}, made by tether_params_child */
	char *path;		/* the path its errors name, when it was
				   written elsewhere (tth_params_set_from) */
	int known;
};

/* A slot of a set's key index: position + 1 (0: empty), and the key's
 * hash. */
struct tth_param_slot {
	size_t pos;
	size_t hash;
};

struct tth_perr {
	uint64_t seq; /* global order, so nested errors merge chronologically */
	char *text;
};

struct tether_params {
	char *where;
	tether_params *parent;
	char
	    *pkey; /* key in the parent, or the whole path of a detached copy */
	struct tth_param *v;
	size_t n, cap;
	/* open-addressing index of v by key, kept from
	   TTH_PARAMS_INDEX_MIN entries on, so a set of
	   40,000 keys is built and read in linear time; NULL: scan v */
	struct tth_param_slot *idx;
	size_t idxcap; /* a power of two, at least twice n */
	char **asked;
	size_t nasked, askcap;
	struct tth_param_slot *askidx; /* the same index over asked */
	size_t askidxcap;
	struct tth_perr *errs;
	size_t nerrs, errcap;
	char *joined; /* cache behind tether_params_errors() */
	int checked;
	int is_seq; /* read from a YAML sequence (TTH_YAML_SEQUENCES) */
};

/* A set indexes its keys from this many entries on. */
#define TTH_PARAMS_INDEX_MIN 16

/* Overwrite every value of p (and its nested sets) with zeros: they may
 * be secrets; free p next. NULL is a no-op. */
void tth_params_wipe(tether_params *p);

/* Mark key known and remember that some getter asked for its name. */
struct tth_param *tth_params_ask(tether_params *p, const char *key);

/* "'1x'" or "a mapping": what the user wrote, for "found ..." */
const char *tth_params_found(const struct tth_param *e, char *buf, size_t len);

/* Append "<where>: <path of key>: <message>" to p's errors; key may be NULL. */
__attribute__((format(printf, 3, 4))) void
tth_params_add_error(tether_params *p, const char *key, const char *fmt, ...);

/*
 * Forget which keys were read, the errors and the "checked" marks, in p and
 * every nested set, before a policy's create() reads p again.
 */
void tth_params_reset_usage(tether_params *p);

/*
 * Record "unknown key 'k' for <what> (did you mean 'x'?)", what being e.g.
 * "policy 'exponential'" or "transport 'mqtt'", for every
 * key of p that no getter asked for, and recurse into nested sets that were
 * asked for and not checked by a policy of their own. Marks p checked.
 * Returns 0 or TETHER_ECONFIG.
 */
int tth_params_check_unknown(tether_params *p, const char *what);

/* Mark p as handled (its unknown keys are not the parent's business). */
void tth_params_mark_checked(tether_params *p);

/*
 * Set key to value in p as if it were written at from_key of from: its
 * errors carry that location and path ("gw.yaml:7:9:
 * connections.0.mqtt.password_env"), for a set assembled from several
 * places. Returns 0, TETHER_EINVAL, TETHER_ENOMEM.
 */
int tth_params_set_from(tether_params *p, const char *key, const char *value,
			const tether_params *from, const char *from_key);

/* Move the errors recorded in from (not its nested sets) to to, keeping
 * their order among the others. */
void tth_params_move_errors(tether_params *to, tether_params *from);

/* Whether p holds key (a value or a nested set), in O(1) on average. */
int tth_params_has(const tether_params *p, const char *key);

/* Location of key's value (or of the set), or NULL. Borrowed. */
const char *tth_params_where(const tether_params *p, const char *key);

/* Number of errors recorded in p and its nested sets. */
size_t tth_params_error_count(const tether_params *p);

/*
 * Load a YAML mapping (block or flow) into a fresh set. Scalars become text
 * values located "filename:line:column"; nested mappings become nested sets.
 * Sequences, anchors, aliases, non-scalar and duplicate keys are errors.
 * Returns 0, TETHER_ECONFIG (message in err) or TETHER_ENOMEM.
 */
int tth_params_from_yaml(const char *text, size_t len, const char *filename,
			 tether_params **out, char *err, size_t errlen);

/* Options of tth_params_from_yaml_opts. */
enum {
	/* sequences become nested sets keyed "0", "1"..., marked is_seq */
	TTH_YAML_SEQUENCES = 1u << 0,
	/* a configuration file: keys must not contain '.' (they are joined
	 * into paths), the top set is located at its mapping, and the
	 * messages speak of a file ("found an empty file") */
	TTH_YAML_CONFIG = 1u << 1,
};

/* The most values (scalars, mappings, sequences) one YAML text may hold
 * unless the caller says otherwise: parsing stays linear, and this bounds
 * its time and memory (a few hundred bytes per value). */
#define TTH_YAML_MAX_ENTRIES 200000u

/* tth_params_from_yaml with TTH_YAML_* flags (0: the same as it) and a
 * cap on the number of values (0: TTH_YAML_MAX_ENTRIES); past the cap the
 * load fails at the value's file:line:column. */
int tth_params_from_yaml_opts(const char *text, size_t len,
			      const char *filename, unsigned flags,
			      size_t max_entries, tether_params **out,
			      char *err, size_t errlen);

/* Rewrite control characters of s (cap bytes) as \n, \r, \t or \xNN,
 * in place, truncating to cap: error messages stay one per line. */
void tth_escape_controls(char *s, size_t cap);

/* Optimal-string-alignment edit distance, capped: returns > cap early. */
int tth_edit_distance(const char *a, const char *b, int cap);

/* Whether a and b hold the same keys with the same values (nested sets
 * compared the same way, key order ignored); NULL equals only NULL. */
int tth_params_equal(const tether_params *a, const tether_params *b);

/* "1048576", "64KiB", "8MiB"...: 0 and *out, or -1 (params_get.c). */
int tth_parse_size(const char *s, uint64_t *out);
/* v as the largest exact binary unit: "8MiB", "1000", "64KiB". */
void tth_fmt_size(char *buf, size_t len, uint64_t v);

#endif

/**
 * @file policy.h
 * @brief The reconnect-policy plug-in ABI, its parameters and its registry.
 *
 * A policy decides how long a connection waits before its next attempt. It
 * is a pure function of its own state, the attempt it is told about and a
 * random generator it is handed: no clocks, no I/O, no threads. tether
 * creates one instance per connection from a parameter set (a YAML mapping
 * or a tether_params built in C) and calls it only on the loop thread.
 */
#ifndef TETHER_POLICY_H
#define TETHER_POLICY_H

#include <tether/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ RNG */

/**
 * A small seedable generator (xoshiro256**). Plain data so a policy can hold
 * one; every random draw in tether comes from one, so a run is reproducible
 * from its seed.
 */
struct tether_rng {
	uint64_t s[4];
};

/**
 * @brief Seed a generator. The same seed gives the same sequence.
 * @thread any (the rng is not shared)
 */
TETHER_EXPORT void tether_rng_seed(struct tether_rng *rng, uint64_t seed);

/**
 * @brief Next 64 random bits.
 * @thread any (the rng is not shared)
 */
TETHER_EXPORT uint64_t tether_rng_next(struct tether_rng *rng);

/**
 * @brief A uniform double in [0, 1).
 * @thread any (the rng is not shared)
 */
TETHER_EXPORT double tether_rng_uniform(struct tether_rng *rng);

/**
 * @brief A uniform integer in [lo, hi] (inclusive; lo <= hi), without bias.
 * @thread any (the rng is not shared)
 */
TETHER_EXPORT uint64_t tether_rng_range(struct tether_rng *rng, uint64_t lo,
					uint64_t hi);

/* ----------------------------------------------------------- parameters */

/**
 * A policy's parameters: an ordered map from key to a text value or to a
 * nested parameter set (for instance breaker's `inner`). Values are parsed
 * by typed getters, which record which keys were read, so unknown keys can
 * be reported with a "did you mean" suggestion, and which collect every
 * error with the value's location.
 */
/* typedef struct tether_params tether_params; is in tether.h */

/**
 * @brief Create an empty parameter set.
 * @param where the location to name in messages ("gateway.yaml:4:12",
 *   "--policy"); copied; may be NULL.
 * @return the set, or NULL when out of memory.
 * @thread any
 */
TETHER_EXPORT tether_params *tether_params_new(const char *where);

/**
 * @brief Free a set and its nested sets. NULL is a no-op.
 * @thread any
 */
TETHER_EXPORT void tether_params_free(tether_params *p);

/**
 * @brief Deep copy.
 * @return the copy, or NULL when out of memory.
 * @thread any
 */
TETHER_EXPORT tether_params *tether_params_dup(const tether_params *p);

/**
 * @brief Set key to a text value, replacing any earlier value. Copies both.
 * @param p the set.
 * @param key the key.
 * @param value the text ("1s", "2", "full").
 * @param where location of the value for messages (copied; may be NULL).
 * @return 0, TETHER_EINVAL (NULL or empty key), TETHER_ENOMEM.
 * @thread any (the set is not shared)
 */
TETHER_EXPORT int tether_params_set(tether_params *p, const char *key,
				    const char *value, const char *where);

/**
 * @brief Set key to a nested set; takes ownership of child (also on error).
 * @return 0, TETHER_EINVAL, TETHER_ENOMEM.
 * @thread any (the set is not shared)
 */
TETHER_EXPORT int tether_params_set_child(tether_params *p, const char *key,
					  tether_params *child);

/**
 * @brief Parse "key=value" and set it (for command lines).
 * @return 0, TETHER_EINVAL when there is no '=', TETHER_ENOMEM.
 * @thread any (the set is not shared)
 */
TETHER_EXPORT int tether_params_set_kv(tether_params *p, const char *kv,
				       const char *where);

/**
 * @brief The raw text of key, without marking it read: a plug-in reads its
 *   options with tether_params_string() and the typed getters below, or
 *   the keys it did not read are reported as unknown.
 * @return the borrowed text, or NULL if absent or a nested set.
 * @thread any (while nobody modifies the set)
 */
TETHER_EXPORT const char *tether_params_get(const tether_params *p,
					    const char *key);

/**
 * @brief Number of keys, and the key at an index (insertion order).
 * @thread any (while nobody modifies the set)
 */
TETHER_EXPORT size_t tether_params_count(const tether_params *p);
/** @copydoc tether_params_count */
TETHER_EXPORT const char *tether_params_key(const tether_params *p, size_t i);

/*
 * Typed getters, for a policy's create() and a transport's link_new() and
 * check(). Each marks key as known; when the key is absent it stores def
 * and returns 0; when the value is malformed or out of range it records an
 * error naming the location, the key, what was expected and what was
 * found, stores def, and returns TETHER_ECONFIG.
 */

/**
 * @brief A text value (a file name, a client identifier), as written.
 * @param p the set.
 * @param key the key.
 * @param what what the value should be, for the message when it is a
 *   nested set: "expected <what>, found a mapping" ("a file name"); NULL
 *   says "a text value".
 * @param def stored in *out when key is absent; may be NULL.
 * @param out receives the text, borrowed from p (valid until p is changed
 *   or freed), or def.
 * @return 0, TETHER_ECONFIG (a nested set).
 * @thread any (the set is not shared)
 */
TETHER_EXPORT int tether_params_string(tether_params *p, const char *key,
				       const char *what, const char *def,
				       const char **out);

/**
 * @brief A secret (a password): inline as key, or named by key_env, an
 *   environment variable read now, or by key_file, a file whose first line
 *   (at most 4095 bytes, without its line ending) is read now. At most one
 *   of the three may be given; all three are marked known.
 * @param p the set.
 * @param key the key ("password" also reads "password_env" and
 *   "password_file"); at most 200 bytes.
 * @param what what the inline value is, for the message when it is a
 *   nested set ("a password"); NULL says "a secret".
 * @param out receives a malloc'ed copy, or NULL when none of the three is
 *   given (also on error); release it with tether_secret_free().
 * @return 0; TETHER_ECONFIG (more than one given, a nested set, the
 *   variable is not set, the file cannot be read: recorded in p);
 *   TETHER_EINVAL (NULL argument, empty or too long key); TETHER_ENOMEM.
 * @thread any (the set is not shared; reads the environment, so not while
 *   another thread calls setenv())
 */
TETHER_EXPORT int tether_params_secret(tether_params *p, const char *key,
				       const char *what, char **out);

/**
 * @brief Overwrite a secret with zeros, then free it. NULL is a no-op.
 * @param secret a string from tether_params_secret() or any malloc'ed one.
 * @thread any
 */
TETHER_EXPORT void tether_secret_free(char *secret);

/**
 * @brief A duration: "250ms", "10s", "1.5s", "5m", "1h", or "0".
 * @thread loop
 */
TETHER_EXPORT int tether_params_duration(tether_params *p, const char *key,
					 uint64_t def_ms, uint64_t min_ms,
					 uint64_t max_ms, uint64_t *out_ms);

/**
 * @brief Write a duration as tether_params_duration() reads it, in the
 *   largest unit that divides it: "250ms", "10s", "5m", "1h", "0" (for a
 *   policy's describe()).
 * @param ms the duration in milliseconds.
 * @param buf receives the text (may be NULL when len is 0).
 * @param len size of buf.
 * @return the length the full text needs, as snprintf.
 * @thread any
 */
TETHER_EXPORT int tether_duration_format(uint64_t ms, char *buf, size_t len);

/**
 * @brief A decimal number within [min, max].
 * @thread loop
 */
TETHER_EXPORT int tether_params_double(tether_params *p, const char *key,
				       double def, double min, double max,
				       double *out);

/**
 * @brief An unsigned integer within [min, max].
 * @thread loop
 */
TETHER_EXPORT int tether_params_uint(tether_params *p, const char *key,
				     uint64_t def, uint64_t min, uint64_t max,
				     uint64_t *out);

/**
 * @brief A size within [min, max] bytes: "1048576", "64KiB", "8MiB",
 *   "1GiB" (also K/M/G = binary, k/KB/MB/GB = decimal).
 * @thread loop
 */
TETHER_EXPORT int tether_params_size(tether_params *p, const char *key,
				     uint64_t def, uint64_t min, uint64_t max,
				     uint64_t *out);

/**
 * @brief A boolean: true/false, yes/no, on/off.
 * @thread loop
 */
TETHER_EXPORT int tether_params_bool(tether_params *p, const char *key, int def,
				     int *out);

/**
 * @brief One of a NULL-terminated list of words; *out is its index.
 *   A value may carry an argument after a colon ("proportional:0.2"):
 *   choices that end in ':' accept one, returned in *arg (borrowed) when
 *   arg is not NULL.
 * @thread loop
 */
TETHER_EXPORT int tether_params_choice(tether_params *p, const char *key,
				       const char *const *choices, int def,
				       int *out, const char **arg);

/**
 * @brief A nested set, or a text value naming a registered policy type,
 *   which is returned as a fresh set {type: value} owned by p.
 * @return 0 with *out NULL when absent, 0 with *out set, TETHER_ECONFIG.
 * @thread loop
 */
TETHER_EXPORT int tether_params_child(tether_params *p, const char *key,
				      tether_params **out);

/**
 * @brief Record an error of the caller's own (a cross-field check).
 * @param p the set.
 * @param key the key it concerns (may be NULL).
 * @param fmt printf-style message.
 * @return TETHER_ECONFIG, for `return tether_params_fail(...)`.
 * @thread loop
 */
TETHER_EXPORT int tether_params_fail(tether_params *p, const char *key,
				     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * @brief Every error recorded so far, one per line, or NULL if none.
 * @return borrowed text, valid until the set is changed or freed.
 * @thread loop
 */
TETHER_EXPORT const char *tether_params_errors(const tether_params *p);

/**
 * @brief Parse a YAML mapping (block or flow style, e.g.
 *   "{type: exponential, initial: 1s, jitter: full}") into a parameter
 *   set. Scalars become text values located "filename:line:column";
 *   nested mappings become nested sets. Sequences, aliases and duplicate
 *   keys are errors.
 * @param text the YAML text.
 * @param len its length in bytes.
 * @param filename name used in locations ("--policy-yaml", a path).
 * @param out receives the set.
 * @param err receives a "file:line:column: what" message (may be NULL).
 * @param errlen size of err.
 * @return 0, TETHER_ECONFIG, TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_params_parse_yaml(const char *text, size_t len,
					   const char *filename,
					   tether_params **out, char *err,
					   size_t errlen);

/* --------------------------------------------------------- option tables */

/** How an option's text is read (the tether_params getter it goes through). */
enum tether_option_type {
	TETHER_OPTION_TEXT = 0, /**< any text (tether_params_string) */
	TETHER_OPTION_BOOL,     /**< true/false/yes/no/on/off (_bool) */
	TETHER_OPTION_UINT,     /**< a whole number in [min, max] (_uint) */
	TETHER_OPTION_SIZE,     /**< bytes, "64KiB", in [min, max] (_size) */
	TETHER_OPTION_DURATION, /**< "250ms", "10s", ms in [min, max] */
	TETHER_OPTION_CHOICE,   /**< one of `choices` (_choice) */
	/** A mapping in YAML (`yaml_key`), each entry an option
	    "<name>.<key>" with a text value ("headers" -> "header.X"). */
	TETHER_OPTION_MAP,
	/** A decimal number in [min, max] (_double). */
	TETHER_OPTION_DOUBLE,
	/** A nested policy: a mapping, or the name of a policy type
	    (tether_params_child), as breaker's `inner`. */
	TETHER_OPTION_POLICY,
};

/** What a tether_mgr_reload() that changes the option does. */
enum tether_option_reload {
	/** The connection closes and starts again with the new value. */
	TETHER_OPTION_RESTART = 0,
	/** Applied without closing the link: every policy option (the
	    connection takes a new policy instance); no transport option yet
	    (the runtime restarts for any change, docs/architecture.md). */
	TETHER_OPTION_LIVE,
};

/** Where the option is written in a connection of tether.yaml(5). */
enum tether_option_place {
	TETHER_OPTION_SECTION = 0, /**< the transport's own section */
	TETHER_OPTION_TLS,         /**< the shared `tls:` section */
};

/**
 * One option a policy or a transport reads from its tether_params (curl's
 * option table): declared once, read by tether_params_option() (type,
 * default, range), the configuration loader (the YAML section, its
 * checks, `tether check` output), `tether simulate --list` and the
 * documentation. An array of them ends with an entry whose name is NULL.
 * Its layout is part of TETHER_TRANSPORT_ABI and TETHER_POLICY_ABI.
 */
struct tether_option {
	/** Option key (tether_conn_set_option) and YAML key. */
	const char *name;
	enum tether_option_type type;
	/** The default as text, as `tether check` prints it; "${name}" is
	    replaced by the connection's name. NULL: none (not printed). */
	const char *def;
	/** A secret: never inline in YAML, only `<name>_env` or
	    `<name>_file`, read at load time; never printed. */
	int secret;
	/** One line for people: what it does. */
	const char *doc;
	enum tether_option_reload reload;
	enum tether_option_place place;
	/** UINT, SIZE, DURATION (ms): the accepted range (both 0: any). */
	uint64_t min, max;
	/** CHOICE: the accepted words, NULL-ended. */
	const char *const *choices;
	/** MAP: the YAML key of the mapping (NULL: name). */
	const char *yaml_key;
};

/** An option's value as tether_params_option() reads it. */
union tether_option_value {
	uint64_t u;   /**< UINT, SIZE, DURATION (ms) */
	double d;     /**< DOUBLE */
	int b;        /**< BOOL */
	struct {
		int index;       /**< the word's index in `choices` */
		const char *arg; /**< after ':' of a choice ending in ':' */
	} choice;             /**< CHOICE */
	const char *text;     /**< TEXT (borrowed from the set) */
	tether_params *child; /**< POLICY: the nested set (owned by the set),
				   or NULL when absent without a default */
};

/**
 * @brief Read option `name` as its entry in `table` says: its type, its
 *   range, its default (the entry's `def` text, read the same way) when
 *   the key is absent. Marks the key known; a malformed or out-of-range
 *   value is recorded with its location, as the typed getters do.
 * @param p the set.
 * @param table the options, NULL-name ended.
 * @param name the option's name (an entry of table; not MAP).
 * @param out receives the value (the default on error).
 * @return 0; TETHER_ECONFIG (recorded in p); TETHER_EINVAL (name is not
 *   in table, or its default does not read: a bug in the table).
 * @thread any (the set is not shared)
 */
TETHER_EXPORT int tether_params_option(tether_params *p,
				       const struct tether_option *table,
				       const char *name,
				       union tether_option_value *out);

/* --------------------------------------------------------------- policy */

/**
 * Bump when struct tether_policy_ops or its argument structs change.
 * 2 added the option table (at the end of the ops); a policy built for 1
 * still registers, without a table.
 */
#define TETHER_POLICY_ABI 2

/** What a policy tells the connection to do after a failure. */
enum tether_verdict {
	TETHER_VERDICT_RETRY = 0, /**< BACKOFF for delay_ms, then attempt */
	TETHER_VERDICT_SUSPEND,   /**< SUSPENDED for delay_ms, then attempt
				       (a breaker's open period) */
	TETHER_VERDICT_GIVE_UP    /**< CLOSED; `why` says why */
};

/** The failure a policy is asked about. */
struct tether_policy_input {
	uint32_t attempt;    /**< 1 for the first failed round since the
				  connection was last stable, 2 next... */
	uint64_t now_ms;     /**< the loop's clock */
	uint64_t elapsed_ms; /**< since the first failure of this streak */
	const struct tether_reason *reason; /**< classified; never NULL */
};

/** A policy's answer. */
struct tether_policy_decision {
	enum tether_verdict verdict;
	uint64_t delay_ms;
	const char *why; /**< static text for GIVE_UP / SUSPEND; may be NULL */
};

/** Something a connection observed, for policies that adapt. */
enum tether_sample_type {
	TETHER_SAMPLE_RTT = 0, /**< a round trip: handshake or ping/pong */
	TETHER_SAMPLE_UP,      /**< an attempt succeeded */
	TETHER_SAMPLE_LINK     /**< link state changed (value: 1 up, 0 down) */
};

/** An observation. */
struct tether_policy_sample {
	enum tether_sample_type type;
	uint64_t now_ms;
	uint64_t value; /**< RTT in ms, or link state */
};

/**
 * The plug-in vtable. Register it once with tether_policy_register(); the
 * struct must outlive every use (a static const).
 */
struct tether_policy_ops {
	uint32_t abi;        /**< TETHER_POLICY_ABI */
	const char *name;    /**< what YAML's `type:` selects */
	const char *summary; /**< one line for `tether simulate --list` */
	/**
	 * Parse params (with the typed getters) and allocate the state.
	 * Return 0, or TETHER_ECONFIG having recorded errors in params, or
	 * TETHER_ENOMEM.
	 */
	int (*create)(tether_params *params, void **state);
	/** Free the state. */
	void (*destroy)(void *state);
	/** Decide about a failure. Never NULL. */
	void (*next)(void *state, const struct tether_policy_input *in,
		     struct tether_rng *rng,
		     struct tether_policy_decision *out);
	/** The connection has been stable: forget the failure streak. */
	void (*on_success)(void *state, uint64_t now_ms);
	/** Optional (may be NULL): an observation. */
	void (*observe)(void *state, const struct tether_policy_sample *s);
	/**
	 * Optional: the effective settings, defaults filled in, as one line
	 * of "key=value" pairs (for `tether check`). snprintf semantics.
	 */
	int (*describe)(void *state, char *buf, size_t len);
	/* ABI 2 */
	/**
	 * Optional: every key create() reads, NULL-name ended, read there
	 * with tether_params_option(), so the names, types, defaults and
	 * ranges are written once (`tether simulate --list` prints them).
	 */
	const struct tether_option *options;
};

/**
 * @brief Make a policy type selectable by name.
 * @param ops the vtable; must stay valid until the process exits.
 * @return 0; TETHER_EINVAL (missing fields), TETHER_EABI (ops->abi is
 *   neither TETHER_POLICY_ABI nor 1),
 *   TETHER_EEXIST (name taken), TETHER_ENOMEM.
 * @thread init (before managers are created)
 */
TETHER_EXPORT int tether_policy_register(const struct tether_policy_ops *ops);

/**
 * @brief A policy type's option table.
 * @return the table, or NULL (none, or a policy of ABI 1).
 * @thread any
 */
TETHER_EXPORT const struct tether_option *
tether_policy_options(const struct tether_policy_ops *ops);

/**
 * @brief Find a registered policy type; the four built-in ones are always
 *   there: fixed, exponential, adaptive, breaker.
 * @return the vtable, or NULL.
 * @thread any
 */
TETHER_EXPORT const struct tether_policy_ops *
tether_policy_lookup(const char *name);

/**
 * @brief Number of registered types, and the type at an index.
 * @thread any
 */
TETHER_EXPORT size_t tether_policy_count(void);
/** @copydoc tether_policy_count */
TETHER_EXPORT const struct tether_policy_ops *tether_policy_at(size_t i);

/** A policy instance: a type and its state. */
typedef struct tether_policy tether_policy;

/**
 * @brief Create an instance from params (key `type` selects the type).
 *   Every problem is reported at once: wrong values, then unknown keys with
 *   a "did you mean" suggestion.
 * @param params the parameters; its error list is reset and refilled.
 * @param out receives the instance.
 * @param err receives the errors, one per line (may be NULL).
 * @param errlen size of err.
 * @return 0, TETHER_ECONFIG, TETHER_ENOENT (unknown type), TETHER_ENOMEM.
 * @thread loop
 */
TETHER_EXPORT int tether_policy_new(tether_params *params, tether_policy **out,
				    char *err, size_t errlen);

/**
 * @brief Free an instance. NULL is a no-op.
 * @thread loop
 */
TETHER_EXPORT void tether_policy_free(tether_policy *pol);

/**
 * @brief The instance's type name.
 * @thread loop
 */
TETHER_EXPORT const char *tether_policy_name(const tether_policy *pol);

/**
 * @brief Ask the instance about a failure (what a connection does).
 * @thread loop
 */
TETHER_EXPORT void tether_policy_next(tether_policy *pol,
				      const struct tether_policy_input *in,
				      struct tether_rng *rng,
				      struct tether_policy_decision *out);

/**
 * @brief Tell the instance the connection is stable again.
 * @thread loop
 */
TETHER_EXPORT void tether_policy_on_success(tether_policy *pol,
					    uint64_t now_ms);

/**
 * @brief Pass an observation on (no-op for policies without observe).
 * @thread loop
 */
TETHER_EXPORT void tether_policy_observe(tether_policy *pol,
					 const struct tether_policy_sample *s);

/**
 * @brief The effective settings as one line, "type key=value ...".
 * @return the length the full text needs, as snprintf.
 * @thread loop
 */
TETHER_EXPORT int tether_policy_describe(const tether_policy *pol, char *buf,
					 size_t len);

#ifdef __cplusplus
}
#endif
#endif

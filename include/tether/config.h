/**
 * @file config.h
 * @brief The YAML configuration file (tether.yaml(5)): load and validate it,
 *   apply it to a manager, print the effective configuration.
 *
 * A configuration is checked completely when it is loaded: the schema,
 * every value, every policy (created once with tether_policy_new), every
 * endpoint's scheme and every transport option (its transport's option
 * table and check()), without starting anything. Secrets (`password_env`, `password_file`,
 * `key_password_env`, `key_password_file`) are read at load time and never
 * appear in errors, warnings or the dump. A loaded configuration is
 * immutable and may be read from any thread.
 */
#ifndef TETHER_CONFIG_H
#define TETHER_CONFIG_H

#include <stddef.h>

#include <tether/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The largest configuration a load accepts, in bytes (16 MiB). The
 * environment variable `TETHER_CONFIG_MAX_BYTES` (a size: "64MiB")
 * replaces it for the process; a larger file fails with TETHER_ECONFIG,
 * its error naming the size, the cap and the variable.
 */
#define TETHER_CONFIG_MAX_BYTES (16u * 1024 * 1024)

/**
 * The most values (scalars, mappings and sequences, each counted once) a
 * configuration may hold: 200,000. The environment variable
 * `TETHER_CONFIG_MAX_ENTRIES` replaces it for the process; past it the
 * load fails with TETHER_ECONFIG at the first value over, its
 * "file:line:column" naming the cap and the variable. Loading is linear
 * in the file's size, so the two caps bound its time and memory.
 */
#define TETHER_CONFIG_MAX_ENTRIES 200000u

/** A loaded, validated configuration (opaque). */
typedef struct tether_config tether_config;

/**
 * @brief Read, parse and validate a configuration file.
 * @param path the file.
 * @param out receives the configuration; NULL on any error.
 * @param errors receives every problem, one per line, each
 *   "file:line:column: key.path: what was expected, what was found"
 *   (malloc'ed, the caller frees it); NULL on success. May be NULL.
 * @return 0, TETHER_ECONFIG (the file is wrong, or larger than
 *   TETHER_CONFIG_MAX_BYTES or TETHER_CONFIG_MAX_ENTRIES allow),
 *   TETHER_EIO (the file cannot be read; *errors says why), TETHER_EINVAL
 *   (NULL path or out), TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_config_load_file(const char *path,
					  tether_config **out, char **errors);

/**
 * @brief Parse and validate a configuration held in memory.
 * @param text the YAML text (need not be NUL-terminated).
 * @param len its length in bytes.
 * @param name the name used in locations ("gateway.yaml"); NULL gives
 *   "<config>".
 * @param out receives the configuration; NULL on any error.
 * @param errors as for tether_config_load_file(); may be NULL.
 * @return 0, TETHER_ECONFIG, TETHER_EINVAL, TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_config_load_string(const char *text, size_t len,
					    const char *name,
					    tether_config **out, char **errors);

/**
 * @brief Free a configuration (secrets are wiped first). NULL is a no-op.
 * @thread any
 */
TETHER_EXPORT void tether_config_free(tether_config *cfg);

/**
 * @brief Warnings of the load that did not stop it (a secret file readable
 *   by group or others), one per line, "file:line:column: key.path: what".
 * @return borrowed text valid until tether_config_free(), or NULL if none.
 * @thread any
 */
TETHER_EXPORT const char *tether_config_warnings(const tether_config *cfg);

/**
 * @brief Create every connection of cfg in m (not started) and set m's
 *   limiter, through the public API only.
 *
 * Everything that can be wrong with the file was found by the load, and
 * the names are looked up in m (tether_conn_find()) before anything is
 * created, so a name already in m changes nothing. Only running out of
 * memory (or another thread creating one of the names meanwhile) can
 * fail half-way: then the connections it created are removed again
 * (tether_conn_remove(), their names free at once), so m is as it was.
 * The limiter is set last, only when every connection was created.
 * @param cfg the configuration.
 * @param m the manager.
 * @param errors receives a message, one line per problem (malloc'ed,
 *   caller frees); NULL on success. May be NULL.
 * @return 0, TETHER_EEXIST (a name already in m), TETHER_EINVAL (NULL
 *   argument), TETHER_ENOMEM.
 * @thread init (before the connections are started)
 */
TETHER_EXPORT int tether_config_apply(const tether_config *cfg,
				      tether_mgr *m, char **errors);

/**
 * @brief The effective configuration as YAML, with every default filled
 *   in and every secret masked ("***"). Loading the text again gives the
 *   same configuration and the same dump.
 * @return malloc'ed text (the caller frees it), or NULL when out of
 *   memory.
 * @thread any
 */
TETHER_EXPORT char *tether_config_dump(const tether_config *cfg);

/**
 * @brief Number of connections in cfg.
 * @thread any
 */
TETHER_EXPORT size_t tether_config_count(const tether_config *cfg);

/**
 * @brief Name of connection i (file order).
 * @return borrowed text valid until tether_config_free(), or NULL when i
 *   is out of range.
 * @thread any
 */
TETHER_EXPORT const char *tether_config_name(const tether_config *cfg,
					     size_t i);

/**
 * @brief Make a running manager match a configuration, live.
 *
 * Atomic: cfg was checked completely when loaded, and every name is
 * checked again before anything changes, so an error changes nothing.
 * Then, per connection (matched by name):
 * - only policy, limits, timings, heartbeat, classification or queue
 *   bounds changed: swapped live; an ONLINE connection stays ONLINE and
 *   its next failure follows the new policy;
 * - transport, endpoints or transport options (credentials...) changed:
 *   only that connection is closed and started again with the new ones;
 * - new in cfg: created and started;
 * - absent from cfg: stopped (it ends CLOSED; its handle stays valid
 *   until tether_mgr_free, and a later reload naming it again restarts
 *   it). The manager's limiter is set from cfg.
 * @param cfg the new configuration.
 * @param m a manager whose connections were created by
 *   tether_config_apply() or an earlier reload (or by hand).
 * @param errors as for tether_config_apply(); may be NULL.
 * @return 0, TETHER_EINVAL, TETHER_EEXIST (a connection of that name with
 *   another transport that cannot be replaced), TETHER_ENOMEM.
 * @thread any but the loop thread's callbacks
 */
TETHER_EXPORT int tether_config_reload(const tether_config *cfg,
				       tether_mgr *m, char **errors);

/**
 * @brief Load path and tether_config_reload() it into m. A file that does
 *   not load changes nothing; *errors says why.
 * @return 0, or the error of tether_config_load_file() or
 *   tether_config_reload().
 * @thread any but the loop thread's callbacks
 */
TETHER_EXPORT int tether_mgr_reload(tether_mgr *m, const char *path,
				    char **errors);

/**
 * @brief The `log:` section, for the program that runs the configuration
 *   (`tether run`): format "text" or "json", level "debug", "info" or
 *   "warn". Defaults "text" and "info".
 * @return borrowed static strings.
 * @thread any
 */
TETHER_EXPORT const char *tether_config_log_format(const tether_config *cfg);
/** @copydoc tether_config_log_format */
TETHER_EXPORT const char *tether_config_log_level(const tether_config *cfg);

/**
 * @brief The `metrics:` section: the address `tether run` serves /metrics
 *   on ("127.0.0.1:9464"), or NULL when the file has none.
 * @return borrowed text valid until tether_config_free().
 * @thread any
 */
TETHER_EXPORT const char *tether_config_metrics_listen(const tether_config *cfg);

#ifdef __cplusplus
}
#endif
#endif

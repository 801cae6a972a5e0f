/**
 * @file sim.h
 * @brief Reconnect storms on virtual time: run the real state machine,
 *   policies and limiter for N clients against a simulated server that goes
 *   away for a while, and measure what the server would have seen.
 *
 * The server model: every attempt takes `rtt_ms` to resolve. At
 * `outage_at_ms` every established link drops (end of stream from the
 * peer); until `outage_at_ms + outage_ms` attempts are refused
 * (TETHER_SIM_REFUSE) or never answered (TETHER_SIM_BLACKHOLE, so they end
 * at the connect timeout); after that they succeed.
 *
 * With `coordinated` set, the clients share the server's health as the
 * connections of one manager sharing an endpoint do (tether_conn_set_
 * coordinated()): while it fails one client probes it and the others
 * wait, then come back through the limiter.
 */
#ifndef TETHER_SIM_H
#define TETHER_SIM_H

#include <tether/policy.h>
#include <tether/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How the server behaves during the outage. */
enum tether_sim_fault {
	TETHER_SIM_REFUSE = 0, /**< connections refused at once */
	TETHER_SIM_BLACKHOLE   /**< connections never answered */
};

/** A scenario. Start from tether_sim_config_init(). */
struct tether_sim_config {
	uint32_t size;           /**< sizeof(struct tether_sim_config) */
	uint32_t clients;        /**< number of connections (>= 1) */
	uint64_t outage_ms;      /**< how long the server is away */
	uint64_t rtt_ms;         /**< time for an attempt to resolve */
	uint64_t horizon_ms;     /**< stop this long after the server is
				      back, reconnected or not */
	uint64_t seed;           /**< every random draw derives from it */
	enum tether_sim_fault fault;
	double connects_per_second; /**< manager limiter; 0 = off */
	uint32_t burst;             /**< bucket size (>= 1) */
	uint32_t max_connecting;    /**< 0 = no cap */
	uint64_t connect_timeout_ms; /**< per attempt; 0 = none */
	uint64_t stable_after_ms;    /**< ONLINE this long resets backoff */
	tether_params *policy;   /**< borrowed; `type` selects the policy */
	int coordinated;         /**< share the endpoint's health (0 = off) */
	uint64_t probe_interval_ms; /**< coordinated: longest delay between
					 shared probes while others wait */
};

/**
 * @brief Fill a config with defaults: 1000 clients, 30 s outage, 1 ms RTT,
 *   horizon 600 s, seed 1, refuse, limiter off, connect timeout 10 s,
 *   stable after 5 s, not coordinated (probe interval 1 s), policy NULL
 *   (set it).
 * @thread any
 */
TETHER_EXPORT void tether_sim_config_init(struct tether_sim_config *cfg);

/** A finished run. */
typedef struct tether_sim tether_sim;

/**
 * @brief Run a scenario to completion.
 * @param cfg the scenario (read only during the call).
 * @param out receives the run.
 * @param err receives a message on failure (may be NULL).
 * @param errlen size of err.
 * @return 0; TETHER_EINVAL, TETHER_ECONFIG (policy), TETHER_ENOENT
 *   (unknown policy type), TETHER_ENOMEM.
 * @thread any (a run shares nothing)
 */
TETHER_EXPORT int tether_sim_run(const struct tether_sim_config *cfg,
				 tether_sim **out, char *err, size_t errlen);

/**
 * @brief Free a run. NULL is a no-op.
 * @thread any
 */
TETHER_EXPORT void tether_sim_free(tether_sim *sim);

/** Figures of a run. Times are ms of virtual time. */
struct tether_sim_summary {
	uint32_t size;            /**< sizeof(struct tether_sim_summary) */
	uint64_t outage_at_ms;    /**< when the links dropped */
	uint64_t recovered_at_ms; /**< when the server came back */
	uint64_t attempts;        /**< from outage_at on */
	uint64_t attempts_during_outage;
	uint64_t peak_1s;   /**< most attempts in any 1 s window */
	uint64_t peak_100ms; /**< most attempts in any 100 ms window */
	uint64_t reconnect_p50_ms; /**< after recovered_at; UINT64_MAX never */
	uint64_t reconnect_p90_ms;
	uint64_t reconnect_p100_ms;
	uint32_t reconnected; /**< clients online again */
	uint32_t gave_up;     /**< clients the policy gave up on */
	uint32_t clients;
	char policy[256]; /**< the policy's effective settings */
	uint64_t held;    /**< coordinated: times a client waited for the
			       probe (0 when not coordinated) */
	uint64_t max_in_flight_outage; /**< most attempts in flight at once
					    before the server came back */
};

/**
 * @brief Compute the figures of a run.
 * @thread any
 */
TETHER_EXPORT void tether_sim_summarize(const tether_sim *sim,
					struct tether_sim_summary *out);

/**
 * @brief Number of attempts recorded from the outage on, in time order.
 * @thread any
 */
TETHER_EXPORT size_t tether_sim_attempt_count(const tether_sim *sim);

/**
 * @brief One attempt: its time and its client.
 * @return 0, or TETHER_ERANGE for an index past the end.
 * @thread any
 */
TETHER_EXPORT int tether_sim_attempt(const tether_sim *sim, size_t i,
				     uint64_t *at_ms, uint32_t *client);

/**
 * @brief When a client was online again, in ms after the server came back.
 * @return the delay, or UINT64_MAX if it never reconnected.
 * @thread any
 */
TETHER_EXPORT uint64_t tether_sim_reconnect_ms(const tether_sim *sim,
					       uint32_t client);

/**
 * @brief Count attempts per bin: bins[i] gets the attempts in
 *   [from_ms + i*bin_ms, from_ms + (i+1)*bin_ms).
 * @return 0, or TETHER_EINVAL (bin_ms 0, bins NULL with n > 0).
 * @thread any
 */
TETHER_EXPORT int tether_sim_histogram(const tether_sim *sim, uint64_t from_ms,
				       uint64_t bin_ms, uint64_t *bins,
				       size_t n);

#ifdef __cplusplus
}
#endif
#endif

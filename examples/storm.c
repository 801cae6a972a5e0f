/*
 * Embedding the simulator: compare two policies for a gateway with 2,000
 * links before choosing one. Build against an installed tether with
 *
 *     cc storm.c $(pkg-config --cflags --libs tether) -o storm
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tether/policy.h>
#include <tether/sim.h>

static int run(const char *yaml)
{
	struct tether_sim_config cfg;
	struct tether_sim_summary s;
	tether_params *policy = NULL;
	tether_sim *sim = NULL;
	char err[1024];

	if (tether_params_parse_yaml(yaml, strlen(yaml),
				     "storm.c", &policy, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	tether_sim_config_init(&cfg);
	cfg.clients = 2000;
	cfg.outage_ms = 30000;
	cfg.connects_per_second = 500; /* the manager's limiter */
	cfg.burst = 50;
	cfg.policy = policy;
	if (tether_sim_run(&cfg, &sim, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		tether_params_free(policy);
		return -1;
	}
	tether_sim_summarize(sim, &s);
	printf("%s\n  max attempts in any 1 s: %" PRIu64
	       ", all back %.1f s after the server\n",
	       s.policy, s.peak_1s, (double)s.reconnect_p100_ms / 1000.0);
	tether_sim_free(sim);
	tether_params_free(policy);
	return 0;
}

int main(void)
{
	if (run("{type: exponential, jitter: full}") != 0 ||
	    run("{type: exponential, jitter: equal, max: 20s}") != 0)
		return 1;
	return 0;
}

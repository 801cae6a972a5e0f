/* bench/storm's results and their report. */
#ifndef TETHER_BENCH_STORM_INT_H
#define TETHER_BENCH_STORM_INT_H

#include <stdint.h>

#include "fleet.h"

struct storm_result {
	const struct fleet_kind *kind;
	int n, outage_s;
	int ok;
	int counted_by_proxy;	/* accept+RST instead of refusals */
	uint64_t connect_ms;	/* first connect of all N */
	uint64_t attempts_outage, attempts_total;
	uint64_t max_1s, max_100ms;
	/* First and last attempt after the server is back, ms after it
	 * (UINT64_MAX: none). */
	uint64_t first_after_ms, last_after_ms;
	int back;		/* clients back by the deadline */
	uint64_t t50, t90, t100; /* ms after the server is back; UINT64_MAX:
				    not reached by the deadline */
	double cpu_s;
	long maxrss_kib;
};

void storm_print_header(void);
void storm_print_row(const struct storm_result *r);
/* tether's figures over each peer's of the same transport. */
void storm_print_ratios(const struct storm_result *r, int n);

#endif

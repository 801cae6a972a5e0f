/* A fleet: N client connections of one kind (tether, raw Paho,
 * libmosquitto, raw lws) to one loopback port, each reporting when it
 * comes up. The storm benchmark runs one fleet per child process.
 * Benchmarks only. */
#ifndef TETHER_BENCH_FLEET_H
#define TETHER_BENCH_FLEET_H

#include <stdint.h>

struct fleet_kind {
	const char *name;      /* "tether", "paho", "mosq", "tether-ws", "lws" */
	const char *transport; /* "mqtt" or "ws" */
	const char *what;      /* how it reconnects, for the report */
	/* Start n clients towards 127.0.0.1:port; each calls fleet_up(i)
	 * whenever its link comes up. Returns 0 or -1. */
	int (*start)(int n, uint16_t port, void **state);
	/* Close every client and free everything. */
	void (*stop)(void *state);
};

/* Every kind built in, NULL-terminated. */
extern const struct fleet_kind *const fleet_kinds[];
const struct fleet_kind *fleet_find(const char *name);

/* Client i's link is up now (any thread). */
void fleet_up(int i);
/* When client i was last up (bench_now_ms), 0 if never. */
uint64_t fleet_last_up(int i);
/* Clients last up after t. */
int fleet_up_after(uint64_t t);
/* Allocate the record for n clients; 0 or -1. */
int fleet_record_init(int n);
void fleet_record_free(void);

extern const struct fleet_kind fleet_tether_mqtt, fleet_tether_ws,
    fleet_paho, fleet_mosq, fleet_lws;

#endif

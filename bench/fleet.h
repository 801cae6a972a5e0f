/* A fleet: N client connections of one kind (tether, raw Paho,
 * libmosquitto, raw lws, the WebSocket floor) to one loopback port, each reporting when it
 * comes up. The storm benchmark runs one fleet per child process.
 * Benchmarks only. */
#ifndef TETHER_BENCH_FLEET_H
#define TETHER_BENCH_FLEET_H

#include <stddef.h>
#include <stdint.h>

struct fleet_kind {
	const char *name;      /* "tether", "paho", "mosq", "tether-ws", "lws",
				  "lws-uv", "tether-solo", "ws-floor" */
	const char *transport; /* "mqtt" or "ws" */
	const char *what;      /* how it reconnects, for the report */
	/* Start n clients towards 127.0.0.1:port; each calls fleet_up(i)
	 * whenever its link comes up. Returns 0 or -1. */
	int (*start)(int n, uint16_t port, void **state);
	/* Close every client and free everything. */
	void (*stop)(void *state);
	/* Optional, for fleets with worker processes: their CPU seconds so
	 * far, and their resident memory in KiB (peak if peak, else now). */
	double (*worker_cpu_s)(void *state);
	long (*worker_rss_kib)(void *state, int peak);
};

/* Settings a benchmark may change from each kind's defaults (0 = the
 * kind's default). Set before start. */
struct fleet_tuning {
	int keepalive_s;	 /* MQTT keepalive (tether, paho, mosq) */
	uint64_t hb_interval_ms; /* tether WebSocket heartbeat (and
				    ws-floor's) */
	uint64_t hb_timeout_ms;
	uint32_t hb_misses;
	int lws_ping_s;		 /* lws_retry_bo_t secs_since_valid_ping */
	int lws_hangup_s;	 /* ... secs_since_valid_hangup */
	int lws_default_policy;	 /* 1: no retry/idle policy of ours (lws's
				    own defaults; no reconnection) */
	int port2;		 /* WebSocket fleets: odd clients connect to
				    this port instead (a second server) */
};
extern struct fleet_tuning fleet_tuning;

/* "ka=2,hbi=2000,hbt=1000,hbm=2,lping=2,lhang=4,ldef=1,port2=N" into
 * fleet_tuning
 * ("-" or "" = defaults). Returns 0 or -1. */
int fleet_tuning_parse(const char *s);
/* The same string for fleet_tuning (to pass to a child). */
void fleet_tuning_format(char *buf, size_t n);

/* Every kind built in, NULL-terminated. */
extern const struct fleet_kind *const fleet_kinds[];
const struct fleet_kind *fleet_find(const char *name);

/* Client i's link is up now (any thread). */
void fleet_up(int i);
/* When client i was last up (bench_now_ms), 0 if never. */
uint64_t fleet_last_up(int i);
/* Client i's link went down (or an attempt failed) now (any thread). */
void fleet_down(int i);
/* When client i last went down, 0 if never. */
uint64_t fleet_last_down(int i);
/* Clients last up after t. */
int fleet_up_after(uint64_t t);
/* Allocate the record for n clients; 0 or -1. */
int fleet_record_init(int n);
void fleet_record_free(void);

extern const struct fleet_kind fleet_tether_mqtt, fleet_tether_ws,
    fleet_tether_solo, fleet_paho, fleet_mosq, fleet_lws, fleet_lws_uv,
    fleet_ws_floor;

#endif

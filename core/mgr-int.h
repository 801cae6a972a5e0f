/* The runtime: manager and connection internals (core/mgr.c). */
#ifndef TETHER_MGR_INT_H
#define TETHER_MGR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <tether/transport.h>

#include "engine-int.h"

/* Reconnect-time histogram bounds in ms (a last +Inf bucket follows). */
#define TTH_MET_BUCKETS 10

/*
 * A connection's metrics (core/metrics.c). Written on the loop thread
 * only; the atomics are read by tether_mgr_metrics_text from any thread.
 */
struct tth_conn_metrics {
	_Atomic uint64_t attempts_up, attempts_failed;
	_Atomic uint64_t disconnects[TETHER_CLASS_COUNT];
	_Atomic uint64_t reconnect_bucket[TTH_MET_BUCKETS]; /* not cumulative;
							       the last: +Inf */
	_Atomic uint64_t reconnect_sum_ms;
	_Atomic uint64_t srtt_us;     /* smoothed RTT (RFC 6298) */
	_Atomic uint64_t rtt_samples; /* 0: srtt_us means nothing yet */
	_Atomic uint64_t sent, received;
	/* loop thread only */
	int online;        /* up since the last attempt began */
	int lost;          /* link lost, not up again yet */
	uint64_t lost_at_ms;
	double srtt, rttvar; /* in ms */
};

/* Hooks of the runtime into the metrics; loop thread. */
void tth_metrics_event(struct tether_conn *c, const struct tether_event *ev);
void tth_metrics_rtt(struct tether_conn *c, uint64_t rtt_ms);
void tth_metrics_message(struct tether_conn *c, int sent);

/* What metrics.c needs of the manager (mgr.c); any thread. The
 * connections in creation order, as a malloc'ed array (*n 0 and NULL
 * when there are none); -1 when out of memory. */
int tth_mgr_conns(tether_mgr *m, struct tether_conn ***out, size_t *n);
uint64_t tth_mgr_limiter_waits(tether_mgr *m);

struct tth_sub {
	char *topic;
	int qos;
};

struct tether_conn {
	struct tth_econn ec; /* the machine, run by the manager's engine */
	tether_mgr *mgr;
	struct tether_conn *next;
	char *name;
	const struct tether_transport_ops *tops;
	void *link;             /* the transport's side, once started */
	tether_params *opts;    /* transport options */
	tether_policy *policy;
	tether_classifier *classifier;
	struct tth_machine_cfg mcfg;
	char **endpoints;
	uint32_t n_endpoints;
	char *redirect_uri;     /* target of the last redirect */
	uint64_t hb_interval, hb_timeout; /* heartbeat, 0 = off */
	uint32_t hb_misses, hb_missed;
	uint64_t hb_ping_sent;
	int hb_waiting;
	struct tth_etimer hb_timer;
	_Atomic uint64_t last_rx_ms;  /* written by transport threads */
	_Atomic uint64_t last_pong_ms;
	_Atomic int state;            /* as of the last STATE event */
	_Atomic uint64_t next_msg_id;
	uint32_t online_attempt;
	/* Sends handed to the transport and not yet reported: each gets
	   exactly one TETHER_EV_SENT, from the transport or, when its link
	   ends first, from the runtime (loop thread only). */
	uint64_t *pending;
	size_t npending, cappending;
	struct tth_sub *subs;
	size_t nsubs;
	int inited;             /* machine initialised (first start) */
	int needs_network;      /* some endpoint is not on loopback */
	int uncoordinated;      /* coordinated recovery off (core/conn_coord.c) */
	void *userdata;
	struct tth_conn_metrics met;
	char error[1024];
};

/* core/conn_coord.c: hand c's endpoint keys to its machine (after
 * tth_econn_init, before the first start is posted). */
#define TTH_KEY_MAX 300
void tth_conn_coordinate(struct tether_conn *c);

#endif

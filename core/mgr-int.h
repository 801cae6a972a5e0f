/* The runtime: manager and connection internals (core/mgr.c). */
#ifndef TETHER_MGR_INT_H
#define TETHER_MGR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <tether/transport.h>

#include "engine-int.h"

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
	struct tth_sub *subs;
	size_t nsubs;
	int inited;             /* machine initialised (first start) */
	int needs_network;      /* some endpoint is not on loopback */
	void *userdata;
	char error[1024];
};

#endif

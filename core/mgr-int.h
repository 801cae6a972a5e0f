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

struct tth_post;
struct tth_linkmon;

struct tctx {
	const struct tether_transport_ops *ops;
	void *ctx;
};

#define MAX_TRANSPORT_CTX 8

struct tether_mgr {
	struct tth_engine eng;
	/* Two locks, never held together: qlock guards only the queue (the
	   transports' threads take it inside their libraries' callbacks,
	   holding the libraries' own locks); lock guards the connection list
	   and the transport contexts, and is held while calling a transport's
	   ctx_new/link_new, which take those library locks. */
	pthread_mutex_t lock;
	pthread_mutex_t qlock;
	struct tth_post *qhead, *qtail;
	int efd;  /* wakes the loop */
	int epfd; /* what tether_mgr_fd gives: efd and the link monitor */
	struct tth_linkmon *lm; /* NULL: no link awareness (no netlink) */
	/* Link awareness starts once a default route has been seen: a
	   gateway on an isolated network without one is never suspended. */
	int link_tracking;
	int link_usable;
	pthread_t thread;
	int thread_running;
	atomic_int quit;
	pthread_t loop_tid;
	atomic_int in_dispatch;
	tether_event_cb cb;
	void *cb_ud;
	tether_conn *conns;
	struct tctx tctx[MAX_TRANSPORT_CTX];
	size_t ntctx;
	uint64_t seed;
	uint32_t nconns;
	_Atomic uint64_t met_limiter_waits; /* metrics: the limiter's
					       queued_total, mirrored */
};

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
	tether_params *policy_params; /* what policy was made from; NULL:
					 the default */
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
	/* Reload (core/reload.c), loop thread: settings waiting for this
	   connection to reach CLOSED, then it starts again with them. */
	struct tether_conn *replace_with;
	int removed;            /* stopped by a reload that dropped it */
	struct tether_queue_cfg qcfg; /* qcfg.spool_dir points at spool_dir */
	char *spool_dir;
	tether_resume_cb resume_cb;
	void *resume_ud;
	int needs_network;      /* some endpoint is not on loopback */
	void *userdata;
	struct tth_conn_metrics met;
	char error[1024];
};

/* The runtime's pieces that reload.c uses (mgr.c). */
void tth_conn_free(tether_conn *c);
int tth_conn_prepare(tether_conn *c); /* first start: link and machine */
void tth_hb_start(tether_conn *c);
void tth_hb_stop(tether_conn *c);
void tth_conn_event(tether_conn *c, enum tether_event_type t,
		    const char *detail);
/* Post a reload step to the loop (s is consumed): REPLACE: c takes s's
   settings, live or by a restart; DROP: c is stopped and marked removed;
   ADDED: c (just adopted) is announced. */
enum tth_reload_step { TTH_RELOAD_REPLACE, TTH_RELOAD_DROP, TTH_RELOAD_ADDED };
int tth_post_reload(tether_conn *c, tether_conn *s, enum tth_reload_step step);
/* Loop side of those posts (reload.c); each consumes s. */
void tth_reload_live(tether_conn *c, tether_conn *s);
void tth_reload_replace(tether_conn *c, tether_conn *s);
void tth_reload_drop(tether_conn *c);
/* Queue settings of a started connection: posted, then applied by the
   loop (the spool directory stays). */
int tth_post_queue_cfg(tether_conn *c, const struct tether_queue_cfg *q);
void tth_queue_cfg_live(tether_conn *c, const struct tether_queue_cfg *q);
/* c reached CLOSED: if a replacement waits, apply it (loop thread). */
void tth_reload_closed(tether_conn *c);

#endif

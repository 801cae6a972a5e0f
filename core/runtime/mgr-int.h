/*
 * The runtime: manager and connection internals. The files, by job:
 *   loop.c       the libuv loop, the manager's life, running it
 *   mailbox.c    posts to the loop, one handler per kind (mailbox-int.h)
 *   report.c     the transports' reports (tether_transport_*)
 *   conn.c       connections: settings, first start, the thread-safe API
 *   conn_io.c    the engine's actions and events for a connection
 *   heartbeat.c  ping/pong with a deadline
 *   outbox.c     outbound messages; reload.c, metrics.c, conn_coord.c
 */
#ifndef TETHER_MGR_INT_H
#define TETHER_MGR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <tether/transport.h>

#include "engine-int.h"
#include "queue-int.h"
#include "settings-int.h"

/* Reconnect-time histogram bounds in ms (a last +Inf bucket follows). */
#define TTH_MET_BUCKETS 10

/*
 * A connection's metrics (core/runtime/metrics.c). Written on the loop thread
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
	_Atomic uint64_t bytes_sent, bytes_received; /* payload + topic */
	_Atomic uint64_t flaps; /* the machine's flaps_total, mirrored */
	_Atomic uint64_t dropped[5]; /* tth_met_drop_reasons order */
	_Atomic uint64_t spool_errors; /* failed spool writes (not full) */
	/* loop thread only */
	int online;        /* up since the last attempt began */
	int lost;          /* link lost, not up again yet */
	uint64_t lost_at_ms;
	double srtt, rttvar; /* in ms */
};

/* Hooks of the runtime into the metrics; loop thread. */
void tth_metrics_event(struct tether_conn *c, const struct tether_event *ev);
void tth_metrics_rtt(struct tether_conn *c, uint64_t rtt_ms);
void tth_metrics_message(struct tether_conn *c, int sent, uint64_t bytes);
/* a spool write failed (not a full spool); any thread */
void tth_metrics_spool_error(struct tether_conn *c);

/* What metrics.c needs of the manager (loop.c); any thread. The
 * connections in creation order, as a malloc'ed array (*n 0 and NULL
 * when there are none); -1 when out of memory. */
int tth_mgr_conns(tether_mgr *m, struct tether_conn ***out, size_t *n);
/* The same with m->lock held by the caller (who reads the connections
 * before a removal can free one: tether_mgr_metrics_text). */
int tth_mgr_conns_locked(tether_mgr *m, struct tether_conn ***out,
			 size_t *n);
uint64_t tth_mgr_limiter_waits(tether_mgr *m);

struct tth_post;
struct tth_uv;
struct uv_loop_s;
struct tth_linkmon;
struct tth_spool;

struct tctx {
	const struct tether_transport_ops *ops;
	void *ctx;
};

#define MAX_TRANSPORT_CTX 8

struct tether_mgr {
	struct tth_engine eng;
	/* Two locks, never held together: qlock guards only the mailbox
	   (the transports' threads take it inside their libraries'
	   callbacks, holding the libraries' own locks); lock guards the
	   connection list and the transport contexts, and is held while
	   calling a transport's ctx_new/link_new, which take those library
	   locks. */
	pthread_mutex_t lock;
	pthread_mutex_t qlock;
	struct tth_post *qhead, *qtail;
	/* The loop (core/runtime/loop.c): the manager's own libuv loop or the host's;
	   its handles live in `uv`, freed by their last close callback. */
	struct uv_loop_s *loop;
	struct tth_uv *uv;
	int own_loop;           /* loop is ours (tether_mgr_new) */
	uint64_t armed_due;     /* what uv->timer is armed for; TTH_NEVER */
	struct tth_linkmon *lm; /* NULL: no link awareness (no netlink) */
	/* Link awareness starts once a default route has been seen: a
	   gateway on an isolated network without one is never suspended. */
	int link_tracking;
	int link_usable;
	pthread_t thread;
	int thread_running;
	atomic_int quit;
	/* The thread that runs the loop: the manager's own, the host's
	   (set at each tether_mgr_dispatch, or at tether_mgr_new_uv). Posts
	   from it wake the loop without a syscall. */
	_Atomic unsigned long loop_tid;
	atomic_int loop_tid_set;
	atomic_int in_dispatch;
	tether_event_cb cb;
	void *cb_ud;
	tether_conn *conns;
	tether_conn *removed; /* being removed (linked by rnext): unlinked
				 from conns, freed on the loop (FREE post) */
	struct tctx tctx[MAX_TRANSPORT_CTX];
	size_t ntctx;
	uint64_t seed;
	uint32_t nconns;
	_Atomic uint64_t met_limiter_waits; /* metrics: the limiter's
					       queued_total, mirrored */
};

/* The heartbeat's state (core/runtime/heartbeat.c). */
struct tth_conn_hb {
	struct tth_etimer timer;
	uint32_t missed;
	int waiting;            /* a ping is out */
	uint64_t ping_sent;
	_Atomic uint64_t last_rx_ms;  /* written by transport threads */
	_Atomic uint64_t last_pong_ms;
};

/* Outbound messages (core/runtime/outbox.c): the queue, pushed to from
 * any thread under qmu, everything else on the loop thread. */
struct tth_conn_out {
	pthread_mutex_t qmu;
	struct tth_queue q;
	int q_ready;
	struct tth_etimer ttl_timer;
	struct tth_spool *spool;  /* opened at the first start; NULL: none */
	struct tth_etimer flush_timer; /* fsync INTERVAL */
	char *spool_warnings;     /* of its recovery, until told (loop) */
	atomic_int kicked;        /* a pump is posted */
	int in_resume;            /* inside the resume hook (loop thread) */
};

struct tether_conn {
	struct tth_econn ec; /* the machine, run by the manager's engine */
	tether_mgr *mgr;
	struct tether_conn *next;
	char *name;
	const struct tether_transport_ops *tops;
	struct tth_conn_settings set; /* what it was told (settings-int.h) */
	tether_policy *policy;  /* made from set.policy_params at the first
				   start, or by tether_conn_set_policy */
	tether_resume_cb resume_cb;
	void *resume_ud;
	/* The pre-connect hook (conn_io.c), loop thread: the attempt it
	   holds (0: none) and that attempt's endpoint; in_pre_cb while it
	   runs (tether_conn_set_option is allowed then); opts_dirty when
	   options changed since the link was made (made anew before the
	   next connect). */
	tether_preconnect_cb pre_cb;
	void *pre_ud;
	uint32_t pre_wait_id;
	uint32_t pre_wait_ep;
	uint64_t pre_wait_since;
	int in_pre_cb;
	atomic_int opts_dirty;
	/* the link (loop thread, but state and next_msg_id) */
	void *link;             /* the transport's side, once started */
	int inited;             /* machine initialised (first start) */
	int needs_network;      /* some endpoint is not on loopback */
	char *redirect_uri;     /* target of the last redirect */
	uint32_t online_attempt;
	int session_present;    /* of the latest up */
	_Atomic int state;      /* as of the last STATE event */
	_Atomic uint64_t next_msg_id;
	struct tth_conn_hb hb;
	struct tth_conn_out out;
	/* Reload (core/config/reload.c), loop thread: settings waiting for
	   this connection to reach CLOSED, then it starts again with them. */
	struct tth_conn_settings *replace_with;
	/* Removal (conn.c, mailbox.c): asked (any thread), waiting for
	   CLOSED, torn down (posts for it are skipped until it is freed). */
	atomic_int removing;
	int remove_pending;
	int gone;
	struct tether_conn *rnext; /* in mgr->removed; `next` is left as it
				      was, for a walk of conns under way */
	/* Filters unsubscribed while offline (loop thread): sent at the
	   next up if the broker kept the session, else forgotten. */
	char **unsub_pending;
	size_t n_unsub_pending;
	void *userdata;
	struct tth_conn_metrics met;
	char *error; /* TTH_CONN_ERROR_MAX bytes, made at the first error
			(tth_conn_errbuf); NULL: none */
};

#define TTH_CONN_ERROR_MAX 1024

/* c's error buffer (TTH_CONN_ERROR_MAX bytes), made on first use; when
 * that fails, a scratch buffer of the calling thread's (the text is then
 * lost, tether_conn_error says "out of memory"). */
char *tth_conn_errbuf(tether_conn *c);

/* Outbound messages (outbox.c); all loop thread but init/cleanup. */
int tth_outbox_init(tether_conn *c);
void tth_outbox_cleanup(tether_conn *c);
void tth_outbox_pump(tether_conn *c);
void tth_outbox_sent(tether_conn *c, uint32_t attempt, uint64_t id, int err);
void tth_outbox_link_end(tether_conn *c, int closed);
void tth_outbox_up(tether_conn *c);
void tth_outbox_emit(tether_conn *c, struct tth_qout *out);
void tth_outbox_set_limits(tether_conn *c, const struct tether_queue_cfg *q,
			   struct tth_qout *out);
/* First start: open the spool, queue what it kept (0, or an error with
   c->error set); its recovery warnings as events (loop thread). */
int tth_outbox_open_spool(tether_conn *c);
/* What the queue holds now: messages waiting, bytes held (any thread). */
void tth_outbox_depth(const tether_conn *c, uint64_t *waiting,
		      uint64_t *bytes);
uint64_t tth_outbox_max_messages(const tether_conn *c);
void tth_outbox_warnings(tether_conn *c);
/* What outbox.c needs of the runtime: a pump on the loop (coalesced), dropped
   entries to report from the loop (out is emptied), one SENT event. */
void tth_conn_kick(tether_conn *c);
void tth_conn_post_dropped(tether_conn *c, struct tth_qout *out);
void tth_conn_sent_event(tether_conn *c, uint64_t id, int err);
/* metrics.c: a message dropped with err */
void tth_metrics_dropped(tether_conn *c, int err);

/* loop.c: wake the loop for a post (uv_idle from the loop thread,
   uv_async from any other). */
void tth_loop_wake(tether_mgr *m);

/* conn_io.c: the engine's I/O for connections; events. */
extern const struct tth_engine_io tth_mgr_io;
void tth_event_init(tether_conn *c, enum tether_event_type t,
		    struct tether_event *ev);
void tth_user_event(tether_conn *c, const struct tether_event *ev);

/* conn_io.c: subscriptions on the link (loop thread). Make sub now (a
   refusal the link reports, or one it cannot send, becomes a
   SUBSCRIBE_FAILED event); unsubscribe topic now when online, else at
   the next up with a kept session; forget a pending unsubscribe;
   free the pending ones. */
#define TTH_UNSUB_PENDING_MAX 1024
void tth_conn_sub_apply(tether_conn *c, const struct tth_sub *sub);
void tth_conn_unsub_apply(tether_conn *c, const char *topic);
void tth_conn_unsub_forget(tether_conn *c, const char *topic);
void tth_conn_unsub_clear(tether_conn *c);

/* heartbeat.c: set up c's heartbeat timer (at creation). */
void tth_hb_init(tether_conn *c);

/* The runtime's pieces that reload.c uses. */
void tth_conn_free(tether_conn *c);
int tth_conn_prepare(tether_conn *c); /* first start: link and machine */
/* c's policy made from c->set.policy_params (or the default). */
int tth_conn_make_policy(tether_conn *c, tether_policy **out);
void tth_hb_start(tether_conn *c);
void tth_hb_stop(tether_conn *c);
/* conn_io.c: tether_conn_preconnect_resume() on the loop. */
void tth_conn_preconnect_resume(tether_conn *c);
/* conn.c: a link made from c's options (message in c->error). */
int tth_conn_make_link(tether_conn *c, void **link);
void tth_conn_event(tether_conn *c, enum tether_event_type t,
		    const char *detail);
/* A connection named name, made with a copy of settings s, not started
 * (tether_config_apply, reload). 0, TETHER_EEXIST, TETHER_ENOMEM. */
int tth_conn_new_with(tether_mgr *m, const char *name,
		      const struct tth_conn_settings *s, tether_conn **out);
/* Reload steps, posted to the loop. SETTINGS: c takes the value s (heap,
   consumed, also on error), live or by a restart; ADDED: c (new) is
   announced. A dropped connection is removed (tth_conn_remove). */
int tth_post_settings(tether_conn *c, struct tth_conn_settings *s);
int tth_post_added(tether_conn *c);
/* Loop side of those posts (reload_live.c); replace consumes s. */
void tth_reload_replace(tether_conn *c, struct tth_conn_settings *s);
/* Remove c (tether_conn_remove); by_reload: a reload dropped it (a
   RELOAD "removed" event comes first). */
int tth_conn_remove(tether_conn *c, int by_reload);
/* Loop side: close c, or tear it down when it is closed. */
void tth_conn_removing(tether_conn *c, int by_reload);
void tth_conn_teardown(tether_conn *c);
/* Queue settings of a started connection: posted, then applied by the
   loop (the spool directory stays). */
int tth_post_queue_cfg(tether_conn *c, const struct tether_queue_cfg *q);
void tth_queue_cfg_live(tether_conn *c, const struct tether_queue_cfg *q);
/* c reached CLOSED: if a replacement waits, apply it (loop thread). */
void tth_reload_closed(tether_conn *c);

/* core/runtime/conn_coord.c: hand c's endpoint keys to its machine (after
 * tth_econn_init, before the first start is posted). */
#define TTH_KEY_MAX 300
void tth_conn_coordinate(struct tether_conn *c);

#endif

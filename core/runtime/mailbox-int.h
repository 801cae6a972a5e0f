/*
 * The mailbox (core/runtime/mailbox.c): everything that reaches a manager's engine
 * from outside its own calls. Transports post reports from their threads
 * (or from lws callbacks on the loop thread), the API posts commands, the
 * engine's own actions post what must not run inside them (a connect that
 * failed at once, a reload step). A post is a tagged union, owns copies of
 * all it carries, and is handled on the loop thread by the one handler of
 * its kind.
 */
#ifndef TETHER_MAILBOX_INT_H
#define TETHER_MAILBOX_INT_H

#include <stdint.h>

#include <tether/tether.h>

#include "queue-int.h"
#include "settings-int.h"

struct tether_mgr;
struct tth_conn_settings;

enum tth_post_kind {
	/* reports from transports (tether_transport_*, core/runtime/report.c) */
	TTH_POST_UP,
	TTH_POST_FAIL,
	TTH_POST_DOWN,
	TTH_POST_CLOSED,
	TTH_POST_MESSAGE,
	TTH_POST_SENT,
	TTH_POST_SUB_FAILED, /* a refused SUBSCRIBE or UNSUBSCRIBE */
	/* commands from the API */
	TTH_POST_START,
	TTH_POST_STOP,
	TTH_POST_PUMP,      /* hand waiting messages to the transport */
	TTH_POST_DROPPED,   /* report `dropped` */
	TTH_POST_SUBSCRIBE,
	TTH_POST_UNSUBSCRIBE,
	TTH_POST_LIMITS,
	TTH_POST_QUEUE_CFG, /* new queue bounds */
	/* from the engine's own actions */
	TTH_POST_BAD_ENDPOINT, /* the transport refused the URI at once */
	TTH_POST_PRECONNECT,   /* tether_conn_preconnect_resume */
	/* reload steps (core/config/reload.c) */
	TTH_POST_SETTINGS,    /* new settings, live or by a restart */
	TTH_POST_ADDED,       /* a new connection */
	TTH_POST_REPLACE_NOW, /* reached CLOSED: apply the replacement */
	/* removal (tether_conn_remove, a reload that dropped it) */
	TTH_POST_REMOVE,      /* close it, then tear it down */
	TTH_POST_REMOVE_NOW,  /* reached CLOSED: tear it down */
	TTH_POST_FREE,        /* after every earlier post: free it */
	TTH_POST_KINDS
};

struct tth_post {
	struct tth_post *next;
	enum tth_post_kind kind;
	tether_conn *conn;  /* NULL for LIMITS */
	uint32_t attempt;   /* reports and BAD_ENDPOINT */
	union {
		struct {
			int session_present;
		} up;
		struct { /* FAIL, DOWN, SUB_FAILED */
			int has_reason;
			struct tether_reason reason; /* strings: the copies */
			char *text, *ref, *transport;
			char *topic; /* SUB_FAILED */
		} end;
		struct {
			struct tether_message msg; /* points at the copies */
			char *topic;
			void *payload;
			void *props; /* the properties and their bytes */
		} message;
		struct {
			uint64_t msg_id;
			int err;
		} sent;
		struct tth_sub subscribe; /* SUBSCRIBE (topic owned),
					     UNSUBSCRIBE (topic alone) */
		struct {
			double rate;
			uint32_t burst, max_connecting;
		} limits;
		struct {
			int err;
		} bad_endpoint;
		struct tth_conn_settings *settings; /* SETTINGS, owned */
		int by_reload; /* REMOVE: a reload dropped it */
		struct tether_queue_cfg queue_cfg; /* spool_dir not used */
		struct tth_qout dropped;           /* owned entries */
	} u;
};

/* A post of kind k (calloc'ed), or NULL. */
struct tth_post *tth_post_new(enum tth_post_kind k, tether_conn *c,
			      uint32_t attempt);
/* Free p and everything it owns. */
void tth_post_free(struct tth_post *p);
/* Copy *r (NULL: none) into a FAIL or DOWN post; 0 or TETHER_ENOMEM.
 * with_hint: r has retry_after_ms (it comes from a struct as large as
 * ours: the core's own, or a transport of ABI 3 or more). */
int tth_post_set_reason(struct tth_post *p, const struct tether_reason *r,
			int with_hint);
/* Copy *msg into a MESSAGE post; 0 or TETHER_ENOMEM. */
int tth_post_set_message(struct tth_post *p,
			 const struct tether_message *msg);
/* Queue p (consumed) and wake the loop; any thread. */
void tth_post(struct tether_mgr *m, struct tth_post *p);
/* Post a command without arguments for c; 0 or TETHER_ENOMEM. */
int tth_post_cmd(tether_conn *c, enum tth_post_kind k);

/* Loop thread: run what is queued (a bounded number of rounds, against
 * starvation). */
void tth_mailbox_run(struct tether_mgr *m);
/* Whether nothing is queued; any thread. */
int tth_mailbox_empty(struct tether_mgr *m);
/* Free what is queued without running it (tether_mgr_free). */
void tth_mailbox_clear(struct tether_mgr *m);

#endif

/*
 * A connection's outbound queue (docs/architecture.md): the bookkeeping
 * behind tether_conn_send(), with no I/O, no locks and no clock of its own
 * (time comes in as now_ms). One owner calls it at a time: the loop
 * thread, or whoever holds the connection's queue lock.
 *
 * Entries. Each accepted message is one heap block (tth_qentry_new) that
 * owns a copy of the topic, payload and properties and carries the
 * caller's id. An entry is in exactly one place at a time:
 *
 *   owned by the caller --push--> WAITING --take--> INFLIGHT
 *   INFLIGHT --settle(id)-------------------------> back to the caller
 *   INFLIGHT --requeue (link lost)----------------> WAITING (front, dup)
 *   WAITING/INFLIGHT --overflow, ttl, set_cfg,
 *                      drain------------------------> a tth_qout list
 *
 * The rule that the tests are built around: every entry that push()
 * accepted leaves the queue exactly once, either returned by settle() or
 * appended to a tth_qout "dropped" list with the error to report
 * (TETHER_EFULL, TETHER_EEXPIRED, or the caller's error for drain). The
 * caller then emits one TETHER_EV_SENT per entry and frees it. Dropping
 * never allocates, so it cannot fail.
 *
 * Bounds. max_messages and max_bytes (bytes = payload + topic length,
 * plus the bytes of its MQTT 5 property values and user property names)
 * count WAITING + INFLIGHT: memory stays bounded while a transport holds
 * many unacknowledged messages, and requeue() after a lost link never has
 * to drop anything to fit. (tether_queue_cfg's comment says "queued (not
 * yet handed to the transport)": the runtime documents this choice.)
 *
 * Order. WAITING is handed out strictly in order. Its front may hold a
 * "first" region (push_first, for the resume hook): first entries precede
 * everything else, in the order they were pushed. requeue() puts the
 * inflight entries back right after the first region, in their original
 * send order, so a backlog drains in the order it was accepted.
 *
 * Overflow (push when the bounds would be exceeded):
 *   DROP_OLDEST  drop the oldest waiting entries outside the first region
 *                (out: TETHER_EFULL) until the new one fits; when even
 *                dropping all of them would not make room (inflight and
 *                first entries fill the bounds) nothing old is dropped and
 *                the new entry is dropped instead, as DROP_NEWEST does.
 *   DROP_NEWEST  the new entry is accepted and dropped at once (out:
 *                TETHER_EFULL); push returns 0.
 *   REJECT       push returns TETHER_EFULL and keeps nothing.
 * A message larger than max_bytes is refused with TETHER_ETOOBIG.
 *
 * TTL. An entry expires at now + (msg.ttl_ms, else cfg ttl_ms), fixed at
 * push (later cfg changes do not move it). expire() drops expired WAITING
 * entries (TETHER_EEXPIRED). An entry that expires while INFLIGHT stays
 * with the transport; if the link is lost before it is settled, requeue()
 * drops it as expired instead of sending it again.
 *
 * Cost: push, take, settle (hash on the id), requeue per entry O(1)
 * amortised, plus O(log n) for an entry with a TTL (a timer heap).
 *
 * How the runtime is meant to drive it (with spool-int.h):
 *   send:    e = tth_qentry_new(msg, id); if spooled (QoS >= 1 and a
 *            spool): tth_spool_append() -> e->spool_id; tth_queue_push();
 *            if push fails: tth_spool_ack(e->spool_id), free e, return
 *            the error.
 *   online:  after the resume hook (push_first), while the transport
 *            takes more: e = tth_queue_take(); ops->send(e->id, &e->msg);
 *            a send() error: settle(e->id) and report it.
 *   report:  e = tth_queue_settle(id) (NULL: stale, ignore); spool ack;
 *            TETHER_EV_SENT; free.
 *   down:    tth_queue_requeue(q, keep_qos0, TETHER_ECLOSED, &out).
 *   timer:   at min(tth_queue_next_expiry, tth_spool_next_flush):
 *            tth_queue_expire(), tth_spool_flush().
 *   reload:  tth_queue_set_limits(); stop: tth_queue_drain(ECLOSED).
 *   every out list: for each e: spool ack if e->spool_id, one
 *            TETHER_EV_SENT (e->id, e->err), free.
 */
#ifndef TETHER_QUEUE_INT_H
#define TETHER_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/tether.h>

#include "timer_heap-int.h"

enum tth_qwhere {
	TTH_Q_OUT = 0,  /* owned by the caller (new, settled or dropped) */
	TTH_Q_WAITING,
	TTH_Q_INFLIGHT
};

struct tth_qentry {
	struct tth_qentry *prev, *next; /* in WAITING, INFLIGHT or a qout */
	struct tth_qentry *hnext;       /* id hash chain */
	struct tth_timer ttl;           /* armed while it has a deadline */
	uint64_t id;                    /* the caller's message id */
	uint64_t spool_id;   /* caller's data, untouched (0 = not spooled) */
	uint64_t expires_ms; /* TTH_NEVER: no TTL */
	size_t bytes;        /* payload + topic (+ property) length */
	uint32_t sends;      /* how often it was taken (> 1: a resend) */
	uint8_t where;       /* enum tth_qwhere */
	uint8_t first;       /* in the first region of WAITING */
	uint8_t expired;     /* deadline passed while inflight */
	uint8_t pinned;      /* recovered from the spool: never an overflow
				victim (tth_queue_push_recovered) */
	int err;             /* in a qout: the error to report */
	/*
	 * The message as the transport sees it. topic and payload point into
	 * this block; msg.dup is set when the entry is requeued (a resend).
	 */
	struct tether_message msg;
};

/* A list of entries handed back to the caller, oldest first. */
struct tth_qout {
	struct tth_qentry *head, *tail;
	size_t n;
};

struct tth_qlist {
	struct tth_qentry *head, *tail;
	size_t n;
	uint64_t bytes;
};

struct tth_queue_limits {
	uint32_t max_messages;         /* > 0 */
	uint64_t max_bytes;            /* > 0 */
	enum tether_overflow overflow;
	uint64_t ttl_ms;               /* default TTL; 0 = none */
};

struct tth_queue {
	struct tth_queue_limits lim;
	struct tth_qlist waiting, inflight;
	struct tth_qentry *first_last; /* end of the first region, or NULL */
	size_t nfirst;
	uint64_t first_bytes;
	size_t npinned;                /* pinned entries WAITING, and bytes */
	uint64_t pinned_bytes;
	struct tth_qentry **buckets;   /* id hash: every entry in the queue */
	size_t nbuckets;               /* power of two (or 0) */
	struct tth_heap ttl_heap;
	/* counters, for metrics and tests */
	uint64_t pushed, taken, settled, dropped, requeued;
};

/*
 * A new entry holding a copy of msg (topic, payload, qos, retain, binary,
 * ttl_ms), already checked by the caller (payload not NULL when len > 0).
 * NULL when out of memory. The entry is the caller's until push()
 * accepts it; set spool_id before pushing when the message is spooled.
 */
struct tth_qentry *tth_qentry_new(const struct tether_message *msg,
				  uint64_t id);
/* Frees an entry the caller owns (never one inside a queue). NULL ok. */
void tth_qentry_free(struct tth_qentry *e);

void tth_qout_init(struct tth_qout *o);
/* Appends e (the caller's, in no list) to o, to be reported with err. */
void tth_qout_add(struct tth_qout *o, struct tth_qentry *e, int err);
/* Removes and returns the oldest entry of o (the caller owns it), or NULL. */
struct tth_qentry *tth_qout_pop(struct tth_qout *o);
/* Frees every entry left in o. */
void tth_qout_free_all(struct tth_qout *o);

/*
 * Fills the limits from a public config (bounds, overflow, ttl).
 * 0, or TETHER_EINVAL (a bound of 0, an unknown overflow).
 */
int tth_queue_limits_from_cfg(struct tth_queue_limits *lim,
			      const struct tether_queue_cfg *cfg);

/* An empty queue with these limits (already checked; see set_limits). */
void tth_queue_init(struct tth_queue *q, const struct tth_queue_limits *lim);
/*
 * Frees every entry still in the queue, without reporting them: call
 * drain() first when their outcome matters.
 */
void tth_queue_cleanup(struct tth_queue *q);

/*
 * Accepts e at the back of WAITING (see Overflow above). Entries dropped
 * to make room, or e itself (DROP_NEWEST), are appended to out.
 * @return 0 (e belongs to the queue or to out), or, with e still the
 *   caller's and nothing changed: TETHER_EFULL (REJECT), TETHER_ETOOBIG
 *   (e->bytes > max_bytes), TETHER_EEXIST (id already queued),
 *   TETHER_EINVAL (e not the caller's), TETHER_ENOMEM.
 */
int tth_queue_push(struct tth_queue *q, struct tth_qentry *e, uint64_t now_ms,
		   struct tth_qout *out);
/* As push(), at the end of the first region (front of WAITING). */
int tth_queue_push_first(struct tth_queue *q, struct tth_qentry *e,
			 uint64_t now_ms, struct tth_qout *out);

/*
 * As push(), for a message recovered from the spool at the first start:
 * accepted whatever the bounds (the spool's own bound already holds it),
 * and never dropped to make room (overflow, set_limits). While such
 * entries fill the bounds, later pushes meet the overflow policy with
 * only the other entries as candidates. A smaller queue than the one
 * that spooled them so loses none of them, and the application never
 * sees one dropped under an id it was never told.
 * @return 0, TETHER_EEXIST, TETHER_EINVAL, TETHER_ENOMEM (e still the
 *   caller's).
 */
int tth_queue_push_recovered(struct tth_queue *q, struct tth_qentry *e,
			     uint64_t now_ms);
/* The next entry take() would return, or NULL; it stays WAITING. */
struct tth_qentry *tth_queue_peek(const struct tth_queue *q);
/*
 * Moves the front of WAITING to the back of INFLIGHT and returns it (it
 * stays in the queue: hand e->msg and e->id to the transport), or NULL.
 */
struct tth_qentry *tth_queue_take(struct tth_queue *q);
/*
 * The transport reported id (delivered or failed): removes it from
 * INFLIGHT and returns it (the caller's now), or NULL when id is not
 * inflight (unknown, already settled, or waiting again after a requeue).
 */
struct tth_qentry *tth_queue_settle(struct tth_queue *q, uint64_t id);
/*
 * The link is gone: every INFLIGHT entry goes back to WAITING, after the
 * first region and before the older waiting ones, in send order, with
 * msg.dup = 1. Exceptions, appended to out: entries whose TTL passed
 * while inflight (TETHER_EEXPIRED), and QoS 0 entries when keep_qos0 is 0
 * (qos0_err; at most once: the transport may have written them).
 * @return how many entries went back to WAITING.
 */
size_t tth_queue_requeue(struct tth_queue *q, int keep_qos0, int qos0_err,
			 struct tth_qout *out);
/*
 * Drops WAITING entries whose deadline is <= now_ms (out: TETHER_EEXPIRED)
 * and marks expired INFLIGHT ones (see TTL). @return how many were dropped.
 */
size_t tth_queue_expire(struct tth_queue *q, uint64_t now_ms,
			struct tth_qout *out);
/* The earliest deadline of any entry still to check, or TTH_NEVER. */
uint64_t tth_queue_next_expiry(const struct tth_queue *q);
/*
 * New limits, live. When the queue is now over its bounds: DROP_OLDEST
 * drops the oldest entries outside the first region, DROP_NEWEST the
 * newest (out: TETHER_EFULL), REJECT drops nothing (it never drops an
 * accepted message) and refuses pushes until settles bring it under.
 * Entries already queued keep their deadline.
 * @return 0, or TETHER_EINVAL (nothing changed).
 */
int tth_queue_set_limits(struct tth_queue *q,
			 const struct tth_queue_limits *lim,
			 struct tth_qout *out);
/* Everything leaves (INFLIGHT first, then WAITING, each in order). */
size_t tth_queue_drain(struct tth_queue *q, int err, struct tth_qout *out);
/* The entry with this id, wherever it is in the queue, or NULL. */
struct tth_qentry *tth_queue_find(const struct tth_queue *q, uint64_t id);

static inline size_t tth_queue_waiting(const struct tth_queue *q)
{
	return q->waiting.n;
}

static inline size_t tth_queue_inflight(const struct tth_queue *q)
{
	return q->inflight.n;
}

/* Bytes held (waiting + inflight): what max_bytes bounds. */
static inline uint64_t tth_queue_bytes(const struct tth_queue *q)
{
	return q->waiting.bytes + q->inflight.bytes;
}

#endif

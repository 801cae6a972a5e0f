/* A connection's outbound queue: waiting and inflight lists, id hash, TTL
   heap. The contract is in queue-int.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include <tether/tether.h>

#include "props-int.h"
#include "queue-int.h"
#include "util-int.h"

#define QUEUE_MIN_BUCKETS 16

/* ------------------------------------------------------------- entries */

struct tth_qentry *tth_qentry_new(const struct tether_message *msg,
				  uint64_t id)
{
	size_t tlen = msg->topic ? strlen(msg->topic) : 0;
	size_t np = msg->props ? msg->nprops : 0;
	size_t psize = np ? tth_props_copy_size(msg->props, np) : 0;
	size_t extra = (msg->topic ? tlen + 1 : 0) + psize, pbytes = 0;
	struct tth_qentry *e;
	char *p;

	if (msg->len > SIZE_MAX - sizeof(*e) - extra)
		return NULL;
	e = malloc(sizeof(*e) + extra + msg->len);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	p = (char *)(e + 1);
	e->msg.size = sizeof(e->msg);
	/* the properties first: the array wants the block's alignment */
	if (np) {
		e->msg.props = tth_props_copy(msg->props, np, p);
		e->msg.nprops = np;
		p += psize;
		for (size_t i = 0; i < np; i++)
			pbytes += msg->props[i].len +
				  (msg->props[i].user ? strlen(msg->props[i].name)
						      : 0);
	}
	if (msg->topic) {
		memcpy(p, msg->topic, tlen + 1);
		e->msg.topic = p;
		p += tlen + 1;
	}
	if (msg->len)
		memcpy(p, msg->payload, msg->len);
	e->msg.payload = msg->len ? p : NULL;
	e->msg.len = msg->len;
	e->msg.qos = msg->qos;
	e->msg.retain = msg->retain;
	e->msg.binary = msg->binary;
	e->msg.ttl_ms = msg->ttl_ms;
	e->id = id;
	e->bytes = msg->len + tlen + pbytes;
	e->expires_ms = TTH_NEVER;
	e->where = TTH_Q_OUT;
	tth_timer_init(&e->ttl);
	return e;
}

void tth_qentry_free(struct tth_qentry *e)
{
	free(e);
}

/* ---------------------------------------------------------------- qout */

void tth_qout_init(struct tth_qout *o)
{
	o->head = o->tail = NULL;
	o->n = 0;
}

void tth_qout_add(struct tth_qout *o, struct tth_qentry *e, int err)
{
	e->where = TTH_Q_OUT;
	e->err = err;
	e->next = NULL;
	e->prev = o->tail;
	if (o->tail)
		o->tail->next = e;
	else
		o->head = e;
	o->tail = e;
	o->n++;
}

struct tth_qentry *tth_qout_pop(struct tth_qout *o)
{
	struct tth_qentry *e = o->head;

	if (!e)
		return NULL;
	o->head = e->next;
	if (o->head)
		o->head->prev = NULL;
	else
		o->tail = NULL;
	o->n--;
	e->next = e->prev = NULL;
	return e;
}

void tth_qout_free_all(struct tth_qout *o)
{
	struct tth_qentry *e;

	while ((e = tth_qout_pop(o)))
		tth_qentry_free(e);
}

/* --------------------------------------------------------------- lists */

static void list_insert_after(struct tth_qlist *l, struct tth_qentry *at,
			      struct tth_qentry *e)
{
	/* at == NULL: at the front */
	e->prev = at;
	e->next = at ? at->next : l->head;
	if (e->next)
		e->next->prev = e;
	else
		l->tail = e;
	if (at)
		at->next = e;
	else
		l->head = e;
	l->n++;
	l->bytes += e->bytes;
}

static void list_append(struct tth_qlist *l, struct tth_qentry *e)
{
	list_insert_after(l, l->tail, e);
}

static void list_unlink(struct tth_qlist *l, struct tth_qentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->next = e->prev = NULL;
	l->n--;
	l->bytes -= e->bytes;
}

/* ----------------------------------------------------------------- hash */

static size_t hash_slot(const struct tth_queue *q, uint64_t id)
{
	/* splitmix64's finaliser: sequential ids spread over all buckets */
	id ^= id >> 30;
	id *= 0xbf58476d1ce4e5b9ull;
	id ^= id >> 27;
	id *= 0x94d049bb133111ebull;
	id ^= id >> 31;
	return (size_t)id & (q->nbuckets - 1);
}

static void hash_insert(struct tth_queue *q, struct tth_qentry *e)
{
	size_t s = hash_slot(q, e->id);

	e->hnext = q->buckets[s];
	q->buckets[s] = e;
}

static void hash_remove(struct tth_queue *q, struct tth_qentry *e)
{
	struct tth_qentry **pp = &q->buckets[hash_slot(q, e->id)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

/* Room for one more entry at load factor 1. 0, or TETHER_ENOMEM. */
static int hash_reserve(struct tth_queue *q)
{
	size_t count = q->waiting.n + q->inflight.n + 1;
	size_t nb, i;
	struct tth_qentry **old = q->buckets;
	size_t oldn = q->nbuckets;

	if (count <= q->nbuckets)
		return 0;
	nb = q->nbuckets ? q->nbuckets * 2 : QUEUE_MIN_BUCKETS;
	if (nb > SIZE_MAX / sizeof(*q->buckets))
		return TETHER_ENOMEM;
	q->buckets = calloc(nb, sizeof(*q->buckets));
	if (!q->buckets) {
		q->buckets = old;
		return TETHER_ENOMEM;
	}
	q->nbuckets = nb;
	for (i = 0; i < oldn; i++) {
		struct tth_qentry *e = old[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			hash_insert(q, e);
		}
	}
	free(old);
	return 0;
}

struct tth_qentry *tth_queue_find(const struct tth_queue *q, uint64_t id)
{
	struct tth_qentry *e;

	if (!q->nbuckets)
		return NULL;
	for (e = q->buckets[hash_slot(q, id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

/* --------------------------------------------------------------- queue */

int tth_queue_limits_from_cfg(struct tth_queue_limits *lim,
			      const struct tether_queue_cfg *cfg)
{
	if (!cfg || cfg->max_messages == 0 || cfg->max_bytes == 0)
		return TETHER_EINVAL;
	switch (cfg->overflow) {
	case TETHER_OVERFLOW_DROP_OLDEST:
	case TETHER_OVERFLOW_DROP_NEWEST:
	case TETHER_OVERFLOW_REJECT:
		break;
	default:
		return TETHER_EINVAL;
	}
	lim->max_messages = cfg->max_messages;
	lim->max_bytes = cfg->max_bytes;
	lim->overflow = cfg->overflow;
	lim->ttl_ms = cfg->ttl_ms;
	return 0;
}

static int limits_valid(const struct tth_queue_limits *lim)
{
	return lim && lim->max_messages > 0 && lim->max_bytes > 0 &&
	       (lim->overflow == TETHER_OVERFLOW_DROP_OLDEST ||
		lim->overflow == TETHER_OVERFLOW_DROP_NEWEST ||
		lim->overflow == TETHER_OVERFLOW_REJECT);
}

void tth_queue_init(struct tth_queue *q, const struct tth_queue_limits *lim)
{
	memset(q, 0, sizeof(*q));
	q->lim = *lim;
	tth_heap_init(&q->ttl_heap);
}

static void free_list(struct tth_qlist *l)
{
	struct tth_qentry *e = l->head, *next;

	for (; e; e = next) {
		next = e->next;
		tth_qentry_free(e);
	}
	l->head = l->tail = NULL;
	l->n = 0;
	l->bytes = 0;
}

void tth_queue_cleanup(struct tth_queue *q)
{
	free_list(&q->waiting);
	free_list(&q->inflight);
	free(q->buckets);
	tth_heap_cleanup(&q->ttl_heap);
	q->buckets = NULL;
	q->nbuckets = 0;
	q->first_last = NULL;
	q->nfirst = 0;
	q->first_bytes = 0;
}

static size_t held(const struct tth_queue *q)
{
	return q->waiting.n + q->inflight.n;
}

/* Whether `count` entries holding `bytes` fit the limits. */
static int fits(const struct tth_queue *q, size_t count, uint64_t bytes)
{
	return count <= q->lim.max_messages && bytes <= q->lim.max_bytes;
}

/* Takes e out of WAITING, keeping the first region consistent. */
static void waiting_unlink(struct tth_queue *q, struct tth_qentry *e)
{
	if (e->first) {
		if (q->first_last == e)
			q->first_last = (e->prev && e->prev->first) ? e->prev
								    : NULL;
		q->nfirst--;
		q->first_bytes -= e->bytes;
		e->first = 0;
	}
	if (e->pinned) {
		q->npinned--;
		q->pinned_bytes -= e->bytes;
	}
	list_unlink(&q->waiting, e);
}

/* Removes e from the queue entirely and hands it to out with err. */
static void drop(struct tth_queue *q, struct tth_qentry *e, int err,
		 struct tth_qout *out)
{
	if (e->where == TTH_Q_WAITING)
		waiting_unlink(q, e);
	else
		list_unlink(&q->inflight, e);
	hash_remove(q, e);
	tth_heap_cancel(&q->ttl_heap, &e->ttl);
	q->dropped++;
	tth_qout_add(out, e, err);
}

/* The oldest waiting entry outside the first region that may be
   dropped (not pinned), or NULL. Pinned entries were pushed before any
   other, so they lead the backlog: the walk is short once they drain. */
static struct tth_qentry *oldest_backlog(const struct tth_queue *q)
{
	struct tth_qentry *e = q->first_last ? q->first_last->next
					     : q->waiting.head;

	while (e && e->pinned)
		e = e->next;
	return e;
}

static int push_at(struct tth_queue *q, struct tth_qentry *e, int first,
		   uint64_t now_ms, struct tth_qout *out)
{
	uint64_t ttl;
	int rc, drop_new = 0;

	if (!e || e->where != TTH_Q_OUT)
		return TETHER_EINVAL;
	if (e->bytes > q->lim.max_bytes)
		return TETHER_ETOOBIG;
	if (tth_queue_find(q, e->id))
		return TETHER_EEXIST;
	if (!fits(q, held(q) + 1, tth_queue_bytes(q) + e->bytes)) {
		switch (q->lim.overflow) {
		case TETHER_OVERFLOW_REJECT:
			return TETHER_EFULL;
		case TETHER_OVERFLOW_DROP_NEWEST:
			drop_new = 1;
			break;
		case TETHER_OVERFLOW_DROP_OLDEST:
			/* Only when dropping the whole backlog would make room:
			   else old messages would go for nothing. */
			drop_new = !fits(q, q->inflight.n + q->nfirst +
						    q->npinned + 1,
					 q->inflight.bytes + q->first_bytes +
						 q->pinned_bytes + e->bytes);
			break;
		}
	}
	ttl = e->msg.ttl_ms ? e->msg.ttl_ms : q->lim.ttl_ms;
	e->expires_ms = ttl && ttl < TTH_NEVER - now_ms ? now_ms + ttl
							: TTH_NEVER;
	q->pushed++;
	if (drop_new) {
		q->dropped++;
		tth_qout_add(out, e, TETHER_EFULL);
		return 0;
	}
	/* Everything that can fail comes before the first change. */
	rc = hash_reserve(q);
	if (rc == 0 && e->expires_ms != TTH_NEVER)
		rc = tth_heap_arm(&q->ttl_heap, &e->ttl, e->expires_ms);
	if (rc != 0) {
		q->pushed--;
		return rc;
	}
	while (!fits(q, held(q) + 1, tth_queue_bytes(q) + e->bytes))
		drop(q, oldest_backlog(q), TETHER_EFULL, out);
	hash_insert(q, e);
	e->where = TTH_Q_WAITING;
	e->first = (uint8_t)first;
	if (first) {
		list_insert_after(&q->waiting, q->first_last, e);
		q->first_last = e;
		q->nfirst++;
		q->first_bytes += e->bytes;
	} else {
		list_append(&q->waiting, e);
	}
	return 0;
}

int tth_queue_push_recovered(struct tth_queue *q, struct tth_qentry *e,
			     uint64_t now_ms)
{
	uint64_t ttl;
	int rc;

	if (!e || e->where != TTH_Q_OUT)
		return TETHER_EINVAL;
	if (tth_queue_find(q, e->id))
		return TETHER_EEXIST;
	ttl = e->msg.ttl_ms ? e->msg.ttl_ms : q->lim.ttl_ms;
	e->expires_ms = ttl && ttl < TTH_NEVER - now_ms ? now_ms + ttl
							: TTH_NEVER;
	rc = hash_reserve(q);
	if (rc == 0 && e->expires_ms != TTH_NEVER)
		rc = tth_heap_arm(&q->ttl_heap, &e->ttl, e->expires_ms);
	if (rc != 0)
		return rc;
	q->pushed++;
	hash_insert(q, e);
	e->where = TTH_Q_WAITING;
	e->pinned = 1;
	q->npinned++;
	q->pinned_bytes += e->bytes;
	list_append(&q->waiting, e);
	return 0;
}

int tth_queue_push(struct tth_queue *q, struct tth_qentry *e, uint64_t now_ms,
		   struct tth_qout *out)
{
	return push_at(q, e, 0, now_ms, out);
}

int tth_queue_push_first(struct tth_queue *q, struct tth_qentry *e,
			 uint64_t now_ms, struct tth_qout *out)
{
	return push_at(q, e, 1, now_ms, out);
}

struct tth_qentry *tth_queue_peek(const struct tth_queue *q)
{
	return q->waiting.head;
}

struct tth_qentry *tth_queue_take(struct tth_queue *q)
{
	struct tth_qentry *e = q->waiting.head;

	if (!e)
		return NULL;
	waiting_unlink(q, e);
	list_append(&q->inflight, e);
	e->where = TTH_Q_INFLIGHT;
	e->sends++;
	q->taken++;
	return e;
}

struct tth_qentry *tth_queue_settle(struct tth_queue *q, uint64_t id)
{
	struct tth_qentry *e = q->inflight.head;

	/* Reports mostly come in send order: the head is the usual hit. */
	if (!e || e->id != id)
		e = tth_queue_find(q, id);
	if (!e || e->where != TTH_Q_INFLIGHT)
		return NULL;
	list_unlink(&q->inflight, e);
	hash_remove(q, e);
	tth_heap_cancel(&q->ttl_heap, &e->ttl);
	e->where = TTH_Q_OUT;
	q->settled++;
	return e;
}

size_t tth_queue_requeue(struct tth_queue *q, int keep_qos0, int qos0_err,
			 struct tth_qout *out)
{
	struct tth_qentry *at = q->first_last;
	size_t n = 0;
	struct tth_qentry *e;

	while ((e = q->inflight.head)) {
		if (e->expired) {
			drop(q, e, TETHER_EEXPIRED, out);
			continue;
		}
		if (e->msg.qos == 0 && !keep_qos0) {
			drop(q, e, qos0_err, out);
			continue;
		}
		list_unlink(&q->inflight, e);
		list_insert_after(&q->waiting, at, e);
		e->where = TTH_Q_WAITING;
		if (e->pinned) {
			q->npinned++;
			q->pinned_bytes += e->bytes;
		}
		e->msg.dup = 1;
		at = e;
		n++;
	}
	q->requeued += n;
	return n;
}

size_t tth_queue_expire(struct tth_queue *q, uint64_t now_ms,
			struct tth_qout *out)
{
	struct tth_timer *t;
	size_t n = 0;

	while ((t = tth_heap_pop_due(&q->ttl_heap, now_ms))) {
		struct tth_qentry *e = TTH_CONTAINER_OF(t, struct tth_qentry,
							ttl);

		if (e->where == TTH_Q_INFLIGHT) {
			e->expired = 1;
			continue;
		}
		drop(q, e, TETHER_EEXPIRED, out);
		n++;
	}
	return n;
}

uint64_t tth_queue_next_expiry(const struct tth_queue *q)
{
	const struct tth_timer *t = tth_heap_peek(&q->ttl_heap);

	return t ? t->due_ms : TTH_NEVER;
}

int tth_queue_set_limits(struct tth_queue *q,
			 const struct tth_queue_limits *lim,
			 struct tth_qout *out)
{
	struct tth_qentry *e;

	if (!limits_valid(lim))
		return TETHER_EINVAL;
	q->lim = *lim;
	while (!fits(q, held(q), tth_queue_bytes(q))) {
		if (lim->overflow == TETHER_OVERFLOW_DROP_OLDEST)
			e = oldest_backlog(q);
		else if (lim->overflow == TETHER_OVERFLOW_DROP_NEWEST)
			e = q->waiting.tail && !q->waiting.tail->first &&
					    !q->waiting.tail->pinned
				    ? q->waiting.tail
				    : NULL;
		else
			e = NULL;
		if (!e)
			break; /* the rest is inflight or first: it settles */
		drop(q, e, TETHER_EFULL, out);
	}
	return 0;
}

size_t tth_queue_drain(struct tth_queue *q, int err, struct tth_qout *out)
{
	size_t n = 0;

	while (q->inflight.head) {
		drop(q, q->inflight.head, err, out);
		n++;
	}
	while (q->waiting.head) {
		drop(q, q->waiting.head, err, out);
		n++;
	}
	return n;
}

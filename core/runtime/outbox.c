/*
 * Outbound messages at run time (docs/architecture.md): the queue
 * (core/store/queue.c) between tether_conn_send() and the transport.
 *
 * tether_conn_send() runs on any thread: it pushes under the connection's
 * queue lock (so REJECT and ETOOBIG answer at once) and kicks the loop.
 * Everything else happens on the loop thread, also under the lock when it
 * touches the queue: handing messages to the transport in order while
 * ONLINE (at most TTH_OUTBOX_WINDOW in flight), settling the transport's
 * reports, putting unreported messages back in front when a link ends,
 * dropping expired ones, and emitting exactly one TETHER_EV_SENT per
 * accepted message. Transports are called without the lock held: an
 * inflight entry is only ever removed by the loop thread.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgr-int.h"
#include "props-int.h"
#include "spool-int.h"
#include "timer_heap-int.h"
#include "util-int.h"

/* Messages handed to the transport and not yet reported, at most. */
#define TTH_OUTBOX_WINDOW 1024
/* Messages handed over per pump, so one busy connection cannot starve
   the loop: the rest follow after the queue's next drain. */
#define TTH_OUTBOX_BATCH 512


/* The spool keeps deadlines across restarts: wall-clock ms. */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t msg_ttl(const tether_conn *c, const struct tether_message *m)
{
	return m->ttl_ms ? m->ttl_ms : c->set.qcfg.ttl_ms;
}

/* Whether msg goes to the spool (QoS >= 1 only; docs/architecture.md). */
static int spooled(const tether_conn *c, const struct tether_message *m)
{
	return c->out.spool && m->qos >= 1;
}

static void ttl_fire(struct tth_engine *e, struct tth_etimer *et);
static void flush_fire(struct tth_engine *e, struct tth_etimer *et);

/* ONLINE, as the loop last set it (a connection that was never started
   is not: its machine is set up by the starting thread, so not read). */
static int online(const tether_conn *c)
{
	return atomic_load(&c->state) == TETHER_STATE_ONLINE;
}

/* Whether err says the message itself is wrong (dropped), rather than
   that the link could not carry it (kept, sent again on the next link). */
static int message_error(int err)
{
	return err == TETHER_ETOOBIG || err == TETHER_EINVAL ||
	       err == TETHER_ENOTSUP;
}

/* The link could not carry a message: unless it is already known to be
   gone (ECLOSED: its end is on the way), declare it down, so what is in
   flight goes out again on the next one. */
static void link_trouble(tether_conn *c, uint32_t attempt, int err)
{
	struct tether_reason r = {.kind = TETHER_KIND_SOCKET,
				  .code = 5 /* EIO */,
				  .text = "the transport failed a send"};

	if (err == TETHER_ECLOSED || attempt != c->online_attempt ||
	    !online(c))
		return;
	tth_engine_down(&c->mgr->eng, &c->ec, attempt, &r);
}

int tth_outbox_init(tether_conn *c)
{
	struct tth_queue_limits lim;

	if (tth_queue_limits_from_cfg(&lim, &c->set.qcfg) != 0)
		return TETHER_EINVAL;
	if (pthread_mutex_init(&c->out.qmu, NULL) != 0)
		return TETHER_ENOMEM;
	tth_queue_init(&c->out.q, &lim);
	tth_etimer_init(&c->out.ttl_timer, ttl_fire);
	tth_etimer_init(&c->out.flush_timer, flush_fire);
	c->out.q_ready = 1;
	return 0;
}

void tth_outbox_cleanup(tether_conn *c)
{
	if (!c->out.q_ready)
		return;
	tth_queue_cleanup(&c->out.q);
	tth_spool_close(c->out.spool);
	c->out.spool = NULL;
	free(c->out.spool_warnings);
	c->out.spool_warnings = NULL;
	pthread_mutex_destroy(&c->out.qmu);
	c->out.q_ready = 0;
}

/* One outcome: the event, the metrics; e is freed. A spooled message
   leaves the spool too, unless the connection closed with it undelivered:
   then the next start sends it again. */
static void finish(tether_conn *c, struct tth_qentry *e, int err)
{
	if (e->spool_id && c->out.spool && err != TETHER_ECLOSED) {
		pthread_mutex_lock(&c->out.qmu);
		/* ENOENT: gone already, which is no failure */
		if (tth_spool_ack(c->out.spool, e->spool_id) == TETHER_EIO)
			tth_metrics_spool_error(c);
		pthread_mutex_unlock(&c->out.qmu);
	}
	if (err == 0)
		tth_metrics_message(c, 1, e->bytes); /* metrics */
	else
		tth_metrics_dropped(c, err);
	tth_conn_sent_event(c, e->id, err);
	tth_qentry_free(e);
}

void tth_outbox_emit(tether_conn *c, struct tth_qout *out)
{
	struct tth_qentry *e;

	while ((e = tth_qout_pop(out)))
		finish(c, e, e->err);
}

/* Re-arm the TTL timer at the queue's earliest deadline (loop thread). */
static void arm_ttl(tether_conn *c)
{
	uint64_t next;

	pthread_mutex_lock(&c->out.qmu);
	next = tth_queue_next_expiry(&c->out.q);
	pthread_mutex_unlock(&c->out.qmu);
	if (next == TTH_NEVER)
		tth_engine_cancel(&c->mgr->eng, &c->out.ttl_timer);
	else
		tth_engine_arm(&c->mgr->eng, &c->out.ttl_timer, next);
}

/* fsync INTERVAL: flush when the spool says so (loop thread). */
static void arm_flush(tether_conn *c)
{
	uint64_t next;

	if (!c->out.spool)
		return;
	pthread_mutex_lock(&c->out.qmu);
	next = tth_spool_next_flush(c->out.spool);
	pthread_mutex_unlock(&c->out.qmu);
	if (next == TTH_NEVER)
		tth_engine_cancel(&c->mgr->eng, &c->out.flush_timer);
	else
		tth_engine_arm(&c->mgr->eng, &c->out.flush_timer, next);
}

static void flush_fire(struct tth_engine *e, struct tth_etimer *et)
{
	tether_conn *c = TTH_CONTAINER_OF(et, tether_conn, out.flush_timer);

	(void)e;
	pthread_mutex_lock(&c->out.qmu);
	if (tth_spool_flush(c->out.spool, tth_mono_ms()) != 0)
		tth_metrics_spool_error(c);
	pthread_mutex_unlock(&c->out.qmu);
	arm_flush(c);
}

static void ttl_fire(struct tth_engine *e, struct tth_etimer *et)
{
	tether_conn *c = TTH_CONTAINER_OF(et, tether_conn, out.ttl_timer);
	struct tth_qout out;

	tth_qout_init(&out);
	pthread_mutex_lock(&c->out.qmu);
	tth_queue_expire(&c->out.q, e->now_ms, &out);
	pthread_mutex_unlock(&c->out.qmu);
	tth_outbox_emit(c, &out);
	arm_ttl(c);
}

/* Hand waiting messages to the transport, in order (loop thread). */
void tth_outbox_pump(tether_conn *c)
{
	int more = 0;

	atomic_store(&c->out.kicked, 0);
	for (int n = 0; online(c);
	     n++) {
		struct tth_qentry *e = NULL;
		int rc;

		pthread_mutex_lock(&c->out.qmu);
		if (tth_queue_inflight(&c->out.q) < TTH_OUTBOX_WINDOW) {
			if (n < TTH_OUTBOX_BATCH)
				e = tth_queue_take(&c->out.q);
			else
				more = tth_queue_waiting(&c->out.q) > 0;
		}
		pthread_mutex_unlock(&c->out.qmu);
		if (!e)
			break;
		rc = c->tops->send(c->link, c->online_attempt, e->id, &e->msg);
		if (rc == 0)
			continue;
		if (!message_error(rc)) {
			/* stays in flight until the link's end puts it back */
			link_trouble(c, c->online_attempt, rc);
			more = 0;
			break;
		}
		pthread_mutex_lock(&c->out.qmu);
		e = tth_queue_settle(&c->out.q, e->id);
		pthread_mutex_unlock(&c->out.qmu);
		if (e)
			finish(c, e, rc);
	}
	arm_ttl(c);
	arm_flush(c);
	if (more)
		tth_conn_kick(c);
}

/*
 * The transport's report for id. A failure that says the message was
 * wrong (too large, invalid) drops it; any other failure means the link
 * could not carry it: the message stays in flight, the link is declared
 * down, and the message goes out again on the next one.
 */
void tth_outbox_sent(tether_conn *c, uint32_t attempt, uint64_t id, int err)
{
	struct tth_qentry *e;
	int known;

	pthread_mutex_lock(&c->out.qmu);
	e = err == 0 || message_error(err) ? tth_queue_settle(&c->out.q, id) : NULL;
	known = !e && tth_queue_find(&c->out.q, id) != NULL;
	pthread_mutex_unlock(&c->out.qmu);
	if (e) {
		finish(c, e, err);
		tth_outbox_pump(c); /* room in the window */
		return;
	}
	if (err != 0 && known)
		link_trouble(c, attempt, err);
}

/*
 * A link ended (loop thread). Whatever the transport did not report goes
 * back in front of the backlog, in send order (MQTT: with DUP set); when
 * the connection is CLOSED for good, everything left is dropped with
 * TETHER_ECLOSED.
 */
void tth_outbox_link_end(tether_conn *c, int closed)
{
	struct tth_qout out;

	tth_qout_init(&out);
	pthread_mutex_lock(&c->out.qmu);
	tth_queue_requeue(&c->out.q, 1, 0, &out);
	if (closed)
		tth_queue_drain(&c->out.q, TETHER_ECLOSED, &out);
	pthread_mutex_unlock(&c->out.qmu);
	tth_outbox_emit(c, &out);
	arm_ttl(c);
}

/* Up again: the resume hook first, then the backlog (loop thread). */
void tth_outbox_up(tether_conn *c)
{
	if (c->resume_cb) {
		c->out.in_resume = 1;
		c->resume_cb(c, c->resume_ud);
		c->out.in_resume = 0;
	}
	tth_outbox_pump(c);
}

/* New bounds (loop thread once started, else the caller's). */
void tth_outbox_set_limits(tether_conn *c, const struct tether_queue_cfg *q,
			   struct tth_qout *out)
{
	struct tth_queue_limits lim;

	if (tth_queue_limits_from_cfg(&lim, q) != 0)
		return;
	pthread_mutex_lock(&c->out.qmu);
	tth_queue_set_limits(&c->out.q, &lim, out);
	pthread_mutex_unlock(&c->out.qmu);
}

/* Whether c's transport can carry msg's properties: their form is
 * checked here, what the protocol can carry by the transport (ABI 3's
 * check_message, with the connection's options). Called under qmu, which
 * a restart holds while it swaps the transport and its options. */
static int check_props(const tether_conn *c, const struct tether_message *m)
{
	size_t enc;
	int rc;

	if (!m->nprops)
		return 0;
	rc = tth_props_check(m->props, m->nprops, m->payload, m->len, &enc);
	if (rc != 0)
		return rc;
	if (c->tops->abi < 3 || !c->tops->check_message)
		return TETHER_ENOTSUP;
	return c->tops->check_message(c->set.opts, m);
}

TETHER_EXPORT int tether_conn_send(tether_conn *c,
				   const struct tether_message *msg,
				   uint64_t *id)
{
	struct tether_message m;
	struct tth_qentry *e;
	struct tth_qout out;
	uint64_t my_id;
	int rc, first;

	if (!c || !msg || (msg->len && !msg->payload) || msg->qos < 0 ||
	    msg->qos > 2 || msg->size < offsetof(struct tether_message, ttl_ms))
		return TETHER_EINVAL;
	/* a caller built against an older struct has fewer fields */
	memset(&m, 0, sizeof(m));
	memcpy(&m, msg, msg->size < sizeof(m) ? msg->size : sizeof(m));
	m.size = sizeof(m);
	if (msg->size < offsetof(struct tether_message, nprops) + sizeof(size_t) ||
	    !m.props)
		m.props = NULL, m.nprops = 0;
	else if (!m.nprops)
		m.props = NULL;
	msg = &m;
	if (atomic_load(&c->state) == TETHER_STATE_CLOSED)
		return TETHER_ESTATE;
	pthread_mutex_lock(&c->out.qmu);
	rc = check_props(c, msg);
	pthread_mutex_unlock(&c->out.qmu);
	if (rc != 0)
		return rc;
	my_id = atomic_fetch_add(&c->next_msg_id, 1);
	e = tth_qentry_new(msg, my_id);
	if (!e)
		return TETHER_ENOMEM;
	/* the resume hook's messages go before the backlog */
	first = tether_mgr_is_loop_thread(c->mgr) && c->out.in_resume;
	tth_qout_init(&out);
	pthread_mutex_lock(&c->out.qmu);
	rc = 0;
	if (spooled(c, msg)) {
		uint64_t ttl = msg_ttl(c, msg);
		/* durable before send returns (per the fsync policy) */
		rc = tth_spool_append(c->out.spool, msg, ttl ? wall_ms() + ttl : 0,
				      tth_mono_ms(), &e->spool_id);
		if (rc == TETHER_ENOMEM || rc == TETHER_EINVAL)
			rc = rc == TETHER_ENOMEM ? rc : TETHER_EIO;
		/* a full spool is a bound, like a full queue; anything else
		   is a write that failed, which an operator must see */
		if (rc != 0 && rc != TETHER_EFULL)
			tth_metrics_spool_error(c);
	}
	if (rc == 0) {
		rc = first ? tth_queue_push_first(&c->out.q, e, tth_mono_ms(), &out)
			   : tth_queue_push(&c->out.q, e, tth_mono_ms(), &out);
		if (rc != 0 && e->spool_id)
			tth_spool_ack(c->out.spool, e->spool_id); /* undone */
	}
	pthread_mutex_unlock(&c->out.qmu);
	if (rc != 0) {
		tth_qentry_free(e);
		return rc;
	}
	if (id)
		*id = my_id;
	if (out.n)
		tth_conn_post_dropped(c, &out); /* events from the loop */
	if (!first)
		tth_conn_kick(c);
	return 0;
}

/* What the queue holds now: messages waiting, bytes held (any thread). */
void tth_outbox_depth(const tether_conn *c, uint64_t *waiting,
		      uint64_t *bytes)
{
	*waiting = *bytes = 0;
	if (!c->out.q_ready)
		return;
	pthread_mutex_lock((pthread_mutex_t *)&c->out.qmu);
	*waiting = tth_queue_waiting(&c->out.q);
	*bytes = tth_queue_bytes(&c->out.q);
	pthread_mutex_unlock((pthread_mutex_t *)&c->out.qmu);
}

/* The queue's bound in messages (any thread); 0 before the queue exists. */
uint64_t tth_outbox_max_messages(const tether_conn *c)
{
	uint64_t n;

	if (!c->out.q_ready)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&c->out.qmu);
	n = c->out.q.lim.max_messages;
	pthread_mutex_unlock((pthread_mutex_t *)&c->out.qmu);
	return n;
}

TETHER_EXPORT size_t tether_conn_queued(const tether_conn *c)
{
	size_t n;

	if (!c || !c->out.q_ready)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&c->out.qmu);
	n = tth_queue_waiting(&c->out.q);
	pthread_mutex_unlock((pthread_mutex_t *)&c->out.qmu);
	return n;
}

/* ------------------------------------------------------------- spool */

struct recovery {
	tether_conn *c;
	struct tth_qout got;
	char *warn;
	size_t warn_len;
	int oom;
};

static int recovered_message(void *ud, uint64_t id, uint64_t expires,
			     const struct tether_message *msg)
{
	struct recovery *r = ud;
	struct tether_message m = *msg;
	struct tth_qentry *e;
	uint64_t wall = wall_ms();

	m.ttl_ms = 0;
	if (expires)
		m.ttl_ms = expires > wall ? expires - wall : 1;
	e = tth_qentry_new(&m, atomic_fetch_add(&r->c->next_msg_id, 1));
	if (!e)
		return TETHER_ENOMEM;
	e->spool_id = id;
	/* kept in order on a private list until the queue takes them */
	tth_qout_add(&r->got, e, 0);
	return 0;
}

static void recovered_warning(void *ud, const char *file, uint64_t offset,
			      const char *what)
{
	struct recovery *r = ud;
	char line[512];
	int n = snprintf(line, sizeof(line), "spool %s/%s at byte %llu: %s\n",
			 r->c->set.spool_dir, file, (unsigned long long)offset,
			 what);
	char *w;

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	w = realloc(r->warn, r->warn_len + (size_t)n + 1);
	if (!w) {
		r->oom = 1;
		return;
	}
	memcpy(w + r->warn_len, line, (size_t)n + 1);
	r->warn = w;
	r->warn_len += (size_t)n;
}

/*
 * First start of a connection with a spool: open it and put what it kept
 * in front of the queue, oldest first; messages accepted before the start
 * follow (the QoS >= 1 ones are appended to the spool now). Recovered
 * messages get new ids; their outcomes come as SENT events like any.
 */
int tth_outbox_open_spool(tether_conn *c)
{
	struct recovery r = {.c = c};
	struct tth_spool_recover_ops ops = {recovered_message,
					    recovered_warning};
	struct tth_spool_cfg scfg;
	struct tth_spool *sp = NULL;
	struct tth_qout before, out;
	struct tth_qentry *e;
	int rc;

	if (!c->set.spool_dir || c->out.spool)
		return 0;
	tth_qout_init(&r.got);
	rc = tth_spool_cfg_from_queue(&scfg, &c->set.qcfg);
	if (rc == 0)
		rc = tth_spool_open(&sp, c->set.spool_dir, &scfg, &ops, &r,
				    tth_conn_errbuf(c), TTH_CONN_ERROR_MAX);
	if (rc != 0) {
		tth_qout_free_all(&r.got);
		free(r.warn);
		if (!c->error || !c->error[0])
			snprintf(tth_conn_errbuf(c), TTH_CONN_ERROR_MAX, "spool %s: %s",
				 c->set.spool_dir, tether_strerror(rc));
		return rc;
	}
	tth_qout_init(&before);
	tth_qout_init(&out);
	pthread_mutex_lock(&c->out.qmu);
	c->out.spool = sp; /* senders read it under the lock */
	tth_queue_drain(&c->out.q, 0, &before); /* nothing in flight yet */
	while ((e = tth_qout_pop(&r.got)))
		if (tth_queue_push(&c->out.q, e, tth_mono_ms(), &out) != 0)
			tth_qentry_free(e); /* beyond the bounds: kept on disk */
	while ((e = tth_qout_pop(&before))) {
		if (spooled(c, &e->msg) && !e->spool_id) {
			uint64_t ttl = e->expires_ms == TTH_NEVER
					       ? 0
					       : e->expires_ms - tth_mono_ms();
			tth_spool_append(c->out.spool, &e->msg,
					 ttl ? wall_ms() + ttl : 0, tth_mono_ms(),
					 &e->spool_id);
		}
		if (tth_queue_push(&c->out.q, e, tth_mono_ms(), &out) != 0)
			tth_qout_add(&out, e, TETHER_EFULL);
	}
	pthread_mutex_unlock(&c->out.qmu);
	if (out.n)
		tth_conn_post_dropped(c, &out);
	c->out.spool_warnings = r.warn;
	return 0;
}

/* Warnings of the spool's recovery, as events (loop thread, once). */
void tth_outbox_warnings(tether_conn *c)
{
	char *w = c->out.spool_warnings, *line;

	if (!w)
		return;
	c->out.spool_warnings = NULL;
	for (line = w; *line;) {
		size_t n = strcspn(line, "\n");
		char saved = line[n];

		line[n] = '\0';
		tth_conn_event(c, TETHER_EV_WARNING, line);
		line[n] = saved;
		line += n + (saved != '\0');
	}
	free(w);
}

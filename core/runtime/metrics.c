/*
 * Metrics of the runtime in the Prometheus text exposition format (0.0.4).
 *
 * The counters live in each connection (struct tth_conn_metrics) and are
 * updated on the loop thread from the engine's events (the hooks below,
 * called by the runtime); tether_mgr_metrics_text reads them as atomics
 * from any thread. A page is a consistent view of each counter, not of
 * all of them at one instant, which is what a scraper expects.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr-int.h"

/* Upper bounds of the reconnect histogram, in ms and as printed. */
static const uint64_t bucket_ms[TTH_MET_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
static const char *const bucket_le[TTH_MET_BUCKETS] = {
    "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"};

/* ------------------------------------------------------------ updates */

static void inc(_Atomic uint64_t *v)
{
	atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

/* RFC 6298 §2: the first sample sets SRTT = R, RTTVAR = R / 2; later
 * ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R. */
void tth_metrics_rtt(tether_conn *c, uint64_t rtt_ms)
{
	struct tth_conn_metrics *mt = &c->met;
	double r = (double)rtt_ms;

	if (atomic_load_explicit(&mt->rtt_samples, memory_order_relaxed) == 0) {
		mt->srtt = r;
		mt->rttvar = r / 2;
	} else {
		double d = mt->srtt > r ? mt->srtt - r : r - mt->srtt;
		mt->rttvar = 0.75 * mt->rttvar + 0.25 * d;
		mt->srtt = 0.875 * mt->srtt + 0.125 * r;
	}
	atomic_store(&mt->srtt_us, (uint64_t)(mt->srtt * 1000 + 0.5));
	inc(&mt->rtt_samples);
}

static void reconnected(struct tth_conn_metrics *mt, uint64_t now_ms)
{
	uint64_t d = now_ms >= mt->lost_at_ms ? now_ms - mt->lost_at_ms : 0;
	size_t i = 0;

	while (i < TTH_MET_BUCKETS - 1 && d > bucket_ms[i])
		i++;
	atomic_fetch_add(&mt->reconnect_sum_ms, d);
	inc(&mt->reconnect_bucket[i]);
	mt->lost = 0;
}

void tth_metrics_event(tether_conn *c, const struct tether_event *ev)
{
	struct tth_conn_metrics *mt = &c->met;

	switch (ev->type) {
	case TETHER_EV_ATTEMPT:
		mt->online = 0;
		break;
	case TETHER_EV_UP:
		mt->online = 1;
		inc(&mt->attempts_up);
		/* the handshake: from the attempt's start to up */
		if (ev->now_ms >= c->ec.m.attempt_start_ms)
			tth_metrics_rtt(c,
					ev->now_ms - c->ec.m.attempt_start_ms);
		if (mt->lost)
			reconnected(mt, ev->now_ms);
		break;
	case TETHER_EV_DOWN: {
		/* A reason without a class cannot come from the machine;
		   count it as the machine treats a missing reason. */
		enum tether_reason_class cls =
		    ev->reason ? ev->reason->cls : TETHER_CLASS_TRANSIENT;

		if ((unsigned)cls >= TETHER_CLASS_COUNT)
			cls = TETHER_CLASS_TRANSIENT;
		inc(&mt->disconnects[cls]);
		atomic_store(&mt->flaps, c->ec.m.flaps_total);
		if (mt->online) {
			/* the STATE event (ONLINE -> ...) came first, so the
			   flag, not the state, says this was a loss */
			mt->online = 0;
			mt->lost = 1;
			mt->lost_at_ms = ev->now_ms;
		} else {
			inc(&mt->attempts_failed);
		}
		break;
	}
	case TETHER_EV_CLOSED:
		/* stopped or given up: no reconnect to time */
		mt->online = 0;
		mt->lost = 0;
		break;
	default:
		break;
	}
}

/* Why messages were dropped, as the `reason` label. */
static const char *const drop_reasons[5] = {"overflow", "expired", "closed",
					     "too_large", "error"};

void tth_metrics_dropped(tether_conn *c, int err)
{
	int k = err == TETHER_EFULL	? 0
		: err == TETHER_EEXPIRED ? 1
		: err == TETHER_ECLOSED	? 2
		: err == TETHER_ETOOBIG	? 3
					: 4;
	inc(&c->met.dropped[k]);
}

void tth_metrics_spool_error(tether_conn *c)
{
	inc(&c->met.spool_errors);
}

void tth_metrics_message(tether_conn *c, int sent, uint64_t bytes)
{
	inc(sent ? &c->met.sent : &c->met.received);
	atomic_fetch_add_explicit(sent ? &c->met.bytes_sent
				       : &c->met.bytes_received,
				  bytes, memory_order_relaxed);
}

TETHER_EXPORT int tether_conn_stats(const tether_conn *c,
				    struct tether_conn_stats *out)
{
	const struct tth_conn_metrics *mt;
	struct tether_conn_stats st;
	uint64_t reconnects = 0;

	if (!c || !out ||
	    out->size < offsetof(struct tether_conn_stats, attempts_up))
		return TETHER_EINVAL;
	mt = &c->met;
	memset(&st, 0, sizeof(st));
	st.size = out->size < sizeof(st) ? out->size : (uint32_t)sizeof(st);
	st.state = (enum tether_state)atomic_load(&c->state);
	st.attempts_up = atomic_load(&mt->attempts_up);
	st.attempts_failed = atomic_load(&mt->attempts_failed);
	for (int k = 0; k < TETHER_CLASS_COUNT; k++)
		st.disconnects[k] = atomic_load(&mt->disconnects[k]);
	for (size_t k = 0; k < TTH_MET_BUCKETS; k++)
		reconnects += atomic_load(&mt->reconnect_bucket[k]);
	st.reconnects = reconnects;
	st.reconnect_ms = atomic_load(&mt->reconnect_sum_ms);
	st.rtt_samples = atomic_load(&mt->rtt_samples);
	st.rtt_us = st.rtt_samples ? atomic_load(&mt->srtt_us) : 0;
	st.messages_sent = atomic_load(&mt->sent);
	st.messages_received = atomic_load(&mt->received);
	st.bytes_sent = atomic_load(&mt->bytes_sent);
	st.bytes_received = atomic_load(&mt->bytes_received);
	st.dropped_overflow = atomic_load(&mt->dropped[0]);
	st.dropped_expired = atomic_load(&mt->dropped[1]);
	st.dropped_closed = atomic_load(&mt->dropped[2]);
	st.dropped_too_large = atomic_load(&mt->dropped[3]);
	st.dropped_error = atomic_load(&mt->dropped[4]);
	tth_outbox_depth(c, &st.queued, &st.queued_bytes);
	st.flaps = atomic_load(&mt->flaps);
	memcpy(out, &st, st.size);
	return 0;
}

/* ---------------------------------------------------------------- text */

struct buf {
	char *s;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n + 1;
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

/* A label value: backslash, double quote and newline escaped (0.0.4). */
static void put_label(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			put(b, "\\\\");
		else if (*v == '"')
			put(b, "\\\"");
		else if (*v == '\n')
			put(b, "\\n");
		else
			put(b, "%c", *v);
	}
}

static void family(struct buf *b, const char *name, const char *type,
		   const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{conn="...",transport="..."` : the caller adds labels and "} v". */
static void conn_sample(struct buf *b, const char *name, tether_conn *c)
{
	put(b, "%s{conn=\"", name);
	put_label(b, c->name);
	put(b, "\",transport=\"");
	put_label(b, c->tops->name);
	put(b, "\"");
}

static void put_u64(struct buf *b, uint64_t v)
{
	put(b, "} %llu\n", (unsigned long long)v);
}

static void put_ms_as_s(struct buf *b, uint64_t ms)
{
	put(b, "} %llu.%03u\n", (unsigned long long)(ms / 1000),
	    (unsigned)(ms % 1000));
}

static void put_state(struct buf *b, tether_conn **v, size_t n)
{
	family(b, "tether_connection_state", "gauge",
	       "Current state of the connection: 1 for the state it is in.");
	for (size_t i = 0; i < n; i++) {
		int cur = atomic_load(&v[i]->state);

		for (int s = 0; s < TETHER_STATE_COUNT; s++) {
			conn_sample(b, "tether_connection_state", v[i]);
			put(b, ",state=\"%s\"",
			    tether_state_name((enum tether_state)s));
			put_u64(b, s == cur);
		}
	}
}

static void put_attempts(struct buf *b, tether_conn **v, size_t n)
{
	family(b, "tether_attempts_total", "counter",
	       "Connection attempts, by result.");
	for (size_t i = 0; i < n; i++) {
		conn_sample(b, "tether_attempts_total", v[i]);
		put(b, ",result=\"up\"");
		put_u64(b, atomic_load(&v[i]->met.attempts_up));
		conn_sample(b, "tether_attempts_total", v[i]);
		put(b, ",result=\"failed\"");
		put_u64(b, atomic_load(&v[i]->met.attempts_failed));
	}
}

static void put_disconnects(struct buf *b, tether_conn **v, size_t n)
{
	family(b, "tether_disconnects_total", "counter",
	       "Links lost and attempts failed, by reason class.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < TETHER_CLASS_COUNT; k++) {
			conn_sample(b, "tether_disconnects_total", v[i]);
			put(b, ",class=\"%s\"",
			    tether_class_name((enum tether_reason_class)k));
			put_u64(b, atomic_load(&v[i]->met.disconnects[k]));
		}
}

static void put_reconnect(struct buf *b, tether_conn **v, size_t n)
{
	family(b, "tether_reconnect_seconds", "histogram",
	       "Time from a link loss to the next up.");
	for (size_t i = 0; i < n; i++) {
		struct tth_conn_metrics *mt = &v[i]->met;
		uint64_t cum = 0;

		/* the count is the +Inf bucket, so the two always agree */
		for (size_t k = 0; k < TTH_MET_BUCKETS; k++) {
			cum += atomic_load(&mt->reconnect_bucket[k]);
			conn_sample(b, "tether_reconnect_seconds_bucket", v[i]);
			put(b, ",le=\"%s\"", bucket_le[k]);
			put_u64(b, cum);
		}
		conn_sample(b, "tether_reconnect_seconds_sum", v[i]);
		put_ms_as_s(b, atomic_load(&mt->reconnect_sum_ms));
		conn_sample(b, "tether_reconnect_seconds_count", v[i]);
		put_u64(b, cum);
	}
}

static void put_rtt(struct buf *b, tether_conn **v, size_t n)
{
	family(b, "tether_rtt_seconds", "gauge",
	       "Smoothed round-trip time (RFC 6298) from handshakes and "
	       "pings.");
	for (size_t i = 0; i < n; i++) {
		uint64_t us;

		if (atomic_load(&v[i]->met.rtt_samples) == 0)
			continue; /* no estimate yet: no sample */
		us = atomic_load(&v[i]->met.srtt_us);
		conn_sample(b, "tether_rtt_seconds", v[i]);
		put(b, "} %llu.%06u\n", (unsigned long long)(us / 1000000),
		    (unsigned)(us % 1000000));
	}
}

/* A family of one counter per connection: the one at offset off of
 * struct tth_conn_metrics. */
static void put_counter(struct buf *b, tether_conn **v, size_t n,
			const char *name, const char *help, size_t off)
{
	family(b, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		conn_sample(b, name, v[i]);
		put_u64(b, atomic_load((_Atomic uint64_t *)(void *)((char *)&v[i]->met +
								  off)));
	}
}

#define MET(f) offsetof(struct tth_conn_metrics, f)

static void put_messages(struct buf *b, tether_conn **v, size_t n)
{
	put_counter(b, v, n, "tether_messages_sent_total",
		    "Messages the transport reported delivered.", MET(sent));
	put_counter(b, v, n, "tether_messages_received_total",
		    "Messages received and handed to the application.",
		    MET(received));
	family(b, "tether_messages_dropped_total", "counter",
	       "Accepted messages dropped, by reason (overflow, expired, "
	       "closed, too_large, error).");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 5; k++) {
			conn_sample(b, "tether_messages_dropped_total", v[i]);
			put(b, ",reason=\"%s\"", drop_reasons[k]);
			put_u64(b, atomic_load(&v[i]->met.dropped[k]));
		}
	put_counter(b, v, n, "tether_flaps_total",
		    "Links the peer closed soon after they came up "
		    "(flap_window).",
		    MET(flaps));
	put_counter(b, v, n, "tether_message_bytes_sent_total",
		    "Payload and topic bytes of the messages reported "
		    "delivered.",
		    MET(bytes_sent));
	put_counter(b, v, n, "tether_message_bytes_received_total",
		    "Payload and topic bytes of the messages received.",
		    MET(bytes_received));
	family(b, "tether_queue_messages", "gauge",
	       "Messages waiting in the queue (not handed to the transport).");
	for (size_t i = 0; i < n; i++) {
		conn_sample(b, "tether_queue_messages", v[i]);
		put_u64(b, tether_conn_queued(v[i]));
	}
	family(b, "tether_queue_max_messages", "gauge",
	       "The queue's bound in messages (queue.max_messages).");
	for (size_t i = 0; i < n; i++) {
		conn_sample(b, "tether_queue_max_messages", v[i]);
		put_u64(b, tth_outbox_max_messages(v[i]));
	}
	put_counter(b, v, n, "tether_spool_errors_total",
		    "Spool writes that failed: appends, acknowledgements, "
		    "syncs (a full spool is not counted).",
		    MET(spool_errors));
}

TETHER_EXPORT char *tether_mgr_metrics_text(tether_mgr *m)
{
	struct buf b = {NULL, 0, 0, 0};
	tether_conn **v;
	size_t n;

	if (!m)
		return NULL;
	/* held throughout: a connection being removed is freed only after
	   it left the list, under this lock */
	pthread_mutex_lock(&m->lock);
	if (tth_mgr_conns_locked(m, &v, &n) != 0) {
		pthread_mutex_unlock(&m->lock);
		return NULL;
	}
	b.cap = 4096 + n * 4096;
	b.s = malloc(b.cap);
	if (!b.s) {
		pthread_mutex_unlock(&m->lock);
		free(v);
		return NULL;
	}
	b.s[0] = '\0';
	put_state(&b, v, n);
	put_attempts(&b, v, n);
	put_disconnects(&b, v, n);
	put_reconnect(&b, v, n);
	put_rtt(&b, v, n);
	put_messages(&b, v, n);
	family(&b, "tether_limiter_waits_total", "counter",
	       "Connect attempts that had to wait for the limiter.");
	put(&b, "tether_limiter_waits_total %llu\n",
	    (unsigned long long)tth_mgr_limiter_waits(m));
	family(&b, "tether_connections", "gauge",
	       "Connections of the manager.");
	put(&b, "tether_connections %zu\n", n);
	pthread_mutex_unlock(&m->lock);
	free(v);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

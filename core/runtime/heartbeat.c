/*
 * Heartbeats (WebSocket ping/pong with a deadline) on the engine's timers:
 * one timer per connection, re-armed from the last inbound frame, so a
 * busy link sends no ping at all. Loop thread.
 *
 * Deadlines are rounded up to a grain of 1/16 of the interval (at most
 * 250 ms, at most 1/8 of the timeout): thousands of connections that came
 * up within a second then ping in a few batches, one wake-up of the loop
 * each, instead of one wake-up per connection (measured: 2,000 idle links
 * woke the loop 1,515 times in 10 s with exact deadlines).
 */
#include "config.h"

#include "mgr-int.h"
#include "util-int.h"

#define HB_GRAIN_MAX_MS 250

/* t rounded up to c's heartbeat grain. */
static uint64_t hb_at(const tether_conn *c, uint64_t t)
{
	uint64_t g = c->set.hb_interval / 16;

	if (g > c->set.hb_timeout / 8)
		g = c->set.hb_timeout / 8;
	if (g > HB_GRAIN_MAX_MS)
		g = HB_GRAIN_MAX_MS;
	if (g <= 1)
		return t;
	return (t + g - 1) / g * g;
}

void tth_hb_stop(tether_conn *c)
{
	tth_engine_cancel(&c->mgr->eng, &c->hb.timer);
	c->hb.waiting = 0;
	c->hb.missed = 0;
}

void tth_hb_start(tether_conn *c)
{
	if (!c->set.hb_interval || !c->tops->ping)
		return;
	c->hb.waiting = 0;
	c->hb.missed = 0;
	atomic_store(&c->hb.last_rx_ms, c->mgr->eng.now_ms);
	tth_engine_arm(&c->mgr->eng, &c->hb.timer,
		       hb_at(c, c->mgr->eng.now_ms + c->set.hb_interval));
}

static void hb_ping(tether_conn *c, uint64_t now)
{
	c->hb.ping_sent = now;
	c->hb.waiting = 1;
	/* A ping that cannot be queued counts as unanswered. */
	c->tops->ping(c->link, c->online_attempt);
	tth_engine_arm(&c->mgr->eng, &c->hb.timer, hb_at(c, now + c->set.hb_timeout));
}

/*
 * After the last inbound frame at t0 the first ping goes out at
 * t0 + interval; each ping waits `timeout`; after `misses` unanswered
 * pings the link is declared dead: at t0 + interval + timeout * misses
 * (each deadline up to one grain later).
 */
static void hb_fire(struct tth_engine *e, struct tth_etimer *et)
{
	tether_conn *c = TTH_CONTAINER_OF(et, tether_conn, hb.timer);
	uint64_t now = e->now_ms, last = atomic_load(&c->hb.last_rx_ms);

	if (c->ec.m.state != TETHER_STATE_ONLINE)
		return;
	if (!c->hb.waiting) {
		if (now >= last + c->set.hb_interval)
			hb_ping(c, now);
		else
			tth_engine_arm(e, et, hb_at(c, last + c->set.hb_interval));
		return;
	}
	if (last >= c->hb.ping_sent) {
		uint64_t pong = atomic_load(&c->hb.last_pong_ms);
		if (pong >= c->hb.ping_sent) {
			struct tether_policy_sample s = {
				TETHER_SAMPLE_RTT, now, pong - c->hb.ping_sent};
			tether_policy_observe(c->policy, &s);
			tth_metrics_rtt(c, pong - c->hb.ping_sent); /* metrics */
		}
		c->hb.waiting = 0;
		c->hb.missed = 0;
		tth_engine_arm(e, et, hb_at(c, last + c->set.hb_interval));
		return;
	}
	if (++c->hb.missed < c->set.hb_misses) {
		hb_ping(c, now);
		return;
	}
	struct tether_reason r = {.kind = TETHER_KIND_LOCAL,
				  .code = TETHER_LOCAL_HEARTBEAT_TIMEOUT,
				  .text = "no answer to pings"};
	c->hb.waiting = 0;
	tth_engine_down(e, &c->ec, c->online_attempt, &r);
}


void tth_hb_init(tether_conn *c)
{
	tth_etimer_init(&c->hb.timer, hb_fire);
}

/*
 * How transports report (tether_transport_*, include/tether/transport.h):
 * each report is copied into a post for the manager's mailbox. Never
 * calls back into the transport or the engine, so it is safe from inside a
 * transport library's callbacks, on any thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mailbox-int.h"
#include "mgr-int.h"
#include "util-int.h"

/*
 * A report that cannot be queued for lack of memory would leave the
 * machine waiting on a transport that moved on; the connect timeout and
 * the heartbeat recover from that, so dropping it is the safe failure.
 */
static void report_end(tether_conn *c, enum tth_post_kind k, uint32_t attempt,
		       const struct tether_reason *r)
{
	struct tth_post *p = tth_post_new(k, c, attempt);
	if (!p)
		return;
	if (tth_post_set_reason(p, r, c->tops && c->tops->abi >= 3) != 0) {
		tth_post_free(p);
		return;
	}
	tth_post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_up(tether_conn *c, uint32_t attempt,
				       int session_present)
{
	struct tth_post *p = tth_post_new(TTH_POST_UP, c, attempt);
	if (!p)
		return;
	p->u.up.session_present = session_present;
	atomic_store(&c->hb.last_rx_ms, tth_mono_ms());
	tth_post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_fail(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r)
{
	report_end(c, TTH_POST_FAIL, attempt, r);
}

TETHER_EXPORT void tether_transport_down(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r)
{
	report_end(c, TTH_POST_DOWN, attempt, r);
}

TETHER_EXPORT void tether_transport_closed(tether_conn *c, uint32_t attempt)
{
	struct tth_post *p = tth_post_new(TTH_POST_CLOSED, c, attempt);
	if (p)
		tth_post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_activity(tether_conn *c, uint32_t attempt)
{
	(void)attempt;
	atomic_store(&c->hb.last_rx_ms, tth_mono_ms());
}

TETHER_EXPORT void tether_transport_pong(tether_conn *c, uint32_t attempt)
{
	uint64_t now = tth_mono_ms();
	(void)attempt;
	atomic_store(&c->hb.last_pong_ms, now);
	atomic_store(&c->hb.last_rx_ms, now);
}

TETHER_EXPORT void tether_transport_message(tether_conn *c, uint32_t attempt,
					    const struct tether_message *msg)
{
	struct tth_post *p;

	atomic_store(&c->hb.last_rx_ms, tth_mono_ms());
	p = tth_post_new(TTH_POST_MESSAGE, c, attempt);
	if (!p)
		return;
	if (tth_post_set_message(p, msg) != 0) {
		tth_post_free(p);
		return;
	}
	/* counted until the post is freed, delivered or not (inbound.c) */
	p->u.message.held = msg->len + (msg->topic ? strlen(msg->topic) : 0);
	tth_inbound_add(c, p->u.message.held);
	p->u.message.counted = 1;
	tth_post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_sent(tether_conn *c, uint32_t attempt,
					 uint64_t msg_id, int err)
{
	struct tth_post *p = tth_post_new(TTH_POST_SENT, c, attempt);
	if (!p)
		return;
	p->u.sent.msg_id = msg_id;
	p->u.sent.err = err;
	tth_post(c->mgr, p);
}

TETHER_EXPORT void tether_transport_sub_failed(tether_conn *c,
					       uint32_t attempt,
					       const char *topic,
					       int unsubscribe,
					       const struct tether_reason *r)
{
	struct tth_post *p = tth_post_new(TTH_POST_SUB_FAILED, c, attempt);

	(void)unsubscribe; /* the reason's text says which */
	if (!p)
		return;
	p->u.end.topic = topic ? strdup(topic) : NULL;
	if ((topic && !p->u.end.topic) ||
	    tth_post_set_reason(p, r, c->tops && c->tops->abi >= 3) != 0) {
		tth_post_free(p);
		return;
	}
	tth_post(c->mgr, p);
}

TETHER_EXPORT const char *tether_transport_conn_name(const tether_conn *c)
{
	return c ? c->name : "";
}

/*
 * The engine: executes machine actions, runs timers and the limiter, and
 * delivers events once the machines are consistent again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine-int.h"
#include "util-int.h"

struct tth_qevent {
	struct tth_econn *c;
	struct tether_event ev;
	struct tether_reason reason;
	int has_reason;
};

static void lim_fire(struct tth_engine *e, struct tth_etimer *et);
static void (*const conn_timer_handlers[TTH_T__COUNT])(struct tth_engine *,
						       struct tth_etimer *);

void tth_etimer_init(struct tth_etimer *et,
		     void (*fire)(struct tth_engine *, struct tth_etimer *))
{
	tth_timer_init(&et->t);
	et->fire = fire;
}

void tth_engine_arm(struct tth_engine *e, struct tth_etimer *et,
		    uint64_t at_ms)
{
	if (tth_heap_arm(&e->heap, &et->t, at_ms) != 0)
		e->timers_lost++;
}

void tth_engine_cancel(struct tth_engine *e, struct tth_etimer *et)
{
	tth_heap_cancel(&e->heap, &et->t);
}

void tth_engine_init(struct tth_engine *e, uint64_t (*clock)(void *),
		     void *clock_ud, const struct tth_engine_io *io,
		     void *io_ud)
{
	memset(e, 0, sizeof(*e));
	tth_heap_init(&e->heap);
	e->clock = clock;
	e->clock_ud = clock_ud;
	e->io = io;
	e->io_ud = io_ud;
	e->now_ms = clock(clock_ud);
	tth_limiter_init(&e->lim, TTH_DEFAULT_CONNECTS_PER_SECOND,
			 TTH_DEFAULT_BURST, 0, e->now_ms);
	tth_etimer_init(&e->lim_timer, lim_fire);
}

void tth_engine_cleanup(struct tth_engine *e)
{
	tth_coord_cleanup(e);
	tth_heap_cleanup(&e->heap);
	free(e->evq);
	e->evq = NULL;
	e->evq_n = e->evq_cap = 0;
}

int tth_engine_reserve(struct tth_engine *e, size_t n_timers)
{
	struct tth_heap *h = &e->heap;
	size_t need = h->n + n_timers;

	if (need <= h->cap)
		return 0;
	struct tth_heap_entry *v = realloc(h->v, need * sizeof(*v));
	if (!v)
		return TETHER_ENOMEM;
	h->v = v;
	h->cap = need;
	return 0;
}

void tth_econn_init(struct tth_engine *e, struct tth_econn *c,
		    const struct tth_machine_cfg *cfg, tether_policy *policy,
		    const tether_classifier *classifier, uint32_t n_endpoints,
		    uint64_t seed, void *user)
{
	(void)e;
	memset(c, 0, sizeof(*c));
	tth_machine_init(&c->m, cfg, policy, classifier, n_endpoints, seed);
	for (int k = 0; k < TTH_T__COUNT; k++)
		tth_etimer_init(&c->timers[k], conn_timer_handlers[k]);
	tth_limiter_waiter_init(&c->waiter);
	c->reported = c->m.state;
	c->user = user;
}

void tth_engine_ready_unlink(struct tth_engine *e, struct tth_econn *c)
{
	struct tth_econn **pp = &e->ready_head, *prev = NULL;

	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->ready_next;
	}
	if (!*pp)
		return;
	*pp = c->ready_next;
	if (e->ready_tail == c)
		e->ready_tail = prev;
	c->ready_next = NULL;
	c->ready = 0;
}

void tth_econn_detach(struct tth_engine *e, struct tth_econn *c)
{
	for (int k = 0; k < TTH_T__COUNT; k++)
		tth_heap_cancel(&e->heap, &c->timers[k].t);
	tth_limiter_cancel(&e->lim, &c->waiter);
	if (c->ready) {
		int granted = c->pend == TTH_PEND_GRANT;
		tth_engine_ready_unlink(e, c);
		if (granted)
			tth_limiter_release(&e->lim);
	}
	tth_coord_detach(e, c);
	if (c->m.state == TETHER_STATE_CONNECTING)
		tth_limiter_release(&e->lim);
	/* detached for good: a second detach must not release again */
	c->m.state = TETHER_STATE_CLOSED;
	c->m.cause = TTH_SUSP_NONE;
}

/* -------------------------------------------------------------- events */

static void queue_event(struct tth_engine *e, struct tth_econn *c,
			const struct tether_event *ev,
			const struct tether_reason *r)
{
	if (e->evq_n == e->evq_cap) {
		size_t ncap = e->evq_cap ? e->evq_cap * 2 : 64;
		struct tth_qevent *nq = realloc(e->evq, ncap * sizeof(*nq));
		if (!nq) {
			e->events_lost++;
			return;
		}
		e->evq = nq;
		e->evq_cap = ncap;
	}
	struct tth_qevent *q = &e->evq[e->evq_n++];
	q->c = c;
	q->ev = *ev;
	q->has_reason = r != NULL;
	if (r)
		q->reason = *r;
}

static void flush_events(struct tth_engine *e)
{
	/* Callbacks may feed inputs, which queue more events behind these. */
	for (size_t i = 0; i < e->evq_n; i++) {
		struct tth_qevent q = e->evq[i];
		q.ev.reason = q.has_reason ? &q.reason : NULL;
		if (e->io->event)
			e->io->event(e->io_ud, q.c, &q.ev);
	}
	e->evq_n = 0;
}

static void base_event(struct tth_econn *c, enum tether_event_type t,
		       uint64_t now, struct tether_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->type = t;
	ev->state = c->m.state;
	ev->old_state = c->m.state;
	ev->now_ms = now;
	ev->attempt = c->m.rounds;
	ev->endpoint = c->m.endpoint;
}

/* ------------------------------------------------------------- actions */

void tth_engine_ready_push(struct tth_engine *e, struct tth_econn *c,
			   enum tth_pend what)
{
	c->ready = 1;
	c->pend = what;
	c->ready_next = NULL;
	if (e->ready_tail)
		e->ready_tail->ready_next = c;
	else
		e->ready_head = c;
	e->ready_tail = c;
}

static void pump_limiter(struct tth_engine *e)
{
	struct tth_waiter *w;

	while ((w = tth_limiter_grant_next(&e->lim, e->now_ms)) != NULL)
		tth_engine_ready_push(e,
				      TTH_CONTAINER_OF(w, struct tth_econn,
						       waiter),
				      TTH_PEND_GRANT);
}

static void exec(struct tth_engine *e, struct tth_econn *c,
		 const struct tth_actions *acts)
{
	const struct tth_engine_io *io = e->io;
	size_t i;

	for (i = 0; i < acts->n; i++) {
		const struct tth_action *a = &acts->v[i];
		switch (a->type) {
		case TTH_ACT_CONNECT:
			io->connect(e->io_ud, c, a->endpoint, a->attempt_id);
			break;
		case TTH_ACT_ABORT:
			io->abort(e->io_ud, c, a->attempt_id);
			break;
		case TTH_ACT_CLOSE:
			io->close(e->io_ud, c, a->attempt_id);
			break;
		case TTH_ACT_ARM:
			tth_engine_arm(e, &c->timers[a->timer], a->at_ms);
			break;
		case TTH_ACT_CANCEL:
			tth_heap_cancel(&e->heap, &c->timers[a->timer].t);
			break;
		case TTH_ACT_ACQUIRE:
			if (c->groups && tth_coord_gate(e, c))
				tth_engine_ready_push(e, c, TTH_PEND_HOLD);
			else if (tth_limiter_acquire(&e->lim, &c->waiter,
						     e->now_ms))
				tth_engine_ready_push(e, c, TTH_PEND_GRANT);
			break;
		case TTH_ACT_CANCEL_ACQUIRE:
			tth_limiter_cancel(&e->lim, &c->waiter);
			if (c->ready) {
				int granted = c->pend == TTH_PEND_GRANT;
				tth_engine_ready_unlink(e, c);
				if (granted) {
					tth_limiter_release(&e->lim);
					pump_limiter(e);
				}
			}
			break;
		case TTH_ACT_WAIT:
			tth_coord_wait(e, c, a->endpoint);
			break;
		case TTH_ACT_CANCEL_WAIT:
			tth_coord_cancel_wait(e, c);
			break;
		case TTH_ACT_RELEASE:
			tth_limiter_release(&e->lim);
			pump_limiter(e);
			break;
		case TTH_ACT_REDIRECT:
			if (io->redirect)
				io->redirect(e->io_ud, c, a->detail);
			break;
		case TTH_ACT_EMIT:
			break;
		}
	}

	/* A wait for a token that was granted at once is not worth a STATE
	   event: report IDLE -> CONNECTING, not IDLE -> SUSPENDED -> ... */
	if (c->m.state != c->reported &&
	    !(c->m.state == TETHER_STATE_SUSPENDED &&
	      c->m.cause == TTH_SUSP_TOKEN && c->ready)) {
		struct tether_event ev;
		base_event(c, TETHER_EV_STATE, e->now_ms, &ev);
		ev.old_state = c->reported;
		queue_event(e, c, &ev, NULL);
		c->reported = c->m.state;
	}
	for (i = 0; i < acts->n; i++) {
		const struct tth_action *a = &acts->v[i];
		struct tether_event ev;
		if (a->type != TTH_ACT_EMIT)
			continue;
		base_event(c, a->event, e->now_ms, &ev);
		ev.endpoint = a->endpoint;
		ev.delay_ms = a->delay_ms;
		ev.detail = a->detail;
		queue_event(e, c, &ev, a->with_reason ? &c->m.reason : NULL);
	}
}

static void step(struct tth_engine *e, struct tth_econn *c,
		 struct tth_input *in)
{
	struct tth_actions acts;
	enum tether_state old_state = c->m.state;
	uint32_t old_endpoint = c->m.endpoint;

	if (c->keys && !c->groups)
		tth_coord_resolve(e, c);
	acts.n = 0;
	in->now_ms = e->now_ms;
	in->waiting = c->groups ? tth_coord_waiting(c) : 0;
	tth_machine_step(&c->m, in, &acts);
	exec(e, c, &acts);
	if (c->groups)
		tth_coord_after(e, c, old_state, old_endpoint);
}

static void enter(struct tth_engine *e)
{
	if (e->depth++ == 0)
		e->now_ms = e->clock(e->clock_ud);
}

static void leave(struct tth_engine *e)
{
	/* Grants found while executing are fed only now, so a machine never
	   steps while its own actions are half executed. */
	while (e->ready_head) {
		struct tth_econn *c = e->ready_head;
		struct tth_input in = {.type = TTH_IN_GRANT};
		enum tth_pend what = (enum tth_pend)c->pend;
		e->ready_head = c->ready_next;
		if (!e->ready_head)
			e->ready_tail = NULL;
		c->ready_next = NULL;
		c->ready = 0;
		c->pend = TTH_PEND_GRANT;
		if (what == TTH_PEND_HOLD) {
			in.type = TTH_IN_HOLD;
		} else if (what == TTH_PEND_RESUME) {
			/* the endpoint may have failed again meanwhile */
			if (!tth_coord_resume_ok(e, c))
				continue;
			in.type = TTH_IN_RESUME;
			c->pass = 1;
		}
		step(e, c, &in);
		c->pass = 0;
	}
	uint64_t next = tth_limiter_next_ms(&e->lim, e->now_ms);
	if (next == TTH_NEVER)
		tth_heap_cancel(&e->heap, &e->lim_timer.t);
	else if (!tth_timer_armed(&e->lim_timer.t) ||
		 e->lim_timer.t.due_ms != next)
		tth_engine_arm(e, &e->lim_timer, next);
	if (e->depth == 1)
		flush_events(e);
	e->depth--;
}

void tth_engine_set_limits(struct tth_engine *e, double rate, uint64_t burst,
			   uint32_t max_connecting)
{
	enter(e);
	tth_limiter_configure(&e->lim, rate, burst, max_connecting, e->now_ms);
	pump_limiter(e);
	leave(e);
}

void tth_engine_input(struct tth_engine *e, struct tth_econn *c,
		      struct tth_input *in)
{
	enter(e);
	step(e, c, in);
	leave(e);
}

static void feed(struct tth_engine *e, struct tth_econn *c,
		 enum tth_input_type t, uint32_t id,
		 const struct tether_reason *r)
{
	struct tth_input in = {.type = t, .attempt_id = id, .reason = r};
	tth_engine_input(e, c, &in);
}

void tth_engine_start(struct tth_engine *e, struct tth_econn *c)
{
	feed(e, c, TTH_IN_START, 0, NULL);
}

void tth_engine_stop(struct tth_engine *e, struct tth_econn *c)
{
	feed(e, c, TTH_IN_STOP, 0, NULL);
}

void tth_engine_up(struct tth_engine *e, struct tth_econn *c, uint32_t id)
{
	feed(e, c, TTH_IN_UP, id, NULL);
}

void tth_engine_fail(struct tth_engine *e, struct tth_econn *c, uint32_t id,
		     const struct tether_reason *r)
{
	feed(e, c, TTH_IN_FAIL, id, r);
}

void tth_engine_down(struct tth_engine *e, struct tth_econn *c, uint32_t id,
		     const struct tether_reason *r)
{
	feed(e, c, TTH_IN_DOWN, id, r);
}

void tth_engine_closed(struct tth_engine *e, struct tth_econn *c, uint32_t id)
{
	feed(e, c, TTH_IN_CLOSED, id, NULL);
}

void tth_engine_link(struct tth_engine *e, struct tth_econn *c, int up)
{
	feed(e, c, up ? TTH_IN_LINK_UP : TTH_IN_LINK_DOWN, 0, NULL);
}

/* -------------------------------------------------------------- timers */

static void lim_fire(struct tth_engine *e, struct tth_etimer *et)
{
	(void)et;
	pump_limiter(e);
}

static void conn_timer(struct tth_engine *e, struct tth_econn *c,
		       enum tth_timer_kind k)
{
	struct tth_input in = {.type = TTH_IN_TIMER, .timer = k};
	step(e, c, &in);
}

/* One handler per kind, so the econn is found with a constant offset. */
#define TTH_TIMER_HANDLER(K)                                                   \
	static void conn_timer_##K(struct tth_engine *e, struct tth_etimer *et) \
	{                                                                      \
		conn_timer(e, TTH_CONTAINER_OF(et, struct tth_econn, timers[K]), \
			   K);                                                 \
	}
TTH_TIMER_HANDLER(TTH_T_WAKE)
TTH_TIMER_HANDLER(TTH_T_CONNECT)
TTH_TIMER_HANDLER(TTH_T_CLOSE)
TTH_TIMER_HANDLER(TTH_T_STABLE)
TTH_TIMER_HANDLER(TTH_T_FAILBACK)
#undef TTH_TIMER_HANDLER

static void (*const conn_timer_handlers[TTH_T__COUNT])(struct tth_engine *,
						       struct tth_etimer *) = {
	conn_timer_TTH_T_WAKE,	  conn_timer_TTH_T_CONNECT,
	conn_timer_TTH_T_CLOSE,	  conn_timer_TTH_T_STABLE,
	conn_timer_TTH_T_FAILBACK,
};

void tth_engine_run_due(struct tth_engine *e)
{
	struct tth_timer *t;

	enter(e);
	while ((t = tth_heap_pop_due(&e->heap, e->now_ms)) != NULL) {
		struct tth_etimer *et = TTH_CONTAINER_OF(t, struct tth_etimer, t);
		et->fire(e, et);
	}
	leave(e);
}

uint64_t tth_engine_next_due(const struct tth_engine *e)
{
	const struct tth_timer *t = tth_heap_peek(&e->heap);
	return t ? t->due_ms : TTH_NEVER;
}

/*
 * The connection state machine. See machine-int.h for the
 * contract; the transitions are listed in docs/state-machine.md and every
 * state x input pair is exercised by tests/check_machine.c.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "machine-int.h"
#include "util-int.h"

static const char *const state_names[TETHER_STATE_COUNT] = {
	"idle", "connecting", "online", "backoff",
	"suspended", "closing", "closed",
};

const char *tether_state_name(enum tether_state s)
{
	return (unsigned)s < TETHER_STATE_COUNT ? state_names[s] : "?";
}

static const char *const event_names[TETHER_EVENT_COUNT] = {
	"state", "attempt", "up", "down", "retry",
	"suspend", "give-up", "fatal", "closed", "message", "sent", "reload", "warning", "removed",
	"subscribe-failed", "inbound-dropped",
};

const char *tether_event_name(enum tether_event_type t)
{
	return (unsigned)t < TETHER_EVENT_COUNT ? event_names[t] : "?";
}

const char *tth_input_name(enum tth_input_type t)
{
	static const char *const n[TTH_IN__COUNT] = {
		"start", "stop", "grant", "up", "fail",
		"down", "closed", "timer", "link-down", "link-up",
		"hold", "resume",
	};
	return (unsigned)t < TTH_IN__COUNT ? n[t] : "?";
}

const char *tth_timer_name(enum tth_timer_kind k)
{
	static const char *const n[TTH_T__COUNT] = {
		"wake", "connect", "close", "stable", "failback",
	};
	return (unsigned)k < TTH_T__COUNT ? n[k] : "?";
}

const char *tth_action_name(enum tth_action_type t)
{
	static const char *const n[] = {
		"connect", "abort", "close", "arm", "cancel",
		"acquire", "cancel-acquire", "release", "redirect", "emit",
		"wait", "cancel-wait",
	};
	return (unsigned)t < TTH_ARRAY_LEN(n) ? n[t] : "?";
}

void tth_machine_cfg_defaults(struct tth_machine_cfg *cfg)
{
	cfg->connect_timeout_ms = 10000;
	cfg->close_timeout_ms = 2000;
	cfg->stable_after_ms = 5000;
	cfg->overload_floor_ms = 5000;
	cfg->failback_after_ms = 0;
	cfg->max_redirects = 5;
	cfg->probe_interval_ms = 1000;
	cfg->flap_window_ms = 10000;
	cfg->retry_after_max_ms = 60000;
}

/*
 * The peer's own hint (HTTP Retry-After) is a floor too, as the overload
 * floor is, but a peer chooses it: bounded by retry_after_max, so a
 * hostile or mistaken "come back in a week" cannot park the connection.
 */
static uint64_t hinted_floor(const struct tth_machine *m)
{
	uint64_t h = m->reason.retry_after_ms;

	return h < m->cfg->retry_after_max_ms ? h : m->cfg->retry_after_max_ms;
}

void tth_machine_init(struct tth_machine *m, const struct tth_machine_cfg *cfg,
		      tether_policy *policy, const tether_classifier *classifier,
		      uint32_t n_endpoints, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->state = TETHER_STATE_IDLE;
	m->cfg = cfg;
	m->policy = policy;
	m->classifier = classifier;
	m->n_endpoints = n_endpoints ? n_endpoints : 1;
	tether_rng_seed(&m->rng, seed);
}

/* ------------------------------------------------------------- actions */

static struct tth_action *push(struct tth_actions *out, enum tth_action_type t)
{
	/* The worst path emits 9 actions; the bound is a programming error. */
	assert(out->n < TTH_MAX_ACTIONS);
	struct tth_action *a = &out->v[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = t;
	return a;
}

static void arm(struct tth_actions *out, enum tth_timer_kind k, uint64_t at)
{
	struct tth_action *a = push(out, TTH_ACT_ARM);
	a->timer = k;
	a->at_ms = at;
}

static void cancel(struct tth_actions *out, enum tth_timer_kind k)
{
	push(out, TTH_ACT_CANCEL)->timer = k;
}

static struct tth_action *emit(struct tth_machine *m, struct tth_actions *out,
			       enum tether_event_type ev, int with_reason)
{
	struct tth_action *a = push(out, TTH_ACT_EMIT);
	a->event = ev;
	a->endpoint = m->endpoint;
	a->with_reason = with_reason && m->has_reason;
	return a;
}

static void set_local_reason(struct tth_machine *m, enum tether_local_code code)
{
	memset(&m->reason, 0, sizeof(m->reason));
	m->reason.kind = TETHER_KIND_LOCAL;
	m->reason.code = (int)code;
	m->reason.cls = tether_classify(m->classifier, TETHER_KIND_LOCAL,
					(int)code, 0);
	m->has_reason = 1;
}

static void set_reason(struct tth_machine *m, const struct tether_reason *r)
{
	if (!r) {
		/* A transport that gives no reason lost the link somehow:
		   treat it as an end of stream from the peer. */
		memset(&m->reason, 0, sizeof(m->reason));
		m->reason.kind = TETHER_KIND_SOCKET;
		m->reason.by_peer = 1;
	} else {
		m->reason = *r;
	}
	m->reason.cls = tether_classify(m->classifier, m->reason.kind,
					m->reason.code, m->reason.by_peer);
	m->has_reason = 1;
}

/* ---------------------------------------------------------- transitions */

static void go_closed(struct tth_machine *m, struct tth_actions *out)
{
	m->state = TETHER_STATE_CLOSED;
	m->cause = TTH_SUSP_NONE;
	m->restart = 0;
	emit(m, out, TETHER_EV_CLOSED, 1);
}

static void suspend_for_link(struct tth_machine *m, struct tth_actions *out)
{
	m->state = TETHER_STATE_SUSPENDED;
	m->cause = TTH_SUSP_LINK;
	emit(m, out, TETHER_EV_SUSPEND, 0)->detail = "link down";
}

/* Ask for a connect token: every attempt goes through the limiter. */
static void begin_attempt(struct tth_machine *m, struct tth_actions *out)
{
	if (m->link_down) {
		suspend_for_link(m, out);
		return;
	}
	m->state = TETHER_STATE_SUSPENDED;
	m->cause = TTH_SUSP_TOKEN;
	push(out, TTH_ACT_ACQUIRE);
}

static void reset_streak(struct tth_machine *m)
{
	m->in_streak = 0;
	m->rounds = 0;
	m->tried = 0;
	m->redirects = 0;
}

static uint32_t next_endpoint(const struct tth_machine *m)
{
	if (m->endpoint == TTH_EP_REDIRECT)
		return 0;
	return (m->endpoint + 1) % m->n_endpoints;
}

/*
 * Coordinated recovery: this connection probes its endpoint for `waiting`
 * others. Their combined schedule would have sent waiting + 1 attempts per
 * policy delay d, so one probe every d / (waiting + 1) costs the server no
 * more than they would have; and it is never longer than the probe
 * interval (a draw in [1/2, 1] of it), so a recovered server is noticed
 * within about one interval however far the policy has backed off.
 */
static uint64_t shared_delay(struct tth_machine *m, uint64_t d)
{
	uint64_t p = m->cfg->probe_interval_ms;
	uint64_t cap = p ? tether_rng_range(&m->rng, p / 2, p) : 0;
	uint64_t share = d / ((uint64_t)m->waiting + 1);

	if (share > cap)
		cap = share;
	return d < cap ? d : cap;
}

/* The policy's turn: the round of endpoints failed (or the link was lost). */
static void consult_policy(struct tth_machine *m, uint64_t now,
			   struct tth_actions *out)
{
	struct tether_policy_decision d = {TETHER_VERDICT_RETRY, 0, NULL};
	struct tether_policy_input pin = {
		.attempt = ++m->rounds,
		.now_ms = now,
		.elapsed_ms = now - m->streak_start_ms,
		.reason = &m->reason,
	};

	tether_policy_next(m->policy, &pin, &m->rng, &d);
	if (d.verdict == TETHER_VERDICT_GIVE_UP) {
		emit(m, out, TETHER_EV_GIVE_UP, 1)->detail =
			d.why ? d.why : "policy gave up";
		go_closed(m, out);
		return;
	}
	if (m->waiting)
		d.delay_ms = shared_delay(m, d.delay_ms);
	if (m->reason.cls == TETHER_CLASS_OVERLOAD &&
	    d.delay_ms < m->cfg->overload_floor_ms)
		d.delay_ms = m->cfg->overload_floor_ms;
	if (m->flaps >= TTH_FLAP_AT && d.delay_ms < m->damp_ms)
		d.delay_ms = m->damp_ms;
	if (d.delay_ms < hinted_floor(m))
		d.delay_ms = hinted_floor(m);
	if (d.verdict == TETHER_VERDICT_SUSPEND) {
		m->state = TETHER_STATE_SUSPENDED;
		m->cause = TTH_SUSP_POLICY;
		struct tth_action *a = emit(m, out, TETHER_EV_SUSPEND, 1);
		a->delay_ms = d.delay_ms;
		a->detail = d.why;
		arm(out, TTH_T_WAKE, now + d.delay_ms);
		return;
	}
	if (d.delay_ms == 0) {
		begin_attempt(m, out);
		return;
	}
	m->state = TETHER_STATE_BACKOFF;
	m->cause = TTH_SUSP_NONE;
	emit(m, out, TETHER_EV_RETRY, 1)->delay_ms = d.delay_ms;
	arm(out, TTH_T_WAKE, now + d.delay_ms);
}

/*
 * A flap: a link lost with a transient reason (the peer closed or reset
 * it) within flap_window of coming up, when the attempt that made it was
 * the first since the previous loss (the server took us back at once:
 * it is up, and yet it drops us). From the TTH_FLAP_AT-th in a row a
 * WARNING names the likely cause, and retries wait at least
 * overload_floor (1 s if 0), doubled for each further flap, at most
 * TTH_FLAP_MAX_MS: two clients that take one session from each other
 * back off instead of kicking each other forever. A server that was down
 * (a failed attempt in between), a link that outlived the window and any
 * other end (a timeout, a fatal reason) end the run.
 */
static void count_flap(struct tth_machine *m, uint64_t now,
		       struct tth_actions *out)
{
	uint64_t up_ms = now - m->online_since_ms, base;
	uint32_t shift;
	char w[32], d[32];
	int fresh = m->failed_since_loss;

	m->failed_since_loss = 0;
	if (!m->cfg->flap_window_ms || up_ms >= m->cfg->flap_window_ms ||
	    m->reason.cls != TETHER_CLASS_TRANSIENT) {
		m->flaps = 0;
		return;
	}
	m->flaps_total++;
	m->flaps = fresh ? 1 : m->flaps + 1;
	if (m->flaps < TTH_FLAP_AT)
		return;
	base = m->cfg->overload_floor_ms ? m->cfg->overload_floor_ms : 1000;
	shift = m->flaps - TTH_FLAP_AT;
	m->damp_ms = shift >= 20 || (base << shift) > TTH_FLAP_MAX_MS
			 ? TTH_FLAP_MAX_MS
			 : base << shift;
	tether_duration_format(m->cfg->flap_window_ms, w, sizeof(w));
	tether_duration_format(m->damp_ms, d, sizeof(d));
	snprintf(m->flap_note, sizeof(m->flap_note),
		 "flapping: the link was closed by the peer %u times in a row "
		 "within %s of coming up; another client may be using the "
		 "same client id (the server hands the session over to "
		 "it), or the server drops this client after accepting it; "
		 "next attempts wait at least %s",
		 (unsigned)m->flaps, w, d);
	emit(m, out, TETHER_EV_WARNING, 0)->detail = m->flap_note;
}

/*
 * After a failed attempt (lost == 0) or a lost link (lost == 1), with
 * m->reason set and the transport already released.
 */
static void after_failure(struct tth_machine *m, uint64_t now, int lost,
			  struct tth_actions *out)
{
	enum tether_reason_class cls = m->reason.cls;

	if (cls == TETHER_CLASS_NORMAL) {
		go_closed(m, out);
		return;
	}
	if (cls == TETHER_CLASS_FATAL) {
		/* Never hammer a server with bad credentials. */
		emit(m, out, TETHER_EV_FATAL, 1);
		go_closed(m, out);
		return;
	}
	if (m->link_down) {
		/* No network: waiting costs no attempts and no backoff. */
		suspend_for_link(m, out);
		return;
	}
	if (cls == TETHER_CLASS_REDIRECT && m->reason.server_ref &&
	    m->reason.server_ref[0] && m->redirects < m->cfg->max_redirects) {
		m->redirects++;
		push(out, TTH_ACT_REDIRECT)->detail = m->reason.server_ref;
		m->endpoint = TTH_EP_REDIRECT;
		m->tried = 0;
		begin_attempt(m, out);
		return;
	}
	/* transient, overload, timeout; a redirect without a usable target
	   or past max_redirects counts as transient. */
	if (!m->in_streak) {
		m->in_streak = 1;
		m->streak_start_ms = now;
	}
	if (!lost) {
		uint32_t from = m->endpoint;

		m->failed_since_loss = 1; /* not a flap run: it was away */
		m->endpoint = next_endpoint(m);
		if (from != TTH_EP_REDIRECT && ++m->tried < m->n_endpoints) {
			/* Other endpoints are untried in this round: fail
			   over at once, through the limiter. */
			begin_attempt(m, out);
			return;
		}
		m->tried = 0;
	} else {
		m->tried = 0;
	}
	consult_policy(m, now, out);
}

static void start_connect(struct tth_machine *m, uint64_t now,
			  struct tth_actions *out)
{
	struct tth_action *a;

	m->attempt_id++;
	m->attempt_start_ms = now;
	m->state = TETHER_STATE_CONNECTING;
	m->cause = TTH_SUSP_NONE;
	a = push(out, TTH_ACT_CONNECT);
	a->endpoint = m->endpoint;
	a->attempt_id = m->attempt_id;
	if (m->cfg->connect_timeout_ms)
		arm(out, TTH_T_CONNECT, now + m->cfg->connect_timeout_ms);
	emit(m, out, TETHER_EV_ATTEMPT, 0);
}

/* Leave CONNECTING without an answer from the transport. */
static void drop_attempt(struct tth_machine *m, struct tth_actions *out)
{
	cancel(out, TTH_T_CONNECT);
	push(out, TTH_ACT_ABORT)->attempt_id = m->attempt_id;
	push(out, TTH_ACT_RELEASE);
}

static void link_up_timers_cancel(struct tth_actions *out)
{
	cancel(out, TTH_T_STABLE);
	cancel(out, TTH_T_FAILBACK);
}

static void begin_close(struct tth_machine *m, uint64_t now,
			struct tth_actions *out)
{
	link_up_timers_cancel(out);
	m->state = TETHER_STATE_CLOSING;
	push(out, TTH_ACT_CLOSE)->attempt_id = m->attempt_id;
	arm(out, TTH_T_CLOSE, now + m->cfg->close_timeout_ms);
}

static void finish_close(struct tth_machine *m, struct tth_actions *out)
{
	cancel(out, TTH_T_CLOSE);
	if (m->restart) {
		m->restart = 0;
		m->endpoint = m->restart_endpoint;
		m->tried = 0;
		begin_attempt(m, out);
		return;
	}
	set_local_reason(m, TETHER_LOCAL_USER_CLOSE);
	go_closed(m, out);
}

static void on_start(struct tth_machine *m, struct tth_actions *out)
{
	switch (m->state) {
	case TETHER_STATE_IDLE:
	case TETHER_STATE_CLOSED:
		reset_streak(m);
		m->flaps = 0;
		m->endpoint = 0;
		begin_attempt(m, out);
		break;
	case TETHER_STATE_CLOSING:
		/* Stop then start: reconnect once the close is done. */
		m->restart = 1;
		m->restart_endpoint = m->endpoint;
		break;
	default:
		break; /* already running */
	}
}

static void on_stop(struct tth_machine *m, uint64_t now,
		    struct tth_actions *out)
{
	set_local_reason(m, TETHER_LOCAL_USER_CLOSE);
	switch (m->state) {
	case TETHER_STATE_IDLE:
		go_closed(m, out);
		break;
	case TETHER_STATE_SUSPENDED:
		if (m->cause == TTH_SUSP_TOKEN)
			push(out, TTH_ACT_CANCEL_ACQUIRE);
		else if (m->cause == TTH_SUSP_PROBE)
			push(out, TTH_ACT_CANCEL_WAIT);
		else
			cancel(out, TTH_T_WAKE);
		go_closed(m, out);
		break;
	case TETHER_STATE_BACKOFF:
		cancel(out, TTH_T_WAKE);
		go_closed(m, out);
		break;
	case TETHER_STATE_CONNECTING:
		drop_attempt(m, out);
		go_closed(m, out);
		break;
	case TETHER_STATE_ONLINE:
		m->restart = 0;
		begin_close(m, now, out);
		break;
	case TETHER_STATE_CLOSING:
		m->restart = 0; /* a failback close becomes final */
		break;
	case TETHER_STATE_CLOSED:
		break;
	}
}

static void on_up(struct tth_machine *m, const struct tth_input *in,
		  struct tth_actions *out)
{
	struct tether_policy_sample s;

	cancel(out, TTH_T_CONNECT);
	push(out, TTH_ACT_RELEASE);
	m->state = TETHER_STATE_ONLINE;
	m->cause = TTH_SUSP_NONE;
	m->online_since_ms = in->now_ms;
	s.type = TETHER_SAMPLE_RTT;
	s.now_ms = in->now_ms;
	s.value = in->now_ms - m->attempt_start_ms;
	tether_policy_observe(m->policy, &s);
	s.type = TETHER_SAMPLE_UP;
	s.value = 1;
	tether_policy_observe(m->policy, &s);
	emit(m, out, TETHER_EV_UP, 0);
	arm(out, TTH_T_STABLE, in->now_ms + m->cfg->stable_after_ms);
	if (m->cfg->failback_after_ms && m->endpoint != 0)
		arm(out, TTH_T_FAILBACK, in->now_ms + m->cfg->failback_after_ms);
}

static void on_timer(struct tth_machine *m, const struct tth_input *in,
		     struct tth_actions *out)
{
	switch (in->timer) {
	case TTH_T_WAKE:
		if (m->state == TETHER_STATE_BACKOFF ||
		    (m->state == TETHER_STATE_SUSPENDED &&
		     m->cause == TTH_SUSP_POLICY))
			begin_attempt(m, out);
		break;
	case TTH_T_CONNECT:
		if (m->state != TETHER_STATE_CONNECTING)
			break;
		drop_attempt(m, out);
		set_local_reason(m, TETHER_LOCAL_CONNECT_TIMEOUT);
		emit(m, out, TETHER_EV_DOWN, 1)->detail = "attempt failed";
		after_failure(m, in->now_ms, 0, out);
		break;
	case TTH_T_CLOSE:
		if (m->state != TETHER_STATE_CLOSING)
			break;
		push(out, TTH_ACT_ABORT)->attempt_id = m->attempt_id;
		finish_close(m, out);
		break;
	case TTH_T_STABLE:
		if (m->state != TETHER_STATE_ONLINE)
			break;
		reset_streak(m);
		tether_policy_on_success(m->policy, in->now_ms);
		break;
	case TTH_T_FAILBACK:
		if (m->state != TETHER_STATE_ONLINE || m->endpoint == 0)
			break;
		m->restart = 1;
		m->restart_endpoint = 0;
		begin_close(m, in->now_ms, out);
		break;
	case TTH_T__COUNT:
		break;
	}
}

static void on_link(struct tth_machine *m, int up, uint64_t now,
		    struct tth_actions *out)
{
	struct tether_policy_sample s = {TETHER_SAMPLE_LINK, now,
					 (uint64_t)up};

	m->link_down = !up;
	tether_policy_observe(m->policy, &s);
	if (!up) {
		switch (m->state) {
		case TETHER_STATE_BACKOFF:
			cancel(out, TTH_T_WAKE);
			suspend_for_link(m, out);
			break;
		case TETHER_STATE_SUSPENDED:
			if (m->cause == TTH_SUSP_TOKEN)
				push(out, TTH_ACT_CANCEL_ACQUIRE);
			else if (m->cause == TTH_SUSP_POLICY)
				cancel(out, TTH_T_WAKE);
			else if (m->cause == TTH_SUSP_PROBE)
				push(out, TTH_ACT_CANCEL_WAIT);
			else
				break;
			suspend_for_link(m, out);
			break;
		case TETHER_STATE_CONNECTING:
			drop_attempt(m, out);
			suspend_for_link(m, out);
			break;
		default:
			/* ONLINE: an established link may survive a short
			   flap; the transport or heartbeat will tell. */
			break;
		}
		return;
	}
	switch (m->state) {
	case TETHER_STATE_SUSPENDED:
		/* An open breaker (POLICY) keeps its own schedule: the
		   server, not the route, was failing. */
		if (m->cause == TTH_SUSP_LINK)
			begin_attempt(m, out);
		break;
	case TETHER_STATE_BACKOFF:
		/* A new route is worth one attempt now. */
		cancel(out, TTH_T_WAKE);
		begin_attempt(m, out);
		break;
	default:
		break;
	}
}

void tth_machine_step(struct tth_machine *m, const struct tth_input *in,
		      struct tth_actions *out)
{
	int current = in->attempt_id == m->attempt_id && m->attempt_id != 0;

	m->has_reason = 0;
	m->waiting = in->waiting;
	switch (in->type) {
	case TTH_IN_START:
		on_start(m, out);
		break;
	case TTH_IN_STOP:
		on_stop(m, in->now_ms, out);
		break;
	case TTH_IN_GRANT:
		if (m->state == TETHER_STATE_SUSPENDED &&
		    m->cause == TTH_SUSP_TOKEN)
			start_connect(m, in->now_ms, out);
		else
			/* Not waiting (cannot happen with a synchronous
			   cancel): hand the slot straight back. */
			push(out, TTH_ACT_RELEASE);
		break;
	case TTH_IN_UP:
		if (current && m->state == TETHER_STATE_CONNECTING)
			on_up(m, in, out);
		break;
	case TTH_IN_FAIL:
	case TTH_IN_DOWN:
		if (!current)
			break;
		if (m->state == TETHER_STATE_CONNECTING) {
			/* A transport may report a loss before "up": it is
			   the attempt failing either way. */
			cancel(out, TTH_T_CONNECT);
			push(out, TTH_ACT_RELEASE);
			set_reason(m, in->reason);
			emit(m, out, TETHER_EV_DOWN, 1)->detail =
				"attempt failed";
			after_failure(m, in->now_ms, 0, out);
		} else if (m->state == TETHER_STATE_ONLINE &&
			   in->type == TTH_IN_DOWN) {
			link_up_timers_cancel(out);
			set_reason(m, in->reason);
			if (m->reason.cls == TETHER_CLASS_TIMEOUT)
				/* half-open: the socket may linger */
				push(out, TTH_ACT_ABORT)->attempt_id =
					m->attempt_id;
			emit(m, out, TETHER_EV_DOWN, 1)->detail = "link lost";
			count_flap(m, in->now_ms, out);
			after_failure(m, in->now_ms, 1, out);
		} else if (m->state == TETHER_STATE_CLOSING &&
			   in->type == TTH_IN_DOWN) {
			finish_close(m, out);
		}
		break;
	case TTH_IN_CLOSED:
		if (current && m->state == TETHER_STATE_CLOSING)
			finish_close(m, out);
		break;
	case TTH_IN_TIMER:
		on_timer(m, in, out);
		break;
	case TTH_IN_LINK_DOWN:
		on_link(m, 0, in->now_ms, out);
		break;
	case TTH_IN_LINK_UP:
		on_link(m, 1, in->now_ms, out);
		break;
	case TTH_IN_HOLD:
		if (m->state == TETHER_STATE_SUSPENDED &&
		    m->cause == TTH_SUSP_TOKEN) {
			/* Waiting costs no attempt and no backoff: the
			   prober's outcome decides for everyone. */
			m->cause = TTH_SUSP_PROBE;
			push(out, TTH_ACT_WAIT)->endpoint = m->endpoint;
			emit(m, out, TETHER_EV_SUSPEND, 0)->detail =
				"endpoint probing";
		}
		break;
	case TTH_IN_RESUME:
		if (m->state == TETHER_STATE_SUSPENDED &&
		    m->cause == TTH_SUSP_PROBE)
			begin_attempt(m, out);
		break;
	case TTH_IN__COUNT:
		break;
	}
}

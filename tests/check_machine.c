/*
 * The connection state machine on virtual time: every state x input pair,
 * each reason class, endpoints, failback, stability and single flight.
 * The policy is a scripted test double (unit tests of the sans-I/O core
 * are the one place for mocks).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check-int.h"
#include "machine-int.h"
#include "util-int.h"

/* ------------------------------------------------- the scripted policy */

struct script {
	enum tether_verdict verdict;
	uint64_t delay_ms;
	int nexts, successes, rtt_samples, up_samples;
	uint32_t last_attempt;
	uint64_t last_elapsed;
	enum tether_reason_class last_cls;
};
static struct script *script; /* the instance under test */

static int script_create(tether_params *p, void **state)
{
	(void)p;
	script = calloc(1, sizeof(*script));
	script->delay_ms = 1000;
	*state = script;
	return 0;
}
static void script_destroy(void *s)
{
	free(s);
}
static void script_next(void *st, const struct tether_policy_input *in,
			struct tether_rng *rng, struct tether_policy_decision *o)
{
	struct script *s = st;
	(void)rng;
	s->nexts++;
	s->last_attempt = in->attempt;
	s->last_elapsed = in->elapsed_ms;
	s->last_cls = in->reason->cls;
	o->verdict = s->verdict;
	o->delay_ms = s->delay_ms;
	o->why = s->verdict == TETHER_VERDICT_GIVE_UP ? "scripted give-up"
						      : NULL;
}
static void script_success(void *st, uint64_t now)
{
	(void)now;
	((struct script *)st)->successes++;
}
static void script_observe(void *st, const struct tether_policy_sample *smp)
{
	struct script *s = st;
	if (smp->type == TETHER_SAMPLE_RTT)
		s->rtt_samples++;
	if (smp->type == TETHER_SAMPLE_UP)
		s->up_samples++;
}
static const struct tether_policy_ops script_ops = {
	.abi = TETHER_POLICY_ABI,
	.name = "script",
	.summary = "test double",
	.create = script_create,
	.destroy = script_destroy,
	.next = script_next,
	.on_success = script_success,
	.observe = script_observe,
};

/* ------------------------------------------------------------ fixture */

static struct tth_machine_cfg cfg;
static struct tth_machine m;
static tether_policy *pol;
static tether_classifier *cls_over;
static struct tth_actions acts;
static uint64_t now;

static void make(uint32_t n_endpoints)
{
	tether_params *p = tether_params_new("test");
	char err[256];

	tether_policy_register(&script_ops); /* EEXIST after the first */
	tether_params_set(p, "type", "script", NULL);
	ck_assert_int_eq(tether_policy_new(p, &pol, err, sizeof err), 0);
	tether_params_free(p);
	tth_machine_cfg_defaults(&cfg);
	tth_machine_init(&m, &cfg, pol, cls_over, n_endpoints, 42);
	now = 1000;
}

static void setup(void)
{
	cls_over = NULL;
	make(1);
}

static void teardown(void)
{
	tether_policy_free(pol);
	tether_classifier_free(cls_over);
	cls_over = NULL;
}

static void feed_r(enum tth_input_type t, uint32_t id,
		   const struct tether_reason *r)
{
	struct tth_input in = {.type = t, .now_ms = now, .attempt_id = id,
			       .reason = r};
	acts.n = 0;
	tth_machine_step(&m, &in, &acts);
}

static void feed(enum tth_input_type t)
{
	feed_r(t, m.attempt_id, NULL);
}

static void fire(enum tth_timer_kind k)
{
	struct tth_input in = {.type = TTH_IN_TIMER, .now_ms = now, .timer = k};
	acts.n = 0;
	tth_machine_step(&m, &in, &acts);
}

static const struct tether_reason refused = {
	.kind = TETHER_KIND_SOCKET, .code = ECONNREFUSED, .by_peer = 1};
static const struct tether_reason eof = {.kind = TETHER_KIND_SOCKET,
					 .code = 0, .by_peer = 1};

static unsigned action_mask(void)
{
	unsigned mask = 0;
	for (size_t i = 0; i < acts.n; i++)
		mask |= 1u << acts.v[i].type;
	return mask;
}

static unsigned event_mask(void)
{
	unsigned mask = 0;
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == TTH_ACT_EMIT)
			mask |= 1u << acts.v[i].event;
	return mask;
}

static const struct tth_action *find(enum tth_action_type t,
				     enum tth_timer_kind k)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == t &&
		    ((t != TTH_ACT_ARM && t != TTH_ACT_CANCEL) ||
		     acts.v[i].timer == k))
			return &acts.v[i];
	return NULL;
}

/* -------------------------------------------- reaching each sub-state */

enum sub {
	S_IDLE,
	S_TOKEN,
	S_CONNECTING,
	S_ONLINE,
	S_BACKOFF,
	S_SUSP_POLICY,
	S_SUSP_LINK,
	S_SUSP_PROBE,
	S_CLOSING,
	S_CLOSED,
	S__COUNT
};

static const char *const sub_names[S__COUNT] = {
	"idle", "suspended(token)", "connecting", "online", "backoff",
	"suspended(policy)", "suspended(link)", "suspended(probe)",
	"closing", "closed",
};

static void reach(enum sub s)
{
	switch (s) {
	case S_IDLE:
		break;
	case S_TOKEN:
		feed(TTH_IN_START);
		break;
	case S_CONNECTING:
		reach(S_TOKEN);
		feed(TTH_IN_GRANT);
		break;
	case S_ONLINE:
		reach(S_CONNECTING);
		feed(TTH_IN_UP);
		break;
	case S_BACKOFF:
		reach(S_ONLINE);
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
		break;
	case S_SUSP_POLICY:
		reach(S_ONLINE);
		script->verdict = TETHER_VERDICT_SUSPEND;
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
		script->verdict = TETHER_VERDICT_RETRY;
		break;
	case S_SUSP_LINK:
		feed(TTH_IN_LINK_DOWN);
		feed(TTH_IN_START);
		break;
	case S_SUSP_PROBE:
		reach(S_TOKEN);
		feed(TTH_IN_HOLD);
		break;
	case S_CLOSING:
		reach(S_ONLINE);
		feed(TTH_IN_STOP);
		break;
	case S_CLOSED:
		reach(S_TOKEN);
		feed(TTH_IN_STOP);
		break;
	case S__COUNT:
		break;
	}
}

static enum sub current_sub(void)
{
	switch (m.state) {
	case TETHER_STATE_IDLE:
		return S_IDLE;
	case TETHER_STATE_CONNECTING:
		return S_CONNECTING;
	case TETHER_STATE_ONLINE:
		return S_ONLINE;
	case TETHER_STATE_BACKOFF:
		return S_BACKOFF;
	case TETHER_STATE_SUSPENDED:
		return m.cause == TTH_SUSP_TOKEN    ? S_TOKEN
		       : m.cause == TTH_SUSP_LINK ? S_SUSP_LINK
		       : m.cause == TTH_SUSP_PROBE ? S_SUSP_PROBE
						  : S_SUSP_POLICY;
	case TETHER_STATE_CLOSING:
		return S_CLOSING;
	case TETHER_STATE_CLOSED:
		return S_CLOSED;
	}
	return S__COUNT;
}

/* ------------------------------------------- the state x input table */

enum in {
	I_START,
	I_STOP,
	I_GRANT,
	I_UP,
	I_FAIL,
	I_DOWN,
	I_CLOSED,
	I_T_WAKE,
	I_T_CONNECT,
	I_T_CLOSE,
	I_T_STABLE,
	I_T_FAILBACK,
	I_LINK_DOWN,
	I_LINK_UP,
	I_HOLD,
	I_RESUME,
	I__COUNT
};

static const char *const in_names[I__COUNT] = {
	"start",      "stop",	   "grant",	  "up",
	"fail",	      "down",	   "closed",	  "timer wake",
	"timer connect", "timer close", "timer stable", "timer failback",
	"link down",  "link up",	   "hold",	  "resume",
};

static void apply(enum in i)
{
	switch (i) {
	case I_START: feed(TTH_IN_START); break;
	case I_STOP: feed(TTH_IN_STOP); break;
	case I_GRANT: feed(TTH_IN_GRANT); break;
	case I_UP: feed(TTH_IN_UP); break;
	case I_FAIL: feed_r(TTH_IN_FAIL, m.attempt_id, &refused); break;
	case I_DOWN: feed_r(TTH_IN_DOWN, m.attempt_id, &eof); break;
	case I_CLOSED: feed(TTH_IN_CLOSED); break;
	case I_T_WAKE: fire(TTH_T_WAKE); break;
	case I_T_CONNECT: fire(TTH_T_CONNECT); break;
	case I_T_CLOSE: fire(TTH_T_CLOSE); break;
	case I_T_STABLE: fire(TTH_T_STABLE); break;
	case I_T_FAILBACK: fire(TTH_T_FAILBACK); break;
	case I_LINK_DOWN: feed(TTH_IN_LINK_DOWN); break;
	case I_LINK_UP: feed(TTH_IN_LINK_UP); break;
	case I_HOLD: feed(TTH_IN_HOLD); break;
	case I_RESUME: feed(TTH_IN_RESUME); break;
	case I__COUNT: break;
	}
}

#define A(x) (1u << TTH_ACT_##x)
#define E(x) (1u << TETHER_EV_##x)

struct row {
	enum sub from;
	enum in input;
	enum sub to;
	unsigned actions; /* exactly these action types */
	unsigned events;  /* exactly these events */
};

/*
 * Every pair. Where an input cannot carry meaning in a state (a transport
 * report about no attempt in flight, a timer that is never armed there,
 * which the engine cancels synchronously anyway) the row says the machine
 * ignores it: same state, no actions. A GRANT outside SUSPENDED(token)
 * cannot come from the engine (cancel is synchronous) and is answered with
 * RELEASE so that a slot can never leak.
 */
static const struct row table[] = {
	/* idle */
	{S_IDLE, I_START, S_TOKEN, A(ACQUIRE), 0},
	{S_IDLE, I_STOP, S_CLOSED, A(EMIT), E(CLOSED)},
	{S_IDLE, I_GRANT, S_IDLE, A(RELEASE), 0},
	{S_IDLE, I_UP, S_IDLE, 0, 0},
	{S_IDLE, I_FAIL, S_IDLE, 0, 0},
	{S_IDLE, I_DOWN, S_IDLE, 0, 0},
	{S_IDLE, I_CLOSED, S_IDLE, 0, 0},
	{S_IDLE, I_T_WAKE, S_IDLE, 0, 0},
	{S_IDLE, I_T_CONNECT, S_IDLE, 0, 0},
	{S_IDLE, I_T_CLOSE, S_IDLE, 0, 0},
	{S_IDLE, I_T_STABLE, S_IDLE, 0, 0},
	{S_IDLE, I_T_FAILBACK, S_IDLE, 0, 0},
	{S_IDLE, I_LINK_DOWN, S_IDLE, 0, 0},
	{S_IDLE, I_LINK_UP, S_IDLE, 0, 0},
	{S_IDLE, I_HOLD, S_IDLE, 0, 0},
	{S_IDLE, I_RESUME, S_IDLE, 0, 0},
	/* suspended, waiting for a token */
	{S_TOKEN, I_START, S_TOKEN, 0, 0},
	{S_TOKEN, I_STOP, S_CLOSED, A(CANCEL_ACQUIRE) | A(EMIT), E(CLOSED)},
	{S_TOKEN, I_GRANT, S_CONNECTING, A(CONNECT) | A(ARM) | A(EMIT),
	 E(ATTEMPT)},
	{S_TOKEN, I_UP, S_TOKEN, 0, 0},
	{S_TOKEN, I_FAIL, S_TOKEN, 0, 0},
	{S_TOKEN, I_DOWN, S_TOKEN, 0, 0},
	{S_TOKEN, I_CLOSED, S_TOKEN, 0, 0},
	{S_TOKEN, I_T_WAKE, S_TOKEN, 0, 0},
	{S_TOKEN, I_T_CONNECT, S_TOKEN, 0, 0},
	{S_TOKEN, I_T_CLOSE, S_TOKEN, 0, 0},
	{S_TOKEN, I_T_STABLE, S_TOKEN, 0, 0},
	{S_TOKEN, I_T_FAILBACK, S_TOKEN, 0, 0},
	{S_TOKEN, I_LINK_DOWN, S_SUSP_LINK, A(CANCEL_ACQUIRE) | A(EMIT),
	 E(SUSPEND)},
	{S_TOKEN, I_LINK_UP, S_TOKEN, 0, 0},
	{S_TOKEN, I_HOLD, S_SUSP_PROBE, A(WAIT) | A(EMIT), E(SUSPEND)},
	{S_TOKEN, I_RESUME, S_TOKEN, 0, 0},
	/* connecting */
	{S_CONNECTING, I_START, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_STOP, S_CLOSED,
	 A(CANCEL) | A(ABORT) | A(RELEASE) | A(EMIT), E(CLOSED)},
	{S_CONNECTING, I_GRANT, S_CONNECTING, A(RELEASE), 0},
	{S_CONNECTING, I_UP, S_ONLINE,
	 A(CANCEL) | A(RELEASE) | A(ARM) | A(EMIT), E(UP)},
	{S_CONNECTING, I_FAIL, S_BACKOFF,
	 A(CANCEL) | A(RELEASE) | A(ARM) | A(EMIT), E(DOWN) | E(RETRY)},
	{S_CONNECTING, I_DOWN, S_BACKOFF,
	 A(CANCEL) | A(RELEASE) | A(ARM) | A(EMIT), E(DOWN) | E(RETRY)},
	{S_CONNECTING, I_CLOSED, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_T_WAKE, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_T_CONNECT, S_BACKOFF,
	 A(CANCEL) | A(ABORT) | A(RELEASE) | A(ARM) | A(EMIT),
	 E(DOWN) | E(RETRY)},
	{S_CONNECTING, I_T_CLOSE, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_T_STABLE, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_T_FAILBACK, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_LINK_DOWN, S_SUSP_LINK,
	 A(CANCEL) | A(ABORT) | A(RELEASE) | A(EMIT), E(SUSPEND)},
	{S_CONNECTING, I_LINK_UP, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_HOLD, S_CONNECTING, 0, 0},
	{S_CONNECTING, I_RESUME, S_CONNECTING, 0, 0},
	/* online */
	{S_ONLINE, I_START, S_ONLINE, 0, 0},
	{S_ONLINE, I_STOP, S_CLOSING, A(CANCEL) | A(CLOSE) | A(ARM), 0},
	{S_ONLINE, I_GRANT, S_ONLINE, A(RELEASE), 0},
	{S_ONLINE, I_UP, S_ONLINE, 0, 0},   /* duplicate up */
	{S_ONLINE, I_FAIL, S_ONLINE, 0, 0}, /* losses come as DOWN */
	{S_ONLINE, I_DOWN, S_BACKOFF, A(CANCEL) | A(ARM) | A(EMIT),
	 E(DOWN) | E(RETRY)},
	{S_ONLINE, I_CLOSED, S_ONLINE, 0, 0},
	{S_ONLINE, I_T_WAKE, S_ONLINE, 0, 0},
	{S_ONLINE, I_T_CONNECT, S_ONLINE, 0, 0},
	{S_ONLINE, I_T_CLOSE, S_ONLINE, 0, 0},
	{S_ONLINE, I_T_STABLE, S_ONLINE, 0, 0}, /* streak reset, see below */
	{S_ONLINE, I_T_FAILBACK, S_ONLINE, 0, 0}, /* on endpoint 0 */
	{S_ONLINE, I_LINK_DOWN, S_ONLINE, 0, 0},
	{S_ONLINE, I_LINK_UP, S_ONLINE, 0, 0},
	{S_ONLINE, I_HOLD, S_ONLINE, 0, 0},
	{S_ONLINE, I_RESUME, S_ONLINE, 0, 0},
	/* backoff */
	{S_BACKOFF, I_START, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_STOP, S_CLOSED, A(CANCEL) | A(EMIT), E(CLOSED)},
	{S_BACKOFF, I_GRANT, S_BACKOFF, A(RELEASE), 0},
	{S_BACKOFF, I_UP, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_FAIL, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_DOWN, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_CLOSED, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_T_WAKE, S_TOKEN, A(ACQUIRE), 0},
	{S_BACKOFF, I_T_CONNECT, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_T_CLOSE, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_T_STABLE, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_T_FAILBACK, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_LINK_DOWN, S_SUSP_LINK, A(CANCEL) | A(EMIT), E(SUSPEND)},
	{S_BACKOFF, I_LINK_UP, S_TOKEN, A(CANCEL) | A(ACQUIRE), 0},
	{S_BACKOFF, I_HOLD, S_BACKOFF, 0, 0},
	{S_BACKOFF, I_RESUME, S_BACKOFF, 0, 0},
	/* suspended by the policy (breaker open) */
	{S_SUSP_POLICY, I_START, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_STOP, S_CLOSED, A(CANCEL) | A(EMIT), E(CLOSED)},
	{S_SUSP_POLICY, I_GRANT, S_SUSP_POLICY, A(RELEASE), 0},
	{S_SUSP_POLICY, I_UP, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_FAIL, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_DOWN, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_CLOSED, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_T_WAKE, S_TOKEN, A(ACQUIRE), 0},
	{S_SUSP_POLICY, I_T_CONNECT, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_T_CLOSE, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_T_STABLE, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_T_FAILBACK, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_LINK_DOWN, S_SUSP_LINK, A(CANCEL) | A(EMIT),
	 E(SUSPEND)},
	{S_SUSP_POLICY, I_LINK_UP, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_HOLD, S_SUSP_POLICY, 0, 0},
	{S_SUSP_POLICY, I_RESUME, S_SUSP_POLICY, 0, 0},
	/* suspended, link down */
	{S_SUSP_LINK, I_START, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_STOP, S_CLOSED, A(CANCEL) | A(EMIT), E(CLOSED)},
	{S_SUSP_LINK, I_GRANT, S_SUSP_LINK, A(RELEASE), 0},
	{S_SUSP_LINK, I_UP, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_FAIL, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_DOWN, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_CLOSED, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_T_WAKE, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_T_CONNECT, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_T_CLOSE, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_T_STABLE, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_T_FAILBACK, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_LINK_DOWN, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_LINK_UP, S_TOKEN, A(ACQUIRE), 0},
	{S_SUSP_LINK, I_HOLD, S_SUSP_LINK, 0, 0},
	{S_SUSP_LINK, I_RESUME, S_SUSP_LINK, 0, 0},
	/* suspended: another connection probes the failing endpoint */
	{S_SUSP_PROBE, I_START, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_STOP, S_CLOSED, A(CANCEL_WAIT) | A(EMIT), E(CLOSED)},
	{S_SUSP_PROBE, I_GRANT, S_SUSP_PROBE, A(RELEASE), 0},
	{S_SUSP_PROBE, I_UP, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_FAIL, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_DOWN, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_CLOSED, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_T_WAKE, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_T_CONNECT, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_T_CLOSE, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_T_STABLE, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_T_FAILBACK, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_LINK_DOWN, S_SUSP_LINK, A(CANCEL_WAIT) | A(EMIT),
	 E(SUSPEND)},
	{S_SUSP_PROBE, I_LINK_UP, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_HOLD, S_SUSP_PROBE, 0, 0},
	{S_SUSP_PROBE, I_RESUME, S_TOKEN, A(ACQUIRE), 0},
	/* closing */
	{S_CLOSING, I_START, S_CLOSING, 0, 0}, /* restarts after, see below */
	{S_CLOSING, I_STOP, S_CLOSING, 0, 0},
	{S_CLOSING, I_GRANT, S_CLOSING, A(RELEASE), 0},
	{S_CLOSING, I_UP, S_CLOSING, 0, 0},
	{S_CLOSING, I_FAIL, S_CLOSING, 0, 0},
	{S_CLOSING, I_DOWN, S_CLOSED, A(CANCEL) | A(EMIT), E(CLOSED)},
	{S_CLOSING, I_CLOSED, S_CLOSED, A(CANCEL) | A(EMIT), E(CLOSED)},
	{S_CLOSING, I_T_WAKE, S_CLOSING, 0, 0},
	{S_CLOSING, I_T_CONNECT, S_CLOSING, 0, 0},
	{S_CLOSING, I_T_CLOSE, S_CLOSED, A(ABORT) | A(CANCEL) | A(EMIT),
	 E(CLOSED)},
	{S_CLOSING, I_T_STABLE, S_CLOSING, 0, 0},
	{S_CLOSING, I_T_FAILBACK, S_CLOSING, 0, 0},
	{S_CLOSING, I_LINK_DOWN, S_CLOSING, 0, 0},
	{S_CLOSING, I_LINK_UP, S_CLOSING, 0, 0},
	{S_CLOSING, I_HOLD, S_CLOSING, 0, 0},
	{S_CLOSING, I_RESUME, S_CLOSING, 0, 0},
	/* closed (terminal until started again) */
	{S_CLOSED, I_START, S_TOKEN, A(ACQUIRE), 0},
	{S_CLOSED, I_STOP, S_CLOSED, 0, 0},
	{S_CLOSED, I_GRANT, S_CLOSED, A(RELEASE), 0},
	{S_CLOSED, I_UP, S_CLOSED, 0, 0},
	{S_CLOSED, I_FAIL, S_CLOSED, 0, 0},
	{S_CLOSED, I_DOWN, S_CLOSED, 0, 0},
	{S_CLOSED, I_CLOSED, S_CLOSED, 0, 0},
	{S_CLOSED, I_T_WAKE, S_CLOSED, 0, 0},
	{S_CLOSED, I_T_CONNECT, S_CLOSED, 0, 0},
	{S_CLOSED, I_T_CLOSE, S_CLOSED, 0, 0},
	{S_CLOSED, I_T_STABLE, S_CLOSED, 0, 0},
	{S_CLOSED, I_T_FAILBACK, S_CLOSED, 0, 0},
	{S_CLOSED, I_LINK_DOWN, S_CLOSED, 0, 0},
	{S_CLOSED, I_LINK_UP, S_CLOSED, 0, 0},
	{S_CLOSED, I_HOLD, S_CLOSED, 0, 0},
	{S_CLOSED, I_RESUME, S_CLOSED, 0, 0},
};

START_TEST(test_machine_table_is_complete)
{
	int seen[S__COUNT][I__COUNT] = {{0}};
	for (size_t i = 0; i < TTH_ARRAY_LEN(table); i++)
		seen[table[i].from][table[i].input]++;
	for (int s = 0; s < S__COUNT; s++)
		for (int i = 0; i < I__COUNT; i++)
			ck_assert_msg(seen[s][i] == 1, "%s x %s listed %d times",
				      sub_names[s], in_names[i], seen[s][i]);
}
END_TEST

START_TEST(test_machine_every_state_input_pair)
{
	const struct row *r = &table[_i];

	reach(r->from);
	ck_assert_msg(current_sub() == r->from, "could not reach %s",
		      sub_names[r->from]);
	apply(r->input);
	ck_assert_msg(current_sub() == r->to, "%s x %s: expected %s, got %s",
		      sub_names[r->from], in_names[r->input], sub_names[r->to],
		      sub_names[current_sub()]);
	ck_assert_msg(action_mask() == r->actions,
		      "%s x %s: actions 0x%x, expected 0x%x",
		      sub_names[r->from], in_names[r->input], action_mask(),
		      r->actions);
	ck_assert_msg(event_mask() == r->events,
		      "%s x %s: events 0x%x, expected 0x%x", sub_names[r->from],
		      in_names[r->input], event_mask(), r->events);
}
END_TEST

/* -------------------------------------------------------- reason classes */

START_TEST(test_machine_fatal_is_never_retried)
{
	struct tether_reason bad_creds = {.kind = TETHER_KIND_MQTT3,
					  .code = 4, .by_peer = 1};
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &bad_creds);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
	ck_assert_uint_eq(event_mask(), E(DOWN) | E(FATAL) | E(CLOSED));
	ck_assert_ptr_null(find(TTH_ACT_ACQUIRE, 0));
	ck_assert_ptr_null(find(TTH_ACT_ARM, TTH_T_WAKE));
	ck_assert_int_eq(script->nexts, 0);
	ck_assert_int_eq(m.reason.cls, TETHER_CLASS_FATAL);
	/* nothing afterwards brings it back by itself */
	for (int k = 0; k < TTH_T__COUNT; k++) {
		fire((enum tth_timer_kind)k);
		ck_assert_uint_eq(acts.n, 0);
	}
	feed(TTH_IN_LINK_UP);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
}
END_TEST

START_TEST(test_machine_fatal_mqtt5_and_http)
{
	struct tether_reason r5 = {.kind = TETHER_KIND_MQTT5, .code = 0x86};
	struct tether_reason h = {.kind = TETHER_KIND_HTTP, .code = 401};
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &r5);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
	feed(TTH_IN_START);
	feed(TTH_IN_GRANT);
	feed_r(TTH_IN_FAIL, m.attempt_id, &h);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
	ck_assert_int_eq(script->nexts, 0);
}
END_TEST

START_TEST(test_machine_redirect_switches_endpoint)
{
	struct tether_reason moved = {.kind = TETHER_KIND_MQTT5, .code = 0x9C,
				      .by_peer = 1,
				      .server_ref = "tcp://127.0.0.2:1884"};
	const struct tth_action *a;

	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &moved);
	a = find(TTH_ACT_REDIRECT, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->detail, "tcp://127.0.0.2:1884");
	ck_assert_ptr_nonnull(find(TTH_ACT_ACQUIRE, 0)); /* now, no backoff */
	ck_assert_ptr_null(find(TTH_ACT_ARM, TTH_T_WAKE));
	ck_assert_int_eq(script->nexts, 0);
	feed(TTH_IN_GRANT);
	a = find(TTH_ACT_CONNECT, 0);
	ck_assert_uint_eq(a->endpoint, TTH_EP_REDIRECT);
	/* the redirect target fails: back to the list, endpoint 0 */
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
	ck_assert_uint_eq(m.endpoint, 0);
}
END_TEST

START_TEST(test_machine_redirect_without_target_or_looping)
{
	struct tether_reason moved = {.kind = TETHER_KIND_MQTT5, .code = 0x9D};

	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &moved); /* no server reference */
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
	ck_assert_int_eq(script->nexts, 1);

	moved.server_ref = "tcp://127.0.0.3:1883";
	for (uint32_t i = 0; i < cfg.max_redirects; i++) {
		fire(TTH_T_WAKE);
		feed(TTH_IN_GRANT);
		feed_r(TTH_IN_FAIL, m.attempt_id, &moved);
		ck_assert_ptr_nonnull(find(TTH_ACT_REDIRECT, 0));
		feed(TTH_IN_GRANT);
		feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	}
	/* one redirect too many: treated as transient, policy backoff */
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed_r(TTH_IN_FAIL, m.attempt_id, &moved);
	ck_assert_ptr_null(find(TTH_ACT_REDIRECT, 0));
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
}
END_TEST

/* Issue 15: a peer's Retry-After is a floor, bounded by retry_after_max. */
START_TEST(test_machine_retry_after_hint_is_a_bounded_floor)
{
	struct tether_reason busy = {.kind = TETHER_KIND_HTTP, .code = 503,
				     .by_peer = 1, .retry_after_ms = 12000};
	const struct tth_action *a;

	script->delay_ms = 100;
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &busy);
	a = find(TTH_ACT_ARM, TTH_T_WAKE);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->at_ms, now + 12000); /* above the 5 s floor */
	/* a policy delay longer than the hint is kept */
	script->delay_ms = 20000;
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed_r(TTH_IN_FAIL, m.attempt_id, &busy);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 20000);
	/* a hostile hint is cut to retry_after_max (60 s) */
	script->delay_ms = 100;
	busy.retry_after_ms = UINT64_MAX;
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed_r(TTH_IN_FAIL, m.attempt_id, &busy);
	ck_assert_uint_eq(cfg.retry_after_max_ms, 60000);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 60000);
	/* a transient failure with a hint waits for it too; below the
	   overload floor, as the hint is all there is */
	struct tether_reason gone = {.kind = TETHER_KIND_HTTP, .code = 500,
				     .by_peer = 1, .retry_after_ms = 700};
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed_r(TTH_IN_FAIL, m.attempt_id, &gone);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 700);
}
END_TEST

START_TEST(test_machine_overload_waits_at_least_its_floor)
{
	struct tether_reason busy = {.kind = TETHER_KIND_MQTT5, .code = 0x89,
				     .by_peer = 1};
	const struct tth_action *a;

	script->delay_ms = 100;
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &busy);
	a = find(TTH_ACT_ARM, TTH_T_WAKE);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->at_ms, now + cfg.overload_floor_ms);
	ck_assert_int_eq(script->last_cls, TETHER_CLASS_OVERLOAD);
	/* a longer policy delay is kept as it is */
	script->delay_ms = 20000;
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	struct tether_reason ws_busy = {.kind = TETHER_KIND_WS_CLOSE,
					.code = 1013, .by_peer = 1};
	feed_r(TTH_IN_FAIL, m.attempt_id, &ws_busy);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 20000);
}
END_TEST

START_TEST(test_machine_timeout_aborts_half_open_link)
{
	struct tether_reason hb = {.kind = TETHER_KIND_LOCAL,
				   .code = TETHER_LOCAL_HEARTBEAT_TIMEOUT};
	reach(S_ONLINE);
	uint32_t id = m.attempt_id;
	feed_r(TTH_IN_DOWN, id, &hb);
	const struct tth_action *a = find(TTH_ACT_ABORT, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->attempt_id, id);
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
	ck_assert_int_eq(script->last_cls, TETHER_CLASS_TIMEOUT);
}
END_TEST

START_TEST(test_machine_connect_timeout)
{
	const struct tth_action *a;

	reach(S_CONNECTING);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_CONNECT)->at_ms,
			  now + cfg.connect_timeout_ms);
	now += cfg.connect_timeout_ms;
	fire(TTH_T_CONNECT);
	a = find(TTH_ACT_ABORT, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(m.reason.kind, TETHER_KIND_LOCAL);
	ck_assert_int_eq(m.reason.code, TETHER_LOCAL_CONNECT_TIMEOUT);
	ck_assert_int_eq(m.reason.cls, TETHER_CLASS_TIMEOUT);
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
}
END_TEST

START_TEST(test_machine_server_goodbye_is_transient_unless_overridden)
{
	struct tether_reason bye = {.kind = TETHER_KIND_WS_CLOSE, .code = 1000,
				    .by_peer = 1};
	reach(S_ONLINE);
	feed_r(TTH_IN_DOWN, m.attempt_id, &bye);
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
	teardown();

	cls_over = tether_classifier_new();
	ck_assert_int_eq(tether_classifier_add_rule(cls_over, "peer:ws:1000",
						    "normal", NULL, 0),
			 0);
	make(1);
	reach(S_ONLINE);
	feed_r(TTH_IN_DOWN, m.attempt_id, &bye);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
	ck_assert_uint_eq(event_mask(), E(DOWN) | E(CLOSED));
}
END_TEST

START_TEST(test_machine_give_up_closes)
{
	script->verdict = TETHER_VERDICT_GIVE_UP;
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
	ck_assert_uint_eq(event_mask(), E(DOWN) | E(GIVE_UP) | E(CLOSED));
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == TTH_ACT_EMIT &&
		    acts.v[i].event == TETHER_EV_GIVE_UP)
			ck_assert_str_eq(acts.v[i].detail, "scripted give-up");
}
END_TEST

/* ------------------------------------------------- endpoints, streaks */

START_TEST(test_machine_endpoints_rotate_then_back_off)
{
	teardown();
	make(3);
	reach(S_CONNECTING);
	ck_assert_uint_eq(find(TTH_ACT_CONNECT, 0)->endpoint, 0);
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	/* endpoint 1 untried: fail over at once, no policy */
	ck_assert_int_eq(current_sub(), S_TOKEN);
	ck_assert_int_eq(script->nexts, 0);
	feed(TTH_IN_GRANT);
	ck_assert_uint_eq(find(TTH_ACT_CONNECT, 0)->endpoint, 1);
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	feed(TTH_IN_GRANT);
	ck_assert_uint_eq(find(TTH_ACT_CONNECT, 0)->endpoint, 2);
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	/* the round is over: the policy decides, first round = attempt 1 */
	ck_assert_int_eq(m.state, TETHER_STATE_BACKOFF);
	ck_assert_int_eq(script->nexts, 1);
	ck_assert_uint_eq(script->last_attempt, 1);
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	ck_assert_uint_eq(find(TTH_ACT_CONNECT, 0)->endpoint, 0);
}
END_TEST

START_TEST(test_machine_failback_to_first_endpoint)
{
	teardown();
	make(2);
	cfg.failback_after_ms = 60000;
	reach(S_CONNECTING);
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	feed(TTH_IN_GRANT);
	feed(TTH_IN_UP);
	ck_assert_uint_eq(m.endpoint, 1);
	const struct tth_action *a = find(TTH_ACT_ARM, TTH_T_FAILBACK);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->at_ms, now + 60000);
	now += 60000;
	fire(TTH_T_FAILBACK);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSING);
	ck_assert_ptr_nonnull(find(TTH_ACT_CLOSE, 0));
	feed(TTH_IN_CLOSED);
	ck_assert_int_eq(current_sub(), S_TOKEN);
	feed(TTH_IN_GRANT);
	ck_assert_uint_eq(find(TTH_ACT_CONNECT, 0)->endpoint, 0);
	/* on endpoint 0 there is nothing to fail back to */
	feed(TTH_IN_UP);
	ck_assert_ptr_null(find(TTH_ACT_ARM, TTH_T_FAILBACK));
}
END_TEST

START_TEST(test_machine_stable_link_resets_the_streak)
{
	reach(S_ONLINE);
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_uint_eq(script->last_attempt, 1);
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed(TTH_IN_UP);
	/* flapping: lost again before it was stable */
	now += 100;
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_uint_eq(script->last_attempt, 2);
	ck_assert_uint_eq(script->last_elapsed, 100);
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed(TTH_IN_UP);
	ck_assert_int_eq(script->successes, 0);
	now += cfg.stable_after_ms;
	fire(TTH_T_STABLE);
	ck_assert_int_eq(script->successes, 1);
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_uint_eq(script->last_attempt, 1);
	ck_assert_uint_eq(script->last_elapsed, 0);
	ck_assert_int_eq(script->rtt_samples, 3);
	ck_assert_int_eq(script->up_samples, 3);
}
END_TEST

START_TEST(test_machine_stop_then_start_while_closing_reconnects)
{
	reach(S_CLOSING);
	feed(TTH_IN_START);
	feed(TTH_IN_CLOSED);
	ck_assert_int_eq(current_sub(), S_TOKEN);
	/* and stop during a failback close makes it final */
	feed(TTH_IN_GRANT);
	feed(TTH_IN_UP);
	feed(TTH_IN_STOP);
	feed(TTH_IN_START);
	feed(TTH_IN_STOP);
	feed(TTH_IN_CLOSED);
	ck_assert_int_eq(m.state, TETHER_STATE_CLOSED);
}
END_TEST

START_TEST(test_machine_link_down_spends_no_attempts)
{
	reach(S_ONLINE);
	feed(TTH_IN_LINK_DOWN);
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_int_eq(current_sub(), S_SUSP_LINK);
	ck_assert_int_eq(script->nexts, 0);
	ck_assert_uint_eq(m.rounds, 0);
	feed(TTH_IN_LINK_UP);
	ck_assert_int_eq(current_sub(), S_TOKEN); /* one attempt at once */
	feed(TTH_IN_GRANT);
	ck_assert_ptr_nonnull(find(TTH_ACT_CONNECT, 0));
}
END_TEST

/* ------------------------------------------------------- single flight */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t xrand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * 200,000 random inputs: transport reports racing with timers, stops,
 * starts and link changes, plus stale reports about old attempts. A model
 * of the transport tracks the one attempt it holds and in which phase; a
 * model of the limiter tracks the token request and the connecting slot.
 * Invariants after every step: a CONNECT never starts while the transport
 * holds another attempt; ids only grow; the transport holds an attempt
 * exactly when the machine is CONNECTING, ONLINE or CLOSING, and it is the
 * machine's current one; at most one token request is outstanding; the
 * connecting slot is held exactly while CONNECTING.
 */
enum phase { P_NONE, P_CONNECTING, P_UP, P_CLOSING };

START_TEST(test_machine_single_flight_under_racing_events)
{
	static const struct tether_reason reasons[] = {
		{.kind = TETHER_KIND_SOCKET, .code = ECONNREFUSED},
		{.kind = TETHER_KIND_SOCKET, .code = 0, .by_peer = 1},
		{.kind = TETHER_KIND_LOCAL,
		 .code = TETHER_LOCAL_HEARTBEAT_TIMEOUT},
		{.kind = TETHER_KIND_MQTT5, .code = 0x89},
		{.kind = TETHER_KIND_MQTT5, .code = 0x9C,
		 .server_ref = "tcp://127.0.0.1:2"},
		{.kind = TETHER_KIND_WS_CLOSE, .code = 1008},
	};
	uint32_t alive = 0, max_id = 0;
	enum phase phase = P_NONE;
	int waiting = 0, held = 0;
	long connects = 0, ups = 0;

	teardown();
	make(2);
	for (int step = 0; step < 200000; step++) {
		uint64_t r = xrand();
		acts.n = 0; /* a step that feeds nothing has no actions */
		const struct tether_reason *why =
			&reasons[(r >> 24) % TTH_ARRAY_LEN(reasons)];
		now += r % 50;
		switch (r % 12) {
		case 0:
			feed(TTH_IN_START);
			break;
		case 1:
			feed(r % 3 == 0 ? TTH_IN_STOP : TTH_IN_START);
			break;
		case 2:
		case 3:
			if (waiting) {
				waiting = 0;
				feed(TTH_IN_GRANT);
			}
			break;
		case 4:
		case 5: /* the transport reports on the attempt it holds */
			if (phase == P_CONNECTING) {
				if ((r >> 8) % 2) {
					feed_r(TTH_IN_UP, alive, NULL);
					phase = P_UP;
					ups++;
				} else {
					feed_r(TTH_IN_FAIL, alive, why);
					alive = 0;
					phase = P_NONE;
				}
			} else if (phase == P_UP) {
				feed_r(TTH_IN_DOWN, alive, why);
				alive = 0;
				phase = P_NONE;
			} else if (phase == P_CLOSING) {
				feed_r((r >> 8) % 2 ? TTH_IN_CLOSED
						    : TTH_IN_DOWN,
				       alive, why);
				alive = 0;
				phase = P_NONE;
			}
			break;
		case 6: { /* a stale report about an older attempt */
			uint32_t id = max_id ? (uint32_t)((r >> 8) % max_id) : 0;
			if (id == 0 || id == alive)
				break;
			feed_r((enum tth_input_type)(TTH_IN_UP + (r >> 16) % 4),
			       id, why);
			break;
		}
		case 7:
			feed(r % 5 == 0 ? TTH_IN_LINK_DOWN : TTH_IN_LINK_UP);
			break;
		default:
			/* any timer, armed or not: the machine must cope */
			fire((enum tth_timer_kind)((r >> 8) % TTH_T__COUNT));
			break;
		}
		for (size_t i = 0; i < acts.n; i++) {
			const struct tth_action *a = &acts.v[i];
			switch (a->type) {
			case TTH_ACT_CONNECT:
				ck_assert_msg(alive == 0,
					      "step %d: attempt %u started while "
					      "%u is alive",
					      step, a->attempt_id, alive);
				ck_assert_uint_gt(a->attempt_id, max_id);
				max_id = alive = a->attempt_id;
				phase = P_CONNECTING;
				held++;
				connects++;
				break;
			case TTH_ACT_ABORT:
				if (a->attempt_id == alive) {
					alive = 0;
					phase = P_NONE;
				}
				break;
			case TTH_ACT_CLOSE:
				ck_assert_uint_eq(a->attempt_id, alive);
				phase = P_CLOSING;
				break;
			case TTH_ACT_ACQUIRE:
				ck_assert_msg(!waiting, "step %d: two requests",
					      step);
				waiting = 1;
				break;
			case TTH_ACT_CANCEL_ACQUIRE:
				ck_assert(waiting);
				waiting = 0;
				break;
			case TTH_ACT_RELEASE:
				/* a spurious GRANT is handed straight back */
				if (held > 0)
					held--;
				break;
			default:
				break;
			}
		}
		int holds = m.state == TETHER_STATE_CONNECTING ||
			    m.state == TETHER_STATE_ONLINE ||
			    m.state == TETHER_STATE_CLOSING;
		ck_assert_msg(holds == (alive != 0),
			      "step %d: state %s, transport holds %u", step,
			      tether_state_name(m.state), alive);
		if (holds)
			ck_assert_uint_eq(alive, m.attempt_id);
		ck_assert_int_eq(held, m.state == TETHER_STATE_CONNECTING);
		ck_assert_int_eq(waiting, m.state == TETHER_STATE_SUSPENDED &&
						  m.cause == TTH_SUSP_TOKEN);
	}
	ck_assert_int_gt(connects, 1000);
	ck_assert_int_gt(ups, 100);
}
END_TEST

/* ------------------------------------------------- coordinated recovery */

static void fail_with_waiting(uint32_t waiting, const struct tether_reason *r)
{
	struct tth_input in = {.type = TTH_IN_FAIL, .now_ms = now,
			       .attempt_id = m.attempt_id, .reason = r,
			       .waiting = waiting};
	acts.n = 0;
	tth_machine_step(&m, &in, &acts);
}

START_TEST(test_machine_probe_delay_is_shared_by_the_waiters)
{
	struct tether_reason busy = {.kind = TETHER_KIND_MQTT5, .code = 0x89,
				     .by_peer = 1};
	const struct tth_action *a;

	/* nobody waiting: the policy's delay as it is */
	script->delay_ms = 60000;
	reach(S_CONNECTING);
	fail_with_waiting(0, &refused);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 60000);
	/* 1,999 waiting: within [1/2, 1] of the probe interval */
	for (int k = 0; k < 50; k++) {
		fire(TTH_T_WAKE);
		feed(TTH_IN_GRANT);
		fail_with_waiting(1999, &refused);
		a = find(TTH_ACT_ARM, TTH_T_WAKE);
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_ge(a->at_ms, now + cfg.probe_interval_ms / 2);
		ck_assert_uint_le(a->at_ms, now + cfg.probe_interval_ms);
	}
	/* one waiting: half the policy's delay, the two's combined rate */
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	script->delay_ms = 10000;
	fail_with_waiting(1, &refused);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 5000);
	/* a shorter policy delay is never lengthened */
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	script->delay_ms = 200;
	fail_with_waiting(1999, &refused);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms, now + 200);
	/* overload slows the shared probe to the overload floor */
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	script->delay_ms = 60000;
	fail_with_waiting(1999, &busy);
	ck_assert_uint_eq(find(TTH_ACT_ARM, TTH_T_WAKE)->at_ms,
			  now + cfg.overload_floor_ms);
}
END_TEST

START_TEST(test_machine_waiting_for_a_probe_spends_nothing)
{
	const struct tth_action *a;

	reach(S_BACKOFF);
	uint32_t rounds = m.rounds, id = m.attempt_id;
	int nexts = script->nexts;
	fire(TTH_T_WAKE);
	feed(TTH_IN_HOLD);
	ck_assert_int_eq(current_sub(), S_SUSP_PROBE);
	a = find(TTH_ACT_EMIT, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->event, TETHER_EV_SUSPEND);
	ck_assert_str_eq(a->detail, "endpoint probing");
	ck_assert_uint_eq(find(TTH_ACT_WAIT, 0)->endpoint, m.endpoint);
	/* a long wait: no timer of its own, nothing counted */
	now += 3600000;
	feed(TTH_IN_RESUME);
	ck_assert_int_eq(current_sub(), S_TOKEN);
	feed(TTH_IN_GRANT);
	ck_assert_int_eq(m.state, TETHER_STATE_CONNECTING);
	ck_assert_uint_eq(m.attempt_id, id + 1);
	ck_assert_uint_eq(m.rounds, rounds);
	ck_assert_int_eq(script->nexts, nexts);
	/* resumed while the link is down: waits for the link instead */
	feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
	fire(TTH_T_WAKE);
	feed(TTH_IN_HOLD);
	feed(TTH_IN_LINK_DOWN);
	ck_assert_int_eq(current_sub(), S_SUSP_LINK);
	ck_assert_ptr_nonnull(find(TTH_ACT_CANCEL_WAIT, 0));
	feed(TTH_IN_RESUME);
	ck_assert_int_eq(current_sub(), S_SUSP_LINK);
	ck_assert_uint_eq(acts.n, 0);
}
END_TEST

/* ----------------------------------------------------------- flaps */

/* The retry delay of the step just fed, or -1 when it scheduled none. */
static long long retry_delay(void)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == TTH_ACT_EMIT &&
		    acts.v[i].event == TETHER_EV_RETRY)
			return (long long)acts.v[i].delay_ms;
	return -1;
}

static const char *warning_text(void)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == TTH_ACT_EMIT &&
		    acts.v[i].event == TETHER_EV_WARNING)
			return acts.v[i].detail;
	return NULL;
}

/* From BACKOFF: the retry comes, is granted and comes up at once. */
static void back_up_at_once(uint64_t after_ms)
{
	now += after_ms;
	fire(TTH_T_WAKE);
	feed(TTH_IN_GRANT);
	feed(TTH_IN_UP);
	ck_assert_int_eq(m.state, TETHER_STATE_ONLINE);
}

/*
 * A peer that takes the link back soon after it came up, while taking
 * every reconnect at once (a session taken over by another client with
 * the same id): from the third flap in a row a WARNING names the cause
 * and retries wait at least overload_floor, doubling, at most 1 min.
 */
START_TEST(test_machine_flaps_are_damped)
{
	reach(S_ONLINE);
	for (int i = 1; i <= 2; i++) {
		now += 2000;
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
		ck_assert_ptr_null(warning_text());
		ck_assert_int_eq(retry_delay(), 1000); /* the policy's */
		back_up_at_once(1000);
	}
	now += 2000;
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_ptr_nonnull(warning_text());
	ck_assert_ptr_nonnull(strstr(warning_text(), "3 times in a row"));
	ck_assert_ptr_nonnull(strstr(warning_text(), "same client id"));
	ck_assert_int_eq(retry_delay(), 5000); /* overload_floor */
	back_up_at_once(5000);
	now += 2000;
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_int_eq(retry_delay(), 10000);
	for (int i = 0; i < 5; i++) {
		back_up_at_once((uint64_t)retry_delay());
		now += 1000;
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	}
	ck_assert_int_eq(retry_delay(), 60000); /* the cap */
	ck_assert_uint_eq(m.flaps_total, 9);
	/* a link that outlives the window ends the run */
	back_up_at_once(60000);
	now += cfg.flap_window_ms;
	feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
	ck_assert_int_eq(retry_delay(), 1000);
	ck_assert_ptr_null(warning_text());
}
END_TEST

/* A server that was away (an attempt failed in between), or a loss that
 * is not the peer's close (a timeout), is no flap: outages of a
 * restarting broker or a dead path keep the policy's delays. */
START_TEST(test_machine_outages_are_not_flaps)
{
	static const struct tether_reason hb = {.kind = TETHER_KIND_LOCAL,
						.code = TETHER_LOCAL_HEARTBEAT_TIMEOUT};

	reach(S_ONLINE);
	for (int i = 0; i < 6; i++) {
		now += 2000;
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
		ck_assert_ptr_null(warning_text());
		ck_assert_int_eq(retry_delay(), 1000);
		/* the first retry is refused: the broker restarts */
		now += 1000;
		fire(TTH_T_WAKE);
		feed(TTH_IN_GRANT);
		feed_r(TTH_IN_FAIL, m.attempt_id, &refused);
		back_up_at_once(1000);
	}
	for (int i = 0; i < 6; i++) {
		now += 2000;
		feed_r(TTH_IN_DOWN, m.attempt_id, i % 2 ? &hb : &eof);
		ck_assert_ptr_null(warning_text());
		ck_assert_int_eq(retry_delay(), 1000);
		back_up_at_once(1000);
	}
	/* each was a flap (the metric counts them), none in a run */
	ck_assert_uint_eq(m.flaps_total, 9);
	/* and flap_window 0 turns the damping off */
	cfg.flap_window_ms = 0;
	for (int i = 0; i < 5; i++) {
		now += 1000;
		feed_r(TTH_IN_DOWN, m.attempt_id, &eof);
		ck_assert_ptr_null(warning_text());
		back_up_at_once(1000);
	}
	ck_assert_uint_eq(m.flaps_total, 9);
}
END_TEST

static Suite *machine_suite(void)
{
	Suite *s = suite_create("machine");
	TCase *tc;

	tc = tcase_create("transitions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_machine_table_is_complete);
	tcase_add_loop_test(tc, test_machine_every_state_input_pair, 0,
			    (int)TTH_ARRAY_LEN(table));
	suite_add_tcase(s, tc);

	tc = tcase_create("reasons");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_machine_fatal_is_never_retried);
	tcase_add_test(tc, test_machine_fatal_mqtt5_and_http);
	tcase_add_test(tc, test_machine_redirect_switches_endpoint);
	tcase_add_test(tc, test_machine_redirect_without_target_or_looping);
	tcase_add_test(tc, test_machine_overload_waits_at_least_its_floor);
	tcase_add_test(tc, test_machine_retry_after_hint_is_a_bounded_floor);
	tcase_add_test(tc, test_machine_timeout_aborts_half_open_link);
	tcase_add_test(tc, test_machine_connect_timeout);
	tcase_add_test(tc, test_machine_server_goodbye_is_transient_unless_overridden);
	tcase_add_test(tc, test_machine_give_up_closes);
	suite_add_tcase(s, tc);

	tc = tcase_create("endpoints");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_machine_endpoints_rotate_then_back_off);
	tcase_add_test(tc, test_machine_failback_to_first_endpoint);
	tcase_add_test(tc, test_machine_stable_link_resets_the_streak);
	tcase_add_test(tc, test_machine_flaps_are_damped);
	tcase_add_test(tc, test_machine_outages_are_not_flaps);
	tcase_add_test(tc, test_machine_stop_then_start_while_closing_reconnects);
	tcase_add_test(tc, test_machine_link_down_spends_no_attempts);
	suite_add_tcase(s, tc);

	tc = tcase_create("coordinated");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_machine_probe_delay_is_shared_by_the_waiters);
	tcase_add_test(tc, test_machine_waiting_for_a_probe_spends_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("single_flight");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_machine_single_flight_under_racing_events);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

TTH_CHECK_MAIN(machine_suite)

/*
 * The storm simulator (include/tether/sim.h): the real engine, machines,
 * policies and limiter on virtual time, against a modelled server.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/sim.h>

#include "engine-int.h"
#include "util-int.h"

enum pending { PEND_NONE = 0, PEND_CONNECT, PEND_CLOSE };

struct sim_client {
	struct tth_econn c;
	struct tth_etimer io; /* resolution of the attempt or close */
	struct tether_sim *sim;
	tether_policy *pol;
	uint64_t reconnect_ms;
	uint32_t pending_id;
	uint32_t index;
	uint8_t pending;
	uint8_t online;
};

struct sim_attempt {
	uint64_t at_ms;
	uint32_t client;
};

struct tether_sim {
	struct tether_sim_config cfg;
	struct tth_machine_cfg mcfg;
	struct tth_engine eng;
	struct tth_etimer recover;
	struct sim_client *cl;
	uint64_t now;
	uint64_t outage_at, recovered_at;
	int server_up, recording, oom;
	struct sim_attempt *att;
	size_t natt, capatt;
	uint32_t online, settled, gave_up;
	uint32_t in_flight, max_in_flight_outage;
	uint32_t ninit; /* clients whose econn is initialised */
	char policy_desc[256];
};

void tether_sim_config_init(struct tether_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->clients = 1000;
	cfg->outage_ms = 30000;
	cfg->rtt_ms = 1;
	cfg->horizon_ms = 600000;
	cfg->seed = 1;
	cfg->fault = TETHER_SIM_REFUSE;
	cfg->burst = 1;
	cfg->connect_timeout_ms = 10000;
	cfg->stable_after_ms = 5000;
	cfg->coordinated = 0;
	cfg->probe_interval_ms = 1000;
}

static uint64_t sim_clock(void *ud)
{
	return ((struct tether_sim *)ud)->now;
}

static void record_attempt(struct tether_sim *s, uint32_t client)
{
	if (!s->recording)
		return;
	if (s->natt == s->capatt) {
		size_t ncap = s->capatt ? s->capatt * 2 : 4096;
		struct sim_attempt *na = realloc(s->att, ncap * sizeof(*na));
		if (!na) {
			s->oom = 1;
			return;
		}
		s->att = na;
		s->capatt = ncap;
	}
	s->att[s->natt++] = (struct sim_attempt){s->now, client};
}

static void io_connect(void *ud, struct tth_econn *c, uint32_t endpoint,
		       uint32_t id)
{
	struct tether_sim *s = ud;
	struct sim_client *sc = TTH_CONTAINER_OF(c, struct sim_client, c);

	(void)endpoint;
	record_attempt(s, sc->index);
	if (++s->in_flight > s->max_in_flight_outage && s->recording &&
	    !s->server_up)
		s->max_in_flight_outage = s->in_flight;
	sc->pending = PEND_CONNECT;
	sc->pending_id = id;
	if (!s->server_up && s->cfg.fault == TETHER_SIM_BLACKHOLE)
		return; /* never answered: the connect timeout ends it */
	tth_engine_arm(&s->eng, &sc->io, s->now + s->cfg.rtt_ms);
}

static void io_abort(void *ud, struct tth_econn *c, uint32_t id)
{
	struct tether_sim *s = ud;
	struct sim_client *sc = TTH_CONTAINER_OF(c, struct sim_client, c);

	(void)id;
	tth_engine_cancel(&s->eng, &sc->io);
	if (sc->pending == PEND_CONNECT)
		s->in_flight--;
	sc->pending = PEND_NONE;
}

static void io_close(void *ud, struct tth_econn *c, uint32_t id)
{
	struct tether_sim *s = ud;
	struct sim_client *sc = TTH_CONTAINER_OF(c, struct sim_client, c);

	sc->pending = PEND_CLOSE;
	sc->pending_id = id;
	tth_engine_arm(&s->eng, &sc->io, s->now + s->cfg.rtt_ms);
}

static void io_event(void *ud, struct tth_econn *c,
		     const struct tether_event *ev)
{
	struct tether_sim *s = ud;
	struct sim_client *sc = TTH_CONTAINER_OF(c, struct sim_client, c);

	switch (ev->type) {
	case TETHER_EV_UP:
		sc->online = 1;
		s->online++;
		if (s->recording && s->server_up &&
		    sc->reconnect_ms == UINT64_MAX) {
			sc->reconnect_ms = s->now - s->recovered_at;
			s->settled++;
		}
		break;
	case TETHER_EV_DOWN:
		if (sc->online) {
			sc->online = 0;
			s->online--;
		}
		break;
	case TETHER_EV_GIVE_UP:
		s->gave_up++;
		break;
	case TETHER_EV_CLOSED:
		if (s->recording && sc->reconnect_ms == UINT64_MAX)
			s->settled++;
		break;
	default:
		break;
	}
}

static const struct tth_engine_io sim_io = {
	.connect = io_connect,
	.abort = io_abort,
	.close = io_close,
	.event = io_event,
};

static void io_fire(struct tth_engine *e, struct tth_etimer *et)
{
	struct sim_client *sc = TTH_CONTAINER_OF(et, struct sim_client, io);
	struct tether_sim *s = sc->sim;
	uint8_t what = sc->pending;

	sc->pending = PEND_NONE;
	if (what == PEND_CLOSE) {
		tth_engine_closed(e, &sc->c, sc->pending_id);
	} else if (what == PEND_CONNECT) {
		s->in_flight--;
		if (s->server_up) {
			tth_engine_up(e, &sc->c, sc->pending_id);
		} else {
			struct tether_reason r = {
				.kind = TETHER_KIND_SOCKET,
				.code = ECONNREFUSED,
				.by_peer = 1,
				.transport = "sim",
			};
			tth_engine_fail(e, &sc->c, sc->pending_id, &r);
		}
	}
}

static void recover_fire(struct tth_engine *e, struct tth_etimer *et)
{
	struct tether_sim *s = TTH_CONTAINER_OF(et, struct tether_sim, recover);
	(void)e;
	s->server_up = 1;
}

/* Advance virtual time, firing timers, until `until` or nothing is left
 * or done() says so. */
static void run_until(struct tether_sim *s, uint64_t until,
		      int (*done)(const struct tether_sim *))
{
	for (;;) {
		if (done && done(s))
			return;
		uint64_t next = tth_engine_next_due(&s->eng);
		if (next == TTH_NEVER || next > until)
			break;
		if (next > s->now)
			s->now = next;
		tth_engine_run_due(&s->eng);
	}
	if (until != TTH_NEVER && until > s->now)
		s->now = until;
}

static int all_online(const struct tether_sim *s)
{
	return s->online == s->cfg.clients;
}

static int all_settled(const struct tether_sim *s)
{
	return s->server_up && s->settled == s->cfg.clients;
}

static int set_err(char *err, size_t errlen, int rc, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return rc;
}

int tether_sim_run(const struct tether_sim_config *cfg, tether_sim **out,
		   char *err, size_t errlen)
{
	struct tether_sim *s;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !out || cfg->size < sizeof(*cfg))
		return set_err(err, errlen, TETHER_EINVAL,
			       "bad arguments or config size");
	*out = NULL;
	if (cfg->clients == 0 || !cfg->policy)
		return set_err(err, errlen, TETHER_EINVAL,
			       "need at least one client and a policy");
	if (cfg->connects_per_second < 0)
		return set_err(err, errlen, TETHER_EINVAL,
			       "connects_per_second must be >= 0");
	if (cfg->fault == TETHER_SIM_BLACKHOLE && cfg->connect_timeout_ms == 0)
		return set_err(err, errlen, TETHER_EINVAL,
			       "a blackhole outage needs a connect timeout");
	s = calloc(1, sizeof(*s));
	if (!s)
		return set_err(err, errlen, TETHER_ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->cfg.policy = NULL; /* borrowed only during this call */
	s->cl = calloc(cfg->clients, sizeof(*s->cl));
	if (!s->cl) {
		free(s);
		return set_err(err, errlen, TETHER_ENOMEM, "out of memory");
	}
	tth_machine_cfg_defaults(&s->mcfg);
	s->mcfg.connect_timeout_ms = cfg->connect_timeout_ms;
	s->mcfg.stable_after_ms = cfg->stable_after_ms;
	s->mcfg.probe_interval_ms = cfg->probe_interval_ms;
	s->server_up = 1;
	tth_engine_init(&s->eng, sim_clock, s, &sim_io, s);
	tth_engine_set_limits(&s->eng, cfg->connects_per_second,
			      cfg->burst ? cfg->burst : 1,
			      cfg->max_connecting);
	tth_etimer_init(&s->recover, recover_fire);
	rc = tth_engine_reserve(&s->eng, (size_t)cfg->clients *
						 (TTH_T__COUNT + 1) + 2);
	for (uint32_t i = 0; rc == 0 && i < cfg->clients; i++) {
		struct sim_client *sc = &s->cl[i];
		rc = tether_policy_new(cfg->policy, &sc->pol, err, errlen);
		if (rc != 0)
			break;
		sc->sim = s;
		sc->index = i;
		sc->reconnect_ms = UINT64_MAX;
		tth_etimer_init(&sc->io, io_fire);
		/* each client its own stream, all derived from the seed */
		tth_econn_init(&s->eng, &sc->c, &s->mcfg, sc->pol, NULL, 1,
			       cfg->seed * 0x9E3779B97F4A7C15ull + i, sc);
		s->ninit++;
		if (cfg->coordinated) {
			/* one server: every client shares its endpoint */
			static const char *const key[] = {"sim server"};
			rc = tth_econn_set_keys(&sc->c, key, 1);
		}
	}
	if (rc != 0) {
		tether_sim_free(s);
		return rc == TETHER_ENOMEM
			       ? set_err(err, errlen, rc, "out of memory")
			       : rc;
	}
	tether_policy_describe(s->cl[0].pol, s->policy_desc,
			       sizeof(s->policy_desc));

	/* Warm-up: everyone connects, then stays up long enough for the
	   connection to count as stable. */
	for (uint32_t i = 0; i < cfg->clients; i++)
		tth_engine_start(&s->eng, &s->cl[i].c);
	run_until(s, cfg->horizon_ms, all_online);
	s->outage_at = s->now + cfg->stable_after_ms + 1000;
	run_until(s, s->outage_at, NULL);

	/* The server goes away: every link drops at once. */
	s->recording = 1;
	s->server_up = 0;
	s->recovered_at = s->outage_at + cfg->outage_ms;
	tth_engine_arm(&s->eng, &s->recover, s->recovered_at);
	for (uint32_t i = 0; i < cfg->clients; i++) {
		struct sim_client *sc = &s->cl[i];
		struct tether_reason eof = {.kind = TETHER_KIND_SOCKET,
					    .by_peer = 1,
					    .transport = "sim",
					    .text = "server went away"};
		if (sc->online)
			tth_engine_down(&s->eng, &sc->c, sc->c.m.attempt_id,
					&eof);
		else if (sc->c.m.state == TETHER_STATE_CLOSED)
			s->settled++;
	}
	run_until(s, s->recovered_at + cfg->horizon_ms, all_settled);
	if (s->oom || s->eng.timers_lost || s->eng.events_lost ||
	    s->eng.coord_lost) {
		tether_sim_free(s);
		return set_err(err, errlen, TETHER_ENOMEM, "out of memory");
	}
	*out = s;
	return 0;
}

void tether_sim_free(tether_sim *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->cfg.clients; i++) {
		if (i < s->ninit)
			tth_econn_detach(&s->eng, &s->cl[i].c);
		tether_policy_free(s->cl[i].pol);
	}
	tth_engine_cleanup(&s->eng);
	free(s->cl);
	free(s->att);
	free(s);
}

size_t tether_sim_attempt_count(const tether_sim *s)
{
	return s ? s->natt : 0;
}

int tether_sim_attempt(const tether_sim *s, size_t i, uint64_t *at_ms,
		       uint32_t *client)
{
	if (!s || i >= s->natt)
		return TETHER_ERANGE;
	if (at_ms)
		*at_ms = s->att[i].at_ms;
	if (client)
		*client = s->att[i].client;
	return 0;
}

uint64_t tether_sim_reconnect_ms(const tether_sim *s, uint32_t client)
{
	if (!s || client >= s->cfg.clients)
		return UINT64_MAX;
	return s->cl[client].reconnect_ms;
}

int tether_sim_histogram(const tether_sim *s, uint64_t from_ms,
			 uint64_t bin_ms, uint64_t *bins, size_t n)
{
	if (!s || bin_ms == 0 || (!bins && n))
		return TETHER_EINVAL;
	memset(bins, 0, n * sizeof(*bins));
	for (size_t i = 0; i < s->natt; i++) {
		uint64_t t = s->att[i].at_ms;
		if (t < from_ms)
			continue;
		uint64_t b = (t - from_ms) / bin_ms;
		if (b < n)
			bins[b]++;
	}
	return 0;
}

/* Most attempts in any window [t, t + w): two pointers over sorted times. */
static uint64_t peak_window(const struct tether_sim *s, uint64_t w)
{
	uint64_t best = 0;
	size_t lo = 0;

	for (size_t hi = 0; hi < s->natt; hi++) {
		while (s->att[hi].at_ms - s->att[lo].at_ms >= w)
			lo++;
		if (hi - lo + 1 > best)
			best = hi - lo + 1;
	}
	return best;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void tether_sim_summarize(const tether_sim *s, struct tether_sim_summary *o)
{
	uint64_t *r;
	uint32_t n;

	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	if (!s)
		return;
	n = s->cfg.clients;
	o->clients = n;
	o->outage_at_ms = s->outage_at;
	o->recovered_at_ms = s->recovered_at;
	o->attempts = s->natt;
	for (size_t i = 0; i < s->natt; i++)
		if (s->att[i].at_ms < s->recovered_at)
			o->attempts_during_outage++;
	o->peak_1s = peak_window(s, 1000);
	o->peak_100ms = peak_window(s, 100);
	o->gave_up = s->gave_up;
	o->max_in_flight_outage = s->max_in_flight_outage;
	if (s->cfg.coordinated) {
		const struct tth_group *g =
			tth_engine_group(&s->eng, "sim server");
		o->held = g ? g->holds : 0;
	}
	snprintf(o->policy, sizeof(o->policy), "%s", s->policy_desc);
	o->reconnect_p50_ms = o->reconnect_p90_ms = o->reconnect_p100_ms =
		UINT64_MAX;
	r = malloc(n * sizeof(*r));
	if (!r)
		return;
	for (uint32_t i = 0; i < n; i++) {
		r[i] = s->cl[i].reconnect_ms;
		if (r[i] != UINT64_MAX)
			o->reconnected++;
	}
	qsort(r, n, sizeof(*r), cmp_u64);
	/* the k-th percentile: the time by which ceil(k% of n) were back */
	o->reconnect_p50_ms = r[(n + 1) / 2 - 1];
	o->reconnect_p90_ms = r[(n * 9 + 9) / 10 - 1];
	o->reconnect_p100_ms = r[n - 1];
	free(r);
}

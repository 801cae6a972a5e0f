/* tether fleets: one manager, N connections, the default policy and the
 * default limiter (whatever tether_mgr_new gives), MQTT or WebSocket;
 * coordinated recovery as it comes (on), or off for tether-solo. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tether/tether.h>

#include "fleet.h"

struct tstate {
	tether_mgr *m;
};

static void on_event(tether_conn *c, const struct tether_event *ev, void *ud)
{
	(void)ud;
	int i = (int)(intptr_t)tether_conn_get_userdata(c);

	if (ev->type == TETHER_EV_UP)
		fleet_up(i);
	else if (ev->type == TETHER_EV_DOWN)
		fleet_down(i);
}

/* The benchmark's settings, where it asks for other than the defaults. */
static int tune(tether_conn *c, const char *transport)
{
	const struct fleet_tuning *t = &fleet_tuning;
	char v[32];

	if (transport[0] == 'm' && t->keepalive_s) {
		snprintf(v, sizeof(v), "%ds", t->keepalive_s);
		if (tether_conn_set_option(c, "keepalive", v) != 0)
			return -1;
	}
	if (transport[0] == 'w' && t->hb_interval_ms &&
	    tether_conn_set_heartbeat(c, t->hb_interval_ms, t->hb_timeout_ms,
				      t->hb_misses) != 0)
		return -1;
	return 0;
}

static int start(const char *transport, int coordinated, int n,
		 uint16_t port, void **out)
{
	struct tstate *s = calloc(1, sizeof(*s));
	char uri[64], name[32];

	*out = s;
	if (!s || tether_mgr_new(&s->m) != 0 ||
	    tether_mgr_set_event_cb(s->m, on_event, NULL) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		tether_conn *c;
		if (transport[0] == 'w' && fleet_tuning.port2 && i % 2)
			snprintf(uri, sizeof(uri), "ws://127.0.0.1:%d/",
				 fleet_tuning.port2);
		else
			snprintf(uri, sizeof(uri), "%s://127.0.0.1:%u%s",
				 transport[0] == 'm' ? "tcp" : "ws",
				 (unsigned)port, transport[0] == 'm' ? "" : "/");
		snprintf(name, sizeof(name), "b%d", i);
		if (tether_conn_new(s->m, name, transport, &c) != 0 ||
		    tether_conn_add_endpoint(c, uri) != 0) {
			fprintf(stderr, "tether: connection %d: %s\n", i,
				c ? tether_conn_error(c) : "");
			return -1;
		}
		tether_conn_set_userdata(c, (void *)(intptr_t)i);
		if ((!coordinated && tether_conn_set_coordinated(c, 0) != 0) ||
		    tune(c, transport) != 0) {
			fprintf(stderr, "tether: options: %s\n",
				tether_conn_error(c));
			return -1;
		}
		if (tether_conn_start(c) != 0) {
			fprintf(stderr, "tether: start %d: %s\n", i,
				tether_conn_error(c));
			return -1;
		}
	}
	return tether_mgr_start(s->m) == 0 ? 0 : -1;
}

static int start_mqtt(int n, uint16_t port, void **out)
{
	return start("mqtt", 1, n, port, out);
}

static int start_mqtt_solo(int n, uint16_t port, void **out)
{
	return start("mqtt", 0, n, port, out);
}

static int start_ws(int n, uint16_t port, void **out)
{
	return start("ws", 1, n, port, out);
}

static void stop(void *state)
{
	struct tstate *s = state;

	if (!s)
		return;
	tether_mgr_free(s->m);
	free(s);
}

const struct fleet_kind fleet_tether_mqtt = {
    .name = "tether",
    .transport = "mqtt",
    .what = "tether, default policy and limiter",
    .start = start_mqtt,
    .stop = stop,
};

const struct fleet_kind fleet_tether_solo = {
    .name = "tether-solo",
    .transport = "mqtt",
    .what = "tether, default policy and limiter, coordinated recovery off",
    .start = start_mqtt_solo,
    .stop = stop,
};

const struct fleet_kind fleet_tether_ws = {
    .name = "tether-ws",
    .transport = "ws",
    .what = "tether, default policy and limiter",
    .start = start_ws,
    .stop = stop,
};

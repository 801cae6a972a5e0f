/* The MQTT peers, reconnecting on their own as their users configure
 * them: Eclipse Paho MQTTAsync with automaticReconnect 1..60 s, and
 * libmosquitto with reconnect_delay_set(1, 60, exponential) driven by
 * mosquitto_loop_start (its reconnect logic lives in that loop). MQTT
 * 3.1.1, clean session, keepalive 60 s. */
#include "config.h"

#include <MQTTAsync.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fleet.h"

/* ---- Paho ------------------------------------------------------------ */

struct paho_state {
	int n;
	MQTTAsync *h;
};

static void paho_connected(void *ctx, char *cause)
{
	(void)cause;
	fleet_up((int)(intptr_t)ctx);
}

static void paho_lost(void *ctx, char *cause)
{
	(void)ctx;
	(void)cause;
}

static int paho_arrived(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
	(void)ctx;
	(void)len;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void paho_ok(void *ctx, MQTTAsync_successData *d)
{
	(void)d;
	fleet_up((int)(intptr_t)ctx);
}

static void paho_fail(void *ctx, MQTTAsync_failureData *d)
{
	(void)ctx;
	(void)d;
}

static int paho_start(int n, uint16_t port, void **out)
{
	struct paho_state *s = calloc(1, sizeof(*s));
	char uri[64], id[32];

	*out = s;
	if (!s || !(s->h = calloc((size_t)n, sizeof(*s->h))))
		return -1;
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", (unsigned)port);
	for (int i = 0; i < n; i++) {
		MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
		MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
		void *ctx = (void *)(intptr_t)i;

		co.MQTTVersion = MQTTVERSION_3_1_1;
		snprintf(id, sizeof(id), "paho-%d", i);
		if (MQTTAsync_createWithOptions(&s->h[i], uri, id,
						MQTTCLIENT_PERSISTENCE_NONE,
						NULL, &co) != MQTTASYNC_SUCCESS)
			return -1;
		s->n = i + 1;
		MQTTAsync_setCallbacks(s->h[i], ctx, paho_lost, paho_arrived,
				       NULL);
		MQTTAsync_setConnected(s->h[i], ctx, paho_connected);
		o.keepAliveInterval = 60;
		o.cleansession = 1;
		o.MQTTVersion = MQTTVERSION_3_1_1;
		o.automaticReconnect = 1;
		o.minRetryInterval = 1;
		o.maxRetryInterval = 60;
		o.connectTimeout = 10;
		o.onSuccess = paho_ok;
		o.onFailure = paho_fail;
		o.context = ctx;
		if (MQTTAsync_connect(s->h[i], &o) != MQTTASYNC_SUCCESS)
			return -1;
	}
	return 0;
}

static void paho_stop(void *state)
{
	struct paho_state *s = state;

	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		MQTTAsync_disconnectOptions d =
		    MQTTAsync_disconnectOptions_initializer;
		d.timeout = 0;
		MQTTAsync_disconnect(s->h[i], &d);
	}
	for (int i = 0; i < s->n; i++)
		MQTTAsync_destroy(&s->h[i]);
	free(s->h);
	free(s);
}

const struct fleet_kind fleet_paho = {
    .name = "paho",
    .transport = "mqtt",
    .what = "Paho MQTTAsync 1.3.12, automaticReconnect 1..60 s",
    .start = paho_start,
    .stop = paho_stop,
};

/* ---- libmosquitto ---------------------------------------------------- */

struct mosq_state {
	int n, started;
	struct mosquitto **m;
};

static void mosq_on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)m;
	if (rc == 0)
		fleet_up((int)(intptr_t)ud - 1);
}

static int mosq_start(int n, uint16_t port, void **out)
{
	struct mosq_state *s = calloc(1, sizeof(*s));
	pthread_attr_t a;
	char id[32];

	*out = s;
	if (!s || !(s->m = calloc((size_t)n, sizeof(*s->m))))
		return -1;
	/* One thread per client (mosquitto_loop_start): small stacks so
	 * thousands of them fit. */
	if (pthread_attr_init(&a) == 0) {
		pthread_attr_setstacksize(&a, 256 * 1024);
		pthread_setattr_default_np(&a);
		pthread_attr_destroy(&a);
	}
	mosquitto_lib_init();
	s->started = 1;
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "mosq-%d", i);
		/* i + 1: a NULL user pointer would mean the struct itself. */
		s->m[i] = mosquitto_new(id, true, (void *)(intptr_t)(i + 1));
		if (!s->m[i])
			return -1;
		s->n = i + 1;
		mosquitto_int_option(s->m[i], MOSQ_OPT_PROTOCOL_VERSION,
				     MQTT_PROTOCOL_V311);
		mosquitto_connect_callback_set(s->m[i], mosq_on_connect);
		mosquitto_reconnect_delay_set(s->m[i], 1, 60, true);
		/* A failed first connect is retried by the loop too. */
		mosquitto_connect_async(s->m[i], "127.0.0.1", port, 60);
		if (mosquitto_loop_start(s->m[i]) != MOSQ_ERR_SUCCESS)
			return -1;
	}
	return 0;
}

static void mosq_stop(void *state)
{
	struct mosq_state *s = state;

	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		mosquitto_disconnect(s->m[i]);
	for (int i = 0; i < s->n; i++) {
		mosquitto_loop_stop(s->m[i], true);
		mosquitto_destroy(s->m[i]);
	}
	if (s->started)
		mosquitto_lib_cleanup();
	free(s->m);
	free(s);
}

const struct fleet_kind fleet_mosq = {
    .name = "mosq",
    .transport = "mqtt",
    .what = "libmosquitto 2.0.11, reconnect_delay_set(1, 60, true)",
    .start = mosq_start,
    .stop = mosq_stop,
};

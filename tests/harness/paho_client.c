/* A Paho MQTTAsync client with bounded waits (see paho_client.h). */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "paho_client.h"

static void copy_sref(MQTTProperties *props, char *out, size_t cap)
{
	MQTTProperty *pr = props
			       ? MQTTProperties_getProperty(
				     props, MQTTPROPERTY_CODE_SERVER_REFERENCE)
			       : NULL;

	if (pr && pr->value.data.len >= 0 && (size_t)pr->value.data.len < cap) {
		memcpy(out, pr->value.data.data, (size_t)pr->value.data.len);
		out[pr->value.data.len] = '\0';
	}
}

/* With c->mu held: the pending call is over. */
static void finish(struct tpc_client *c, int ok, int code)
{
	c->done = 1;
	c->ok = ok;
	c->code = code;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void on_ok3(void *ctx, MQTTAsync_successData *d)
{
	struct tpc_client *c = ctx;

	(void)d;
	pthread_mutex_lock(&c->mu);
	finish(c, 1, 0);
}

static void on_fail3(void *ctx, MQTTAsync_failureData *d)
{
	struct tpc_client *c = ctx;

	pthread_mutex_lock(&c->mu);
	finish(c, 0, d ? d->code : -1);
}

static void on_ok5(void *ctx, MQTTAsync_successData5 *d)
{
	struct tpc_client *c = ctx;

	(void)d;
	pthread_mutex_lock(&c->mu);
	finish(c, 1, 0);
}

static void on_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
	struct tpc_client *c = ctx;

	pthread_mutex_lock(&c->mu);
	c->reason = d ? (int)d->reasonCode : -1;
	if (d)
		copy_sref(&d->properties, c->sref, sizeof(c->sref));
	finish(c, 0, d ? d->code : -1);
}

static void on_suback3(void *ctx, MQTTAsync_successData *d)
{
	struct tpc_client *c = ctx;

	pthread_mutex_lock(&c->mu);
	c->granted = d ? d->alt.qos : -1;
	finish(c, 1, 0);
}

static void on_suback5(void *ctx, MQTTAsync_successData5 *d)
{
	struct tpc_client *c = ctx;

	pthread_mutex_lock(&c->mu);
	c->granted = d ? (int)d->reasonCode : -1;
	finish(c, 1, 0);
}

static void on_lost(void *ctx, char *cause)
{
	struct tpc_client *c = ctx;

	(void)cause;
	pthread_mutex_lock(&c->mu);
	c->lost = 1;
	c->lost_at_ms = th_now_ms();
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void on_disconnected(void *ctx, MQTTProperties *props,
			    enum MQTTReasonCodes reason)
{
	struct tpc_client *c = ctx;

	pthread_mutex_lock(&c->mu);
	c->disconnected = 1;
	c->disc_reason = (int)reason;
	c->lost_at_ms = th_now_ms();
	copy_sref(props, c->disc_sref, sizeof(c->disc_sref));
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
	struct tpc_client *c = ctx;
	size_t n = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;

	(void)len;
	if (n >= sizeof(c->last))
		n = sizeof(c->last) - 1;
	pthread_mutex_lock(&c->mu);
	memcpy(c->last, m->payload, n);
	c->last[n] = '\0';
	c->msgs++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

/* Before a call: forget the outcome of the last one. */
static void arm(struct tpc_client *c)
{
	pthread_mutex_lock(&c->mu);
	c->done = c->ok = c->code = c->reason = 0;
	pthread_mutex_unlock(&c->mu);
}

void tpc_uri(char *out, size_t n, const char *scheme, uint16_t port)
{
	snprintf(out, n, "%s://127.0.0.1:%u", scheme, port);
}

void tpc_init(struct tpc_client *c, const char *uri, const char *id,
	      int version)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;

	memset(c, 0, sizeof(*c));
	c->version = version;
	c->connect_timeout_s = 5;
	c->keepalive_s = 10;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	co.MQTTVersion = version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	ck_assert_int_eq(
	    MQTTAsync_createWithOptions(&c->h, uri, id,
					MQTTCLIENT_PERSISTENCE_NONE, NULL, &co),
	    MQTTASYNC_SUCCESS);
	ck_assert_int_eq(
	    MQTTAsync_setCallbacks(c->h, c, on_lost, on_message, NULL),
	    MQTTASYNC_SUCCESS);
	if (version == 5)
		ck_assert_int_eq(
		    MQTTAsync_setDisconnected(c->h, c, on_disconnected),
		    MQTTASYNC_SUCCESS);
}

int tpc_wait(struct tpc_client *c, const int *v, int want, int ms)
{
	uint64_t end = th_now_ms() + (uint64_t)ms;
	int got;

	pthread_mutex_lock(&c->mu);
	while (*v < want && th_now_ms() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	got = *v;
	pthread_mutex_unlock(&c->mu);
	return got;
}

int tpc_connect(struct tpc_client *c, const char *user, const char *pass,
		int clean)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions *opt = c->version == 5 ? &o5 : &o;

	opt->MQTTVersion = c->version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	opt->keepAliveInterval = c->keepalive_s;
	opt->connectTimeout = c->connect_timeout_s;
	opt->automaticReconnect = 0;
	opt->username = user;
	opt->password = pass;
	opt->context = c;
	if (c->version == 5) {
		opt->cleanstart = clean;
		opt->onSuccess5 = on_ok5;
		opt->onFailure5 = on_fail5;
	} else {
		opt->cleansession = clean;
		opt->onSuccess = on_ok3;
		opt->onFailure = on_fail3;
	}
	arm(c);
	ck_assert_int_eq(MQTTAsync_connect(c->h, opt), MQTTASYNC_SUCCESS);
	ck_assert_msg(
	    tpc_wait(c, &c->done, 1, (c->connect_timeout_s + 5) * 1000),
	    "connect never completed");
	return c->ok ? 0 : (c->code ? c->code : -1);
}

static void call_opts(struct tpc_client *c, MQTTAsync_responseOptions *r)
{
	r->context = c;
	if (c->version == 5) {
		r->onSuccess5 = on_ok5;
		r->onFailure5 = on_fail5;
	} else {
		r->onSuccess = on_ok3;
		r->onFailure = on_fail3;
	}
	arm(c);
}

int tpc_subscribe(struct tpc_client *c, const char *topic, int qos, int wait_ms)
{
	MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;

	call_opts(c, &r);
	if (c->version == 5)
		r.onSuccess5 = on_suback5;
	else
		r.onSuccess = on_suback3;
	ck_assert_int_eq(MQTTAsync_subscribe(c->h, topic, qos, &r),
			 MQTTASYNC_SUCCESS);
	ck_assert(tpc_wait(c, &c->done, 1, wait_ms));
	ck_assert_msg(c->ok, "subscribe failed: %d", c->code);
	return c->granted;
}

void tpc_publish(struct tpc_client *c, const char *topic, const char *text,
		 int qos, int wait_ms)
{
	MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;

	m.payload = (void *)text;
	m.payloadlen = (int)strlen(text);
	m.qos = qos;
	call_opts(c, &r);
	ck_assert_int_eq(MQTTAsync_sendMessage(c->h, topic, &m, &r),
			 MQTTASYNC_SUCCESS);
	ck_assert(tpc_wait(c, &c->done, 1, wait_ms));
	ck_assert_msg(c->ok, "publish failed: %d", c->code);
}

void tpc_publish5(struct tpc_client *c, const char *topic, const char *text,
		  const char *content_type, const char *name,
		  const char *value, int wait_ms)
{
	MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTProperty ct = {.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE};
	MQTTProperty up = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};

	ct.value.data.data = (char *)content_type;
	ct.value.data.len = (int)strlen(content_type);
	up.value.data.data = (char *)name;
	up.value.data.len = (int)strlen(name);
	up.value.value.data = (char *)value;
	up.value.value.len = (int)strlen(value);
	ck_assert_int_eq(MQTTProperties_add(&m.properties, &ct), 0);
	ck_assert_int_eq(MQTTProperties_add(&m.properties, &up), 0);
	m.payload = (void *)text;
	m.payloadlen = (int)strlen(text);
	m.qos = 1;
	call_opts(c, &r);
	ck_assert_int_eq(MQTTAsync_sendMessage(c->h, topic, &m, &r),
			 MQTTASYNC_SUCCESS);
	MQTTProperties_free(&m.properties);
	ck_assert(tpc_wait(c, &c->done, 1, wait_ms));
	ck_assert_msg(c->ok, "publish failed: %d", c->code);
}

void tpc_disconnect(struct tpc_client *c)
{
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

	d.timeout = 1000;
	d.context = c;
	if (c->version == 5) {
		d.onSuccess5 = on_ok5;
		d.onFailure5 = on_fail5;
	} else {
		d.onSuccess = on_ok3;
		d.onFailure = on_fail3;
	}
	arm(c);
	if (MQTTAsync_disconnect(c->h, &d) == MQTTASYNC_SUCCESS)
		tpc_wait(c, &c->done, 1, 3000);
}

void tpc_free(struct tpc_client *c)
{
	if (MQTTAsync_isConnected(c->h))
		tpc_disconnect(c);
	MQTTAsync_destroy(&c->h);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

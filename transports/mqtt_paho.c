/*
 * The MQTT transport, on Eclipse Paho MQTT C (MQTTAsync, libpaho-mqtt3as).
 *
 * tether owns reconnection, so every attempt gets a Paho client of its own,
 * created in connect() for just that URI and destroyed when the next
 * attempt starts, on abort, or in link_free, always on tether's loop
 * thread (never from a Paho callback: that blocks). Paho calls every callback
 * with its global mutex held and MQTTAsync_destroy() takes that mutex, so
 * once destroy has returned no callback of that client runs or will run:
 * the attempt's context is freed right after it. A client per attempt also
 * sidesteps Paho remembering "this client is WebSocket/TLS" across URIs.
 *
 * Each manager's context holds one idle "anchor" client. Without it,
 * destroying the last client of the process would tear down Paho's global
 * state and join its threads (a second or more, on the loop thread), and a
 * client created concurrently by tether_conn_start() would race that
 * teardown.
 *
 * See docs/transport-mqtt.md for the threads, the options and the reasons.
 */
#include "config.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "mqtt_options.h"

#define TRANSPORT "mqtt"

/* Paho's own connect timeout: only a backstop, tether's connect_timeout
   (10 s by default) aborts the attempt first. */
#define PAHO_CONNECT_TIMEOUT_S 60

/* Publishes Paho may hold unwritten; above tether's send window
   (TTH_OUTBOX_WINDOW) with room to spare. */
#define PAHO_MAX_BUFFERED 65535

/* Grace for in-flight QoS 1/2 flows in an orderly close; tether's
   close_timeout (2 s by default) bounds the whole close. */
#define CLOSE_GRACE_MS 1000

struct mqtt_ctx {
	MQTTAsync anchor;
};

struct mqtt_link {
	tether_conn *conn;
	struct mqtt_options opt;
	char scheme[8]; /* of the last URI with one, for bare redirects */
	struct mqtt_attempt *cur;
};

/* Where an attempt is; the first final report wins. */
enum att_phase {
	PH_CONNECTING = 0,
	PH_UP,
	PH_CLOSING,
	PH_ENDED /* failed, lost, closed or aborted: report nothing more */
};

struct mqtt_send;

/* One attempt: the context of every callback of its Paho client. */
struct mqtt_attempt {
	tether_conn *conn;
	uint32_t id;
	int version;
	int tls;
	MQTTAsync cli;
	char *uri;
	const struct mqtt_options *opt; /* the link's, which outlives it */
	_Atomic int phase;
	_Atomic int tls_err; /* a TETHER_TLS_* code seen by ssl_error_cb */
	pthread_mutex_t lock;    /* guards sends and reqs */
	struct mqtt_send *sends; /* accepted, outcome not yet reported */
	struct mqtt_req *reqs;   /* SUBSCRIBEs and UNSUBSCRIBEs in flight */
};

/* A SUBSCRIBE or UNSUBSCRIBE: the context of its Paho callbacks. */
struct mqtt_req {
	struct mqtt_attempt *att;
	int unsubscribe;
	struct mqtt_req *prev, *next;
	char topic[]; /* the filter, for the failure event */
};

/* One accepted send: the context of its Paho response callbacks. */
struct mqtt_send {
	struct mqtt_attempt *att;
	uint64_t msg_id;
	int reported;
	struct mqtt_send *prev, *next;
};

static void reason_init(struct tether_reason *r, enum tether_reason_kind kind,
			int code, int by_peer, const char *text);
static int prop_add(MQTTProperties *props, int id, uint32_t number,
		    const void *value, size_t len, const char *name);

static const char *const mqtt_schemes[] = {"tcp", "ssl",  "mqtt", "mqtts",
					   "ws",  "wss", NULL};

/* ------------------------------------------------------------- helpers */

static int scheme_is(const char *uri, const char *scheme)
{
	size_t n = strlen(scheme);
	return strncmp(uri, scheme, n) == 0 && strncmp(uri + n, "://", 3) == 0;
}

static int uri_is_tls(const char *uri)
{
	return scheme_is(uri, "ssl") || scheme_is(uri, "mqtts") ||
	       scheme_is(uri, "wss");
}

/* The URI's scheme is one of ours (0), or it has none (1), or not (-1). */
static int uri_check(const char *uri)
{
	const char *sep = strstr(uri, "://");

	if (!sep)
		return *uri ? 1 : -1;
	if (!sep[3])
		return -1;
	for (size_t i = 0; mqtt_schemes[i]; i++)
		if (scheme_is(uri, mqtt_schemes[i]))
			return 0;
	return -1;
}

/* The host of "scheme://host:port/path", "[v6]:port" or "host:port". */
static void uri_host(const char *uri, char *buf, size_t len)
{
	const char *h = strstr(uri, "://");
	const char *e;

	h = h ? h + 3 : uri;
	if (*h == '[') {
		h++;
		e = strchr(h, ']');
	} else {
		e = h + strcspn(h, ":/");
	}
	if (!e)
		e = h + strlen(h);
	snprintf(buf, len, "%.*s", (int)(e - h), h);
}

static int host_is_numeric(const char *uri)
{
	char host[256];
	unsigned char a[16];

	uri_host(uri, host, sizeof(host));
	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

/* The Server Reference property, copied (NULL if absent). */
static char *server_reference(MQTTProperties *props)
{
	MQTTProperty *pr;
	char *s;

	if (!props || props->count == 0)
		return NULL;
	pr = MQTTProperties_getProperty(props,
					MQTTPROPERTY_CODE_SERVER_REFERENCE);
	if (!pr || pr->value.data.len <= 0 || !pr->value.data.data)
		return NULL;
	s = malloc((size_t)pr->value.data.len + 1);
	if (s) {
		memcpy(s, pr->value.data.data, (size_t)pr->value.data.len);
		s[pr->value.data.len] = '\0';
	}
	return s;
}

static int phase_move(struct mqtt_attempt *a, int from, int to)
{
	return atomic_compare_exchange_strong(&a->phase, &from, to);
}

/* ------------------------------------------------------------- sends */

static void send_unlink(struct mqtt_attempt *a, struct mqtt_send *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		a->sends = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

/* A Paho response for a send: report it unless that was done already. */
static void send_done(struct mqtt_send *s, int err)
{
	struct mqtt_attempt *a = s->att;
	int report;

	pthread_mutex_lock(&a->lock);
	report = !s->reported;
	send_unlink(a, s);
	pthread_mutex_unlock(&a->lock);
	if (report)
		tether_transport_sent(a->conn, a->id, s->msg_id, err);
	free(s);
}

/*
 * The link is gone: fail every send still waiting for its PUBACK/PUBCOMP
 * now, rather than when Paho gives up on it (at destroy, possibly much
 * later). Their contexts stay until Paho's callbacks free them.
 */
static void sends_fail_all(struct mqtt_attempt *a)
{
	uint64_t ids[64];
	size_t n;

	do {
		n = 0;
		pthread_mutex_lock(&a->lock);
		for (struct mqtt_send *s = a->sends; s && n < 64; s = s->next)
			if (!s->reported) {
				s->reported = 1;
				ids[n++] = s->msg_id;
			}
		pthread_mutex_unlock(&a->lock);
		for (size_t i = 0; i < n; i++)
			tether_transport_sent(a->conn, a->id, ids[i],
					      TETHER_EIO);
	} while (n == 64);
}

static void on_send_ok(void *ctx, MQTTAsync_successData *r)
{
	(void)r;
	send_done(ctx, 0);
}

/*
 * Why Paho failed a send. When the connection goes, Paho fails the
 * publishes it still holds with OPERATION_INCOMPLETE before it calls
 * connectionLost: the link's end is on the way, so say ECLOSED (the
 * message stays in flight and goes out again on the next link). An EIO
 * there made the runtime declare the link down itself, and the DOWN
 * event said "the transport failed a send" instead of why it ended.
 */
static int send_fail_err(int code)
{
	return code == MQTTASYNC_OPERATION_INCOMPLETE ||
		       code == MQTTASYNC_DISCONNECTED
		   ? TETHER_ECLOSED
		   : TETHER_EIO;
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
	send_done(ctx, send_fail_err(r ? r->code : MQTTASYNC_FAILURE));
}

static void on_send_ok5(void *ctx, MQTTAsync_successData5 *r)
{
	(void)r;
	send_done(ctx, 0);
}

static void on_send_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	send_done(ctx, send_fail_err(r ? r->code : MQTTASYNC_FAILURE));
}

/* ---------------------------------------------- subscribe, unsubscribe */

static void req_unlink(struct mqtt_attempt *a, struct mqtt_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		a->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

/*
 * A SUBACK or UNSUBACK came (code: its reason code; >= 0x80 a refusal),
 * or Paho gave up on the request (code < 0: the link is going, the
 * subscriptions are made again on the next one; nothing to say).
 */
static void req_done(struct mqtt_req *q, int code)
{
	struct mqtt_attempt *a = q->att;
	struct tether_reason r;
	char text[160];

	pthread_mutex_lock(&a->lock);
	req_unlink(a, q);
	pthread_mutex_unlock(&a->lock);
	if (code >= 0x80 && atomic_load(&a->phase) != PH_ENDED) {
		if (a->version == MQTTVERSION_5) {
			snprintf(text, sizeof(text), "%s refused: %s",
				 q->unsubscribe ? "UNSUBACK" : "SUBACK",
				 MQTTReasonCode_toString(
				     (enum MQTTReasonCodes)code));
			reason_init(&r, TETHER_KIND_MQTT5, code, 1, text);
		} else {
			/* 3.1.1 has one failure code, 0x80, and no UNSUBACK
			   code at all */
			snprintf(text, sizeof(text), "SUBACK refused (0x%02x)",
				 code);
			reason_init(&r, TETHER_KIND_MQTT3, code, 1, text);
		}
		tether_transport_sub_failed(a->conn, a->id, q->topic,
					    q->unsubscribe, &r);
	}
	free(q);
}

static void on_req_ok(void *ctx, MQTTAsync_successData *r)
{
	/* Paho 1.3.12 calls onFailure for a 0x80 SUBACK; a later one
	   may hand it over as the granted QoS */
	req_done(ctx, r && !((struct mqtt_req *)ctx)->unsubscribe &&
			      r->alt.qos >= 0x80
			  ? r->alt.qos
			  : 0);
}

static void on_req_fail(void *ctx, MQTTAsync_failureData *r)
{
	/* MQTT_BAD_SUBSCRIBE (0x80): the broker refused it */
	req_done(ctx, r && r->code == 0x80 ? 0x80 : -1);
}

static void on_req_ok5(void *ctx, MQTTAsync_successData5 *r)
{
	/* one filter per request: its code is reasonCode */
	req_done(ctx, r ? (int)r->reasonCode : 0);
}

static void on_req_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	int code = -1;

	if (r && r->reasonCode >= 0x80)
		code = (int)r->reasonCode;
	else if (r && r->code >= 0x80)
		code = r->code;
	req_done(ctx, code);
}

/* ------------------------------------------------------------ reasons */

static void reason_init(struct tether_reason *r, enum tether_reason_kind kind,
			int code, int by_peer, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->code = code;
	r->by_peer = by_peer;
	r->transport = TRANSPORT;
	r->text = text;
}

/*
 * A connect that did not end in an accepting CONNACK. `code` is what Paho
 * put in the failure data: the CONNACK code for a refusal (1..5 for 3.1.1,
 * >= 0x80 for 5), or a negative MQTTASYNC_* error with `message` telling
 * which step failed.
 */
static void connect_failed(struct mqtt_attempt *a, int code,
			   const char *message, MQTTProperties *props)
{
	struct tether_reason r;
	char text[400];
	char *sref = NULL;
	int tls_err = atomic_load(&a->tls_err);

	if (!phase_move(a, PH_CONNECTING, PH_ENDED))
		return;
	if (a->version == MQTTVERSION_5 && code >= 0x80) {
		snprintf(text, sizeof(text), "CONNACK refused: %s",
			 MQTTReasonCode_toString((enum MQTTReasonCodes)code));
		reason_init(&r, TETHER_KIND_MQTT5, code, 1, text);
		/* Paho 1.3.12 passes no CONNACK properties on failure; read
		   them in case a later version does. */
		sref = server_reference(props);
		r.server_ref = sref;
	} else if (code >= 1 && code <= 5) {
		/* A 3.1.1 CONNACK refusal; under version 5 this is a broker
		   that does not speak MQTT 5 answering in 3.1.1 (code 1). */
		static const char *const rc3[] = {
		    "", "unacceptable protocol version",
		    "identifier rejected", "server unavailable",
		    "bad user name or password", "not authorized"};
		snprintf(text, sizeof(text), "CONNACK refused: %s%s", rc3[code],
			 a->version == MQTTVERSION_5 && code == 1
			     ? " (the broker does not speak MQTT 5: set"
			       " version 3.1.1)"
			     : "");
		reason_init(&r, TETHER_KIND_MQTT3, code, 1, text);
	} else if (tls_err) {
		reason_init(&r, TETHER_KIND_TLS, tls_err, 0,
			    tls_err == TETHER_TLS_VERIFY
				? "TLS: server certificate verification failed"
				: "TLS handshake failed");
	} else if (message && strcmp(message, "TCP connect timeout") == 0) {
		reason_init(&r, TETHER_KIND_SOCKET, ETIMEDOUT, 0,
			    "connect timed out (Paho's backstop)");
	} else if (message && (strcmp(message, "socket error") == 0 ||
			       strcmp(message,
				      "TCP connect completion failure") == 0)) {
		/* connected, then closed before the CONNACK */
		reason_init(&r, TETHER_KIND_SOCKET, 0, 1,
			    "connection closed before CONNACK");
	} else if (a->tls && message &&
		   strcmp(message, "TCP/TLS connect failure") == 0 &&
		   atomic_load(&a->tls_err) == 0) {
		/*
		 * Paho says the same for a refused TCP connect and for a TLS
		 * handshake that failed without an OpenSSL error (the host
		 * name check): a handshake of our own tells them apart.
		 */
		struct tth_mqtt_diag d;

		if (a->opt->verify)
			tth_mqtt_tls_diagnose(a->uri, a->opt->ca_file,
					      a->opt->ca_dir, &d);
		else
			d.verdict = TTH_MQTT_DIAG_UNKNOWN;
		if (d.verdict == TTH_MQTT_DIAG_VERIFY ||
		    d.verdict == TTH_MQTT_DIAG_HANDSHAKE) {
			snprintf(text, sizeof(text), "%s", d.text);
			reason_init(&r, TETHER_KIND_TLS,
				    d.verdict == TTH_MQTT_DIAG_VERIFY
					? TETHER_TLS_VERIFY
					: TETHER_TLS_HANDSHAKE,
				    0, text);
		} else {
			reason_init(&r, TETHER_KIND_SOCKET, ECONNREFUSED, 1,
				    d.verdict == TTH_MQTT_DIAG_REFUSED
					? "connection refused"
					: "TCP or TLS connect failed");
		}
	} else if (message) {
		/* "TCP/TLS connect failure": Paho does not keep the errno;
		   a socket that failed to connect is refused, nearly always */
		snprintf(text, sizeof(text), "connect failed (Paho: %s)",
			 message);
		reason_init(&r, TETHER_KIND_SOCKET, ECONNREFUSED, 1, text);
	} else if (!host_is_numeric(a->uri)) {
		/* failed inside Paho's synchronous socket setup, which for a
		   host name means getaddrinfo() failed */
		reason_init(&r, TETHER_KIND_DNS, EAI_NONAME, 0,
			    "host name did not resolve");
	} else {
		reason_init(&r, TETHER_KIND_SOCKET, ENETUNREACH, 0,
			    "connect failed at once");
	}
	tether_transport_fail(a->conn, a->id, &r);
	free(sref);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
	struct mqtt_attempt *a = ctx;
	if (phase_move(a, PH_CONNECTING, PH_UP))
		tether_transport_up(a->conn, a->id,
				    r ? r->alt.connect.sessionPresent : 0);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
	connect_failed(ctx, r ? r->code : MQTTASYNC_FAILURE,
		       r ? r->message : NULL, NULL);
}

static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *r)
{
	struct mqtt_attempt *a = ctx;
	if (phase_move(a, PH_CONNECTING, PH_UP))
		tether_transport_up(a->conn, a->id,
				    r ? r->alt.connect.sessionPresent : 0);
}

static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	connect_failed(ctx, r ? r->code : MQTTASYNC_FAILURE,
		       r ? r->message : NULL, r ? &r->properties : NULL);
}

static int on_ssl_error(const char *str, size_t len, void *ctx)
{
	struct mqtt_attempt *a = ctx;
	int code = TETHER_TLS_HANDSHAKE;

	/* OpenSSL's error queue, one line per call */
	for (size_t i = 0; i + 6 <= len; i++)
		if (strncmp(str + i, "verify", 6) == 0 ||
		    strncmp(str + i, "certif", 6) == 0)
			code = TETHER_TLS_VERIFY;
	if (atomic_load(&a->tls_err) != TETHER_TLS_VERIFY)
		atomic_store(&a->tls_err, code);
	return 0;
}

/* The established connection ended without a DISCONNECT from the server. */
static void on_connection_lost(void *ctx, char *cause)
{
	struct mqtt_attempt *a = ctx;
	struct tether_reason r;

	/* Paho 1.3.12 always passes NULL; later versions may say more */
	if (cause && (strstr(cause, "eepalive") || strstr(cause, "PINGRESP")))
		reason_init(&r, TETHER_KIND_LOCAL,
			    TETHER_LOCAL_KEEPALIVE_TIMEOUT, 0, cause);
	else
		reason_init(&r, TETHER_KIND_SOCKET, 0, 1,
			    cause ? cause : "connection lost");
	/* the end first, then the sends: failed sends reported while the
	   link still looks up declare it down themselves, and the DOWN
	   event said "the transport failed a send" instead of why */
	if (phase_move(a, PH_UP, PH_ENDED)) {
		tether_transport_down(a->conn, a->id, &r);
		sends_fail_all(a);
	} else if (phase_move(a, PH_CLOSING, PH_ENDED)) {
		tether_transport_closed(a->conn, a->id);
		sends_fail_all(a);
	}
}

/* MQTT 5: the server sent DISCONNECT (no connectionLost follows). */
static void on_disconnected(void *ctx, MQTTProperties *props,
			    enum MQTTReasonCodes code)
{
	struct mqtt_attempt *a = ctx;
	struct tether_reason r;
	char text[160];
	char *sref;

	if (phase_move(a, PH_CLOSING, PH_ENDED)) {
		tether_transport_closed(a->conn, a->id);
		sends_fail_all(a);
		return;
	}
	if (!phase_move(a, PH_UP, PH_ENDED))
		return;
	snprintf(text, sizeof(text), "server DISCONNECT: %s",
		 MQTTReasonCode_toString(code));
	reason_init(&r, TETHER_KIND_MQTT5, (int)code, 1, text);
	sref = server_reference(props);
	r.server_ref = sref;
	tether_transport_down(a->conn, a->id, &r); /* first: see above */
	free(sref);
	sends_fail_all(a);
}

/* Names of the properties a PUBLISH may carry (MQTT 5, 3.3.2.3). */
static const char *prop_name(int code)
{
	switch (code) {
	case MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR:
		return "payload_format_indicator";
	case MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL:
		return "message_expiry_interval";
	case MQTTPROPERTY_CODE_CONTENT_TYPE:
		return "content_type";
	case MQTTPROPERTY_CODE_RESPONSE_TOPIC:
		return "response_topic";
	case MQTTPROPERTY_CODE_CORRELATION_DATA:
		return "correlation_data";
	case MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER:
		return "subscription_identifier";
	case MQTTPROPERTY_CODE_TOPIC_ALIAS:
		return "topic_alias";
	default:
		return NULL;
	}
}

/* The code of an outbound property's name (0: none a client sends). */
static int prop_code(const char *name)
{
	static const int codes[] = {
	    MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR,
	    MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL,
	    MQTTPROPERTY_CODE_CONTENT_TYPE, MQTTPROPERTY_CODE_RESPONSE_TOPIC,
	    MQTTPROPERTY_CODE_CORRELATION_DATA};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(prop_name(codes[i]), name) == 0)
			return codes[i];
	return 0;
}

/* An inbound message's properties as tether's (pointing into props'
 * memory: valid while the Paho message is); *n 0 and NULL when none. */
static struct tether_property *message_props(const MQTTProperties *props,
					     size_t *n)
{
	struct tether_property *v;

	*n = 0;
	if (!props || props->count <= 0)
		return NULL;
	v = calloc((size_t)props->count, sizeof(*v));
	if (!v)
		return NULL;
	for (int i = 0; i < props->count; i++) {
		const MQTTProperty *pr = &props->array[i];
		struct tether_property *t = &v[*n];

		if (pr->identifier == MQTTPROPERTY_CODE_USER_PROPERTY) {
			/* name and value are strings, not NUL-terminated */
			char *name = malloc((size_t)pr->value.data.len + 1);
			if (!name)
				continue;
			memcpy(name, pr->value.data.data,
			       (size_t)pr->value.data.len);
			name[pr->value.data.len] = '\0';
			t->name = name;
			t->user = 1;
			t->value = pr->value.value.data;
			t->len = (size_t)pr->value.value.len;
			(*n)++;
			continue;
		}
		t->name = prop_name(pr->identifier);
		if (!t->name)
			continue;
		switch (MQTTProperty_getType(pr->identifier)) {
		case MQTTPROPERTY_TYPE_BYTE:
			t->number = pr->value.byte;
			break;
		case MQTTPROPERTY_TYPE_TWO_BYTE_INTEGER:
			t->number = pr->value.integer2;
			break;
		case MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER:
		case MQTTPROPERTY_TYPE_VARIABLE_BYTE_INTEGER:
			t->number = pr->value.integer4;
			break;
		default: /* binary data or a string */
			t->value = pr->value.data.data ? pr->value.data.data
						       : "";
			t->len = (size_t)pr->value.data.len;
			break;
		}
		(*n)++;
	}
	return v;
}

static void free_props(struct tether_property *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].user)
			free((char *)v[i].name);
	free(v);
}

static int on_message(void *ctx, char *topic, int topic_len,
		      MQTTAsync_message *m)
{
	struct mqtt_attempt *a = ctx;
	struct tether_message msg = {
	    .size = sizeof(msg),
	    .topic = topic,
	    .payload = m->payload,
	    .len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0,
	    .qos = m->qos,
	    .retain = m->retained,
	    .dup = m->dup,
	};
	struct tether_property *props =
	    message_props(&m->properties, &msg.nprops);

	(void)topic_len;
	msg.props = props;
	/* Whatever the phase: Paho has already sent the PUBACK (it acks a
	   QoS 1 message before delivering it) and will not deliver it
	   again, so a message dropped here while closing is lost for good. */
	tether_transport_message(a->conn, a->id, &msg);
	free_props(props, msg.nprops);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void on_close_ok(void *ctx, MQTTAsync_successData *r)
{
	struct mqtt_attempt *a = ctx;
	(void)r;
	if (phase_move(a, PH_CLOSING, PH_ENDED))
		tether_transport_closed(a->conn, a->id);
}

static void on_close_fail(void *ctx, MQTTAsync_failureData *r)
{
	on_close_ok(ctx, NULL);
	(void)r;
}

static void on_close_ok5(void *ctx, MQTTAsync_successData5 *r)
{
	on_close_ok(ctx, NULL);
	(void)r;
}

static void on_close_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	on_close_ok(ctx, NULL);
	(void)r;
}

/* ----------------------------------------------------------- attempts */

/*
 * Destroy the attempt's client and free it. Loop thread only (never a Paho
 * callback). Paho answers the sends it still holds with onFailure from
 * inside MQTTAsync_destroy (that frees their contexts); anything left is
 * failed here.
 */
static void attempt_free(struct mqtt_attempt *a)
{
	struct mqtt_send *s;

	if (!a)
		return;
	atomic_store(&a->phase, PH_ENDED);
	if (a->cli)
		MQTTAsync_destroy(&a->cli);
	while ((s = a->sends) != NULL) {
		a->sends = s->next;
		if (!s->reported)
			tether_transport_sent(a->conn, a->id, s->msg_id,
					      TETHER_EIO);
		free(s);
	}
	while (a->reqs) {
		struct mqtt_req *q = a->reqs;

		a->reqs = q->next;
		free(q);
	}
	pthread_mutex_destroy(&a->lock);
	free(a->uri);
	free(a);
}

static int paho_err(int rc)
{
	switch (rc) {
	case MQTTASYNC_BAD_UTF8_STRING:
	case MQTTASYNC_NULL_PARAMETER:
	case MQTTASYNC_TOPICNAME_TRUNCATED:
	case MQTTASYNC_BAD_QOS:
	case MQTTASYNC_BAD_PROTOCOL:
	case MQTTASYNC_SSL_NOT_SUPPORTED:
		return TETHER_EINVAL;
	case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
	case MQTTASYNC_MAX_BUFFERED_MESSAGES:
	case MQTTASYNC_NO_MORE_MSGIDS:
		return TETHER_EFULL;
	case MQTTASYNC_DISCONNECTED:
		return TETHER_ECLOSED;
	default:
		return TETHER_EIO;
	}
}

/* The live attempt `id`, or NULL. */
static struct mqtt_attempt *attempt_of(struct mqtt_link *l, uint32_t id)
{
	return l->cur && l->cur->id == id ? l->cur : NULL;
}

/* ------------------------------------------------------------------ ops */

/* Paho's trace hook: its lines at the matching tether level. Paho's
 * ERROR entries (a refused socket, a lost link) are what tether reports
 * as events already, so they count as warnings here. */
static void paho_trace(enum MQTTASYNC_TRACE_LEVELS pl, char *line)
{
	enum tether_log_level level = TETHER_LOG_DEBUG;

	if (pl >= MQTTASYNC_TRACE_SEVERE)
		level = TETHER_LOG_ERROR;
	else if (pl == MQTTASYNC_TRACE_ERROR)
		level = TETHER_LOG_WARNING;
	else if (pl == MQTTASYNC_TRACE_PROTOCOL)
		level = TETHER_LOG_INFO;
	tether_log(level, "paho", "%s", line ? line : "");
}

/* Paho's trace, set at each context start: only while the application
 * routes logs (Paho's hook is process-wide). */
static void paho_trace_setup(void)
{
	static const enum MQTTASYNC_TRACE_LEVELS lv[] = {
		MQTTASYNC_TRACE_FATAL,   MQTTASYNC_TRACE_SEVERE,
		MQTTASYNC_TRACE_ERROR,   MQTTASYNC_TRACE_PROTOCOL,
		MQTTASYNC_TRACE_MINIMUM,
	};
	enum tether_log_level level = tether_log_level();

	if (!tether_log_has_cb() || level == TETHER_LOG_OFF)
		return;
	MQTTAsync_setTraceLevel(lv[level]);
	MQTTAsync_setTraceCallback(paho_trace);
}

static int mqtt_ctx_new(tether_mgr *mgr, void **out)
{
	struct mqtt_ctx *x = calloc(1, sizeof(*x));
	int rc;

	(void)mgr;
	if (!x)
		return TETHER_ENOMEM;
	paho_trace_setup();
	/* Never connected: it only keeps Paho's global state alive. */
	rc = MQTTAsync_create(&x->anchor, "tcp://127.0.0.1:1", "tether-anchor",
			      MQTTCLIENT_PERSISTENCE_NONE, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		free(x);
		return paho_err(rc);
	}
	*out = x;
	return 0;
}

static void mqtt_ctx_free(void *ctx)
{
	struct mqtt_ctx *x = ctx;

	if (!x)
		return;
	MQTTAsync_destroy(&x->anchor);
	free(x);
}

static void link_free_fields(struct mqtt_link *l)
{
	tth_mqtt_options_cleanup(&l->opt);
	free(l);
}

static int mqtt_check(tether_conn *conn, tether_params *p)
{
	struct mqtt_options o;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = tth_mqtt_options_read(&o, conn, p);
	tth_mqtt_options_cleanup(&o);
	return rc;
}

static int mqtt_link_new(void *ctx, tether_conn *conn, tether_params *p,
			 void **out)
{
	struct mqtt_link *l;
	int rc;

	(void)ctx;
	l = calloc(1, sizeof(*l));
	if (!l)
		return TETHER_ENOMEM;
	l->conn = conn;
	rc = tth_mqtt_options_read(&l->opt, conn, p);
	if (rc) {
		link_free_fields(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void mqtt_link_free(void *link)
{
	struct mqtt_link *l = link;

	if (!l)
		return;
	attempt_free(l->cur);
	link_free_fields(l);
}

static int attempt_new(struct mqtt_link *l, uint32_t id, const char *uri,
		       struct mqtt_attempt **out)
{
	struct mqtt_attempt *a = calloc(1, sizeof(*a));
	size_t n;

	if (!a)
		return TETHER_ENOMEM;
	a->conn = l->conn;
	a->id = id;
	a->opt = &l->opt;
	a->version = l->opt.version;
	if (uri_check(uri) == 1) {
		/* A bare "host:port" (an MQTT 5 Server Reference): keep the
		   scheme we were using, so a redirect never drops TLS. */
		n = strlen(l->scheme) + 3 + strlen(uri) + 1;
		a->uri = malloc(n);
		if (a->uri)
			snprintf(a->uri, n, "%s://%s",
				 l->scheme[0] ? l->scheme : "tcp", uri);
	} else {
		a->uri = strdup(uri);
		n = (size_t)(strstr(uri, "://") - uri);
		if (n < sizeof(l->scheme))
			snprintf(l->scheme, sizeof(l->scheme), "%.*s", (int)n,
				 uri);
	}
	if (!a->uri || pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a->uri);
		free(a);
		return TETHER_ENOMEM;
	}
	a->tls = uri_is_tls(a->uri);
	*out = a;
	return 0;
}

/* The last will of the options as Paho's (binary payload; MQTT 5
   properties in *props, which the caller frees). */
static int set_will(const struct mqtt_options *opt, MQTTAsync_willOptions *w,
		    MQTTProperties *props)
{
	w->struct_version = 1;
	w->topicName = opt->will_topic;
	w->message = NULL; /* the binary payload below */
	w->payload.data = opt->will_payload;
	w->payload.len = (int)opt->will_len;
	w->qos = opt->will_qos;
	w->retained = opt->will_retain;
	if (opt->version != MQTTVERSION_5)
		return 0;
	if (opt->will_delay_set &&
	    prop_add(props, MQTTPROPERTY_CODE_WILL_DELAY_INTERVAL,
		     opt->will_delay_s, NULL, 0, NULL))
		return TETHER_ENOMEM;
	if (opt->will_expiry_set &&
	    prop_add(props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL,
		     opt->will_expiry_s, NULL, 0, NULL))
		return TETHER_ENOMEM;
	if (opt->will_content_type &&
	    prop_add(props, MQTTPROPERTY_CODE_CONTENT_TYPE, 0,
		     opt->will_content_type, strlen(opt->will_content_type),
		     NULL))
		return TETHER_ENOMEM;
	for (size_t i = 0; i < opt->n_will_user; i++)
		if (prop_add(props, MQTTPROPERTY_CODE_USER_PROPERTY, 0,
			     opt->will_user[i].value,
			     strlen(opt->will_user[i].value),
			     opt->will_user[i].name))
			return TETHER_ENOMEM;
	return 0;
}

/* The attempt's proxy (options.proxy, for its host) as Paho wants it,
 * "http://HOST:PORT", or "" for none. TETHER_ECONFIG when the
 * environment's proxy is malformed (reported as the attempt's failure). */
static int attempt_proxy(const struct mqtt_attempt *a,
			 const struct mqtt_options *opt, char *out, size_t cap)
{
	const char *h = strstr(a->uri, "://");
	char host[256], ph[256];
	unsigned pport;
	size_t n;

	out[0] = '\0';
	if (!opt->proxy || !h)
		return 0;
	h += 3;
	if (*h == '[') { /* [v6]:port */
		const char *e = strchr(h, ']');
		n = e ? (size_t)(e - h - 1) : 0;
		h++;
	} else {
		n = strcspn(h, ":/");
	}
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (tth_proxy_for(opt->proxy, host, a->tls, ph, sizeof(ph), &pport))
		return TETHER_ECONFIG;
	if (ph[0])
		snprintf(out, cap, "http://%s:%u", ph, pport);
	return 0;
}

static int mqtt_connect(void *link, uint32_t attempt, const char *uri)
{
	struct mqtt_link *l = link;
	struct mqtt_attempt *a;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	char proxy[300];
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperties will_props = MQTTProperties_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	char *uris[1];
	int rc;

	if (!uri || uri_check(uri) < 0)
		return TETHER_EINVAL;
	/* single flight: whatever is left of an earlier attempt goes now */
	attempt_free(l->cur);
	l->cur = NULL;
	rc = attempt_new(l, attempt, uri, &a);
	if (rc)
		return rc;

	co.MQTTVersion = l->opt.version;
	co.sendWhileDisconnected = 0;
	/* Paho counts every publish it has not written yet against
	   maxBufferedMessages (100 by default), also while connected: the
	   ones waiting for the server's Receive Maximum (mosquitto: 20) or
	   for the socket. tether hands over up to its window at once (1024,
	   core/runtime/outbox.c) and bounds what it hands over itself, so Paho must
	   never refuse one (MAX_BUFFERED_MESSAGES read as a failed send: the
	   link was declared down right after every reconnect with a
	   backlog). */
	co.maxBufferedMessages = PAHO_MAX_BUFFERED;
	rc =
	    MQTTAsync_createWithOptions(&a->cli, a->uri, l->opt.client_id,
					MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		a->cli = NULL;
		attempt_free(a);
		return rc == MQTTASYNC_BAD_PROTOCOL ? TETHER_EINVAL
						    : paho_err(rc);
	}
	rc = MQTTAsync_setCallbacks(a->cli, a, on_connection_lost, on_message,
				    NULL);
	if (rc == MQTTASYNC_SUCCESS && l->opt.version == MQTTVERSION_5)
		rc = MQTTAsync_setDisconnected(a->cli, a, on_disconnected);
	if (rc != MQTTASYNC_SUCCESS) {
		attempt_free(a);
		return paho_err(rc);
	}

	if (l->opt.version == MQTTVERSION_5) {
		o = o5;
		o.cleanstart = l->opt.clean_start;
		o.onSuccess5 = on_connect_ok5;
		o.onFailure5 = on_connect_fail5;
		if (l->opt.session_expiry_s) {
			MQTTProperty pr = {
			    .identifier =
				MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
			    .value.integer4 = l->opt.session_expiry_s};
			if (MQTTProperties_add(&props, &pr) != 0) {
				attempt_free(a);
				return TETHER_ENOMEM;
			}
			o.connectProperties = &props;
		}
	} else {
		o.cleansession = l->opt.clean_start;
		o.onSuccess = on_connect_ok;
		o.onFailure = on_connect_fail;
	}
	/* explicit, never MQTTVERSION_DEFAULT: that one silently retries
	   with 3.1 after a refusal */
	o.MQTTVersion = l->opt.version;
	o.automaticReconnect = 0;
	o.keepAliveInterval = l->opt.keepalive_s;
	o.connectTimeout = PAHO_CONNECT_TIMEOUT_S;
	o.username = l->opt.username;
	o.password = l->opt.password;
	o.context = a;
	uris[0] = a->uri;
	o.serverURIs = uris;
	o.serverURIcount = 1;
	if (a->tls) {
		ssl.trustStore = l->opt.ca_file;
		ssl.CApath = l->opt.ca_dir;
		ssl.keyStore = l->opt.cert_file;
		ssl.privateKey = l->opt.key_file;
		ssl.privateKeyPassword = l->opt.key_password;
		ssl.enableServerCertAuth = l->opt.verify;
		ssl.verify = l->opt.verify; /* host name check */
		ssl.ssl_error_cb = on_ssl_error;
		ssl.ssl_error_context = a;
		ssl.protos = l->opt.alpn;
		ssl.protos_len = (unsigned)l->opt.alpn_len;
		o.ssl = &ssl;
	}
	rc = attempt_proxy(a, &l->opt, proxy, sizeof(proxy));
	if (rc) {
		MQTTProperties_free(&props);
		attempt_free(a);
		return rc;
	}
	if (proxy[0] && a->tls)
		o.httpsProxy = proxy;
	else if (proxy[0])
		o.httpProxy = proxy;
	if (l->opt.will_topic) {
		rc = set_will(&l->opt, &will, &will_props);
		if (rc) {
			MQTTProperties_free(&props);
			MQTTProperties_free(&will_props);
			attempt_free(a);
			return rc;
		}
		o.will = &will;
		if (l->opt.version == MQTTVERSION_5)
			o.willProperties = &will_props;
	}
	/* Paho copies every option; the callbacks may run before this
	   returns, but only report through the queue */
	l->cur = a;
	rc = MQTTAsync_connect(a->cli, &o);
	MQTTProperties_free(&props);
	MQTTProperties_free(&will_props);
	if (rc != MQTTASYNC_SUCCESS) {
		l->cur = NULL;
		attempt_free(a);
		return rc == MQTTASYNC_BAD_PROTOCOL ? TETHER_EINVAL
						    : paho_err(rc);
	}
	return 0;
}

static void mqtt_abort(void *link, uint32_t attempt)
{
	struct mqtt_link *l = link;
	struct mqtt_attempt *a = attempt_of(l, attempt);

	if (!a)
		return;
	/* Destroying is immediate (it drops the socket; a connected client
	   sends DISCONNECT first, without waiting). */
	l->cur = NULL;
	attempt_free(a);
}

static void mqtt_close(void *link, uint32_t attempt)
{
	struct mqtt_link *l = link;
	struct mqtt_attempt *a = attempt_of(l, attempt);
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions d5 =
	    MQTTAsync_disconnectOptions_initializer5;
	int rc;

	if (!a)
		return;
	if (!phase_move(a, PH_UP, PH_CLOSING)) {
		/* not up (still connecting, or already lost): nothing to
		   say goodbye to */
		if (phase_move(a, PH_CONNECTING, PH_ENDED)) {
			l->cur = NULL;
			attempt_free(a);
		}
		tether_transport_closed(l->conn, attempt);
		return;
	}
	if (a->version == MQTTVERSION_5) {
		d = d5;
		d.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION;
		d.onSuccess5 = on_close_ok5;
		d.onFailure5 = on_close_fail5;
	} else {
		d.onSuccess = on_close_ok;
		d.onFailure = on_close_fail;
	}
	d.timeout = CLOSE_GRACE_MS;
	d.context = a;
	rc = MQTTAsync_disconnect(a->cli, &d);
	if (rc != MQTTASYNC_SUCCESS && phase_move(a, PH_CLOSING, PH_ENDED))
		tether_transport_closed(l->conn, attempt);
}

/* One property for Paho (which copies it). */
static int prop_add(MQTTProperties *props, int id, uint32_t number,
		    const void *value, size_t len, const char *name)
{
	MQTTProperty pr;

	memset(&pr, 0, sizeof(pr));
	pr.identifier = (enum MQTTPropertyCodes)id;
	switch (MQTTProperty_getType(pr.identifier)) {
	case MQTTPROPERTY_TYPE_BYTE:
		pr.value.byte = (unsigned char)number;
		break;
	case MQTTPROPERTY_TYPE_FOUR_BYTE_INTEGER:
		pr.value.integer4 = number;
		break;
	case MQTTPROPERTY_TYPE_UTF_8_STRING_PAIR:
		pr.value.data.data = (char *)name;
		pr.value.data.len = (int)strlen(name);
		pr.value.value.data = (char *)(value ? value : "");
		pr.value.value.len = (int)len;
		break;
	default: /* a string or binary data */
		pr.value.data.data = (char *)(value ? value : "");
		pr.value.data.len = (int)len;
		break;
	}
	return MQTTProperties_add(props, &pr) == 0 ? 0 : TETHER_ENOMEM;
}

/* A message's properties (checked by tether_conn_send) as Paho's;
   MQTTProperties_free() them either way. */
static int paho_props(const struct tether_property *v, size_t n,
		      MQTTProperties *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct tether_property *p = &v[i];
		int id = p->user ? MQTTPROPERTY_CODE_USER_PROPERTY
				 : prop_code(p->name);

		if (!id)
			return TETHER_ENOTSUP;
		if (prop_add(out, id, (uint32_t)p->number, p->value, p->len,
			     p->name))
			return TETHER_ENOMEM;
	}
	return 0;
}

static int mqtt_send(void *link, uint32_t attempt, uint64_t msg_id,
		     const struct tether_message *msg)
{
	struct mqtt_link *l = link;
	struct mqtt_attempt *a = attempt_of(l, attempt);
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct mqtt_send *s;
	int rc;

	if (!msg || !msg->topic || (msg->len && !msg->payload) ||
	    msg->qos < 0 || msg->qos > 2 || msg->len > 268435455u)
		return TETHER_EINVAL;
	if (!a || atomic_load(&a->phase) != PH_UP)
		return TETHER_ECLOSED;
	s = calloc(1, sizeof(*s));
	if (!s)
		return TETHER_ENOMEM;
	s->att = a;
	s->msg_id = msg_id;
	if (msg->nprops && a->version != MQTTVERSION_5) {
		free(s);
		return TETHER_ENOTSUP; /* a reload changed the version */
	}
	if (a->version == MQTTVERSION_5) {
		ro.onSuccess5 = on_send_ok5;
		ro.onFailure5 = on_send_fail5;
		rc = paho_props(msg->props, msg->nprops, &ro.properties);
		if (rc) {
			free(s);
			return rc;
		}
	} else {
		ro.onSuccess = on_send_ok;
		ro.onFailure = on_send_fail;
	}
	ro.context = s;
	/* linked first: the response may come before send() returns */
	pthread_mutex_lock(&a->lock);
	s->next = a->sends;
	if (a->sends)
		a->sends->prev = s;
	a->sends = s;
	pthread_mutex_unlock(&a->lock);
	/* Paho copies the properties into its command */
	rc = MQTTAsync_send(a->cli, msg->topic, (int)msg->len, msg->payload,
			    msg->qos, msg->retain, &ro);
	MQTTProperties_free(&ro.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		/* a failed call never calls back */
		pthread_mutex_lock(&a->lock);
		send_unlink(a, s);
		pthread_mutex_unlock(&a->lock);
		free(s);
		return paho_err(rc);
	}
	return 0;
}

/* Send a SUBSCRIBE (sub) or an UNSUBSCRIBE (topic) on attempt `attempt`. */
static int request(struct mqtt_link *l, uint32_t attempt, const char *topic,
		   const struct tether_subscription *sub)
{
	struct mqtt_attempt *a = attempt_of(l, attempt);
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct mqtt_req *q;
	size_t tlen;
	int rc;

	if (!topic || !*topic || (sub && (sub->qos < 0 || sub->qos > 2)))
		return TETHER_EINVAL;
	if (!a || atomic_load(&a->phase) != PH_UP)
		return TETHER_ECLOSED;
	if (sub && a->version != MQTTVERSION_5 &&
	    (sub->no_local || sub->retain_as_published ||
	     sub->retain_handling))
		return TETHER_ENOTSUP;
	tlen = strlen(topic);
	q = calloc(1, sizeof(*q) + tlen + 1);
	if (!q)
		return TETHER_ENOMEM;
	memcpy(q->topic, topic, tlen + 1);
	q->att = a;
	q->unsubscribe = !sub;
	if (a->version == MQTTVERSION_5) {
		ro.onSuccess5 = on_req_ok5;
		ro.onFailure5 = on_req_fail5;
		if (sub) {
			ro.subscribeOptions.noLocal =
			    (unsigned char)sub->no_local;
			ro.subscribeOptions.retainAsPublished =
			    (unsigned char)sub->retain_as_published;
			ro.subscribeOptions.retainHandling =
			    (unsigned char)sub->retain_handling;
		}
	} else {
		ro.onSuccess = on_req_ok;
		ro.onFailure = on_req_fail;
	}
	ro.context = q;
	/* linked first: the answer may come before the call returns */
	pthread_mutex_lock(&a->lock);
	q->next = a->reqs;
	if (a->reqs)
		a->reqs->prev = q;
	a->reqs = q;
	pthread_mutex_unlock(&a->lock);
	rc = sub ? MQTTAsync_subscribe(a->cli, topic, sub->qos, &ro)
		 : MQTTAsync_unsubscribe(a->cli, topic, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		/* a failed call never calls back */
		pthread_mutex_lock(&a->lock);
		req_unlink(a, q);
		pthread_mutex_unlock(&a->lock);
		free(q);
		return paho_err(rc);
	}
	return 0;
}

static int mqtt_subscribe(void *link, uint32_t attempt, const char *topic,
			  int qos)
{
	struct tether_subscription sub = {.size = sizeof(sub), .topic = topic,
					  .qos = qos};

	return request(link, attempt, topic, &sub);
}

static int mqtt_subscribe_opts(void *link, uint32_t attempt,
			       const struct tether_subscription *sub)
{
	return sub ? request(link, attempt, sub->topic, sub) : TETHER_EINVAL;
}

static int mqtt_unsubscribe(void *link, uint32_t attempt, const char *topic)
{
	return request(link, attempt, topic, NULL);
}

/* Properties need MQTT 5: read "version" as the options reader does. */
static int mqtt_check_message(const tether_params *opts,
			      const struct tether_message *msg)
{
	const char *v = tether_params_get(opts, "version");

	if (!msg->nprops)
		return 0;
	if (!v || (strcmp(v, "5") != 0 && strcmp(v, "5.0") != 0))
		return TETHER_ENOTSUP;
	for (size_t i = 0; i < msg->nprops; i++)
		if (!msg->props[i].user && !prop_code(msg->props[i].name))
			return TETHER_ENOTSUP;
	return 0;
}

const struct tether_transport_ops tth_transport_mqtt = {
    .abi = TETHER_TRANSPORT_ABI,
    .name = "mqtt",
    .schemes = mqtt_schemes,
    .ctx_new = mqtt_ctx_new,
    .ctx_free = mqtt_ctx_free,
    .link_new = mqtt_link_new,
    .link_free = mqtt_link_free,
    .connect = mqtt_connect,
    .abort = mqtt_abort,
    .close = mqtt_close,
    .send = mqtt_send,
    .subscribe = mqtt_subscribe,
    .ping = NULL,
    .check = mqtt_check,
    .options = tth_mqtt_options,
    .yaml_section = "mqtt",
    .default_ports = tth_mqtt_default_ports,
    .subscribe_opts = mqtt_subscribe_opts,
    .unsubscribe = mqtt_unsubscribe,
    .check_message = mqtt_check_message,
};

/*
 * The MQTT transport's options: reading a link's tether_params into its
 * settings, with their validation and the secrets (password, password_env,
 * password_file, key_password). See docs/transport-mqtt.md.
 */
#include "config.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "mqtt_options.h"

#define KEEPALIVE_MAX_S 65535
#define KEEPALIVE_DEFAULT_MS 30000
#define SESSION_EXPIRY_NEVER 0xFFFFFFFFu
#define WILL_SECONDS_MAX 0xFFFFFFFFull

static const char *const versions[] = {"3.1.1", "311", "4", "5", "5.0", NULL};

/* The options, in the order `tether check` prints them (docs/transport-
 * mqtt.md). Every one needs a new client, so a reload restarts. */
const struct tether_option tth_mqtt_options[] = {
    {.name = "version", .type = TETHER_OPTION_CHOICE, .def = "3.1.1",
     .choices = versions, .doc = "MQTT protocol version: 3.1.1 or 5"},
    {.name = "client_id", .type = TETHER_OPTION_TEXT, .def = "tether-${name}",
     .doc = "client identifier"},
    {.name = "clean_start", .type = TETHER_OPTION_BOOL, .def = "true",
     .doc = "start a new session (false: resume the broker's)"},
    {.name = "keepalive", .type = TETHER_OPTION_DURATION, .def = "30s",
     .min = 0, .max = KEEPALIVE_MAX_S * 1000ull,
     .doc = "MQTT keepalive, rounded up to seconds; 0 turns it off"},
    {.name = "max_message", .type = TETHER_OPTION_SIZE, .def = "1MiB",
     .min = MQTT_MIN_MAX_MESSAGE, .max = MQTT_MAX_MAX_MESSAGE,
     .doc = "largest inbound payload: MQTT 5 tells the broker (Maximum "
	    "Packet Size); a larger message is dropped and told"},
    {.name = "session_expiry", .type = TETHER_OPTION_DURATION,
     .min = 0, .max = SESSION_EXPIRY_NEVER * 1000ull,
     .doc = "MQTT 5: how long the broker keeps the session"},
    {.name = "username", .type = TETHER_OPTION_TEXT, .doc = "user name"},
    {.name = "password", .type = TETHER_OPTION_TEXT, .secret = 1,
     .doc = "password (needs username)"},
    {.name = "will_topic", .type = TETHER_OPTION_TEXT,
     .doc = "last will: the topic the broker publishes to when the link "
	    "ends without a DISCONNECT (none: no will)"},
    {.name = "will_payload", .type = TETHER_OPTION_TEXT,
     .doc = "last will: the payload (default empty)"},
    {.name = "will_payload_file", .type = TETHER_OPTION_TEXT,
     .doc = "last will: read the payload from this file (at most 65535 "
	    "bytes), when the options are read"},
    /* no printed default: a will key without will_topic is an error,
       and `tether check`'s output must load again */
    {.name = "will_qos", .type = TETHER_OPTION_UINT, .min = 0, .max = 2,
     .doc = "last will: QoS 0, 1 or 2 (default 0)"},
    {.name = "will_retain", .type = TETHER_OPTION_BOOL,
     .doc = "last will: publish it retained (default false)"},
    {.name = "will_delay", .type = TETHER_OPTION_DURATION, .min = 0,
     .max = WILL_SECONDS_MAX * 1000ull,
     .doc = "last will, MQTT 5: Will Delay Interval (whole seconds; the "
	    "session must outlive it)"},
    {.name = "will_expiry", .type = TETHER_OPTION_DURATION, .min = 0,
     .max = WILL_SECONDS_MAX * 1000ull,
     .doc = "last will, MQTT 5: Message Expiry Interval (whole seconds)"},
    {.name = "will_content_type", .type = TETHER_OPTION_TEXT,
     .doc = "last will, MQTT 5: Content Type"},
    {.name = "will_user", .type = TETHER_OPTION_MAP,
     .doc = "last will, MQTT 5: User Properties (will_user.<name>)"},
    TTH_OPTION_PROXY,
    {.name = "ca_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "CA certificates (PEM file)"},
    {.name = "ca_dir", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "CA certificates (directory)"},
    TTH_OPTIONS_CLIENT_CERT,
    {.name = "alpn", .type = TETHER_OPTION_TEXT, .place = TETHER_OPTION_TLS,
     .doc = "ALPN protocols to offer, comma-separated (e.g. "
	    "x-amzn-mqtt-ca; default none)"},
    {.name = "verify", .type = TETHER_OPTION_BOOL, .def = "true",
     .place = TETHER_OPTION_TLS, .doc = "verify the server's certificate"},
    {.name = NULL},
};

const struct tether_default_port tth_mqtt_default_ports[] = {
    {"tcp", 1883}, {"mqtt", 1883}, {"ssl", 8883}, {"mqtts", 8883},
    {NULL, 0},
};

static int dup_opt(const char *v, char **out)
{
	*out = NULL;
	if (!v)
		return 0;
	*out = strdup(v);
	return *out ? 0 : TETHER_ENOMEM;
}

/* A file's bytes, at most max of them; 0 or an errno value (EFBIG). */
static int read_small_file(const char *path, size_t max, char **out,
			   size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int err = 0;

	*out = NULL;
	*len = 0;
	if (!f)
		return errno;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		err = EIO;
	else if (n > max)
		err = EFBIG;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The will_user.<name> entries. */
static int read_will_user(struct mqtt_options *o, tether_params *p)
{
	static const char pfx[] = "will_user.";
	size_t n = tether_params_count(p);
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const char *key = tether_params_key(p, i), *v = NULL;
		struct mqtt_user_prop *u;

		if (!key || strncmp(key, pfx, sizeof(pfx) - 1) != 0)
			continue;
		if (tether_params_string(p, key, "a user property value", NULL,
					 &v) != 0 || !v) {
			rc = TETHER_ECONFIG;
			continue;
		}
		if (o->n_will_user == MQTT_WILL_USER_MAX) {
			rc = tether_params_fail(p, key,
						"at most %d will user properties",
						MQTT_WILL_USER_MAX);
			continue;
		}
		if (strlen(key + sizeof(pfx) - 1) > 65535 || strlen(v) > 65535) {
			rc = tether_params_fail(p, key, "longer than 65535 bytes");
			continue;
		}
		if (!o->will_user) {
			o->will_user = calloc(MQTT_WILL_USER_MAX, sizeof(*u));
			if (!o->will_user)
				return TETHER_ENOMEM;
		}
		u = &o->will_user[o->n_will_user];
		u->name = strdup(key + sizeof(pfx) - 1);
		u->value = strdup(v);
		o->n_will_user++;
		if (!u->name || !u->value)
			return TETHER_ENOMEM;
	}
	return rc;
}

/* The last will: will_topic and what goes with it. */
static int read_will(struct mqtt_options *o, tether_params *p)
{
	const char *topic = NULL, *payload = NULL, *file = NULL, *ct = NULL;
	uint64_t qos = 0, ms;
	int bad = 0, rc;

	if (tether_params_string(p, "will_topic", "a topic", NULL, &topic) ||
	    tether_params_string(p, "will_payload", "a payload", NULL,
				 &payload) ||
	    tether_params_string(p, "will_payload_file", "a file name", NULL,
				 &file) ||
	    tether_params_string(p, "will_content_type", "a content type",
				 NULL, &ct))
		bad = 1;
	if (tether_params_uint(p, "will_qos", 0, 0, 2, &qos))
		bad = 1;
	o->will_qos = (int)qos;
	if (tether_params_bool(p, "will_retain", 0, &o->will_retain))
		bad = 1;
	o->will_delay_set = tether_params_get(p, "will_delay") != NULL;
	if (tether_params_duration(p, "will_delay", 0, 0,
				   WILL_SECONDS_MAX * 1000ull, &ms))
		bad = 1;
	o->will_delay_s = (uint32_t)(ms / 1000);
	o->will_expiry_set = tether_params_get(p, "will_expiry") != NULL;
	if (tether_params_duration(p, "will_expiry", 0, 0,
				   WILL_SECONDS_MAX * 1000ull, &ms))
		bad = 1;
	o->will_expiry_s = (uint32_t)(ms / 1000);
	rc = read_will_user(o, p);
	if (rc == TETHER_ENOMEM)
		return rc;
	if (rc)
		bad = 1;
	if (topic && (!*topic || strpbrk(topic, "+#")))
		bad = tether_params_fail(p, "will_topic",
					 "expected a topic name without "
					 "wildcards") != 0;
	if (payload && file)
		bad = tether_params_fail(p, "will_payload_file",
					 "give will_payload or "
					 "will_payload_file, not both") != 0;
	if (payload && strlen(payload) > MQTT_WILL_PAYLOAD_MAX)
		bad = tether_params_fail(p, "will_payload",
					 "longer than 65535 bytes") != 0;
	if (!topic) {
		static const char *const needs_topic[] = {
		    "will_payload", "will_payload_file", "will_qos",
		    "will_retain", "will_delay", "will_expiry",
		    "will_content_type", NULL};
		for (size_t i = 0; needs_topic[i]; i++)
			if (tether_params_get(p, needs_topic[i]))
				bad = tether_params_fail(p, needs_topic[i],
							 "needs will_topic") != 0;
		if (o->n_will_user)
			bad = tether_params_fail(p, "will_topic",
						 "will_user needs will_topic") != 0;
	}
	if (o->version != MQTTVERSION_5) {
		static const char *const v5[] = {"will_delay", "will_expiry",
						 "will_content_type", NULL};
		for (size_t i = 0; v5[i]; i++)
			if (tether_params_get(p, v5[i]))
				bad = tether_params_fail(p, v5[i],
							 "needs version 5") != 0;
		if (o->n_will_user)
			bad = tether_params_fail(p, "will_topic",
						 "will_user needs version 5") != 0;
	}
	if (bad)
		return TETHER_ECONFIG;
	if (!topic)
		return 0;
	o->will_topic = strdup(topic);
	if (!o->will_topic)
		return TETHER_ENOMEM;
	if (ct && !(o->will_content_type = strdup(ct)))
		return TETHER_ENOMEM;
	if (file) {
		int err = read_small_file(file, MQTT_WILL_PAYLOAD_MAX,
					  &o->will_payload, &o->will_len);
		if (err == ENOMEM)
			return TETHER_ENOMEM;
		if (err) {
			tether_params_fail(p, "will_payload_file", "%s: %s",
					   file,
					   err == EFBIG ? "larger than 65535 "
							  "bytes"
							: strerror(err));
			return TETHER_ECONFIG;
		}
	} else {
		o->will_payload = strdup(payload ? payload : "");
		if (!o->will_payload)
			return TETHER_ENOMEM;
		o->will_len = strlen(o->will_payload);
	}
	return 0;
}

int tth_mqtt_options_read(struct mqtt_options *o, tether_conn *conn,
			  tether_params *p)
{
	const char *s;
	uint64_t ms, expiry_ms;
	int ver = 0, bad = 0, rc;
	char idbuf[256];

	if (tether_params_choice(p, "version", versions, 0, &ver, NULL))
		bad = 1;
	o->version = ver >= 3 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	if (tether_params_bool(p, "clean_start", 1, &o->clean_start))
		bad = 1;
	if (tether_params_duration(p, "keepalive", KEEPALIVE_DEFAULT_MS, 0,
				   KEEPALIVE_MAX_S * 1000ull, &ms))
		bad = 1;
	o->keepalive_s = (int)((ms + 999) / 1000);
	if (tether_params_size(p, "max_message", MQTT_DEFAULT_MAX_MESSAGE,
			       MQTT_MIN_MAX_MESSAGE, MQTT_MAX_MAX_MESSAGE,
			       &o->max_message))
		bad = 1;
	/* MQTT 5's default expiry of 0 ends the session at the disconnect,
	   which is not what clean_start: false asks for; keep it instead,
	   as 3.1.1 does. */
	if (tether_params_duration(p, "session_expiry",
				   o->clean_start ? 0
						  : SESSION_EXPIRY_NEVER * 1000ull,
				   0, SESSION_EXPIRY_NEVER * 1000ull,
				   &expiry_ms))
		bad = 1;
	o->session_expiry_s = (uint32_t)(expiry_ms / 1000);
	if (tether_params_get(p, "session_expiry") &&
	    o->version != MQTTVERSION_5)
		bad = tether_params_fail(p, "session_expiry",
					 "needs version 5") != 0;
	if (tether_params_bool(p, "verify", 1, &o->verify))
		bad = 1;

	snprintf(idbuf, sizeof(idbuf), "tether-%s",
		 tether_transport_conn_name(conn));
	if (tether_params_string(p, "client_id", "a client identifier", idbuf,
				 &s))
		bad = 1;
	if (dup_opt(s, &o->client_id))
		goto nomem;
#define TEXT(key, what, field)                                                 \
	do {                                                                   \
		if (tether_params_string(p, key, what, NULL, &s))              \
			bad = 1;                                               \
		if (dup_opt(s, &o->field))                                     \
			goto nomem;                                            \
	} while (0)
	TEXT("username", "a user name", username);
	TEXT("ca_file", "a file name", ca_file);
	TEXT("ca_dir", "a directory", ca_dir);
	TEXT("cert_file", "a file name", cert_file);
	TEXT("key_file", "a file name", key_file);
	TEXT("key_password", "a password", key_password);
#undef TEXT
	if (tether_params_string(p, "alpn", "ALPN protocol names", NULL, &s))
		bad = 1;
	if (s) {
		unsigned char wire[TTH_ALPN_MAX];

		if (tth_alpn_wire(s, wire, sizeof(wire), &o->alpn_len) != 0) {
			bad = tether_params_fail(
				  p, "alpn",
				  "expected protocol names (1 to 255 "
				  "printable bytes each, no spaces) separated "
				  "by commas, e.g. \"mqtt\"") != 0;
		} else {
			/* NUL-ended too: Paho 1.3.12 copies protos with
			   strlen, whatever protos_len says (no length byte
			   is 0: every name has 1 to 255 bytes) */
			o->alpn = malloc(o->alpn_len + 1);
			if (!o->alpn)
				goto nomem;
			memcpy(o->alpn, wire, o->alpn_len);
			o->alpn[o->alpn_len] = 0;
		}
	}
	if (tether_params_string(p, "proxy", "a proxy URI or env", NULL, &s))
		bad = 1;
	if (s && strcmp(s, "env") != 0) {
		char h[256];
		unsigned port;

		if (tth_proxy_parse(s, h, sizeof(h), &port) != 0)
			bad = tether_params_fail(p, "proxy",
						 "expected http://HOST:PORT (no "
						 "credentials) or env") != 0;
	}
	if (dup_opt(s, &o->proxy))
		goto nomem;
	/* password, password_env or password_file (first line) */
	rc = tether_params_secret(p, "password", "a password", &o->password);
	if (rc == TETHER_ENOMEM)
		goto nomem;
	if (rc)
		bad = 1;
	if (o->password && !o->username)
		bad = tether_params_fail(p, "password",
					 "needs a username") != 0;

	rc = read_will(o, p);
	if (rc == TETHER_ENOMEM)
		goto nomem;
	if (rc)
		bad = 1;

	if (bad)
		return TETHER_ECONFIG;
	return 0;
nomem:
	return TETHER_ENOMEM;
}

void tth_mqtt_options_cleanup(struct mqtt_options *o)
{
	free(o->client_id);
	tether_secret_free(o->username);
	tether_secret_free(o->password);
	free(o->ca_file);
	free(o->ca_dir);
	free(o->cert_file);
	free(o->key_file);
	tether_secret_free(o->key_password);
	free(o->alpn);
	free(o->proxy);
	free(o->will_topic);
	free(o->will_payload);
	free(o->will_content_type);
	for (size_t i = 0; i < o->n_will_user; i++) {
		free(o->will_user[i].name);
		free(o->will_user[i].value);
	}
	free(o->will_user);
}

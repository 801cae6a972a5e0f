/*
 * The MQTT transport's options: reading a link's tether_params into its
 * settings, with their validation and the secrets (password, password_env,
 * password_file, key_password). See docs/transport-mqtt.md.
 */
#include "config.h"

#include <MQTTAsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_options.h"

#define KEEPALIVE_MAX_S 65535
#define KEEPALIVE_DEFAULT_MS 30000
#define SESSION_EXPIRY_NEVER 0xFFFFFFFFu

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
    {.name = "session_expiry", .type = TETHER_OPTION_DURATION,
     .min = 0, .max = SESSION_EXPIRY_NEVER * 1000ull,
     .doc = "MQTT 5: how long the broker keeps the session"},
    {.name = "username", .type = TETHER_OPTION_TEXT, .doc = "user name"},
    {.name = "password", .type = TETHER_OPTION_TEXT, .secret = 1,
     .doc = "password (needs username)"},
    {.name = "ca_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "CA certificates (PEM file)"},
    {.name = "ca_dir", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "CA certificates (directory)"},
    {.name = "cert_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "client certificate (PEM)"},
    {.name = "key_file", .type = TETHER_OPTION_TEXT,
     .place = TETHER_OPTION_TLS, .doc = "client key (PEM)"},
    {.name = "key_password", .type = TETHER_OPTION_TEXT, .secret = 1,
     .place = TETHER_OPTION_TLS, .doc = "the client key's password"},
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
	/* password, password_env or password_file (first line) */
	rc = tether_params_secret(p, "password", "a password", &o->password);
	if (rc == TETHER_ENOMEM)
		goto nomem;
	if (rc)
		bad = 1;
	if (o->password && !o->username)
		bad = tether_params_fail(p, "password",
					 "needs a username") != 0;

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
}

/*
 * What the MQTT transport's files share: mqtt_paho.c (the Paho clients and
 * the ops) and mqtt_options.c (reading a link's options).
 */
#ifndef TETHER_MQTT_OPTIONS_H
#define TETHER_MQTT_OPTIONS_H

#include <stdint.h>

#include <tether/transport.h>

/* Every option tth_mqtt_options_read reads (the ops' `options`). */
extern const struct tether_option tth_mqtt_options[];

/* The schemes' default ports (the ops' `default_ports`). */
extern const struct tether_default_port tth_mqtt_default_ports[];

/* A link's settings, read from its tether_params by tth_mqtt_options_read. */
struct mqtt_options {
	int version; /* MQTTVERSION_3_1_1 or MQTTVERSION_5 */
	int clean_start;
	int keepalive_s;
	uint32_t session_expiry_s; /* MQTT 5 only */
	char *client_id;
	char *username;
	char *password;
	int verify;
	char *ca_file, *ca_dir, *cert_file, *key_file, *key_password;
	char *proxy; /* HTTP CONNECT proxy: "http://HOST:PORT", "env", NULL */
	unsigned char *alpn; /* ALPN in the TLS wire format; NULL: none */
	size_t alpn_len;
	/* The last will (will_*): will_topic NULL means none. */
	char *will_topic;
	char *will_payload; /* will_payload or will_payload_file's bytes */
	size_t will_len;
	int will_qos, will_retain;
	/* MQTT 5 will properties; *_set: given */
	uint32_t will_delay_s, will_expiry_s;
	int will_delay_set, will_expiry_set;
	char *will_content_type;
	struct mqtt_user_prop {
		char *name, *value;
	} *will_user;
	size_t n_will_user;
};

/* A will payload file holds at most this (MQTT's two-byte length). */
#define MQTT_WILL_PAYLOAD_MAX 65535
/* At most this many will_user.<name> properties. */
#define MQTT_WILL_USER_MAX 32

/*
 * Fill *o (zeroed by the caller) from p; conn names the default client_id.
 * Returns 0, TETHER_ECONFIG (the reasons are recorded in p) or
 * TETHER_ENOMEM; on failure *o may hold part of the settings:
 * tth_mqtt_options_cleanup() it either way.
 */
int tth_mqtt_options_read(struct mqtt_options *o, tether_conn *conn,
			  tether_params *p);

/* Free (wiping the secrets) what tth_mqtt_options_read allocated; *o itself
   is the caller's. */
void tth_mqtt_options_cleanup(struct mqtt_options *o);

/* What tth_mqtt_tls_diagnose found (transports/mqtt_tls_diag.c). */
enum tth_mqtt_diag_verdict {
	TTH_MQTT_DIAG_UNKNOWN = 0, /* it could not tell: keep Paho's word */
	TTH_MQTT_DIAG_REFUSED,     /* the TCP connect is refused */
	TTH_MQTT_DIAG_VERIFY,      /* the certificate does not verify */
	TTH_MQTT_DIAG_HANDSHAKE,   /* the TLS handshake itself fails */
};

struct tth_mqtt_diag {
	enum tth_mqtt_diag_verdict verdict;
	char text[400]; /* VERIFY, HANDSHAKE: what to tell */
};

/*
 * Paho failed a TLS connect to uri without saying why: run a handshake of
 * our own with the same CA (ca_file / ca_dir; both NULL: the system's)
 * and host name, at most 2 s. Blocking: Paho's thread only.
 */
void tth_mqtt_tls_diagnose(const char *uri, const char *ca_file,
			   const char *ca_dir, struct tth_mqtt_diag *d);

#endif

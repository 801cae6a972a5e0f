/* A Paho MQTTAsync client with bounded waits, for the harness suites
 * (tests only; not part of libharness, which does not depend on Paho).
 *
 * Paho calls back on its own thread: the fields below are written under
 * `mu` and tpc_wait() reads them under it. Every helper fails the running
 * test (ck_assert) when a call it makes is refused. */
#ifndef TETHER_HARNESS_PAHO_CLIENT_H
#define TETHER_HARNESS_PAHO_CLIENT_H

#include <MQTTAsync.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct tpc_client {
	MQTTAsync h;
	int version;	       /* 4 (MQTT 3.1.1) or 5 */
	int connect_timeout_s; /* tpc_init sets 5 */
	int keepalive_s;       /* tpc_init sets 10 */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;   /* the pending call finished, one way or the other */
	int ok;	    /* ... successfully */
	int code;   /* v3 CONNACK rc, v5 reason code (docs/transport-mqtt.md) */
	int reason; /* v5 failure reasonCode */
	char sref[128];	  /* v5 server reference in the CONNACK, if any */
	int granted;	  /* QoS granted by the last subscribe */
	int lost;	  /* connectionLost seen */
	int disconnected; /* v5 server DISCONNECT seen */
	int disc_reason;
	char disc_sref[128];
	uint64_t lost_at_ms;
	int msgs; /* messages received */
	char last[64];
};

/* "scheme://127.0.0.1:port" into out. */
void tpc_uri(char *out, size_t n, const char *scheme, uint16_t port);

/* Create a client of MQTT version 4 or 5 for uri, with client id `id`. */
void tpc_init(struct tpc_client *c, const char *uri, const char *id,
	      int version);

/* Wait until *v >= want, at most ms. Returns *v. */
int tpc_wait(struct tpc_client *c, const int *v, int want, int ms);

/* Connect (clean: clean session / clean start) and wait for the outcome,
 * at most connect_timeout_s + 5 s. Returns 0 or the failure code (-1 when
 * Paho gives none). */
int tpc_connect(struct tpc_client *c, const char *user, const char *pass,
		int clean);

/* Subscribe and wait at most wait_ms for the SUBACK, which must grant it.
 * Returns the granted QoS. */
int tpc_subscribe(struct tpc_client *c, const char *topic, int qos,
		  int wait_ms);

/* Publish text and wait at most wait_ms for it to complete (the PUBACK at
 * QoS 1), which must succeed. */
void tpc_publish(struct tpc_client *c, const char *topic, const char *text,
		 int qos, int wait_ms);

/* As tpc_publish, MQTT 5 only, with a Content Type and one User Property
 * (name = value). */
void tpc_publish5(struct tpc_client *c, const char *topic, const char *text,
		  const char *content_type, const char *name,
		  const char *value, int wait_ms);
/* Disconnect, waiting at most 3 s. */
void tpc_disconnect(struct tpc_client *c);

/* Disconnect if connected, then destroy. */
void tpc_free(struct tpc_client *c);

#endif

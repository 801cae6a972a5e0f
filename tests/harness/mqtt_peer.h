/* A scripted MQTT server on loopback, for the answers mosquitto never gives
 * (refusal codes, server references, server DISCONNECTs, a hung server).
 * Tests only.
 *
 * It serves on its own thread. Each client's CONNECT (MQTT 3.1.1 or 5) is
 * answered by the script in force when the client's TCP connection was
 * accepted; an accepted client then gets PINGRESP, SUBACK (granting the
 * requested QoS), UNSUBACK, PUBACK/PUBREC/PUBCOMP, and is closed on its
 * DISCONNECT. The functions below may be called from any thread. */
#ifndef TETHER_HARNESS_MQTT_PEER_H
#define TETHER_HARNESS_MQTT_PEER_H

#include <stdint.h>

struct th_mqtt_peer;

struct th_mqtt_peer_script {
	/* v3: CONNACK return code 0..5; v5: reason code (0x00, 0x86, 0x89,
	 * 0x9C...). Anything but 0 closes the connection after the CONNACK. */
	int connack_code;
	/* v5: property 0x1C in the CONNACK (and the DISCONNECT) if not NULL. */
	const char *server_reference;
	/* >= 0: that many ms after an accepting CONNACK, send DISCONNECT with
	 * disconnect_reason (v5) or just close (v3); -1: never. */
	int disconnect_after_ms;
	int disconnect_reason;
	/* Accept TCP, read and count CONNECT, never answer anything. */
	int silent;
	/* A SUBSCRIBE or UNSUBSCRIBE of exactly this filter is refused:
	 * v5 with refuse_code (0x87, 0x8F...), v3 SUBACK 0x80. Copied. */
	const char *refuse_topic;
	int refuse_code;
};

/* Start listening on 127.0.0.1:<ephemeral> and serving with script s
 * (copied; NULL = accept everyone, never disconnect). Returns 0 or -errno. */
int th_mqtt_peer_start(const struct th_mqtt_peer_script *s,
		       struct th_mqtt_peer **out);

uint16_t th_mqtt_peer_port(const struct th_mqtt_peer *p);

/* Replace the script for connections accepted from now on (copied). */
void th_mqtt_peer_set_script(struct th_mqtt_peer *p,
			     const struct th_mqtt_peer_script *s);

/* CONNECT packets seen so far. */
unsigned th_mqtt_peer_connects(const struct th_mqtt_peer *p);

/* Protocol level of the last CONNECT: 4 (3.1.1), 5, 3 (3.1); 0 before any. */
int th_mqtt_peer_last_version(const struct th_mqtt_peer *p);

/* Stop the thread, close every connection, free. NULL is a no-op. */
void th_mqtt_peer_free(struct th_mqtt_peer *p);

#endif

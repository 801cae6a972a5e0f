/*
 * Outbound MQTT 5 properties (core/store/props.c): checked once when
 * tether_conn_send() accepts a message, copied into its queue entry, and
 * kept in the spool in the form MQTT puts on the wire (identifier, then
 * value; integers big-endian, strings and binary data with a two-byte
 * length), so a recovered message carries exactly what was accepted.
 *
 * The names are struct tether_property's (include/tether/tether.h): the
 * five a PUBLISH may carry from a client (payload_format_indicator,
 * message_expiry_interval, content_type, response_topic,
 * correlation_data) and User Properties. Pure functions: no I/O, no
 * locks.
 */
#ifndef TETHER_PROPS_INT_H
#define TETHER_PROPS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/tether.h>

/* MQTT 5 property identifiers (3.3.2.3) of the outbound properties. */
#define TTH_PROP_PAYLOAD_FORMAT 0x01
#define TTH_PROP_MESSAGE_EXPIRY 0x02
#define TTH_PROP_CONTENT_TYPE 0x03
#define TTH_PROP_RESPONSE_TOPIC 0x08
#define TTH_PROP_CORRELATION_DATA 0x09
#define TTH_PROP_USER 0x26

/* The identifier of an outbound property's name (user: TTH_PROP_USER),
 * or 0 for a name a client cannot send. */
int tth_prop_id(const struct tether_property *p);

/*
 * Check n properties (v may be NULL when n is 0) and say how many bytes
 * tth_props_encode() needs. payload/len: the message's, checked as UTF-8
 * when payload_format_indicator is 1.
 * @return 0; TETHER_ENOTSUP (a name no client may send, e.g.
 *   "topic_alias"); TETHER_EINVAL (more than TETHER_PROPS_MAX, above
 *   TETHER_PROPS_MAX_BYTES, a string that is not UTF-8 or holds a NUL, a
 *   value over 65535 bytes, a number out of range, a wildcard or empty
 *   response_topic, a property other than a User Property twice, a
 *   payload that is not UTF-8 under payload_format_indicator 1).
 */
int tth_props_check(const struct tether_property *v, size_t n,
		    const void *payload, size_t len, size_t *encoded);

/* Write checked properties, tth_props_check's `encoded` bytes, to buf. */
void tth_props_encode(const struct tether_property *v, size_t n,
		      uint8_t *buf);

/*
 * Decode an encoded block into a malloc'ed array (*out, *n; the strings
 * and names NUL-terminated, in the same block: free(*out) frees all).
 * len 0: *out NULL, *n 0. @return 0, TETHER_EINVAL (malformed),
 * TETHER_ENOMEM.
 */
int tth_props_decode(const uint8_t *buf, size_t len,
		     struct tether_property **out, size_t *n);

/* Bytes tth_props_copy() needs for v (the array, names, values). */
size_t tth_props_copy_size(const struct tether_property *v, size_t n);
/* Deep-copy v into dst (tth_props_copy_size bytes, aligned for a
 * struct tether_property); returns the copied array. */
struct tether_property *tth_props_copy(const struct tether_property *v,
				       size_t n, void *dst);

/* Whether s[0..len) is UTF-8 as MQTT allows it (no NUL, no surrogate, no
 * overlong form, nothing above U+10FFFF). */
int tth_utf8_ok(const void *s, size_t len);

#endif

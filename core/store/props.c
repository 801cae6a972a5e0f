/*
 * Outbound MQTT 5 properties: checked, copied, encoded for the spool and
 * decoded back (props-int.h). The limits are the public ones
 * (TETHER_PROPS_MAX, TETHER_PROPS_MAX_BYTES) and MQTT's own (two-byte
 * lengths), so nothing a caller hands in can grow a buffer unbounded.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "props-int.h"

#define VALUE_MAX 65535u

static const struct {
	const char *name;
	int id;
} names[] = {
    {"payload_format_indicator", TTH_PROP_PAYLOAD_FORMAT},
    {"message_expiry_interval", TTH_PROP_MESSAGE_EXPIRY},
    {"content_type", TTH_PROP_CONTENT_TYPE},
    {"response_topic", TTH_PROP_RESPONSE_TOPIC},
    {"correlation_data", TTH_PROP_CORRELATION_DATA},
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

int tth_prop_id(const struct tether_property *p)
{
	if (!p->name)
		return 0;
	if (p->user)
		return TTH_PROP_USER;
	for (size_t i = 0; i < NNAMES; i++)
		if (strcmp(p->name, names[i].name) == 0)
			return names[i].id;
	return 0;
}

static const char *id_name(int id)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (names[i].id == id)
			return names[i].name;
	return NULL;
}

int tth_utf8_ok(const void *s, size_t len)
{
	const unsigned char *p = s, *e = p + len;

	while (p < e) {
		unsigned c = *p, need;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if ((size_t)(e - p) <= need)
			return 0;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		p += need + 1;
	}
	return 1;
}

static int is_string(int id)
{
	return id == TTH_PROP_CONTENT_TYPE || id == TTH_PROP_RESPONSE_TOPIC;
}

/* A value (value/len) of a string or binary property. */
static int value_ok(const struct tether_property *p, int string)
{
	if (p->len > VALUE_MAX || (p->len && !p->value))
		return 0;
	return !string || tth_utf8_ok(p->value, p->len);
}

int tth_props_check(const struct tether_property *v, size_t n,
		    const void *payload, size_t len, size_t *encoded)
{
	size_t total = 0;
	unsigned seen = 0;

	*encoded = 0;
	if (n == 0)
		return 0;
	if (!v || n > TETHER_PROPS_MAX)
		return TETHER_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct tether_property *p = &v[i];
		int id;

		if (!p->name)
			return TETHER_EINVAL;
		id = tth_prop_id(p);
		if (!id)
			return TETHER_ENOTSUP;
		if (id != TTH_PROP_USER) {
			if (seen & (1u << id))
				return TETHER_EINVAL; /* MQTT allows one */
			seen |= 1u << id;
		}
		switch (id) {
		case TTH_PROP_PAYLOAD_FORMAT:
			if (p->number > 1)
				return TETHER_EINVAL;
			if (p->number == 1 && !tth_utf8_ok(payload, len))
				return TETHER_EINVAL;
			total += 2;
			break;
		case TTH_PROP_MESSAGE_EXPIRY:
			if (p->number > UINT32_MAX)
				return TETHER_EINVAL;
			total += 5;
			break;
		case TTH_PROP_RESPONSE_TOPIC:
			if (!p->len || memchr(p->value, '+', p->len) ||
			    memchr(p->value, '#', p->len))
				return TETHER_EINVAL;
			/* fall through */
		case TTH_PROP_CONTENT_TYPE:
		case TTH_PROP_CORRELATION_DATA:
			if (!value_ok(p, is_string(id)))
				return TETHER_EINVAL;
			total += 3 + p->len;
			break;
		default: { /* a User Property: name and value, both strings */
			size_t nl = strlen(p->name);

			if (nl > VALUE_MAX || !tth_utf8_ok(p->name, nl) ||
			    !value_ok(p, 1))
				return TETHER_EINVAL;
			total += 5 + nl + p->len;
			break;
		}
		}
		if (total > TETHER_PROPS_MAX_BYTES)
			return TETHER_EINVAL;
	}
	*encoded = total;
	return 0;
}

static uint8_t *put16(uint8_t *b, size_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
	return b + 2;
}

static uint8_t *put_bytes(uint8_t *b, const void *p, size_t len)
{
	b = put16(b, len);
	if (len)
		memcpy(b, p, len);
	return b + len;
}

void tth_props_encode(const struct tether_property *v, size_t n, uint8_t *b)
{
	for (size_t i = 0; i < n; i++) {
		const struct tether_property *p = &v[i];
		int id = tth_prop_id(p);

		*b++ = (uint8_t)id;
		switch (id) {
		case TTH_PROP_PAYLOAD_FORMAT:
			*b++ = (uint8_t)p->number;
			break;
		case TTH_PROP_MESSAGE_EXPIRY:
			b[0] = (uint8_t)(p->number >> 24);
			b[1] = (uint8_t)(p->number >> 16);
			b[2] = (uint8_t)(p->number >> 8);
			b[3] = (uint8_t)p->number;
			b += 4;
			break;
		case TTH_PROP_USER:
			b = put_bytes(b, p->name, strlen(p->name));
			b = put_bytes(b, p->value, p->len);
			break;
		default:
			b = put_bytes(b, p->value, p->len);
			break;
		}
	}
}

/* One decoded property: where its pieces are in the encoded block. */
struct raw {
	int id;
	uint32_t number;
	const uint8_t *name, *value;
	size_t nlen, vlen;
};

static int get_bytes(const uint8_t **b, const uint8_t *e, const uint8_t **p,
		     size_t *len)
{
	if (e - *b < 2)
		return -1;
	*len = (size_t)(*b)[0] << 8 | (*b)[1];
	*b += 2;
	if ((size_t)(e - *b) < *len)
		return -1;
	*p = *b;
	*b += *len;
	return 0;
}

/* Read the next property at *b; -1 when malformed. */
static int next_raw(const uint8_t **b, const uint8_t *e, struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->id = *(*b)++;
	switch (r->id) {
	case TTH_PROP_PAYLOAD_FORMAT:
		if (*b >= e)
			return -1;
		r->number = *(*b)++;
		return 0;
	case TTH_PROP_MESSAGE_EXPIRY:
		if (e - *b < 4)
			return -1;
		r->number = (uint32_t)(*b)[0] << 24 | (uint32_t)(*b)[1] << 16 |
			    (uint32_t)(*b)[2] << 8 | (*b)[3];
		*b += 4;
		return 0;
	case TTH_PROP_USER:
		if (get_bytes(b, e, &r->name, &r->nlen))
			return -1;
		/* fall through */
	case TTH_PROP_CONTENT_TYPE:
	case TTH_PROP_RESPONSE_TOPIC:
	case TTH_PROP_CORRELATION_DATA:
		return get_bytes(b, e, &r->value, &r->vlen);
	default:
		return -1;
	}
}

int tth_props_decode(const uint8_t *buf, size_t len,
		     struct tether_property **out, size_t *n)
{
	const uint8_t *b = buf, *e = buf + len;
	struct tether_property *v;
	struct raw r;
	size_t count = 0, bytes = 0;
	char *s;

	*out = NULL;
	*n = 0;
	if (len == 0)
		return 0;
	if (len > TETHER_PROPS_MAX_BYTES)
		return TETHER_EINVAL;
	while (b < e) {
		if (next_raw(&b, e, &r) || ++count > TETHER_PROPS_MAX)
			return TETHER_EINVAL;
		bytes += r.nlen + 1 + r.vlen + 1;
	}
	v = malloc(count * sizeof(*v) + bytes);
	if (!v)
		return TETHER_ENOMEM;
	s = (char *)(v + count);
	b = buf;
	for (size_t i = 0; i < count; i++) {
		struct tether_property *p = &v[i];

		next_raw(&b, e, &r);
		memset(p, 0, sizeof(*p));
		if (r.id == TTH_PROP_USER) {
			memcpy(s, r.name, r.nlen);
			s[r.nlen] = '\0';
			p->name = s;
			p->user = 1;
			s += r.nlen + 1;
		} else {
			p->name = id_name(r.id);
		}
		if (r.id == TTH_PROP_PAYLOAD_FORMAT ||
		    r.id == TTH_PROP_MESSAGE_EXPIRY) {
			p->number = r.number;
			continue;
		}
		if (r.vlen)
			memcpy(s, r.value, r.vlen);
		s[r.vlen] = '\0';
		p->value = s;
		p->len = r.vlen;
		s += r.vlen + 1;
	}
	*out = v;
	*n = count;
	return 0;
}

size_t tth_props_copy_size(const struct tether_property *v, size_t n)
{
	size_t size = n * sizeof(*v);

	for (size_t i = 0; i < n; i++)
		size += strlen(v[i].name) + 1 + (v[i].value ? v[i].len + 1 : 0);
	return size;
}

struct tether_property *tth_props_copy(const struct tether_property *v,
				       size_t n, void *dst)
{
	struct tether_property *out = dst;
	char *bytes = (char *)(out + n);

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i].name) + 1;

		out[i] = v[i];
		out[i].name = memcpy(bytes, v[i].name, l);
		bytes += l;
		if (v[i].value) {
			if (v[i].len)
				memcpy(bytes, v[i].value, v[i].len);
			bytes[v[i].len] = '\0';
			out[i].value = bytes;
			bytes += v[i].len + 1;
		}
	}
	return out;
}

/* A scripted MQTT 3.1.1 / 5 server for the tests (docs/architecture.md). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mqtt_peer.h"
#include "net.h"

enum {
	MAX_CLIENTS = 64,
	INBUF = 8192,
	LINGER_MS = 1000, /* after our FIN, how long we drain the client */
	MAX_SUB_TOPICS = 256,
};

enum {
	CONNECT = 1,
	PUBLISH = 3,
	PUBREL = 6,
	SUBSCRIBE = 8,
	UNSUBSCRIBE = 10,
	PINGREQ = 12,
	DISCONNECT = 14,
};

enum cstate {
	C_FREE = 0,
	C_WAIT_CONNECT, /* TCP accepted, no CONNECT yet */
	C_ACCEPTED,	/* CONNACK 0 sent: serving */
	C_SILENT,	/* read everything, answer nothing */
	C_LINGER,	/* we sent FIN; drain until the client closes */
};

/* A script with its string owned. */
struct script {
	int connack_code;
	char *server_reference;
	int disconnect_after_ms;
	int disconnect_reason;
	int silent;
	char *refuse_topic;
	int refuse_code;
};

struct client {
	int fd;
	enum cstate st;
	int version;
	struct script sc;  /* the script in force when it was accepted */
	uint64_t deadline; /* ms: DISCONNECT (C_ACCEPTED), close (C_LINGER) */
	size_t len;	   /* bytes in in[] */
	size_t skip;	   /* bytes of an oversized PUBLISH still to drop */
	uint8_t in[INBUF];
};

struct th_mqtt_peer {
	int lfd;
	int wake;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t mu; /* guards script */
	struct script script;
	atomic_uint connects;
	atomic_int last_version;
	struct client c[MAX_CLIENTS];
};

static void script_copy(struct script *dst, const struct th_mqtt_peer_script *s)
{
	memset(dst, 0, sizeof(*dst));
	dst->disconnect_after_ms = -1;
	if (!s)
		return;
	dst->connack_code = s->connack_code;
	dst->server_reference =
	    s->server_reference ? strdup(s->server_reference) : NULL;
	dst->disconnect_after_ms = s->disconnect_after_ms;
	dst->disconnect_reason = s->disconnect_reason;
	dst->silent = s->silent;
	dst->refuse_topic = s->refuse_topic ? strdup(s->refuse_topic) : NULL;
	dst->refuse_code = s->refuse_code;
}

/* ---- wire encoding ------------------------------------------------------ */

static size_t varint_size(size_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static size_t varint_put(uint8_t *out, size_t v)
{
	size_t n = 0;

	do {
		uint8_t b = v % 128;
		v /= 128;
		out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v && n < 4);
	return n;
}

/* Decode a varint from buf[0..len). Returns its byte count, 0 if more bytes
 * are needed, -1 if malformed. */
static int varint_get(const uint8_t *buf, size_t len, size_t *v)
{
	size_t mult = 1;

	*v = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i >= len)
			return 0;
		*v += (size_t)(buf[i] & 0x7f) * mult;
		if (!(buf[i] & 0x80))
			return (int)i + 1;
		mult *= 128;
	}
	return -1;
}

static int send_all(int fd, const uint8_t *buf, size_t n)
{
	/* Our packets are small and the socket buffer is empty enough: a
	 * short write means a client that does not read, so drop it. */
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	return w == (ssize_t)n ? 0 : -1;
}

/* Send a packet: type byte, remaining length, head[hn], then the v5
 * properties block holding the server reference when sref is non-NULL and
 * with_props is set. */
static int send_packet(int fd, uint8_t type, const uint8_t *head, size_t hn,
		       int with_props, const char *sref)
{
	size_t slen = sref ? strlen(sref) : 0;
	size_t plen, rl, n = 0;
	uint8_t *buf;
	int rc;

	if (slen > 65535)
		slen = 65535;
	plen = sref ? 3 + slen : 0;
	rl = hn + (with_props ? varint_size(plen) + plen : 0);
	buf = malloc(1 + 4 + rl + 4);
	if (!buf)
		return -1;
	buf[n++] = type;
	n += varint_put(buf + n, rl);
	memcpy(buf + n, head, hn);
	n += hn;
	if (with_props) {
		n += varint_put(buf + n, plen);
		if (sref) {
			buf[n++] = 0x1C;
			buf[n++] = (uint8_t)(slen >> 8);
			buf[n++] = (uint8_t)slen;
			memcpy(buf + n, sref, slen);
			n += slen;
		}
	}
	rc = send_all(fd, buf, n);
	free(buf);
	return rc;
}

/* ---- connections -------------------------------------------------------- */

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->sc.server_reference);
	free(c->sc.refuse_topic);
	c->sc.server_reference = NULL;
	c->fd = -1;
	c->st = C_FREE;
	c->len = 0;
	c->skip = 0;
	c->deadline = 0;
}

/* Half-close and let the client read what we sent before it sees EOF; a
 * full close with its bytes unread would reset the connection instead. */
static void client_linger(struct client *c)
{
	shutdown(c->fd, SHUT_WR);
	c->st = C_LINGER;
	c->deadline = th_now_ms() + LINGER_MS;
}

static void on_connect(struct th_mqtt_peer *p, struct client *c,
		       const uint8_t *b, size_t n)
{
	size_t name_len = n >= 2 ? ((size_t)b[0] << 8) | b[1] : 0;
	uint8_t head[2];

	/* Protocol name, then the level; the rest does not matter here. */
	if (n < 2 + name_len + 1) {
		client_close(c);
		return;
	}
	c->version = b[2 + name_len];
	atomic_fetch_add(&p->connects, 1);
	atomic_store(&p->last_version, c->version);
	if (c->sc.silent) {
		c->st = C_SILENT;
		return;
	}
	head[0] = 0; /* session present: never */
	head[1] = (uint8_t)c->sc.connack_code;
	if (send_packet(c->fd, 0x20, head, 2, c->version == 5,
			c->sc.server_reference) != 0) {
		client_close(c);
		return;
	}
	if (c->sc.connack_code != 0) {
		client_linger(c);
		return;
	}
	c->st = C_ACCEPTED;
	if (c->sc.disconnect_after_ms >= 0)
		c->deadline =
		    th_now_ms() + (uint64_t)c->sc.disconnect_after_ms + 1;
}

/* Skip the v5 properties at b[*pos]. Returns 0 or -1 if malformed. */
static int skip_props(const struct client *c, const uint8_t *b, size_t n,
		      size_t *pos)
{
	size_t plen;
	int k;

	if (c->version != 5)
		return 0;
	k = varint_get(b + *pos, n - *pos, &plen);
	if (k <= 0 || plen > n - *pos - (size_t)k)
		return -1;
	*pos += (size_t)k + plen;
	return 0;
}

/* SUBSCRIBE -> SUBACK granting each requested QoS; UNSUBSCRIBE ->
 * UNSUBACK (v5: success for each topic). */
static int on_subscribe(struct client *c, int sub, const uint8_t *b, size_t n)
{
	/* packet id, v5: an empty property block, then a code a topic */
	uint8_t head[3 + MAX_SUB_TOPICS];
	size_t pos = 2, count = 0;
	size_t codes = c->version == 5 ? 3 : 2;
	int refuse;

	if (n < 2 || skip_props(c, b, n, &pos) != 0)
		return -1;
	head[0] = b[0];
	head[1] = b[1];
	head[2] = 0;
	while (pos < n) {
		size_t tlen;
		if (n - pos < 2 || count == MAX_SUB_TOPICS)
			return -1;
		tlen = ((size_t)b[pos] << 8) | b[pos + 1];
		pos += 2 + tlen;
		if (pos + (sub ? 1 : 0) > n)
			return -1;
		refuse = c->sc.refuse_topic &&
			 strlen(c->sc.refuse_topic) == tlen &&
			 memcmp(c->sc.refuse_topic, b + pos - tlen, tlen) == 0;
		head[codes + count++] =
		    refuse ? (uint8_t)(c->version == 5 ? c->sc.refuse_code : 0x80)
		    : sub  ? (b[pos++] & 0x03)
			   : 0x00;
		if (refuse && sub)
			pos++;
	}
	if (count == 0)
		return -1;
	if (!sub && c->version != 5)
		count = 0; /* a v3 UNSUBACK is the packet id alone */
	return send_packet(c->fd, sub ? 0x90 : 0xB0, head, codes + count, 0,
			   NULL);
}

static int on_publish(struct client *c, uint8_t flags, const uint8_t *b,
		      size_t n)
{
	int qos = (flags >> 1) & 3;
	size_t pos;
	uint8_t ack[4];

	if (qos == 0)
		return 0;
	if (n < 2)
		return -1;
	pos = 2 + (((size_t)b[0] << 8) | b[1]);
	if (pos + 2 > n)
		return -1;
	ack[0] = qos == 1 ? 0x40 : 0x50; /* PUBACK : PUBREC */
	ack[1] = 2;
	ack[2] = b[pos];
	ack[3] = b[pos + 1];
	return send_all(c->fd, ack, 4);
}

/* One packet (body b[0..n), perhaps only the head of an oversized
 * PUBLISH) from an accepted client. Returns -1 to drop the client. */
static int on_packet(struct client *c, uint8_t first, const uint8_t *b,
		     size_t n)
{
	static const uint8_t pingresp[2] = {0xD0, 0x00};
	uint8_t pubcomp[4] = {0x70, 2, 0, 0};

	switch (first >> 4) {
	case PINGREQ:
		return send_all(c->fd, pingresp, 2);
	case SUBSCRIBE:
		return on_subscribe(c, 1, b, n);
	case UNSUBSCRIBE:
		return on_subscribe(c, 0, b, n);
	case PUBLISH:
		return on_publish(c, first & 0x0f, b, n);
	case PUBREL:
		if (n < 2)
			return -1;
		pubcomp[2] = b[0];
		pubcomp[3] = b[1];
		return send_all(c->fd, pubcomp, 4);
	case DISCONNECT:
	case CONNECT: /* a second CONNECT is a protocol violation */
		return -1;
	default:
		return 0; /* acks of nothing we sent: ignore */
	}
}

/* Parse and answer every complete packet in c->in. */
static void client_parse(struct th_mqtt_peer *p, struct client *c)
{
	size_t off = 0;

	if (c->skip) {
		size_t k = c->skip < c->len ? c->skip : c->len;
		c->skip -= k;
		off = k;
	}
	while (c->st != C_FREE && c->st != C_LINGER && c->len > off) {
		const uint8_t *pkt = c->in + off;
		size_t avail = c->len - off, rl, total;
		int k = varint_get(pkt + 1, avail - 1, &rl);

		if (k < 0) {
			client_close(c);
			return;
		}
		if (k == 0)
			break;
		total = 1 + (size_t)k + rl;
		if (total > avail) {
			/* An oversized PUBLISH is answered from its head, the
			 * rest dropped as it arrives; nothing else may be so
			 * large. */
			if (total <= INBUF || avail < INBUF)
				break;
			if ((pkt[0] >> 4) != PUBLISH ||
			    c->st == C_WAIT_CONNECT) {
				client_close(c);
				return;
			}
		}
		if (c->st == C_WAIT_CONNECT) {
			if ((pkt[0] >> 4) != CONNECT) {
				client_close(c);
				return;
			}
			on_connect(p, c, pkt + 1 + k, rl);
		} else if (c->st == C_ACCEPTED) {
			size_t have =
			    total > avail ? avail - 1 - (size_t)k : rl;
			if (on_packet(c, pkt[0], pkt + 1 + k, have) != 0) {
				client_close(c);
				return;
			}
		}
		if (total > avail) {
			c->skip = total - avail;
			off = c->len;
			break;
		}
		off += total;
	}
	if (c->st == C_FREE)
		return;
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
}

static void client_readable(struct th_mqtt_peer *p, struct client *c)
{
	uint8_t drain[4096];
	uint8_t *dst = c->st == C_LINGER ? drain : c->in + c->len;
	size_t room = c->st == C_LINGER ? sizeof(drain) : INBUF - c->len;
	ssize_t n = recv(c->fd, dst, room, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	if (c->st == C_LINGER)
		return;
	c->len += (size_t)n;
	client_parse(p, c);
}

static void client_deadline(struct client *c)
{
	if (c->st == C_LINGER) {
		client_close(c);
		return;
	}
	/* C_ACCEPTED: the scripted server-side disconnect. */
	if (c->version == 5) {
		uint8_t reason = (uint8_t)c->sc.disconnect_reason;
		if (send_packet(c->fd, 0xE0, &reason, 1, 1,
				c->sc.server_reference) != 0) {
			client_close(c);
			return;
		}
	}
	client_linger(c);
}

static void accept_all(struct th_mqtt_peer *p)
{
	for (;;) {
		int fd =
		    accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < MAX_CLIENTS && !c; i++)
			if (p->c[i].st == C_FREE)
				c = &p->c[i];
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->st = C_WAIT_CONNECT;
		c->version = 0;
		pthread_mutex_lock(&p->mu);
		c->sc = p->script;
		c->sc.server_reference =
		    p->script.server_reference
			? strdup(p->script.server_reference)
			: NULL;
		c->sc.refuse_topic = p->script.refuse_topic
					 ? strdup(p->script.refuse_topic)
					 : NULL;
		pthread_mutex_unlock(&p->mu);
	}
}

static void *serve(void *arg)
{
	struct th_mqtt_peer *p = arg;
	struct pollfd pfd[2 + MAX_CLIENTS];
	struct client *who[2 + MAX_CLIENTS];

	for (;;) {
		nfds_t nfd = 2;
		uint64_t now = th_now_ms(), next = 0;
		int timeout = -1;

		pfd[0] = (struct pollfd){.fd = p->wake, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &p->c[i];
			if (c->st == C_FREE)
				continue;
			who[nfd] = c;
			pfd[nfd++] =
			    (struct pollfd){.fd = c->fd, .events = POLLIN};
			if (c->deadline && (!next || c->deadline < next))
				next = c->deadline;
		}
		if (next)
			timeout = next > now ? (int)(next - now) : 0;
		if (poll(pfd, nfd, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents)
			accept_all(p);
		for (nfds_t i = 2; i < nfd; i++)
			if (pfd[i].revents && who[i]->st != C_FREE)
				client_readable(p, who[i]);
		now = th_now_ms();
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &p->c[i];
			if (c->st != C_FREE && c->deadline &&
			    c->deadline <= now)
				client_deadline(c);
		}
	}
	return NULL;
}

/* ---- public ------------------------------------------------------------- */

int th_mqtt_peer_start(const struct th_mqtt_peer_script *s,
		       struct th_mqtt_peer **out)
{
	struct th_mqtt_peer *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		p->c[i].fd = -1;
	script_copy(&p->script, s);
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->connects, 0);
	atomic_init(&p->last_version, 0);
	p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->lfd = th_listen_loopback(&p->port);
	if (p->wake < 0 || p->lfd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&p->thread, NULL, serve, p);
	if (rc != 0)
		goto fail;
	*out = p;
	return 0;
fail:
	if (p->wake >= 0)
		close(p->wake);
	if (p->lfd >= 0)
		close(p->lfd);
	free(p->script.server_reference);
	free(p->script.refuse_topic);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return rc ? rc : -EIO;
}

uint16_t th_mqtt_peer_port(const struct th_mqtt_peer *p)
{
	return p->port;
}

void th_mqtt_peer_set_script(struct th_mqtt_peer *p,
			     const struct th_mqtt_peer_script *s)
{
	struct script fresh;
	char *old;

	script_copy(&fresh, s);
	pthread_mutex_lock(&p->mu);
	old = p->script.server_reference;
	p->script = fresh;
	pthread_mutex_unlock(&p->mu);
	free(old);
}

unsigned th_mqtt_peer_connects(const struct th_mqtt_peer *p)
{
	return atomic_load(&p->connects);
}

int th_mqtt_peer_last_version(const struct th_mqtt_peer *p)
{
	return atomic_load(&p->last_version);
}

void th_mqtt_peer_free(struct th_mqtt_peer *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	if (write(p->wake, &one, sizeof(one)) != sizeof(one))
		abort(); /* the thread could never be stopped */
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (p->c[i].st != C_FREE)
			client_close(&p->c[i]);
	close(p->wake);
	close(p->lfd);
	free(p->script.server_reference);
	free(p->script.refuse_topic);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

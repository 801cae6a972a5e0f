/* WebSocket test server on libwebsockets 4.1.6 (see ws_server.h for why
 * the frames are handled here rather than by lws's ws role, and why a TLS
 * server leaves them to lws). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "net.h"
#include "ws_history.h"
#include "ws_server-int.h"

#define DEFAULT_SUBPROTOCOL "tether-test"
#define RAW_PROTOCOL "th-ws-server-frames"
#define MAX_FRAME (1u << 20)   /* bigger frames are closed with 1009 */
#define TICK_US (100 * 1000)   /* bounds every lws_service() sleep */
#define CLOSE_ACK_S 3          /* wait this long for the client's close */
#define BIND_TRIES 8
#define HISTORY_DEFAULT 1000   /* messages kept per session */


/* ---- options ----------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void opts_clear(struct opts_copy *c)
{
	free(c->close_reason);
	free(c->require_header);
	memset(c, 0, sizeof(*c));
}

static void opts_assign(struct opts_copy *c, const struct th_ws_server_opts *o)
{
	opts_clear(c);
	if (!o)
		return;
	c->behaviour = o->behaviour;
	c->close_code = o->close_code;
	c->close_reason = dup_or_null(o->close_reason);
	c->close_after_ms = o->close_after_ms;
	c->reject_status = o->reject_status;
	c->require_header = dup_or_null(o->require_header);
}

static void copy_reason(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > MAX_REASON)
		n = MAX_REASON;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- frames out -------------------------------------------------------- */

int th_ws_queue_frame(struct th_ws_conn *c, unsigned char b0,
		       const unsigned char *payload, size_t len)
{
	struct out *o;
	unsigned char *p;
	size_t hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;

	if (!c->raw)
		return -1;
	o = malloc(sizeof(*o) + LWS_PRE + hlen + len);
	if (!o)
		return -1;
	o->next = NULL;
	o->len = hlen + len;
	o->is_close = (b0 & 0x0f) == OP_CLOSE;
	p = o->buf + LWS_PRE;
	*p++ = b0; /* server frames are never masked */
	if (len < 126) {
		*p++ = (unsigned char)len;
	} else if (len < 65536) {
		*p++ = 126;
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	} else {
		*p++ = 127;
		for (int i = 7; i >= 0; i--)
			*p++ = (unsigned char)((uint64_t)len >> (8 * i));
	}
	if (len)
		memcpy(p, payload, len);
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	lws_callback_on_writable(c->raw);
	return 0;
}

static void free_out(struct th_ws_conn *c)
{
	while (c->out_head) {
		struct out *o = c->out_head;
		c->out_head = o->next;
		free(o);
	}
	c->out_tail = NULL;
}

/* Start the closing handshake from our side. */
void th_ws_conn_close(struct th_ws_conn *c, int code, const char *reason)
{
	unsigned char pl[2 + MAX_REASON];
	size_t n = 0;

	if (!c->raw || c->close_sent || c->close_received)
		return;
	if (code > 0) {
		size_t rl = reason ? strlen(reason) : 0;
		if (rl > MAX_REASON)
			rl = MAX_REASON;
		pl[0] = (unsigned char)(code >> 8);
		pl[1] = (unsigned char)code;
		memcpy(pl + 2, reason, rl);
		n = 2 + rl;
	}
	c->close_sent = 1;
	th_ws_queue_frame(c, 0x80 | OP_CLOSE, pl, n);
}

static void close_after_cb(lws_sorted_usec_list_t *sul)
{
	struct th_ws_conn *c =
		lws_container_of(sul, struct th_ws_conn, sul_close);

	th_ws_conn_close(c, c->close_code, c->close_reason);
}

/* ---- frames in --------------------------------------------------------- */

/* Handle one complete, unmasked frame. Returns -1 to hang up now. */
static int on_frame(struct th_ws_conn *c, unsigned char b0, unsigned char *pl,
		    size_t len)
{
	switch (b0 & 0x0f) {
	case OP_TEXT:
		if (b0 == (0x80 | OP_TEXT) && len >= 7 &&
		    !memcmp(pl, "resume ", 7)) {
			if (!c->close_sent && !c->close_received)
				th_ws_on_resume(c, pl + 7, len - 7);
			return 0;
		}
		/* fall through */
	case OP_CONT:
	case OP_BINARY:
		if (!c->close_sent && !c->close_received)
			th_ws_queue_frame(c, b0 & 0x8f, pl, len);
		return 0;
	case OP_PING:
		atomic_fetch_add(&c->srv->pings, 1);
		if (c->behaviour != TH_WS_IGNORE_PINGS && !c->close_sent &&
		    !c->close_received)
			th_ws_queue_frame(c, 0x80 | OP_PONG, pl, len);
		return 0;
	case OP_PONG:
		return 0;
	case OP_CLOSE:
		if (c->close_sent)
			return -1; /* handshake complete */
		c->close_received = 1;
		/* echo the status code back, as RFC 6455 §5.5.1 suggests */
		th_ws_queue_frame(c, 0x80 | OP_CLOSE, pl, len >= 2 ? 2 : 0);
		return 0;
	default:
		th_ws_conn_close(c, 1002, "bad opcode");
		return 0;
	}
}

/* Parse as many whole frames as c->rx holds. Returns -1 to hang up. */
static int parse_frames(struct th_ws_conn *c)
{
	size_t off = 0;

	while (!c->close_received && c->rx_len - off >= 2) {
		unsigned char *f = c->rx + off;
		size_t avail = c->rx_len - off, h = 2;
		uint64_t len = f[1] & 0x7f;

		if (!(f[1] & 0x80)) {
			th_ws_conn_close(c, 1002, "unmasked client frame");
			break;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | f[2 + i];
			h = 10;
		}
		if (len > MAX_FRAME) {
			th_ws_conn_close(c, 1009, "frame too big");
			break;
		}
		if (avail < h + 4 + len)
			break;
		unsigned char *mask = f + h, *pl = f + h + 4;
		for (size_t i = 0; i < len; i++)
			pl[i] ^= mask[i & 3];
		off += h + 4 + (size_t)len;
		if (on_frame(c, f[0], pl, (size_t)len))
			return -1;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
	return 0;
}

static int rx_append(struct th_ws_conn *c, const void *in, size_t len)
{
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 4096;
		unsigned char *p;
		while (cap < c->rx_len + len)
			cap *= 2;
		p = realloc(c->rx, cap);
		if (!p)
			return -1;
		c->rx = p;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	return 0;
}

/* ---- lws callbacks ----------------------------------------------------- */

static void process_requests(struct th_ws_server *s)
{
	int code = 0;
	char reason[MAX_REASON + 1];
	int do_close = 0;

	if (atomic_exchange(&s->pump, 0))
		th_ws_pump_all(s);
	pthread_mutex_lock(&s->mu);
	if (s->close_done != s->close_req) {
		do_close = 1;
		code = s->close_all_code;
		memcpy(reason, s->close_all_reason, sizeof(reason));
	}
	pthread_mutex_unlock(&s->mu);
	if (!do_close)
		return;
	for (struct th_ws_conn *c = s->conns; c; c = c->next)
		th_ws_conn_close(c, code, reason);
	pthread_mutex_lock(&s->mu);
	s->close_done = s->close_req;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct th_ws_server *s =
		lws_container_of(sul, struct th_ws_server, sul_tick);

	process_requests(s);
	th_ws_pump_all(s); /* a lost wake-up costs one tick at most */
	lws_sul_schedule(s->ctx, 0, &s->sul_tick, tick_cb, TICK_US);
}

/* Does the upgrade request carry "Name: value" exactly (name any case)? */
static int has_header(struct lws *wsi, const char *want)
{
	const char *colon = strchr(want, ':');
	char name[128], val[512];
	const char *wval;
	size_t nl;
	int n = -1;

	if (!colon || (nl = (size_t)(colon - want)) + 2 > sizeof(name))
		return 0;
	for (size_t i = 0; i < nl; i++)
		name[i] = (char)((want[i] >= 'A' && want[i] <= 'Z')
					 ? want[i] + 'a' - 'A'
					 : want[i]);
	name[nl] = ':';
	name[nl + 1] = '\0';
	wval = colon + 1;
	while (*wval == ' ' || *wval == '\t')
		wval++;

	/* lws parses ~100 well-known headers into tokens and keeps the rest
	 * as "custom" ones; look in both */
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const unsigned char *ts =
			lws_token_to_string((enum lws_token_indexes)t);
		if (ts && !strcmp((const char *)ts, name)) {
			n = lws_hdr_copy(wsi, val, sizeof(val),
					 (enum lws_token_indexes)t);
			break;
		}
	}
	if (n < 0)
		n = lws_hdr_custom_copy(wsi, val, sizeof(val), name,
					(int)nl + 1);
	return n >= 0 && !strcmp(val, wval);
}

static int on_confirm_upgrade(struct th_ws_server *s, struct lws *wsi)
{
	unsigned status = 0;

	atomic_fetch_add(&s->upgrades, 1);
	pthread_mutex_lock(&s->mu);
	if (s->opts.behaviour == TH_WS_REJECT)
		status = s->opts.reject_status > 0 ? (unsigned)s->opts.reject_status
						   : 403;
	else if (s->opts.require_header && !has_header(wsi, s->opts.require_header))
		status = 401;
	pthread_mutex_unlock(&s->mu);
	if (!status)
		return 0;
	if (lws_return_http_status(wsi, status, NULL))
		return -1;
	return 1; /* "headers sent": lws completes the transaction */
}

static void conn_link(struct th_ws_server *s, struct th_ws_conn *c)
{
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	atomic_fetch_add(&s->open, 1);
}

/* TLS: lws keeps the frames (ws_server.h); the conn only echoes. */
static int on_established_tls(struct th_ws_server *s, struct lws *wsi,
			      struct th_ws_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->srv = s;
	c->ws = wsi;
	c->lws_frames = 1;
	c->behaviour = TH_WS_ECHO;
	conn_link(s, c);
	return 0;
}

/* TLS: a message piece arrived; echo the message once it is whole. */
static int on_receive_tls(struct th_ws_conn *c, struct lws *wsi, const void *in,
			  size_t len)
{
	struct out *o;

	if (rx_append(c, in, len))
		return -1;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	o = malloc(sizeof(*o) + LWS_PRE + c->rx_len);
	if (!o)
		return -1;
	o->next = NULL;
	o->len = c->rx_len;
	o->is_close = 0;
	o->binary = lws_frame_is_binary(wsi);
	if (c->rx_len)
		memcpy(o->buf + LWS_PRE, c->rx, c->rx_len);
	c->rx_len = 0;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_writeable_tls(struct th_ws_conn *c, struct lws *wsi)
{
	struct out *o = c->out_head;
	int rc;

	if (!o)
		return 0;
	c->out_head = o->next;
	if (!c->out_head)
		c->out_tail = NULL;
	rc = lws_write(wsi, o->buf + LWS_PRE, o->len,
		       o->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(o);
	if (rc < 0)
		return -1;
	if (c->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

/* The upgrade is done and the 101 written: take the frames over. */
static int on_established(struct th_ws_server *s, struct lws *wsi,
			  struct th_ws_conn *c)
{
	lws_adopt_desc_t ad;
	int fd;

	if (s->tls_cert)
		return on_established_tls(s, wsi, c);
	fd = fcntl(lws_get_socket_fd(wsi), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->srv = s;
	c->ws = wsi;
	pthread_mutex_lock(&s->mu);
	c->behaviour = s->opts.behaviour;
	c->close_code = s->opts.close_code;
	copy_reason(c->close_reason, s->opts.close_reason);
	int after_ms = s->opts.close_after_ms;
	pthread_mutex_unlock(&s->mu);

	lws_rx_flow_control(wsi, 0);
	memset(&ad, 0, sizeof(ad));
	ad.vh = lws_get_vhost(wsi);
	ad.type = LWS_ADOPT_SOCKET; /* no LWS_ADOPT_HTTP: raw */
	ad.fd.sockfd = fd;
	ad.vh_prot_name = RAW_PROTOCOL;
	ad.parent = wsi;
	ad.opaque = c;
	c->raw = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!c->raw) {
		/* lws closes an fd it failed to adopt */
		c->srv = NULL;
		return -1;
	}
	conn_link(s, c);
	if (c->behaviour == TH_WS_CLOSE_AFTER)
		lws_sul_schedule(s->ctx, 0, &c->sul_close, close_after_cb,
				 (lws_usec_t)(after_ms > 0 ? after_ms : 0) * 1000);
	return 0;
}

static void on_ws_closed(struct th_ws_server *s, struct th_ws_conn *c)
{
	if (!c->srv)
		return;
	lws_sul_cancel(&c->sul_close);
	if (c->raw) {
		lws_set_opaque_user_data(c->raw, NULL);
		if (!s->destroying)
			lws_set_timeout(c->raw, PENDING_TIMEOUT_CLOSE_SEND,
					LWS_TO_KILL_ASYNC);
		c->raw = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free_out(c);
	free(c->rx);
	c->rx = NULL;
	c->srv = NULL;
	atomic_fetch_sub(&s->open, 1);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
		 void *user, void *in, size_t len)
{
	struct th_ws_server *s = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (s)
			process_requests(s);
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (!in || strcasecmp(in, "websocket"))
			return 0;
		return on_confirm_upgrade(s, wsi);
	case LWS_CALLBACK_HTTP:
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(s, wsi, user);
	case LWS_CALLBACK_RECEIVE:
		if (!user || !((struct th_ws_conn *)user)->lws_frames ||
		    !((struct th_ws_conn *)user)->srv)
			return 0;
		return on_receive_tls(user, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!user || !((struct th_ws_conn *)user)->lws_frames ||
		    !((struct th_ws_conn *)user)->srv)
			return 0;
		return on_writeable_tls(user, wsi);
	case LWS_CALLBACK_CLOSED:
		if (user)
			on_ws_closed(s, user);
		return 0;
	default:
		return 0;
	}
}

static int raw_cb(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	struct th_ws_conn *c;
	struct out *o;

	(void)user;
	/* broadcasts (EVENT_WAIT_CANCELLED...) come with a fake wsi */
	if (reason != LWS_CALLBACK_RAW_RX &&
	    reason != LWS_CALLBACK_RAW_WRITEABLE &&
	    reason != LWS_CALLBACK_RAW_CLOSE)
		return 0;
	c = lws_get_opaque_user_data(wsi);
	switch (reason) {
	case LWS_CALLBACK_RAW_RX:
		if (!c)
			return -1;
		if (rx_append(c, in, len))
			return -1;
		return parse_frames(c);
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c)
			return -1;
		o = c->out_head;
		if (!o)
			return 0;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		if (lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_RAW) <
		    (int)o->len) {
			free(o);
			return -1;
		}
		if (o->is_close) {
			free(o);
			if (c->close_received)
				return -1; /* our reply went out: done */
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK,
					CLOSE_ACK_S);
			return 0;
		}
		free(o);
		if (c->out_head)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c) {
			c->raw = NULL;
			free_out(c);
			/* the ws wsi owns the socket; let it go too */
			if (c->ws && !c->srv->destroying)
				lws_set_timeout(c->ws, PENDING_TIMEOUT_CLOSE_SEND,
						LWS_TO_KILL_ASYNC);
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- thread and lifecycle ---------------------------------------------- */

static void *service_main(void *arg)
{
	struct th_ws_server *s = arg;

	while (!atomic_load(&s->stop))
		if (lws_service(s->ctx, 0) < 0)
			break;
	return NULL;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct lws_context *create_context(struct th_ws_server *s)
{
	struct lws_context_creation_info info;

	for (int i = 0; i < BIND_TRIES; i++) {
		struct lws_context *ctx;
		uint16_t port = th_free_port();

		if (!port)
			continue;
		memset(&info, 0, sizeof(info));
		info.port = port;
		info.iface = "127.0.0.1";
		info.protocols = s->protocols;
		info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
		if (s->tls_cert) {
			info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
			info.ssl_cert_filepath = s->tls_cert;
			info.ssl_private_key_filepath = s->tls_key;
			/* lws 4.1.6 also gives every TLS vhost a client
			 * SSL_CTX, found again at destroy time through an
			 * SSL_CTX ex_data index that is global and allocated
			 * anew by each context made with DO_SSL_GLOBAL_INIT
			 * (openssl-tls.c). Once the client's own context is
			 * created after ours, the lookup fails and lws leaks
			 * that SSL_CTX. A provided one is left to us. */
			info.provided_client_ssl_ctx = s->client_ctx;
		}
		info.retry_and_idle_policy = &s->retry;
		info.user = s;
		info.gid = (gid_t)-1;
		info.uid = (uid_t)-1;
		ctx = lws_create_context(&info);
		if (ctx) {
			s->port = port;
			return ctx;
		}
	}
	return NULL;
}

int th_ws_server_start(const struct th_ws_server_opts *o,
		       struct th_ws_server **out)
{
	struct th_ws_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -1;
	lws_set_log_level(LLL_ERR, NULL);
	raise_nofile();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	opts_assign(&s->opts, o);
	s->history = th_ws_history_new(o && o->history_max ? o->history_max
							   : HISTORY_DEFAULT);
	if (!s->history)
		goto fail;
	s->subprotocol = strdup(o && o->subprotocol ? o->subprotocol
						    : DEFAULT_SUBPROTOCOL);
	if (!s->subprotocol)
		goto fail;
	if (o && o->tls_cert && o->tls_key &&
	    (!(s->tls_cert = strdup(o->tls_cert)) ||
	     !(s->tls_key = strdup(o->tls_key)) ||
	     !(s->client_ctx = SSL_CTX_new(TLS_client_method()))))
		goto fail;

	/* [0] gets plain HTTP, the upgrade and clients naming no protocol */
	s->protocols[0].name = s->subprotocol;
	s->protocols[0].callback = ws_cb;
	s->protocols[0].per_session_data_size = sizeof(struct th_ws_conn);
	s->protocols[1].name = RAW_PROTOCOL;
	s->protocols[1].callback = raw_cb;
	/* no validity pings/hangups: the parked ws wsi must stay silent */
	memset(&s->retry, 0, sizeof(s->retry));

	s->ctx = create_context(s);
	if (!s->ctx)
		goto fail;
	lws_sul_schedule(s->ctx, 0, &s->sul_tick, tick_cb, TICK_US);
	if (pthread_create(&s->thread, NULL, service_main, s) != 0)
		goto fail;
	s->thread_started = 1;
	if (th_wait_port(s->port, 5000) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	th_ws_server_free(s);
	return -1;
}

uint16_t th_ws_server_port(const struct th_ws_server *s)
{
	return s->port;
}

void th_ws_server_set(struct th_ws_server *s, const struct th_ws_server_opts *o)
{
	pthread_mutex_lock(&s->mu);
	opts_assign(&s->opts, o);
	pthread_mutex_unlock(&s->mu);
}

void th_ws_server_close_all(struct th_ws_server *s, int code,
			    const char *reason)
{
	struct timespec dl;
	unsigned req;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&s->mu);
	req = ++s->close_req;
	s->close_all_code = code;
	copy_reason(s->close_all_reason, reason);
	pthread_mutex_unlock(&s->mu);
	lws_cancel_service(s->ctx);
	pthread_mutex_lock(&s->mu);
	while ((int)(s->close_done - req) < 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->mu);
}

unsigned th_ws_server_upgrades(const struct th_ws_server *s)
{
	return atomic_load(&((struct th_ws_server *)s)->upgrades);
}

unsigned th_ws_server_open(const struct th_ws_server *s)
{
	return atomic_load(&((struct th_ws_server *)s)->open);
}

unsigned th_ws_server_pings(const struct th_ws_server *s)
{
	return atomic_load(&((struct th_ws_server *)s)->pings);
}

void th_ws_server_free(struct th_ws_server *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stop, 1);
		lws_cancel_service(s->ctx);
		pthread_join(s->thread, NULL);
	}
	if (s->ctx) {
		s->destroying = 1;
		lws_sul_cancel(&s->sul_tick);
		lws_context_destroy(s->ctx);
	}
	if (s->client_ctx)
		SSL_CTX_free(s->client_ctx);
	opts_clear(&s->opts);
	th_ws_history_free(s->history);
	free(s->subprotocol);
	free(s->tls_cert);
	free(s->tls_key);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

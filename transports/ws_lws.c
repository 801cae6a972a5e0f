/*
 * The WebSocket transport ("ws": ws://, wss://) on libwebsockets 4.1.
 *
 * lws runs on the manager's own libuv loop (LWS_SERVER_OPTION_LIBUV with
 * foreign_loops; the evlib plugin comes from Debian's
 * libwebsockets-evlib-uv). So every op tether calls and every lws callback
 * run on the one loop thread: the transport has no thread, no lock and no
 * queue of its own, and an op calls lws directly. lws 4.1 is not
 * thread-safe, so this is also the only way to use it without a service
 * thread of its own.
 *
 * The lws context is made at the first connect, on the loop thread (ctx_new
 * may run on whatever thread calls tether_conn_start, while the loop runs).
 * lws's per-connection validity timers are off (a retry policy with no
 * validity times): tether's heartbeat is the keepalive, on the runtime's
 * timers, so steady traffic re-arms no lws timer.
 *
 * Objects and who owns them:
 *   ws_ctx   one per manager: the lws context and its TLS vhosts.
 *   ws_link  one per connection: its options and its current session.
 *   ws_sess  one per attempt (one lws client wsi), owned by the link's
 *            `cur` pointer. The wsi points at it through its opaque user
 *            data until it is done with it (then s->wsi is NULL); abort
 *            unhooks the wsi first, so no callback reaches a freed
 *            session. reports (tether_transport_*) only post to the
 *            manager's mailbox, so calling them inside lws callbacks never
 *            re-enters lws.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "builtin.h"
#include "ws_lws.h"

#define WS_PROTOCOL_NAME "tether-ws"
/* While reading is stopped for a full inbound queue, look again this
   often (lws's per-wsi timer: the core has no hook to call us back). */
#define WS_RX_POLL_US 2000
#define WS_MAX_FDS_CAP (1u << 18)
/* lws 4.1 keeps its LWS_WRITE_CLOSE (4) private: lws_close_reason() is
   meant to send the close, but sends none when a client returns -1 */
#define WS_WRITE_CLOSE ((enum lws_write_protocol)4)

/* One outbound frame, with LWS_PRE bytes of headroom before the payload. */
struct ws_frame {
	struct ws_frame *next;
	uint64_t msg_id;
	size_t len;
	enum lws_write_protocol proto;
	unsigned char buf[];
};

struct ws_vhost {
	struct ws_vhost *next;
	char *ca_file, *cert_file, *key_file, *key_password;
	int min_tls;
	char *proxy_host; /* HTTP CONNECT proxy, NULL: none */
	unsigned proxy_port;
	struct lws_vhost *vh;
};

/* Masking keys for the pings written directly (ws_ping): getrandom()
   bytes, refilled once every WS_MASKS_SIZE / 4 pings. */
#define WS_MASKS_SIZE 1024

struct ws_ctx {
	tether_mgr *mgr;
	struct lws_context *lws; /* made at the first connect */
	int lws_failed;          /* and it could not be: every connect fails */
	struct ws_vhost *vhosts;
	struct ws_close_buf close_buf; /* see ws_close.c */
	unsigned char masks[WS_MASKS_SIZE];
	size_t masks_used; /* WS_MASKS_SIZE: empty */
};

struct ws_link {
	struct ws_ctx *ctx;
	tether_conn *conn;
	struct ws_options opt;
	struct ws_sess *cur;
};

/*
 * No lws validity timers (no retry table either: tether retries): with
 * secs_since_valid_hangup 0, lws arms nothing per connection on traffic.
 */
static const lws_retry_bo_t ws_no_validity;

/* ------------------------------------------------------------ helpers */

static void frames_free(struct ws_frame *f)
{
	while (f) {
		struct ws_frame *n = f->next;

		free(f);
		f = n;
	}
}

static void sess_free(struct ws_sess *s)
{
	frames_free(s->txq);
	free(s->rx);
	free(s->host); /* host_hdr and path share its block */
	free(s);
}

void tth_ws_report_end(struct ws_sess *s, int failed,
		       const struct tether_reason *r)
{
	if (s->reported_end)
		return;
	s->reported_end = 1;
	if (s->closing)
		tether_transport_closed(s->conn, s->attempt);
	else if (failed)
		tether_transport_fail(s->conn, s->attempt, r);
	else
		tether_transport_down(s->conn, s->attempt, r);
}

/*
 * The wsi is finished with this session: unhook it so later callbacks of
 * the wsi see no session, and fail the sends still queued.
 */
static void sess_detach(struct ws_sess *s, struct lws *wsi)
{
	struct ws_frame *q = s->txq;

	if (wsi)
		lws_set_opaque_user_data(wsi, NULL);
	s->wsi = NULL;
	s->detached = 1;
	s->txq = s->txq_tail = NULL;
	for (struct ws_frame *f = q; f; f = f->next)
		if (f->proto != LWS_WRITE_PING)
			tether_transport_sent(s->conn, s->attempt, f->msg_id,
					      TETHER_ECLOSED);
	frames_free(q);
}

/* --------------------------------------------------------- lws side */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len);

static const struct lws_protocols ws_protocols[] = {
	{WS_PROTOCOL_NAME, ws_callback, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}};

/*
 * lws 4.1 reads the http_proxy variable for every vhost made without an
 * http_proxy_address, whatever the application asked for; a proxy on
 * port 0 is "none" to it (it proxies only when the port is set), so
 * every vhost tether makes names this one unless it has a proxy.
 */
#define WS_NO_PROXY "0.0.0.0:0"

/*
 * Client TLS files and the lowest version are per vhost in lws 4.1
 * (client_ssl_ca_filepath, client_ssl_cert_filepath, ...,
 * ssl_client_options_set): one vhost per distinct set, made on first use.
 * A link with none of them uses the context's default vhost (NULL).
 */
static int same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What a connect needs of its vhost: the TLS set and the proxy. */
struct ws_vhost_key {
	const struct ws_options *o;
	const char *proxy_host; /* "" or NULL: none */
	unsigned proxy_port;
};

static int vhost_needed(const struct ws_vhost_key *k)
{
	return k->o->ca_file || k->o->cert_file || k->o->min_tls ||
	       (k->proxy_host && *k->proxy_host);
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

static void vhost_key_free(struct ws_vhost *v)
{
	free(v->ca_file);
	free(v->cert_file);
	free(v->key_file);
	tether_secret_free(v->key_password);
	free(v->proxy_host);
}

static struct lws_vhost *vhost_for(struct ws_ctx *ctx,
				   const struct ws_vhost_key *k)
{
	const struct ws_options *o = k->o;
	const char *ph = k->proxy_host && *k->proxy_host ? k->proxy_host : NULL;
	struct lws_context_creation_info info;
	struct ws_vhost *v;
	static const char prefix[] = "tether-tls-";
	char name[sizeof(prefix) + 20];
	unsigned n = 0;
	int fail = 0;

	for (v = ctx->vhosts; v; v = v->next, n++)
		if (same_text(v->ca_file, o->ca_file) &&
		    same_text(v->cert_file, o->cert_file) &&
		    same_text(v->key_file, o->key_file) &&
		    same_text(v->key_password, o->key_password) &&
		    v->min_tls == o->min_tls && same_text(v->proxy_host, ph) &&
		    v->proxy_port == (ph ? k->proxy_port : 0))
			return v->vh;
	v = calloc(1, sizeof(*v) + sizeof(name));
	if (!v)
		return NULL;
	v->ca_file = dup_or_null(o->ca_file, &fail);
	v->cert_file = dup_or_null(o->cert_file, &fail);
	v->key_file = dup_or_null(o->key_file, &fail);
	v->key_password = dup_or_null(o->key_password, &fail);
	v->min_tls = o->min_tls;
	v->proxy_host = dup_or_null(ph, &fail);
	v->proxy_port = ph ? k->proxy_port : 0;
	if (fail) {
		vhost_key_free(v);
		free(v);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s%u", prefix, n);
	memcpy(v + 1, name, sizeof(name)); /* lws keeps the name pointer */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.vhost_name = (const char *)(v + 1);
	info.client_ssl_ca_filepath = v->ca_file;
	info.client_ssl_cert_filepath = v->cert_file;
	info.client_ssl_private_key_filepath = v->key_file;
	info.client_ssl_private_key_password = v->key_password;
	if (v->min_tls >= 12)
		info.ssl_client_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	if (v->min_tls >= 13)
		info.ssl_client_options_set |= SSL_OP_NO_TLSv1_2;
	info.http_proxy_address = v->proxy_host ? v->proxy_host : WS_NO_PROXY;
	info.http_proxy_port = v->proxy_port;
	info.user = ctx;
	v->vh = lws_create_vhost(ctx->lws, &info);
	if (!v->vh) {
		vhost_key_free(v);
		free(v);
		return NULL;
	}
	v->next = ctx->vhosts;
	ctx->vhosts = v;
	return v->vh;
}


/* One frame per writable callback; returns -1 to close the wsi. */
static int on_writable(struct ws_sess *s, struct lws *wsi)
{
	struct ws_frame *f;
	int n;

	if (s->closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (s->local_close) {
		const char *why = tth_ws_local_close_text(s->local_close);
		unsigned char frame[LWS_PRE + 2 + 32];
		size_t wlen = strlen(why);

		/* the close frame is written here: lws 4.1 sends none for
		   a client that returns -1 after lws_close_reason() */
		if (wlen > sizeof(frame) - LWS_PRE - 2)
			wlen = sizeof(frame) - LWS_PRE - 2;
		frame[LWS_PRE] = (unsigned char)(s->local_close >> 8);
		frame[LWS_PRE + 1] = (unsigned char)(s->local_close & 0xff);
		memcpy(frame + LWS_PRE + 2, why, wlen);
		lws_write(wsi, frame + LWS_PRE, 2 + wlen, WS_WRITE_CLOSE);
		return -1;
	}
	f = s->txq;
	if (!f)
		return 0;
	s->txq = f->next;
	if (!s->txq)
		s->txq_tail = NULL;
	n = lws_write(wsi, f->buf + LWS_PRE, f->len, f->proto);
	if (f->proto != LWS_WRITE_PING)
		tether_transport_sent(s->conn, s->attempt, f->msg_id,
				      n < (int)f->len ? TETHER_EIO : 0);
	free(f);
	if (n < 0)
		return -1;
	if (s->txq)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Whether p holds only whole, valid UTF-8 sequences (RFC 3629: no
   overlong forms, no surrogates, nothing past U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i], v, min;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2, v = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3, v = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4, v = c & 0x07, min = 0x10000;
		else
			return 0;
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			v = (v << 6) | (p[i + k] & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

/* Close with code from the writable callback: returning -1 from a
   receive callback crashes lws 4.1.6 when more of the frame is still
   buffered. What arrives meanwhile is dropped. */
static void close_with(struct ws_sess *s, struct lws *wsi, int code)
{
	s->local_close = code;
	lws_callback_on_writable(wsi);
}

/* Hand a whole message to tether; the next frame starts a new one. A text
   message that is not UTF-8 closes the link with 1007 (RFC 6455 8.1). A
   full inbound queue stops reading the socket: TCP and the peer hold the
   rest until the application has taken messages (on_rx_timer). */
static void deliver(struct ws_sess *s, struct lws *wsi, const void *payload,
		    size_t len)
{
	struct tether_message m;

	if (!s->rx_binary && !utf8_valid(payload, len)) {
		s->rx_open = 0;
		close_with(s, wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.payload = payload;
	m.len = len;
	m.binary = s->rx_binary;
	tether_transport_message(s->conn, s->attempt, &m);
	s->rx_open = 0;
	if (!s->rx_paused && tether_transport_inbound_full(s->conn)) {
		s->rx_paused = 1;
		lws_rx_flow_control(wsi, 0);
		lws_set_timer_usecs(wsi, WS_RX_POLL_US);
	}
}

/* Reading is stopped: read again once the inbound queue has room. */
static void on_rx_timer(struct ws_sess *s, struct lws *wsi)
{
	if (!s->rx_paused)
		return;
	if (tether_transport_inbound_full(s->conn)) {
		lws_set_timer_usecs(wsi, WS_RX_POLL_US);
		return;
	}
	s->rx_paused = 0;
	lws_rx_flow_control(wsi, 1);
}

static int on_receive(struct ws_sess *s, struct lws *wsi, const void *in,
		      size_t len)
{
	size_t need, cap;
	unsigned char *p;
	int last;

	tether_transport_activity(s->conn, s->attempt);
	if (!s->rx_open) {
		s->rx_open = 1;
		s->rx_len = 0;
		s->rx_binary = lws_frame_is_binary(wsi);
	}
	if (s->local_close)
		return 0; /* closing: drop the rest */
	need = s->rx_len + len;
	if (need > s->link->opt.max_message || need < s->rx_len) {
		close_with(s, wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
		return 0;
	}
	last = lws_is_final_fragment(wsi) &&
	       lws_remaining_packet_payload(wsi) == 0;
	if (last && s->rx_len == 0) {
		/* a whole message in one piece (the usual case): no copy */
		deliver(s, wsi, in, len);
		return 0;
	}
	if (need > s->rx_cap) {
		cap = s->rx_cap ? s->rx_cap : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > s->link->opt.max_message)
			cap = s->link->opt.max_message;
		p = realloc(s->rx, cap);
		if (!p)
			return -1;
		s->rx = p;
		s->rx_cap = cap;
	}
	if (len)
		memcpy(s->rx + s->rx_len, in, len);
	s->rx_len = need;
	if (last) {
		deliver(s, wsi, s->rx, s->rx_len);
		s->rx_len = 0;
		/* an idle link keeps no large buffer */
		free(s->rx);
		s->rx = NULL;
		s->rx_cap = 0;
	}
	return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		       void *user, void *in, size_t len)
{
	struct ws_sess *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (!s)
		return 0;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char **p = in, *end = *p + len;

		for (size_t i = 0; i < s->link->opt.nheaders; i++) {
			const struct ws_header *h = &s->link->opt.headers[i];
			int n = snprintf(*p, (size_t)(end - *p), "%s: %s\r\n",
					 h->name, h->value);

			if (n < 0 || n >= end - *p)
				return -1; /* no room: fail the attempt */
			*p += n;
		}
		tth_ws_close_note_handshake(&s->link->ctx->close_buf, *p,
					    (size_t)(end - *p));
		return 0;
	}
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* len is OpenSSL's preverify_ok; lws decides, we take note */
		if (!len && s->link->opt.verify)
			s->cert_failed = 1;
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->established = 1;
		tether_transport_up(s->conn, s->attempt, 0);
		if (s->closing || s->txq)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!s->reported_end)
			tth_ws_report_connect_error(s, wsi, in, in ? len : 0);
		sess_detach(s, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(s, wsi, in, len);
	case LWS_CALLBACK_TIMER:
		on_rx_timer(s, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		tether_transport_pong(s->conn, s->attempt);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writable(s, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
		unsigned char *b = in;

		s->peer_closed = 1;
		s->peer_code = tth_ws_close_peer_code(&s->link->ctx->close_buf,
						      b, len,
						      &s->peer_code_unsure);
		if (b && len > 2)
			tth_ws_close_keep_text(s->peer_text,
					       sizeof(s->peer_text), b + 2,
					       len - 2);
		return 0; /* lws echoes the close, with the peer's code */
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!s->reported_end)
			tth_ws_report_closed(s);
		sess_detach(s, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* the wsi ends without the callbacks above (killed early) */
		if (!s->reported_end) {
			if (s->established)
				tth_ws_report_closed(s);
			else
				tth_ws_report_connect_error(s, NULL, NULL, 0);
		}
		sess_detach(s, wsi);
		return 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ context */

/*
 * Thousands of links need thousands of descriptors: raise the soft limit
 * towards the hard one (capped, since lws sizes tables by it).
 */
static unsigned raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > WS_MAX_FDS_CAP)
		want = WS_MAX_FDS_CAP;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > WS_MAX_FDS_CAP)
		return WS_MAX_FDS_CAP;
	return (unsigned)rl.rlim_cur;
}

/* lws's log mask for a tether level (docs/logging.md). */
static int ws_lws_mask(enum tether_log_level level)
{
	switch (level) {
	case TETHER_LOG_OFF:
		return 0;
	case TETHER_LOG_ERROR:
		return LLL_ERR;
	case TETHER_LOG_WARNING:
		return LLL_ERR | LLL_WARN;
	case TETHER_LOG_INFO:
		return LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO;
	default:
		return LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO | LLL_DEBUG;
	}
}

/* lws's emit hook: its lines, at the matching tether level. */
static void ws_log_emit(int lll, const char *line)
{
	enum tether_log_level level = TETHER_LOG_DEBUG;

	if (lll & LLL_ERR)
		level = TETHER_LOG_ERROR;
	else if (lll & LLL_WARN)
		level = TETHER_LOG_WARNING;
	else if (lll & (LLL_NOTICE | LLL_INFO))
		level = TETHER_LOG_INFO;
	tether_log(level, "lws", "%s", line);
}

/* The lws context on the manager's loop; loop thread, first connect. */
static int ensure_lws(struct ws_ctx *ctx)
{
	struct lws_context_creation_info info;
	const char *lv = getenv("TETHER_WS_LOG_LEVEL");
	void *loops[1];

	if (ctx->lws)
		return 0;
	if (ctx->lws_failed)
		return TETHER_EIO;
	/* lws's lines go through tether_log(); TETHER_WS_LOG_LEVEL, an lws
	 * LLL_ mask, overrides what lws produces (for debugging lws). */
	lws_set_log_level(lv && *lv ? (int)strtol(lv, NULL, 0)
				    : ws_lws_mask(tether_log_level()),
			  ws_log_emit);
	loops[0] = tether_mgr_uv_loop(ctx->mgr);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_LIBUV;
	info.foreign_loops = loops;
	info.fd_limit_per_thread = raise_nofile();
	info.retry_and_idle_policy = &ws_no_validity;
	info.pt_serv_buf_size = WS_SERV_BUF_SIZE; /* ws_close.c reads it */
	info.http_proxy_address = WS_NO_PROXY; /* the default vhost's */
	info.user = ctx;
	ctx->lws = lws_create_context(&info);
	if (!ctx->lws) {
		ctx->lws_failed = 1;
		tether_log(TETHER_LOG_ERROR, "ws",
			   "libwebsockets could not start on the manager's "
			   "libuv loop (is libwebsockets-evlib-uv installed?)");
		return TETHER_EIO;
	}
	return 0;
}

static int ws_ctx_new(tether_mgr *mgr, void **out)
{
	struct ws_ctx *ctx;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return TETHER_ENOMEM;
	ctx->mgr = mgr;
	ctx->masks_used = WS_MASKS_SIZE; /* filled at the first ping */
	*out = ctx;
	return 0;
}

/*
 * lws on a foreign loop is destroyed in two calls (lws 4.1): the first
 * closes its libuv handles, the second, once the loop has run their close
 * callbacks, frees the context. A reaper on the loop makes the second
 * call a few turns later (each turn runs the closes queued in the turn
 * before: lws's close callbacks may queue more) and then closes itself.
 */
#define WS_REAP_TURNS 4

struct ws_reaper {
	uv_idle_t idle;
	struct lws_context *lws;
	int turns;
};

static void reaper_closed(uv_handle_t *h)
{
	free(h->data);
}

static void reaper_turn(uv_idle_t *h)
{
	struct ws_reaper *r = h->data;

	if (++r->turns < WS_REAP_TURNS)
		return;
	lws_context_destroy(r->lws);
	uv_idle_stop(h);
	uv_close((uv_handle_t *)h, reaper_closed);
}

/*
 * Every link is freed (so every wsi is unhooked). lws finishes closing as
 * the loop runs on: the manager runs its own loop to the end, a host's
 * loop runs on anyway.
 */
static void ws_ctx_free(void *vctx)
{
	struct ws_ctx *ctx = vctx;

	if (!ctx)
		return;
	if (ctx->lws) {
		struct ws_reaper *r = calloc(1, sizeof(*r));

		lws_context_destroy(ctx->lws);
		if (r) {
			r->lws = ctx->lws;
			r->idle.data = r;
			uv_idle_init(tether_mgr_uv_loop(ctx->mgr), &r->idle);
			uv_idle_start(&r->idle, reaper_turn);
		}
		/* without memory for the reaper the context is left behind:
		   freeing it now would leave lws's handles pointing into it */
	}
	while (ctx->vhosts) {
		struct ws_vhost *v = ctx->vhosts;

		ctx->vhosts = v->next;
		vhost_key_free(v);
		free(v);
	}
	free(ctx);
}

/* --------------------------------------------------------------- link */

static int ws_check(tether_conn *conn, tether_params *opts)
{
	struct ws_options o;
	int rc;

	(void)conn;
	memset(&o, 0, sizeof(o));
	rc = tth_ws_options_read(&o, opts);
	tth_ws_options_cleanup(&o);
	return rc;
}

static int ws_link_new(void *vctx, tether_conn *conn, tether_params *opts,
		       void **out)
{
	struct ws_link *l;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return TETHER_ENOMEM;
	l->ctx = vctx;
	l->conn = conn;
	rc = tth_ws_options_read(&l->opt, opts);
	if (rc) {
		tth_ws_options_cleanup(&l->opt);
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void ws_abort(void *vlink, uint32_t attempt);

static void ws_link_free(void *vlink)
{
	struct ws_link *l = vlink;

	if (!l)
		return;
	if (l->cur)
		ws_abort(l, l->cur->attempt);
	tth_ws_options_cleanup(&l->opt);
	free(l);
}

/* ---------------------------------------------------------------- ops */

/*
 * The request target of uri, exactly as written: what follows the authority
 * ("/a/b?x=1"), "/" when there is no path ("ws://h:1" and "ws://h:1?x=1"
 * ask for "/" and "/?x=1"); a fragment is never sent (RFC 3986 3.5).
 * authority_len receives the length of "scheme://authority".
 * lws_parse_uri is not used for this: it drops the leading '/', answers
 * "/" both for no path and for "/" (so prefixing one gave "GET //"), and
 * takes a query without a path for part of the port.
 */
static int request_target(const char *uri, size_t *authority_len,
			  const char **path, size_t *path_len, int *need_slash)
{
	const char *auth = strstr(uri, "://");
	size_t n;

	if (!auth)
		return TETHER_EINVAL;
	auth += 3;
	n = strcspn(auth, "/?#");
	*authority_len = (size_t)(auth - uri) + n;
	*path = auth + n;
	*path_len = strcspn(*path, "#");
	*need_slash = **path != '/';
	return 0;
}

/* Parse uri into a new session's endpoint fields; NULL with *rc set. */
static struct ws_sess *sess_new(struct ws_link *l, uint32_t attempt,
				const char *uri, int *rc)
{
	const char *prot, *ads, *path, *target;
	struct ws_sess *s;
	char *copy, hostbuf[300];
	int port = 0, v6, slash;
	size_t alen, hlen, plen, authlen, tlen;

	*rc = TETHER_EINVAL;
	if (request_target(uri, &authlen, &target, &tlen, &slash) != 0)
		return NULL;
	*rc = TETHER_ENOMEM;
	copy = strndup(uri, authlen); /* lws_parse_uri sees no path */
	if (!copy)
		return NULL;
	if (lws_parse_uri(copy, &prot, &ads, &port, &path) != 0 ||
	    (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0) || !*ads ||
	    port <= 0 || port > 65535) {
		free(copy);
		*rc = TETHER_EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(copy);
		return NULL;
	}
	s->link = l;
	s->conn = l->conn;
	s->attempt = attempt;
	s->port = port;
	s->tls = strcmp(prot, "wss") == 0;
	v6 = strchr(ads, ':') != NULL;
	if (port == (s->tls ? 443 : 80))
		snprintf(hostbuf, sizeof(hostbuf), v6 ? "[%s]" : "%s", ads);
	else
		snprintf(hostbuf, sizeof(hostbuf), v6 ? "[%s]:%d" : "%s:%d",
			 ads, port);
	alen = strlen(ads) + 1;
	hlen = strlen(hostbuf) + 1;
	plen = (size_t)slash + tlen + 1;
	/* host, Host: header and the request target in one block */
	s->host = malloc(alen + hlen + plen);
	if (!s->host) {
		free(copy);
		free(s);
		return NULL;
	}
	memcpy(s->host, ads, alen);
	s->host_hdr = s->host + alen;
	memcpy(s->host_hdr, hostbuf, hlen);
	s->path = s->host_hdr + hlen;
	s->path[0] = '/';
	memcpy(s->path + slash, target, tlen);
	s->path[slash + tlen] = '\0';
	free(copy);
	*rc = 0;
	return s;
}

static int ws_connect(void *vlink, uint32_t attempt, const char *uri)
{
	struct ws_link *l = vlink;
	struct ws_ctx *ctx = l->ctx;
	struct lws_client_connect_info ci;
	struct tether_reason r;
	struct ws_sess *s;
	struct lws *wsi;
	char proxy_host[256];
	struct ws_vhost_key vk = {.o = &l->opt, .proxy_host = proxy_host};
	int rc, failed = 1;

	if (l->cur) /* single flight: a new attempt replaces the old one */
		ws_abort(l, l->cur->attempt);
	if (!uri)
		return TETHER_EINVAL;
	rc = ensure_lws(ctx);
	if (rc)
		return rc;
	s = sess_new(l, attempt, uri, &rc);
	if (!s)
		return rc;
	l->cur = s;

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx->lws;
	ci.address = s->host;
	ci.port = s->port;
	ci.path = s->path;
	ci.host = s->host_hdr;
	ci.origin = l->opt.origin;
	ci.protocol = l->opt.subprotocol;
	ci.local_protocol_name = WS_PROTOCOL_NAME;
	ci.retry_and_idle_policy = &ws_no_validity;
	/* tether handles redirects itself: a 3xx becomes a reason */
	ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
	if (s->tls) {
		ci.ssl_connection |= LCCSCF_USE_SSL;
		if (!l->opt.verify)
			ci.ssl_connection |=
			    LCCSCF_ALLOW_SELFSIGNED |
			    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			    LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
		ci.alpn = l->opt.alpn;
	}
	if (tth_proxy_for(l->opt.proxy, s->host, s->tls, proxy_host,
			  sizeof(proxy_host), &vk.proxy_port) != 0) {
		tth_ws_reason_init(&r, TETHER_KIND_LOCAL,
				   TETHER_LOCAL_BAD_OPTIONS, 0,
				   "proxy: the environment's proxy is not "
				   "http://HOST:PORT");
	} else if (vhost_needed(&vk) && !(ci.vhost = vhost_for(ctx, &vk))) {
		tth_ws_reason_init(&r, TETHER_KIND_TLS, TETHER_TLS_HANDSHAKE, 0,
				   "cannot load the TLS files (ca_file, "
				   "cert_file, key_file, key_password)");
	} else {
		failed = 0;
	}
	if (failed) {
		tth_ws_report_end(s, 1, &r);
		return 0;
	}
	ci.opaque_user_data = s;

	/* The wsi may end inside the call (CONNECTION_ERROR): the callbacks
	   then report and detach before it returns. */
	wsi = lws_client_connect_via_info(&ci);
	if (!wsi) {
		if (!s->reported_end)
			tth_ws_report_sync_failure(s);
		if (!s->detached)
			sess_detach(s, NULL);
	} else if (!s->detached) {
		s->wsi = wsi;
	}
	return 0;
}

static void ws_abort(void *vlink, uint32_t attempt)
{
	struct ws_link *l = vlink;
	struct ws_sess *s = l->cur;
	struct lws *wsi;

	if (!s || s->attempt != attempt)
		return;
	l->cur = NULL;
	wsi = s->wsi;
	if (wsi) {
		/*
		 * Drop at once, no close handshake: shut the socket so lws
		 * cannot linger in a close exchange, unhook the session, and
		 * have lws free the wsi.
		 */
		if (s->established) {
			int fd = lws_get_socket_fd(wsi);

			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
		}
		lws_set_opaque_user_data(wsi, NULL);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
	}
	sess_free(s); /* aborted: nothing more is reported */
}

static void ws_close(void *vlink, uint32_t attempt)
{
	struct ws_link *l = vlink;
	struct ws_sess *s = l->cur;

	if (!s || s->attempt != attempt || !s->wsi)
		return;
	s->closing = 1;
	if (s->established)
		lws_callback_on_writable(s->wsi);
	else /* not up yet: nothing to close orderly; WSI_DESTROY reports */
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
}

static int queue_frame(struct ws_link *l, uint32_t attempt, uint64_t msg_id,
		       enum lws_write_protocol proto, const void *data,
		       size_t len)
{
	struct ws_sess *s = l->cur;
	struct ws_frame *f;

	if (!s || s->attempt != attempt || !s->wsi)
		return TETHER_ECLOSED;
	if (len > SIZE_MAX - sizeof(*f) - LWS_PRE)
		return TETHER_EINVAL;
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return TETHER_ENOMEM;
	f->next = NULL;
	f->msg_id = msg_id;
	f->len = len;
	f->proto = proto;
	if (len)
		memcpy(f->buf + LWS_PRE, data, len);
	if (s->txq_tail)
		s->txq_tail->next = f;
	else
		s->txq = f;
	s->txq_tail = f;
	if (s->established)
		lws_callback_on_writable(s->wsi);
	return 0;
}

static int ws_send(void *vlink, uint32_t attempt, uint64_t msg_id,
		   const struct tether_message *msg)
{
	if (!msg || (!msg->payload && msg->len))
		return TETHER_EINVAL;
	return queue_frame(vlink, attempt, msg_id,
			   msg->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
			   msg->payload, msg->len);
}

/*
 * A plain (ws://) link's ping: the 6-byte frame (FIN + PING, masked,
 * empty) written to the socket by us, with a masking key from
 * getrandom(). lws_write() would read 4 bytes from /dev/urandom for the
 * key on every frame, one more system call per ping (perf at 10,000 idle
 * links: 10 % of the process's CPU; docs/BENCHMARKS.md). 1: written;
 * 0: not (no room in the socket: lws's path then); -1: the socket took
 * part of it, the stream is broken and the link must end (TCP takes 6
 * bytes whole or not at all when it has room, so not seen in practice).
 */
static int raw_ping(struct ws_ctx *ctx, struct lws *wsi)
{
	unsigned char f[6] = {0x89, 0x80};
	lws_sockfd_type fd = lws_get_socket_fd(wsi);
	ssize_t n;

	if (fd < 0)
		return 0;
	if (ctx->masks_used + 4 > WS_MASKS_SIZE) {
		if (getrandom(ctx->masks, sizeof(ctx->masks), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(ctx->masks))
			return 0;
		ctx->masks_used = 0;
	}
	memcpy(f + 2, ctx->masks + ctx->masks_used, 4);
	ctx->masks_used += 4;
	n = send(fd, f, sizeof(f), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(f))
		return 1;
	return n > 0 ? -1 : 0;
}

/*
 * A ping goes straight to the socket when nothing else waits to go out
 * (no queued frame, no close under way, nothing of lws's own buffered):
 * asking lws for a WRITEABLE callback instead costs four epoll_ctl per
 * ping, because lws's libuv glue restarts the fd's uv_poll to switch
 * POLLOUT on and again to switch it off, and libuv does each restart as
 * an EPOLL_CTL_DEL and an EPOLL_CTL_ADD (perf at 10,000 idle links: 29 %
 * of the process's CPU in epoll_ctl; docs/BENCHMARKS.md). Safe outside
 * the callback: we run on the loop thread that services lws, between its
 * callbacks, so no frame of lws's is half written; over TLS lws_write()
 * writes it, and a send the kernel takes only in part is kept in lws's
 * buffer and finished by lws before any later WRITEABLE callback.
 */
static int ws_ping(void *vlink, uint32_t attempt)
{
	struct ws_link *l = vlink;
	struct ws_sess *s = l->cur;
	unsigned char frame[LWS_PRE + 1];
	int rc;

	if (s && s->attempt == attempt && s->wsi && s->established &&
	    !s->txq && !s->closing && !s->local_close &&
	    !lws_partial_buffered(s->wsi)) {
		if (lws_is_ssl(s->wsi))
			rc = lws_write(s->wsi, frame + LWS_PRE, 0,
				       LWS_WRITE_PING) < 0 ? -1 : 1;
		else
			rc = raw_ping(l->ctx, s->wsi);
		if (rc < 0) /* lws closes it; WSI_DESTROY reports the loss */
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		if (rc != 0)
			return 0;
	}
	return queue_frame(vlink, attempt, 0, LWS_WRITE_PING, NULL, 0);
}

static const char *const ws_schemes[] = {"ws", "wss", NULL};

/*
 * No classes of its own: the peer's close code is the one it sent, also on
 * libwebsockets 4.1, which rewrites 1012-1014 to 1002 (ws_close.c).
 */
static const char *const ws_default_classes[] = {NULL};

const struct tether_transport_ops tth_transport_ws = {
    .abi = TETHER_TRANSPORT_ABI,
    .name = "ws",
    .schemes = ws_schemes,
    .ctx_new = ws_ctx_new,
    .ctx_free = ws_ctx_free,
    .link_new = ws_link_new,
    .link_free = ws_link_free,
    .connect = ws_connect,
    .abort = ws_abort,
    .close = ws_close,
    .send = ws_send,
    .subscribe = NULL,
    .ping = ws_ping,
    .default_classes = ws_default_classes,
    .check = ws_check,
    .options = tth_ws_options,
    .yaml_section = "ws",
    .default_ports = tth_ws_default_ports,
};

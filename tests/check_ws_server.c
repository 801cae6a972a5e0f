/* Check suite for the WebSocket test server (tests/harness/ws_server.c),
 * driven by a small lws client serviced in the test thread with deadlines. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "check-int.h"
#include "net.h"
#include "ws_server.h"

#define WAIT_MS 5000

/* ---- a minimal lws client ---------------------------------------------- */

enum tx_kind { TX_NONE, TX_TEXT, TX_BINARY, TX_PING, TX_CLOSE };

/* Every text message received, in order, possibly across connections. */
#define RXLOG_MAX 512
struct rxlog {
	unsigned n;
	char m[RXLOG_MAX][64];
};

struct tconn {
	struct lws *wsi;
	const char *extra_header; /* "name:" "value" pair below */
	const char *extra_value;

	int established, closed, error, http_status;
	char error_text[128];
	char proto[64];
	uint64_t established_ms;

	int peer_closed, peer_close_code;
	char peer_close_reason[128];
	uint64_t peer_close_ms;

	unsigned pongs, rx_msgs;
	int rx_binary;
	unsigned char rx[512];
	size_t rx_len;
	struct rxlog *log; /* NULL: keep only the last message */

	enum tx_kind tx;
	unsigned char tx_buf[LWS_PRE + 256];
	size_t tx_len;
	int close_code;
};

struct tclient {
	struct lws_context *ctx;
	lws_sorted_usec_list_t tick;
	struct lws_protocols protocols[2];
};

static int client_cb(struct lws *wsi, enum lws_callback_reasons reason,
		     void *user, void *in, size_t len)
{
	struct tconn *t = user;
	int n;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (t && t->extra_header) {
			unsigned char **p = in, *end = *p + len;
			if (lws_add_http_header_by_name(
				    wsi, (const unsigned char *)t->extra_header,
				    (const unsigned char *)t->extra_value,
				    (int)strlen(t->extra_value), p, end))
				return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		if (t)
			t->http_status = (int)lws_http_client_http_response(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		if (t && lws_hdr_copy(wsi, t->proto, sizeof(t->proto),
				      WSI_TOKEN_PROTOCOL) < 0)
			t->proto[0] = '\0';
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		t->established = 1;
		t->established_ms = th_now_ms();
		if (t->tx != TX_NONE)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!t)
			return 0;
		t->error = 1;
		snprintf(t->error_text, sizeof(t->error_text), "%.*s",
			 in ? (int)len : 0, in ? (const char *)in : "");
		n = (int)lws_http_client_http_response(wsi);
		if (n)
			t->http_status = n;
		t->wsi = NULL;
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			t->rx_len = 0;
		if (t->rx_len + len <= sizeof(t->rx)) {
			memcpy(t->rx + t->rx_len, in, len);
			t->rx_len += len;
		}
		t->rx_binary = lws_frame_is_binary(wsi);
		if (lws_is_final_fragment(wsi)) {
			t->rx_msgs++;
			if (t->log && t->log->n < RXLOG_MAX)
				snprintf(t->log->m[t->log->n++],
					 sizeof(t->log->m[0]), "%.*s",
					 (int)t->rx_len, (const char *)t->rx);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		t->pongs++;
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		t->peer_closed = 1;
		t->peer_close_ms = th_now_ms();
		if (len >= 2) {
			const unsigned char *b = in;
			t->peer_close_code = b[0] << 8 | b[1];
			snprintf(t->peer_close_reason,
				 sizeof(t->peer_close_reason), "%.*s",
				 (int)(len - 2), (const char *)b + 2);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		switch (t->tx) {
		case TX_NONE:
			return 0;
		case TX_CLOSE:
			t->tx = TX_NONE;
			lws_close_reason(wsi, (enum lws_close_status)t->close_code,
					 NULL, 0);
			return -1;
		default:
			n = t->tx == TX_TEXT     ? LWS_WRITE_TEXT
			    : t->tx == TX_BINARY ? LWS_WRITE_BINARY
						 : LWS_WRITE_PING;
			t->tx = TX_NONE;
			if (lws_write(wsi, t->tx_buf + LWS_PRE, t->tx_len,
				      (enum lws_write_protocol)n) <
			    (int)t->tx_len)
				return -1;
			return 0;
		}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (t) {
			t->closed = 1;
			t->wsi = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

static void tclient_tick(lws_sorted_usec_list_t *sul)
{
	struct tclient *c = lws_container_of(sul, struct tclient, tick);

	/* keeps lws_service() from sleeping past our deadlines */
	lws_sul_schedule(c->ctx, 0, &c->tick, tclient_tick, 10 * 1000);
}

static struct tclient *tclient_new(void)
{
	struct lws_context_creation_info info;
	struct tclient *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	lws_set_log_level(LLL_ERR, NULL);
	c->protocols[0].name = "tether-test-client";
	c->protocols[0].callback = client_cb;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = c->protocols;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	c->ctx = lws_create_context(&info);
	ck_assert_ptr_nonnull(c->ctx);
	lws_sul_schedule(c->ctx, 0, &c->tick, tclient_tick, 10 * 1000);
	return c;
}

static void tclient_free(struct tclient *c)
{
	lws_sul_cancel(&c->tick);
	lws_context_destroy(c->ctx);
	free(c);
}

/* proto NULL: no Sec-WebSocket-Protocol header at all. */
static void tclient_connect(struct tclient *c, struct tconn *t, uint16_t port,
			    const char *proto)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = c->ctx;
	i.address = "127.0.0.1";
	i.port = port;
	i.path = "/";
	i.host = "127.0.0.1";
	i.origin = "127.0.0.1";
	i.protocol = proto;
	i.userdata = t;
	i.pwsi = &t->wsi;
	i.ietf_version_or_minus_one = -1;
	lws_client_connect_via_info(&i);
	/* a failure here has already called CONNECTION_ERROR */
	ck_assert(t->wsi != NULL || t->error);
}

typedef int (*pred_fn)(void *arg);

/* Service the client until pred(arg) holds or timeout_ms passes. */
static int tclient_run(struct tclient *c, pred_fn pred, void *arg,
		       int timeout_ms)
{
	uint64_t end = th_now_ms() + (uint64_t)timeout_ms;

	while (!pred(arg)) {
		if (th_now_ms() >= end)
			return pred(arg);
		lws_service(c->ctx, 0);
	}
	return 1;
}

static int never(void *arg)
{
	(void)arg;
	return 0;
}

static int is_done(void *arg) /* established, failed or closed */
{
	struct tconn *t = arg;
	return t->established || t->error || t->closed;
}

static int is_failed(void *arg)
{
	struct tconn *t = arg;
	return t->error || t->closed;
}

static int is_closed(void *arg)
{
	struct tconn *t = arg;
	return t->closed || t->error;
}

static int has_rx(void *arg)
{
	struct tconn *t = arg;
	return t->rx_msgs > 0;
}

static int has_pong(void *arg)
{
	struct tconn *t = arg;
	return t->pongs > 0;
}

static void tconn_send(struct tconn *t, enum tx_kind kind, const void *buf,
		       size_t len)
{
	ck_assert_uint_le(len, sizeof(t->tx_buf) - LWS_PRE);
	memcpy(t->tx_buf + LWS_PRE, buf, len);
	t->tx_len = len;
	t->tx = kind;
	t->rx_msgs = 0;
	lws_callback_on_writable(t->wsi);
}

struct srv_count {
	struct th_ws_server *s;
	unsigned (*fn)(const struct th_ws_server *);
	unsigned want;
};

static int count_is(void *arg)
{
	struct srv_count *sc = arg;
	return sc->fn(sc->s) == sc->want;
}

/* Wait (servicing the client too) until a server counter reads want. */
static int wait_count(struct tclient *c, struct th_ws_server *s,
		      unsigned (*fn)(const struct th_ws_server *),
		      unsigned want)
{
	struct srv_count sc = { s, fn, want };
	return tclient_run(c, count_is, &sc, WAIT_MS);
}

/* Connect and wait for the upgrade; asserts it worked. */
static void connect_up(struct tclient *c, struct tconn *t, uint16_t port,
		       const char *proto)
{
	tclient_connect(c, t, port, proto);
	ck_assert_msg(tclient_run(c, is_done, t, WAIT_MS) && t->established,
		      "upgrade failed: error=%d status=%d '%s'", t->error,
		      t->http_status, t->error_text);
}

static void start_server(const struct th_ws_server_opts *o,
			 struct th_ws_server **s)
{
	ck_assert_int_eq(th_ws_server_start(o, s), 0);
	ck_assert_uint_gt(th_ws_server_port(*s), 0);
}

/* ---- a raw-socket client (sees the exact bytes lws would hide) -------- */

/* Send an upgrade request on a plain socket and read the response head;
 * *line gets its status line. Returns the fd (still open). */
static int raw_upgrade_fd(uint16_t port, const char *extra, char *line,
			  size_t cap)
{
	struct sockaddr_in sa;
	char req[512], buf[1024];
	size_t got = 0, l;
	uint64_t end = th_now_ms() + WAIT_MS;
	int n, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = snprintf(req, sizeof(req),
		     "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Protocol: tether-test\r\n%s\r\n",
		     extra ? extra : "");
	ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	/* read byte by byte up to the blank line: frames may follow */
	while (got < sizeof(buf) - 1 && th_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (recv(fd, buf + got, 1, 0) != 1)
			break;
		got++;
		buf[got] = '\0';
		if (got >= 4 && !memcmp(buf + got - 4, "\r\n\r\n", 4))
			break;
	}
	buf[got] = '\0';
	char *eol = strstr(buf, "\r\n");
	if (eol)
		*eol = '\0';
	l = strlen(buf) < cap - 1 ? strlen(buf) : cap - 1;
	memcpy(line, buf, l);
	line[l] = '\0';
	return fd;
}

static void raw_upgrade(uint16_t port, const char *extra, char *line,
			size_t cap)
{
	close(raw_upgrade_fd(port, extra, line, cap));
}

static int recv_exact(int fd, unsigned char *b, size_t n, uint64_t end)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (th_now_ms() >= end)
			return -1;
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Read server frames until a close frame; returns its code (or -1) and
 * copies its reason. */
static int raw_read_close(int fd, char *reason, size_t cap, int timeout_ms)
{
	uint64_t end = th_now_ms() + (uint64_t)timeout_ms;
	unsigned char h[2], pl[126];

	for (;;) {
		if (recv_exact(fd, h, 2, end))
			return -1;
		size_t len = h[1] & 0x7f; /* server frames: unmasked */
		ck_assert_uint_lt(len, 126);
		if (recv_exact(fd, pl, len, end))
			return -1;
		if ((h[0] & 0x0f) != 0x8)
			continue;
		if (len < 2)
			return 0;
		snprintf(reason, cap, "%.*s", (int)len - 2, (const char *)pl + 2);
		return pl[0] << 8 | pl[1];
	}
}

/* ---- echo -------------------------------------------------------------- */

START_TEST(test_ws_server_echo_text)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn t = { 0 };

	start_server(NULL, &s);
	connect_up(c, &t, th_ws_server_port(s), "tether-test");
	tconn_send(&t, TX_TEXT, "hello, tether", 13);
	ck_assert(tclient_run(c, has_rx, &t, WAIT_MS));
	ck_assert_uint_eq(t.rx_len, 13);
	ck_assert_mem_eq(t.rx, "hello, tether", 13);
	ck_assert_int_eq(t.rx_binary, 0);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_echo_binary)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn t = { 0 };
	unsigned char bin[200];

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(255 - i);
	start_server(NULL, &s);
	connect_up(c, &t, th_ws_server_port(s), "tether-test");
	/* 200 bytes: the 16-bit extended length on both sides */
	tconn_send(&t, TX_BINARY, bin, sizeof(bin));
	ck_assert(tclient_run(c, has_rx, &t, WAIT_MS));
	ck_assert_uint_eq(t.rx_len, sizeof(bin));
	ck_assert_mem_eq(t.rx, bin, sizeof(bin));
	ck_assert_int_eq(t.rx_binary, 1);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_subprotocol)
{
	struct th_ws_server_opts o = { .subprotocol = "gw.v2" };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn a = { 0 }, b = { 0 }, d = { 0 };

	start_server(&o, &s);
	connect_up(c, &a, th_ws_server_port(s), "other, gw.v2");
	ck_assert_str_eq(a.proto, "gw.v2");
	/* no protocol asked: bound to the server's one, and echoes */
	connect_up(c, &b, th_ws_server_port(s), NULL);
	tconn_send(&b, TX_TEXT, "x", 1);
	ck_assert(tclient_run(c, has_rx, &b, WAIT_MS));
	/* only unknown protocols: lws drops it */
	tclient_connect(c, &d, th_ws_server_port(s), "tether-test");
	ck_assert(tclient_run(c, is_failed, &d, WAIT_MS));
	ck_assert_int_eq(d.established, 0);
	ck_assert(wait_count(c, s, th_ws_server_upgrades, 3));
	ck_assert_uint_eq(th_ws_server_open(s), 2);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_counters)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn a = { 0 }, b = { 0 };

	start_server(NULL, &s);
	ck_assert_uint_eq(th_ws_server_upgrades(s), 0);
	ck_assert_uint_eq(th_ws_server_open(s), 0);
	connect_up(c, &a, th_ws_server_port(s), "tether-test");
	connect_up(c, &b, th_ws_server_port(s), "tether-test");
	ck_assert(wait_count(c, s, th_ws_server_open, 2));
	ck_assert_uint_eq(th_ws_server_upgrades(s), 2);
	ck_assert_uint_eq(th_ws_server_pings(s), 0);

	/* the client closes with 1000: the server echoes it and hangs up */
	a.close_code = LWS_CLOSE_STATUS_NORMAL;
	a.tx = TX_CLOSE;
	lws_callback_on_writable(a.wsi);
	ck_assert(tclient_run(c, is_closed, &a, WAIT_MS));
	ck_assert(wait_count(c, s, th_ws_server_open, 1));
	ck_assert_uint_eq(th_ws_server_upgrades(s), 2);
	tclient_free(c); /* b goes away without a close frame */
	uint64_t end = th_now_ms() + WAIT_MS;
	while (th_ws_server_open(s) != 0 && th_now_ms() < end)
		usleep(10 * 1000);
	ck_assert_uint_eq(th_ws_server_open(s), 0);
	ck_assert_uint_eq(th_ws_server_upgrades(s), 2);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_set_affects_new_only)
{
	struct th_ws_server_opts rej = { .behaviour = TH_WS_REJECT,
					 .reject_status = 503 };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn a = { 0 }, b = { 0 };

	start_server(NULL, &s);
	connect_up(c, &a, th_ws_server_port(s), "tether-test");
	th_ws_server_set(s, &rej);
	tclient_connect(c, &b, th_ws_server_port(s), "tether-test");
	ck_assert(tclient_run(c, is_failed, &b, WAIT_MS));
	ck_assert_int_eq(b.http_status, 503);
	tconn_send(&a, TX_TEXT, "still", 5);
	ck_assert(tclient_run(c, has_rx, &a, WAIT_MS));
	ck_assert_mem_eq(a.rx, "still", 5);
	th_ws_server_set(s, NULL); /* back to echo */
	memset(&b, 0, sizeof(b));
	connect_up(c, &b, th_ws_server_port(s), "tether-test");
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

/* ---- close ------------------------------------------------------------- */

/* lws 4.1.6's client rewrites close codes 1012-1015 (and others outside
 * RFC 6455's list) to 1002 before LWS_CALLBACK_WS_PEER_INITIATED_CLOSE;
 * lws 4.2.0 accepts them (upstream commit fb9abfdf0). The raw client below
 * checks the bytes the server really sent. */
static int lws_seen_code(int code)
{
#if LWS_LIBRARY_VERSION_NUMBER < 4002000
	if (code >= 1012 && code <= 1015)
		return 1002;
#endif
	return code;
}

START_TEST(test_ws_server_close_after)
{
	static const struct {
		int code;
		const char *reason;
	} cases[] = { { 1001, "going away" },
		      { 1008, "policy violation" },
		      { 1013, "try again later" } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct th_ws_server_opts o = { .behaviour = TH_WS_CLOSE_AFTER,
					       .close_code = cases[i].code,
					       .close_reason = cases[i].reason,
					       .close_after_ms = 300 };
		struct th_ws_server *s;
		struct tclient *c = tclient_new();
		struct tconn t = { 0 };
		char line[256], reason[128] = "";

		start_server(&o, &s);
		connect_up(c, &t, th_ws_server_port(s), "tether-test");
		tconn_send(&t, TX_TEXT, "before", 6);
		ck_assert(tclient_run(c, has_rx, &t, WAIT_MS));
		ck_assert(tclient_run(c, is_closed, &t, WAIT_MS));
		ck_assert_int_eq(t.peer_closed, 1);
		ck_assert_int_eq(t.peer_close_code,
				 lws_seen_code(cases[i].code));
		ck_assert_str_eq(t.peer_close_reason, cases[i].reason);
		/* the server's timer starts just before our ESTABLISHED */
		ck_assert_uint_ge(t.peer_close_ms - t.established_ms, 250);
		ck_assert_uint_lt(t.peer_close_ms - t.established_ms, 3000);
		ck_assert(wait_count(c, s, th_ws_server_open, 0));

		/* the exact code on the wire */
		uint64_t t0 = th_now_ms();
		int fd = raw_upgrade_fd(th_ws_server_port(s), NULL, line,
					sizeof(line));
		ck_assert_str_eq(line, "HTTP/1.1 101 Switching Protocols");
		ck_assert_int_eq(raw_read_close(fd, reason, sizeof(reason),
						WAIT_MS),
				 cases[i].code);
		ck_assert_str_eq(reason, cases[i].reason);
		ck_assert_uint_ge(th_now_ms() - t0, 300);
		close(fd);
		tclient_free(c);
		th_ws_server_free(s);
	}
}
END_TEST

START_TEST(test_ws_server_close_all)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn t[3] = { { 0 } };
	char line[256], reason[128] = "";

	start_server(NULL, &s);
	for (int i = 0; i < 3; i++)
		connect_up(c, &t[i], th_ws_server_port(s), "tether-test");
	int fd = raw_upgrade_fd(th_ws_server_port(s), NULL, line, sizeof(line));
	ck_assert_str_eq(line, "HTTP/1.1 101 Switching Protocols");
	ck_assert(wait_count(c, s, th_ws_server_open, 4));
	th_ws_server_close_all(s, 1012, "service restart");
	ck_assert_int_eq(raw_read_close(fd, reason, sizeof(reason), WAIT_MS),
			 1012);
	ck_assert_str_eq(reason, "service restart");
	close(fd);
	for (int i = 0; i < 3; i++) {
		ck_assert(tclient_run(c, is_closed, &t[i], WAIT_MS));
		ck_assert_int_eq(t[i].peer_close_code, lws_seen_code(1012));
		ck_assert_str_eq(t[i].peer_close_reason, "service restart");
	}
	ck_assert(wait_count(c, s, th_ws_server_open, 0));
	/* the server still accepts afterwards, and close_all with a code
	 * lws 4.1.6 passes through reaches lws clients intact */
	struct tconn n = { 0 };
	connect_up(c, &n, th_ws_server_port(s), "tether-test");
	th_ws_server_close_all(s, 1001, "bye");
	ck_assert(tclient_run(c, is_closed, &n, WAIT_MS));
	ck_assert_int_eq(n.peer_close_code, 1001);
	ck_assert_str_eq(n.peer_close_reason, "bye");
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

/* ---- reject ------------------------------------------------------------ */

START_TEST(test_ws_server_reject_status)
{
	static const int statuses[] = { 401, 403, 404, 503 };

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct th_ws_server_opts o = { .behaviour = TH_WS_REJECT,
					       .reject_status = statuses[i] };
		struct th_ws_server *s;
		struct tclient *c = tclient_new();
		struct tconn t = { 0 };

		start_server(&o, &s);
		tclient_connect(c, &t, th_ws_server_port(s), "tether-test");
		ck_assert(tclient_run(c, is_failed, &t, WAIT_MS));
		ck_assert_int_eq(t.established, 0);
		ck_assert_int_eq(t.error, 1);
		ck_assert_int_eq(t.http_status, statuses[i]);
		ck_assert_uint_eq(th_ws_server_upgrades(s), 1);
		ck_assert_uint_eq(th_ws_server_open(s), 0);
		tclient_free(c);
		th_ws_server_free(s);
	}
}
END_TEST

START_TEST(test_ws_server_reject_status_line)
{
	struct th_ws_server_opts o = { .behaviour = TH_WS_REJECT,
				       .reject_status = 503 };
	struct th_ws_server *s;
	char line[256];

	start_server(&o, &s);
	raw_upgrade(th_ws_server_port(s), NULL, line, sizeof(line));
	/* lws answers a refused upgrade as HTTP/1.0 */
	ck_assert_int_eq(strncmp(line, "HTTP/1.", 7), 0);
	ck_assert_str_eq(line + 9, "503 Service Unavailable");
	th_ws_server_set(s, NULL);
	raw_upgrade(th_ws_server_port(s), NULL, line, sizeof(line));
	ck_assert_str_eq(line, "HTTP/1.1 101 Switching Protocols");
	ck_assert_uint_eq(th_ws_server_upgrades(s), 2);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_require_header)
{
	struct th_ws_server_opts o = { .require_header =
					       "X-Tether-Token: s3cret" };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn none = { 0 }, wrong = { 0 }, ok = { 0 };
	char line[256];

	start_server(&o, &s);
	tclient_connect(c, &none, th_ws_server_port(s), "tether-test");
	ck_assert(tclient_run(c, is_failed, &none, WAIT_MS));
	ck_assert_int_eq(none.http_status, 401);

	wrong.extra_header = "x-tether-token:";
	wrong.extra_value = "guess";
	tclient_connect(c, &wrong, th_ws_server_port(s), "tether-test");
	ck_assert(tclient_run(c, is_failed, &wrong, WAIT_MS));
	ck_assert_int_eq(wrong.http_status, 401);

	ok.extra_header = "x-tether-token:";
	ok.extra_value = "s3cret";
	connect_up(c, &ok, th_ws_server_port(s), "tether-test");
	ck_assert_int_eq(ok.http_status, 101);

	/* a header lws knows as a token (Authorization) works as well */
	o.require_header = "Authorization: Bearer abc";
	th_ws_server_set(s, &o);
	raw_upgrade(th_ws_server_port(s), NULL, line, sizeof(line));
	/* lws answers a refused upgrade as HTTP/1.0 */
	ck_assert_int_eq(strncmp(line, "HTTP/1.", 7), 0);
	ck_assert_str_eq(line + 9, "401 Unauthorized");
	raw_upgrade(th_ws_server_port(s), "authorization: Bearer abc\r\n",
		    line, sizeof(line));
	ck_assert_str_eq(line, "HTTP/1.1 101 Switching Protocols");
	ck_assert_uint_eq(th_ws_server_upgrades(s), 5);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

/* ---- pings ------------------------------------------------------------- */

START_TEST(test_ws_server_pings_answered)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn t = { 0 };

	start_server(NULL, &s);
	connect_up(c, &t, th_ws_server_port(s), "tether-test");
	tconn_send(&t, TX_PING, "p1", 2);
	ck_assert(tclient_run(c, has_pong, &t, WAIT_MS));
	ck_assert_uint_eq(th_ws_server_pings(s), 1);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

START_TEST(test_ws_server_ignore_pings)
{
	struct th_ws_server_opts o = { .behaviour = TH_WS_IGNORE_PINGS };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct tconn t = { 0 };

	start_server(&o, &s);
	connect_up(c, &t, th_ws_server_port(s), "tether-test");
	tconn_send(&t, TX_PING, "p1", 2);
	ck_assert(wait_count(c, s, th_ws_server_pings, 1));
	tclient_run(c, never, NULL, 500);
	ck_assert_uint_eq(t.pongs, 0);
	/* ... while data still flows */
	tconn_send(&t, TX_TEXT, "alive", 5);
	ck_assert(tclient_run(c, has_rx, &t, WAIT_MS));
	ck_assert_mem_eq(t.rx, "alive", 5);
	tconn_send(&t, TX_PING, "p2", 2);
	ck_assert(wait_count(c, s, th_ws_server_pings, 2));
	tclient_run(c, never, NULL, 200);
	ck_assert_uint_eq(t.pongs, 0);
	ck_assert_int_eq(t.closed, 0);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

/* ---- scale ------------------------------------------------------------- */

#define MANY 1000

struct many {
	struct tconn *t;
	int n;
};

static int all_up(void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < m->n; i++)
		if (!is_done(&m->t[i]))
			return 0;
	return 1;
}

static int all_rx(void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < m->n; i++)
		if (!m->t[i].rx_msgs && !m->t[i].error && !m->t[i].closed)
			return 0;
	return 1;
}

START_TEST(test_ws_server_many_clients)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct many m = { calloc(MANY, sizeof(struct tconn)), MANY };
	uint64_t t0 = th_now_ms();

	ck_assert_ptr_nonnull(m.t);
	start_server(NULL, &s);
	for (int i = 0; i < MANY; i++)
		tclient_connect(c, &m.t[i], th_ws_server_port(s), "tether-test");
	ck_assert(tclient_run(c, all_up, &m, 20000));
	for (int i = 0; i < MANY; i++)
		ck_assert_msg(m.t[i].established, "client %d: %s", i,
			      m.t[i].error_text);
	ck_assert(wait_count(c, s, th_ws_server_open, MANY));
	for (int i = 0; i < MANY; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "client %d", i);
		tconn_send(&m.t[i], TX_TEXT, msg, (size_t)n);
	}
	ck_assert(tclient_run(c, all_rx, &m, 20000));
	for (int i = 0; i < MANY; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof(msg), "client %d", i);
		ck_assert_uint_eq(m.t[i].rx_len, (size_t)n);
		ck_assert_mem_eq(m.t[i].rx, msg, (size_t)n);
	}
	ck_assert_uint_eq(th_ws_server_upgrades(s), MANY);
	fprintf(stderr, "ws_server: %d clients up and echoed in %llu ms\n",
		MANY, (unsigned long long)(th_now_ms() - t0));
	tclient_free(c);
	th_ws_server_free(s);
	free(m.t);
}
END_TEST

/* ---- resume ------------------------------------------------------------ */

struct log_wait {
	struct rxlog *log;
	unsigned n;
};

static int log_has(void *arg)
{
	struct log_wait *w = arg;
	return w->log->n >= w->n;
}

/* Service the client until the log holds n messages. */
static int wait_log(struct tclient *c, struct rxlog *log, unsigned n,
		    int timeout_ms)
{
	struct log_wait w = { log, n };
	return tclient_run(c, log_has, &w, timeout_ms);
}

static void tconn_resume(struct tconn *t, const char *session, uint64_t last)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "resume %s %llu", session,
			 (unsigned long long)last);
	tconn_send(t, TX_TEXT, msg, (size_t)n);
}

/* The sequence number of a "seq <N> <payload>" message, or 0. */
static uint64_t seq_of(const char *m)
{
	unsigned long long n;
	return sscanf(m, "seq %llu ", &n) == 1 ? n : 0;
}

/* log->m[from..from+count) must be "seq <first+i> <prefix><first+i>". */
static void expect_run(const struct rxlog *log, unsigned from, uint64_t first,
		       unsigned count, const char *prefix)
{
	ck_assert_uint_ge(log->n, from + count);
	for (unsigned i = 0; i < count; i++) {
		char want[64];
		snprintf(want, sizeof(want), "seq %llu %s%llu",
			 (unsigned long long)(first + i), prefix,
			 (unsigned long long)(first + i));
		ck_assert_str_eq(log->m[from + i], want);
	}
}

static void publish_range(struct th_ws_server *s, const char *session,
			  unsigned from, unsigned to, const char *prefix)
{
	for (unsigned k = from; k <= to; k++) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%s%u", prefix, k);
		ck_assert_uint_eq(th_ws_server_publish(s, session, msg), k);
	}
}

static void client_close(struct tclient *c, struct tconn *t)
{
	t->close_code = LWS_CLOSE_STATUS_NORMAL;
	t->tx = TX_CLOSE;
	lws_callback_on_writable(t->wsi);
	ck_assert(tclient_run(c, is_closed, t, WAIT_MS));
}

START_TEST(test_ws_server_resume_replay)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct rxlog *log = calloc(1, sizeof(*log));
	struct tconn a = { .log = log }, b = { .log = log };

	ck_assert_ptr_nonnull(log);
	start_server(NULL, &s);
	/* history before anyone listens */
	publish_range(s, "dev-1", 1, 3, "m");
	ck_assert_uint_eq(th_ws_server_newest(s, "dev-1"), 3);
	ck_assert_uint_eq(th_ws_server_newest(s, "nobody"), 0);

	connect_up(c, &a, th_ws_server_port(s), "tether-test");
	tconn_resume(&a, "dev-1", 0);
	ck_assert(wait_log(c, log, 3, WAIT_MS));
	ck_assert(wait_count(c, s, th_ws_server_resumes, 1));
	/* live */
	publish_range(s, "dev-1", 4, 5, "m");
	ck_assert(wait_log(c, log, 5, WAIT_MS));
	expect_run(log, 0, 1, 5, "m");
	/* other text still echoes on a bound socket */
	tconn_send(&a, TX_TEXT, "ping-text", 9);
	ck_assert(wait_log(c, log, 6, WAIT_MS));
	ck_assert_str_eq(log->m[5], "ping-text");
	uint64_t last = seq_of(log->m[4]);
	ck_assert_uint_eq(last, 5);

	/* away: these only go to the history */
	client_close(c, &a);
	ck_assert(wait_count(c, s, th_ws_server_open, 0));
	publish_range(s, "dev-1", 6, 10, "m");

	connect_up(c, &b, th_ws_server_port(s), "tether-test");
	tconn_resume(&b, "dev-1", last);
	ck_assert(wait_log(c, log, 11, WAIT_MS));
	expect_run(log, 6, 6, 5, "m");
	publish_range(s, "dev-1", 11, 11, "m");
	ck_assert(wait_log(c, log, 12, WAIT_MS));
	expect_run(log, 11, 11, 1, "m");
	/* nothing more: no duplicate arrives late */
	tclient_run(c, never, NULL, 300);
	ck_assert_uint_eq(log->n, 12);
	ck_assert_uint_eq(th_ws_server_resumes(s), 2);
	tclient_free(c);
	th_ws_server_free(s);
	free(log);
}
END_TEST

START_TEST(test_ws_server_resume_sessions_apart)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct rxlog *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));
	struct tconn a = { .log = la }, b = { .log = lb };

	ck_assert_ptr_nonnull(la);
	ck_assert_ptr_nonnull(lb);
	start_server(NULL, &s);
	connect_up(c, &a, th_ws_server_port(s), "tether-test");
	connect_up(c, &b, th_ws_server_port(s), "tether-test");
	tconn_resume(&a, "alpha", 0);
	tconn_resume(&b, "beta", 0);
	ck_assert(wait_count(c, s, th_ws_server_resumes, 2));
	/* numbering is per session */
	publish_range(s, "alpha", 1, 3, "a");
	publish_range(s, "beta", 1, 2, "b");
	ck_assert(wait_log(c, la, 3, WAIT_MS));
	ck_assert(wait_log(c, lb, 2, WAIT_MS));
	tclient_run(c, never, NULL, 200);
	ck_assert_uint_eq(la->n, 3);
	ck_assert_uint_eq(lb->n, 2);
	expect_run(la, 0, 1, 3, "a");
	expect_run(lb, 0, 1, 2, "b");
	/* invalid ids are refused by publish */
	ck_assert_uint_eq(th_ws_server_publish(s, "has space", "x"), 0);
	ck_assert_uint_eq(th_ws_server_publish(s, "", "x"), 0);
	tclient_free(c);
	th_ws_server_free(s);
	free(la);
	free(lb);
}
END_TEST

START_TEST(test_ws_server_resume_takeover)
{
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct rxlog *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));
	struct tconn a = { .log = la }, b = { .log = lb };

	ck_assert_ptr_nonnull(la);
	ck_assert_ptr_nonnull(lb);
	start_server(NULL, &s);
	connect_up(c, &a, th_ws_server_port(s), "tether-test");
	tconn_resume(&a, "dev", 0);
	ck_assert(wait_count(c, s, th_ws_server_resumes, 1));
	publish_range(s, "dev", 1, 2, "m");
	ck_assert(wait_log(c, la, 2, WAIT_MS));
	/* a second socket (the old one looks half-open) takes it over */
	connect_up(c, &b, th_ws_server_port(s), "tether-test");
	tconn_resume(&b, "dev", 1);
	ck_assert(wait_log(c, lb, 1, WAIT_MS));
	publish_range(s, "dev", 3, 4, "m");
	ck_assert(wait_log(c, lb, 3, WAIT_MS));
	tclient_run(c, never, NULL, 200);
	expect_run(lb, 0, 2, 3, "m");
	ck_assert_uint_eq(la->n, 2); /* the old socket got nothing more */
	ck_assert_int_eq(a.closed, 0);
	tclient_free(c);
	th_ws_server_free(s);
	free(la);
	free(lb);
}
END_TEST

START_TEST(test_ws_server_resume_gap)
{
	struct th_ws_server_opts o = { .history_max = 5 };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct rxlog *log = calloc(1, sizeof(*log));
	struct tconn t = { .log = log };

	ck_assert_ptr_nonnull(log);
	start_server(&o, &s);
	publish_range(s, "g", 1, 12, "m"); /* keeps 8..12 */
	connect_up(c, &t, th_ws_server_port(s), "tether-test");
	tconn_resume(&t, "g", 3);
	ck_assert(wait_log(c, log, 6, WAIT_MS));
	ck_assert_str_eq(log->m[0], "gap 4 7");
	expect_run(log, 1, 8, 5, "m");
	/* resuming inside the kept window: no gap frame */
	tconn_resume(&t, "g", 10);
	ck_assert(wait_log(c, log, 8, WAIT_MS));
	expect_run(log, 6, 11, 2, "m");
	tclient_run(c, never, NULL, 200);
	ck_assert_uint_eq(log->n, 8);
	tclient_free(c);
	th_ws_server_free(s);
	free(log);
}
END_TEST

START_TEST(test_ws_server_resume_errors)
{
	static const struct {
		const char *msg, *reason;
	} cases[] = {
		{ "resume dev 4", "resume beyond newest" },
		{ "resume nobody 1", "resume beyond newest" },
		{ "resume dev", "bad resume" },
		{ "resume dev x1", "bad resume" },
		{ "resume dev 1 2", "bad resume" },
		{ "resume  1", "bad resume" },
		{ "resume dev 99999999999999999999", "bad resume" },
	};
	struct th_ws_server *s;
	struct tclient *c = tclient_new();

	start_server(NULL, &s);
	publish_range(s, "dev", 1, 3, "m");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tconn t = { 0 };

		connect_up(c, &t, th_ws_server_port(s), "tether-test");
		tconn_send(&t, TX_TEXT, cases[i].msg, strlen(cases[i].msg));
		ck_assert_msg(tclient_run(c, is_closed, &t, WAIT_MS), "%s",
			      cases[i].msg);
		ck_assert_int_eq(t.peer_close_code, 1008);
		ck_assert_str_eq(t.peer_close_reason, cases[i].reason);
		ck_assert_uint_eq(t.rx_msgs, 0);
	}
	ck_assert_uint_eq(th_ws_server_resumes(s), 0);
	tclient_free(c);
	th_ws_server_free(s);
}
END_TEST

/* A generator publishes while the server kicks the client twice; the
 * client resumes each time from what it got: 1..N, no gap, no dup. */
START_TEST(test_ws_server_resume_generator)
{
	enum { N = 300 };
	struct th_ws_server *s;
	struct tclient *c = tclient_new();
	struct rxlog *log = calloc(1, sizeof(*log));
	struct tconn t[3] = { { .log = log }, { .log = log }, { .log = log } };
	struct th_ws_gen *g;
	uint64_t last = 0;

	ck_assert_ptr_nonnull(log);
	start_server(NULL, &s);
	g = th_ws_gen_start(s, "gen", N, 2);
	ck_assert_ptr_nonnull(g);
	for (int i = 0; i < 3; i++) {
		connect_up(c, &t[i], th_ws_server_port(s), "tether-test");
		tconn_resume(&t[i], "gen", last);
		if (i < 2) {
			/* some live traffic, then the server goes away */
			ck_assert(wait_log(c, log, log->n + 20, WAIT_MS));
			th_ws_server_close_all(s, 1012, "restart");
			ck_assert(tclient_run(c, is_closed, &t[i], WAIT_MS));
			ck_assert(wait_count(c, s, th_ws_server_open, 0));
			last = log->n ? seq_of(log->m[log->n - 1]) : 0;
			ck_assert_uint_eq(last, log->n);
			/* away for a while: the generator goes on */
			usleep(50 * 1000);
		}
	}
	ck_assert_int_eq(th_ws_gen_wait(g, 20000), 0);
	ck_assert(wait_log(c, log, N, 20000));
	tclient_run(c, never, NULL, 200);
	ck_assert_uint_eq(log->n, N);
	expect_run(log, 0, 1, N, "gen ");
	ck_assert_uint_eq(th_ws_server_resumes(s), 3);
	th_ws_gen_free(g);
	tclient_free(c);
	th_ws_server_free(s);
	free(log);
}
END_TEST

static Suite *ws_server_suite(void)
{
	Suite *s = suite_create("ws_server");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ws_server_echo_text);
	tcase_add_test(tc, test_ws_server_echo_binary);
	tcase_add_test(tc, test_ws_server_subprotocol);
	tcase_add_test(tc, test_ws_server_counters);
	tcase_add_test(tc, test_ws_server_set_affects_new_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ws_server_close_after);
	tcase_add_test(tc, test_ws_server_close_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ws_server_reject_status);
	tcase_add_test(tc, test_ws_server_reject_status_line);
	tcase_add_test(tc, test_ws_server_require_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("pings");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ws_server_pings_answered);
	tcase_add_test(tc, test_ws_server_ignore_pings);
	suite_add_tcase(s, tc);

	tc = tcase_create("resume");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ws_server_resume_replay);
	tcase_add_test(tc, test_ws_server_resume_sessions_apart);
	tcase_add_test(tc, test_ws_server_resume_takeover);
	tcase_add_test(tc, test_ws_server_resume_gap);
	tcase_add_test(tc, test_ws_server_resume_errors);
	tcase_add_test(tc, test_ws_server_resume_generator);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ws_server_many_clients);
	suite_add_tcase(s, tc);

	return s;
}

TTH_CHECK_MAIN(ws_server_suite)

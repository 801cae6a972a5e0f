/**
 * @file tether.h
 * @brief tether: keep MQTT and WebSocket client connections alive.
 *
 * Public API: error codes, connection states, reasons and their classes,
 * events. Not thread-safe unless a function says otherwise (`@thread`).
 *
 * `@thread any` may be called from any thread; `@thread loop` only from the
 * thread that runs the manager's loop (callbacks run there); `@thread init`
 * before the object is shared between threads.
 */
#ifndef TETHER_TETHER_H
#define TETHER_TETHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TETHER_BUILDING) && defined(__GNUC__)
#define TETHER_EXPORT __attribute__((visibility("default")))
#else
#define TETHER_EXPORT
#endif

#define TETHER_VERSION_MAJOR 0
#define TETHER_VERSION_MINOR 1
#define TETHER_VERSION_PATCH 0

/**
 * @brief The library's version as "MAJOR.MINOR.PATCH".
 * @return a static string.
 * @thread any
 */
TETHER_EXPORT const char *tether_version(void);

/*
 * Errors. 0 is success; failures are negative TETHER_E* codes generated from
 * this one table (name, message).
 */
#define TETHER_ERRNO_MAP(XX)                                                   \
	XX(EINVAL, "invalid argument")                                         \
	XX(ENOMEM, "out of memory")                                            \
	XX(ENOENT, "no such name")                                             \
	XX(EEXIST, "name already registered")                                  \
	XX(ESTATE, "operation not allowed in the current state")               \
	XX(ECONFIG, "invalid configuration")                                   \
	XX(ERANGE, "value out of range")                                       \
	XX(EABI, "plug-in built for another ABI version")                      \
	XX(EFULL, "capacity exhausted")                                        \
	XX(ECLOSED, "connection is closed")                                    \
	XX(EIO, "input/output error")                                          \
	XX(ETIMEDOUT, "timed out")                                             \
	XX(ENOTSUP, "not supported")                                           \
	XX(EEXPIRED, "message expired before it could be sent")                \
	XX(ETOOBIG, "message too large")

/** Error codes: all negative, 0 is success. */
enum tether_errno {
	TETHER_OK = 0,
	TETHER__ERRNO_BASE = -1000,
#define TETHER_XX_(name, msg) TETHER_##name,
	TETHER_ERRNO_MAP(TETHER_XX_)
#undef TETHER_XX_
	TETHER__ERRNO_END
};

/**
 * @brief Human-readable message for an error code.
 * @param err 0 or a negative TETHER_E* code.
 * @return a static string; "unknown error" for a code not in the table.
 * @thread any
 */
TETHER_EXPORT const char *tether_strerror(int err);

/**
 * @brief The symbolic name of an error code ("TETHER_EINVAL").
 * @param err 0 or a negative TETHER_E* code.
 * @return a static string; "TETHER_UNKNOWN" for a code not in the table.
 * @thread any
 */
TETHER_EXPORT const char *tether_err_name(int err);


/* ---------------------------------------------------------------- logs */

/** How much the library and its engines log (docs/logging.md). */
enum tether_log_level {
	TETHER_LOG_OFF = 0,     /**< nothing */
	TETHER_LOG_ERROR = 1,   /**< failures nobody else reports (default) */
	TETHER_LOG_WARNING = 2, /**< and what may need attention */
	TETHER_LOG_INFO = 3,    /**< and protocol-level notes */
	TETHER_LOG_DEBUG = 4    /**< and the engines' debugging traces */
};

/**
 * @brief Receives one log line.
 * @param level the line's level (never above the level set).
 * @param origin who wrote it: "tether", or the engine: "lws", "paho", or
 *   a third-party transport's name.
 * @param line one line, without its newline; control characters are
 *   written as \xNN, and a line is cut at 1,020 bytes (after that
 *   escaping), ending in "...". Valid during the call only.
 * @param userdata as given to tether_set_log_cb().
 * @thread any: the loop's thread, and Paho's own threads
 */
typedef void (*tether_log_cb)(enum tether_log_level level, const char *origin,
			      const char *line, void *userdata);

/**
 * @brief Route the library's log lines, and those of libwebsockets and
 *   Paho, to `cb` (process-wide: both engines' logging is process-wide).
 *   Without a callback (the default, or cb NULL) the lines are dropped:
 *   the library writes nothing to stderr on its own; pass
 *   tether_log_to_stderr for "tether: ORIGIN: LINE" there (the CLI
 *   does). The level applies at once to tether's own lines and to the
 *   engines' lines as they arrive; how much an engine produces is set
 *   when its context starts (a manager's first connect), so set the
 *   level before then. Paho's trace hook is installed only while a
 *   callback is set here (it is process-wide; a program that uses Paho
 *   on its own keeps its trace otherwise). tether's lines never carry
 *   passwords or other secrets; TETHER_LOG_DEBUG passes the engines'
 *   traces on as they are (topics, client ids, host names).
 * @param cb the callback, or NULL to drop every line.
 * @param userdata passed to cb.
 * @param level the most detailed level to pass on (TETHER_LOG_OFF for none).
 * @return 0; TETHER_EINVAL (level out of range); TETHER_ESTATE (called from
 *   a log callback: nothing changed).
 * @thread any; a callback replaced while another thread is inside it
 *   finishes that call before this returns
 */
TETHER_EXPORT int tether_set_log_cb(tether_log_cb cb, void *userdata,
				    enum tether_log_level level);

/**
 * @brief A log callback that writes "tether: ORIGIN: LINE" to stderr
 *   (userdata unused): tether_set_log_cb(tether_log_to_stderr, NULL,
 *   TETHER_LOG_ERROR) prints what the engines report as errors.
 * @thread any
 */
TETHER_EXPORT void tether_log_to_stderr(enum tether_log_level level,
					const char *origin, const char *line,
					void *userdata);

/**
 * @brief The level set by tether_set_log_cb() (TETHER_LOG_ERROR by default).
 * @thread any
 */
TETHER_EXPORT enum tether_log_level tether_log_level(void);

/** Connection states (docs/state-machine.md). */
enum tether_state {
	TETHER_STATE_IDLE = 0,   /**< created, not started */
	TETHER_STATE_CONNECTING, /**< one attempt in flight */
	TETHER_STATE_ONLINE,     /**< link is up */
	TETHER_STATE_BACKOFF,    /**< waiting for the policy's retry timer */
	TETHER_STATE_SUSPENDED,  /**< breaker open, link down, waiting for a
				      connect token from the manager's
				      limiter, or waiting while another
				      connection probes a failing endpoint */
	TETHER_STATE_CLOSING,    /**< closing the link, waiting for the transport */
	TETHER_STATE_CLOSED      /**< stopped by the user, gave up, or fatal */
};
#define TETHER_STATE_COUNT 7

/**
 * @brief Name of a state ("online").
 * @return a static string; "?" for a value out of range.
 * @thread any
 */
TETHER_EXPORT const char *tether_state_name(enum tether_state s);

/** What the connection does about a failure (see tether.yaml(5)). */
enum tether_reason_class {
	TETHER_CLASS_NORMAL = 0, /**< an orderly end: stop, nothing else */
	TETHER_CLASS_TRANSIENT,  /**< retry with the policy's backoff */
	TETHER_CLASS_OVERLOAD,   /**< retry, but never sooner than the floor */
	TETHER_CLASS_TIMEOUT,    /**< abort the transport, then retry */
	TETHER_CLASS_REDIRECT,   /**< switch endpoint and connect now */
	TETHER_CLASS_FATAL       /**< stop for good: never retried */
};
#define TETHER_CLASS_COUNT 6

/**
 * @brief Name of a reason class ("transient").
 * @return a static string; "?" for a value out of range.
 * @thread any
 */
TETHER_EXPORT const char *tether_class_name(enum tether_reason_class c);

/**
 * @brief Parse a class name ("fatal").
 * @param name the name, case-sensitive.
 * @param out receives the class.
 * @return 0, or TETHER_EINVAL for an unknown name.
 * @thread any
 */
TETHER_EXPORT int tether_class_parse(const char *name,
				     enum tether_reason_class *out);

/** Where a reason's code comes from: the code space of `code`. */
enum tether_reason_kind {
	TETHER_KIND_LOCAL = 0, /**< tether itself: TETHER_LOCAL_* codes */
	TETHER_KIND_SOCKET,    /**< an errno value; 0 = end of stream */
	TETHER_KIND_DNS,       /**< a getaddrinfo() EAI_* value */
	TETHER_KIND_TLS,       /**< TETHER_TLS_* codes */
	TETHER_KIND_HTTP,      /**< HTTP status of a refused WebSocket upgrade */
	TETHER_KIND_WS_CLOSE,  /**< WebSocket close code (RFC 6455 §7.4) */
	TETHER_KIND_MQTT3,     /**< MQTT 3.1.1 CONNACK return code */
	TETHER_KIND_MQTT5      /**< MQTT 5 reason code (CONNACK or DISCONNECT) */
};
#define TETHER_KIND_COUNT 8

/**
 * @brief Name of a reason kind as used in `classify:` keys ("ws", "mqtt5").
 * @return a static string; "?" for a value out of range.
 * @thread any
 */
TETHER_EXPORT const char *tether_kind_name(enum tether_reason_kind k);

/** Codes of TETHER_KIND_LOCAL. */
enum tether_local_code {
	TETHER_LOCAL_USER_CLOSE = 0,   /**< closed by the application */
	TETHER_LOCAL_CONNECT_TIMEOUT,  /**< attempt exceeded connect_timeout */
	TETHER_LOCAL_HEARTBEAT_TIMEOUT, /**< pings unanswered: half-open link */
	TETHER_LOCAL_KEEPALIVE_TIMEOUT, /**< MQTT keepalive expired */
	TETHER_LOCAL_CLOSE_TIMEOUT,    /**< transport did not confirm a close */
	TETHER_LOCAL_FAILBACK,         /**< closed to fail back to endpoint 0 */
	TETHER_LOCAL_LINK_DOWN,        /**< the network link went down */
	TETHER_LOCAL_PROTOCOL,         /**< the peer broke the protocol */
	TETHER_LOCAL_BAD_ENDPOINT,     /**< endpoint cannot be used (bad URI) */
	TETHER_LOCAL_REDIRECT_LOOP,    /**< too many redirects in a row */
	TETHER_LOCAL_BAD_OPTIONS       /**< options the pre-connect hook set
					    were refused by the transport */
};

/** Codes of TETHER_KIND_TLS. */
enum tether_tls_code {
	TETHER_TLS_HANDSHAKE = 1, /**< handshake failed */
	TETHER_TLS_VERIFY = 2     /**< peer certificate failed verification */
};

/**
 * Why a connection failed or was lost. Transports fill kind, code, by_peer,
 * text and server_ref; the connection fills cls from its classification
 * table. All strings are borrowed: valid during the call or callback that
 * hands the reason over.
 */
struct tether_reason {
	enum tether_reason_class cls;
	enum tether_reason_kind kind;
	int code;
	int by_peer;            /**< 1 when the peer ended it (server close) */
	const char *transport;  /**< "mqtt", "ws", "sim"...; may be NULL */
	const char *text;       /**< human-readable detail; may be NULL */
	const char *server_ref; /**< redirect target (MQTT 5 Server Reference,
				     HTTP Location); may be NULL */
	/**
	 * The peer's own "retry after" hint in ms (HTTP Retry-After on a
	 * refused upgrade), 0 for none. The next attempt waits at least this
	 * long, bounded by the timing "retry_after_max". Read from a
	 * transport only when its ops' abi is 3 or more (the field is new).
	 */
	uint64_t retry_after_ms;
};

/**
 * @brief Classify a reason with the built-in table alone.
 * @param kind the code space.
 * @param code the code.
 * @param by_peer 1 if the peer initiated it (changes WS 1000 / MQTT 0x00).
 * @return the class. Codes not in the table get the class of their range
 *   (e.g. unknown MQTT 5 codes >= 0x80 are transient).
 * @thread any
 */
TETHER_EXPORT enum tether_reason_class
tether_reason_default_class(enum tether_reason_kind kind, int code, int by_peer);

/**
 * @brief Format a reason as one line: "transient: ws close 1006 (peer): text".
 * @param r the reason.
 * @param buf output buffer, always NUL-terminated when len > 0.
 * @param len size of buf.
 * @return the length the full line needs, as snprintf.
 * @thread any
 */
TETHER_EXPORT int tether_reason_format(const struct tether_reason *r, char *buf,
				       size_t len);

/*
 * Classification overrides. A table of rules "kind:code[-code] -> class"
 * consulted before the built-in table. Keys read like "ws:1000",
 * "mqtt5:0x89", "http:500-599", "mqtt3:3", "socket:ECONNREFUSED" is not
 * accepted (use the number).
 */
typedef struct tether_classifier tether_classifier;

/**
 * @brief Create an empty override table.
 * @return the table, or NULL when out of memory.
 * @thread any
 */
TETHER_EXPORT tether_classifier *tether_classifier_new(void);

/**
 * @brief Free an override table. NULL is a no-op.
 * @thread any (not while a connection uses it)
 */
TETHER_EXPORT void tether_classifier_free(tether_classifier *c);

/**
 * @brief Add a rule; later rules win over earlier ones.
 * @param c the table.
 * @param kind the code space.
 * @param lo first code of the range.
 * @param hi last code of the range (>= lo).
 * @param by_peer -1 for both directions, 0 local only, 1 peer only.
 * @param cls the class to give.
 * @return 0, TETHER_EINVAL (range or kind), TETHER_ENOMEM.
 * @thread init
 */
TETHER_EXPORT int tether_classifier_add(tether_classifier *c,
					enum tether_reason_kind kind, int lo,
					int hi, int by_peer,
					enum tether_reason_class cls);

/**
 * @brief Add a rule from its text form: key "ws:1013", "mqtt5:0x89",
 *   "http:500-599", optionally prefixed "peer:" or "local:", and a class
 *   name.
 * @param c the table.
 * @param key the rule key.
 * @param cls_name the class name ("fatal").
 * @param err receives a message on failure (may be NULL).
 * @param errlen size of err.
 * @return 0, TETHER_EINVAL with a message, TETHER_ENOMEM.
 * @thread init
 */
TETHER_EXPORT int tether_classifier_add_rule(tether_classifier *c,
					     const char *key,
					     const char *cls_name, char *err,
					     size_t errlen);

/**
 * @brief Classify with the overrides first, then the built-in table.
 * @param c the table, or NULL for the built-in table alone.
 * @return the class.
 * @thread any (while nobody adds rules)
 */
TETHER_EXPORT enum tether_reason_class
tether_classify(const tether_classifier *c, enum tether_reason_kind kind,
		int code, int by_peer);

/** Kinds of event a connection reports. */
enum tether_event_type {
	TETHER_EV_STATE = 0, /**< state changed: old_state -> state */
	TETHER_EV_ATTEMPT,   /**< an attempt started on `endpoint` */
	TETHER_EV_UP,        /**< the link is up */
	TETHER_EV_DOWN,      /**< an attempt failed or the link was lost */
	TETHER_EV_RETRY,     /**< retry scheduled in delay_ms */
	TETHER_EV_SUSPEND,   /**< suspended for delay_ms (breaker, link) */
	TETHER_EV_GIVE_UP,   /**< the policy gave up; CLOSED follows */
	TETHER_EV_FATAL,     /**< a fatal reason; CLOSED follows */
	TETHER_EV_CLOSED,    /**< reached CLOSED */
	TETHER_EV_MESSAGE,   /**< a message arrived: `message`; may come
				  after the DOWN (or, for a stop, the CLOSED)
				  of the link that received it: it was taken
				  from the peer, nothing sends it again */
	TETHER_EV_SENT,      /**< send `msg_id` settled: `error` 0 = delivered,
				  else dropped and why (see tether_conn_send) */
	TETHER_EV_RELOAD,    /**< a reload changed the connection; `detail`:
				  "live" (settings swapped), "restart" (link
				  settings changed), "added", "removed" (then
				  REMOVED follows) */
	TETHER_EV_WARNING,   /**< something to tell, nothing failed; `detail`
				  (a damaged spool record skipped...) */
	TETHER_EV_REMOVED,   /**< the connection's last event: it is closed
				  and removed (tether_conn_remove, or a reload
				  that dropped it); its handle is freed when
				  the callback returns */
	TETHER_EV_SUBSCRIBE_FAILED /**< MQTT: the broker refused a SUBSCRIBE
				  or an UNSUBSCRIBE, or the link could not
				  carry it; `detail` the topic filter,
				  `reason` why (kind mqtt5 or mqtt3 with the
				  SUBACK/UNSUBACK reason code, e.g. 0x87 not
				  authorized; kind local for one never sent)
				  and its class normal: the link stays as it
				  is */
};
#define TETHER_EVENT_COUNT 15

/**
 * @brief Name of an event type ("retry").
 * @return a static string; "?" for a value out of range.
 * @thread any
 */
TETHER_EXPORT const char *tether_event_name(enum tether_event_type t);

/** Opaque manager: owns the loop, the limiter and the connections. */
typedef struct tether_mgr tether_mgr;
/** Opaque connection handle, owned by its manager. */
typedef struct tether_conn tether_conn;
/** A parameter set (policy.h): key = value, nested sets. */
typedef struct tether_params tether_params;

/**
 * An MQTT 5 property of a message: a string or binary value (value/len),
 * or a number. Inbound, any property the broker sent; outbound
 * (tether_conn_send), only "payload_format_indicator" (0 or 1),
 * "message_expiry_interval" (seconds), "content_type", "response_topic"
 * (no wildcards), "correlation_data" (binary) and User Properties
 * (user = 1, any name): at most TETHER_PROPS_MAX of them, strings valid
 * UTF-8 without NUL, every value at most 65535 bytes, all together at
 * most TETHER_PROPS_MAX_BYTES encoded.
 */
struct tether_property {
	const char *name;  /**< "content_type", "response_topic",
			        "correlation_data", "payload_format_indicator",
			        "message_expiry_interval",
			        "subscription_identifier", "topic_alias"; for a
			        User Property its own name (user = 1) */
	const void *value; /**< the bytes (NUL-terminated for strings); NULL
			        for a number */
	size_t len;
	uint64_t number;   /**< the value of a numeric property */
	int user;          /**< a User Property */
};

/** At most this many properties on an outbound message. */
#define TETHER_PROPS_MAX 32
/** At most this many bytes of outbound properties, as MQTT encodes them. */
#define TETHER_PROPS_MAX_BYTES 65536

/**
 * A message, outbound (tether_conn_send) or inbound (TETHER_EV_MESSAGE).
 * Inbound, every pointer is valid only during the callback.
 */
struct tether_message {
	uint32_t size;       /**< sizeof(struct tether_message) */
	const char *topic;   /**< MQTT topic; NULL for WebSocket */
	const void *payload;
	size_t len;
	int qos;             /**< MQTT 0, 1, 2 */
	int retain;          /**< MQTT retain flag */
	int binary;          /**< WebSocket: 1 binary frame, 0 text */
	uint64_t ttl_ms;     /**< outbound: dropped (TETHER_EEXPIRED) when not
				  sent within this time; 0 = the queue's ttl */
	int dup;             /**< inbound MQTT: the DUP flag; outbound: set
				  by tether on a message sent again */
	const struct tether_property *props; /**< MQTT 5 properties (else
						 NULL): inbound, what came;
						 outbound, sent with the
						 message (see
						 tether_conn_send) */
	size_t nprops;
};

/**
 * An event, valid only during the callback that receives it.
 * `size` is sizeof(struct tether_event) of the library that built it.
 */
struct tether_event {
	uint32_t size;
	enum tether_event_type type;
	enum tether_state state;     /**< state after the event */
	enum tether_state old_state; /**< for TETHER_EV_STATE */
	uint64_t now_ms;             /**< the loop's monotonic clock */
	uint32_t attempt;   /**< failed rounds in the current streak */
	uint32_t endpoint;  /**< endpoint index in use */
	uint64_t delay_ms;  /**< RETRY, SUSPEND */
	const struct tether_reason *reason; /**< DOWN, FATAL, GIVE_UP, CLOSED;
					       else NULL */
	const char *detail; /**< e.g. why the policy gave up; may be NULL */
	const struct tether_message *message; /**< MESSAGE; else NULL */
	uint64_t msg_id;    /**< SENT */
	int error;          /**< SENT: 0 delivered, else a TETHER_E* code */
	int session_present; /**< UP, MQTT: the broker kept our session */
};

/* ------------------------------------------------------------- manager */

/**
 * Receives every event of every connection of a manager, always on the
 * manager's loop thread. May call any tether function, including
 * tether_conn_stop() on the connection it is told about.
 */
typedef void (*tether_event_cb)(tether_conn *conn, const struct tether_event *ev,
				void *userdata);

/**
 * @brief Create a manager with a libuv loop of its own. Run it with
 *   tether_mgr_start() (a thread of the manager's own) or from a host loop
 *   with tether_mgr_fd(), tether_mgr_timeout_ms() and
 *   tether_mgr_dispatch(). Its limiter starts at
 *   TETHER_DEFAULT_CONNECTS_PER_SECOND with a burst of TETHER_DEFAULT_BURST
 *   and no cap on attempts in flight (see tether_mgr_set_limits()).
 * @param out receives the manager.
 * @return 0, TETHER_ENOMEM, TETHER_EIO (the loop could not be made).
 * @thread any
 */
TETHER_EXPORT int tether_mgr_new(tether_mgr **out);

struct uv_loop_s; /* uv_loop_t, from <uv.h> */

/**
 * @brief Create a manager on the host's running libuv loop: its timers,
 *   wake-up and sockets (libwebsockets' too) become handles of `loop`,
 *   and its callbacks run on the thread that runs `loop`. The host runs
 *   the loop; tether_mgr_start(), tether_mgr_dispatch() and
 *   tether_mgr_fd() are not for such a manager (TETHER_ESTATE, -1).
 * @param out receives the manager.
 * @param loop the host's loop; it must outlive the manager, and keep
 *   running after tether_mgr_free() until the handles it closed are
 *   closed (uv_run() returns when nothing else is active).
 * @return 0, TETHER_EINVAL, TETHER_ENOMEM, TETHER_EIO.
 * @thread the loop's thread
 */
TETHER_EXPORT int tether_mgr_new_uv(tether_mgr **out, struct uv_loop_s *loop);

/**
 * @brief The manager's libuv loop (its own or the host's). For
 *   transports that run their library on it (libwebsockets does).
 * @return the loop; NULL for NULL.
 * @thread any (use the loop on its thread only)
 */
TETHER_EXPORT struct uv_loop_s *tether_mgr_uv_loop(const tether_mgr *m);

/**
 * @brief Stop the loop thread if running, abort every connection, free all.
 *   NULL is a no-op. Not from inside a callback. A manager on the host's
 *   loop (tether_mgr_new_uv()) is freed on the loop's thread, outside its
 *   callbacks; its handles finish closing as the host's loop runs on.
 * @thread any but the loop thread; the loop's thread for tether_mgr_new_uv()
 */
TETHER_EXPORT void tether_mgr_free(tether_mgr *m);

/**
 * @brief Set the callback that receives every event.
 * @return 0, TETHER_EINVAL.
 * @thread init (before the loop runs)
 */
TETHER_EXPORT int tether_mgr_set_event_cb(tether_mgr *m, tether_event_cb cb,
					  void *userdata);

/** The manager's default connect rate: 2,000 connections waiting on a
 *  recovered endpoint are all released within 2 s, and no 1 s window
 *  holds more than 1,000 attempts (docs/policies.md). */
#define TETHER_DEFAULT_CONNECTS_PER_SECOND 1000
/** The manager's default limiter burst. */
#define TETHER_DEFAULT_BURST 1

/**
 * @brief The manager-wide connect limiter (docs/architecture.md): at most
 *   `connects_per_second` attempts per second with bursts of `burst`, and
 *   at most `max_connecting` attempts in flight; waiting connections are
 *   served in FIFO order.
 * @param connects_per_second 0 for no rate limit.
 * @param burst bucket size, >= 1.
 * @param max_connecting 0 for no cap.
 * @return 0, TETHER_EINVAL.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_mgr_set_limits(tether_mgr *m,
					double connects_per_second,
					uint32_t burst, uint32_t max_connecting);

/**
 * @brief Run the loop on a thread of the manager's own.
 * @return 0, TETHER_ESTATE (already running), TETHER_EIO.
 * @thread any
 */
TETHER_EXPORT int tether_mgr_start(tether_mgr *m);

/**
 * @brief Stop and join the loop thread (connections stay as they are).
 * @return 0, TETHER_ESTATE (not running, or called on the loop thread).
 * @thread any but the loop thread
 */
TETHER_EXPORT int tether_mgr_stop(tether_mgr *m);

/**
 * @brief For a host event loop: a file descriptor that becomes readable
 *   when the manager has work (the libuv loop's backend fd: an epoll fd
 *   that covers every socket, timer and wake-up of the manager). Watch it
 *   for reading, and call tether_mgr_dispatch() when it is readable or
 *   when tether_mgr_timeout_ms() has passed.
 * @return the fd (owned by the manager); -1 for a manager on the host's
 *   libuv loop (tether_mgr_new_uv()).
 * @thread any
 */
TETHER_EXPORT int tether_mgr_fd(const tether_mgr *m);

/**
 * @brief How long the host may wait before calling dispatch.
 * @return milliseconds; 0 when work is due now; -1 when only the fd matters.
 * @thread the host's loop thread (any thread while no loop runs)
 */
TETHER_EXPORT int tether_mgr_timeout_ms(tether_mgr *m);

/**
 * @brief Do what is due: posted reports and commands, timers, sockets,
 *   callbacks (one non-blocking pass of the loop, UV_RUN_NOWAIT).
 * @return 0, TETHER_ESTATE (the manager's own thread is running, the
 *   manager is on the host's libuv loop, or called from a callback).
 * @thread the host's loop thread
 */
TETHER_EXPORT int tether_mgr_dispatch(tether_mgr *m);

/**
 * @brief Whether the caller is the thread running the loop right now
 *   (inside a callback or dispatch).
 * @thread any
 */
TETHER_EXPORT int tether_mgr_is_loop_thread(const tether_mgr *m);

/**
 * @brief The manager's metrics in the Prometheus text exposition format
 *   (version 0.0.4). Per connection (labels `conn`, `transport`):
 *   tether_connection_state (gauge, one sample per `state`, 1 for the
 *   current one), tether_attempts_total{result="up|failed"},
 *   tether_disconnects_total{class=...} (links lost and attempts failed,
 *   by reason class), tether_reconnect_seconds (histogram of the time from
 *   a link loss to the next up), tether_rtt_seconds (smoothed RTT, RFC
 *   6298, of handshakes and pings; absent before the first sample),
 *   tether_messages_sent_total, tether_messages_received_total. Per
 *   manager: tether_limiter_waits_total (attempts that waited for the
 *   limiter) and tether_connections. Counters are as of the loop's latest
 *   events.
 * @param m the manager.
 * @return a NUL-terminated text the caller frees with free(), or NULL
 *   when out of memory (or m is NULL).
 * @thread any
 */
TETHER_EXPORT char *tether_mgr_metrics_text(tether_mgr *m);

/* ---------------------------------------------------------- connection */

/**
 * @brief Create a connection, owned by the manager (freed with it).
 * @param m the manager.
 * @param name unique name, copied (used in logs and events).
 * @param transport a registered transport: "mqtt" or "ws".
 * @param out receives the handle.
 * @return 0, TETHER_EINVAL, TETHER_ENOENT (transport), TETHER_EEXIST
 *   (name), TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_conn_new(tether_mgr *m, const char *name,
				  const char *transport, tether_conn **out);

/**
 * @brief Find a connection of m by name.
 * @return the handle (owned by m), or NULL when there is none.
 * @thread any
 */
TETHER_EXPORT tether_conn *tether_conn_find(tether_mgr *m, const char *name);

/**
 * @brief Remove c from its manager: it closes (as tether_conn_stop, with
 *   its close_timeout), messages still queued are dropped with
 *   TETHER_ECLOSED (a spooled one stays in its spool, for the next
 *   connection on that spool), then TETHER_EV_REMOVED is its last event
 *   and it is freed. tether_conn_find() and tether_mgr_conns() stop
 *   returning it at once, so its name can be used again right away.
 * @param c the connection; invalid once TETHER_EV_REMOVED was delivered
 *   (at the latest when tether_mgr_free() returns): the caller must not
 *   use it from another thread after this call.
 * @return 0; TETHER_EINVAL (NULL); TETHER_ENOMEM (nothing changed).
 * @thread any (also from a callback)
 */
TETHER_EXPORT int tether_conn_remove(tether_conn *c);

/**
 * @brief The connections of m, in the order they were made.
 * @param m the manager.
 * @param out receives up to cap handles (owned by m); may be NULL when
 *   cap is 0.
 * @param cap room in out.
 * @return how many connections m has (call again with a larger out when
 *   it exceeds cap); 0 for a NULL m.
 * @thread any
 */
TETHER_EXPORT size_t tether_mgr_conns(tether_mgr *m, tether_conn **out,
				      size_t cap);

/**
 * @brief Append an endpoint URI (tried in order, failures rotate).
 * @return 0, TETHER_EINVAL (scheme not handled by the transport, with the
 *   reason in tether_conn_error()), TETHER_ESTATE (started), TETHER_ENOMEM.
 * @thread init (before tether_conn_start)
 */
TETHER_EXPORT int tether_conn_add_endpoint(tether_conn *c, const char *uri);

/**
 * @brief Set a transport option (see the transport's documentation: MQTT
 *   "version", "client_id", "username", "password", "keepalive",
 *   "clean_start", "ca_file", "verify"...; WebSocket "subprotocol",
 *   "header.NAME", "ca_file", "verify"...). Before the first start it is
 *   checked at tether_conn_start. Afterwards it may be set on a CLOSED
 *   connection (it takes effect at the next start) and from the
 *   pre-connect hook (for that attempt on): then the transport checks it
 *   at once, and a value it refuses changes nothing (TETHER_ECONFIG, the
 *   message in tether_conn_error()).
 * @return 0, TETHER_EINVAL, TETHER_ECONFIG, TETHER_ESTATE (started, and
 *   neither CLOSED nor in the pre-connect hook), TETHER_ENOMEM.
 * @thread init; a CLOSED connection's from any thread (not while another
 *   starts it); the hook's on the loop thread
 */
TETHER_EXPORT int tether_conn_set_option(tether_conn *c, const char *key,
					 const char *value);

/**
 * @brief Use a reconnect policy (a parameter set whose `type` names it).
 *   Checked now; copied. The default is exponential with its defaults.
 * @return 0, TETHER_ECONFIG / TETHER_ENOENT (message in
 *   tether_conn_error()), TETHER_ESTATE, TETHER_ENOMEM.
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_policy(tether_conn *c, tether_params *policy);

/**
 * @brief Timing of the state machine, in milliseconds. Keys:
 *   "connect_timeout" (10 s), "close_timeout" (2 s), "stable_after" (5 s),
 *   "overload_floor" (5 s), "failback_after" (0 = off), "probe_interval"
 *   (1 s: the longest delay between shared probes of a failing endpoint
 *   while other connections wait, see tether_conn_set_coordinated()),
 *   "flap_window" (10 s, 0 = off: a link the peer closes within this of
 *   coming up, taken back at the first attempt, is a flap; from the
 *   third in a row a TETHER_EV_WARNING
 *   names the likely cause, a taken-over session or a client id used
 *   twice, and retries wait at least overload_floor, doubled per further
 *   flap, at most 1 min),
 *   "retry_after_max" (60 s: the longest wait a peer's retry-after hint,
 *   tether_reason.retry_after_ms, can impose; 0 ignores such hints).
 * @return 0, TETHER_EINVAL (unknown key), TETHER_ESTATE.
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_timing(tether_conn *c, const char *key,
					 uint64_t ms);

/**
 * @brief Coordinated recovery (on by default): the connections of one
 *   manager whose endpoints share transport and host:port share that
 *   endpoint's health. While it is failing, one of them probes it on its
 *   policy's schedule, made shorter the more connections wait (never more
 *   than the "probe_interval" timing, 1 s, apart; an overload slows it to
 *   "overload_floor"); the others wait in SUSPENDED (event suspend,
 *   detail "endpoint probing") without spending attempts, and are
 *   released through the manager's limiter as soon as an attempt gets an
 *   answer. A fatal refusal (bad credentials) ends only the connection
 *   that got it. Off, the connection retries on its own policy alone.
 * @param on 1 to take part (the default), 0 not to.
 * @return 0, TETHER_EINVAL, TETHER_ESTATE (after the first start).
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_coordinated(tether_conn *c, int on);

/**
 * @brief WebSocket heartbeat: a ping after `interval_ms` without inbound
 *   traffic, declared dead (class timeout) after `misses` pings unanswered
 *   for `timeout_ms` each. So a half-open link is detected within
 *   interval + timeout x misses. interval 0 turns it off. Transports with
 *   a keepalive of their own (MQTT) ignore it.
 * @return 0, TETHER_EINVAL, TETHER_ESTATE.
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_heartbeat(tether_conn *c, uint64_t interval_ms,
					    uint64_t timeout_ms, uint32_t misses);

/**
 * @brief Override the class of a reason for this connection
 *   ("peer:ws:1000" -> "normal"; see tether_classifier_add_rule()).
 * @return 0, TETHER_EINVAL (message in tether_conn_error()), TETHER_ESTATE.
 * @thread init
 */
TETHER_EXPORT int tether_conn_classify(tether_conn *c, const char *key,
				       const char *cls);

/**
 * @brief Start connecting (again, after CLOSED).
 * @return 0, TETHER_ECONFIG (bad options: tether_conn_error() says which),
 *   TETHER_EINVAL (no endpoint), TETHER_ENOMEM.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_conn_start(tether_conn *c);

/**
 * @brief Check the transport options now, without connecting: the
 *   transport reads them as tether_conn_start() would. The built-in
 *   transports do that without their context (no thread, no library
 *   state); a transport without a `check` op gets a link created from
 *   the options and freed at once (creating the manager's transport
 *   context if it has none yet).
 * @return 0, TETHER_ECONFIG (every problem in tether_conn_error(), one per
 *   line, "key: what was expected, what was found"), TETHER_ESTATE
 *   (started), TETHER_EINVAL, TETHER_ENOMEM, or the error of a transport
 *   that could not start (tether_conn_error() says so).
 * @thread init
 */
TETHER_EXPORT int tether_conn_check(tether_conn *c);

/**
 * @brief Close orderly; the connection ends CLOSED.
 * @return 0.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_conn_stop(tether_conn *c);

/** What a full queue does with one more message. */
enum tether_overflow {
	TETHER_OVERFLOW_DROP_OLDEST = 0, /**< drop the oldest queued message
					      (its SENT event: TETHER_EFULL) */
	TETHER_OVERFLOW_DROP_NEWEST,     /**< accept the new one and drop it at
					      once (SENT: TETHER_EFULL) */
	TETHER_OVERFLOW_REJECT           /**< tether_conn_send fails with
					      TETHER_EFULL, nothing dropped */
};

/** When the spool calls fsync(2). */
enum tether_fsync {
	TETHER_FSYNC_ALWAYS = 0, /**< before tether_conn_send returns */
	TETHER_FSYNC_INTERVAL,   /**< at most every fsync_interval_ms */
	TETHER_FSYNC_NEVER       /**< leave it to the kernel */
};

/**
 * A connection's outbound queue (tether.yaml(5), queue:). Fill it with
 * tether_queue_cfg_defaults() and change what you need.
 */
struct tether_queue_cfg {
	uint32_t size;              /**< sizeof(struct tether_queue_cfg) */
	uint32_t max_messages;      /**< messages held: waiting, plus handed
					 to the transport and not yet
					 reported (so memory stays bounded
					 and a reconnect never has to drop
					 to put them back); default 10000 */
	uint64_t max_bytes;         /**< their payload + topic bytes; 8 MiB */
	enum tether_overflow overflow; /**< default DROP_OLDEST */
	uint64_t ttl_ms;            /**< default message TTL; 0 = none */
	const char *spool_dir;      /**< durable spool directory (copied);
					 NULL = none. QoS >= 1 messages are
					 appended there before send returns */
	enum tether_fsync fsync;    /**< default ALWAYS */
	uint64_t fsync_interval_ms; /**< for TETHER_FSYNC_INTERVAL; 1000 */
	uint64_t spool_max_bytes;   /**< spool size bound; 64 MiB */
};

/**
 * @brief Fill q with the defaults (and q->size).
 * @thread any
 */
TETHER_EXPORT void tether_queue_cfg_defaults(struct tether_queue_cfg *q);

/**
 * @brief Set the outbound queue. Before the start any setting; after it
 *   the bounds, overflow and TTL change live (the spool directory cannot
 *   change once started).
 * @return 0, TETHER_EINVAL (a bound of 0, an unknown overflow or fsync),
 *   TETHER_ESTATE (spool change after start), TETHER_ENOMEM.
 * @thread any (applied by the loop once started)
 */
TETHER_EXPORT int tether_conn_set_queue(tether_conn *c,
					const struct tether_queue_cfg *q);

/**
 * @brief Send a message: accepted into the connection's queue in any state
 *   but CLOSED, handed to the transport in order once online (a backlog
 *   drains before anything sent later), resent after a reconnect when
 *   QoS >= 1 and not acknowledged. Exactly one TETHER_EV_SENT event per
 *   accepted message: `error` 0 when delivered (MQTT QoS 1/2: PUBACK /
 *   PUBCOMP; QoS 0 and WebSocket: written to the socket), else dropped:
 *   TETHER_EFULL (queue overflow), TETHER_EEXPIRED (TTL), TETHER_ECLOSED
 *   (the connection was stopped or closed for good), TETHER_ETOOBIG
 *   (refused by the transport as too large), TETHER_EIO (the spool could
 *   not keep it).
 * @param c the connection.
 * @param msg the message; copied.
 * @param id receives the message id (may be NULL).
 *   MQTT 5 properties (msg->props) are checked here, before anything is
 *   queued: a property the transport or its protocol version cannot
 *   carry (any property on an MQTT 3.1.1 or WebSocket connection, a name
 *   not listed at struct tether_property) gives TETHER_ENOTSUP, a
 *   malformed one (bad UTF-8, a NUL, a wildcard in response_topic, a
 *   duplicate, too many or too large) TETHER_EINVAL. They stay with the
 *   message in the queue and in the spool, and go out again on a resend.
 * @return 0 (accepted), TETHER_EINVAL, TETHER_ENOTSUP, TETHER_ESTATE
 *   (CLOSED), TETHER_EFULL (queue full and overflow REJECT, or spool full),
 *   TETHER_ETOOBIG (larger than the queue's max_bytes), TETHER_EIO (the
 *   spool could not write it), TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_conn_send(tether_conn *c,
				   const struct tether_message *msg,
				   uint64_t *id);

/**
 * Called on the loop thread after each connect, before the queued backlog
 * drains: what it sends with tether_conn_send() goes out first (e.g. a
 * WebSocket resume message: session id and last sequence received).
 */
typedef void (*tether_resume_cb)(tether_conn *c, void *userdata);

/**
 * @brief Set the resume hook (NULL removes it).
 * @return 0, TETHER_EINVAL.
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_resume_cb(tether_conn *c, tether_resume_cb cb,
					    void *userdata);

/** What a pre-connect hook is told about the attempt it precedes. */
struct tether_preconnect {
	size_t size;       /**< sizeof(struct tether_preconnect) of the library */
	uint32_t attempt;  /**< attempts since the link was last up, this one
				included (as in events) */
	uint32_t endpoint; /**< index of the endpoint about to be tried
				(UINT32_MAX: a redirect's target) */
	const char *uri;   /**< its URI; valid during the call */
	int resumed;       /**< 1: called again after
				tether_conn_preconnect_resume() */
};

/** What a pre-connect hook answers. */
enum tether_preconnect_verdict {
	TETHER_PRECONNECT_GO = 0,  /**< connect now, with the options as they
				        are after the hook */
	TETHER_PRECONNECT_WAIT = 1 /**< not yet: the attempt waits for
					tether_conn_preconnect_resume(), which
					calls the hook again (bounded by
					connect_timeout) */
};

/**
 * Called on the loop thread before every attempt of c (the first, each
 * retry, each coordinated probe, a redirect). It may replace options for
 * this and later attempts with tether_conn_set_option() (a password, a
 * token, "header.Authorization"): they are checked as at start; one the
 * transport refuses fails the attempt as fatal (local code
 * TETHER_LOCAL_BAD_OPTIONS, the transport's message as its text).
 */
typedef enum tether_preconnect_verdict (*tether_preconnect_cb)(
    tether_conn *c, const struct tether_preconnect *pc, void *userdata);

/**
 * @brief Set the pre-connect hook (NULL removes it): credentials that
 *   change (a rotating token, a JWT, a SAS key) are supplied per attempt
 *   without a reload and without dropping a healthy link. The hook may
 *   answer TETHER_PRECONNECT_WAIT while it fetches them on a thread of
 *   its own; tether_conn_preconnect_resume() then calls it again. An
 *   attempt that waits longer than connect_timeout fails as a connect
 *   timeout, with a TETHER_EV_WARNING that says the hook never resumed
 *   it; the policy's next attempt asks the hook again.
 * @return 0, TETHER_EINVAL.
 * @thread init
 */
TETHER_EXPORT int tether_conn_set_preconnect_cb(tether_conn *c,
						tether_preconnect_cb cb,
						void *userdata);

/**
 * @brief Let an attempt that the pre-connect hook held (WAIT) go on: the
 *   loop calls the hook again for it (with `resumed` 1). Nothing happens
 *   when no attempt is waiting.
 * @return 0, TETHER_EINVAL, TETHER_ENOMEM.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_conn_preconnect_resume(tether_conn *c);

/**
 * @brief Messages waiting in the queue (not yet handed to the transport).
 * @thread any
 */
TETHER_EXPORT size_t tether_conn_queued(const tether_conn *c);

/**
 * A connection's counters since it was made: the numbers behind
 * tether_mgr_metrics_text(), without the text. Grows at the end only;
 * `size` says how much of it the caller has.
 */
struct tether_conn_stats {
	uint32_t size;               /**< the caller sets sizeof(struct
					  tether_conn_stats) */
	enum tether_state state;     /**< as of the latest STATE event */
	uint64_t attempts_up;        /**< attempts that came up */
	uint64_t attempts_failed;    /**< attempts that failed */
	/** Links lost and attempts failed, by enum tether_reason_class
	    (entries from TETHER_CLASS_COUNT on are 0). */
	uint64_t disconnects[8];
	uint64_t reconnects;         /**< links back up after a loss */
	uint64_t reconnect_ms;       /**< their time from loss to up, summed */
	uint64_t rtt_us;             /**< smoothed RTT (RFC 6298) */
	uint64_t rtt_samples;        /**< 0: rtt_us means nothing yet */
	uint64_t messages_sent;      /**< reported delivered */
	uint64_t messages_received;  /**< handed to the application */
	uint64_t bytes_sent;         /**< of those: payload + topic bytes */
	uint64_t bytes_received;     /**< payload + topic bytes */
	/** Accepted messages dropped, by cause. */
	uint64_t dropped_overflow, dropped_expired, dropped_closed,
	    dropped_too_large, dropped_error;
	uint64_t queued;             /**< waiting in the queue now */
	uint64_t queued_bytes;       /**< bytes the queue holds now (waiting
					  and in flight: what max_bytes
					  bounds) */
	uint64_t flaps;              /**< links the peer closed soon after
					  they came up (the "flap_window"
					  timing) */
};

/**
 * @brief Read c's counters into out.
 * @param c the connection.
 * @param out its `size` set by the caller; the fields that fit in it are
 *   written, the rest is left alone.
 * @return 0; TETHER_EINVAL (NULL, or size smaller than the struct's
 *   first two fields).
 * @thread any (each counter is read atomically, not all at one instant)
 */
TETHER_EXPORT int tether_conn_stats(const tether_conn *c,
				    struct tether_conn_stats *out);

/**
 * @brief Subscribe (MQTT); remembered and applied after every connect
 *   unless the broker reports a present session.
 * @return 0, TETHER_EINVAL, TETHER_ENOTSUP (transport), TETHER_ENOMEM.
 * @thread any
 */
TETHER_EXPORT int tether_conn_subscribe(tether_conn *c, const char *topic,
					int qos);

/** MQTT 5 Retain Handling of a subscription. */
enum tether_retain_handling {
	TETHER_RETAIN_SEND = 0,        /**< send retained messages at every
					    SUBSCRIBE (the default) */
	TETHER_RETAIN_SEND_IF_NEW = 1, /**< only if the subscription is new */
	TETHER_RETAIN_DONT_SEND = 2    /**< never */
};

/**
 * A subscription with its MQTT 5 options. The options other than qos
 * need MQTT 5: on a 3.1.1 link such a subscription is not sent and a
 * TETHER_EV_SUBSCRIBE_FAILED (kind local, TETHER_LOCAL_PROTOCOL) says so.
 */
struct tether_subscription {
	uint32_t size;             /**< sizeof(struct tether_subscription) */
	const char *topic;         /**< the topic filter; copied */
	int qos;                   /**< 0, 1, 2 */
	int no_local;              /**< 1: not our own publishes */
	int retain_as_published;   /**< 1: keep the retain flag as published */
	enum tether_retain_handling retain_handling;
};

/**
 * @brief Subscribe with MQTT 5 subscription options; as
 *   tether_conn_subscribe() otherwise. A subscription to the same filter
 *   replaces the remembered one.
 * @param c the connection.
 * @param sub the subscription; copied.
 * @return 0, TETHER_EINVAL (a field out of range, an empty topic),
 *   TETHER_ENOTSUP (transport), TETHER_ENOMEM.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_conn_subscribe_opts(tether_conn *c,
					     const struct tether_subscription *sub);

/**
 * @brief Unsubscribe (MQTT): forget the subscription to exactly this
 *   filter, so it is not made again after a reconnect, and send
 *   UNSUBSCRIBE now when online (or, with a session the broker kept, at
 *   the next connect). A refused UNSUBSCRIBE gives
 *   TETHER_EV_SUBSCRIBE_FAILED. Unknown filters are sent too (the broker
 *   may hold them from an earlier session).
 * @param c the connection.
 * @param topic the topic filter, as subscribed.
 * @return 0, TETHER_EINVAL, TETHER_ENOTSUP (transport), TETHER_ENOMEM.
 * @thread any (applied by the loop)
 */
TETHER_EXPORT int tether_conn_unsubscribe(tether_conn *c, const char *topic);

/**
 * @brief The current state (as of the last event delivered).
 * @thread any
 */
TETHER_EXPORT enum tether_state tether_conn_state(const tether_conn *c);

/**
 * @brief The connection's name.
 * @thread any
 */
TETHER_EXPORT const char *tether_conn_name(const tether_conn *c);

/**
 * @brief The message of the last configuration error, or "".
 * @thread init
 */
TETHER_EXPORT const char *tether_conn_error(const tether_conn *c);

/**
 * @brief Attach and read back an application pointer.
 * @thread any
 */
TETHER_EXPORT void tether_conn_set_userdata(tether_conn *c, void *userdata);
/** @copydoc tether_conn_set_userdata */
TETHER_EXPORT void *tether_conn_get_userdata(const tether_conn *c);

#ifdef __cplusplus
}
#endif
#endif

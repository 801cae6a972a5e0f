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
	XX(ENOTSUP, "not supported")

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

/** Connection states (DESIGN §3). */
enum tether_state {
	TETHER_STATE_IDLE = 0,   /**< created, not started */
	TETHER_STATE_CONNECTING, /**< one attempt in flight */
	TETHER_STATE_ONLINE,     /**< link is up */
	TETHER_STATE_BACKOFF,    /**< waiting for the policy's retry timer */
	TETHER_STATE_SUSPENDED,  /**< breaker open, link down, or waiting for a
				      connect token from the manager's limiter */
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

/** What the connection does about a failure (DESIGN §3). */
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
	TETHER_LOCAL_REDIRECT_LOOP     /**< too many redirects in a row */
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
	TETHER_EV_CLOSED     /**< reached CLOSED */
};
#define TETHER_EVENT_COUNT 9

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
};

#ifdef __cplusplus
}
#endif
#endif

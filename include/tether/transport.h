/**
 * @file transport.h
 * @brief The transport plug-in ABI: how tether drives an MQTT or WebSocket
 *   client library, and how that library reports back.
 *
 * A transport is a `const struct tether_transport_ops` registered by name
 * ("mqtt", "ws"). The manager creates one transport context per manager on
 * first use and one link per connection, both from the thread that calls
 * tether_conn_start() (under the manager's lock); every other op runs on
 * the loop thread. The transport reports what happened through the
 * tether_transport_*() functions, from any thread (its own I/O thread
 * typically): they copy what they are given, post it to the manager's
 * queue and wake the loop; they never call back into the transport and
 * never run user code, so they are safe from inside the transport
 * library's callbacks.
 *
 * Attempts are numbered by tether. Every report names the attempt it is
 * about; reports about an attempt that tether aborted or replaced are
 * ignored, so a transport does not need to be exact about races.
 */
#ifndef TETHER_TRANSPORT_H
#define TETHER_TRANSPORT_H

#include <tether/policy.h>
#include <tether/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Bump when struct tether_transport_ops or struct tether_option (policy.h)
 * changes.
 * 2 added the option table, the YAML section and the default ports (at
 * the end of the ops); a transport built for 1 still registers, and the
 * fields it does not have are treated as absent. 3 added
 * tether_reason.retry_after_ms to what a transport reports (from a
 * transport built for 1 or 2 it is taken as 0), and unsubscribe,
 * subscribe_opts and check_message at the end of the ops (a transport
 * built for 1 or 2 registers without them).
 */
#define TETHER_TRANSPORT_ABI 3

/* struct tether_option, its types and tether_params_option() are in
   tether/policy.h: policies declare their options the same way. */

/** A URI scheme's port when the URI gives none (coordinated recovery
    groups "tcp://h" with "tcp://h:1883"). An array ends with scheme NULL. */
struct tether_default_port {
	const char *scheme; /**< "tcp", "ws" */
	unsigned port;      /**< 1883, 80 */
};

/** The vtable of a transport. All ops run on the loop thread. */
struct tether_transport_ops {
	uint32_t abi;                /**< TETHER_TRANSPORT_ABI */
	const char *name;            /**< "mqtt", "ws" */
	const char *const *schemes;  /**< accepted URI schemes, NULL-ended */
	/** Create the per-manager context (threads, library contexts). */
	int (*ctx_new)(tether_mgr *mgr, void **ctx);
	/** Free it; every link is freed already. */
	void (*ctx_free)(void *ctx);
	/**
	 * Create a connection's link from its transport options (read them
	 * with the tether_params getters: unknown keys are reported after
	 * this returns). Return 0, TETHER_ECONFIG (errors recorded in opts),
	 * TETHER_ENOMEM.
	 */
	int (*link_new)(void *ctx, tether_conn *conn, tether_params *opts,
			void **link);
	/** Free a link; its attempt, if any, was aborted first. */
	void (*link_free)(void *link);
	/**
	 * Start attempt `attempt` to `uri`; report up/fail later (never from
	 * inside this call). Return 0, or an error for a URI it cannot use
	 * (the attempt then fails as "bad endpoint").
	 */
	int (*connect)(void *link, uint32_t attempt, const char *uri);
	/** Drop the attempt at once; report nothing more about it. */
	void (*abort)(void *link, uint32_t attempt);
	/** Close orderly (MQTT DISCONNECT, WS close 1000); report closed. */
	void (*close)(void *link, uint32_t attempt);
	/**
	 * Send one message on the established link; report the outcome with
	 * tether_transport_sent(). Return 0 or a TETHER_E* code.
	 */
	int (*send)(void *link, uint32_t attempt, uint64_t msg_id,
		    const struct tether_message *msg);
	/** Optional (MQTT): subscribe on the established link. */
	int (*subscribe)(void *link, uint32_t attempt, const char *topic,
			 int qos);
	/** Optional (WS): send a ping; the pong is reported. NULL: the
	    protocol has its own keepalive and tether's heartbeat is off. */
	int (*ping)(void *link, uint32_t attempt);
	/**
	 * Optional: classification rules this transport needs by default,
	 * NULL-ended pairs of key and class ("peer:ws:1002", "overload"),
	 * applied before the connection's own (which win). For what the
	 * underlying library reports differently from the wire.
	 */
	const char *const *default_classes;
	/**
	 * Optional: read and check the options exactly as link_new would,
	 * without a context (no thread, no library state), for
	 * tether_conn_check(). Return 0, TETHER_ECONFIG (errors recorded in
	 * opts), TETHER_ENOMEM. NULL: tether_conn_check creates a link.
	 * Since ABI 2 `conn` may be NULL: the configuration loader calls it
	 * with the options of a file, after checking each one against
	 * `options`, for what involves several of them ("password needs a
	 * username").
	 */
	int (*check)(tether_conn *conn, tether_params *opts);

	/* ---- ABI 2 ---- */

	/**
	 * Optional: every option link_new reads, NULL-name ended. With it the
	 * configuration file has a section for this transport (keys, types,
	 * defaults, secrets checked at load time, each error at its own
	 * line); without it, none.
	 */
	const struct tether_option *options;
	/** Optional: the YAML section's key ("mqtt"); NULL: `name`. */
	const char *yaml_section;
	/** Optional: default ports of the schemes, NULL-scheme ended. */
	const struct tether_default_port *default_ports;

	/* ---- ABI 3 ---- */

	/**
	 * Optional (MQTT): subscribe with options (struct
	 * tether_subscription, borrowed for the call). Return 0,
	 * TETHER_ENOTSUP (an option the link's protocol cannot carry),
	 * TETHER_EINVAL, TETHER_ECLOSED. A refusal by the peer is reported
	 * with tether_transport_sub_failed(). When absent, `subscribe` is
	 * used and a subscription with options is refused.
	 */
	int (*subscribe_opts)(void *link, uint32_t attempt,
			      const struct tether_subscription *sub);
	/** Optional (MQTT): unsubscribe on the established link; a refusal
	    is reported with tether_transport_sub_failed(). */
	int (*unsubscribe)(void *link, uint32_t attempt, const char *topic);
	/**
	 * Optional: whether a link made from `opts` can carry msg's MQTT 5
	 * properties (msg->props, already checked for form by tether).
	 * Called by tether_conn_send() on the sender's thread, before the
	 * message is queued, so it must only read `opts`
	 * (tether_params_get). Return 0, TETHER_ENOTSUP, TETHER_EINVAL. When
	 * absent, a message with properties is refused (TETHER_ENOTSUP).
	 */
	int (*check_message)(const tether_params *opts,
			     const struct tether_message *msg);
};

/**
 * @brief Make a transport selectable by name.
 * @param ops the vtable, `abi` TETHER_TRANSPORT_ABI, 2 (the ABI 3 fields
 *   are not read) or 1 (nor the ABI 2 ones); borrowed, it must outlive
 *   the process.
 * @return 0; TETHER_EINVAL, TETHER_EABI (another abi), TETHER_EEXIST,
 *   TETHER_ENOMEM.
 * @thread init
 */
TETHER_EXPORT int
tether_transport_register(const struct tether_transport_ops *ops);

/**
 * @brief Find a transport by name ("mqtt", "ws" are built in).
 * @return the vtable or NULL.
 * @thread any
 */
TETHER_EXPORT const struct tether_transport_ops *
tether_transport_lookup(const char *name);

/**
 * @brief The registered transports, in registration order.
 * @param i index from 0.
 * @return the vtable at i, or NULL past the end.
 * @thread any
 */
TETHER_EXPORT const struct tether_transport_ops *tether_transport_at(size_t i);

/**
 * @brief A transport's option table, NULL for an ABI 1 transport or one
 *   without options. Read the ABI 2 fields through these, never directly
 *   from a vtable that may be an ABI 1 one.
 * @return the table (NULL-name ended) or NULL.
 * @thread any
 */
TETHER_EXPORT const struct tether_option *
tether_transport_options(const struct tether_transport_ops *ops);

/**
 * @brief A transport's YAML section key: `yaml_section`, else its name.
 * @return the key; NULL for NULL.
 * @thread any
 */
TETHER_EXPORT const char *
tether_transport_section(const struct tether_transport_ops *ops);

/**
 * @brief The default port of a URI scheme for a transport, from its
 *   `default_ports` (case-insensitive).
 * @param ops the transport.
 * @param scheme the scheme, `len` bytes (not necessarily NUL-ended).
 * @param len its length.
 * @return the port, or 0 when the transport names none.
 * @thread any
 */
TETHER_EXPORT unsigned
tether_transport_default_port(const struct tether_transport_ops *ops,
			      const char *scheme, size_t len);

/**
 * @brief Attempt `attempt` is up.
 * @param session_present MQTT: the broker kept our session.
 * @thread any
 */
TETHER_EXPORT void tether_transport_up(tether_conn *c, uint32_t attempt,
				       int session_present);

/**
 * @brief Attempt `attempt` failed before it was up. The reason is copied.
 * @thread any
 */
TETHER_EXPORT void tether_transport_fail(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r);

/**
 * @brief The established link of `attempt` was lost. The reason is copied.
 * @thread any
 */
TETHER_EXPORT void tether_transport_down(tether_conn *c, uint32_t attempt,
					 const struct tether_reason *r);

/**
 * @brief The orderly close asked for is done.
 * @thread any
 */
TETHER_EXPORT void tether_transport_closed(tether_conn *c, uint32_t attempt);

/**
 * @brief Something arrived on the link (any frame): proof of life. Cheap
 *   (an atomic store); call it for every inbound frame.
 * @thread any
 */
TETHER_EXPORT void tether_transport_activity(tether_conn *c, uint32_t attempt);

/**
 * @brief A pong arrived (answers tether's last ping). Also activity.
 * @thread any
 */
TETHER_EXPORT void tether_transport_pong(tether_conn *c, uint32_t attempt);

/**
 * @brief An inbound message; copied. Also activity.
 * @thread any
 */
TETHER_EXPORT void tether_transport_message(tether_conn *c, uint32_t attempt,
					    const struct tether_message *msg);

/**
 * @brief The outcome of send(msg_id): err 0 when delivered (MQTT: PUBACK or
 *   PUBCOMP for QoS 1/2, written for QoS 0; WS: written to the socket),
 *   else a TETHER_E* code.
 * @thread any
 */
TETHER_EXPORT void tether_transport_sent(tether_conn *c, uint32_t attempt,
					 uint64_t msg_id, int err);

/**
 * @brief The peer refused a SUBSCRIBE (unsubscribe 0) or an UNSUBSCRIBE
 *   (1) for `topic`: a TETHER_EV_SUBSCRIBE_FAILED event with the reason
 *   (its kind and code: MQTT 5 or 3.1.1 reason code) and the topic as
 *   detail. Both are copied.
 * @thread any
 */
TETHER_EXPORT void tether_transport_sub_failed(tether_conn *c,
					       uint32_t attempt,
					       const char *topic,
					       int unsubscribe,
					       const struct tether_reason *r);

/**
 * @brief The connection's name, for the transport's own log lines.
 * @thread any
 */
TETHER_EXPORT const char *tether_transport_conn_name(const tether_conn *c);

/**
 * @brief Write a log line as `origin` (the transport's name, or its
 *   engine's: "lws", "paho"), through tether_set_log_cb(): dropped when
 *   `level` is above tether_log_level(). A trailing newline is removed;
 *   control characters become \xNN. Never pass a secret.
 * @thread any
 */
TETHER_EXPORT void tether_log(enum tether_log_level level, const char *origin,
			      const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/**
 * @brief Whether an application log callback is set (tether_set_log_cb()).
 *   An engine whose own trace hook is process-wide (Paho's) installs it
 *   only then, so that a program using the engine on its own keeps its
 *   trace.
 * @thread any
 */
TETHER_EXPORT int tether_log_has_cb(void);

#ifdef __cplusplus
}
#endif
#endif

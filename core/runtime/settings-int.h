/*
 * A connection's settings as one plain value (core/runtime/settings.c):
 * what it was told (endpoints, transport options, policy parameters,
 * timings, heartbeat, classification, queue, subscriptions), nothing it
 * learned while running. The API's setters and the configuration loader
 * fill one through the same checked setters; tether_config_apply() hands
 * a copy to a new connection, and a reload posts a new value to the loop,
 * which applies what can change live and restarts the link for the rest
 * (core/runtime/reload_live.c).
 */
#ifndef TETHER_SETTINGS_INT_H
#define TETHER_SETTINGS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tether/tether.h>
#include <tether/transport.h>

#include "machine-int.h"

/* A subscription a connection makes at every connect; one per topic
 * filter (a new one to the same filter replaces it, as in MQTT). */
struct tth_sub {
	char *topic;
	int qos;
	int no_local, retain_as_published, retain_handling; /* MQTT 5 */
};

/* sub as the public struct (borrowing its topic). */
void tth_sub_view(const struct tth_sub *sub, struct tether_subscription *out);
/* Whether sub asks for any MQTT 5 option. */
int tth_sub_has_options(const struct tth_sub *sub);

struct tth_conn_settings {
	const struct tether_transport_ops *tops;
	tether_params *opts;          /* transport options, each with the
					 place it was written when loaded */
	tether_params *policy_params; /* NULL: the default (exponential) */
	tether_classifier *classifier;
	struct tth_machine_cfg mcfg;  /* timings */
	char **endpoints;
	uint32_t n_endpoints;
	uint64_t hb_interval, hb_timeout; /* heartbeat, 0 = off */
	uint32_t hb_misses;
	struct tth_sub *subs;
	size_t nsubs;
	struct tether_queue_cfg qcfg; /* qcfg.spool_dir points at spool_dir */
	char *spool_dir;
	int uncoordinated;            /* coordinated recovery off */
	uint32_t in_max_messages;     /* the inbound bound (inbound.c) */
	uint64_t in_max_bytes;
};

/* The defaults for transport t (its default classification rules).
 * Returns 0 or TETHER_ENOMEM (s is then clean). */
int tth_settings_init(struct tth_conn_settings *s,
		      const struct tether_transport_ops *t);
/* Free what s holds (wiping option values: they may be secrets). */
void tth_settings_cleanup(struct tth_conn_settings *s);
/* tth_settings_cleanup, then free s (a heap value). NULL is a no-op. */
void tth_settings_free(struct tth_conn_settings *s);
/* A deep copy into *dst (uninitialised). 0 or TETHER_ENOMEM. */
int tth_settings_copy(struct tth_conn_settings *dst,
		      const struct tth_conn_settings *src);

/*
 * Checked setters. Each returns 0, TETHER_EINVAL (with a message in err,
 * errlen bytes, when err is not NULL) or TETHER_ENOMEM, and leaves s as
 * it was on failure.
 */
int tth_settings_add_endpoint(struct tth_conn_settings *s, const char *uri,
			      char *err, size_t errlen);
int tth_settings_set_timing(struct tth_conn_settings *s, const char *key,
			    uint64_t ms, char *err, size_t errlen);
/* A timing by its key (0 for an unknown key). */
uint64_t tth_settings_timing(const struct tth_conn_settings *s,
			     const char *key);
int tth_settings_set_heartbeat(struct tth_conn_settings *s,
			       uint64_t interval_ms, uint64_t timeout_ms,
			       uint32_t misses);
int tth_settings_classify(struct tth_conn_settings *s, const char *key,
			  const char *cls, char *err, size_t errlen);
int tth_settings_set_queue(struct tth_conn_settings *s,
			   const struct tether_queue_cfg *q);
/* A copy of params (checked where the policy is made: tether_policy_new). */
int tth_settings_set_policy(struct tth_conn_settings *s,
			    const tether_params *params);
/* Add a subscription, replacing one to the same filter; TETHER_EINVAL
 * for a field out of range. */
int tth_settings_subscribe(struct tth_conn_settings *s,
			   const struct tether_subscription *sub);
/* Forget the subscription to topic; whether there was one. */
int tth_settings_unsubscribe(struct tth_conn_settings *s, const char *topic);

/* Whether a subscription equal to sub (filter and every option) is in s. */
int tth_settings_has_sub(const struct tth_conn_settings *s,
			 const struct tth_sub *sub);
/* The subscription of s to topic, or NULL. */
const struct tth_sub *tth_settings_find_sub(const struct tth_conn_settings *s,
					    const char *topic);
/* Whether a and b make the same link: transport, endpoints, options,
 * coordination (which is set up at the first start). */
int tth_settings_same_link(const struct tth_conn_settings *a,
			   const struct tth_conn_settings *b);
/* Whether the queue bounds differ (the spool directory aside). */
int tth_settings_queue_differs(const struct tether_queue_cfg *a,
			       const struct tether_queue_cfg *b);

#endif

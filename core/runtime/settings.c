/*
 * A connection's settings as one value (settings-int.h): defaults, the
 * checked setters shared by the API and the configuration loader, copy,
 * comparison.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params-int.h"
#include "reason-int.h"
#include "settings-int.h"

static void seterr(char *err, size_t errlen, const char *fmt, const char *a,
		   const char *b, const char *c)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a, b, c);
}

int tth_settings_init(struct tth_conn_settings *s,
		      const struct tether_transport_ops *t)
{
	memset(s, 0, sizeof(*s));
	s->tops = t;
	tth_machine_cfg_defaults(&s->mcfg);
	tether_queue_cfg_defaults(&s->qcfg);
	s->in_max_messages = TETHER_INBOUND_DEFAULT_MESSAGES;
	s->in_max_bytes = TETHER_INBOUND_DEFAULT_BYTES;
	s->opts = tether_params_new(NULL);
	if (!s->opts)
		return TETHER_ENOMEM;
	if (!t->default_classes)
		return 0;
	s->classifier = tether_classifier_new();
	if (!s->classifier)
		goto oom;
	for (size_t i = 0; t->default_classes[i] && t->default_classes[i + 1];
	     i += 2)
		if (tether_classifier_add_rule(s->classifier,
					       t->default_classes[i],
					       t->default_classes[i + 1], NULL,
					       0) != 0)
			goto oom;
	return 0;
oom:
	tth_settings_cleanup(s);
	return TETHER_ENOMEM;
}

void tth_settings_cleanup(struct tth_conn_settings *s)
{
	for (uint32_t i = 0; i < s->n_endpoints; i++)
		free(s->endpoints[i]);
	free(s->endpoints);
	for (size_t i = 0; i < s->nsubs; i++)
		free(s->subs[i].topic);
	free(s->subs);
	free(s->spool_dir);
	tth_params_wipe(s->opts);
	tether_params_free(s->opts);
	tether_params_free(s->policy_params);
	tether_classifier_free(s->classifier);
	memset(s, 0, sizeof(*s));
}

void tth_settings_free(struct tth_conn_settings *s)
{
	if (!s)
		return;
	tth_settings_cleanup(s);
	free(s);
}

int tth_settings_copy(struct tth_conn_settings *dst,
		      const struct tth_conn_settings *src)
{
	*dst = *src;
	dst->endpoints = NULL;
	dst->n_endpoints = 0;
	dst->subs = NULL;
	dst->nsubs = 0;
	dst->spool_dir = NULL;
	dst->qcfg.spool_dir = NULL;
	dst->opts = tether_params_dup(src->opts);
	dst->policy_params =
	    src->policy_params ? tether_params_dup(src->policy_params) : NULL;
	dst->classifier =
	    src->classifier ? tth_classifier_dup(src->classifier) : NULL;
	if (!dst->opts || (src->policy_params && !dst->policy_params) ||
	    (src->classifier && !dst->classifier))
		goto oom;
	for (uint32_t i = 0; i < src->n_endpoints; i++)
		if (tth_settings_add_endpoint(dst, src->endpoints[i], NULL, 0))
			goto oom;
	for (size_t i = 0; i < src->nsubs; i++) {
		struct tether_subscription sub;

		tth_sub_view(&src->subs[i], &sub);
		if (tth_settings_subscribe(dst, &sub))
			goto oom;
	}
	if (src->spool_dir) {
		dst->spool_dir = strdup(src->spool_dir);
		if (!dst->spool_dir)
			goto oom;
		dst->qcfg.spool_dir = dst->spool_dir;
	}
	return 0;
oom:
	tth_settings_cleanup(dst);
	return TETHER_ENOMEM;
}

/* The endpoint and subscription arrays hold n items in a block of the
   next power of two: one more needs a larger block only when n is 0 or a
   power of two, so n additions cost O(n), not the O(n^2) of growing by
   one (a file may list thousands). */
static int full_pow2(size_t n)
{
	return (n & (n - 1)) == 0;
}

static size_t grown_pow2(size_t n)
{
	return n ? 2 * n : 1;
}

int tth_settings_add_endpoint(struct tth_conn_settings *s, const char *uri,
			      char *err, size_t errlen)
{
	const char *colon = strstr(uri, "://");
	const char *const *sch = s->tops->schemes;
	char **v;
	int ok = 0;

	for (size_t i = 0; colon && sch[i]; i++) {
		size_t n = strlen(sch[i]);
		if ((size_t)(colon - uri) == n && strncmp(uri, sch[i], n) == 0)
			ok = 1;
	}
	if (!ok || !colon[3]) {
		char schemes[200] = "";

		for (size_t i = 0; sch[i]; i++) {
			size_t l = strlen(schemes);
			snprintf(schemes + l, sizeof(schemes) - l, "%s%s://",
				 i ? ", " : "", sch[i]);
		}
		seterr(err, errlen, "expected a URI for transport '%s' (%s)%s",
		       s->tops->name, schemes, "");
		return TETHER_EINVAL;
	}
	v = s->endpoints;
	if (full_pow2(s->n_endpoints)) {
		v = realloc(v, grown_pow2(s->n_endpoints) * sizeof(*v));
		if (!v)
			return TETHER_ENOMEM;
		s->endpoints = v;
	}
	v[s->n_endpoints] = strdup(uri);
	if (!v[s->n_endpoints])
		return TETHER_ENOMEM;
	s->n_endpoints++;
	return 0;
}

static const struct {
	const char *key;
	size_t off;
} timings[] = {
    {"connect_timeout", offsetof(struct tth_machine_cfg, connect_timeout_ms)},
    {"close_timeout", offsetof(struct tth_machine_cfg, close_timeout_ms)},
    {"stable_after", offsetof(struct tth_machine_cfg, stable_after_ms)},
    {"overload_floor", offsetof(struct tth_machine_cfg, overload_floor_ms)},
    {"failback_after", offsetof(struct tth_machine_cfg, failback_after_ms)},
    {"probe_interval", offsetof(struct tth_machine_cfg, probe_interval_ms)},
    {"flap_window", offsetof(struct tth_machine_cfg, flap_window_ms)},
    {"retry_after_max", offsetof(struct tth_machine_cfg, retry_after_max_ms)},
};

static uint64_t *timing_slot(struct tth_machine_cfg *m, const char *key)
{
	for (size_t i = 0; i < sizeof(timings) / sizeof(timings[0]); i++)
		if (strcmp(key, timings[i].key) == 0)
			return (uint64_t *)(void *)((char *)m + timings[i].off);
	return NULL;
}

int tth_settings_set_timing(struct tth_conn_settings *s, const char *key,
			    uint64_t ms, char *err, size_t errlen)
{
	uint64_t *slot = timing_slot(&s->mcfg, key);

	if (slot) {
		*slot = ms;
		return 0;
	}
	seterr(err, errlen,
	       "unknown timing '%s' (expected connect_timeout, close_timeout, "
	       "stable_after, overload_floor, failback_after, probe_interval, "
	       "flap_window or retry_after_max)%s%s",
	       key, "", "");
	return TETHER_EINVAL;
}

uint64_t tth_settings_timing(const struct tth_conn_settings *s,
			     const char *key)
{
	uint64_t *slot =
	    timing_slot((struct tth_machine_cfg *)(uintptr_t)&s->mcfg, key);

	return slot ? *slot : 0;
}

int tth_settings_set_heartbeat(struct tth_conn_settings *s,
			       uint64_t interval_ms, uint64_t timeout_ms,
			       uint32_t misses)
{
	if (interval_ms && (timeout_ms == 0 || misses == 0))
		return TETHER_EINVAL;
	s->hb_interval = interval_ms;
	s->hb_timeout = timeout_ms;
	s->hb_misses = misses;
	return 0;
}

int tth_settings_classify(struct tth_conn_settings *s, const char *key,
			  const char *cls, char *err, size_t errlen)
{
	if (!s->classifier) {
		s->classifier = tether_classifier_new();
		if (!s->classifier)
			return TETHER_ENOMEM;
	}
	return tether_classifier_add_rule(s->classifier, key, cls, err, errlen);
}

int tth_settings_set_queue(struct tth_conn_settings *s,
			   const struct tether_queue_cfg *q)
{
	struct tether_queue_cfg n;
	char *dir = NULL;

	if (q->size < sizeof(n) || q->max_messages == 0 || q->max_bytes == 0 ||
	    (unsigned)q->overflow > TETHER_OVERFLOW_REJECT ||
	    (unsigned)q->fsync > TETHER_FSYNC_NEVER ||
	    (q->spool_dir && (!*q->spool_dir || q->spool_max_bytes == 0)) ||
	    (q->fsync == TETHER_FSYNC_INTERVAL && !q->fsync_interval_ms))
		return TETHER_EINVAL;
	n = *q;
	n.size = sizeof(n);
	if (n.spool_dir) {
		dir = strdup(n.spool_dir);
		if (!dir)
			return TETHER_ENOMEM;
	}
	free(s->spool_dir);
	s->spool_dir = dir;
	n.spool_dir = dir;
	s->qcfg = n;
	return 0;
}

int tth_settings_set_policy(struct tth_conn_settings *s,
			    const tether_params *params)
{
	tether_params *kept = tether_params_dup(params);

	if (!kept)
		return TETHER_ENOMEM;
	tether_params_free(s->policy_params);
	s->policy_params = kept;
	return 0;
}

void tth_sub_view(const struct tth_sub *sub, struct tether_subscription *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->topic = sub->topic;
	out->qos = sub->qos;
	out->no_local = sub->no_local;
	out->retain_as_published = sub->retain_as_published;
	out->retain_handling = (enum tether_retain_handling)sub->retain_handling;
}

int tth_sub_has_options(const struct tth_sub *sub)
{
	return sub->no_local || sub->retain_as_published ||
	       sub->retain_handling;
}

const struct tth_sub *tth_settings_find_sub(const struct tth_conn_settings *s,
					    const char *topic)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (strcmp(s->subs[i].topic, topic) == 0)
			return &s->subs[i];
	return NULL;
}

int tth_settings_has_sub(const struct tth_conn_settings *s,
			 const struct tth_sub *sub)
{
	const struct tth_sub *have = tth_settings_find_sub(s, sub->topic);

	return have && have->qos == sub->qos &&
	       have->no_local == sub->no_local &&
	       have->retain_as_published == sub->retain_as_published &&
	       have->retain_handling == sub->retain_handling;
}

int tth_settings_subscribe(struct tth_conn_settings *s,
			   const struct tether_subscription *sub)
{
	struct tth_sub want, *v;

	if (!sub || !sub->topic || !*sub->topic || sub->qos < 0 ||
	    sub->qos > 2 || sub->no_local < 0 || sub->no_local > 1 ||
	    sub->retain_as_published < 0 || sub->retain_as_published > 1 ||
	    (int)sub->retain_handling < 0 || (int)sub->retain_handling > 2)
		return TETHER_EINVAL;
	want.topic = (char *)sub->topic;
	want.qos = sub->qos;
	want.no_local = sub->no_local;
	want.retain_as_published = sub->retain_as_published;
	want.retain_handling = (int)sub->retain_handling;
	v = (struct tth_sub *)tth_settings_find_sub(s, sub->topic);
	if (v) {
		want.topic = v->topic;
		*v = want;
		return 0;
	}
	v = s->subs;
	if (full_pow2(s->nsubs)) {
		v = realloc(v, grown_pow2(s->nsubs) * sizeof(*v));
		if (!v)
			return TETHER_ENOMEM;
		s->subs = v;
	}
	want.topic = strdup(sub->topic);
	if (!want.topic)
		return TETHER_ENOMEM;
	v[s->nsubs++] = want;
	return 0;
}

int tth_settings_unsubscribe(struct tth_conn_settings *s, const char *topic)
{
	const struct tth_sub *have = tth_settings_find_sub(s, topic);
	size_t i;

	if (!have)
		return 0;
	i = (size_t)(have - s->subs);
	free(s->subs[i].topic);
	memmove(&s->subs[i], &s->subs[i + 1],
		(s->nsubs - i - 1) * sizeof(*s->subs));
	s->nsubs--;
	return 1;
}

int tth_settings_same_link(const struct tth_conn_settings *a,
			   const struct tth_conn_settings *b)
{
	if (a->tops != b->tops || a->n_endpoints != b->n_endpoints ||
	    a->uncoordinated != b->uncoordinated)
		return 0;
	for (uint32_t i = 0; i < a->n_endpoints; i++)
		if (strcmp(a->endpoints[i], b->endpoints[i]) != 0)
			return 0;
	return tth_params_equal(a->opts, b->opts);
}

int tth_settings_queue_differs(const struct tether_queue_cfg *a,
			       const struct tether_queue_cfg *b)
{
	return a->max_messages != b->max_messages ||
	       a->max_bytes != b->max_bytes || a->overflow != b->overflow ||
	       a->ttl_ms != b->ttl_ms || a->fsync != b->fsync ||
	       a->fsync_interval_ms != b->fsync_interval_ms ||
	       a->spool_max_bytes != b->spool_max_bytes;
}

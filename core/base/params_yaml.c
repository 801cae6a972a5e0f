/*
 * YAML to tether_params, with libyaml's event parser, for a policy's
 * mapping and for the configuration file. A policy needs only mappings of
 * scalars and nested mappings; a configuration also has sequences
 * (connections, endpoints, subscriptions), which become nested sets keyed
 * "0", "1"... and marked is_seq (TTH_YAML_SEQUENCES). Anything else is
 * reported with its file:line:column instead of being guessed at.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "params-int.h"

#define MAX_DEPTH 32

struct yctx {
	yaml_parser_t parser;
	const char *file;
	unsigned flags; /* TTH_YAML_* */
	size_t entries, max_entries; /* values read so far, and the cap */
	char *err;
	size_t errlen;
};

static void where_of(const struct yctx *c, yaml_mark_t m, char *buf, size_t len)
{
	/* libyaml counts from 0; editors and messages count from 1 */
	snprintf(buf, len, "%s:%zu:%zu", c->file, m.line + 1, m.column + 1);
}

__attribute__((format(printf, 3, 4))) static int
fail_at(struct yctx *c, yaml_mark_t m, const char *fmt, ...)
{
	char where[300], msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tth_escape_controls(msg, sizeof(msg)); /* one line, whatever the key */
	where_of(c, m, where, sizeof(where));
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: %s", where, msg);
	return TETHER_ECONFIG;
}

static int next_event(struct yctx *c, yaml_event_t *ev)
{
	yaml_parser_t *p = &c->parser;

	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		if (c->err && c->errlen)
			snprintf(c->err, c->errlen, "%s: out of memory",
				 c->file);
		return TETHER_ENOMEM;
	}
	if (p->context)
		return fail_at(c, p->problem_mark, "%s (%s)",
			       p->problem ? p->problem : "syntax error",
			       p->context);
	return fail_at(c, p->problem_mark, "%s",
		       p->problem ? p->problem : "syntax error");
}

static const char *event_noun(yaml_event_type_t t)
{
	switch (t) {
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_ALIAS_EVENT:
		return "an alias";
	case YAML_SCALAR_EVENT:
		return "a scalar";
	default:
		return "nothing";
	}
}

static int is_anchored(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor != NULL;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL;
	default:
		return ev->type == YAML_ALIAS_EVENT;
	}
}

static int parse_items(struct yctx *c, tether_params *set, int depth);

/* One value for key, whose first event is ev (deleted here). */
static int parse_node(struct yctx *c, tether_params *set, const char *key,
		      yaml_event_t *ev, int depth)
{
	char where[300];
	yaml_mark_t m = ev->start_mark;
	yaml_event_type_t t = ev->type;
	int seq = t == YAML_SEQUENCE_START_EVENT, anchored = is_anchored(ev);
	tether_params *child;
	int rc;

	where_of(c, m, where, sizeof(where));
	if (++c->entries > c->max_entries) {
		yaml_event_delete(ev);
		return fail_at(c, m,
			       "more than %zu entries (values, mappings and "
			       "sequences)%s",
			       c->max_entries,
			       c->flags & TTH_YAML_CONFIG
				   ? ", the limit of a configuration file "
				     "(TETHER_CONFIG_MAX_ENTRIES: set that "
				     "environment variable to raise it)"
				   : "");
	}
	if (t == YAML_SCALAR_EVENT && !anchored) {
		rc = tether_params_set(
		    set, key, (const char *)ev->data.scalar.value, where);
		yaml_event_delete(ev);
		return rc;
	}
	yaml_event_delete(ev);
	if (seq && !(c->flags & TTH_YAML_SEQUENCES))
		return fail_at(c, m, "%s: sequences are not supported", key);
	if (anchored)
		return fail_at(c, m, "anchors and aliases are not supported");
	if (t != YAML_MAPPING_START_EVENT && !seq)
		return fail_at(c, m,
			       "%s: expected a value or a mapping, found %s",
			       key, event_noun(t));
	if (depth >= MAX_DEPTH)
		return fail_at(c, m, "%s",
			       c->flags & TTH_YAML_CONFIG
				   ? "nested too deeply"
				   : "mappings nested too deeply");
	child = tether_params_new(where);
	if (!child)
		return TETHER_ENOMEM;
	child->is_seq = seq;
	rc = parse_items(c, child, depth + 1);
	if (rc < 0) {
		tether_params_free(child);
		return rc;
	}
	return tether_params_set_child(set, key, child);
}

/* A mapping's key, whose event is ev (deleted here), into *out. */
static int parse_key(struct yctx *c, const tether_params *set, yaml_event_t *ev,
		     char **out)
{
	int cfg = c->flags & TTH_YAML_CONFIG;
	yaml_mark_t m = ev->start_mark;
	yaml_event_type_t t = ev->type;
	int anchored = is_anchored(ev), rc;
	char *key;

	if (t != YAML_SCALAR_EVENT) {
		yaml_event_delete(ev);
		if (t == YAML_ALIAS_EVENT && !cfg)
			return fail_at(c, m,
				       "anchors and aliases are not supported");
		return fail_at(c, m, "expected a key, found %s",
			       cfg && t != YAML_ALIAS_EVENT
				   ? "a mapping or a sequence"
				   : event_noun(t));
	}
	key = anchored ? NULL : strdup((const char *)ev->data.scalar.value);
	yaml_event_delete(ev);
	if (anchored)
		return fail_at(c, m, "anchors and aliases are not supported");
	if (!key)
		return TETHER_ENOMEM;
	/* a configuration's keys are joined into dotted paths */
	if (cfg && (!*key || strchr(key, '.')))
		rc = fail_at(c, m, "'%s' is not a valid key", key);
	else if (!*key)
		rc = fail_at(c, m, "empty key");
	else if (tth_params_has(set, key)) {
		const char *first = tth_params_where(set, key);

		rc = fail_at(c, m, "duplicate key '%s' (first at %s)", key,
			     first ? first : "?");
	} else {
		*out = key;
		return 0;
	}
	free(key);
	return rc;
}

/* The entries of a mapping or a sequence whose start has been consumed. */
static int parse_items(struct yctx *c, tether_params *set, int depth)
{
	yaml_event_t ev;
	char idx[32], *key = NULL;
	size_t n = 0;
	int rc;

	for (;;) {
		rc = next_event(c, &ev);
		if (rc < 0)
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (set->is_seq) {
			snprintf(idx, sizeof(idx), "%zu", n++);
			rc = parse_node(c, set, idx, &ev, depth);
			if (rc < 0)
				return rc;
			continue;
		}
		rc = parse_key(c, set, &ev, &key);
		if (rc < 0)
			return rc;
		rc = next_event(c, &ev);
		if (rc == 0)
			rc = parse_node(c, set, key, &ev, depth);
		free(key);
		if (rc < 0)
			return rc;
	}
}

static int parse_stream(struct yctx *c, tether_params *set)
{
	int cfg = c->flags & TTH_YAML_CONFIG;
	char where[300];
	yaml_event_t ev;
	yaml_mark_t m;
	yaml_event_type_t t;
	int rc;

	rc = next_event(c, &ev); /* STREAM_START */
	if (rc < 0)
		return rc;
	yaml_event_delete(&ev);
	rc = next_event(c, &ev);
	if (rc < 0)
		return rc;
	m = ev.start_mark;
	t = ev.type;
	yaml_event_delete(&ev);
	if (t != YAML_DOCUMENT_START_EVENT)
		return fail_at(c, m, "expected a mapping, found an empty %s",
			       cfg ? "file" : "document");
	rc = next_event(c, &ev);
	if (rc < 0)
		return rc;
	m = ev.start_mark;
	t = ev.type;
	if (t != YAML_MAPPING_START_EVENT || ev.data.mapping_start.anchor) {
		yaml_event_delete(&ev);
		if (cfg)
			return fail_at(c, m, "expected a mapping at the top");
		if (t != YAML_MAPPING_START_EVENT)
			return fail_at(c, m, "expected a mapping, found %s",
				       event_noun(t));
		return fail_at(c, m, "anchors and aliases are not supported");
	}
	yaml_event_delete(&ev);
	if (cfg) {
		/* "missing" keys of the top then point at the file's start */
		where_of(c, m, where, sizeof(where));
		free(set->where);
		set->where = strdup(where);
		if (!set->where)
			return TETHER_ENOMEM;
	}
	rc = parse_items(c, set, 0);
	if (rc < 0)
		return rc;
	rc = next_event(c, &ev); /* DOCUMENT_END */
	if (rc < 0)
		return rc;
	yaml_event_delete(&ev);
	rc = next_event(c, &ev);
	if (rc < 0)
		return rc;
	m = ev.start_mark;
	t = ev.type;
	yaml_event_delete(&ev);
	if (t != YAML_STREAM_END_EVENT)
		return fail_at(c, m, "expected one document, found another");
	return 0;
}

int tth_params_from_yaml_opts(const char *text, size_t len,
			      const char *filename, unsigned flags,
			      size_t max_entries, tether_params **out,
			      char *err, size_t errlen)
{
	struct yctx c = {.file = filename ? filename : "<yaml>",
			 .flags = flags,
			 .max_entries = max_entries ? max_entries
						    : TTH_YAML_MAX_ENTRIES,
			 .err = err,
			 .errlen = errlen};
	tether_params *set;
	char where[300];
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!text && len))
		return TETHER_EINVAL;
	*out = NULL;
	snprintf(where, sizeof(where), "%s", c.file);
	set = tether_params_new(where);
	if (!set)
		return TETHER_ENOMEM;
	if (!yaml_parser_initialize(&c.parser)) {
		tether_params_free(set);
		return TETHER_ENOMEM;
	}
	yaml_parser_set_input_string(
	    &c.parser, (const unsigned char *)(text ? text : ""), len);
	rc = parse_stream(&c, set);
	yaml_parser_delete(&c.parser);
	if (rc < 0) {
		if (rc == TETHER_ENOMEM && err && errlen && !err[0])
			snprintf(err, errlen, "%s: out of memory", c.file);
		tether_params_free(set);
		return rc == TETHER_ENOMEM ? rc : TETHER_ECONFIG;
	}
	*out = set;
	return 0;
}

int tth_params_from_yaml(const char *text, size_t len, const char *filename,
			 tether_params **out, char *err, size_t errlen)
{
	return tth_params_from_yaml_opts(text, len, filename, 0, 0, out, err,
					 errlen);
}

TETHER_EXPORT int tether_params_parse_yaml(const char *text, size_t len,
					   const char *filename,
					   tether_params **out, char *err,
					   size_t errlen)
{
	return tth_params_from_yaml(text, len, filename, out, err, errlen);
}

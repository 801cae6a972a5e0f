/*
 * YAML to tether_params, with libyaml's event parser. Only what a policy
 * needs is accepted: mappings of scalars and nested mappings. Anything else
 * is reported with its file:line:column instead of being guessed at.
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

static int has_key(const tether_params *p, const char *key)
{
	for (size_t i = 0; i < tether_params_count(p); i++)
		if (strcmp(tether_params_key(p, i), key) == 0)
			return 1;
	return 0;
}

static int parse_mapping(struct yctx *c, tether_params *set, int depth);

/* One value for key, whose event is ev (deleted here). */
static int parse_value(struct yctx *c, tether_params *set, const char *key,
		       yaml_event_t *ev, int depth)
{
	char where[300];
	tether_params *child;
	yaml_mark_t m = ev->start_mark;
	int rc;

	where_of(c, m, where, sizeof(where));
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor) {
			yaml_event_delete(ev);
			return fail_at(c, m,
				       "anchors and aliases are not supported");
		}
		rc = tether_params_set(
		    set, key, (const char *)ev->data.scalar.value, where);
		yaml_event_delete(ev);
		return rc;
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor) {
			yaml_event_delete(ev);
			return fail_at(c, m,
				       "anchors and aliases are not supported");
		}
		yaml_event_delete(ev);
		if (depth >= MAX_DEPTH)
			return fail_at(c, m, "mappings nested too deeply");
		child = tether_params_new(where);
		if (!child)
			return TETHER_ENOMEM;
		rc = parse_mapping(c, child, depth + 1);
		if (rc < 0) {
			tether_params_free(child);
			return rc;
		}
		return tether_params_set_child(set, key, child);
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return fail_at(c, m, "anchors and aliases are not supported");
	default: {
		yaml_event_type_t t = ev->type;

		yaml_event_delete(ev);
		if (t == YAML_SEQUENCE_START_EVENT)
			return fail_at(c, m, "%s: sequences are not supported",
				       key);
		return fail_at(c, m,
			       "%s: expected a value or a mapping, found %s",
			       key, event_noun(t));
	}
	}
}

/* The pairs of a mapping whose start event has been consumed. */
static int parse_mapping(struct yctx *c, tether_params *set, int depth)
{
	yaml_event_t ev;
	yaml_mark_t m;
	char *key;
	int rc;

	for (;;) {
		rc = next_event(c, &ev);
		if (rc < 0)
			return rc;
		m = ev.start_mark;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_type_t t = ev.type;

			yaml_event_delete(&ev);
			if (t == YAML_ALIAS_EVENT)
				return fail_at(c, m,
					       "anchors and aliases are "
					       "not supported");
			return fail_at(c, m, "expected a key, found %s",
				       event_noun(t));
		}
		if (ev.data.scalar.anchor) {
			yaml_event_delete(&ev);
			return fail_at(c, m,
				       "anchors and aliases are not supported");
		}
		key = strdup((const char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (!key)
			return TETHER_ENOMEM;
		if (!*key) {
			free(key);
			return fail_at(c, m, "empty key");
		}
		if (has_key(set, key)) {
			const char *first = tth_params_where(set, key);

			rc = fail_at(c, m, "duplicate key '%s' (first at %s)",
				     key, first ? first : "?");
			free(key);
			return rc;
		}
		rc = next_event(c, &ev);
		if (rc == 0)
			rc = parse_value(c, set, key, &ev, depth);
		free(key);
		if (rc < 0)
			return rc;
	}
}

static int parse_stream(struct yctx *c, tether_params *set)
{
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
		return fail_at(c, m,
			       "expected a mapping, found an empty "
			       "document");
	rc = next_event(c, &ev);
	if (rc < 0)
		return rc;
	m = ev.start_mark;
	t = ev.type;
	if (t != YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		return fail_at(c, m, "expected a mapping, found %s",
			       event_noun(t));
	}
	if (ev.data.mapping_start.anchor) {
		yaml_event_delete(&ev);
		return fail_at(c, m, "anchors and aliases are not supported");
	}
	yaml_event_delete(&ev);
	rc = parse_mapping(c, set, 0);
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

int tth_params_from_yaml(const char *text, size_t len, const char *filename,
			 tether_params **out, char *err, size_t errlen)
{
	struct yctx c = {.file = filename ? filename : "<yaml>",
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

TETHER_EXPORT int tether_params_parse_yaml(const char *text, size_t len,
					   const char *filename,
					   tether_params **out, char *err,
					   size_t errlen)
{
	return tth_params_from_yaml(text, len, filename, out, err, errlen);
}

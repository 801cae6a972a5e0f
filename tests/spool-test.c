/* Helpers of the spool suites (spool-test.h). */
#define _GNU_SOURCE /* nftw flags */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/tether.h>

#include "check-int.h"
#include "spool-test.h"
#include "spool-int.h"
#include "util-int.h"
#include "net.h"

char tmpdir[64];
char dir[128];
struct tth_spool *sp;

struct got_msg *got;
size_t ngot;
static size_t capgot;
int nwarn;
char warn_file[64], warn_what[256];
uint64_t warn_off;

static int on_msg(void *ud, uint64_t id, uint64_t expires,
		  const struct tether_message *m)
{
	struct got_msg *g;

	(void)ud;
	if (ngot == capgot) {
		capgot = capgot ? capgot * 2 : 64;
		got = realloc(got, capgot * sizeof(*got));
		ck_assert_ptr_nonnull(got);
	}
	g = &got[ngot++];
	memset(g, 0, sizeof(*g));
	g->id = id;
	g->expires = expires;
	g->qos = m->qos;
	g->retain = m->retain;
	g->binary = m->binary;
	g->has_topic = m->topic != NULL;
	if (m->topic)
		snprintf(g->topic, sizeof(g->topic), "%s", m->topic);
	ck_assert_uint_le(m->len, sizeof(g->payload));
	if (m->len)
		memcpy(g->payload, m->payload, m->len);
	g->len = m->len;
	for (size_t i = 0; i < m->nprops; i++) {
		const struct tether_property *p = &m->props[i];
		size_t l = strlen(g->props);

		if (p->value)
			snprintf(g->props + l, sizeof(g->props) - l,
				 "%s%s=%.*s;", p->user ? "user:" : "", p->name,
				 (int)p->len, (const char *)p->value);
		else
			snprintf(g->props + l, sizeof(g->props) - l, "%s=%llu;",
				 p->name, (unsigned long long)p->number);
	}
	return 0;
}

static void on_warn(void *ud, const char *file, uint64_t off, const char *what)
{
	(void)ud;
	nwarn++;
	snprintf(warn_file, sizeof(warn_file), "%s", file);
	snprintf(warn_what, sizeof(warn_what), "%s", what);
	warn_off = off;
}

static const struct tth_spool_recover_ops rops = {on_msg, on_warn};

void cfg_init(struct tth_spool_cfg *c, uint64_t max, uint64_t seg,
		     enum tether_fsync fs)
{
	memset(c, 0, sizeof(*c));
	c->max_bytes = max;
	c->segment_bytes = seg;
	c->fsync = fs;
	c->fsync_interval_ms = 1000;
}

/* Closes sp (if open) and opens it again with c, recording what comes. */
int reopen_cfg(const struct tth_spool_cfg *c)
{
	char err[256];
	int rc;

	tth_spool_close(sp);
	sp = NULL;
	ngot = 0;
	nwarn = 0;
	rc = tth_spool_open(&sp, dir, c, &rops, NULL, err, sizeof(err));
	ck_assert_msg(rc == 0, "open: %s", err);
	return rc;
}

void reopen(void)
{
	struct tth_spool_cfg c;

	cfg_init(&c, 64u << 20, 0, TETHER_FSYNC_NEVER);
	reopen_cfg(&c);
}

void spool_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tether-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dir, sizeof(dir), "%s/a/spool", tmpdir);
	sp = NULL;
	ngot = 0;
	nwarn = 0;
}

void spool_teardown(void)
{
	tth_spool_close(sp);
	sp = NULL;
	th_rm_rf(tmpdir);
	free(got);
	got = NULL;
	capgot = ngot = 0;
}

/* Message n: topic "t/<n>" (none when n % 5 == 0), a payload from n. */
void make_msg(struct tether_message *m, uint64_t n, char *topic,
		     unsigned char *payload, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	snprintf(topic, 32, "t/%llu", (unsigned long long)n);
	m->topic = n % 5 ? topic : NULL;
	for (size_t i = 0; i < len; i++)
		payload[i] = (unsigned char)(n * 31 + i);
	m->payload = payload;
	m->len = len;
	m->qos = 1 + (int)(n % 2);
	m->retain = n % 3 == 0;
	m->binary = n % 4 == 0;
}

uint64_t append_n(uint64_t n, size_t len, uint64_t now)
{
	struct tether_message m;
	char topic[32];
	unsigned char payload[512];
	uint64_t id = 0;
	int rc;

	make_msg(&m, n, topic, payload, len);
	rc = tth_spool_append(sp, &m, n * 1000, now, &id);
	ck_assert_msg(rc == 0, "append %llu: %s (%s)", (unsigned long long)n,
		      tether_strerror(rc), tth_spool_error(sp));
	return id;
}

/* got[i] is message n with a len-byte payload. */
void assert_got(size_t i, uint64_t n, size_t len)
{
	struct tether_message m;
	char topic[32];
	unsigned char payload[512];

	make_msg(&m, n, topic, payload, len);
	ck_assert_uint_lt(i, ngot);
	ck_assert_uint_eq(got[i].expires, n * 1000);
	ck_assert_int_eq(got[i].has_topic, m.topic != NULL);
	if (m.topic)
		ck_assert_str_eq(got[i].topic, m.topic);
	ck_assert_uint_eq(got[i].len, len);
	ck_assert_int_eq(memcmp(got[i].payload, payload, len), 0);
	ck_assert_int_eq(got[i].qos, m.qos);
	ck_assert_int_eq(got[i].retain, m.retain);
	ck_assert_int_eq(got[i].binary, m.binary);
}

const char *path_of(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

off_t file_size(const char *name)
{
	struct stat st;

	if (stat(path_of(name), &st) != 0)
		return -1;
	return st.st_size;
}

/* Counts files in the spool directory with this extension. */
int count_files(const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t el = strlen(ext);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l > el + 1 && de->d_name[l - el - 1] == '.' &&
		    strcmp(de->d_name + l - el, ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

void remove_segments(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l > 4 && (strcmp(de->d_name + l - 4, ".seg") == 0 ||
			      strcmp(de->d_name + l - 4, ".ack") == 0))
			ck_assert_int_eq(unlink(path_of(de->d_name)), 0);
	}
	closedir(d);
}

void read_whole(const char *name, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path_of(name), "rb");

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(*buf);
	ck_assert_uint_eq(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

void write_whole(const char *name, const unsigned char *buf, size_t len)
{
	FILE *f = fopen(path_of(name), "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

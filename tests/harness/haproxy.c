/* Debian's haproxy as a TLS front for the tests (haproxy.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haproxy.h"
#include "net.h"

#define READY_MS 5000
#define STOP_MS 3000

struct th_haproxy {
	char *dir, *conf, *pem, *log;
	pid_t pid;
	uint16_t port;
};

static char *path_in(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* cert then key, into one file. */
static int join_pem(const char *cert, const char *key, const char *out)
{
	const char *in[2] = {cert, key};
	FILE *o = fopen(out, "we");
	int rc = 0;

	if (!o)
		return -errno;
	for (int i = 0; i < 2 && rc == 0; i++) {
		char buf[4096];
		size_t n;
		FILE *f = fopen(in[i], "re");

		if (!f) {
			rc = -errno;
			break;
		}
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			if (fwrite(buf, 1, n, o) != n)
				rc = -EIO;
		fclose(f);
	}
	if (fclose(o) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static void print_log(const struct th_haproxy *h)
{
	char buf[2048];
	FILE *f = fopen(h->log, "re");
	size_t n;

	if (!f)
		return;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "haproxy log:\n%s\n", buf);
}

int th_haproxy_start(const char *cert, const char *key, const char *bind_opts,
		     const char *rules, uint16_t backend,
		     struct th_haproxy **out)
{
	struct th_haproxy *h;
	char *exe = th_find_exe("haproxy");
	FILE *f;
	int rc;

	*out = NULL;
	if (!exe)
		return -ENOENT;
	h = calloc(1, sizeof(*h));
	if (!h) {
		free(exe);
		return -ENOMEM;
	}
	h->pid = -1;
	h->dir = th_mkdtemp("tether-haproxy");
	if (!h->dir || !(h->conf = path_in(h->dir, "haproxy.cfg")) ||
	    !(h->pem = path_in(h->dir, "server.pem")) ||
	    !(h->log = path_in(h->dir, "haproxy.log"))) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = join_pem(cert, key, h->pem);
	if (rc)
		goto fail;
	h->port = th_free_port();
	f = fopen(h->conf, "we");
	if (!f) {
		rc = -errno;
		goto fail;
	}
	fprintf(f,
		"global\n"
		"  maxconn 256\n"
		"defaults\n"
		"  mode tcp\n"
		"  timeout connect 2s\n"
		"  timeout client 60s\n"
		"  timeout server 60s\n"
		"frontend fe\n"
		"  bind 127.0.0.1:%u ssl crt %s %s\n"
		"%s%s"
		"  default_backend be\n"
		"backend be\n"
		"  server s1 127.0.0.1:%u\n",
		h->port, h->pem, bind_opts ? bind_opts : "",
		rules ? rules : "", rules ? "\n" : "", backend);
	if (fclose(f) != 0) {
		rc = -errno;
		goto fail;
	}
	{
		char *argv[] = {exe, "-db", "-f", h->conf, NULL};

		h->pid = th_spawn(argv, h->log);
	}
	if (h->pid < 0) {
		rc = (int)h->pid;
		goto fail;
	}
	if (th_wait_port(h->port, READY_MS) != 0) {
		print_log(h);
		rc = -ETIMEDOUT;
		goto fail;
	}
	free(exe);
	*out = h;
	return 0;
fail:
	free(exe);
	th_haproxy_free(h);
	return rc;
}

uint16_t th_haproxy_port(const struct th_haproxy *h)
{
	return h->port;
}

void th_haproxy_free(struct th_haproxy *h)
{
	if (!h)
		return;
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		if (!th_reap_within(h->pid, STOP_MS, NULL)) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
		}
	}
	if (h->dir)
		th_rm_rf(h->dir);
	free(h->dir);
	free(h->conf);
	free(h->pem);
	free(h->log);
	free(h);
}

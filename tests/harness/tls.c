/* Throwaway CA and server certificates made with `openssl` (see tls.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "tls.h"

enum { RUN_MS = 30000, TAIL_BYTES = 2048 };

struct th_tls {
	char *dir;
	char *exe; /* the openssl binary */
	char *log;
	char *ca, *ca_key;
	char *other_ca, *other_ca_key;
	char *cert, *key, *csr, *ext;
	char *misnamed_cert, *misnamed_csr, *misnamed_ext;
};

static void print_log_tail(const struct th_tls *t, const char *why)
{
	char buf[TAIL_BYTES + 1];
	ssize_t n = 0;
	int fd = open(t->log, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);
		off_t from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
		n = pread(fd, buf, TAIL_BYTES, from);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "th_tls: %s (dir %s); openssl said:\n%s\n", why,
		t->dir, buf);
}

/* Run openssl with args (NULL-terminated, without argv[0]) in t->dir,
 * output appended to t->log, for at most RUN_MS. Returns 0 or -errno. */
static int run_openssl(struct th_tls *t, const char *const *args)
{
	char *argv[32];
	size_t n = 0;
	pid_t parent = getpid(), pid;
	uint64_t end;
	int status = 0;

	argv[n++] = t->exe;
	while (*args && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Only async-signal-safe calls: other tests run threads. */
		int in = open("/dev/null", O_RDONLY);
		int out = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
		    getppid() != parent || in < 0 || out < 0 ||
		    chdir(t->dir) != 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
	end = th_now_ms() + RUN_MS;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (th_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			print_log_tail(t, "openssl hung");
			return -ETIMEDOUT;
		}
		poll(NULL, 0, 5);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_log_tail(t, "openssl failed");
		return -EIO;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int make_ca(struct th_tls *t, const char *cn, const char *pem,
		   const char *key)
{
	char subj[128];
	const char *args[] = {"req",  "-x509",   "-newkey", "rsa:2048", "-nodes",
			      "-keyout", key,    "-out",    pem,	 "-days",
			      "2",	 "-subj", subj,	    NULL};

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	return run_openssl(t, args);
}

/* A CSR (with a new key unless reuse_key) signed by the CA, with the
 * extensions in ext_text. */
static int make_server_cert(struct th_tls *t, const char *cn,
			    const char *ext_text, const char *ext,
			    const char *csr, const char *pem, int reuse_key,
			    const char *serial)
{
	char subj[128];
	const char *req_new[] = {"req",	    "-new",    "-newkey", "rsa:2048",
				 "-nodes",  "-keyout", t->key,	  "-out",
				 csr,	    "-subj",   subj,	  NULL};
	const char *req_reuse[] = {"req", "-new",  "-key",  t->key, "-out",
				   csr,	  "-subj", subj,    NULL};
	const char *sign[] = {"x509",	     "-req",	"-in",	   csr,
			      "-CA",	     t->ca,	"-CAkey",  t->ca_key,
			      "-set_serial", serial,	"-days",   "2",
			      "-extfile",    ext,	"-out",	   pem,
			      NULL};
	int rc;

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	rc = write_file(ext, ext_text);
	if (rc == 0)
		rc = run_openssl(t, reuse_key ? req_reuse : req_new);
	if (rc == 0)
		rc = run_openssl(t, sign);
	return rc;
}

static char *in_dir(const struct th_tls *t, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", t->dir, name) < 0 ? NULL : p;
}

int th_tls_new(struct th_tls **out)
{
	/* also a client certificate (check_tls_front's client
	   certificate test presents it to haproxy) */
	static const char good_ext[] =
		"basicConstraints = CA:FALSE\n"
		"keyUsage = critical, digitalSignature, keyEncipherment\n"
		"extendedKeyUsage = serverAuth, clientAuth\n"
		"subjectAltName = DNS:localhost, IP:127.0.0.1\n";
	static const char misnamed_ext[] =
		"basicConstraints = CA:FALSE\n"
		"keyUsage = critical, digitalSignature, keyEncipherment\n"
		"extendedKeyUsage = serverAuth\n"
		"subjectAltName = DNS:wrong.invalid\n";
	struct th_tls *t;
	int rc = -ENOMEM;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->exe = th_find_exe("openssl");
	if (!t->exe) {
		free(t);
		return -ENOENT;
	}
	t->dir = th_mkdtemp("tether-tls");
	if (!t->dir)
		goto fail;
	if (!(t->log = in_dir(t, "openssl.log")) ||
	    !(t->ca = in_dir(t, "ca.pem")) ||
	    !(t->ca_key = in_dir(t, "ca.key")) ||
	    !(t->other_ca = in_dir(t, "other-ca.pem")) ||
	    !(t->other_ca_key = in_dir(t, "other-ca.key")) ||
	    !(t->cert = in_dir(t, "server.pem")) ||
	    !(t->key = in_dir(t, "server.key")) ||
	    !(t->csr = in_dir(t, "server.csr")) ||
	    !(t->ext = in_dir(t, "server.ext")) ||
	    !(t->misnamed_cert = in_dir(t, "misnamed.pem")) ||
	    !(t->misnamed_csr = in_dir(t, "misnamed.csr")) ||
	    !(t->misnamed_ext = in_dir(t, "misnamed.ext")))
		goto fail;
	rc = make_ca(t, "tether test CA", t->ca, t->ca_key);
	if (rc == 0)
		rc = make_server_cert(t, "localhost", good_ext, t->ext, t->csr,
				      t->cert, 0, "4097");
	if (rc == 0)
		rc = make_server_cert(t, "wrong.invalid", misnamed_ext,
				      t->misnamed_ext, t->misnamed_csr,
				      t->misnamed_cert, 1, "4098");
	if (rc == 0)
		rc = make_ca(t, "tether unrelated CA", t->other_ca,
			     t->other_ca_key);
	if (rc != 0)
		goto fail;
	*out = t;
	return 0;
fail:
	th_tls_free(t);
	return rc;
}

const char *th_tls_ca(const struct th_tls *t)
{
	return t->ca;
}

const char *th_tls_other_ca(const struct th_tls *t)
{
	return t->other_ca;
}

const char *th_tls_cert(const struct th_tls *t)
{
	return t->cert;
}

const char *th_tls_key(const struct th_tls *t)
{
	return t->key;
}

const char *th_tls_misnamed_cert(const struct th_tls *t)
{
	return t->misnamed_cert;
}

const char *th_tls_dir(const struct th_tls *t)
{
	return t->dir;
}

void th_tls_free(struct th_tls *t)
{
	if (!t)
		return;
	if (t->dir)
		th_rm_rf(t->dir);
	free(t->dir);
	free(t->exe);
	free(t->log);
	free(t->ca);
	free(t->ca_key);
	free(t->other_ca);
	free(t->other_ca_key);
	free(t->cert);
	free(t->key);
	free(t->csr);
	free(t->ext);
	free(t->misnamed_cert);
	free(t->misnamed_csr);
	free(t->misnamed_ext);
	free(t);
}

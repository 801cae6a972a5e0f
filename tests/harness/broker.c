/* A mosquitto broker for the integration tests (docs/architecture.md). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "net.h"

enum {
	START_TRIES = 3,
	READY_MS = 5000,
	STOP_MS = 2000,
	KILL_WAIT_MS = 5000,
	TAIL_BYTES = 2048,
};

struct th_broker {
	char *dir;
	char *conf;
	char *log;
	char *exe; /* the mosquitto binary */
	uint16_t port;
	uint16_t ws_port;
	pid_t pid;
	int websockets;
	int persistence;
	int max_connections;
	int max_queued, max_inflight;
	char *username;
	char *password;
	char *tls_cafile, *tls_certfile, *tls_keyfile;
	char *acl; /* the text of an acl_file, or NULL */
};

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Read path from offset `from` (at most cap bytes, from its end) into a
 * malloc'ed NUL-terminated string. */
static char *read_from(const char *path, off_t from, size_t cap)
{
	off_t size = file_size(path);
	char *buf;
	ssize_t n;
	int fd;

	if (size < from)
		from = 0;
	if ((size_t)(size - from) > cap)
		from = size - (off_t)cap;
	buf = malloc((size_t)(size - from) + 1);
	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? pread(fd, buf, (size_t)(size - from), from) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void print_log_tail(const struct th_broker *b, const char *why)
{
	char *tail = read_from(b->log, 0, TAIL_BYTES);

	fprintf(stderr, "th_broker: %s (dir %s); log tail:\n%s\n", why, b->dir,
		tail ? tail : "(none)");
	free(tail);
}


static int make_password_file(struct th_broker *b, const char *pwfile)
{
	char *exe = th_find_exe("mosquitto_passwd");
	char *argv[] = {exe,	     "-b",
			"-c",	     (char *)pwfile,
			b->username, b->password ? b->password : "",
			NULL};
	int status = 0;
	pid_t pid;

	if (!exe)
		return -ENOENT;
	pid = th_spawn(argv, b->log);
	free(exe);
	if (pid < 0)
		return (int)pid;
	if (!th_reap_within(pid, READY_MS, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		print_log_tail(b, "mosquitto_passwd hung");
		return -ETIMEDOUT;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    file_size(pwfile) <= 0) {
		print_log_tail(b, "mosquitto_passwd failed");
		return -EIO;
	}
	return 0;
}

/* The TLS lines of a listener (none without a certificate). */
static void write_tls(const struct th_broker *b, FILE *f)
{
	if (!b->tls_certfile || !b->tls_keyfile)
		return;
	if (b->tls_cafile)
		fprintf(f, "cafile %s\n", b->tls_cafile);
	fprintf(f, "certfile %s\nkeyfile %s\n", b->tls_certfile,
		b->tls_keyfile);
}

static int write_config(struct th_broker *b)
{
	struct passwd *pw = getpwuid(geteuid());
	char *pwfile = NULL;
	FILE *f;
	int rc = 0;

	if (b->username) {
		if (asprintf(&pwfile, "%s/passwd", b->dir) < 0)
			return -ENOMEM;
		unlink(pwfile);
		rc = make_password_file(b, pwfile);
		if (rc != 0) {
			free(pwfile);
			return rc;
		}
	}
	f = fopen(b->conf, "we");
	if (!f) {
		rc = -errno;
		free(pwfile);
		return rc;
	}
	/* As root, mosquitto drops to user "mosquitto", which cannot reach
	 * our 0700 directory; naming ourselves keeps it as we are. */
	if (pw)
		fprintf(f, "user %s\n", pw->pw_name);
	fprintf(f, "log_dest file %s\n", b->log);
	fprintf(f, "listener %u 127.0.0.1\n", b->port);
	if (b->max_connections > 0)
		fprintf(f, "max_connections %d\n", b->max_connections);
	write_tls(b, f);
	if (b->websockets) {
		fprintf(f, "listener %u 127.0.0.1\nprotocol websockets\n",
			b->ws_port);
		if (b->max_connections > 0)
			fprintf(f, "max_connections %d\n", b->max_connections);
		write_tls(b, f);
	}
	if (pwfile)
		fprintf(f, "allow_anonymous false\npassword_file %s\n", pwfile);
	else
		fprintf(f, "allow_anonymous true\n");
	if (b->acl) {
		char *aclfile = NULL;
		FILE *a;

		if (asprintf(&aclfile, "%s/acl", b->dir) < 0) {
			fclose(f);
			free(pwfile);
			return -ENOMEM;
		}
		a = fopen(aclfile, "we");
		if (!a || fputs(b->acl, a) < 0 || fclose(a) != 0)
			rc = -EIO;
		fprintf(f, "acl_file %s\n", aclfile);
		free(aclfile);
	}
	if (b->max_queued)
		fprintf(f, "max_queued_messages %d\n",
			b->max_queued > 0 ? b->max_queued : 0);
	if (b->max_inflight)
		fprintf(f, "max_inflight_messages %d\n",
			b->max_inflight > 0 ? b->max_inflight : 0);
	if (b->persistence)
		fprintf(f, "persistence true\npersistence_location %s/\n",
			b->dir);
	if (fclose(f) != 0)
		rc = -errno;
	free(pwfile);
	return rc;
}

/* 1 if the kernel lists a TCP socket listening on 127.0.0.1:port, 0 if
 * not, -1 if /proc/net/tcp cannot be read. */
static int listening_on(uint16_t port)
{
	FILE *f = fopen("/proc/net/tcp", "re");
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned addr, lport, state;
		if (sscanf(line, " %*u: %8X:%4X %*8X:%*4X %2X", &addr, &lport,
			   &state) == 3 &&
		    addr == htonl(INADDR_LOOPBACK) && lport == port &&
		    state == 0x0A)
			found = 1;
	}
	fclose(f);
	return found;
}

/* Whether a listener is up. mosquitto 2.0.11 miscounts connections that
 * close before CONNECT against max_connections (measured: after two such
 * probes it let two clients in with max_connections 1), so with that
 * option we look at the kernel's table instead of connecting. */
static int accepts(const struct th_broker *b, uint16_t port)
{
	if (b->max_connections > 0 && listening_on(port) >= 0)
		return listening_on(port) == 1;
	return th_wait_port(port, 50) == 0;
}

/* Start mosquitto and wait until it says it runs and its ports accept. */
static int launch(struct th_broker *b)
{
	char *argv[] = {b->exe, "-c", b->conf, NULL};
	off_t log_from = file_size(b->log);
	uint64_t end;
	pid_t pid = th_spawn(argv, b->log);

	if (pid < 0)
		return (int)pid;
	b->pid = pid;
	end = th_now_ms() + READY_MS;
	for (;;) {
		char *text = read_from(b->log, log_from, 1 << 16);
		/* "running" is logged after every listener is open, which
		 * also tells our broker apart from a stranger on the port. */
		int running = text && strstr(text, "mosquitto version") &&
			      strstr(text, " running");
		free(text);
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			b->pid = -1;
			print_log_tail(b, "mosquitto exited at start");
			return -EADDRINUSE;
		}
		if (running && accepts(b, b->port) &&
		    (!b->ws_port || accepts(b, b->ws_port)))
			return 0;
		if (th_now_ms() >= end)
			break;
		poll(NULL, 0, 10);
	}
	print_log_tail(b, "mosquitto did not start listening in 5 s");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	b->pid = -1;
	return -ETIMEDOUT;
}

static int pick_ports(struct th_broker *b)
{
	b->port = th_free_port();
	b->ws_port = b->websockets ? th_free_port() : 0;
	while (b->websockets && b->ws_port == b->port)
		b->ws_port = th_free_port();
	return b->port && (!b->websockets || b->ws_port) ? 0 : -EADDRNOTAVAIL;
}

int th_broker_start(const struct th_broker_opts *o, struct th_broker **out)
{
	struct th_broker *b;
	int rc = -ENOMEM;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->pid = -1;
	b->exe = th_find_exe("mosquitto");
	if (!b->exe) {
		free(b);
		return -ENOENT;
	}
	if (o) {
		b->websockets = o->websockets;
		b->persistence = o->persistence;
		b->max_connections = o->max_connections;
		b->max_queued = o->max_queued_messages;
		b->max_inflight = o->max_inflight_messages;
		if (o->username && !(b->username = strdup(o->username)))
			goto fail;
		if (o->acl && !(b->acl = strdup(o->acl)))
			goto fail;
		if (o->password && !(b->password = strdup(o->password)))
			goto fail;
		if ((o->tls_cafile &&
		     !(b->tls_cafile = strdup(o->tls_cafile))) ||
		    (o->tls_certfile &&
		     !(b->tls_certfile = strdup(o->tls_certfile))) ||
		    (o->tls_keyfile &&
		     !(b->tls_keyfile = strdup(o->tls_keyfile))))
			goto fail;
	}
	b->dir = th_mkdtemp("tether-broker");
	if (!b->dir || asprintf(&b->conf, "%s/mosquitto.conf", b->dir) < 0 ||
	    asprintf(&b->log, "%s/mosquitto.log", b->dir) < 0) {
		b->conf = NULL;
		goto fail;
	}
	for (int i = 0; i < START_TRIES; i++) {
		rc = pick_ports(b);
		if (rc == 0)
			rc = write_config(b);
		if (rc == 0)
			rc = launch(b);
		/* Only a lost race for a port is worth another try. */
		if (rc != -EADDRINUSE && rc != -EADDRNOTAVAIL)
			break;
	}
	if (rc != 0)
		goto fail;
	*out = b;
	return 0;
fail:
	th_broker_free(b);
	return rc;
}

uint16_t th_broker_port(const struct th_broker *b)
{
	return b->port;
}

uint16_t th_broker_ws_port(const struct th_broker *b)
{
	return b->ws_port;
}

pid_t th_broker_pid(const struct th_broker *b)
{
	return b->pid;
}

const char *th_broker_dir(const struct th_broker *b)
{
	return b->dir;
}

int th_broker_kill(struct th_broker *b, int sig)
{
	if (b->pid <= 0)
		return -ESRCH;
	if (kill(b->pid, sig) != 0)
		return -errno;
	if (sig != SIGKILL && sig != SIGTERM && sig != SIGINT && sig != SIGQUIT)
		return 0;
	if (!th_reap_within(b->pid, KILL_WAIT_MS, NULL)) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
	}
	b->pid = -1;
	return 0;
}

int th_broker_set_password(struct th_broker *b, const char *password)
{
	char *pw = strdup(password), *pwfile = NULL;
	int rc;

	if (!b->username || !pw) {
		free(pw);
		return b->username ? -ENOMEM : -EINVAL;
	}
	free(b->password);
	b->password = pw;
	if (asprintf(&pwfile, "%s/passwd", b->dir) < 0)
		return -ENOMEM;
	unlink(pwfile);
	rc = make_password_file(b, pwfile);
	free(pwfile);
	return rc;
}

int th_broker_restart(struct th_broker *b)
{
	if (b->pid > 0)
		th_broker_kill(b, SIGTERM);
	return launch(b);
}

void th_broker_free(struct th_broker *b)
{
	if (!b)
		return;
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		if (!th_reap_within(b->pid, STOP_MS, NULL)) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
		}
	}
	if (b->dir)
		th_rm_rf(b->dir);
	free(b->dir);
	free(b->conf);
	free(b->log);
	free(b->exe);
	free(b->username);
	free(b->password);
	free(b->tls_cafile);
	free(b->acl);
	free(b->tls_certfile);
	free(b->tls_keyfile);
	free(b);
}

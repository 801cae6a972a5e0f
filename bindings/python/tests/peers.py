"""Real peers for the binding's tests, on 127.0.0.1 only: a mosquitto
broker started from a temporary config, and the test harness's
WebSocket server and fault proxy programs (tests/harness) driven on their
standard input. Every process started here is reaped by close()."""

import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time


# Fast reconnects for the tests.
FAST = {"type": "fixed", "interval": "200ms"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def clean_env():
    """The environment for programs that are not ours (no ASan preload)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def _reap(proc, sig=signal.SIGTERM, timeout=5.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def find_mosquitto():
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
         if os.access(p, os.X_OK)), None)


class Broker:
    """mosquitto on a free loopback port; anonymous clients unless
    anonymous=False (then every client is refused: not authorized)."""

    def __init__(self, anonymous=True):
        self.exe = find_mosquitto()
        if not self.exe:
            raise RuntimeError("mosquitto is not installed")
        self.dir = tempfile.mkdtemp(prefix="tether-py-broker-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "mosquitto.log")
        self.anonymous = anonymous
        self.proc = None
        self.port = None
        for _ in range(3):
            self.port = free_port()
            self._write_config()
            if self._launch():
                return
        self.close()
        raise RuntimeError("mosquitto did not start:\n" + self.log_tail())

    def _write_config(self):
        with open(self.conf, "w") as f:
            # as root mosquitto would drop to user "mosquitto", which
            # cannot reach our private temporary directory
            f.write("user %s\n" % pwd.getpwuid(os.geteuid()).pw_name)
            f.write("log_dest file %s\n" % self.log)
            f.write("listener %d 127.0.0.1\n" % self.port)
            f.write("allow_anonymous %s\n"
                    % ("true" if self.anonymous else "false"))
            f.write("persistence false\n")

    def _launch(self):
        start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.proc = subprocess.Popen([self.exe, "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     env=clean_env())
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            text = ""
            if os.path.exists(self.log):
                with open(self.log) as f:
                    f.seek(start)
                    text = f.read()
            if " running" in text and wait_port(self.port, 0.2):
                return True
            time.sleep(0.02)
        _reap(self.proc, signal.SIGKILL)
        self.proc = None
        return False

    def log_tail(self):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return "(no log)"

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def kill(self):
        """Stop the broker abruptly (an outage)."""
        _reap(self.proc, signal.SIGKILL)
        self.proc = None

    def restart(self):
        """Start again on the same port."""
        self.kill()
        if not self._launch():
            raise RuntimeError("mosquitto did not restart:\n"
                               + self.log_tail())

    def close(self):
        _reap(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class _Driven:
    """A harness program that prints 'listening on 127.0.0.1:PORT' and
    then reads commands on stdin."""

    def __init__(self, argv):
        if not argv[0] or not os.access(argv[0], os.X_OK):
            raise RuntimeError("harness program not built: %s" % argv[0])
        self._buf = b""
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        line = self._line(5.0)
        if not line or not line.startswith("listening on 127.0.0.1:"):
            self.close()
            raise RuntimeError("%s did not start: %r" % (argv[0], line))
        self.port = int(line.rsplit(":", 1)[1])

    def _line(self, timeout):
        """The next line of output, or None after timeout seconds (the
        pipe is read unbuffered so select() tells the truth)."""
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().strip()

    def _send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def close(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self._send("quit")
                self.proc.stdin.close()
                self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _reap(self.proc, signal.SIGKILL)
        for f in (self.proc.stdout,):
            try:
                f.close()
            except OSError:
                pass
        self.proc = None


class WsServer(_Driven):
    """tests/harness/wsserver: echo (default), reject STATUS, close CODE."""

    def __init__(self, reject=None):
        argv = [os.environ.get("TETHER_TEST_WSSERVER", "")]
        if reject:
            argv += ["--reject", str(reject)]
        super().__init__(argv)

    @property
    def uri(self):
        return "ws://127.0.0.1:%d/" % self.port

    def command(self, cmd):
        """Run a command (echo, reject STATUS, close CODE); the `stats`
        that follows proves it was read."""
        self._send(cmd)
        return self.stats()

    def stats(self):
        self._send("stats")
        while True:
            line = self._line(10.0)
            if line is None:
                raise RuntimeError("wsserver: no answer")
            if line.startswith("upgrades "):
                words = line.split()
                return dict(zip(words[0::2], map(int, words[1::2])))
            if line.startswith("?"):
                raise RuntimeError("wsserver refused a command: " + line)


class FaultProxy(_Driven):
    """tests/harness/faultproxy in front of 127.0.0.1:target."""

    def __init__(self, target):
        super().__init__([os.environ.get("TETHER_TEST_FAULTPROXY", ""),
                          "--target", str(target)])

    def command(self, cmd):
        # commands print nothing; a `stats` after one proves it was read
        self._send(cmd)
        return self.stats()

    def stats(self):
        self._send("stats")
        line = self._line(10.0)
        if not line:
            raise RuntimeError("faultproxy: no answer")
        words = line.split()
        return dict(zip(words[0::2], map(int, words[1::2])))

    def uri(self, scheme):
        return "%s://127.0.0.1:%d/" % (scheme, self.port) if scheme == "ws" \
            else "%s://127.0.0.1:%d" % (scheme, self.port)

"""examples/bridge.py as a real process: MQTT -> WebSocket (the harness's
echo server) -> back to MQTT, through an outage of each side."""

import os
import select
import signal
import subprocess
import sys
import time

import pytest

import tether
from tether import EventType, State

from peers import FAST

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       os.pardir, "examples", "bridge.py")


@pytest.fixture
def bridge_proc():
    procs = []

    def start(*args):
        p = subprocess.Popen([sys.executable, EXAMPLE] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, bufsize=1)
        procs.append(p)
        line = p.stdout.readline()  # bounded: the bridge prints at once
        assert line.strip() == "bridge: running", p.stderr.read()
        return p
    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


class Output:
    """A child's stderr read without blocking, kept whole."""

    def __init__(self, f):
        self.f = f
        self.text = ""
        self.seen = {}

    def wait_for(self, needle, timeout=15.0):
        """Wait for one more occurrence of needle than earlier calls
        consumed."""
        want = self.seen.get(needle, 0) + 1
        deadline = time.monotonic() + timeout
        while self.text.count(needle) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("bridge never said %r:\n%s" % (needle, self.text))
            r, _, _ = select.select([self.f], [], [], left)
            if r:
                chunk = os.read(self.f.fileno(), 65536)
                if not chunk:
                    pytest.fail("bridge exited:\n" + self.text)
                self.text += chunk.decode("utf-8", "replace")
        self.seen[needle] = want


def roundtrip(client, evs, topic, payload, timeout=15.0):
    """Publish until the bridge returns it (the bridge's subscription may
    still be on its way); returns the message that came back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.send(payload, topic=topic, qos=1)
        end = min(deadline, time.monotonic() + 0.5)
        while time.monotonic() < end:
            ev = evs.get(0.1)
            if ev is not None and ev.message.topic == "from-ws/" + topic:
                return ev.message
    pytest.fail("nothing came back through the bridge for %s" % topic)


def test_bridge_forwards_and_survives_outages(broker, ws_server, make_proxy,
                                              managers, bridge_proc):
    ws_proxy = make_proxy(ws_server.port)
    bridge = bridge_proc("--mqtt", broker.uri, "--ws", ws_proxy.uri("ws"),
                         "--topic", "sensors/#", "--return-prefix",
                         "from-ws/", "--retry-initial", "100ms",
                         "--retry-max", "300ms", "--client-id", "py-bridge",
                         "--stats")
    log = Output(bridge.stderr)
    log.wait_for("mqtt: up")
    log.wait_for("ws: up")
    m = managers(tether.Manager())
    client = m.connection("client", "mqtt", [broker.uri], policy=FAST,
                          options={"version": "5",
                                   "client_id": "py-bridge-test"},
                          subscriptions=[("from-ws/#", 1)])
    evs = m.events(types={EventType.MESSAGE})
    m.start()
    client.wait_state(State.ONLINE, 10)

    msg = roundtrip(client, evs, "sensors/t1", "21.5")
    assert msg.payload == b"21.5"

    # WebSocket side away: what arrives meanwhile is held, then delivered
    # in order once it is back
    ws_proxy.command("refuse")
    ws_proxy.command("cut rst")
    log.wait_for("ws: down")
    for i in range(3):
        client.send("held %d" % i, topic="sensors/held", qos=1, wait=5)
    time.sleep(0.5)
    ws_proxy.command("pass")
    got = []
    deadline = time.monotonic() + 15
    while len(got) < 3 and time.monotonic() < deadline:
        ev = evs.get(0.2)
        if ev is not None and ev.message.topic == "from-ws/sensors/held":
            got.append(ev.message.payload)
    assert got == [b"held 0", b"held 1", b"held 2"]

    # MQTT side away: the broker dies and comes back; both the bridge and
    # the test client reconnect and resubscribe
    broker.kill()
    log.wait_for("mqtt: down")
    broker.restart()
    client.wait_state(State.ONLINE, 15)
    msg = roundtrip(client, evs, "sensors/t2", b"\xff\x00 binary")
    assert msg.payload == b"\xff\x00 binary"

    bridge.send_signal(signal.SIGTERM)
    out, err = bridge.communicate(timeout=15)
    err = log.text + err
    assert bridge.returncode == 0, err
    assert "bridge: stopped, forwarded" in out
    stats = {line.split(":", 1)[0]: line for line in out.splitlines()
             if line.startswith(("mqtt:", "ws:"))}
    assert "'reconnects': 1" in stats["mqtt"] and \
        "'reconnects': 1" in stats["ws"], out
    assert "down" in err and "up" in err

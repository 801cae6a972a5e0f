"""MQTT upstream features against a real mosquitto on 127.0.0.1 (issue
13): outbound MQTT 5 properties, unsubscribe, the will options; the
properties are read back by an independent mosquitto_sub, which each test
reaps by its pid."""

import select
import shutil
import signal
import subprocess
import time

import pytest

import tether
from tether import EventType

from peers import FAST


def mqtt_conn(mgr, name, uri, version="5", **kw):
    opts = dict({"version": version, "client_id": "py-" + name}, **kw)
    return mgr.connection(name, "mqtt", [uri], options=opts, policy=FAST)


@pytest.fixture
def mosquitto_sub(broker):
    """Start mosquitto_sub -V 5 on a topic; killed and reaped after."""
    if not shutil.which("mosquitto_sub"):
        pytest.skip("mosquitto-clients is not installed")
    procs = []

    def start(topic):
        p = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
             str(broker.port), "-V", "5", "-q", "1", "-t", topic, "-d",
             "-F", "MSG|%t|%p|%C|%R|%D|%P"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
            # unbuffered: lines_until selects on the pipe, and a line
            # read ahead into Python's buffer would wait unseen
            bufsize=0)
        procs.append(p)
        if not lines_until(p, b"SUBACK", 5.0):
            pytest.fail("mosquitto_sub did not subscribe")
        return p
    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait(5)


def lines_until(p, needle, timeout):
    """The first line of p's output holding needle, or None (never
    blocks past timeout: mosquitto_sub writes whole lines)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            return None
        line = p.stdout.readline()
        if not line:
            return None
        if needle in line:
            return line


def read_msg(p, prefix, timeout=5.0):
    line = lines_until(p, prefix, timeout)
    if line is None:
        pytest.fail("mosquitto_sub saw nothing for %r" % prefix)
    return line.decode().rstrip("\n")


def test_send_with_properties_seen_by_subscriber(broker, managers,
                                                 mosquitto_sub):
    sub = mosquitto_sub("py/props")
    m = managers(tether.Manager())
    c = mqtt_conn(m, "props", broker.uri)
    with m.events(types={EventType.UP}) as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
    c.send("hi", topic="py/props", qos=1, wait=5,
           properties={"content_type": "text/plain",
                       "response_topic": "py/reply",
                       "correlation_data": b"c-1",
                       "message_expiry_interval": 60},
           user_properties=[("site", "gw-01")])
    line = read_msg(sub, b"MSG|py/props|hi|")
    assert line == "MSG|py/props|hi|text/plain|py/reply|c-1|site:gw-01"


def test_properties_refused_at_send(broker, managers):
    m = managers(tether.Manager())
    c3 = mqtt_conn(m, "v3", broker.uri, version="3.1.1")
    c5 = mqtt_conn(m, "v5", broker.uri)
    with pytest.raises(tether.NotSupported):
        c3.send("x", topic="t", properties={"content_type": "a/b"})
    with pytest.raises(tether.NotSupported):
        c5.send("x", topic="t", properties={"topic_alias": 3})
    with pytest.raises(tether.InvalidArgument):
        c5.send("x", topic="t", properties={"response_topic": "r/#"})
    assert c3.queued == 0 and c5.queued == 0


def test_unsubscribe_stops_delivery(broker, managers):
    m = managers(tether.Manager())
    c = mqtt_conn(m, "unsub", broker.uri)
    c.subscribe("py/u/#", 1)
    with m.events(types={EventType.UP, EventType.MESSAGE}) as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
        for i in range(50):  # until the SUBACK is in
            c.send("before", topic="py/u/a", qos=1, wait=5)
            try:
                evs.wait_for(EventType.MESSAGE, 0.2)
                break
            except tether.TimedOut:
                continue
        c.unsubscribe("py/u/#")
        time.sleep(0.3)
        while True:  # drain what came before the UNSUBACK
            try:
                evs.wait_for(EventType.MESSAGE, 0.1)
            except tether.TimedOut:
                break
        c.send("after", topic="py/u/a", qos=1, wait=5)
        with pytest.raises(tether.TimedOut):
            evs.wait_for(EventType.MESSAGE, 1.0)


def test_will_options_and_subscription_options(broker, managers):
    m = managers(tether.Manager())
    c = mqtt_conn(m, "will", broker.uri)
    c.set_will("py/will", "gone", qos=1, retain=False, delay=1,
               expiry="60s", content_type="text/plain",
               user_properties={"site": "gw-01"})
    c.subscribe("py/nl/#", 1, no_local=True, retain_handling=2)
    with pytest.raises(tether.InvalidArgument):
        c.subscribe("py/nl/#", 1, retain_handling=3)
    c.check()
    bad = mqtt_conn(m, "will3", broker.uri, version="3.1.1")
    bad.set_will("py/will", "gone", delay=1)
    with pytest.raises(tether.ConfigError):
        bad.check()
    assert EventType.SUBSCRIBE_FAILED == 14
    assert str(EventType.SUBSCRIBE_FAILED) == "subscribe-failed"

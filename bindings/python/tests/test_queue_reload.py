"""Live reload, and the queue across disconnects (docs/architecture.md):
messages accepted while offline, overflow, TTL, the resume hook."""

import time

import pytest

import tether
from tether import EventType, State
from tether._lib import lib

from peers import FAST

needs_queue = pytest.mark.skipif(
    not lib.has("tether_conn_queued"),
    reason="this libtether has no outbound queue yet (tether_conn_queued)")


def conf(path, conns, policy="200ms"):
    lines = ["version: 1", "connections:"]
    for name, transport, uri in conns:
        lines += ["  - name: %s" % name,
                  "    transport: %s" % transport,
                  '    endpoints: [ "%s" ]' % uri,
                  "    policy: { type: fixed, interval: %s }" % policy]
    path.write_text("\n".join(lines) + "\n")


def test_reload_live_add_bad_remove(broker, ws_server, managers, tmp_path):
    path = tmp_path / "gw.yaml"
    conf(path, [("a", "mqtt", broker.uri)])
    m = managers(tether.Manager.from_yaml(str(path)))
    evs = m.events()
    m.start()
    a = m["a"]
    a.wait_state(State.ONLINE, 10)

    # policy changed, b added: a stays up, b comes up
    conf(path, [("a", "mqtt", broker.uri), ("b", "ws", ws_server.uri)],
         policy="300ms")
    conns = m.reload()
    assert [c.name for c in conns] == ["a", "b"]
    b = m["b"]
    b.wait_state(State.ONLINE, 10)
    seen = []
    while True:
        ev = evs.get(0.3)
        if ev is None:
            break
        seen.append(ev)
    reloads = {(ev.name, ev.detail) for ev in seen
               if ev.type == EventType.RELOAD}
    assert ("a", "live") in reloads and ("b", "added") in reloads
    assert not [ev for ev in seen if ev.name == "a"
                and ev.type == EventType.DOWN]
    assert a.state == State.ONLINE and a.stats.attempts_up == 1

    # a bad file changes nothing and says where
    path.write_text(path.read_text().replace("transport: ws",
                                             "transprot: ws"))
    with pytest.raises(tether.ConfigError) as ei:
        m.reload()
    assert "%s:" % path in str(ei.value) and "transprot" in str(ei.value)
    assert evs.get(0.5) is None
    assert a.state == State.ONLINE and b.state == State.ONLINE

    # a removed from a dict: it closes, b stays
    m.reload({"version": 1, "connections": [
        {"name": "b", "transport": "ws", "endpoints": [ws_server.uri],
         "policy": FAST}]})
    a.wait_state(State.CLOSED, 10)
    assert b.state == State.ONLINE


def test_reload_refused_from_a_callback(managers):
    m = managers(tether.Manager.from_dict({"version": 1, "connections": [
        {"name": "x", "transport": "ws", "endpoints": ["ws://127.0.0.1:9/"],
         "policy": FAST}]}))
    errors = []

    @m.on_event
    def try_reload(ev):
        try:
            m.reload({"version": 1, "connections": []})
        except tether.StateError as e:
            errors.append(e)
    with m.events() as evs:
        m.start()
        evs.wait_for(EventType.RETRY, 10)
    assert errors and "callback" in str(errors[0])


@needs_queue
def test_send_while_offline_is_delivered_in_order(ws_server, make_proxy,
                                                  managers):
    proxy = make_proxy(ws_server.port)
    proxy.command("refuse")
    m = managers(tether.Manager())
    c = m.connection("q", "ws", [proxy.uri("ws")], policy=FAST)
    with m.events(connection=c, types={EventType.SENT, EventType.MESSAGE,
                                       EventType.RETRY}) as evs:
        m.start()
        evs.wait_for(EventType.RETRY, 10)
        ids = [c.send("m%d" % i) for i in range(3)]
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert c.queued == 3 and c.stats.queued == 3
        proxy.command("pass")
        sent, echoed = [], []
        deadline = time.monotonic() + 15
        while (len(sent) < 3 or len(echoed) < 3) and \
                time.monotonic() < deadline:
            ev = evs.get(0.2)
            if ev is None or ev.type == EventType.RETRY:
                continue
            if ev.type == EventType.SENT:
                sent.append((ev.msg_id, ev.error))
            else:
                echoed.append(ev.message.payload)
    assert sent == [(i, 0) for i in ids]
    assert echoed == [b"m0", b"m1", b"m2"]
    assert c.queued == 0


@needs_queue
def test_queue_overflow_and_ttl(managers):
    m = managers(tether.Manager())
    c = m.connection("full", "ws", ["ws://127.0.0.1:9/"], policy=FAST,
                     queue={"max_messages": 2, "overflow": "reject"})
    with m.events(connection=c, types={EventType.SENT,
                                       EventType.RETRY}) as evs:
        m.start()
        evs.wait_for(EventType.RETRY, 10)
        c.send("1")
        c.send("2")
        with pytest.raises(tether.Full) as ei:
            c.send("3")
        assert ei.value.name == "TETHER_EFULL"
        # once started, new bounds are applied by the loop (posted)
        c.set_queue(max_messages=10, overflow=tether.Overflow.DROP_OLDEST)
        deadline = time.monotonic() + 5
        while True:
            try:
                mid = c.send("stale", ttl=0.2)
                break
            except tether.Full:
                assert time.monotonic() < deadline, "bounds never applied"
                time.sleep(0.02)
        ev = evs.wait_for(lambda e: e.type == EventType.SENT
                          and e.msg_id == mid, 5)
        assert ev.error_class is tether.Expired
        with pytest.raises(tether.Expired):
            c.send("stale too", ttl=0.2, wait=5)
        c.stop()
        # what was still queued is dropped as closed, one SENT each
        drops = []
        deadline = time.monotonic() + 5
        while len(drops) < 2 and time.monotonic() < deadline:
            ev = evs.get(0.2)
            if ev is not None and ev.type == EventType.SENT and ev.error:
                drops.append(ev.error_class)
        assert tether.Closed in drops


@needs_queue
def test_resume_hook_goes_first_after_each_connect(ws_server, make_proxy,
                                                  managers):
    proxy = make_proxy(ws_server.port)
    m = managers(tether.Manager())
    ups = []

    def resume(conn):
        ups.append(conn.name)
        conn.send("hello %d" % len(ups))  # the server echoes it
    c = m.connection("r", "ws", [proxy.uri("ws")], policy=FAST,
                     resume=resume)
    with m.events(connection=c, types={EventType.MESSAGE,
                                       EventType.UP}) as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
        assert evs.wait_for(EventType.MESSAGE, 5).message.payload == \
            b"hello 1"
        proxy.command("refuse")
        proxy.command("cut rst")
        c.wait_state({State.BACKOFF, State.CONNECTING}, 10)
        c.send("backlog")
        proxy.command("pass")
        evs.wait_for(EventType.UP, 10)
        first = evs.wait_for(EventType.MESSAGE, 5).message.payload
        second = evs.wait_for(EventType.MESSAGE, 5).message.payload
    assert (first, second) == (b"hello 2", b"backlog")
    assert ups == ["r", "r"]

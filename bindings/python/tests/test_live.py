"""Against real peers on 127.0.0.1: mosquitto, the harness's WebSocket
server and fault proxy. Connect, send and receive, outages with the
reconnect seen through events, fatal refusals, callbacks that raise."""

import gc
import logging
import threading
import time

import pytest

import tether
from tether import EventType, ReasonClass, ReasonKind, State

from peers import FAST


def mqtt_conn(mgr, name, uri, **kw):
    opts = dict({"version": "5", "client_id": "py-" + name}, **kw)
    return mgr.connection(name, "mqtt", [uri], options=opts, policy=FAST)


def test_mqtt_connect_send_and_receive(broker, managers):
    m = managers(tether.Manager())
    c = mqtt_conn(m, "mq", broker.uri)
    c.subscribe("py/test/#", 1)
    got = []
    c.on_message(lambda msg, conn: got.append((msg.topic, msg.payload)))
    with m.events(types={EventType.UP, EventType.MESSAGE,
                         EventType.SENT}) as evs:
        m.start()
        up = evs.wait_for(EventType.UP, 10)
        assert up.connection is c and up.state == State.ONLINE
        assert up.session_present is False
        assert c.state == State.ONLINE
        # the SUBACK is not an event: publish until our own message
        # comes back (bounded)
        for i in range(50):
            c.send(b"ping %d" % i, topic="py/test/a", qos=1, wait=5)
            try:
                ev = evs.wait_for(EventType.MESSAGE, 0.2)
                break
            except tether.TimedOut:
                continue
        else:
            pytest.fail("our own message never came back")
        assert ev.message.topic == "py/test/a"
        assert ev.message.payload.startswith(b"ping ")
        assert ev.message.qos == 1
    assert got and got[0][0] == "py/test/a"
    st = c.stats
    assert st.state == State.ONLINE
    assert st.attempts_up == 1 and st.messages_sent >= 1
    assert st.messages_received >= 1
    # the struct (tether_conn_stats) and the metrics text agree
    assert st.bytes_sent >= len("py/test/a") + len("ping ")
    assert st.dropped == {"overflow": 0, "expired": 0, "closed": 0,
                          "too_large": 0, "error": 0}
    sent = [v for name, labels, v in tether.parse_metrics(m.metrics())
            if name == "tether_message_bytes_sent_total"
            and labels["conn"] == c.name]
    assert len(sent) == 1 and sent[0] >= st.bytes_sent > 0


def test_ws_text_and_binary_echo(ws_server, managers):
    m = managers(tether.Manager())
    c = m.connection("ws", "ws", [ws_server.uri], policy=FAST)
    with m:
        c.wait_state(State.ONLINE, 10)
        with c.events(types={EventType.MESSAGE, EventType.SENT}) as evs:
            id1 = c.send("héllo")
            id2 = c.send(b"\x00\x01\x02")
            sent = {}
            msgs = []
            deadline = time.monotonic() + 10
            while (len(sent) < 2 or len(msgs) < 2) and \
                    time.monotonic() < deadline:
                ev = evs.get(0.5)
                if ev is None:
                    continue
                if ev.type == EventType.SENT:
                    sent[ev.msg_id] = ev.error
                else:
                    msgs.append(ev.message)
        assert sent == {id1: 0, id2: 0}
        assert [(x.payload, x.binary) for x in msgs] == \
            [("héllo".encode(), False), (b"\x00\x01\x02", True)]
        assert msgs[0].text == "héllo" and msgs[0].topic is None
        assert ws_server.stats()["upgrades"] == 1
    assert m.closed
    assert c.state == State.CLOSED   # the handle outlives the manager
    with pytest.raises(tether.StateError):
        c.send("late")


def test_mqtt_broker_outage_and_reconnect(broker, managers):
    m = managers(tether.Manager())
    c = mqtt_conn(m, "out", broker.uri)
    c.subscribe("py/out", 0)
    with m.events() as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
        broker.kill()
        down = evs.wait_for(EventType.DOWN, 10)
        assert down.reason.cls in (ReasonClass.TRANSIENT, ReasonClass.TIMEOUT)
        retry = evs.wait_for(EventType.RETRY, 10)
        assert retry.delay_ms is not None and retry.delay_ms <= 1000
        assert c.state in (State.BACKOFF, State.CONNECTING)
        # a few failed attempts while it is away
        evs.wait_for(EventType.RETRY, 10)
        broker.restart()
        up = evs.wait_for(EventType.UP, 15)
        assert up.state == State.ONLINE
    st = c.stats
    assert st.attempts_up == 2 and st.attempts_failed >= 1
    assert st.reconnects == 1 and st.reconnect_seconds > 0
    assert sum(st.disconnects.values()) >= 2


def test_ws_outage_through_the_fault_proxy(ws_server, make_proxy, managers):
    proxy = make_proxy(ws_server.port)
    m = managers(tether.Manager())
    c = m.connection("wsp", "ws", [proxy.uri("ws")], policy=FAST)
    with m.events(connection=c) as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
        proxy.command("refuse")
        proxy.command("cut rst")
        down = evs.wait_for(EventType.DOWN, 10)
        assert down.reason.cls == ReasonClass.TRANSIENT
        # refused attempts, each one followed by a retry
        for _ in range(2):
            ev = evs.wait_for(EventType.DOWN, 10)
            assert ev.reason.kind == ReasonKind.SOCKET
        proxy.command("pass")
        evs.wait_for(EventType.UP, 10)
    c.send("after the outage", wait=5)
    assert c.stats.reconnects == 1


def test_ws_fatal_refusal_is_reported_and_never_retried(make_ws_server,
                                                        managers):
    srv = make_ws_server(reject=403)
    m = managers(tether.Manager())
    c = m.connection("denied", "ws", [srv.uri], policy=FAST)
    with m.events(connection=c) as evs:
        m.start()
        fatal = evs.wait_for(EventType.FATAL, 10)
        assert fatal.reason.cls == ReasonClass.FATAL
        assert fatal.reason.kind == ReasonKind.HTTP
        assert fatal.reason.code == 403
        assert "fatal" in str(fatal.reason)
        evs.wait_for(EventType.CLOSED, 5)
    assert c.state == State.CLOSED
    time.sleep(0.6)  # three retry intervals: nobody tried again
    assert srv.stats()["upgrades"] == 1
    with pytest.raises(tether.StateError) as ei:
        c.send("to nobody")
    assert ei.value.name == "TETHER_ESTATE"


def test_mqtt_bad_credentials_are_fatal(closed_broker, managers):
    m = managers(tether.Manager())
    c = m.connection("nocreds", "mqtt", [closed_broker.uri],
                     options={"version": "3.1.1", "client_id": "py-nocreds"},
                     policy=FAST)
    with m.events(connection=c) as evs:
        m.start()
        fatal = evs.wait_for(EventType.FATAL, 10)
    assert fatal.reason.cls == ReasonClass.FATAL
    assert fatal.reason.kind == ReasonKind.MQTT3
    assert fatal.reason.code == 5  # not authorized
    assert c.state in (State.CLOSED, State.CLOSING)
    assert c.stats.attempts_failed == 1


def test_raising_callbacks_do_not_harm_the_loop(broker, managers, caplog):
    m = managers(tether.Manager())
    c = mqtt_conn(m, "cb", broker.uri)
    c.subscribe("py/cb", 0)
    seen = []
    loop_threads = set()

    @m.on_event
    def explode(ev):
        loop_threads.add(threading.get_ident())
        seen.append(ev.type)
        raise RuntimeError("user bug in a callback")

    @c.on_message
    def explode_too(msg, conn):
        raise KeyError("another one")

    with m.events(connection=c) as evs:
        m.start()
        evs.wait_for(EventType.UP, 10)
        for i in range(50):
            c.send("x", topic="py/cb")
            try:
                evs.wait_for(EventType.MESSAGE, 0.2)
                break
            except tether.TimedOut:
                continue
        else:
            pytest.fail("no message came back")
    assert c.state == State.ONLINE
    # and the manager still stops cleanly
    m.close()
    assert m.closed and c.state == State.CLOSED
    # every event reached the raising callback, on the loop thread only
    assert EventType.UP in seen and EventType.MESSAGE in seen
    assert loop_threads and threading.get_ident() not in loop_threads
    n_msgs = seen.count(EventType.MESSAGE)
    assert m.callback_errors == len(seen) + n_msgs
    logged = [r for r in caplog.records if r.name == "tether"
              and r.exc_info and "user bug" in str(r.exc_info[1])]
    assert len(logged) == len(seen)


def test_context_managers_stop_cleanly(broker, ws_server):
    cfg = {"version": 1, "connections": [
        {"name": "m1", "transport": "mqtt", "endpoints": [broker.uri],
         "policy": FAST, "mqtt": {"client_id": "py-ctx"}},
        {"name": "w1", "transport": "ws", "endpoints": [ws_server.uri],
         "policy": FAST}]}
    with tether.Manager.from_dict(cfg) as m:
        stream = m.events(timeout=0.2)
        m["m1"].wait_state(State.ONLINE, 10)
        m["w1"].wait_state(State.ONLINE, 10)
        with m["w1"] as w:
            w.send("bye")
        assert w.state == State.CLOSED
        assert m["m1"].state == State.ONLINE
    assert m.closed
    kinds = [ev.type for ev in stream]   # ends: the manager closed
    assert EventType.CLOSED in kinds
    deadline = time.monotonic() + 5
    while ws_server.stats()["open"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws_server.stats()["open"] == 0


def test_an_unreferenced_manager_and_its_callbacks_stay_alive(ws_server):
    up = threading.Event()
    resumed = threading.Event()

    def make():
        m = tether.Manager()
        m.connection("gc", "ws", [ws_server.uri], policy=FAST,
                     resume=lambda conn: resumed.set())
        m.on_event(lambda ev: up.set() if ev.type == EventType.UP else None)
        m.start()
        return id(m)
    ident = make()
    gc.collect()   # nothing of it is referenced from here any more
    try:
        assert up.wait(10) and resumed.wait(10)
    finally:
        mgr = [m for m in list(tether.manager._open) if id(m) == ident]
        assert len(mgr) == 1
        mgr[0].close()
    assert mgr[0] not in tether.manager._open


def test_remove_closes_frees_and_frees_the_name(ws_server, managers):
    m = managers(tether.Manager())
    c = m.connection("r", "ws", [ws_server.uri], policy=FAST)
    with m.events(connection=c) as evs:
        m.start()
        c.wait_state(State.ONLINE, 10)
        c.remove(10)
        seen = []
        while True:
            ev = evs.get(0.5)
            if ev is None:
                break
            seen.append(ev.type)
    assert c.removed and c.state == State.CLOSED
    # CLOSED first, REMOVED last
    assert EventType.CLOSED in seen and seen[-1] == EventType.REMOVED
    assert "r" not in m and "r" not in m.connections
    with pytest.raises(tether.StateError):
        c.send("late")
    with pytest.raises(tether.StateError):
        c.stats
    # the name is free: a new connection of that name comes up
    c2 = m.connection("r", "ws", [ws_server.uri], policy=FAST)
    c2.start()
    c2.wait_state(State.ONLINE, 10)
    assert c2 is not c and m["r"] is c2


def test_engine_logs_reach_python_logging(ws_server, managers, caplog):
    with pytest.raises(ValueError):
        tether.set_log_handler(print, "loud")
    tether.log_to_logging(level="debug")
    try:
        assert tether.log_level() == 4
        m = managers(tether.Manager())
        c = m.connection("wslog", "ws", [ws_server.uri], policy=FAST)
        with caplog.at_level(logging.DEBUG, logger="tether"):
            with m:
                c.wait_state(State.ONLINE, 10)
        lws = [r for r in caplog.records if r.name == "tether.lws"]
        assert lws, "no libwebsockets line reached logging"
        assert all("\n" not in r.getMessage() for r in lws)
    finally:
        tether.set_log_handler(None, "error")
    assert tether.log_level() == 1


def test_preconnect_callback_holds_then_resumes(ws_server, managers):
    m = managers(tether.Manager())
    c = m.connection("wspre", "ws", [ws_server.uri], policy=FAST)
    calls = []

    def hook(conn, attempt, uri, resumed):
        calls.append((attempt, uri, resumed))
        if not resumed:
            threading.Timer(0.3, conn.preconnect_resume).start()
            return False
        conn.set_option("header.X-Token", "t-%d" % len(calls))
        return True

    c.set_preconnect_callback(hook)
    t0 = time.monotonic()
    with m:
        c.wait_state(State.ONLINE, 10)
        took = time.monotonic() - t0
    assert took >= 0.3
    assert [r for _, _, r in calls] == [False, True]
    assert calls[0][1] == ws_server.uri
    assert m.callback_errors == 0

"""The manager driven by the caller instead of a thread of its own:
dispatch() by hand, and an asyncio event loop (attach_asyncio)."""

import asyncio
import threading

import tether
from tether import EventType, State

from peers import FAST


def test_dispatch_by_hand(ws_server, managers):
    m = managers(tether.Manager())
    c = m.connection("host", "ws", [ws_server.uri], policy=FAST)
    threads = set()
    m.on_event(lambda ev: threads.add(threading.get_ident()))
    m.start(thread=False)            # connections only, no loop thread
    assert c.state in (State.IDLE, State.CONNECTING)
    c.wait_state(State.ONLINE, 10)   # the waiting thread dispatches
    c.send("by hand", wait=5)
    assert threads == {threading.get_ident()}
    assert m.fileno() >= 0
    t = m.timeout()
    assert t is None or t >= 0
    m.close()
    assert c.state == State.CLOSED


def test_asyncio_drives_the_manager(ws_server, managers):
    m = managers(tether.Manager())
    c = m.connection("aio", "ws", [ws_server.uri], policy=FAST)

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        up = loop.create_future()
        threads = set()

        def on_event(ev):
            threads.add(threading.get_ident())
            if ev.type == EventType.UP and not up.done():
                up.set_result(ev)
            if ev.type == EventType.MESSAGE and not got.done():
                got.set_result(ev.message)
        m.on_event(on_event)
        m.attach_asyncio()
        m.start(thread=False)
        await asyncio.wait_for(up, 10)
        c.send("through asyncio")
        msg = await asyncio.wait_for(got, 10)
        m.detach_asyncio()
        return msg, threads

    msg, threads = asyncio.run(main())
    assert msg.payload == b"through asyncio"
    assert threads == {threading.get_ident()}   # asyncio's thread: this one
    m.close()                                   # pumps to close, then frees
    assert c.state == State.CLOSED

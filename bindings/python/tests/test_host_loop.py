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


def test_aevents_with_the_loop_thread(ws_server, managers):
    """async for over mgr.aevents() while the manager runs its own loop
    thread: events cross to the asyncio loop, and the loop is never
    blocked (a ticker keeps running while the iteration waits)."""
    m = managers(tether.Manager())
    c = m.connection("athread", "ws", [ws_server.uri], policy=FAST)

    async def main():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)
        t = asyncio.get_running_loop().create_task(ticker())
        seen = []
        async with m.aevents(timeout=10) as evs:
            m.start()
            async for ev in evs:
                seen.append(ev.type)
                if ev.type == EventType.UP:
                    c.send("async")
                if ev.type == EventType.MESSAGE:
                    msg = ev.message
                    break
        # the stream ended: a timeout of 0.2 s with nothing coming
        async with c.aevents(timeout=0.2,
                             types={EventType.GIVE_UP}) as quiet:
            rest = [ev async for ev in quiet]
        stop.set()
        await t
        return seen, msg, ticks, rest

    seen, msg, ticks, rest = asyncio.run(main())
    assert EventType.ATTEMPT in seen and EventType.UP in seen
    assert seen.index(EventType.ATTEMPT) < seen.index(EventType.UP)
    assert msg.payload == b"async" and msg.topic is None
    assert ticks >= 3        # the asyncio loop ran while it waited
    assert rest == []


def test_aevents_attached_to_asyncio(ws_server, managers):
    """The same with the manager driven by asyncio (attach_asyncio): the
    events are produced and consumed on the one asyncio thread; closing
    the manager ends the iteration."""
    m = managers(tether.Manager())
    c = m.connection("aattached", "ws", [ws_server.uri], policy=FAST)

    async def main():
        m.attach_asyncio()
        m.start(thread=False)
        states = []
        async for ev in c.aevents(timeout=10, types={EventType.STATE}):
            states.append(ev.state)
            if ev.state == State.ONLINE:
                break
        evs = m.aevents(timeout=10)
        loop = asyncio.get_running_loop()
        # close from a thread: the manager pumps itself to close and the
        # stream ends (StopAsyncIteration) instead of waiting 10 s
        m.detach_asyncio()
        t0 = loop.time()
        closer = loop.run_in_executor(None, m.close)
        after = [ev.type async for ev in evs]
        await closer
        return states, after, loop.time() - t0

    states, after, took = asyncio.run(main())
    assert states[-1] == State.ONLINE and State.CONNECTING in states
    assert EventType.CLOSED in after
    assert took < 8
    assert c.state == State.CLOSED

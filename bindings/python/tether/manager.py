"""Manager: a tether_mgr, its loop, its connections and their events."""

import asyncio
import atexit
import collections
import ctypes
import logging
import os
import select
import threading
import time
from typing import (Any, Callable, Dict, Iterable, List, Literal, Mapping,
                    Optional, OrderedDict, Set, Tuple, TypeVar, Union,
                    overload)

from ctypes import byref, c_void_p

from . import _lib, _yaml
from ._lib import EVENT_CB, dec, enc, lib, take_string
from .connection import Connection
from .enums import EventType, ReasonClass, State, to_enum
from .errors import (ConfigError, StateError, check, code_of, make_error,
                     raise_timeout)
from .connection import EventTypes, PolicySpec, Seconds, Value
from .events import AsyncEventStream, Event, EventStream
from .stats import Stats, parse_metrics

log = logging.getLogger("tether")
F = TypeVar("F", bound=Callable[..., Any])

# Managers that are open. Held strongly: the loop thread calls into the
# manager's callback until it is closed, so it must not be collected
# before; what is still open at interpreter exit is closed then.
_open: Set["Manager"] = set()
_open_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    with _open_lock:
        mgrs = list(_open)
    for m in mgrs:
        try:
            m.close()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("tether: closing a manager at exit failed")


def _errors_text(sp: c_void_p) -> Optional[str]:
    return take_string(sp.value) if sp.value else None


class _Text:
    """YAML text given as such (not a path)."""

    def __init__(self, s: str) -> None:
        self.s = s


def _load_config(source: Union[str, "os.PathLike[str]", Mapping[str, Any],
                                _Text],
                 name: Optional[str] = None
                 ) -> Tuple[Optional[int], Optional[str], Optional[str]]:
    """(config handle, path or None, yaml text or None) for a path or a
    dict; raises ConfigError (every problem in .details) or Error."""
    cfg = c_void_p()
    errs = c_void_p()
    path: Optional[str] = None
    text: Optional[str] = None
    if isinstance(source, (dict, _Text)):
        text = _yaml.dump(source) if isinstance(source, dict) else source.s
        data = text.encode("utf-8")
        rc = lib.tether_config_load_string(data, len(data),
                                           enc(name or "<dict>"),
                                           byref(cfg), byref(errs))
    else:
        path = str(source)
        rc = lib.tether_config_load_file(enc(path), byref(cfg), byref(errs))
    msg = _errors_text(errs)
    if rc < 0:
        lines = msg.strip().splitlines() if msg else []
        err = make_error(rc, msg.strip() if msg else None, lines)
        if text is not None:
            err.yaml = text  # type: ignore[attr-defined]
        raise err
    warn = dec(lib.tether_config_warnings(cfg.value))
    for line in (warn or "").splitlines():
        log.warning("tether: %s", line)
    return cfg.value, path, text


def _config_names(cfg: Optional[int]) -> List[str]:
    n = lib.tether_config_count(cfg)
    return [dec(lib.tether_config_name(cfg, i)) or "" for i in range(n)]


# -------------------------------------------------------------- manager


class Manager:
    """A tether manager: the loop, the limiter and the connections.

        with tether.Manager.from_yaml("gateway.yaml") as mgr:
            for ev in mgr.events(timeout=30):
                print(ev)

    Entering starts the loop thread and every connection not started;
    leaving (or close()) stops the connections, waits for them to close,
    stops the loop and frees everything.
    """

    def __init__(self) -> None:
        h = c_void_p()
        check(lib.tether_mgr_new(byref(h)))
        self._ptr: Optional[int] = h.value
        self._lock = threading.Lock()
        # held around a connection's C calls that may race its removal
        # (Connection.state): REMOVED is marked under it, so no such
        # call can still be running when the loop frees the handle
        self._handle_lock = threading.Lock()
        self._conns: Dict[int, Connection] = {}  # C pointer -> Connection
        # (fn, types, connection, key)
        self._callbacks: List[Tuple[Callable[[Event], Any],
                                    Optional[Set[Union[EventType, int]]],
                                    Optional[Connection], object]] = []
        self._streams: Set[EventStream] = set()
        self._cv = threading.Condition()  # notified after every event
        # (conn ptr, id) -> error
        self._sent: "OrderedDict[Tuple[Optional[int], int], int]" = \
            collections.OrderedDict()
        self._running = False
        # (asyncio loop, fd, timer, its thread id)
        self._attached: Optional[Tuple[asyncio.AbstractEventLoop, int,
                                       List[Optional[asyncio.TimerHandle]],
                                       int]] = None
        self._path: Optional[str] = None
        #: exceptions raised by user callbacks (each one is logged)
        self.callback_errors = 0
        self._cb = EVENT_CB(self._on_event)  # C holds it: keep it alive
        rc = lib.tether_mgr_set_event_cb(self._ptr, self._cb, None)
        if rc < 0:
            lib.tether_mgr_free(self._ptr)
            self._ptr = None
            check(rc)
        with _open_lock:
            _open.add(self)

    # -- construction
    @classmethod
    def from_yaml(cls, path: Union[str, "os.PathLike[str]"]) -> "Manager":
        """A manager with every connection of a YAML file (not started).
        A bad file raises tether.ConfigError whose message has every
        problem as file:line:column: key.path: ..."""
        cfg, p, _ = _load_config(path)
        return cls._from_config(cfg, p)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], name: str = "<dict>"
                  ) -> "Manager":
        """Same from a dict shaped like the YAML file (tether.yaml(5))."""
        cfg, _, _ = _load_config(config, name)
        return cls._from_config(cfg, None)

    @classmethod
    def _from_config(cls, cfg: Optional[int], path: Optional[str]
                     ) -> "Manager":
        try:
            mgr = cls()
            try:
                errs = c_void_p()
                rc = lib.tether_config_apply(cfg, mgr._ptr, byref(errs))
                msg = _errors_text(errs)
                check(rc, msg and msg.strip())
                mgr._adopt(_config_names(cfg))
            except BaseException:
                mgr.close()
                raise
        finally:
            lib.tether_config_free(cfg)
        mgr._path = path
        return mgr

    def _adopt(self, names: Iterable[str]) -> List[Connection]:
        out: List[Connection] = []
        for n in names:
            ptr = lib.tether_conn_find(self._ptr, enc(n))
            if ptr:
                out.append(self._wrap(ptr))
        return out

    def _wrap(self, ptr: int) -> Connection:
        with self._lock:
            c = self._conns.get(ptr)
            if c is None:
                c = Connection(self, ptr,
                               dec(lib.tether_conn_name(ptr)) or "")
                self._conns[ptr] = c
            return c

    def _h(self) -> int:
        if self._ptr is None:
            raise StateError(code_of("ESTATE"), "the manager is closed")
        return self._ptr

    def set_limits(self, connects_per_second: float = 0.0, burst: int = 1,
                   max_connecting: int = 0) -> "Manager":
        """The manager-wide connect limiter (0 = unlimited)."""
        check(lib.tether_mgr_set_limits(self._h(), float(connects_per_second),
                                        int(burst), int(max_connecting)))
        return self

    def connection(self, name: str, transport: str,
                   endpoints: Union[str, Iterable[str]] = (),
                   options: Optional[Mapping[str, Value]] = None,
                   policy: Optional[PolicySpec] = None,
                   subscriptions: Iterable[Union[str, Tuple[Any, ...]]] = (),
                   heartbeat: Optional[Tuple[Any, ...]] = None,
                   timings: Optional[Mapping[str, Seconds]] = None,
                   classify: Optional[Mapping[str, Union[ReasonClass, str]]]
                   = None,
                   queue: Optional[Mapping[str, Any]] = None,
                   resume: Optional[Callable[[Connection], Any]] = None,
                   coordinated: Optional[bool] = None) -> Connection:
        """Create a connection (not started). transport: "mqtt" or "ws";
        subscriptions: topics or (topic, qos) pairs; heartbeat: (interval,
        timeout, misses) in seconds; timings: {key: seconds}; classify:
        {key: class}; queue: set_queue() arguments; resume: a resume
        callback; coordinated: set_coordinated()."""
        h = c_void_p()
        check(lib.tether_conn_new(self._h(), enc(name), enc(transport),
                                  byref(h)), "connection %s" % name)
        assert h.value is not None  # set when tether_conn_new succeeds
        c = self._wrap(h.value)
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        for uri in endpoints:
            c.add_endpoint(uri)
        if options:
            c.set_options(options)
        if policy is not None:
            c.set_policy(policy)
        for s in subscriptions:
            if isinstance(s, str):
                c.subscribe(s)
            else:
                c.subscribe(*s)
        if heartbeat is not None:
            c.set_heartbeat(*heartbeat)
        for k, v in (timings or {}).items():
            c.set_timing(k, v)
        for k, cls in (classify or {}).items():
            c.classify(k, cls)
        if queue is not None:
            c.set_queue(**queue)
        if resume is not None:
            c.set_resume_callback(resume)
        if coordinated is not None:
            c.set_coordinated(coordinated)
        return c

    def __getitem__(self, name: str) -> Connection:
        ptr = lib.tether_conn_find(self._h(), enc(name))
        if not ptr:
            raise KeyError(name)
        return self._wrap(ptr)

    def __contains__(self, name: object) -> bool:
        return bool(lib.tether_conn_find(self._h(), enc(name)))

    @property
    def connections(self) -> Dict[str, Connection]:
        """{name: Connection} of the connections this object knows."""
        with self._lock:
            return {c.name: c for c in self._conns.values()}

    # -- running
    def start(self, connections: bool = True, thread: bool = True
              ) -> "Manager":
        """Run the loop on its own thread (thread=False: the caller drives
        it, see dispatch() and attach_asyncio()); with connections, also
        start every connection that was never started."""
        if thread and not self._running:
            if self._attached is not None:
                raise StateError(code_of("ESTATE"),
                                 "start(): an asyncio loop drives this "
                                 "manager (detach_asyncio() first)")
            check(lib.tether_mgr_start(self._h()), "start")
            self._running = True
        if connections:
            for c in list(self.connections.values()):
                if not c._started and c.state == State.IDLE:
                    c.start()
        return self

    def stop(self, timeout: Seconds = 5.0) -> None:
        """Close every connection, wait until they are closed (at most
        timeout seconds), then stop the loop thread."""
        if self._ptr is None:
            return
        self._refuse_on_loop("stop")
        conns = list(self.connections.values())
        for c in conns:
            if c.state not in (State.CLOSED, State.IDLE):
                lib.tether_conn_stop(c._ptr)
        self._wait(lambda: all(c.state in (State.CLOSED, State.IDLE)
                               for c in conns), timeout)
        if self._running:
            lib.tether_mgr_stop(self._ptr)
            self._running = False

    def close(self, timeout: Seconds = 5.0) -> None:
        """stop(), then free the manager and its connections. Idempotent."""
        if self._ptr is None:
            return
        self._refuse_on_loop("close")
        try:
            self.stop(timeout)
        finally:
            self.detach_asyncio()
            ptr, self._ptr = self._ptr, None
            lib.tether_mgr_free(ptr)
            with _open_lock:
                _open.discard(self)
            with self._lock:
                streams = list(self._streams)
                self._streams.clear()
            for s in streams:
                s._end()
            with self._cv:
                self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def reload(self, source: Union[str, "os.PathLike[str]", Mapping[str, Any],
                                   None] = None) -> List[Connection]:
        """Make the running manager match a configuration (a path or a
        dict; default: the file it was made from), live and atomically:
        a bad one raises and changes nothing. Returns the connections of
        the new configuration; new ones are started when the loop runs."""
        self._refuse_on_loop("reload")
        if source is None:
            if self._path is None:
                raise ValueError("reload(): no source, and the manager was "
                                 "not made from a file")
            source = self._path
        cfg, path, _ = _load_config(source)
        try:
            errs = c_void_p()
            rc = lib.tether_config_reload(cfg, self._h(), byref(errs))
            msg = _errors_text(errs)
            check(rc, msg and msg.strip(),
                  msg.strip().splitlines() if msg else [])
            conns = self._adopt(_config_names(cfg))
        finally:
            lib.tether_config_free(cfg)
        for c in conns:
            c._started = True  # the reload starts them
        if path is not None:
            self._path = path
        return conns

    def metrics(self) -> str:
        """The manager's metrics, Prometheus text format."""
        return take_string(lib.tether_mgr_metrics_text(self._h())) or ""

    def _stats(self, conn: Connection) -> Stats:
        if lib.has("tether_conn_stats"):
            cst = _lib.tether_conn_stats()
            cst.size = ctypes.sizeof(cst)
            check(lib.tether_conn_stats(conn._h(), byref(cst)))
            return Stats.from_c(cst, to_enum(State, cst.state))
        # an older library: the same numbers from its metrics text
        st = Stats()
        st.state = conn.state
        for name, labels, v in parse_metrics(self.metrics()):
            if labels.get("conn") != conn.name:
                continue
            if name == "tether_attempts_total":
                if labels.get("result") == "up":
                    st.attempts_up = int(v)
                elif labels.get("result") == "failed":
                    st.attempts_failed = int(v)
            elif name == "tether_disconnects_total":
                for c in ReasonClass:
                    if str(c) == labels.get("class"):
                        st.disconnects[c] = int(v)
            elif name == "tether_reconnect_seconds_count":
                st.reconnects = int(v)
            elif name == "tether_reconnect_seconds_sum":
                st.reconnect_seconds = v
            elif name == "tether_rtt_seconds":
                st.rtt = v
            elif name == "tether_messages_sent_total":
                st.messages_sent = int(v)
            elif name == "tether_messages_received_total":
                st.messages_received = int(v)
        if lib.has("tether_conn_queued"):
            st.queued = lib.tether_conn_queued(conn._ptr)
        return st

    # -- events
    def events(self, timeout: Optional[Seconds] = None, types: EventTypes = None,
               connection: Optional[Connection] = None,
               maxlen: int = 10000) -> EventStream:
        """An EventStream of every event (or of one connection's, or of
        some types) from now on."""
        return EventStream(self, timeout, connection, types, maxlen)

    def aevents(self, timeout: Optional[Seconds] = None,
                types: EventTypes = None,
                connection: Optional[Connection] = None,
                maxlen: int = 10000,
                loop: Optional[asyncio.AbstractEventLoop] = None
                ) -> AsyncEventStream:
        """The same as events() for asyncio: `async for ev in
        mgr.aevents(timeout=5):` awaits each event without blocking the
        event loop. Call it from the asyncio loop's thread (default: the
        running loop); the manager may run its own loop thread or be
        attached to this asyncio loop (attach_asyncio)."""
        aloop = loop or asyncio.get_running_loop()
        return AsyncEventStream(
            EventStream(self, timeout, connection, types, maxlen), aloop)

    @overload
    def on_event(self, fn: None = None, types: EventTypes = None,
                 connection: Optional[Connection] = None
                 ) -> Callable[[F], F]: ...

    @overload
    def on_event(self, fn: F, types: EventTypes = None,
                 connection: Optional[Connection] = None) -> F: ...

    def on_event(self, fn: Optional[F] = None, types: EventTypes = None,
                 connection: Optional[Connection] = None
                 ) -> Union[F, Callable[[F], F]]:
        """Call fn(event) on the loop thread for every event (or those of
        some types / one connection). Usable as a decorator. An exception
        in fn is logged ("tether" logger) and counted, never propagated
        into the loop."""
        def add(f: F) -> F:
            self._add_callback(f, set(types) if types else None, connection,
                               key=f)
            return f
        return add(fn) if fn is not None else add

    def remove_callback(self, fn: Callable[..., Any]) -> None:
        with self._lock:
            self._callbacks = [c for c in self._callbacks if c[3] is not fn]

    def _add_callback(self, fn: Callable[[Event], Any],
                      types: Optional[Set[Union[EventType, int]]],
                      connection: Optional[Connection], key: object) -> None:
        with self._lock:
            self._callbacks = self._callbacks + [(fn, types, connection,
                                                  key)]

    def _add_stream(self, s: EventStream) -> None:
        if self._ptr is None:
            s._end()
            return
        with self._lock:
            self._streams.add(s)

    def _remove_stream(self, s: EventStream) -> None:
        with self._lock:
            self._streams.discard(s)

    def _callback_failed(self, fn: object) -> None:
        self.callback_errors += 1
        log.exception("tether: exception in callback %r (ignored; the loop "
                      "goes on)", fn)

    def _on_event(self, conn_ptr: int, ev_p: Any, userdata: Optional[int]
                  ) -> None:
        # On the loop thread. Nothing may escape into C.
        try:
            conn = self._wrap(conn_ptr)
            ev = Event(ev_p.contents, conn)
            if ev.type == EventType.REMOVED:
                # its last event: the pointer is freed after this
                # callback, and may be reused by a new connection
                with self._handle_lock:
                    conn._removed = True
                with self._lock:
                    self._conns.pop(conn_ptr, None)
                with self._cv:
                    for k in [k for k in self._sent if k[0] == conn_ptr]:
                        del self._sent[k]
            if ev.type == EventType.SENT:
                with self._cv:
                    self._sent[(conn_ptr, ev.msg_id or 0)] = ev.error or 0
                    while len(self._sent) > 65536:
                        self._sent.popitem(last=False)
            with self._lock:
                streams = list(self._streams)
                callbacks = self._callbacks
            # callbacks first: a stream reader that sees an event knows
            # the callbacks have run for it
            for fn, types, target, _ in callbacks:
                if types is not None and ev.type not in types:
                    continue
                if target is not None and target is not conn:
                    continue
                try:
                    fn(ev)
                except BaseException:
                    self._callback_failed(fn)
            for s in streams:
                s._push(ev)
            with self._cv:
                self._cv.notify_all()
        except BaseException:
            try:
                log.exception("tether: event dispatch failed")
            except BaseException:
                pass

    def _on_loop_thread(self) -> bool:
        return self._ptr is not None and \
            bool(lib.tether_mgr_is_loop_thread(self._ptr))

    def _refuse_on_loop(self, what: str) -> None:
        if self._on_loop_thread():
            raise StateError(code_of("ESTATE"),
                             "%s() from a callback (the loop thread)" % what)

    # -- driving the loop from the caller's thread (no loop thread)
    def fileno(self) -> int:
        """A file descriptor that becomes readable when the manager has
        work: watch it and call dispatch() (host-driven mode)."""
        fd: int = lib.tether_mgr_fd(self._h())
        return fd

    def timeout(self) -> Optional[float]:
        """Seconds until dispatch() is due anyway; None: only the fd."""
        ms: int = lib.tether_mgr_timeout_ms(self._h())
        return None if ms < 0 else ms / 1000.0

    def dispatch(self) -> None:
        """Do what is due (posted reports, timers, callbacks) on this
        thread; never blocks. StateError while the loop thread runs."""
        check(lib.tether_mgr_dispatch(self._h()), "dispatch")

    def attach_asyncio(self, loop: Optional[asyncio.AbstractEventLoop] = None
                       ) -> None:
        """Let an asyncio event loop drive the manager instead of a thread
        of its own: callbacks then run on the asyncio thread. Call it from
        that loop's thread (default: the running loop)."""
        if self._running:
            raise StateError(code_of("ESTATE"), "attach_asyncio(): the "
                             "manager's own loop thread runs")
        if self._attached is not None:
            return
        aloop = loop or asyncio.get_running_loop()
        timer: List[Optional[asyncio.TimerHandle]] = [None]

        def step() -> None:
            if self._ptr is None:
                return
            try:
                self.dispatch()
            except Exception:
                log.exception("tether: dispatch failed")
            if timer[0] is not None:
                timer[0].cancel()
                timer[0] = None
            t = self.timeout()
            if t is not None:
                timer[0] = aloop.call_later(t, step)

        fd = self.fileno()
        aloop.add_reader(fd, step)
        self._attached = (aloop, fd, timer, threading.get_ident())
        aloop.call_soon(step)

    def detach_asyncio(self) -> None:
        """Stop driving the manager from asyncio (close() does it)."""
        att, self._attached = self._attached, None
        if att is None:
            return
        aloop, fd, timer, _ = att
        aloop.remove_reader(fd)
        t = timer[0]
        if t is not None:
            t.cancel()

    def _drives_here(self) -> bool:
        """Whether a wait on this thread must drive the loop itself: no
        loop thread, and no asyncio loop on another thread doing it."""
        if self._running or self._ptr is None:
            return False
        att = self._attached
        return att is None or att[3] == threading.get_ident()

    def _pump(self, wait: float) -> None:
        """Host-driven mode: wait at most `wait` s for work, then do it."""
        t = self.timeout()
        if t is not None:
            wait = min(wait, t)
        select.select([self.fileno()], [], [], max(wait, 0))
        self.dispatch()

    def _wait(self, pred: Callable[[], bool], timeout: Seconds) -> bool:
        """Wait until pred() holds, re-checked after every event. Without
        a loop thread, the waiting thread drives the loop meanwhile."""
        self._refuse_on_loop("wait")
        deadline = time.monotonic() + timeout
        if self._drives_here():
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return pred()
                self._pump(min(left, 0.25))
            return True
        with self._cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0 or self._ptr is None:
                    return pred()
                # also re-check now and then: a state can change without
                # an event this object sees (e.g. a connection stopped
                # before the loop ran)
                self._cv.wait(min(left, 0.25))
        return True

    def _wait_sent(self, conn: Connection, msg_id: int, timeout: Seconds
                   ) -> None:
        key = (conn._ptr, msg_id)
        if not self._wait(lambda: key in self._sent, timeout):
            raise_timeout("%s: message %d not settled within %.1f s"
                          % (conn.name, msg_id, timeout))
        with self._cv:
            err = self._sent.pop(key, 0)
        if err:
            raise make_error(err, "%s: message %d dropped"
                             % (conn.name, msg_id))

    def __enter__(self) -> "Manager":
        self.start()
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<tether.Manager closed>"
        return "<tether.Manager %d connections%s>" % (
            len(self._conns), " running" if self._running else "")


def effective_config(source: Union[str, "os.PathLike[str]", Mapping[str, Any],
                                    None] = None,
                     text: Optional[str] = None,
                     name: Optional[str] = None) -> Optional[str]:
    """Load a configuration (a path, a dict, or YAML text=) and return it
    as the library prints it: every default filled in, secrets masked
    (what `tether check` shows). Raises ConfigError like from_yaml."""
    if (source is None) == (text is None):
        raise TypeError("give a source or text=")
    src: Union[str, "os.PathLike[str]", Mapping[str, Any], _Text] = \
        _Text(text) if text is not None else source  # type: ignore[assignment]
    cfg, _, _ = _load_config(src,
                             name or ("<text>" if text is not None else None))
    try:
        return take_string(lib.tether_config_dump(cfg))
    finally:
        lib.tether_config_free(cfg)


def policies() -> List[str]:
    """Names of the registered policy types."""
    from ctypes import c_char_p, c_uint32

    class _Ops(ctypes.Structure):  # the leading fields of the ops table
        _fields_ = [("abi", c_uint32), ("name", c_char_p),
                    ("summary", c_char_p)]

    out: List[str] = []
    for i in range(lib.tether_policy_count()):
        p = lib.tether_policy_at(i)
        if p:
            out.append(dec(ctypes.cast(p, ctypes.POINTER(_Ops))
                           .contents.name) or "")
    return out


# ConfigError is re-exported for `except tether.ConfigError` convenience.
__all__ = ["Manager", "Connection", "Stats", "policies", "effective_config",
           "ConfigError",
           "parse_metrics"]

"""Connection: one tether_conn of a Manager."""

import ctypes
import logging
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List,
                    Literal, Mapping, Optional, Sequence, Set, Tuple, TypeVar,
                    Union, overload)

from ctypes import POINTER, byref, c_uint64, c_void_p

from ._lib import (PRECONNECT_CB, RESUME_CB, dec, enc, lib, tether_message,
                   tether_property, tether_queue_cfg, tether_subscription)
from .enums import EventType, Fsync, Overflow, Policy, ReasonClass, State
from .errors import StateError, check, code_of, make_error, raise_timeout
from .events import (AsyncEventStream, Event, EventStream, Message,
                     PropertyValue)

if TYPE_CHECKING:
    from .manager import Manager
    from .stats import Stats

#: a duration in seconds
Seconds = Union[int, float]
#: an option's or a policy parameter's value (True -> "true")
Value = Union[str, int, float, bool, Policy, Overflow, Fsync, ReasonClass,
              State]
#: a policy: a Policy, a registered type name, or a dict of parameters
PolicySpec = Union[Policy, str, Mapping[str, Any]]
#: name -> value, or (name, value) pairs
Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]
EventTypes = Optional[Iterable[Union[EventType, int]]]
EventFn = Callable[[Event], Any]
MessageFn = Callable[[Message, "Connection"], Any]
#: fn(connection, attempt, uri, resumed); False holds the attempt
PreconnectFn = Callable[["Connection", int, Optional[str], bool], Any]
F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("tether")


def _seconds_to_ms(v: Optional[Seconds], what: str) -> int:
    if v is None:
        return 0
    if isinstance(v, str):
        raise TypeError("%s: give seconds as a number, not %r" % (what, v))
    ms = int(round(float(v) * 1000))
    if ms < 0:
        raise ValueError("%s: negative duration" % what)
    return ms


def _text(v: object) -> str:
    """A Python value as the text the C API parses."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (Policy,)):
        return str(v.value)
    if isinstance(v, (Overflow, Fsync, ReasonClass, State)):
        return str(v).lower()
    return str(v)



class Connection:
    """One connection of a Manager (the manager owns it: it lives as long
    as the manager). Created with Manager.connection() or by a
    configuration; find it with manager[name]."""

    def __init__(self, mgr: "Manager", ptr: Optional[int], name: str) -> None:
        self._mgr = mgr
        self._ptr = ptr
        self.name = name
        self._resume: Optional[Tuple[Any, Callable[["Connection"], Any]]] = \
            None     # (ctypes callback, python callable)
        # the same, for the pre-connect hook
        self._preconnect: Optional[Tuple[Any, PreconnectFn]] = None
        self._started = False
        self._removed = False    # REMOVED was delivered: ptr is freed

    def __repr__(self) -> str:
        return "<tether.Connection %s %s>" % (self.name, self.state)

    def _h(self) -> Optional[int]:
        if self._mgr._ptr is None:
            raise StateError(code_of("ESTATE"), "the manager is closed")
        if self._removed:
            raise StateError(code_of("ESTATE"),
                             "connection '%s' was removed" % self.name)
        return self._ptr

    def _check(self, rc: int, what: str) -> int:
        if rc < 0:
            detail = dec(lib.tether_conn_error(self._ptr)) or None
            msg = "%s: %s" % (self.name, what)
            if detail:
                msg += ": " + detail
            raise make_error(rc, msg, detail.splitlines() if detail else [])
        return rc

    # -- configuration (before start)
    def add_endpoint(self, uri: str) -> "Connection":
        self._check(lib.tether_conn_add_endpoint(self._h(), enc(uri)),
                    "endpoint %s" % uri)
        return self

    def set_option(self, key: str, value: Value) -> "Connection":
        self._check(lib.tether_conn_set_option(self._h(), enc(key),
                                               enc(_text(value))),
                    "option %s" % key)
        return self

    def set_options(self, options: Optional[Mapping[str, Value]] = None,
                    **kw: Value) -> "Connection":
        for k, v in dict(options or {}, **kw).items():
            self.set_option(k, v)
        return self

    def set_policy(self, policy: PolicySpec, **params: Any) -> "Connection":
        """policy: a tether.Policy, a registered type name, or a dict
        {"type": ..., key: value...} (nested dicts for breaker's inner).
        Durations are strings ("1s", "250ms")."""
        spec: Dict[str, Any]
        if isinstance(policy, Mapping):
            spec = dict(policy, **params)
        else:
            spec = dict(params, type=policy)
        p = _params_from(spec)
        try:
            self._check(lib.tether_conn_set_policy(self._h(), p), "policy")
        finally:
            lib.tether_params_free(p)
        return self

    def set_timing(self, key: str, seconds: Seconds) -> "Connection":
        """connect_timeout, close_timeout, stable_after, overload_floor,
        failback_after, probe_interval, retry_after_max; in seconds."""
        self._check(lib.tether_conn_set_timing(
            self._h(), enc(key), _seconds_to_ms(seconds, key)), key)
        return self

    def set_heartbeat(self, interval: Seconds, timeout: Seconds,
                      misses: int = 1) -> "Connection":
        """WebSocket pings (seconds); interval 0 turns them off."""
        self._check(lib.tether_conn_set_heartbeat(
            self._h(), _seconds_to_ms(interval, "interval"),
            _seconds_to_ms(timeout, "timeout"), int(misses)), "heartbeat")
        return self

    def set_coordinated(self, on: bool = True) -> "Connection":
        """Coordinated recovery (on by default): connections of the
        manager sharing an endpoint share its health, one probes while
        the others wait in SUSPENDED. Before the first start."""
        self._check(lib.tether_conn_set_coordinated(self._h(),
                                                    1 if on else 0),
                    "coordinated")
        return self

    def classify(self, key: str, cls: Union[ReasonClass, str]
                 ) -> "Connection":
        """Override a reason's class: classify("peer:ws:1000", "normal")."""
        self._check(lib.tether_conn_classify(self._h(), enc(key),
                                             enc(_text(cls))),
                    "classify %s" % key)
        return self

    def set_queue(self, max_messages: Optional[int] = None,
                  max_bytes: Optional[int] = None,
                  overflow: Union[Overflow, str, int, None] = None,
                  ttl: Optional[Seconds] = None,
                  spool_dir: Optional[str] = None,
                  fsync: Union[Fsync, str, int, None] = None,
                  fsync_interval: Optional[Seconds] = None,
                  spool_max_bytes: Optional[int] = None) -> "Connection":
        """The outbound queue (tether.yaml(5)); what is not given keeps the
        library's default. ttl and fsync_interval in seconds."""
        q = tether_queue_cfg()
        lib.tether_queue_cfg_defaults(byref(q))
        if max_messages is not None:
            q.max_messages = int(max_messages)
        if max_bytes is not None:
            q.max_bytes = int(max_bytes)
        if overflow is not None:
            q.overflow = int(Overflow[overflow.upper()]
                             if isinstance(overflow, str) else overflow)
        if ttl is not None:
            q.ttl_ms = _seconds_to_ms(ttl, "ttl")
        keep = None
        if spool_dir is not None:
            keep = enc(spool_dir)
            q.spool_dir = keep
        if fsync is not None:
            q.fsync = int(Fsync[fsync.upper()]
                          if isinstance(fsync, str) else fsync)
        if fsync_interval is not None:
            q.fsync_interval_ms = _seconds_to_ms(fsync_interval,
                                                 "fsync_interval")
        if spool_max_bytes is not None:
            q.spool_max_bytes = int(spool_max_bytes)
        self._check(lib.tether_conn_set_queue(self._h(), byref(q)), "queue")
        del keep
        return self

    def set_resume_callback(self, fn: Optional[Callable[["Connection"], Any]]
                            ) -> "Connection":
        """fn(connection), on the loop thread after each connect, before
        the queued backlog drains: what it send()s goes out first. None
        removes it."""
        if fn is None:
            # RESUME_CB(): a NULL function pointer (typeshed wants an argument)
            self._check(lib.tether_conn_set_resume_cb(
                self._h(), RESUME_CB(), None),  # type: ignore[call-overload]
                "resume")
            self._resume = None
            return self

        user_fn = fn

        def tramp(conn_ptr: Optional[int], ud: Optional[int]) -> None:
            try:
                user_fn(self)
            except BaseException:
                self._mgr._callback_failed(user_fn)

        cb = RESUME_CB(tramp)
        self._check(lib.tether_conn_set_resume_cb(self._h(), cb, None),
                    "resume")
        self._resume = (cb, fn)  # C holds the pointer: keep it alive
        return self

    def set_preconnect_callback(self, fn: Optional[PreconnectFn]
                                ) -> "Connection":
        """fn(connection, attempt, uri, resumed) on the loop thread before
        every attempt: it may call set_option() (a rotated password, a
        token, "header.Authorization") for this attempt on. Returning
        False holds the attempt until preconnect_resume() (which calls
        fn again with resumed True), at most connect_timeout; anything
        else connects now. An exception counts as True. None removes it."""
        if fn is None:
            # PRECONNECT_CB(): a NULL function pointer
            self._check(lib.tether_conn_set_preconnect_cb(
                self._h(), PRECONNECT_CB(),  # type: ignore[call-overload]
                None), "preconnect")
            self._preconnect = None
            return self
        user_fn = fn

        def tramp(conn_ptr: Optional[int], pc: Any, ud: Optional[int]) -> int:
            try:
                info = pc.contents
                go = user_fn(self, int(info.attempt), dec(info.uri),
                             bool(info.resumed))
            except BaseException:
                self._mgr._callback_failed(user_fn)
                return 0
            return 1 if go is False else 0

        cb = PRECONNECT_CB(tramp)
        self._check(lib.tether_conn_set_preconnect_cb(self._h(), cb, None),
                    "preconnect")
        self._preconnect = (cb, fn)
        return self

    def preconnect_resume(self) -> "Connection":
        """Let an attempt the pre-connect callback held go on (any
        thread); nothing happens when none is held."""
        self._check(lib.tether_conn_preconnect_resume(self._h()),
                    "preconnect_resume")
        return self

    def subscribe(self, topic: str, qos: int = 0, no_local: bool = False,
                  retain_as_published: bool = False,
                  retain_handling: int = 0) -> "Connection":
        """MQTT: remembered and re-applied after every reconnect. The
        MQTT 5 subscription options need version 5: on a 3.1.1 link a
        SUBSCRIBE_FAILED event says the subscription was not made. A
        refused SUBSCRIBE is a SUBSCRIBE_FAILED event too."""
        if not (no_local or retain_as_published or retain_handling):
            self._check(lib.tether_conn_subscribe(self._h(), enc(topic),
                                                  int(qos)),
                        "subscribe %s" % topic)
            return self
        s = tether_subscription()
        s.size = ctypes.sizeof(tether_subscription)
        s.topic = enc(topic)
        s.qos = int(qos)
        s.no_local = 1 if no_local else 0
        s.retain_as_published = 1 if retain_as_published else 0
        s.retain_handling = int(retain_handling)
        self._check(lib.tether_conn_subscribe_opts(self._h(), byref(s)),
                    "subscribe %s" % topic)
        return self

    def unsubscribe(self, topic: str) -> "Connection":
        """MQTT: forget the subscription to exactly this filter and send
        UNSUBSCRIBE (now when online). A refusal is a SUBSCRIBE_FAILED
        event."""
        self._check(lib.tether_conn_unsubscribe(self._h(), enc(topic)),
                    "unsubscribe %s" % topic)
        return self

    def set_will(self, topic: str, payload: str = "", qos: int = 0,
                 retain: bool = False,
                 delay: Union[Seconds, str, None] = None,
                 expiry: Union[Seconds, str, None] = None,
                 content_type: Optional[str] = None,
                 user_properties: Pairs = None) -> "Connection":
        """MQTT: the last will, as the will_* options (docs/transport-
        mqtt.md). delay and expiry (seconds or "30s") and the properties
        need version 5."""
        opts = {"will_topic": topic, "will_payload": payload,
                "will_qos": str(int(qos)),
                "will_retain": "true" if retain else "false"}
        if delay is not None:
            opts["will_delay"] = _duration_text(delay)
        if expiry is not None:
            opts["will_expiry"] = _duration_text(expiry)
        if content_type is not None:
            opts["will_content_type"] = content_type
        for k, v in _pairs(user_properties):
            opts["will_user." + k] = v
        for k, v in opts.items():
            self.set_option(k, v)
        return self

    def check(self) -> "Connection":
        """Check the transport options now without connecting."""
        self._check(lib.tether_conn_check(self._h()), "check")
        return self

    # -- running
    def start(self) -> "Connection":
        self._check(lib.tether_conn_start(self._h()), "start")
        self._started = True
        return self

    def stop(self) -> "Connection":
        """Ask for an orderly close (returns at once)."""
        self._check(lib.tether_conn_stop(self._h()), "stop")
        return self

    def remove(self, timeout: Optional[Seconds] = 5.0) -> "Connection":
        """Remove it from its manager: it closes, what is still queued
        is dropped (SENT with ECLOSED), REMOVED is its last event; then
        this object only answers `state` (CLOSED) and `name`. Waits (at
        most timeout seconds, not from a callback) for REMOVED."""
        check(lib.tether_conn_remove(self._h()), "remove")
        if timeout and not self._mgr._on_loop_thread():
            self._mgr._wait(lambda: self._removed, timeout)
        return self

    @property
    def removed(self) -> bool:
        """Whether REMOVED was delivered (the handle is gone)."""
        return self._removed

    def close(self, timeout: Optional[Seconds] = 5.0) -> None:
        """Close orderly and wait (at most timeout seconds, not from a
        callback) until the connection is CLOSED."""
        if self._mgr._ptr is None or self._removed:
            return
        st = self.state
        if st in (State.CLOSED, State.IDLE) and not self._started:
            return
        self.stop()
        if timeout and not self._mgr._on_loop_thread():
            self.wait_state(State.CLOSED, timeout, _raise=False)

    def send(self, payload: Union[str, bytes, bytearray, memoryview],
             topic: Optional[str] = None, qos: int = 0, retain: bool = False,
             binary: Optional[bool] = None, ttl: Optional[Seconds] = None,
             wait: Optional[Seconds] = None,
             properties: Optional[Mapping[str, PropertyValue]] = None,
             user_properties: Pairs = None) -> int:
        """Queue a message; returns its id. str payloads go as UTF-8 text,
        bytes as binary (WebSocket) unless binary says otherwise. A SENT
        event tells its fate later; with wait=seconds, block until then
        and raise the drop's tether.Error (not from a callback).

        MQTT 5: properties is a dict of content_type, response_topic
        (str), correlation_data (bytes), message_expiry_interval,
        payload_format_indicator (int); user_properties a dict or a list
        of (name, value) pairs. A property the link cannot carry (3.1.1)
        raises NotSupported, a malformed one InvalidArgument, at once."""
        if isinstance(payload, str):
            data = payload.encode("utf-8")
            is_bin = False
        else:
            data = bytes(payload)
            is_bin = True
        if binary is not None:
            is_bin = bool(binary)
        buf = ctypes.create_string_buffer(data, len(data)) if data else None
        m = tether_message()
        m.size = ctypes.sizeof(tether_message)
        m.topic = enc(topic)
        m.payload = ctypes.cast(buf, c_void_p) if buf is not None else None
        m.len = len(data)
        m.qos = int(qos)
        m.retain = 1 if retain else 0
        m.binary = 1 if is_bin else 0
        m.ttl_ms = _seconds_to_ms(ttl, "ttl") if ttl is not None else 0
        arr, keep = _props_array(properties, user_properties)
        if arr is not None:
            m.props = ctypes.cast(arr, POINTER(tether_property))
            m.nprops = len(arr)
        mid = c_uint64()
        if wait is not None and self._mgr._on_loop_thread():
            raise StateError(code_of("ESTATE"),
                             "send(wait=...) inside a callback would block "
                             "the loop")
        self._check(lib.tether_conn_send(self._h(), byref(m), byref(mid)),
                    "send")
        del keep  # the property bytes lived until the copy
        msg_id: int = mid.value
        if wait is not None:
            self._mgr._wait_sent(self, msg_id, wait)
        return msg_id

    @property
    def state(self) -> Union[State, int]:
        """The current State (as of the last event delivered); CLOSED
        once the manager is closed."""
        from .enums import to_enum
        # under the handle lock: the loop marks a removal under it
        # before it frees the handle, so this read cannot outlive it
        with self._mgr._handle_lock:
            if self._mgr._ptr is None or self._removed:
                return State.CLOSED
            st = lib.tether_conn_state(self._ptr)
        return to_enum(State, st)

    @property
    def queued(self) -> int:
        """Messages waiting in the outbound queue."""
        n: int = lib.tether_conn_queued(self._h())
        return n

    @property
    def stats(self) -> "Stats":
        return self._mgr._stats(self)

    # -- events
    def events(self, timeout: Optional[Seconds] = None, types: EventTypes = None,
               maxlen: int = 10000) -> EventStream:
        """An EventStream of this connection's events."""
        return EventStream(self._mgr, timeout, self, types, maxlen)

    def aevents(self, timeout: Optional[Seconds] = None, types: EventTypes = None,
                maxlen: int = 10000) -> AsyncEventStream:
        """An AsyncEventStream of this connection's events (`async for`)."""
        return self._mgr.aevents(timeout, types, self, maxlen)

    @overload
    def on_event(self, fn: None = None, types: EventTypes = None
                 ) -> Callable[[F], F]: ...

    @overload
    def on_event(self, fn: F, types: EventTypes = None) -> F: ...

    def on_event(self, fn: Optional[F] = None, types: EventTypes = None
                 ) -> Union[F, Callable[[F], F]]:
        """Call fn(event) for each event of this connection (usable as a
        decorator)."""
        return self._mgr.on_event(fn, types=types, connection=self)

    @overload
    def on_message(self, fn: None = None) -> Callable[[F], F]: ...

    @overload
    def on_message(self, fn: F) -> F: ...

    def on_message(self, fn: Optional[F] = None
                   ) -> Union[F, Callable[[F], F]]:
        """Call fn(message, connection) for each message that arrives."""
        def add(f: F) -> F:
            self._mgr._add_callback(
                lambda ev: f(ev.message, self), {EventType.MESSAGE}, self,
                key=f)
            return f
        return add(fn) if fn is not None else add

    def wait_state(self, state: Union[State, Iterable[State]],
                   timeout: Seconds = 10.0, _raise: bool = True) -> bool:
        """Block until the connection is in state (a State or a set of
        them); raises tether.TimedOut. Not from a callback."""
        want: Set[Union[State, int]] = \
            {state} if isinstance(state, State) else set(state)
        ok = self._mgr._wait(lambda: self.state in want, timeout)
        if not ok and _raise:
            raise_timeout("%s: not %s within %.1f s (now %s)"
                          % (self.name, "/".join(str(s) for s in want),
                             timeout, self.state))
        return ok

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


def _params_from(spec: Mapping[str, Any]) -> int:
    p: Optional[int] = lib.tether_params_new(b"python")
    if not p:
        raise MemoryError("tether_params_new")
    try:
        for k, v in spec.items():
            if isinstance(v, Mapping):
                child = _params_from(v)
                check(lib.tether_params_set_child(p, enc(k), child))
            else:
                check(lib.tether_params_set(p, enc(k), enc(_text(v)), None))
    except BaseException:
        lib.tether_params_free(p)
        raise
    return p


def _pairs(d: Union[Pairs, Mapping[str, Any]]) -> List[Tuple[str, Any]]:
    if not d:
        return []
    return list(d.items()) if isinstance(d, Mapping) else list(d)


def _duration_text(v: Union[Seconds, str]) -> str:
    if isinstance(v, str):
        return v
    return "%dms" % int(round(float(v) * 1000))


_NUMERIC = ("message_expiry_interval", "payload_format_indicator")


def _props_array(properties: Optional[Mapping[str, PropertyValue]],
                 user_properties: Pairs) -> Tuple[Any, Any]:
    """The tether_property array for send(), and what must stay alive
    while tether_conn_send copies it."""
    items = [(k, v, False) for k, v in _pairs(properties)]
    items += [(k, v, True) for k, v in _pairs(user_properties)]
    if not items:
        return None, None
    arr = (tether_property * len(items))()
    keep: List[Any] = [arr]
    for i, (name, value, user) in enumerate(items):
        p = arr[i]
        p.name = enc(name)
        keep.append(p.name)
        p.user = 1 if user else 0
        if not user and name in _NUMERIC:
            p.number = int(value)
            continue
        data = value.encode("utf-8") if isinstance(value, str) \
            else bytes(value)
        buf = ctypes.create_string_buffer(data, len(data) + 1)
        keep.append(buf)
        p.value = ctypes.cast(buf, c_void_p)
        p.len = len(data)
    return arr, keep

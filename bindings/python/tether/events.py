"""Events as plain Python objects, and the thread-safe event stream.

Everything is copied out of the C event inside the callback: its pointers
are valid only during it.
"""

import asyncio
import collections
import ctypes
import threading
import time
from typing import (TYPE_CHECKING, Any, Callable, Deque, FrozenSet, Iterable,
                    List, Literal, Optional, Tuple, Type, Union)

from ._lib import dec, field_end, lib, tether_event, tether_message
from .enums import EventType, ReasonClass, ReasonKind, State, to_enum
from .errors import Error, error_class, raise_timeout

if TYPE_CHECKING:
    from .connection import Connection

#: what an MQTT 5 property holds
PropertyValue = Union[str, bytes, int]


class Reason:
    """Why a connection failed or was lost."""

    __slots__ = ("cls", "kind", "code", "by_peer", "transport", "text",
                 "server_ref", "retry_after_ms", "line")

    def __init__(self, r: Any) -> None:
        self.cls: Union[ReasonClass, int] = to_enum(ReasonClass, r.cls)
        self.kind: Union[ReasonKind, int] = to_enum(ReasonKind, r.kind)
        self.code: int = r.code
        self.by_peer = bool(r.by_peer)
        self.transport = dec(r.transport)
        self.text = dec(r.text)
        self.server_ref = dec(r.server_ref)
        #: the peer's "retry after" hint in ms (HTTP Retry-After), 0: none
        self.retry_after_ms: int = r.retry_after_ms
        buf = ctypes.create_string_buffer(512)
        lib.tether_reason_format(ctypes.byref(r), buf, len(buf))
        #: the library's one-line form, "transient: ws close 1006 (peer): ..."
        self.line: str = dec(buf.value) or ""

    def __str__(self) -> str:
        return self.line

    def __repr__(self) -> str:
        return "<Reason %s>" % self.line


class Property:
    """An MQTT 5 property of an inbound message. `value` is a str for
    string properties (content_type, response_topic, user properties),
    bytes for correlation_data, an int for numeric ones."""

    __slots__ = ("name", "value", "user")

    def __init__(self, name: str, value: PropertyValue,
                 user: bool = False) -> None:
        self.name = name
        self.value = value
        self.user = user

    @classmethod
    def _from_c(cls, p: Any) -> "Property":
        name = dec(p.name) or ""
        value: PropertyValue
        if not p.value:
            value = p.number
        else:
            raw = ctypes.string_at(p.value, p.len) if p.len else b""
            value = raw if name == "correlation_data" and not p.user \
                else raw.decode("utf-8", "replace")
        return cls(name, value, bool(p.user))

    def __repr__(self) -> str:
        return "<Property %s%s=%r>" % ("user " if self.user else "",
                                       self.name, self.value)


class Message:
    """An inbound message (or the copy of an outbound one)."""

    __slots__ = ("topic", "payload", "qos", "retain", "binary", "dup",
                 "properties")

    def __init__(self, payload: bytes, topic: Optional[str] = None,
                 qos: int = 0, retain: bool = False, binary: bool = False,
                 dup: bool = False,
                 properties: Iterable[Property] = ()) -> None:
        self.payload = payload
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.binary = binary
        self.dup = dup
        #: MQTT 5 properties, a list of Property (empty otherwise)
        self.properties = list(properties)

    @classmethod
    def _from_c(cls, m: Any) -> "Message":
        payload = ctypes.string_at(m.payload, m.len) if m.len else b""
        dup = bool(m.dup) if m.size >= field_end(tether_message, "dup") \
            else False
        props: List[Property] = []
        if m.size >= field_end(tether_message, "nprops") and m.props:
            props = [Property._from_c(m.props[i]) for i in range(m.nprops)]
        return cls(payload, dec(m.topic), m.qos, bool(m.retain),
                   bool(m.binary), dup, props)

    def get_property(self, name: str, default: Optional[PropertyValue] = None
                     ) -> Optional[PropertyValue]:
        """The value of the first property of that name (user properties
        included)."""
        for p in self.properties:
            if p.name == name:
                return p.value
        return default

    @property
    def user_properties(self) -> List[Tuple[str, PropertyValue]]:
        """MQTT 5 User Properties as (name, value) pairs, in order."""
        return [(p.name, p.value) for p in self.properties if p.user]

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return "<Message topic=%r %d bytes qos=%d>" % (
            self.topic, len(self.payload), self.qos)


class Event:
    """One event of one connection. `connection` is the tether.Connection;
    `name` its name. Fields that do not apply to the type are None."""

    __slots__ = ("type", "connection", "name", "state", "old_state",
                 "now_ms", "attempt", "endpoint", "delay_ms", "reason",
                 "detail", "message", "msg_id", "error", "session_present")

    def __init__(self, ev: Any, connection: Optional["Connection"]) -> None:
        self.type: Union[EventType, int] = to_enum(EventType, ev.type)
        self.connection = connection
        self.name: Optional[str] = connection.name \
            if connection is not None else None
        self.state: Union[State, int] = to_enum(State, ev.state)
        self.old_state: Union[State, int, None] = \
            to_enum(State, ev.old_state) if ev.type == EventType.STATE \
            else None
        self.now_ms: int = ev.now_ms
        self.attempt: int = ev.attempt
        self.endpoint: int = ev.endpoint
        self.delay_ms: Optional[int] = ev.delay_ms \
            if ev.type in (EventType.RETRY, EventType.SUSPEND) else None
        self.reason = Reason(ev.reason.contents) if ev.reason else None
        self.detail = dec(ev.detail)
        self.message = Message._from_c(ev.message.contents) \
            if ev.message else None
        is_sent = ev.type == EventType.SENT
        self.msg_id: Optional[int] = ev.msg_id if is_sent else None
        self.error: Optional[int] = ev.error if is_sent else None
        self.session_present: Optional[bool]
        if ev.size >= field_end(tether_event, "session_present"):
            self.session_present = bool(ev.session_present) \
                if ev.type == EventType.UP else None
        else:
            self.session_present = None

    @property
    def error_class(self) -> Optional[Type[Error]]:
        """For SENT: the tether.Error subclass of the drop, or None when
        the message was delivered."""
        if not self.error:
            return None
        return error_class(self.error)

    def __repr__(self) -> str:
        parts = ["%s" % self.type, self.name or "?"]
        if self.type == EventType.STATE:
            parts.append("%s->%s" % (self.old_state, self.state))
        if self.reason is not None:
            parts.append(str(self.reason))
        if self.delay_ms is not None:
            parts.append("in %d ms" % self.delay_ms)
        if self.message is not None:
            parts.append(repr(self.message))
        if self.msg_id is not None:
            parts.append("id=%d error=%d" % (self.msg_id, self.error or 0))
        return "<Event %s>" % " ".join(parts)


class EventStream:
    """A thread-safe queue of events, filled from the loop thread.

    Iterate it (`for ev in mgr.events(timeout=5)`): each step waits at most
    `timeout` seconds for the next event and the iteration ends when none
    came (or when the manager closed); timeout None waits for ever. Events
    are buffered from the moment the stream is created; past `maxlen`
    buffered events the oldest are dropped (counted in `dropped`). Close
    it (or use it as a context manager) to stop buffering.
    """

    def __init__(self, owner: Any, timeout: Optional[float] = None,
                 connection: Optional["Connection"] = None,
                 types: Optional[Iterable[Union[EventType, int]]] = None,
                 maxlen: int = 10000) -> None:
        self._owner = owner
        self.timeout = timeout
        self._conn = connection
        self._types: Optional[FrozenSet[Union[EventType, int]]] = \
            frozenset(types) if types is not None else None
        self._q: Deque[Event] = collections.deque()
        self._maxlen = maxlen
        self._cv = threading.Condition()
        self._closed = False
        self.dropped = 0
        #: called after an event was buffered or the stream ended, on the
        #: thread that did it (aevents() wakes its asyncio loop with it)
        self._notify: Optional[Callable[[], None]] = None
        owner._add_stream(self)

    def _wants(self, ev: Event) -> bool:
        if self._conn is not None and ev.connection is not self._conn:
            return False
        return self._types is None or ev.type in self._types

    def _push(self, ev: Event) -> None:
        if not self._wants(ev):
            return
        with self._cv:
            if self._closed:
                return
            if len(self._q) >= self._maxlen:
                self._q.popleft()
                self.dropped += 1
            self._q.append(ev)
            self._cv.notify_all()
        if self._notify is not None:
            self._notify()

    def _end(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._notify is not None:
            self._notify()

    def close(self) -> None:
        self._owner._remove_stream(self)
        self._end()

    def get(self, timeout: Optional[float] = -1) -> Optional[Event]:
        """The next event, or None when none came within timeout seconds
        (default: the stream's) or the stream is closed and empty."""
        if timeout == -1:
            timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self._q:
                if self._closed:
                    return None
                left = None if deadline is None else \
                    deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cv.wait(left)
            return self._q.popleft()

    def wait_for(self, match: Union[EventType, State, Callable[[Event], bool]],
                 timeout: float = 10.0) -> Event:
        """Consume events until one matches, and return it. `match` is an
        EventType, a State (an event whose state is that, after a change),
        or a function of the event. Raises tether.TimedOut after timeout
        seconds."""
        pred: Callable[[Event], bool]
        if isinstance(match, EventType):
            want_type = match
            pred = lambda ev: ev.type == want_type  # noqa: E731
        elif isinstance(match, State):
            want_state = match
            pred = lambda ev: (ev.type == EventType.STATE  # noqa: E731
                               and ev.state == want_state)
        else:
            pred = match
        deadline = time.monotonic() + timeout
        seen: List[str] = []
        while True:
            left = deadline - time.monotonic()
            ev = self.get(max(left, 0)) if left > 0 else None
            if ev is None:
                raise_timeout("no matching event within %.1f s (saw: %s)"
                              % (timeout, ", ".join(seen[-8:]) or "none"))
            if pred(ev):
                return ev
            seen.append("%s %s" % (ev.type, ev.name))

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        ev = self.get()
        if ev is None:
            raise StopIteration
        return ev

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


class AsyncEventStream:
    """An EventStream for asyncio: `async for ev in mgr.aevents():`.

    Each step awaits the next event without blocking the event loop, at
    most `timeout` seconds (None: for ever); the iteration ends when none
    came in time or the manager closed. It works whether the manager runs
    its own thread (events are handed to the asyncio loop thread-safely) or
    is driven by this asyncio loop (Manager.attach_asyncio). Buffering,
    `maxlen` and `dropped` are the EventStream's. Close it, or use
    `async with`, to stop buffering.
    """

    def __init__(self, stream: EventStream,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._wake = asyncio.Event()
        stream._notify = self._notify

    @property
    def timeout(self) -> Optional[float]:
        return self._stream.timeout

    @property
    def dropped(self) -> int:
        return self._stream.dropped

    def _notify(self) -> None:
        # any thread: the loop thread of the manager, or this one
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass  # the asyncio loop is closed: nobody is waiting

    def _take(self) -> Tuple[Optional[Event], bool]:
        """The next buffered event, and whether the stream has ended."""
        ev = self._stream.get(0)
        return ev, ev is None and self._stream._closed

    async def get(self, timeout: Optional[float] = -1) -> Optional[Event]:
        """The next event, or None when none came within timeout seconds
        (default: the stream's) or the stream is closed and empty."""
        if timeout == -1:
            timeout = self._stream.timeout
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            ev, ended = self._take()
            if ev is not None or ended:
                return ev
            self._wake.clear()
            # an event pushed between the take and the clear is seen here
            ev, ended = self._take()
            if ev is not None or ended:
                return ev
            left = None if deadline is None else deadline - self._loop.time()
            if left is not None and left <= 0:
                return None
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                return None

    def close(self) -> None:
        self._stream.close()

    def __aiter__(self) -> "AsyncEventStream":
        return self

    async def __anext__(self) -> Event:
        ev = await self.get()
        if ev is None:
            raise StopAsyncIteration
        return ev

    async def __aenter__(self) -> "AsyncEventStream":
        return self

    async def __aexit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False

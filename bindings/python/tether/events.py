"""Events as plain Python objects, and the thread-safe event stream.

Everything is copied out of the C event inside the callback: its pointers
are valid only during it.
"""

import collections
import ctypes
import threading
import time

from ._lib import dec, field_end, lib, tether_event, tether_message
from .enums import EventType, ReasonClass, ReasonKind, State, to_enum
from .errors import error_class, raise_timeout


class Reason:
    """Why a connection failed or was lost."""

    __slots__ = ("cls", "kind", "code", "by_peer", "transport", "text",
                 "server_ref", "retry_after_ms", "line")

    def __init__(self, r):
        self.cls = to_enum(ReasonClass, r.cls)
        self.kind = to_enum(ReasonKind, r.kind)
        self.code = r.code
        self.by_peer = bool(r.by_peer)
        self.transport = dec(r.transport)
        self.text = dec(r.text)
        self.server_ref = dec(r.server_ref)
        #: the peer's "retry after" hint in ms (HTTP Retry-After), 0: none
        self.retry_after_ms = r.retry_after_ms
        buf = ctypes.create_string_buffer(512)
        lib.tether_reason_format(ctypes.byref(r), buf, len(buf))
        #: the library's one-line form, "transient: ws close 1006 (peer): ..."
        self.line = dec(buf.value)

    def __str__(self):
        return self.line

    def __repr__(self):
        return "<Reason %s>" % self.line


class Property:
    """An MQTT 5 property of an inbound message. `value` is a str for
    string properties (content_type, response_topic, user properties),
    bytes for correlation_data, an int for numeric ones."""

    __slots__ = ("name", "value", "user")

    def __init__(self, name, value, user=False):
        self.name = name
        self.value = value
        self.user = user

    @classmethod
    def _from_c(cls, p):
        name = dec(p.name)
        if not p.value:
            value = p.number
        else:
            raw = ctypes.string_at(p.value, p.len) if p.len else b""
            value = raw if name == "correlation_data" and not p.user \
                else raw.decode("utf-8", "replace")
        return cls(name, value, bool(p.user))

    def __repr__(self):
        return "<Property %s%s=%r>" % ("user " if self.user else "",
                                       self.name, self.value)


class Message:
    """An inbound message (or the copy of an outbound one)."""

    __slots__ = ("topic", "payload", "qos", "retain", "binary", "dup",
                 "properties")

    def __init__(self, payload, topic=None, qos=0, retain=False,
                 binary=False, dup=False, properties=()):
        self.payload = payload
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.binary = binary
        self.dup = dup
        #: MQTT 5 properties, a list of Property (empty otherwise)
        self.properties = list(properties)

    @classmethod
    def _from_c(cls, m):
        payload = ctypes.string_at(m.payload, m.len) if m.len else b""
        dup = bool(m.dup) if m.size >= field_end(tether_message, "dup") \
            else False
        props = []
        if m.size >= field_end(tether_message, "nprops") and m.props:
            props = [Property._from_c(m.props[i]) for i in range(m.nprops)]
        return cls(payload, dec(m.topic), m.qos, bool(m.retain),
                   bool(m.binary), dup, props)

    def get_property(self, name, default=None):
        """The value of the first property of that name (user properties
        included)."""
        for p in self.properties:
            if p.name == name:
                return p.value
        return default

    @property
    def user_properties(self):
        """MQTT 5 User Properties as (name, value) pairs, in order."""
        return [(p.name, p.value) for p in self.properties if p.user]

    @property
    def text(self):
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8", "replace")

    def __repr__(self):
        return "<Message topic=%r %d bytes qos=%d>" % (
            self.topic, len(self.payload), self.qos)


class Event:
    """One event of one connection. `connection` is the tether.Connection;
    `name` its name. Fields that do not apply to the type are None."""

    __slots__ = ("type", "connection", "name", "state", "old_state",
                 "now_ms", "attempt", "endpoint", "delay_ms", "reason",
                 "detail", "message", "msg_id", "error", "session_present",
                 "count")

    def __init__(self, ev, connection):
        self.type = to_enum(EventType, ev.type)
        self.connection = connection
        self.name = connection.name if connection is not None else None
        self.state = to_enum(State, ev.state)
        self.old_state = to_enum(State, ev.old_state) \
            if ev.type == EventType.STATE else None
        self.now_ms = ev.now_ms
        self.attempt = ev.attempt
        self.endpoint = ev.endpoint
        self.delay_ms = ev.delay_ms \
            if ev.type in (EventType.RETRY, EventType.SUSPEND) else None
        self.reason = Reason(ev.reason.contents) if ev.reason else None
        self.detail = dec(ev.detail)
        self.message = Message._from_c(ev.message.contents) \
            if ev.message else None
        is_sent = ev.type == EventType.SENT
        is_drop = ev.type == EventType.INBOUND_DROPPED
        self.msg_id = ev.msg_id if is_sent else None
        self.error = ev.error if is_sent or is_drop else None
        #: INBOUND_DROPPED: how many messages (error says why)
        self.count = ev.count if is_drop and \
            ev.size >= field_end(tether_event, "count") else None
        if ev.size >= field_end(tether_event, "session_present"):
            self.session_present = bool(ev.session_present) \
                if ev.type == EventType.UP else None
        else:
            self.session_present = None

    @property
    def error_class(self):
        """For SENT: the tether.Error subclass of the drop, or None when
        the message was delivered."""
        if not self.error:
            return None
        return error_class(self.error)

    def __repr__(self):
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
            parts.append("id=%d error=%d" % (self.msg_id, self.error))
        if self.count is not None:
            parts.append("count=%d error=%d" % (self.count, self.error))
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

    def __init__(self, owner, timeout=None, connection=None, types=None,
                 maxlen=10000):
        self._owner = owner
        self.timeout = timeout
        self._conn = connection
        self._types = frozenset(types) if types is not None else None
        self._q = collections.deque()
        self._maxlen = maxlen
        self._cv = threading.Condition()
        self._closed = False
        self.dropped = 0
        owner._add_stream(self)

    def _wants(self, ev):
        if self._conn is not None and ev.connection is not self._conn:
            return False
        return self._types is None or ev.type in self._types

    def _push(self, ev):
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

    def _end(self):
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def close(self):
        self._owner._remove_stream(self)
        self._end()

    def get(self, timeout=-1):
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

    def wait_for(self, match, timeout=10.0):
        """Consume events until one matches, and return it. `match` is an
        EventType, a State (an event whose state is that, after a change),
        or a function of the event. Raises tether.TimedOut after timeout
        seconds."""
        if isinstance(match, EventType):
            want = match
            pred = lambda ev: ev.type == want  # noqa: E731
        elif isinstance(match, State):
            want = match
            pred = lambda ev: (ev.type == EventType.STATE  # noqa: E731
                               and ev.state == want)
        else:
            pred = match
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            ev = self.get(max(left, 0)) if left > 0 else None
            if ev is None:
                raise_timeout("no matching event within %.1f s (saw: %s)"
                              % (timeout, ", ".join(seen[-8:]) or "none"))
            if pred(ev):
                return ev
            seen.append("%s %s" % (ev.type, ev.name))

    def __iter__(self):
        return self

    def __next__(self):
        ev = self.get()
        if ev is None:
            raise StopIteration
        return ev

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

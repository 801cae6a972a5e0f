"""A connection's counters (tether_conn_stats), and a parser for the
manager's Prometheus text (tether_mgr_metrics_text)."""

import re
from typing import Any, Dict, List, Optional, Tuple, Union

from ._lib import field_end as _lib_field_end
from .enums import ReasonClass, State

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(s: str) -> str:
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), s)


def parse_metrics(text: str) -> List[Tuple[str, Dict[str, str], float]]:
    """Prometheus text -> list of (name, {label: value}, float)."""
    out: List[Tuple[str, Dict[str, str], float]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(2) or "")}
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


class Stats:
    """A connection's counters (as of the loop's latest events)."""

    __slots__ = ("state", "attempts_up", "attempts_failed", "disconnects",
                 "reconnects", "reconnect_seconds", "rtt",
                 "messages_sent", "messages_received", "queued",
                 "bytes_sent", "bytes_received", "dropped", "queued_bytes",
                 "flaps")

    def __init__(self) -> None:
        self.state: Union[State, int, None] = None
        self.attempts_up: int = 0
        self.attempts_failed: int = 0
        #: links lost and attempts failed, by ReasonClass
        self.disconnects: Dict[ReasonClass, int] = {c: 0 for c in ReasonClass}
        #: links that came back after a loss, and the total time it took
        self.reconnects: int = 0
        self.reconnect_seconds: float = 0.0
        #: smoothed RTT in seconds, None before the first sample
        self.rtt: Optional[float] = None
        self.messages_sent: int = 0
        self.messages_received: int = 0
        #: messages waiting in the outbound queue (None: library too old)
        self.queued: Optional[int] = None
        #: payload + topic bytes of the messages sent and received, and
        #: the bytes the queue holds (None: library too old)
        self.bytes_sent: Optional[int] = None
        self.bytes_received: Optional[int] = None
        self.queued_bytes: Optional[int] = None
        #: accepted messages dropped, by cause ("overflow", "expired",
        #: "closed", "too_large", "error"); None: library too old
        self.dropped: Optional[Dict[str, int]] = None
        #: links the peer closed soon after they came up (None: too old)
        self.flaps: Optional[int] = None

    @classmethod
    def from_c(cls, st: Any, state: Union[State, int, None]) -> "Stats":
        """From a filled struct tether_conn_stats."""
        self = cls()
        self.state = state
        self.attempts_up = st.attempts_up
        self.attempts_failed = st.attempts_failed
        self.disconnects = {c: st.disconnects[int(c)] for c in ReasonClass}
        self.reconnects = st.reconnects
        self.reconnect_seconds = st.reconnect_ms / 1000.0
        self.rtt = st.rtt_us / 1e6 if st.rtt_samples else None
        self.messages_sent = st.messages_sent
        self.messages_received = st.messages_received
        self.bytes_sent = st.bytes_sent
        self.bytes_received = st.bytes_received
        self.dropped = {"overflow": st.dropped_overflow,
                        "expired": st.dropped_expired,
                        "closed": st.dropped_closed,
                        "too_large": st.dropped_too_large,
                        "error": st.dropped_error}
        self.queued = st.queued
        self.queued_bytes = st.queued_bytes
        if st.size >= _lib_field_end(type(st), "flaps"):
            self.flaps = st.flaps
        return self

    def as_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {k: getattr(self, k) for k in self.__slots__}
        d["disconnects"] = {str(k): v for k, v in self.disconnects.items()}
        d["state"] = str(self.state) if self.state is not None else None
        return d

    def __repr__(self) -> str:
        return "<Stats %r>" % (self.as_dict(),)

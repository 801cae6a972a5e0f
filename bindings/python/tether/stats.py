"""A connection's counters, read from the manager's Prometheus metrics
(tether_mgr_metrics_text: the public API has no per-connection struct)."""

import re

from .enums import ReasonClass

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(s):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), s)


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
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
    """A connection's counters, from the manager's metrics (as of the
    loop's latest events)."""

    __slots__ = ("state", "attempts_up", "attempts_failed", "disconnects",
                 "reconnects", "reconnect_seconds", "rtt",
                 "messages_sent", "messages_received", "queued")

    def __init__(self):
        self.state = None
        self.attempts_up = 0
        self.attempts_failed = 0
        #: links lost and attempts failed, by ReasonClass
        self.disconnects = {c: 0 for c in ReasonClass}
        #: links that came back after a loss, and the total time it took
        self.reconnects = 0
        self.reconnect_seconds = 0.0
        #: smoothed RTT in seconds, None before the first sample
        self.rtt = None
        self.messages_sent = 0
        self.messages_received = 0
        #: messages waiting in the outbound queue (None: library too old)
        self.queued = None

    def as_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__}
        d["disconnects"] = {str(k): v for k, v in self.disconnects.items()}
        d["state"] = str(self.state) if self.state is not None else None
        return d

    def __repr__(self):
        return "<Stats %r>" % (self.as_dict(),)

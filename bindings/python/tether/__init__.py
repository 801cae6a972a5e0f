"""tether: keep MQTT and WebSocket client connections alive, from Python.

A ctypes binding of libtether's public C API (no other dependencies):

    import tether

    with tether.Manager.from_yaml("gateway.yaml") as mgr:
        for ev in mgr.events(timeout=60):
            print(ev.name, ev.type, ev.state, ev.reason)

See bindings/python/README.md for the whole API.
"""

from typing import Optional

from ._lib import dec as _dec, lib as _clib
from .enums import (EventType, Fsync, Overflow, Policy, ReasonClass,
                    ReasonKind, State)
from .errors import (ABIMismatch, AlreadyExists, Closed, ConfigError, Error,
                     Expired, Full, InvalidArgument, IOFailure, NotFound,
                     NotSupported, OutOfMemory, OutOfRange, StateError,
                     TimedOut, TooBig, error_class)
from .events import (AsyncEventStream, Event, EventStream, Message, Property,
                     Reason)
from .log import log_level, log_to_logging, set_log_handler
from .manager import (Connection, Manager, Stats, effective_config,
                      parse_metrics, policies)

__version__ = "0.1.0"

# Load the library now: a missing libtether.so is an ImportError that
# says where it looked, not a surprise at the first call.
_clib.tether_version()


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _dec(_clib.tether_version()) or ""


def library_path() -> Optional[str]:
    """Which libtether.so was loaded."""
    path: Optional[str] = _clib.path
    return path


def strerror(code: int) -> str:
    """The library's message for an error code."""
    return _dec(_clib.tether_strerror(code)) or ""


def classify(kind: int, code: int, by_peer: bool = False) -> ReasonClass:
    """The built-in class of a reason (tether_reason_default_class)."""
    return ReasonClass(_clib.tether_reason_default_class(int(kind), int(code),
                                                        1 if by_peer else 0))


__all__ = [
    "Manager", "Connection", "Stats", "Event", "EventStream",
    "AsyncEventStream", "Message",
    "Property",
    "Reason", "State", "EventType", "ReasonClass", "ReasonKind", "Policy",
    "Overflow", "Fsync", "Error", "InvalidArgument", "OutOfMemory",
    "NotFound", "AlreadyExists", "StateError", "ConfigError", "OutOfRange",
    "ABIMismatch", "Full", "Closed", "IOFailure", "TimedOut", "NotSupported",
    "Expired", "TooBig", "error_class", "version", "library_path",
    "set_log_handler", "log_to_logging", "log_level",
    "strerror", "classify", "policies", "parse_metrics", "effective_config",
]

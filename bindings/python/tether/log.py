"""Routing libtether's log lines (and libwebsockets' and Paho's) to
Python: set_log_handler() for a function of your own, log_to_logging()
for the standard logging module (docs/logging.md)."""

import logging
import threading
from typing import Callable, Optional

from ._lib import LOG_CB, dec, lib
from .errors import check

#: The levels, as in tether.h (TETHER_LOG_*).
OFF, ERROR, WARNING, INFO, DEBUG = 0, 1, 2, 3, 4

_NAMES = {"off": OFF, "error": ERROR, "warning": WARNING, "info": INFO,
          "debug": DEBUG}
_TO_LOGGING = {ERROR: logging.ERROR, WARNING: logging.WARNING,
               INFO: logging.INFO, DEBUG: logging.DEBUG}

Handler = Callable[[int, str, str], None]

_lock = threading.Lock()
_keep: Optional[object] = None  # the ctypes callback the library holds


def _level(level: "int | str") -> int:
    if isinstance(level, str):
        try:
            return _NAMES[level.lower()]
        except KeyError:
            raise ValueError("log level %r: expected one of %s"
                             % (level, ", ".join(_NAMES))) from None
    return int(level)


def set_log_handler(handler: Optional[Handler],
                    level: "int | str" = ERROR) -> None:
    """Call handler(level, origin, line) for each log line up to `level`
    ("error", "warning", "info", "debug" or "off"), from whichever thread
    logs (the loop's, Paho's). None drops them (the default). An
    exception in the handler is printed by ctypes and otherwise ignored."""
    global _keep
    lv = _level(level)
    with _lock:
        if handler is None:
            cb = LOG_CB()  # type: ignore[call-overload]  # NULL
        else:
            user = handler

            def trampoline(lvl: int, origin: Optional[bytes],
                           line: Optional[bytes], _ud: object) -> None:
                user(lvl, dec(origin) or "", dec(line) or "")
            cb = LOG_CB(trampoline)
        check(lib.tether_set_log_cb(cb, None, lv))
        _keep = cb if handler is not None else None


def log_level() -> int:
    """The level set (ERROR by default)."""
    return int(lib.tether_log_level())


def log_to_logging(logger: Optional[logging.Logger] = None,
                   level: "int | str" = WARNING) -> None:
    """Send log lines to a logging.Logger (by default "tether"), one
    child logger per origin: "tether.lws", "tether.paho", "tether.tether"."""
    base = logger or logging.getLogger("tether")

    def handler(lvl: int, origin: str, line: str) -> None:
        base.getChild(origin).log(_TO_LOGGING.get(lvl, logging.DEBUG), "%s",
                                  line)
    set_log_handler(handler, level)

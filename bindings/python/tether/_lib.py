"""Loading libtether.so and declaring its public C API for ctypes.

Only the public headers (include/tether/tether.h, policy.h, config.h) are
mirrored here. Functions are resolved when first used, so a library that
lacks a newer function still imports; calling the missing function raises
tether.NotSupported.
"""

import ctypes
import ctypes.util
import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Union

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int,
                    c_size_t, c_uint32, c_uint64, c_void_p)

# --------------------------------------------------------------- structs


class tether_reason(Structure):
    _fields_ = [
        ("cls", c_int),
        ("kind", c_int),
        ("code", c_int),
        ("by_peer", c_int),
        ("transport", c_char_p),
        ("text", c_char_p),
        ("server_ref", c_char_p),
        ("retry_after_ms", c_uint64),
    ]


class tether_property(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("value", c_void_p),
        ("len", c_size_t),
        ("number", c_uint64),
        ("user", c_int),
    ]


class tether_message(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("topic", c_char_p),
        ("payload", c_void_p),
        ("len", c_size_t),
        ("qos", c_int),
        ("retain", c_int),
        ("binary", c_int),
        ("ttl_ms", c_uint64),
        ("dup", c_int),
        ("props", POINTER(tether_property)),
        ("nprops", c_size_t),
    ]


class tether_subscription(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("topic", c_char_p),
        ("qos", c_int),
        ("no_local", c_int),
        ("retain_as_published", c_int),
        ("retain_handling", c_int),
    ]


class tether_event(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("type", c_int),
        ("state", c_int),
        ("old_state", c_int),
        ("now_ms", c_uint64),
        ("attempt", c_uint32),
        ("endpoint", c_uint32),
        ("delay_ms", c_uint64),
        ("reason", POINTER(tether_reason)),
        ("detail", c_char_p),
        ("message", POINTER(tether_message)),
        ("msg_id", c_uint64),
        ("error", c_int),
        ("session_present", c_int),
    ]


class tether_queue_cfg(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("max_messages", c_uint32),
        ("max_bytes", c_uint64),
        ("overflow", c_int),
        ("ttl_ms", c_uint64),
        ("spool_dir", c_char_p),
        ("fsync", c_int),
        ("fsync_interval_ms", c_uint64),
        ("spool_max_bytes", c_uint64),
    ]


class tether_conn_stats(Structure):
    _fields_ = [
        ("size", c_uint32),
        ("state", c_int),
        ("attempts_up", c_uint64),
        ("attempts_failed", c_uint64),
        ("disconnects", c_uint64 * 8),
        ("reconnects", c_uint64),
        ("reconnect_ms", c_uint64),
        ("rtt_us", c_uint64),
        ("rtt_samples", c_uint64),
        ("messages_sent", c_uint64),
        ("messages_received", c_uint64),
        ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64),
        ("dropped_overflow", c_uint64),
        ("dropped_expired", c_uint64),
        ("dropped_closed", c_uint64),
        ("dropped_too_large", c_uint64),
        ("dropped_error", c_uint64),
        ("queued", c_uint64),
        ("queued_bytes", c_uint64),
        ("flaps", c_uint64),
    ]


def field_end(struct: Any, name: str) -> int:
    """Offset just past a field: compare with a struct's `size` member
    to know whether the library that filled it has that field."""
    f = getattr(struct, name)
    return int(f.offset + f.size)


EVENT_CB = CFUNCTYPE(None, c_void_p, POINTER(tether_event), c_void_p)
RESUME_CB = CFUNCTYPE(None, c_void_p, c_void_p)
LOG_CB = CFUNCTYPE(None, c_int, c_char_p, c_char_p, c_void_p)


class tether_preconnect(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("attempt", c_uint32),
        ("endpoint", c_uint32),
        ("uri", c_char_p),
        ("resumed", c_int),
    ]


PRECONNECT_CB = CFUNCTYPE(c_int, c_void_p, POINTER(tether_preconnect),
                          c_void_p)

# ------------------------------------------------------------ prototypes

_P = c_void_p
_PP = POINTER(c_void_p)
_S = c_char_p
_SP = POINTER(c_void_p)  # char ** out-parameters the caller frees

PROTOTYPES = {
    "tether_version": (_S, []),
    "tether_strerror": (_S, [c_int]),
    "tether_err_name": (_S, [c_int]),
    "tether_state_name": (_S, [c_int]),
    "tether_class_name": (_S, [c_int]),
    "tether_class_parse": (c_int, [_S, POINTER(c_int)]),
    "tether_kind_name": (_S, [c_int]),
    "tether_event_name": (_S, [c_int]),
    "tether_reason_default_class": (c_int, [c_int, c_int, c_int]),
    "tether_set_log_cb": (c_int, [LOG_CB, _P, c_int]),
    "tether_log_level": (c_int, []),
    "tether_reason_format": (c_int, [POINTER(tether_reason), c_void_p,
                                     c_size_t]),
    # manager
    "tether_mgr_new": (c_int, [_PP]),
    "tether_mgr_free": (None, [_P]),
    "tether_mgr_set_event_cb": (c_int, [_P, EVENT_CB, _P]),
    "tether_mgr_set_limits": (c_int, [_P, c_double, c_uint32, c_uint32]),
    "tether_mgr_start": (c_int, [_P]),
    "tether_mgr_stop": (c_int, [_P]),
    "tether_mgr_is_loop_thread": (c_int, [_P]),
    "tether_mgr_fd": (c_int, [_P]),
    "tether_mgr_timeout_ms": (c_int, [_P]),
    "tether_mgr_dispatch": (c_int, [_P]),
    "tether_mgr_metrics_text": (c_void_p, [_P]),
    "tether_mgr_reload": (c_int, [_P, _S, _SP]),
    # connection
    "tether_conn_new": (c_int, [_P, _S, _S, _PP]),
    "tether_conn_find": (_P, [_P, _S]),
    "tether_conn_stats": (c_int, [_P, POINTER(tether_conn_stats)]),
    "tether_conn_remove": (c_int, [_P]),
    "tether_mgr_conns": (c_size_t, [_P, _PP, c_size_t]),
    "tether_conn_add_endpoint": (c_int, [_P, _S]),
    "tether_conn_set_option": (c_int, [_P, _S, _S]),
    "tether_conn_set_policy": (c_int, [_P, _P]),
    "tether_conn_set_timing": (c_int, [_P, _S, c_uint64]),
    "tether_conn_set_heartbeat": (c_int, [_P, c_uint64, c_uint64, c_uint32]),
    "tether_conn_set_coordinated": (c_int, [_P, c_int]),
    "tether_conn_classify": (c_int, [_P, _S, _S]),
    "tether_conn_start": (c_int, [_P]),
    "tether_conn_check": (c_int, [_P]),
    "tether_conn_stop": (c_int, [_P]),
    "tether_queue_cfg_defaults": (None, [POINTER(tether_queue_cfg)]),
    "tether_conn_set_queue": (c_int, [_P, POINTER(tether_queue_cfg)]),
    "tether_conn_send": (c_int, [_P, POINTER(tether_message),
                                 POINTER(c_uint64)]),
    "tether_conn_set_resume_cb": (c_int, [_P, RESUME_CB, _P]),
    "tether_conn_set_preconnect_cb": (c_int, [_P, PRECONNECT_CB, _P]),
    "tether_conn_preconnect_resume": (c_int, [_P]),
    "tether_conn_queued": (c_size_t, [_P]),
    "tether_conn_subscribe": (c_int, [_P, _S, c_int]),
    "tether_conn_subscribe_opts": (c_int, [_P, POINTER(tether_subscription)]),
    "tether_conn_unsubscribe": (c_int, [_P, _S]),
    "tether_conn_state": (c_int, [_P]),
    "tether_conn_name": (_S, [_P]),
    "tether_conn_error": (_S, [_P]),
    # parameters and policies
    "tether_params_new": (_P, [_S]),
    "tether_params_free": (None, [_P]),
    "tether_params_set": (c_int, [_P, _S, _S, _S]),
    "tether_params_set_child": (c_int, [_P, _S, _P]),
    "tether_policy_count": (c_size_t, []),
    "tether_policy_at": (c_void_p, [c_size_t]),
    "tether_policy_new": (c_int, [_P, _PP, c_void_p, c_size_t]),
    "tether_policy_free": (None, [_P]),
    # configuration
    "tether_config_load_file": (c_int, [_S, _PP, _SP]),
    "tether_config_load_string": (c_int, [c_char_p, c_size_t, _S, _PP, _SP]),
    "tether_config_free": (None, [_P]),
    "tether_config_warnings": (_S, [_P]),
    "tether_config_apply": (c_int, [_P, _P, _SP]),
    "tether_config_reload": (c_int, [_P, _P, _SP]),
    "tether_config_dump": (c_void_p, [_P]),
    "tether_config_count": (c_size_t, [_P]),
    "tether_config_name": (_S, [_P, c_size_t]),
}


class _Missing:
    """Stands for a function the loaded library does not export."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any) -> Any:
        from .errors import NotSupported
        raise NotSupported(None, "%s is not in this libtether (%s)"
                           % (self.name, path()))


def _candidates() -> Iterator[str]:
    env = os.environ.get("TETHER_LIBRARY")
    if env:
        yield env
        return
    try:
        # written by `make install`; absent in the source tree
        from . import _install  # type: ignore[attr-defined]
        yield os.path.join(str(_install.LIBDIR), "libtether.so.0")
    except ImportError:
        pass
    found = ctypes.util.find_library("tether")
    if found:
        yield found
    yield "libtether.so.0"


class _Lib:
    def __init__(self) -> None:
        self._dll: Optional[ctypes.CDLL] = None
        self._path: Optional[str] = None
        self._fns: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def _load(self) -> ctypes.CDLL:
        errors: List[str] = []
        for cand in _candidates():
            try:
                dll = ctypes.CDLL(cand)
            except OSError as e:
                errors.append("%s: %s" % (cand, e))
                continue
            self._path = cand
            return dll
        raise ImportError("tether: cannot load libtether.so (install "
                          "tether, or set TETHER_LIBRARY to its path): "
                          + "; ".join(errors))

    def __getattr__(self, name: str) -> Any:
        fn = self._fns.get(name)
        if fn is not None:
            return fn
        with self._lock:
            if self._dll is None:
                self._dll = self._load()
            try:
                fn = getattr(self._dll, name)
            except AttributeError:
                fn = _Missing(name)
            else:
                res, args = PROTOTYPES[name]
                fn.restype = res
                fn.argtypes = args
            self._fns[name] = fn
        return fn

    def has(self, name: str) -> bool:
        return not isinstance(getattr(self, name), _Missing)

    @property
    def path(self) -> Optional[str]:
        if self._dll is None:
            self.tether_version  # loads
        return self._path


lib = _Lib()
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [c_void_p]
_libc.free.restype = None


def path() -> Optional[str]:
    return lib._path


def take_string(ptr: Optional[int]) -> Optional[str]:
    """Copy a malloc'ed char * returned by the library, then free it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _libc.free(ptr)


def enc(s: Union[str, bytes, None, object]) -> Optional[bytes]:
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


def dec(b: Optional[bytes]) -> Optional[str]:
    if b is None:
        return None
    return b.decode("utf-8", "replace")

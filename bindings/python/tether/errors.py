"""tether.Error and one subclass per TETHER_E* code of the C library."""

from typing import Dict, Iterable, List, NoReturn, Optional, Type

from ._lib import dec, lib

# C name (without TETHER_) -> Python class name
_NAMES = {
    "EINVAL": "InvalidArgument",
    "ENOMEM": "OutOfMemory",
    "ENOENT": "NotFound",
    "EEXIST": "AlreadyExists",
    "ESTATE": "StateError",
    "ECONFIG": "ConfigError",
    "ERANGE": "OutOfRange",
    "EABI": "ABIMismatch",
    "EFULL": "Full",
    "ECLOSED": "Closed",
    "EIO": "IOFailure",
    "ETIMEDOUT": "TimedOut",
    "ENOTSUP": "NotSupported",
    "EEXPIRED": "Expired",
    "ETOOBIG": "TooBig",
}


class Error(Exception):
    """A tether C error: `code` (negative TETHER_E* value, None when the
    library could not be asked), `name` ("TETHER_EINVAL") and `message`
    (the library's text plus any detail it gave)."""

    c_name: Optional[str] = None

    def __init__(self, code: Optional[int], message: Optional[str] = None,
                 details: Optional[Iterable[str]] = None) -> None:
        self.code = code
        base: Optional[str]
        if code is not None:
            self.name = dec(lib.tether_err_name(code)) or "TETHER_UNKNOWN"
            base = dec(lib.tether_strerror(code))
        else:
            self.name = "TETHER_" + (self.c_name or "UNKNOWN")
            base = None
        if message and base and message != base:
            text = "%s: %s" % (base, message)
        else:
            text = message or base or "unknown error"
        self.message = text
        #: every line of detail the library gave (config errors...)
        self.details: List[str] = list(details or [])
        super().__init__(text)

    def __str__(self) -> str:
        return self.message


class InvalidArgument(Error, ValueError):
    c_name = "EINVAL"


class OutOfMemory(Error, MemoryError):
    c_name = "ENOMEM"


class NotFound(Error, LookupError):
    c_name = "ENOENT"


class AlreadyExists(Error):
    c_name = "EEXIST"


class StateError(Error):
    c_name = "ESTATE"


class ConfigError(Error):
    """An invalid configuration; `details` holds each problem as
    "file:line:column: key.path: what was expected, what was found"."""
    c_name = "ECONFIG"


class OutOfRange(Error, ValueError):
    c_name = "ERANGE"


class ABIMismatch(Error):
    c_name = "EABI"


class Full(Error):
    c_name = "EFULL"


class Closed(Error):
    c_name = "ECLOSED"


class IOFailure(Error, OSError):
    c_name = "EIO"


class TimedOut(Error, TimeoutError):
    c_name = "ETIMEDOUT"


class NotSupported(Error, NotImplementedError):
    c_name = "ENOTSUP"


class Expired(Error):
    c_name = "EEXPIRED"


class TooBig(Error):
    c_name = "ETOOBIG"


_BY_CNAME: Dict[Optional[str], Type[Error]] = {
    cls.c_name: cls for cls in Error.__subclasses__()}
_BY_CODE: Dict[int, Type[Error]] = {}


def _code_table() -> Dict[int, Type[Error]]:
    """code -> class, from the library's own table (codes are counted
    down from a base, so they are read, not assumed)."""
    if not _BY_CODE:
        for code in range(-1, -1100, -1):
            name = dec(lib.tether_err_name(code)) or ""
            if name.startswith("TETHER_") and name != "TETHER_UNKNOWN":
                _BY_CODE[code] = _BY_CNAME.get(name[len("TETHER_"):], Error)
    return _BY_CODE


def error_class(code: int) -> Type[Error]:
    return _code_table().get(code, Error)


def make_error(code: int, message: Optional[str] = None,
               details: Optional[Iterable[str]] = None) -> Error:
    cls = error_class(code)
    if cls is Error:
        return Error(code, message, details)
    return cls(code, message, details)


def check(rc: int, message: Optional[str] = None,
          details: Optional[Iterable[str]] = None) -> int:
    """Raise the Error subclass for a negative return code."""
    if rc < 0:
        raise make_error(rc, message, details)
    return rc


def code_of(c_name: str) -> int:
    """The numeric code of a C name such as "ECONFIG"."""
    for code, cls in _code_table().items():
        if cls.c_name == c_name:
            return code
    raise KeyError(c_name)


# TimedOut and friends can be raised by the binding itself (waiting for an
# event), with the library's code for them.
def raise_timeout(message: str) -> NoReturn:
    raise TimedOut(code_of("ETIMEDOUT"), message)

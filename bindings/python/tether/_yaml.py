"""A tiny YAML emitter for Manager.from_dict (no third-party packages).

It writes block style, one key per line, so that the C loader's
file:line:column messages point at a readable line. Scalars: str (plain
when unambiguous, else double-quoted with JSON escapes, which YAML
accepts), bool, int, float, None; containers: dict and list/tuple.
Enums are written as their value (tether.Policy.FIXED -> fixed).
"""

import enum
import json
import re
from typing import Any, Dict, List

_PLAIN = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./-]*$")
# Words YAML 1.1 would read as something other than a string.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null",
             "~"}


def _scalar(v: Any) -> str:
    if isinstance(v, enum.Enum):
        v = v.value if isinstance(v.value, str) else str(v).lower()
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if not isinstance(v, str):
        raise TypeError("cannot write %r as YAML" % (v,))
    if (_PLAIN.match(v) and v.lower() not in _RESERVED
            and not v.endswith(":") and ": " not in v):
        return v
    return json.dumps(v, ensure_ascii=False)


def _key(k: Any) -> str:
    if isinstance(k, enum.Enum):
        k = k.value
    if not isinstance(k, str):
        k = str(k)
    return _scalar(k)


def _emit(v: Any, indent: int, out: List[str]) -> None:
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            out.append(pad + "{}")
            return
        for k, item in v.items():
            if isinstance(item, (dict, list, tuple)) and item:
                out.append("%s%s:" % (pad, _key(k)))
                _emit(item, indent + 1, out)
            else:
                out.append("%s%s: %s" % (pad, _key(k), _inline(item)))
    elif isinstance(v, (list, tuple)):
        if not v:
            out.append(pad + "[]")
            return
        for item in v:
            if isinstance(item, (dict, list, tuple)) and item:
                sub: List[str] = []
                _emit(item, indent + 1, sub)
                # "- " takes the place of the first line's indentation
                first = sub[0][len(pad) + 2:]
                out.append("%s- %s" % (pad, first))
                out.extend(sub[1:])
            else:
                out.append("%s- %s" % (pad, _inline(item)))
    else:
        out.append(pad + _scalar(v))


def _inline(v: Any) -> str:
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, (list, tuple)) and not v:
        return "[]"
    return _scalar(v)


def dump(cfg: Dict[str, Any]) -> str:
    """The YAML text of a dict."""
    if not isinstance(cfg, dict):
        raise TypeError("a configuration is a dict, not %s"
                        % type(cfg).__name__)
    out: List[str] = []
    _emit(cfg, 0, out)
    return "\n".join(out) + "\n"

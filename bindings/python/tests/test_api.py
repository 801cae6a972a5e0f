"""The binding without network peers: loading, enums against the
library's own names, structure layouts against the C header, errors,
configuration loading, the builder, and the YAML emitter."""

import ctypes
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import tether
from tether import _lib, _yaml
from tether.errors import code_of

from peers import clean_env


def test_version_and_library():
    assert re.fullmatch(r"\d+\.\d+\.\d+", tether.version())
    lib = os.environ.get("TETHER_LIBRARY")
    if lib:
        assert tether.library_path() == lib


def test_enums_match_library_names():
    for s in tether.State:
        assert _lib.dec(_lib.lib.tether_state_name(s)) == str(s)
    for c in tether.ReasonClass:
        assert _lib.dec(_lib.lib.tether_class_name(c)) == str(c)
    for t in tether.EventType:
        assert _lib.dec(_lib.lib.tether_event_name(t)) == str(t)
    # one past the last is unknown to the library: nothing is missing
    assert _lib.dec(_lib.lib.tether_state_name(len(tether.State))) == "?"
    assert _lib.dec(_lib.lib.tether_event_name(len(tether.EventType))) == "?"
    assert _lib.dec(_lib.lib.tether_class_name(len(tether.ReasonClass))) \
        == "?"


def test_policy_enum_names_registered_types():
    assert {p.value for p in tether.Policy} <= set(tether.policies())


LAYOUT_C = r"""
#include <stddef.h>
#include <stdio.h>
#include <tether/tether.h>
#define F(s, f) printf(#s " " #f " %zu %zu\n", offsetof(struct s, f), \
                       sizeof(((struct s *)0)->f))
#define S(s) printf(#s " sizeof %zu 0\n", sizeof(struct s))
int main(void)
{
	S(tether_reason); F(tether_reason, cls); F(tether_reason, kind);
	F(tether_reason, code); F(tether_reason, by_peer);
	F(tether_reason, transport); F(tether_reason, text);
	F(tether_reason, server_ref); F(tether_reason, retry_after_ms);
	S(tether_message); F(tether_message, size); F(tether_message, topic);
	F(tether_message, payload); F(tether_message, len);
	F(tether_message, qos); F(tether_message, retain);
	F(tether_message, binary); F(tether_message, ttl_ms);
	F(tether_message, dup); F(tether_message, props);
	F(tether_message, nprops);
	S(tether_property); F(tether_property, name);
	F(tether_property, value); F(tether_property, len);
	F(tether_property, number); F(tether_property, user);
	S(tether_event); F(tether_event, size); F(tether_event, type);
	F(tether_event, state); F(tether_event, old_state);
	F(tether_event, now_ms); F(tether_event, attempt);
	F(tether_event, endpoint); F(tether_event, delay_ms);
	F(tether_event, reason); F(tether_event, detail);
	F(tether_event, message); F(tether_event, msg_id);
	F(tether_event, error); F(tether_event, session_present);
	S(tether_queue_cfg); F(tether_queue_cfg, size);
	F(tether_queue_cfg, max_messages); F(tether_queue_cfg, max_bytes);
	F(tether_queue_cfg, overflow); F(tether_queue_cfg, ttl_ms);
	F(tether_queue_cfg, spool_dir); F(tether_queue_cfg, fsync);
	F(tether_queue_cfg, fsync_interval_ms);
	F(tether_queue_cfg, spool_max_bytes);
	return 0;
}
"""


def test_struct_layouts_match_the_header(tmp_path):
    inc = os.environ.get("TETHER_TEST_INCLUDE")
    if not inc:
        pytest.skip("TETHER_TEST_INCLUDE is not set (make check sets it)")
    cc = os.environ.get("TETHER_TEST_CC", "cc").split()
    src = tmp_path / "layout.c"
    src.write_text(LAYOUT_C)
    exe = tmp_path / "layout"
    subprocess.run(cc + ["-I", inc, str(src), "-o", str(exe)], check=True,
                   env=clean_env())
    out = subprocess.run([str(exe)], check=True, capture_output=True,
                         text=True, env=clean_env()).stdout
    checked = 0
    for line in out.splitlines():
        sname, field, off, size = line.split()
        py = getattr(_lib, sname)
        if field == "sizeof":
            assert ctypes.sizeof(py) == int(off), sname
        else:
            f = getattr(py, field)
            assert (f.offset, f.size) == (int(off), int(size)), \
                "%s.%s" % (sname, field)
        checked += 1
    assert checked == (1 + 8) + (1 + 11) + (1 + 5) + (1 + 14) + (1 + 9)


def test_every_error_code_has_its_class():
    names = {cls.c_name: cls for cls in tether.Error.__subclasses__()}
    assert len(names) == 15
    for c_name, cls in names.items():
        code = code_of(c_name)
        assert code < 0
        assert tether.error_class(code) is cls
        e = cls(code, "detail")
        assert e.code == code and e.name == "TETHER_" + c_name
        assert str(e) == tether.strerror(code) + ": detail"
        assert isinstance(e, tether.Error)
    assert issubclass(tether.TimedOut, TimeoutError)
    assert issubclass(tether.InvalidArgument, ValueError)


def test_missing_symbol_raises_not_supported():
    missing = _lib._Missing("tether_not_there")
    with pytest.raises(tether.NotSupported) as ei:
        missing()
    assert "tether_not_there" in str(ei.value)


BAD_YAML = """\
version: 1
connections:
  - name: up
    transport: mqtt
    endpoints: [ "tcp://127.0.0.1:1883" ]
    polciy: { type: fixed, interval: 1s }
"""


def test_bad_yaml_raises_with_file_line_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    with pytest.raises(tether.ConfigError) as ei:
        tether.Manager.from_yaml(str(path))
    e = ei.value
    assert e.code == code_of("ECONFIG")
    assert "%s:6:" % path in str(e)       # the misspelt key's line
    assert "polciy" in str(e) and "policy" in str(e)  # did you mean
    assert e.details and e.details[0].startswith("%s:6:" % path)


def test_yaml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nconnections: [ { name: a, \n")
    with pytest.raises(tether.ConfigError) as ei:
        tether.Manager.from_yaml(str(path))
    assert re.search(re.escape(str(path)) + r":\d+:\d+:", str(ei.value))
    with pytest.raises(tether.IOFailure) as ei:
        tether.Manager.from_yaml(str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in str(ei.value)


def test_from_dict_every_section(managers):
    cfg = {
        "version": 1,
        "limits": {"connects_per_second": 50, "burst": 5,
                   "max_connecting": 4},
        "policies": {
            "quick": {"type": tether.Policy.EXPONENTIAL, "initial": "100ms",
                      "max": "2s", "jitter": "full"},
            "guarded": {"type": "breaker", "failures": 3, "open_for": "5s",
                        "inner": "quick"},
        },
        "connections": [
            {"name": "telemetry", "transport": "mqtt",
             "endpoints": ["tcp://127.0.0.1:1883"], "policy": "guarded",
             "mqtt": {"version": 5, "client_id": "yes", "clean_start": False,
                      "subscriptions": [{"topic": "cmd/#", "qos": 1}]}},
            {"name": "events", "transport": "ws",
             "endpoints": ["ws://127.0.0.1:8080/events"],
             "heartbeat": {"interval": "10s", "timeout": "3s", "misses": 2},
             "classify": {"peer:ws:1000": tether.ReasonClass.NORMAL},
             "ws": {"headers": {"X-Gateway": "gw: 01 # not a comment"}}},
        ],
    }
    m = managers(tether.Manager.from_dict(cfg))
    assert sorted(m.connections) == ["events", "telemetry"]
    assert m["telemetry"].state == tether.State.IDLE
    assert "events" in m and "nope" not in m
    text = tether.effective_config(cfg)
    # the values that YAML would read as something else stayed strings
    assert re.search(r'client_id: "?yes"?\n', text)
    assert "gw: 01 # not a comment" in text


def test_from_dict_error_points_into_the_emitted_yaml():
    cfg = {"version": 1, "connections": [
        {"name": "a", "transport": "mqtt", "endpoints": ["tcp://x:1"],
         "connect_timeout": "soon"}]}
    with pytest.raises(tether.ConfigError) as ei:
        tether.Manager.from_dict(cfg, name="inline")
    e = ei.value
    m = re.search(r"inline:(\d+):(\d+): (\S+)", str(e))
    assert m, str(e)
    line = e.yaml.splitlines()[int(m.group(1)) - 1]
    assert "connect_timeout" in line and "soon" in line


def test_builder_errors_carry_the_library_detail(managers):
    m = managers(tether.Manager())
    with pytest.raises(tether.NotFound):
        m.connection("x", "carrier-pigeon")
    c = m.connection("x", "mqtt")
    with pytest.raises(tether.AlreadyExists):
        m.connection("x", "ws")
    with pytest.raises(tether.InvalidArgument) as ei:
        c.add_endpoint("gopher://127.0.0.1:70")
    assert "gopher" in str(ei.value) or ei.value.details
    with pytest.raises(tether.Error) as ei:
        c.set_policy(tether.Policy.EXPONENTIAL, initial="fast")
    assert ei.value.code in (code_of("ECONFIG"), code_of("EINVAL"))
    assert "initial" in str(ei.value)
    with pytest.raises(tether.Error):
        c.set_timing("no_such_timing", 1)
    c.set_policy({"type": "breaker", "failures": 2, "open_for": "1s",
                  "inner": {"type": "fixed", "interval": "100ms"}})
    m.set_limits(10, 2, 1)


def test_send_on_a_closed_manager_raises():
    m = tether.Manager()
    c = m.connection("x", "ws", ["ws://127.0.0.1:9/"])
    m.close()
    assert m.closed
    with pytest.raises(tether.StateError):
        c.send("late")
    m.close()  # idempotent


@pytest.mark.parametrize("value", [
    "plain", "yes", "no", "on", "true", "null", "~", "1s", "a: b", "#x",
    "- dash", "", " lead", "quote\"s", "new\nline", "ünïcode", "tcp://h:1",
    "{flow}", "[seq]", "*alias", "&anchor", "!tag", "%directive", "@at",
    "`tick`", "0x10", "1e3", ".5",
])
def test_yaml_emitter_keeps_strings_strings(value):
    text = _yaml.dump({"version": 1, "connections": [
        {"name": "c", "transport": "ws", "endpoints": ["ws://127.0.0.1:1/"],
         "ws": {"headers": {"X-Test": value}}}]})
    if "\n" in value:
        # header values are one line: refused, with the position
        with pytest.raises(tether.ConfigError) as ei:
            tether.effective_config(text=text)
        assert "<text>:9:" in str(ei.value)
        return
    dump = tether.effective_config(text=text)
    line = [ln for ln in dump.splitlines() if "X-Test" in ln][0]
    forms = (value, json.dumps(value), '"%s"' % value)
    assert re.search(r"X-Test: (%s)}" % "|".join(map(re.escape, forms)),
                     line), line


def test_yaml_emitter_shapes():
    text = _yaml.dump({"a": [{"b": 1, "c": [1, 2]}, []], "d": {},
                       "e": None, "f": True, "g": 1.5})
    assert text == textwrap.dedent("""\
        a:
          - b: 1
            c:
              - 1
              - 2
          - []
        d: {}
        e: null
        f: true
        g: 1.5
        """)
    with pytest.raises(TypeError):
        _yaml.dump([1])


def test_import_without_the_library_says_where_it_looked():
    env = dict(clean_env(), TETHER_LIBRARY="/nonexistent/libtether.so.0")
    r = subprocess.run([sys.executable, "-c", "import tether"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "ImportError: tether: cannot load libtether.so" in r.stderr
    assert "/nonexistent/libtether.so.0" in r.stderr


def test_inbound_message_properties_are_copied():
    # a message as the library hands it to the event callback
    names = [b"content_type", b"correlation_data", b"message_expiry_interval",
             b"trace"]
    vals = [b"text/plain\0", b"\x00\x01\x02", None, b"abc\0"]
    props = (_lib.tether_property * 4)()
    keep = []
    for i, (n, v) in enumerate(zip(names, vals)):
        props[i].name = n
        if v is not None:
            buf = ctypes.create_string_buffer(v, len(v))
            keep.append(buf)
            props[i].value = ctypes.cast(buf, ctypes.c_void_p)
            props[i].len = len(v) - (1 if v.endswith(b"\0") else 0)
        else:
            props[i].number = 60
    props[3].user = 1
    payload = ctypes.create_string_buffer(b"hi", 2)
    m = _lib.tether_message(size=ctypes.sizeof(_lib.tether_message),
                            topic=b"t", len=2, qos=1, dup=1,
                            payload=ctypes.cast(payload, ctypes.c_void_p),
                            props=props, nprops=4)
    msg = tether.Message._from_c(m)
    del props, keep, payload, m   # the copy must not point into C memory
    assert (msg.topic, msg.payload, msg.qos, msg.dup) == ("t", b"hi", 1, True)
    assert msg.get_property("content_type") == "text/plain"
    assert msg.get_property("correlation_data") == b"\x00\x01\x02"
    assert msg.get_property("message_expiry_interval") == 60
    assert msg.user_properties == [("trace", "abc")]
    assert msg.get_property("nope", "default") == "default"

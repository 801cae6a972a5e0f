#!/usr/bin/env python3
"""A raw WebSocket server for tests/cli_output.sh (standard library only).

It does what no well-behaved server library lets a test do: each
connection it accepts gets the next step of a script of hostile frames,
a text message that is not UTF-8 or a close frame whose reason holds a
newline, ANSI escapes or bytes that are not UTF-8. It prints its port on
the first line, then one line per close frame it receives from the client
("client closed CODE"). It exits after the last step, or after 30 s.
"""
import base64
import hashlib
import socket
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
SCRIPT = [
    ("text", b"caf\xc3 not utf-8"),
    ("close", 4000, b"line one\nforged 12.000 x UP"),
    ("close", 4000, b"\x1b[31mred\x1b[0m \x9b2J"),
    ("close", 4000, b"bad \xff\xfe utf8 \xc3"),
]
out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def frame(op, payload):
    assert len(payload) < 126
    return bytes([0x80 | op, len(payload)]) + payload


def read_close(c):
    """The close code of the client's close frame, or None."""
    buf = b""
    c.settimeout(3)
    try:
        while True:
            d = c.recv(4096)
            if not d:
                return None
            buf += d
            if len(buf) >= 2:
                op, n = buf[0] & 0x0F, buf[1] & 0x7F
                if len(buf) >= 6 + n and n < 126:
                    mask = buf[2:6]
                    body = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[6:6 + n]))
                    if op == 8:
                        return struct.unpack("!H", body[:2])[0] if n >= 2 else 1005
                    buf = buf[6 + n:]
    except OSError:
        return None


def serve(c, step):
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d:
            return
        req += d
    key = [ln.split(b":", 1)[1].strip() for ln in req.split(b"\r\n")
           if ln.lower().startswith(b"sec-websocket-key:")][0]
    acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    time.sleep(0.2)
    s = SCRIPT[step]
    if s[0] == "close":
        c.sendall(frame(8, struct.pack("!H", s[1]) + s[2]))
    else:
        c.sendall(frame(1, s[1]))
    say("client closed %s" % read_close(c))
    c.close()


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    say(str(ls.getsockname()[1]))
    deadline = time.monotonic() + 30
    threads = []
    for step in range(len(SCRIPT)):
        ls.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            c, _ = ls.accept()
        except OSError:
            break
        t = threading.Thread(target=serve, args=(c, step), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

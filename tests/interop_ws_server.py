#!/usr/bin/python3
"""A WebSocket server that tether did not write, for tests/check_interop.c.

Debian's python3-websockets (run with /usr/bin/python3, not a pyenv shim),
on 127.0.0.1 only, on a port the kernel picks: the first line on stdout is
"PORT <n>". It serves until stdin reaches end of file (the test closes its
end, or dies) or it is killed. What it does depends on the request path:

  /  and  /info       a text message "path" is answered with the request
                       target, "proto" with the subprotocol chosen ("" for
                       none); anything else is echoed. A query is allowed;
                       a path not listed here is refused with 400 ("//"
                       among them)
  /echo                echo every message back, same type (up to 2 MiB)
  /close/<code>        accept, then close with <code> and reason
                       "bye <code>" 50 ms later; once the client answered,
                       print "ECHO <code> <the client's code> <target>"
  /refuse/<status>     refuse the upgrade with HTTP <status>
  /refuse/<status>/<v> the same, with "Retry-After: <v>" (<v> URL-encoded)
  /ping                send a ping every 50 ms; after 3 pongs, the text
                       "pongs 3"

Subprotocol: "tether-test" is chosen when the client offers it.
"""
import asyncio
import http
import sys
import urllib.parse

import websockets
from websockets.datastructures import Headers

MAX = 2 * 1024 * 1024


def route(path):
    target = path.split("?", 1)[0]
    parts = target.split("/")
    return target, parts


async def refuse_or_accept(path, headers):
    target, parts = route(path)
    if target.startswith("/refuse/") and len(parts) >= 3:
        status = http.HTTPStatus(int(parts[2]))
        h = Headers()
        if len(parts) >= 4:
            h["Retry-After"] = urllib.parse.unquote("/".join(parts[3:]))
        return (status, h, b"refused\n")
    if target in ("/", "/echo", "/info", "/ping") or \
            target.startswith("/close/"):
        return None
    return (http.HTTPStatus.BAD_REQUEST, Headers(), b"no such path\n")


async def handler(ws, path):
    try:
        await serve_one(ws, path)
    except websockets.ConnectionClosed:
        pass  # the client went away (an abort, a test that ended)


async def serve_one(ws, path):
    target, parts = route(path)
    if target.startswith("/close/"):
        code = int(parts[2])
        await asyncio.sleep(0.05)
        await ws.close(code, "bye %d" % code)
        # what the client answered: the test reads it from stdout
        print("ECHO %d %s %s" % (code, ws.close_code, path), flush=True)
        return
    if target == "/ping":
        pongs = 0
        while pongs < 3:
            waiter = await ws.ping()
            await asyncio.wait_for(waiter, 5)
            pongs += 1
            await asyncio.sleep(0.05)
        await ws.send("pongs %d" % pongs)
    async for msg in ws:
        if target in ("/", "/info") and msg == "path":
            await ws.send(path)
        elif target in ("/", "/info") and msg == "proto":
            await ws.send(ws.subprotocol or "")
        else:
            await ws.send(msg)


async def main():
    loop = asyncio.get_running_loop()
    eof = loop.create_future()

    def on_stdin():
        if not sys.stdin.buffer.read1(4096) and not eof.done():
            eof.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with websockets.serve(handler, "127.0.0.1", 0,
                                process_request=refuse_or_accept,
                                subprotocols=["tether-test"],
                                max_size=MAX, ping_interval=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await eof


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""bridge.py: forward MQTT messages to a WebSocket server, and back.

Subscribes to TOPIC on an MQTT broker and sends every message to a
WebSocket server as one JSON text frame {"topic": ..., "payload": ...};
with --return-prefix, every JSON frame the WebSocket server sends is
published back to MQTT under PREFIX + its topic. Both links are kept alive
by tether: an outage of either side is ridden out with the reconnect
policy, and messages that arrive while the WebSocket side is down are
held (by tether's outbound queue, or here when the library has none) and
delivered in order once it is back.

    bridge.py --mqtt tcp://127.0.0.1:1883 --topic 'sensors/#' \\
              --ws ws://127.0.0.1:8080/ingest --return-prefix from-ws/

Stops on SIGINT or SIGTERM, closing both links orderly. One line per
link change on stderr; --stats prints both links' counters at the end.
"""

import argparse
import base64
import collections
import json
import logging
import signal
import sys
import threading
from typing import Deque, List, Optional, Tuple

import tether
from tether import EventType


def frame_of(msg: tether.Message) -> str:
    """The WebSocket frame for an MQTT message."""
    try:
        payload, enc = msg.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, enc = base64.b64encode(msg.payload).decode(), "base64"
    return json.dumps({"topic": msg.topic, "payload": payload,
                       "encoding": enc, "qos": msg.qos})


def message_of(frame: str) -> Optional[Tuple[str, bytes]]:
    """(topic, payload bytes) of a WebSocket frame, or None."""
    try:
        d = json.loads(frame)
        topic = d["topic"]
        payload: bytes
        if d.get("encoding") == "base64":
            payload = base64.b64decode(d["payload"])
        else:
            payload = d["payload"].encode("utf-8")
    except (ValueError, KeyError, TypeError):
        return None
    return (topic, payload) if isinstance(topic, str) and topic else None


class Bridge:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.log = logging.getLogger("bridge")
        self.forwarded = 0
        self.returned = 0
        # if tether cannot queue
        self.held: Deque[str] = collections.deque(maxlen=args.hold)
        self.lock = threading.Lock()
        self.mgr = tether.Manager()
        self.mgr.set_limits(10, 2, 2)
        policy = {"type": "exponential", "initial": args.retry_initial,
                  "max": args.retry_max, "jitter": "full"}
        self.mqtt = self.mgr.connection(
            "mqtt", "mqtt", args.mqtt, policy=policy,
            options={"version": "5", "client_id": args.client_id},
            subscriptions=[(args.topic, args.qos)])
        self.ws = self.mgr.connection("ws", "ws", args.ws, policy=policy,
                                      heartbeat=(5, 3, 2))
        self.mqtt.on_message(self.on_mqtt)
        self.ws.on_message(self.on_ws)
        self.mgr.on_event(self.on_event, types={
            EventType.UP, EventType.DOWN, EventType.FATAL,
            EventType.GIVE_UP})

    # all callbacks run on tether's loop thread
    def on_event(self, ev: tether.Event) -> None:
        if ev.type == EventType.UP:
            self.log.info("%s: up", ev.name)
            if ev.connection is self.ws:
                self.flush()
        elif ev.type == EventType.DOWN:
            self.log.warning("%s: down: %s", ev.name, ev.reason)
        else:
            self.log.error("%s: %s: %s", ev.name, ev.type,
                           ev.reason or ev.detail)

    def on_mqtt(self, msg: tether.Message, conn: tether.Connection) -> None:
        self.to_ws(frame_of(msg))

    def to_ws(self, frame: str) -> None:
        try:
            self.ws.send(frame)
            with self.lock:
                self.forwarded += 1
        except tether.StateError:
            # a library without the offline queue: hold it until WS is up
            with self.lock:
                self.held.append(frame)

    def flush(self) -> None:
        with self.lock:
            frames, self.held = list(self.held), collections.deque(
                maxlen=self.args.hold)
        for f in frames:
            self.to_ws(f)

    def on_ws(self, msg: tether.Message, conn: tether.Connection) -> None:
        if not self.args.return_prefix:
            return
        tm = message_of(msg.payload.decode("utf-8", "replace"))
        if tm is None:
            self.log.warning("ws: not a bridge frame, ignored")
            return
        try:
            self.mqtt.send(tm[1], topic=self.args.return_prefix + tm[0],
                           qos=self.args.qos)
            with self.lock:
                self.returned += 1
        except tether.Error as e:
            self.log.warning("mqtt: not returned (%s)", e)

    def run(self, stop: threading.Event) -> None:
        with self.mgr:
            self.log.info("bridging %s -> %s", self.args.topic,
                          " ".join(self.args.ws))
            print("bridge: running", flush=True)
            while not stop.wait(0.5):
                pass
            if self.args.stats:
                for c in (self.mqtt, self.ws):
                    print("%s: %s" % (c.name, c.stats.as_dict()),
                          flush=True)
        print("bridge: stopped, forwarded %d, returned %d"
              % (self.forwarded, self.returned), flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--mqtt", action="append", required=True,
                   help="MQTT broker URI (repeat for fallbacks)")
    p.add_argument("--ws", action="append", required=True,
                   help="WebSocket URI (repeat for fallbacks)")
    p.add_argument("--topic", required=True, help="MQTT topic filter")
    p.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    p.add_argument("--client-id", default="tether-bridge")
    p.add_argument("--return-prefix", default=None,
                   help="publish WebSocket frames back under this prefix")
    p.add_argument("--retry-initial", default="500ms")
    p.add_argument("--retry-max", default="10s")
    p.add_argument("--hold", type=int, default=10000,
                   help="frames held while WebSocket is down (fallback)")
    p.add_argument("--stats", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        Bridge(args).run(stop)
    except tether.Error as e:
        print("bridge: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# The main job on its built-in default: build tether and its demo program
# (demo/tether-demo, not installed), then run one MQTT and one WebSocket
# connection against real servers on loopback (mosquitto, a WebSocket echo
# server, each behind a fault proxy) through a scripted bad day (server
# killed, RST, blackhole, bad credentials, recovery), with a live timeline
# and a report; under a minute.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
if [ ! -x demo/tether-demo ]; then
	[ -x configure ] || autoreconf -fi >/dev/null
	[ -f Makefile ] || ./configure -q
	make -j2 >/dev/null
fi
exec ./demo/tether-demo "$@"
